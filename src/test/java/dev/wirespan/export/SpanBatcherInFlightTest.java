package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.metrics.AgentMetrics;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Several exports at once: the bound holds, every completion is counted once (success, failure or
 * timeout), and flush() and close() wait for what is in flight.
 */
class SpanBatcherInFlightTest {
  private static final Duration WAIT = Duration.ofSeconds(10);
  /** Spans per batch in these tests: one trace of {@link TestSpans} is 3 spans. */
  private static final int BATCH = 3;

  private final AgentMetrics metrics = new AgentMetrics();
  private final TestSpans spans = new TestSpans();

  private void offerTraces(SpanBatcher batcher, int traces) {
    for (int i = 0; i < traces; i++) {
      spans.trace(i).forEach(s -> assertThat(batcher.offer(s)).isTrue());
    }
  }

  @Test
  void atMostTheConfiguredExportsRunAtOnceAndEachCompletionIsCounted() throws Exception {
    HeldExporter exporter = new HeldExporter();
    try (SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setMaxBatchSize(BATCH)
            .setMaxExportsInFlight(2)
            .setScheduleDelay(Duration.ofHours(1))
            .build()) {
      offerTraces(batcher, 5); // five full batches

      HeldExporter.Call first = exporter.next();
      HeldExporter.Call second = exporter.next();
      // Two are running: the third waits although three full batches are queued.
      assertThat(exporter.calls.poll(300, TimeUnit.MILLISECONDS)).isNull();
      assertThat(batcher.queuedSpans()).isEqualTo(3 * BATCH);
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORTS_IN_FLIGHT)).isEqualTo(2);

      first.result().succeed();
      HeldExporter.Call third = exporter.next();
      second.result().fail();
      HeldExporter.Call fourth = exporter.next();
      third.result().succeed();
      HeldExporter.Call fifth = exporter.next();
      fourth.result().succeed();
      fifth.result().succeed();

      await().atMost(WAIT).until(() -> metrics.total(SpanBatcher.METRIC_EXPORTED) == 4 * BATCH);
      assertThat(exporter.maxOpen.get()).isEqualTo(2);
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORT_FAILURES)).isEqualTo(1);
      assertThat(TestSpans.lost(metrics, "export_failed")).isEqualTo(BATCH);
      assertThat(first.spans()).hasSize(BATCH);
      await().atMost(WAIT).until(() -> metrics.total(SpanBatcher.METRIC_EXPORTS_IN_FLIGHT) == 0);
    }
  }

  @Test
  void oneExportAtATimeWhenSoConfigured() throws Exception {
    HeldExporter exporter = new HeldExporter();
    try (SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setMaxBatchSize(BATCH)
            .setMaxExportsInFlight(1)
            .setScheduleDelay(Duration.ofHours(1))
            .build()) {
      offerTraces(batcher, 3);
      for (int i = 0; i < 3; i++) {
        HeldExporter.Call call = exporter.next();
        assertThat(exporter.calls.poll(200, TimeUnit.MILLISECONDS)).isNull();
        call.result().succeed();
      }
      await().atMost(WAIT).until(() -> metrics.total(SpanBatcher.METRIC_EXPORTED) == 3 * BATCH);
      assertThat(exporter.maxOpen.get()).isEqualTo(1);
    }
  }

  @Test
  void flushWaitsForTheExportsInFlightAndFailsWhenOneFailed() throws Exception {
    HeldExporter exporter = new HeldExporter();
    try (SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setMaxBatchSize(BATCH)
            .setMaxExportsInFlight(3)
            .setScheduleDelay(Duration.ofHours(1))
            .build()) {
      offerTraces(batcher, 1);
      HeldExporter.Call running = exporter.next(); // started before the flush
      spans.trace(9).subList(0, 2).forEach(batcher::offer); // a partial batch, not due

      CompletableResultCode flush = batcher.flush();
      HeldExporter.Call partial = exporter.next();
      assertThat(partial.spans()).hasSize(2);
      partial.result().succeed();
      Thread.sleep(200);
      assertThat(flush.isDone()).as("flush waits for the export started before it").isFalse();
      running.result().fail();
      assertThat(flush.join(10, TimeUnit.SECONDS).isSuccess()).isFalse();
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORTED)).isEqualTo(2);
      assertThat(TestSpans.lost(metrics, "export_failed")).isEqualTo(BATCH);

      offerTraces(batcher, 1);
      CompletableResultCode second = batcher.flush();
      exporter.next().result().succeed();
      assertThat(second.join(10, TimeUnit.SECONDS).isSuccess()).isTrue();
    }
  }

  @Test
  void closeWaitsForTheExportsInFlightThenShutsTheExporterDown() throws Exception {
    HeldExporter exporter = new HeldExporter();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setMaxBatchSize(BATCH)
            .setMaxExportsInFlight(2)
            .setScheduleDelay(Duration.ofHours(1))
            .setCloseTimeout(Duration.ofSeconds(20))
            .build();
    offerTraces(batcher, 2);
    HeldExporter.Call first = exporter.next();
    HeldExporter.Call second = exporter.next();
    spans.trace(7).subList(0, 1).forEach(batcher::offer); // queued behind them

    CountDownLatch closed = new CountDownLatch(1);
    Thread closer =
        new Thread(
            () -> {
              batcher.close();
              closed.countDown();
            });
    closer.start();
    assertThat(closed.await(300, TimeUnit.MILLISECONDS)).isFalse();
    assertThat(exporter.shutDown).isFalse();
    first.result().succeed();
    HeldExporter.Call last = exporter.next(); // the queued span goes once a slot is free
    assertThat(last.spans()).hasSize(1);
    last.result().succeed();
    assertThat(closed.await(300, TimeUnit.MILLISECONDS)).isFalse();
    second.result().succeed();
    assertThat(closed.await(10, TimeUnit.SECONDS)).isTrue();

    assertThat(exporter.shutDown).isTrue();
    assertThat(metrics.total(SpanBatcher.METRIC_EXPORTED)).isEqualTo(2 * BATCH + 1);
    assertThat(TestSpans.lost(metrics, "export_failed")).isZero();
    assertThat(exporter.maxOpen.get()).isEqualTo(2);
  }

  @Test
  void closeCountsAnExportStillRunningAtTheCloseDeadlineAsFailedOnce() throws Exception {
    HeldExporter exporter = new HeldExporter();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setMaxBatchSize(BATCH)
            .setScheduleDelay(Duration.ofHours(1))
            .setCloseTimeout(Duration.ofMillis(300))
            .build();
    offerTraces(batcher, 1);
    HeldExporter.Call stuck = exporter.next();
    batcher.close();
    assertThat(exporter.shutDown).isTrue();
    assertThat(TestSpans.lost(metrics, "export_failed")).isEqualTo(BATCH);
    stuck.result().succeed(); // too late: not counted again
    assertThat(metrics.total(SpanBatcher.METRIC_EXPORTED)).isZero();
    assertThat(TestSpans.lost(metrics, "export_failed")).isEqualTo(BATCH);
    assertThat(metrics.total(SpanBatcher.METRIC_EXPORT_FAILURES)).isEqualTo(1);
  }

  @Test
  void anExportPastItsTimeoutFreesItsSlotAndCountsAsFailedOnce() throws Exception {
    HeldExporter exporter = new HeldExporter();
    try (SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setMaxBatchSize(BATCH)
            .setMaxExportsInFlight(1)
            .setScheduleDelay(Duration.ofHours(1))
            .setExportTimeout(Duration.ofMillis(200))
            .build()) {
      offerTraces(batcher, 2);
      HeldExporter.Call hung = exporter.next();
      HeldExporter.Call next = exporter.next(); // started once the first timed out
      await().atMost(WAIT).until(() -> TestSpans.lost(metrics, "export_failed") == BATCH);
      hung.result().succeed();
      next.result().succeed();
      await().atMost(WAIT).until(() -> metrics.total(SpanBatcher.METRIC_EXPORTED) == BATCH);
      assertThat(TestSpans.lost(metrics, "export_failed")).isEqualTo(BATCH);
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORT_FAILURES)).isEqualTo(1);
    }
  }
}
