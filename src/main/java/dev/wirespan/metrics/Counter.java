package dev.wirespan.metrics;

import java.util.concurrent.atomic.LongAdder;

/** A monotonically increasing count, safe to increment from any thread. */
public final class Counter {
  private final LongAdder value = new LongAdder();

  Counter() {}

  public void inc() {
    value.increment();
  }

  public void add(long amount) {
    if (amount > 0) {
      value.add(amount);
    }
  }

  public long get() {
    return value.sum();
  }
}
