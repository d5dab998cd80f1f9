package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.LossCause;
import java.util.EnumMap;
import java.util.Map;

/** A tracker with its listener, metrics and leak-checking allocator, for one test run. */
final class TrackerRun {
  final AgentMetrics metrics = new AgentMetrics();
  final RecordingListener listener = new RecordingListener();
  final LeakCheckingAllocator alloc = new LeakCheckingAllocator();
  final ConnectionTracker tracker;

  TrackerRun() {
    this(HttpSettings.defaults());
  }

  TrackerRun(HttpSettings settings) {
    tracker = new ConnectionTracker(settings, listener, metrics, alloc);
  }

  Wire wire(HttpExchange.Side side, long connectionId) {
    return new Wire(tracker, side, connectionId);
  }

  long loss(LossCause cause) {
    return metrics.loss(cause).get();
  }

  /** Asserts the stream and pairing loss counters: the given ones, all others zero. */
  void assertLosses(String description, Map<LossCause, Long> expected) {
    Map<LossCause, Long> actual = new EnumMap<>(LossCause.class);
    Map<LossCause, Long> wanted = new EnumMap<>(LossCause.class);
    for (LossCause c : LossCause.values()) {
      if (c.stage().equals("stream") || c.stage().equals("pairing")) {
        actual.put(c, loss(c));
        wanted.put(c, expected.getOrDefault(c, 0L));
      }
    }
    assertThat(actual).as(description).isEqualTo(wanted);
  }

  /** Shuts the tracker down and checks that nothing is held or leaked. */
  void finish(String description) {
    tracker.closeAll();
    assertThat(tracker.activeDecoders()).as(description + ": decoders held").isZero();
    assertThat(tracker.bufferedBytes()).as(description + ": bytes buffered").isZero();
    assertThat(tracker.connectionCount()).isZero();
    alloc.assertAllReleased();
  }
}
