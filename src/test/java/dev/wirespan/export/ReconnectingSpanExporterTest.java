package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.metrics.AgentMetrics;
import io.opentelemetry.sdk.common.CompletableResultCode;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The rebuild rule alone, on exporters whose results the test completes. */
class ReconnectingSpanExporterTest {
  private final AgentMetrics metrics = new AgentMetrics();
  private final List<HeldExporter> built = new ArrayList<>();
  private final ReconnectingSpanExporter exporter =
      new ReconnectingSpanExporter(
          () -> {
            HeldExporter e = new HeldExporter();
            built.add(e);
            return e;
          },
          3,
          metrics);

  private static Throwable timeout() {
    return new IllegalStateException("export failed", new InterruptedIOException("timeout"));
  }

  private CompletableResultCode export() {
    return exporter.export(List.of());
  }

  private long reconnects() {
    return metrics.total(ReconnectingSpanExporter.METRIC_RECONNECTS);
  }

  @Test
  void threeTimeoutsInARowRebuildTheExporterAndShutTheOldOneDown() {
    for (int i = 0; i < 2; i++) {
      export().failExceptionally(timeout());
    }
    assertThat(built).hasSize(1);
    export().failExceptionally(timeout());
    assertThat(built).hasSize(2);
    assertThat(reconnects()).isEqualTo(1);
    await().atMost(Duration.ofSeconds(5)).until(() -> built.get(0).shutDown.get());
    export();
    assertThat(built.get(1).calls).hasSize(1); // new exports go to the new exporter
    assertThat(built.get(1).shutDown).isFalse();
  }

  @Test
  void anAnswerOrAnotherFailureBetweenTimeoutsStartsTheCountAgain() {
    export().failExceptionally(timeout());
    export().failExceptionally(timeout());
    export().fail(); // the collector answered with an error
    export().failExceptionally(timeout());
    export().failExceptionally(timeout());
    export().failExceptionally(new IllegalStateException(new IOException("Connection refused")));
    export().failExceptionally(timeout());
    export().failExceptionally(timeout());
    export().succeed();
    assertThat(built).hasSize(1);
    assertThat(reconnects()).isZero();
  }

  @Test
  void lateResultsOfAReplacedExporterDoNotCountAgainstTheNewOne() {
    List<CompletableResultCode> pending = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      pending.add(export()); // six in flight on the first exporter
    }
    pending.forEach(r -> r.failExceptionally(timeout()));
    assertThat(built).hasSize(2); // rebuilt once, at the third; the other three were stale
    assertThat(reconnects()).isEqualTo(1);
  }

  @Test
  void noRebuildAfterShutdown() {
    CompletableResultCode a = export();
    CompletableResultCode b = export();
    CompletableResultCode c = export();
    exporter.shutdown();
    a.failExceptionally(timeout());
    b.failExceptionally(timeout());
    c.failExceptionally(timeout());
    assertThat(built).hasSize(1);
    assertThat(built.get(0).shutDown.get()).isTrue();
  }
}
