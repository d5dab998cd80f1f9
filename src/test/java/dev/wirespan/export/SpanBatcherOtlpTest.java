package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.testing.OtlpTestReceiver;
import dev.wirespan.testing.OtlpTestReceiver.ReceivedSpan;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.Span;
import io.opentelemetry.proto.trace.v1.Status;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.common.export.RetryPolicy;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SpanBatcherOtlpTest {
  private static final Duration WAIT = Duration.ofSeconds(20);
  /** The export timeout covers the retries and their backoff: room for a few of them. */
  private static final Duration RETRY_BUDGET = Duration.ofSeconds(20);
  /**
   * Share of a nominal backoff a retry waits at least: the exporter jitters each backoff by +-20%;
   * half tells a backoff from an immediate retry without leaning on the exact jitter.
   */
  private static final double BACKOFF_FLOOR_SHARE = 0.5;

  private final AgentMetrics metrics = new AgentMetrics();
  private final TestSpans spans = new TestSpans();

  private SpanExporter exporter(OtlpTestReceiver receiver, ExportSettings.Protocol protocol,
      ExportSettings.Compression compression) {
    return exporter(receiver, protocol, compression, Duration.ofSeconds(2));
  }

  private SpanExporter exporter(OtlpTestReceiver receiver, ExportSettings.Protocol protocol,
      ExportSettings.Compression compression, Duration timeout) {
    ExportSettings.Builder settings = ExportSettings.builder()
        .setOtlpProtocol(protocol)
        .setOtlpCompression(compression)
        .setOtlpTimeout(timeout)
        .putOtlpHeader("x-tenant", "acme");
    if (protocol == ExportSettings.Protocol.GRPC) {
      settings.setOtlpTracesEndpoint(receiver.endpoint());
    } else {
      // The generic endpoint: the exporter must add /v1/traces itself.
      settings.setOtlpEndpoint("http://127.0.0.1:" + receiver.port());
    }
    return ExporterFactory.create(settings.build(), metrics);
  }

  @Test
  void grpcExportDeliversSpansWithKindsIdsAttributesAndResources() {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startGrpc()) {
      List<SpanData> sent;
      try (SpanBatcher batcher = SpanBatcher.builder(
          exporter(receiver, ExportSettings.Protocol.GRPC, ExportSettings.Compression.NONE), metrics)
          .build()) {
        sent = spans.trace(1);
        sent.forEach(batcher::offer);
      }
      assertTraceReceived(receiver, sent);
      assertThat(receiver.requestHeaders()).allSatisfy(h -> assertThat(h).containsEntry("x-tenant", "acme"));
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORTED)).isEqualTo(3);
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORT_FAILURES)).isZero();
    }
  }

  @Test
  void httpProtobufExportWithGzipDeliversTheSameSpans() {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startHttp()) {
      List<SpanData> sent;
      try (SpanBatcher batcher = SpanBatcher.builder(
          exporter(receiver, ExportSettings.Protocol.HTTP_PROTOBUF, ExportSettings.Compression.GZIP),
          metrics).build()) {
        sent = spans.trace(2);
        sent.forEach(batcher::offer);
      }
      assertTraceReceived(receiver, sent);
      assertThat(receiver.requestHeaders().get(0))
          .containsEntry("x-tenant", "acme").containsEntry("content-encoding", "gzip");
    }
  }

  private static void assertTraceReceived(OtlpTestReceiver receiver, List<SpanData> sent) {
    List<ReceivedSpan> received = receiver.awaitSpans(3, WAIT);
    assertThat(received).hasSize(3);
    Map<String, ReceivedSpan> byId =
        received.stream().collect(Collectors.toMap(ReceivedSpan::spanId, s -> s));
    for (SpanData span : sent) {
      ReceivedSpan r = byId.get(span.getSpanId());
      assertThat(r).as(span.getName()).isNotNull();
      assertThat(r.traceId()).isEqualTo(span.getTraceId());
      assertThat(r.parentSpanId()).isEqualTo(
          span.getParentSpanContext().isValid() ? span.getParentSpanId() : "");
      assertThat(r.name()).isEqualTo(span.getName());
      assertThat(r.span().getStartTimeUnixNano()).isEqualTo(span.getStartEpochNanos());
      assertThat(r.span().getEndTimeUnixNano()).isEqualTo(span.getEndEpochNanos());
      assertThat(r.scope().getName()).isEqualTo("dev.wirespan");
    }
    // One trace: frontend SERVER -> frontend CLIENT -> backend SERVER.
    assertThat(received).extracting(ReceivedSpan::traceId).containsOnly(sent.get(0).getTraceId());
    ReceivedSpan root = only(received, "frontend", Span.SpanKind.SPAN_KIND_SERVER);
    ReceivedSpan call = only(received, "frontend", Span.SpanKind.SPAN_KIND_CLIENT);
    ReceivedSpan served = only(received, "backend", Span.SpanKind.SPAN_KIND_SERVER);
    assertThat(root.parentSpanId()).isEmpty();
    assertThat(call.parentSpanId()).isEqualTo(root.spanId());
    assertThat(served.parentSpanId()).isEqualTo(call.spanId());

    assertThat(root.name()).matches("GET /orders/\\{id}");
    assertThat(root.attributes())
        .containsEntry("http.request.method", "GET")
        .containsEntry("http.response.status_code", "200")
        .containsEntry("url.path", root.attribute("url.path").orElseThrow())
        .containsEntry("server.address", "frontend")
        .containsEntry("server.port", "8080")
        .containsEntry("client.address", "127.0.0.3")
        .containsEntry("user_agent.original", "test-agent/1.0")
        .containsEntry("network.protocol.version", "1.1");
    assertThat(call.attribute("url.full").orElseThrow()).startsWith("http://127.0.0.1:9000/stock/");
    assertThat(root.span().getStatus().getCode()).isEqualTo(Status.StatusCode.STATUS_CODE_UNSET);

    // The marshaler groups spans by resource instance: one ResourceSpans per process.
    List<ExportTraceServiceRequest> requests = receiver.requests();
    assertThat(requests.stream().mapToInt(ExportTraceServiceRequest::getResourceSpansCount).sum())
        .isEqualTo(2);
    assertThat(served.resourceAttribute("process.pid")).contains("200");
  }

  private static ReceivedSpan only(List<ReceivedSpan> spans, String service, Span.SpanKind kind) {
    List<ReceivedSpan> matching = spans.stream()
        .filter(s -> s.resourceAttribute("service.name").orElse("").equals(service))
        .filter(s -> s.kind() == kind)
        .collect(Collectors.toList());
    assertThat(matching).as(service + " " + kind).hasSize(1);
    return matching.get(0);
  }

  @Test
  void collectorDownThenBackOnTheSamePort() {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startGrpc()) {
      int port = receiver.port();
      receiver.stop();
      try (SpanBatcher batcher = SpanBatcher.builder(
              exporter(receiver, ExportSettings.Protocol.GRPC, ExportSettings.Compression.NONE),
              metrics)
          .setExportTimeout(Duration.ofSeconds(3))
          .build()) {
        spans.trace(3).forEach(batcher::offer);
        CompletableResultCode down = batcher.flush().join(30, TimeUnit.SECONDS);
        assertThat(down.isSuccess()).isFalse();
        assertThat(metrics.total(SpanBatcher.METRIC_EXPORT_FAILURES)).isEqualTo(1);
        assertThat(TestSpans.lost(metrics, "export_failed")).isEqualTo(3);

        receiver.restart();
        assertThat(receiver.port()).isEqualTo(port);
        List<SpanData> later = spans.trace(4);
        later.forEach(batcher::offer);
        CompletableResultCode up = batcher.flush().join(30, TimeUnit.SECONDS);
        assertThat(up.isSuccess()).isTrue();
        List<String> receivedIds =
            receiver.awaitSpans(3, WAIT).stream().map(ReceivedSpan::spanId).collect(Collectors.toList());
        assertThat(receivedIds).containsAll(later.stream().map(SpanData::getSpanId).collect(Collectors.toList()));
        assertThat(metrics.total(SpanBatcher.METRIC_EXPORTED)).isEqualTo(3);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(ExportSettings.Protocol.class)
  void retryableRefusalsAreRetriedWithGrowingBackoffAndTheBatchIsDelivered(
      ExportSettings.Protocol protocol) {
    RetryPolicy policy = RetryPolicy.getDefault();
    int refusals = policy.getMaxAttempts() - 2; // a few refusals, then success within the attempts
    try (OtlpTestReceiver receiver = protocol == ExportSettings.Protocol.GRPC
        ? OtlpTestReceiver.startGrpc() : OtlpTestReceiver.startHttp()) {
      receiver.failNext(refusals); // gRPC UNAVAILABLE or HTTP 503, both retryable
      try (SpanBatcher batcher = SpanBatcher.builder(
          exporter(receiver, protocol, ExportSettings.Compression.NONE, RETRY_BUDGET), metrics)
          .build()) {
        spans.trace(5).forEach(batcher::offer);
        assertThat(batcher.flush().join(WAIT.toSeconds(), TimeUnit.SECONDS).isSuccess()).isTrue();
        assertThat(batcher.exportProblem()).isEmpty();
      }
      assertThat(receiver.refusedRequests()).isEqualTo(refusals);
      assertThat(receiver.spans()).hasSize(3);
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORT_FAILURES)).isZero();
      assertThat(TestSpans.lost(metrics, "export_failed")).isZero();
      // The attempts are spread by an exponential backoff, not fired at once: each gap is at least
      // a share of its nominal backoff (initial * multiplier^n, capped), whatever the jitter.
      List<Long> attempts = new ArrayList<>(receiver.refusedAtNanos());
      attempts.add(receiver.acceptedAtNanos().get(0));
      double nominal = policy.getInitialBackoff().toNanos();
      for (int i = 1; i < attempts.size(); i++) {
        long floor = (long) (Math.min(nominal, policy.getMaxBackoff().toNanos()) * BACKOFF_FLOOR_SHARE);
        assertThat(attempts.get(i) - attempts.get(i - 1))
            .as("gap before attempt %d (ns)", i + 1).isGreaterThanOrEqualTo(floor);
        nominal *= policy.getBackoffMultiplier();
      }
    }
  }

  @Test
  void aCollectorThatStaysDownFailsExportsButIsNotAWorkerProblem() throws Exception {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startGrpc()) {
      receiver.blackHole(); // connections accepted, never answered: each export runs to its timeout
      Duration otlpTimeout = Duration.ofMillis(300);
      Duration exportTimeout = Duration.ofMillis(500);
      Duration stall = Duration.ofSeconds(2);
      try (SpanBatcher batcher = SpanBatcher.builder(
              exporter(receiver, ExportSettings.Protocol.GRPC, ExportSettings.Compression.NONE, otlpTimeout),
              metrics)
          .setQueueCapacity(6)
          .setMaxBatchSize(3)
          .setScheduleDelay(Duration.ofMillis(50))
          .setExportTimeout(exportTimeout)
          .setWorkerStallTimeout(stall)
          .build()) {
        // Spans keep coming for several stall timeouts: exports fail one after the other, the
        // queue overflows, and the worker is never reported stuck.
        long end = System.nanoTime() + stall.multipliedBy(3).toNanos();
        int n = 0;
        while (System.nanoTime() < end) {
          spans.trace(300 + n++).forEach(batcher::offer);
          assertThat(batcher.workerProblem()).isEmpty();
          assertThat(batcher.queuedSpans()).isLessThanOrEqualTo(6);
          Thread.sleep(20);
        }
        assertThat(batcher.exportProblem()).hasValueSatisfying(p -> assertThat(p)
            .contains("in a row failed").contains("none succeeded yet"));
        assertThat(TestSpans.lost(metrics, "export_failed")).isPositive();
        assertThat(TestSpans.lost(metrics, "queue_full")).isPositive();

        receiver.restart();
        List<SpanData> later = spans.trace(400);
        await().atMost(WAIT).until(() -> {
          later.forEach(batcher::offer);
          return receiver.spans().stream().anyMatch(r -> r.spanId().equals(later.get(0).getSpanId()));
        });
        await().atMost(WAIT).until(() -> batcher.exportProblem().isEmpty());
        assertThat(batcher.workerProblem()).isEmpty();
      }
    }
  }

  @Test
  void fullQueueDropsAndCountsWithoutBlocking() throws Exception {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startGrpc()) {
      CountDownLatch exporting = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      SpanExporter real =
          exporter(receiver, ExportSettings.Protocol.GRPC, ExportSettings.Compression.NONE);
      // Holds the worker inside its first export so that the queue fills up.
      SpanExporter held = new SpanExporter() {
        @Override
        public CompletableResultCode export(Collection<SpanData> batch) {
          exporting.countDown();
          try {
            release.await(30, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return real.export(batch);
        }

        @Override
        public CompletableResultCode flush() {
          return real.flush();
        }

        @Override
        public CompletableResultCode shutdown() {
          return real.shutdown();
        }
      };
      int capacity = 10;
      int accepted = 0;
      int rejected = 0;
      List<SpanData> all = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        all.addAll(spans.trace(100 + i));
      }
      try (SpanBatcher batcher = SpanBatcher.builder(held, metrics)
          .setQueueCapacity(capacity).setMaxBatchSize(5).build()) {
        for (int i = 0; i < 5; i++) {
          assertThat(batcher.offer(all.get(i))).isTrue();
        }
        assertThat(exporting.await(10, TimeUnit.SECONDS)).isTrue();
        for (int i = 5; i < all.size(); i++) {
          if (batcher.offer(all.get(i))) {
            accepted++;
          } else {
            rejected++;
          }
        }
        assertThat(accepted).isEqualTo(capacity);
        assertThat(rejected).isEqualTo(all.size() - 5 - capacity);
        assertThat(TestSpans.lost(metrics, "queue_full")).isEqualTo(rejected);
        release.countDown();
      }
      assertThat(receiver.awaitSpans(5 + capacity, WAIT)).hasSize(5 + capacity);
      assertThat(metrics.total(SpanBatcher.METRIC_EXPORTED)).isEqualTo(5 + capacity);
    }
  }

  @Test
  void closeFlushesWhatIsQueuedAndShutsTheExporterDown() {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.startGrpc()) {
      SpanExporter exporter =
          exporter(receiver, ExportSettings.Protocol.GRPC, ExportSettings.Compression.NONE);
      SpanBatcher batcher = SpanBatcher.builder(exporter, metrics)
          .setScheduleDelay(Duration.ofHours(1)).build();
      List<SpanData> sent = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        sent.addAll(spans.trace(200 + i));
      }
      sent.forEach(batcher::offer);
      assertThat(receiver.spans()).isEmpty(); // neither a full batch nor a due delay yet
      batcher.close();
      assertThat(receiver.spans()).hasSize(sent.size());
      assertThat(batcher.offer(sent.get(0))).isFalse();
      assertThat(exporter.export(sent).join(10, TimeUnit.SECONDS).isSuccess()).isFalse();
    }
  }
}
