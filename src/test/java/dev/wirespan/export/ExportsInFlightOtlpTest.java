package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.testing.OtlpTestReceiver;
import dev.wirespan.testing.OtlpTestReceiver.ReceivedSpan;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Several exports at once through the real OTLP exporters (the JDK HttpClient sender for
 * http/protobuf, OkHttp for gRPC) to a real receiver: every span arrives once, every export is
 * counted.
 */
class ExportsInFlightOtlpTest {
  private static final int TRACES = 40;
  private static final int SPANS_PER_TRACE = 3;

  @ParameterizedTest
  @EnumSource(OtlpTestReceiver.Transport.class)
  void manyBatchesWithExportsInFlightAllArriveOnce(OtlpTestReceiver.Transport transport) {
    AgentMetrics metrics = new AgentMetrics();
    TestSpans source = new TestSpans();
    try (OtlpTestReceiver receiver = OtlpTestReceiver.start(transport, 0)) {
      ExportSettings settings =
          ExportSettings.builder()
              .setOtlpProtocol(
                  transport == OtlpTestReceiver.Transport.GRPC
                      ? ExportSettings.Protocol.GRPC
                      : ExportSettings.Protocol.HTTP_PROTOBUF)
              .setOtlpTracesEndpoint(receiver.endpoint())
              .setOtlpTimeout(Duration.ofSeconds(10))
              .build();
      List<SpanData> sent = new ArrayList<>();
      try (SpanBatcher batcher =
          SpanBatcher.builder(ExporterFactory.create(settings, metrics), metrics)
              .setMaxBatchSize(SPANS_PER_TRACE)
              .setMaxExportsInFlight(3)
              .build()) {
        for (int i = 0; i < TRACES; i++) {
          List<SpanData> trace = source.trace(i);
          trace.forEach(s -> assertThat(batcher.offer(s)).isTrue());
          sent.addAll(trace);
        }
        assertThat(batcher.flush().join(30, TimeUnit.SECONDS).isSuccess()).isTrue();
      }
      List<ReceivedSpan> received = receiver.awaitSpans(sent.size(), Duration.ofSeconds(20));
      assertThat(received.stream().map(ReceivedSpan::spanId).collect(Collectors.toList()))
          .containsExactlyInAnyOrderElementsOf(
              sent.stream().map(SpanData::getSpanId).collect(Collectors.toList()));
      assertThat(receiver.requests()).hasSizeGreaterThanOrEqualTo(TRACES);
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORTED)).isEqualTo(sent.size());
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORT_FAILURES)).isZero();
    }
  }
}
