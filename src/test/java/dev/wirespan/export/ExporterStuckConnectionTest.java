package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.testing.OtlpTestReceiver;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A collector that vanished without resetting its connections, and its replacement at the same
 * address: the exporter must reach the replacement. The first exports go into a black hole (the
 * connection is accepted, its bytes read, never answered); then the receiver serves again on the
 * same port while that connection stays open and unanswered.
 */
class ExporterStuckConnectionTest {
  private final TestSpans spans = new TestSpans();
  private final AgentMetrics metrics = new AgentMetrics();

  @ParameterizedTest
  @EnumSource(ExportSettings.Protocol.class)
  void exportsRecoverWhenTheCollectorIsBackButTheOldConnectionStillSwallowsEverything(
      ExportSettings.Protocol protocol) {
    OtlpTestReceiver.Transport transport =
        protocol == ExportSettings.Protocol.GRPC
            ? OtlpTestReceiver.Transport.GRPC
            : OtlpTestReceiver.Transport.HTTP_PROTOBUF;
    try (OtlpTestReceiver receiver =
        transport == OtlpTestReceiver.Transport.GRPC
            ? OtlpTestReceiver.startGrpc()
            : OtlpTestReceiver.startHttp()) {
      receiver.blackHole();
      ExportSettings.Builder settings =
          ExportSettings.builder().setOtlpProtocol(protocol).setOtlpTimeout(Duration.ofSeconds(1));
      if (protocol == ExportSettings.Protocol.GRPC) {
        settings.setOtlpTracesEndpoint(receiver.endpoint());
      } else {
        settings.setOtlpEndpoint("http://127.0.0.1:" + receiver.port());
      }
      SpanExporter exporter = ExporterFactory.create(settings.build(), metrics);
      try {
        for (int i = 0; i < 2; i++) {
          CompletableResultCode r = exporter.export(spans.trace(1)).join(10, TimeUnit.SECONDS);
          assertThat(r.isSuccess()).as("export into the black hole").isFalse();
        }
        receiver.restartKeepingHeldConnections();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        int attempts = 0;
        boolean delivered = false;
        while (!delivered && System.nanoTime() < deadline) {
          attempts++;
          delivered = exporter.export(spans.trace(1)).join(10, TimeUnit.SECONDS).isSuccess();
        }
        assertThat(delivered)
            .as("an export reached the collector that came back (%d attempts)", attempts)
            .isTrue();
        // gRPC stays on its one HTTP/2 connection: without a rebuild it never recovers (measured:
        // 30 attempts in a row timed out). HTTP/1.1 opens a new connection after a timeout.
        assertThat(metrics.total(ReconnectingSpanExporter.METRIC_RECONNECTS))
            .isEqualTo(protocol == ExportSettings.Protocol.GRPC ? 1 : 0);
      } finally {
        exporter.shutdown().join(5, TimeUnit.SECONDS);
      }
    }
  }
}
