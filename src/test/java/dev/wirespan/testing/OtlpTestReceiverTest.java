package dev.wirespan.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.testing.trace.TestSpanData;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class OtlpTestReceiverTest {
  private static SpanData span(String name) {
    return TestSpanData.builder()
        .setName(name).setKind(SpanKind.INTERNAL).setStatus(StatusData.unset())
        .setStartEpochNanos(1).setEndEpochNanos(2).setHasEnded(true).build();
  }

  @Test
  void httpReceiverRestartsOnTheSamePortAndRefusesOnRequest() {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startHttp()) {
      SpanExporter exporter = OtlpHttpSpanExporter.builder().setEndpoint(receiver.endpoint())
          .setRetryPolicy(null).setTimeout(Duration.ofSeconds(2)).build();
      assertThat(exporter.export(List.of(span("a"))).join(10, TimeUnit.SECONDS).isSuccess()).isTrue();

      int port = receiver.port();
      receiver.stop();
      assertThat(receiver.isRunning()).isFalse();
      assertThat(exporter.export(List.of(span("lost"))).join(10, TimeUnit.SECONDS).isSuccess())
          .isFalse();
      receiver.restart();
      assertThat(receiver.port()).isEqualTo(port);

      receiver.failNext(1);
      assertThat(exporter.export(List.of(span("refused"))).join(10, TimeUnit.SECONDS).isSuccess())
          .isFalse();
      assertThat(exporter.export(List.of(span("b"))).join(10, TimeUnit.SECONDS).isSuccess()).isTrue();
      assertThat(receiver.awaitSpans(2, Duration.ofSeconds(5)))
          .extracting(OtlpTestReceiver.ReceivedSpan::name).containsExactly("a", "b");
      assertThat(receiver.refusedRequests()).isEqualTo(1);
      assertThatThrownBy(() -> receiver.awaitSpans(3, Duration.ofMillis(100)))
          .isInstanceOf(AssertionError.class);
      receiver.clear();
      assertThat(receiver.spans()).isEmpty();
      exporter.shutdown();
    }
  }

  @Test
  void blackHoleAcceptsAndNeverAnswersThenRestartsOnTheSamePort() throws Exception {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startHttp()) {
      int port = receiver.port();
      receiver.blackHole();
      assertThat(receiver.isRunning()).isFalse();
      assertThat(receiver.isBlackHole()).isTrue();
      try (Socket s = new Socket("127.0.0.1", port)) { // accepted, not refused
        s.setSoTimeout(500);
        s.getOutputStream().write("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            .getBytes(StandardCharsets.US_ASCII));
        assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(SocketTimeoutException.class);
      }
      receiver.restart();
      assertThat(receiver.isBlackHole()).isFalse();
      assertThat(receiver.port()).isEqualTo(port);
      SpanExporter exporter = OtlpHttpSpanExporter.builder().setEndpoint(receiver.endpoint())
          .setRetryPolicy(null).setTimeout(Duration.ofSeconds(2)).build();
      assertThat(exporter.export(List.of(span("back"))).join(10, TimeUnit.SECONDS).isSuccess()).isTrue();
      exporter.shutdown();
    }
  }
}
