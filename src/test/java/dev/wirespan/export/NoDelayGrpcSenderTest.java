package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.testing.OtlpTestReceiver;
import dev.wirespan.testing.OtlpTestReceiver.ReceivedSpan;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * OTLP/gRPC exports leave on connections whose sockets come from {@link
 * NoDelayGrpcSenderProvider}'s factory (TCP_NODELAY), through the SDK's real OkHttp sender to a
 * real gRPC receiver. Fails if the SDK's sender stops taking the replaced client.
 */
class NoDelayGrpcSenderTest {
  @Test
  void grpcExportsGoOutOnNoDelaySockets() {
    TestSpans source = new TestSpans();
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startGrpc()) {
      long before = ExporterFactory.GRPC_SENDER.socketsCreated();
      SpanExporter exporter =
          ExporterFactory.create(
              ExportSettings.builder()
                  .setOtlpProtocol(ExportSettings.Protocol.GRPC)
                  .setOtlpTracesEndpoint(receiver.endpoint())
                  .setOtlpTimeout(Duration.ofSeconds(10))
                  .build(),
              new AgentMetrics());
      try {
        List<SpanData> spans = source.trace(1);
        assertThat(exporter.export(spans).join(15, TimeUnit.SECONDS).isSuccess()).isTrue();
        List<ReceivedSpan> received = receiver.awaitSpans(spans.size(), Duration.ofSeconds(10));
        assertThat(received).extracting(ReceivedSpan::spanId)
            .containsExactlyInAnyOrderElementsOf(
                spans.stream().map(SpanData::getSpanId).toList());
      } finally {
        exporter.shutdown().join(10, TimeUnit.SECONDS);
      }
      assertThat(ExporterFactory.GRPC_SENDER.socketsCreated()).isGreaterThan(before);
    }
  }

  @Test
  void factorySocketsHaveNoDelayAndConnect() throws IOException {
    var factory = new NoDelayGrpcSenderProvider.NoDelaySocketFactory();
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Socket unconnected = factory.createSocket();
        Socket connected = factory.createSocket(InetAddress.getLoopbackAddress(), server.getLocalPort());
        Socket accepted = server.accept()) {
      assertThat(unconnected.getTcpNoDelay()).isTrue();
      assertThat(unconnected.isConnected()).isFalse();
      assertThat(connected.getTcpNoDelay()).isTrue();
      assertThat(connected.getRemoteSocketAddress())
          .isEqualTo(new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort()));
      assertThat(accepted.getPort()).isEqualTo(connected.getLocalPort());
    }
  }
}
