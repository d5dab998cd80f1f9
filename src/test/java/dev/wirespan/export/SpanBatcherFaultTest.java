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
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

/**
 * The export worker outlives an exporter that throws errors (the batch fails, counted), is
 * restarted when it dies itself (logged, counted, nothing lost silently), and is reported when it
 * no longer takes spans.
 */
class SpanBatcherFaultTest {
  private static final Duration WAIT = Duration.ofSeconds(10);

  @Test
  void anExporterThrowingAnErrorFailsItsBatchAndTheWorkerGoesOn() {
    AgentMetrics metrics = new AgentMetrics();
    AtomicInteger calls = new AtomicInteger();
    List<SpanData> delivered = new CopyOnWriteArrayList<>();
    SpanExporter flaky =
        new SpanExporter() {
          @Override
          public CompletableResultCode export(Collection<SpanData> spans) {
            if (calls.incrementAndGet() == 1) {
              throw new NoClassDefFoundError("a broken exporter dependency");
            }
            delivered.addAll(spans);
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
          }
        };
    TestSpans source = new TestSpans();
    try (SpanBatcher batcher =
        SpanBatcher.builder(flaky, metrics).setScheduleDelay(Duration.ofMillis(10)).build()) {
      List<SpanData> first = source.trace(1);
      first.forEach(batcher::offer);
      await().atMost(Duration.ofSeconds(10)).until(() -> TestSpans.lost(metrics, "export_failed") == first.size());
      List<SpanData> second = source.trace(2);
      second.forEach(batcher::offer);
      await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == second.size());
    }
    assertThat(delivered).hasSize(3);
    assertThat(metrics.total("wirespan_worker_restarts_total")).isZero();
    assertThat(metrics.total(SpanBatcher.METRIC_EXPORT_FAILURES)).isEqualTo(1);
  }

  @Test
  void aWorkerKilledOutsideTheExporterIsLoggedCountedRestartedAndLosesNothingSilently()
      throws Exception {
    AgentMetrics metrics = new AgentMetrics();
    RecordingExporter exporter = new RecordingExporter();
    CountDownLatch holding = new CountDownLatch(1);
    CountDownLatch die = new CountDownLatch(1);
    AtomicInteger batches = new AtomicInteger();
    IllegalStateException fault = new IllegalStateException("worker fault");
    List<LogRecord> logged = new CopyOnWriteArrayList<>();
    Logger log = Logger.getLogger(SpanBatcher.class.getName());
    Handler capture = new Handler() {
      @Override
      public void publish(LogRecord record) {
        logged.add(record);
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    log.addHandler(capture);
    TestSpans source = new TestSpans();
    List<SpanData> inFlight = source.trace(1);
    List<SpanData> queued = new ArrayList<>(source.trace(2));
    queued.addAll(source.trace(3));
    List<SpanData> later = source.trace(4);
    try (SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setMaxBatchSize(inFlight.size())
            .setScheduleDelay(Duration.ofHours(1)) // only full batches: the first one is trace 1
            .build()) {
      // The first batch dies on the worker between being taken from the queue and being exported.
      batcher.setBeforeExport(
          batch -> {
            if (batches.incrementAndGet() == 1) {
              holding.countDown();
              awaitQuietly(die);
              throw fault;
            }
          });
      inFlight.forEach(batcher::offer);
      assertThat(holding.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      queued.forEach(s -> assertThat(batcher.offer(s)).isTrue());
      die.countDown();

      await().atMost(WAIT).until(() -> exporter.spans.size() == queued.size());
      later.forEach(batcher::offer);
      await().atMost(WAIT).until(() -> exporter.spans.size() == queued.size() + later.size());
      assertThat(batcher.workerProblem()).isEmpty();
    } finally {
      log.removeHandler(capture);
    }
    assertThat(metrics.total(SpanBatcher.METRIC_WORKER_RESTARTS)).isEqualTo(1);
    assertThat(logged)
        .filteredOn(r -> r.getLevel() == Level.SEVERE)
        .singleElement()
        .satisfies(r -> {
          assertThat(r.getThrown()).isSameAs(fault);
          assertThat(r.getMessage()).contains("restarting").contains(inFlight.size() + " spans");
        });
    // The batch the worker held when it died is counted; the queued spans were kept and exported.
    assertThat(TestSpans.lost(metrics, "export_failed")).isEqualTo(inFlight.size());
    assertThat(TestSpans.lost(metrics, "queue_full")).isZero();
    List<SpanData> expected = new ArrayList<>(queued);
    expected.addAll(later);
    assertThat(exporter.spans).containsExactlyInAnyOrderElementsOf(expected);
    assertThat(metrics.total(SpanBatcher.METRIC_EXPORTED)
            + TestSpans.lost(metrics, "export_failed"))
        .isEqualTo(inFlight.size() + queued.size() + later.size());
  }

  @Test
  void aFlushServedWhenTheWorkerDiesFailsInsteadOfHanging() {
    AgentMetrics metrics = new AgentMetrics();
    AtomicInteger batches = new AtomicInteger();
    try (SpanBatcher batcher =
        SpanBatcher.builder(new RecordingExporter(), metrics)
            .setScheduleDelay(Duration.ofHours(1))
            .build()) {
      batcher.setBeforeExport(
          batch -> {
            if (batches.incrementAndGet() == 1) {
              throw new IllegalStateException("worker fault");
            }
          });
      new TestSpans().trace(1).forEach(batcher::offer);
      CompletableResultCode flush = batcher.flush().join(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertThat(flush.isDone()).isTrue();
      assertThat(flush.isSuccess()).isFalse();
      assertThat(metrics.total(SpanBatcher.METRIC_WORKER_RESTARTS)).isEqualTo(1);
      assertThat(TestSpans.lost(metrics, "export_failed")).isEqualTo(3);
      // The restarted worker serves the next flush.
      new TestSpans().trace(2).forEach(batcher::offer);
      assertThat(batcher.flush().join(WAIT.toSeconds(), TimeUnit.SECONDS).isSuccess()).isTrue();
    }
  }

  @Test
  void aWorkerStuckInAnExporterCallIsReportedWhileSpansWaitAndRecovers() throws Exception {
    AgentMetrics metrics = new AgentMetrics();
    CountDownLatch inExport = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    RecordingExporter exporter = new RecordingExporter() {
      @Override
      public CompletableResultCode export(Collection<SpanData> spans) {
        // A synchronous exporter stuck in a write (a full pipe, a hung file system): the
        // batcher's export timeout cannot help, the call never returns.
        inExport.countDown();
        awaitQuietly(release);
        return super.export(spans);
      }
    };
    int capacity = 6;
    TestSpans source = new TestSpans();
    try (SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setQueueCapacity(capacity)
            .setMaxBatchSize(3)
            .setScheduleDelay(Duration.ofHours(1)) // only full batches: the first one is trace 1
            .setExportTimeout(Duration.ofMillis(100))
            .setWorkerStallTimeout(Duration.ofMillis(500))
            .build()) {
      source.trace(1).forEach(batcher::offer);
      assertThat(inExport.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
      assertThat(batcher.workerProblem()).isEmpty(); // nothing waits yet
      for (int i = 0; i < 3; i++) {
        source.trace(10 + i).forEach(batcher::offer); // fills the queue, then overflows
      }
      assertThat(batcher.queuedSpans()).isEqualTo(capacity);
      await().atMost(WAIT).until(() -> batcher.workerProblem().isPresent());
      assertThat(batcher.workerProblem().orElseThrow())
          .contains(capacity + " spans waiting").contains("taken none");
      assertThat(batcher.exportProblem()).isEmpty(); // no export has failed: it is the worker

      release.countDown();
      await().atMost(WAIT).until(() -> batcher.workerProblem().isEmpty() && batcher.queuedSpans() == 0);
    }
    assertThat(exporter.spans).hasSize(3 + capacity);
    assertThat(TestSpans.lost(metrics, "queue_full")).isEqualTo(3);
  }

  @Test
  void aWorkerKilledForGoodIsReportedDead() {
    AgentMetrics metrics = new AgentMetrics();
    OutOfMemoryError fault = new OutOfMemoryError("worker fault");
    List<Throwable> uncaught = new CopyOnWriteArrayList<>();
    // The dying worker's error reaches the default handler: keep it from the test runner and from
    // Awaitility, which would take it for the test's own.
    Thread.UncaughtExceptionHandler runners = Thread.getDefaultUncaughtExceptionHandler();
    Thread.setDefaultUncaughtExceptionHandler((t, e) -> uncaught.add(e));
    try (SpanBatcher batcher =
        SpanBatcher.builder(new RecordingExporter(), metrics)
            .setScheduleDelay(Duration.ofMillis(10))
            .build()) {
      // Running out of memory is the one error the worker is not restarted after.
      batcher.setBeforeExport(batch -> {
        throw fault;
      });
      new TestSpans().trace(1).forEach(batcher::offer);
      await().dontCatchUncaughtExceptions().atMost(WAIT)
          .until(() -> batcher.workerProblem().isPresent());
      assertThat(batcher.workerProblem().orElseThrow()).contains("dead");
      assertThat(metrics.total(SpanBatcher.METRIC_WORKER_RESTARTS)).isZero();
      assertThat(uncaught).containsExactly(fault);
    } finally {
      Thread.setDefaultUncaughtExceptionHandler(runners);
    }
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Keeps what it is given; every export succeeds. */
  private static class RecordingExporter implements SpanExporter {
    final List<SpanData> spans = new CopyOnWriteArrayList<>();

    @Override
    public CompletableResultCode export(Collection<SpanData> batch) {
      spans.addAll(batch);
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode flush() {
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
      return CompletableResultCode.ofSuccess();
    }
  }
}
