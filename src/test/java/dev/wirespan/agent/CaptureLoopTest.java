package dev.wirespan.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventSink;
import dev.wirespan.capture.CaptureEventWriter;
import dev.wirespan.metrics.AgentMetrics;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class CaptureLoopTest {
  private static final ByteBuffer RECORD =
      new CaptureEventWriter().write("GET / HTTP/1.1\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));

  /** Delivers one record per poll; the n-th delivery throws {@code failure} from the pipeline. */
  private static final class ScriptedSource implements CaptureLoop.EventSource {
    final AtomicInteger polls = new AtomicInteger();
    final int failAt;
    final Throwable failure;
    volatile long available;
    volatile boolean deliver = true;

    ScriptedSource(int failAt, Throwable failure) {
      this.failAt = failAt;
      this.failure = failure;
    }

    @Override
    public int poll(CaptureEventSink sink, int timeoutMillis) {
      int n = polls.incrementAndGet();
      if (n == failAt) {
        sneakyThrow(failure);
      }
      if (!deliver) {
        return 0;
      }
      sink.onEvent(new CaptureEvent().wrap(RECORD, 0));
      return 1;
    }

    @Override
    public long availableBytes() {
      return available;
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> void sneakyThrow(Throwable t) throws T {
      throw (T) t;
    }
  }

  @Test
  void aWorkerKilledByAnErrorIsCountedAndRestartedAndKeepsDelivering() throws Exception {
    AgentMetrics metrics = new AgentMetrics();
    ScriptedSource source = new ScriptedSource(5, new StackOverflowError("decoder recursion"));
    AtomicLong delivered = new AtomicLong();
    AtomicLong housekeeping = new AtomicLong();
    CaptureLoop loop =
        new CaptureLoop(source, e -> delivered.incrementAndGet(), now -> housekeeping.incrementAndGet(), metrics);
    Thread t = new Thread(loop::run);
    t.start();
    await().atMost(Duration.ofSeconds(10)).until(() -> delivered.get() >= 50);
    loop.stop();
    t.join(TimeUnit.SECONDS.toMillis(5));
    assertThat(t.isAlive()).isFalse();
    assertThat(metrics.total("wirespan_worker_restarts_total")).isEqualTo(1);
    assertThat(housekeeping.get()).isPositive();
    assertThat(loop.health().ok()).isTrue();
  }

  @Test
  void healthTurnsBadWhenEventsWaitButNoneAreDelivered() throws Exception {
    AgentMetrics metrics = new AgentMetrics();
    ScriptedSource source = new ScriptedSource(-1, null);
    CaptureLoop loop =
        new CaptureLoop(source, e -> {}, now -> {}, metrics, TimeUnit.MILLISECONDS.toNanos(200));
    Thread t = new Thread(loop::run);
    t.start();
    try {
      await().atMost(Duration.ofSeconds(5)).until(() -> source.polls.get() > 3);
      assertThat(loop.health().ok()).isTrue();
      source.deliver = false;
      source.available = 4096; // the kernel has written, the loop hands nothing on
      await().atMost(Duration.ofSeconds(5)).until(() -> !loop.health().ok());
      assertThat(loop.health().detail()).contains("none delivered");
      source.deliver = true;
      await().atMost(Duration.ofSeconds(5)).until(() -> loop.health().ok());
    } finally {
      loop.stop();
      t.join(5000);
    }
  }

  @Test
  void healthTurnsBadWhenTheLoopIsStuckInThePipeline() throws Exception {
    AgentMetrics metrics = new AgentMetrics();
    ScriptedSource source = new ScriptedSource(-1, null);
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    AtomicInteger calls = new AtomicInteger();
    CaptureLoop loop =
        new CaptureLoop(
            source,
            e -> {
              if (calls.incrementAndGet() == 10) {
                try {
                  release.await(); // a pipeline stage that hangs
                } catch (InterruptedException ex) {
                  Thread.currentThread().interrupt();
                }
              }
            },
            now -> {},
            metrics,
            TimeUnit.MILLISECONDS.toNanos(200));
    Thread t = new Thread(loop::run);
    t.start();
    try {
      await().atMost(Duration.ofSeconds(5)).until(() -> !loop.health().ok());
      assertThat(loop.health().detail()).contains("stuck");
    } finally {
      loop.stop();
      release.countDown();
      t.join(5000);
    }
    assertThat(t.isAlive()).isFalse();
  }
}
