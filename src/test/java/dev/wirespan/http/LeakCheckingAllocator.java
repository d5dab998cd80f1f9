package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.buffer.UnpooledHeapByteBuf;
import java.util.ArrayList;
import java.util.List;

/**
 * Remembers every buffer it hands out, so that a test can assert that all were released: a leak
 * fails the test instead of being a log line after some garbage collection.
 */
final class LeakCheckingAllocator extends AbstractByteBufAllocator {
  private final List<ByteBuf> allocated = new ArrayList<>();

  LeakCheckingAllocator() {
    super(false);
  }

  @Override
  protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
    ByteBuf b = new UnpooledHeapByteBuf(this, initialCapacity, maxCapacity);
    allocated.add(b);
    return b;
  }

  @Override
  protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
    ByteBuf b = new UnpooledDirectByteBuf(this, initialCapacity, maxCapacity);
    allocated.add(b);
    return b;
  }

  @Override
  public boolean isDirectBufferPooled() {
    return false;
  }

  int allocatedCount() {
    return allocated.size();
  }

  void assertAllReleased() {
    long live = allocated.stream().filter(b -> b.refCnt() > 0).count();
    assertThat(live).as("buffers not released of %d allocated", allocated.size()).isZero();
  }
}
