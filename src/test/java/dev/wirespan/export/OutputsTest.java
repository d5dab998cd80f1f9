package dev.wirespan.export;

import static dev.wirespan.testing.TestExchanges.connection;
import static dev.wirespan.testing.TestExchanges.request;
import static dev.wirespan.testing.TestExchanges.respond;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.span.MonotonicClock;
import dev.wirespan.span.PeerResolver;
import dev.wirespan.span.SpanFactory;
import dev.wirespan.testing.OtlpJson;
import dev.wirespan.testing.OtlpTestReceiver;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OutputsTest {
  private final TestSpans spans = new TestSpans();

  @Test
  void jsonLinesWritesOneOtlpRequestPerBatchThatParsesBack(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("spans.jsonl");
    List<SpanData> first = spans.trace(1);
    List<SpanData> second = spans.trace(2);
    try (JsonLinesSpanExporter exporter = JsonLinesSpanExporter.open(file)) {
      assertThat(exporter.export(first).isSuccess()).isTrue();
    }
    // Reopening appends.
    SpanExporter again = JsonLinesSpanExporter.open(file);
    assertThat(again.export(second).isSuccess()).isTrue();
    again.shutdown();

    List<String> lines = Files.readAllLines(file);
    assertThat(lines).hasSize(2);
    List<OtlpTestReceiver.ReceivedSpan> parsed = new ArrayList<>();
    for (String line : lines) {
      parsed.addAll(OtlpTestReceiver.flatten(List.of(OtlpJson.parseTraceRequest(line))));
    }
    List<SpanData> all = new ArrayList<>(first);
    all.addAll(second);
    assertThat(parsed).hasSize(all.size());
    for (int i = 0; i < all.size(); i++) {
      SpanData span = all.get(i);
      OtlpTestReceiver.ReceivedSpan p = parsed.stream()
          .filter(r -> r.spanId().equals(span.getSpanId())).findFirst().orElseThrow();
      assertThat(p.traceId()).isEqualTo(span.getTraceId());
      assertThat(p.name()).isEqualTo(span.getName());
      assertThat(p.kind().name()).isEqualTo("SPAN_KIND_" + span.getKind().name());
      assertThat(p.span().getStartTimeUnixNano()).isEqualTo(span.getStartEpochNanos());
      assertThat(p.attribute("http.request.method")).contains("GET");
      assertThat(p.resourceAttribute("service.name"))
          .contains(span.getResource().getAttribute(
              io.opentelemetry.semconv.ServiceAttributes.SERVICE_NAME));
    }
  }

  @Test
  void consolePrintsOneReadableLinePerSpan() {
    long epochNanos =
        LocalDateTime.of(2026, 11, 24, 21, 3, 4, 123_000_000).toEpochSecond(ZoneOffset.UTC)
            * 1_000_000_000L + 123_000_000L;
    long monotonicStart = 1_000_000L;
    MonotonicClock clock = new MonotonicClock(
        () -> epochNanos - monotonicStart, () -> 0L, Duration.ofDays(1));
    SpanFactory factory = new SpanFactory(
        c -> Resource.builder().put("service.name", "python3").build(), PeerResolver.NONE, clock);
    ConnectionInfo c = connection(1, "127.0.0.1", 8000, "127.0.0.1", 53422);
    HttpExchange server = respond(request(c, HttpExchange.Side.SERVER, "GET", "/users/7", 1,
        monotonicStart), 200, monotonicStart + 12_300_000)
        .setTraceContext(SpanContext.create("4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7", TraceFlags.getSampled(), TraceState.getDefault()), null);
    ConnectionInfo v6 = connection(1, "::1", 40000, "::1", 9000);
    HttpExchange client = request(v6, HttpExchange.Side.CLIENT, "POST", "/x", 1, monotonicStart)
        .setResponseEndNanos(monotonicStart + 50_000)
        .setOutcome(HttpExchange.Outcome.TIMED_OUT);

    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ConsoleSpanExporter console =
        new ConsoleSpanExporter(new PrintStream(bytes, true, StandardCharsets.UTF_8), ZoneOffset.UTC);
    SpanData clientSpan = factory.toSpan(client);
    assertThat(console.export(List.of(factory.toSpan(server), clientSpan)).isSuccess()).isTrue();

    assertThat(bytes.toString(StandardCharsets.UTF_8).lines().collect(Collectors.toList()))
        .containsExactly(
            "2026-11-24T21:03:04.123 SERVER python3 GET /users/{id} 200 12.3ms <- 127.0.0.1:53422"
                + " trace=4bf92f35",
            "2026-11-24T21:03:04.123 CLIENT python3 POST /x - 0.1ms -> [::1]:9000 trace="
                + clientSpan.getTraceId().substring(0, 8) + " error=timeout");
  }

  /**
   * Requests carrying credentials in headers and in the query, decoded by Netty and turned into
   * exchanges the way the connection decoder does (only Host, User-Agent and trace headers are
   * copied): no secret may appear in any output's bytes.
   */
  @Test
  void secretsNeverLeaveInAnyOutput(@TempDir Path dir) throws Exception {
    String[] secrets = {
      "hunter2", "SESSIONSECRET", "AUTHZSECRET", "COOKIESECRET", "PROXYSECRET", "APIKEYSECRET",
      "SETCOOKIESECRET", "AMZSIGSECRET"
    };
    String rawRequest =
        "GET /login?user=bob&password=hunter2&session_id=SESSIONSECRET"
            + "&X-Amz-Signature=AMZSIGSECRET HTTP/1.1\r\n"
            + "Host: app.local:8080\r\n"
            + "User-Agent: curl/8.0\r\n"
            + "Authorization: Bearer AUTHZSECRET\r\n"
            + "Cookie: sid=COOKIESECRET\r\n"
            + "Proxy-Authorization: Basic PROXYSECRET\r\n"
            + "X-Api-Key: APIKEYSECRET\r\n"
            + "\r\n";
    String rawResponse =
        "HTTP/1.1 200 OK\r\nSet-Cookie: sid=SETCOOKIESECRET\r\nContent-Length: 2\r\n\r\nok";

    List<SpanData> made = new ArrayList<>();
    SpanFactory factory = new SpanFactory(
        cn -> TestSpans.FRONTEND, PeerResolver.NONE, MonotonicClock.system());
    for (HttpExchange.Side side : HttpExchange.Side.values()) {
      HttpExchange exchange = decodeLikeTheDecoder(rawRequest, rawResponse, side);
      made.add(factory.toSpan(exchange));
    }

    Path jsonl = dir.resolve("out.jsonl");
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    AgentMetrics metrics = new AgentMetrics();
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startHttp()) {
      ExportSettings settings = ExportSettings.builder()
          .setOutputs(EnumSet.allOf(ExportSettings.Output.class))
          .setOtlpProtocol(ExportSettings.Protocol.HTTP_PROTOBUF)
          .setOtlpTracesEndpoint(receiver.endpoint())
          .setConsole(new PrintStream(console, true, StandardCharsets.UTF_8))
          .setJsonlFile(jsonl)
          .build();
      try (SpanBatcher batcher = SpanBatcher.builder(ExporterFactory.create(settings, metrics), metrics)
          .build()) {
        made.forEach(batcher::offer);
        assertThat(batcher.flush().join(30, TimeUnit.SECONDS).isSuccess()).isTrue();
      }
      List<ExportTraceServiceRequest> requests = receiver.requests();
      assertThat(OtlpTestReceiver.flatten(requests)).hasSize(2);
      ByteArrayOutputStream wire = new ByteArrayOutputStream();
      for (ExportTraceServiceRequest r : requests) {
        r.writeTo(wire);
      }
      String jsonlText = Files.readString(jsonl);
      String consoleText = console.toString(StandardCharsets.UTF_8);
      String wireText = wire.toString(StandardCharsets.ISO_8859_1);
      assertThat(jsonlText).contains("password=REDACTED", "app.local");
      assertThat(consoleText).contains("GET /login");
      assertThat(wireText).contains("password=REDACTED");
      for (String secret : secrets) {
        assertThat(jsonlText).as("jsonl").doesNotContain(secret);
        assertThat(consoleText).as("console").doesNotContain(secret);
        assertThat(wireText).as("otlp").doesNotContain(secret);
        for (SpanData span : made) {
          assertThat(span.toString()).doesNotContain(secret);
        }
      }
    }
  }

  /** Netty decodes the bytes; the exchange gets only what the connection decoder copies. */
  private static HttpExchange decodeLikeTheDecoder(String rawRequest, String rawResponse,
      HttpExchange.Side side) {
    EmbeddedChannel requests = new EmbeddedChannel(new HttpRequestDecoder(),
        new HttpObjectAggregator(1 << 16));
    requests.writeInbound(Unpooled.copiedBuffer(rawRequest, StandardCharsets.ISO_8859_1));
    FullHttpRequest request = requests.readInbound();
    EmbeddedChannel responses = new EmbeddedChannel(new HttpResponseDecoder(),
        new HttpObjectAggregator(1 << 16));
    responses.writeInbound(Unpooled.copiedBuffer(rawResponse, StandardCharsets.ISO_8859_1));
    FullHttpResponse response = responses.readInbound();
    try {
      assertThat(request.decoderResult().isSuccess()).isTrue();
      assertThat(request.headers().get(HttpHeaderNames.AUTHORIZATION)).contains("AUTHZSECRET");
      long t = System.nanoTime();
      ConnectionInfo c = side == HttpExchange.Side.SERVER
          ? connection(5, "127.0.0.1", 8080, "127.0.0.4", 50001)
          : connection(5, "127.0.0.1", 50001, "127.0.0.4", 8080);
      return new HttpExchange(c, side)
          .setRequestLine(request.method().name(), request.uri(),
              request.protocolVersion().majorVersion() + "." + request.protocolVersion().minorVersion())
          .setHost(request.headers().get(HttpHeaderNames.HOST))
          .setUserAgent(request.headers().get(HttpHeaderNames.USER_AGENT))
          .setTraceHeaders(request.headers().get("traceparent"), request.headers().get("tracestate"))
          .setRequestTiming(1, t, t)
          .setStatusCode(response.status().code())
          .setResponseBodySize(response.content().readableBytes())
          .setResponseTiming(1, t + 1000, t + 2000);
    } finally {
      request.release();
      response.release();
      requests.finishAndReleaseAll();
      responses.finishAndReleaseAll();
    }
  }
}
