package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.metrics.AgentMetrics;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The export worker outlives an exporter that throws errors: the batch fails, counted. */
class SpanBatcherFaultTest {
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
}
