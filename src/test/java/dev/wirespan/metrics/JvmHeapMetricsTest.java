package dev.wirespan.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class JvmHeapMetricsTest {
  private static final int HELD_BYTES = 64 * 1024 * 1024;

  @Test
  void followsWhatTheHeapHoldsAfterEachCollection() {
    AgentMetrics metrics = new AgentMetrics();
    JvmHeapMetrics.register(metrics);
    byte[][] held = {new byte[HELD_BYTES]};
    System.gc(); // the test's own JVM: a collection right now makes the reading exact
    long holding = metrics.total(JvmHeapMetrics.METRIC_HEAP_AFTER_GC);
    assertThat(held[0]).hasSize(HELD_BYTES); // still reachable during that collection
    held[0] = null;
    System.gc();
    long released = metrics.total(JvmHeapMetrics.METRIC_HEAP_AFTER_GC);
    assertThat(holding).isGreaterThanOrEqualTo(HELD_BYTES);
    assertThat(holding - released).isGreaterThanOrEqualTo(HELD_BYTES - HELD_BYTES / 8);
    StringBuilder text = new StringBuilder();
    metrics.writePrometheus(text);
    assertThat(text).contains("# TYPE " + JvmHeapMetrics.METRIC_HEAP_AFTER_GC + " gauge\n");
  }
}
