package dev.wirespan.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.ConnectionTracker;
import dev.wirespan.http.ExchangeListener;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.http.HttpSettings;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.testing.OtlpTestReceiver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.span.PeerResolver;
import dev.wirespan.span.ProcessResourceResolver;
import dev.wirespan.span.ResourceResolver;
import io.opentelemetry.sdk.resources.Resource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class PipelineWarmupTest {
  /** Enough for the targets on a slow, busy machine; the warm-up ends at its targets first. */
  private static final Duration GENEROUS_BUDGET = Duration.ofSeconds(60);

  private static final int CAPTURE_BYTES = 4096;
  private static final int TAIL_BYTES = 64;
  /** Resolvers of the agent's kinds outside a cluster. */
  private static final Function<AgentMetrics, Pipeline.Resolvers> RESOLVERS =
      m -> new Pipeline.Resolvers(new ProcessResourceResolver("node-1"), PeerResolver.NONE);

  @TempDir Path dir;

  @Test
  void syntheticTrafficDecodesIntoCompleteExchangesWithoutAnyLoss() {
    AgentMetrics metrics = new AgentMetrics();
    List<HttpExchange> ended = new ArrayList<>();
    List<HttpExchange> started = new ArrayList<>();
    ConnectionTracker tracker =
        new ConnectionTracker(
            HttpSettings.defaults(),
            new ExchangeListener() {
              @Override
              public void onRequestStart(HttpExchange exchange) {
                started.add(exchange);
              }

              @Override
              public void onExchangeEnd(HttpExchange exchange) {
                ended.add(exchange);
              }
            },
            metrics);
    WarmupTraffic traffic =
        new WarmupTraffic((int) ProcessHandle.current().pid(), 1, CAPTURE_BYTES, TAIL_BYTES);
    CaptureEvent view = new CaptureEvent();
    int rounds = 3;
    for (int r = 0; r < rounds; r++) {
      traffic.nextRound(System.nanoTime());
      for (int i = 0; i < traffic.recordCount(); i++) {
        tracker.onEvent(traffic.record(i, view));
      }
      // Every round's connections are closed at its end, and the next round's are new.
      assertThat(tracker.connectionCount()).isZero();
    }

    int perRound = 2 * WarmupTraffic.exchangesPerRound(); // each exchange seen from both ends
    assertThat(ended).hasSize(rounds * perRound).hasSameSizeAs(started);
    assertThat(ended).allSatisfy(e -> {
      assertThat(e.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
      assertThat(e.bytesMissing()).isFalse();
    });
    assertThat(ended).filteredOn(e -> e.side() == HttpExchange.Side.SERVER).hasSize(rounds * perRound / 2);
    assertThat(ended.stream().map(HttpExchange::statusCode).distinct())
        .containsExactlyInAnyOrder(200, 201, 204, 404, 503);
    assertThat(ended).filteredOn(e -> e.target().equals("/api/orders"))
        .allSatisfy(e -> assertThat(e.requestBodySize()).isEqualTo(26));
    assertThat(ended).filteredOn(e -> e.target().equals("/api/uploads")) // body in a second call
        .hasSize(rounds * 2 * WarmupTraffic.CONNECTIONS)
        .allSatisfy(e -> assertThat(e.requestBodySize()).isEqualTo(WarmupTraffic.SPLIT_REQUEST_BODY_BYTES));
    assertThat(ended).filteredOn(e -> e.target().startsWith("/downloads/")) // head and tail copied
        .hasSize(rounds * 2 * WarmupTraffic.CONNECTIONS)
        .allSatisfy(e -> assertThat(e.responseBodySize())
            .isEqualTo(CAPTURE_BYTES + WarmupTraffic.LARGE_BODY_BEYOND_CAP));
    assertThat(ended).filteredOn(e -> e.connection().remoteAddress() instanceof java.net.Inet6Address)
        .hasSize(ended.size() / 2);
    assertThat(ended).filteredOn(e -> e.target().startsWith("/static/"))
        .allSatisfy(e -> assertThat(e.responseBodySize()).isEqualTo(22 + 16));
    assertThat(ended).filteredOn(e -> e.traceparent() != null).isNotEmpty();
    assertThat(metrics.total("wirespan_lost_total")).as("losses, decoder errors included").isZero();
  }

  @ParameterizedTest
  @EnumSource(OtlpTestReceiver.Transport.class)
  void reachesItsTargetsThroughTheOtlpMarshalingAndSendsNothingToTheCollector(
      OtlpTestReceiver.Transport transport) throws Exception {
    try (OtlpTestReceiver receiver = OtlpTestReceiver.start(transport, 0)) {
      AgentConfig config =
          config(
              Map.of(
                  Setting.EXPORTER, "otlp",
                  Setting.OTLP_PROTOCOL,
                      transport == OtlpTestReceiver.Transport.GRPC ? "grpc" : "http/protobuf",
                  Setting.OTLP_ENDPOINT, receiver.endpoint(),
                  Setting.OTLP_COMPRESSION, "gzip"));

      PipelineWarmup.Result r = PipelineWarmup.runHere(config, RESOLVERS, GENEROUS_BUDGET);

      assertThat(r.events()).isGreaterThanOrEqualTo(PipelineWarmup.TARGET_EVENTS);
      assertThat(r.spansExported()).isGreaterThanOrEqualTo(PipelineWarmup.TARGET_SPANS);
      // gzip of the same few spans over and over: far below the uncompressed ~400 bytes a span.
      assertThat(r.exportBytes()).isPositive().isLessThan(r.spansExported() * 100);
      Thread.sleep(200); // anything sent would have arrived by now (loopback)
      assertThat(receiver.requests()).isEmpty();
    }
  }

  @Test
  void consoleAndJsonlOutputsSeeNoSyntheticSpan() {
    Path jsonl = dir.resolve("spans.jsonl");
    AgentConfig config =
        config(Map.of(Setting.EXPORTER, "console,jsonl", Setting.JSONL_FILE, jsonl.toString()));

    PipelineWarmup.Result r = PipelineWarmup.runHere(config, RESOLVERS, GENEROUS_BUDGET);

    assertThat(r.spansExported()).isGreaterThanOrEqualTo(PipelineWarmup.TARGET_SPANS);
    assertThat(r.exportBytes()).isZero();
    assertThat(Files.exists(jsonl)).as("jsonl output opened by the warm-up").isFalse();
  }

  @Test
  void itsResolversAreClosedAfterIt() {
    AtomicInteger closed = new AtomicInteger();
    class ClosingResolver implements ResourceResolver, AutoCloseable {
      private final ProcessResourceResolver processes = new ProcessResourceResolver("node-1");

      @Override
      public Resource resolve(ConnectionInfo connection) {
        return processes.resolve(connection);
      }

      @Override
      public void close() {
        closed.incrementAndGet();
      }
    }

    PipelineWarmup.runHere(
        config(Map.of()),
        m -> new Pipeline.Resolvers(new ClosingResolver(), PeerResolver.NONE),
        Duration.ofMillis(20));

    assertThat(closed).hasValue(1);
  }

  @Test
  void aZeroBudgetRunsNothing() {
    PipelineWarmup.Result r = PipelineWarmup.runHere(config(Map.of()), RESOLVERS, Duration.ZERO);

    assertThat(r.rounds()).isZero();
    assertThat(r.events()).isZero();
    assertThat(r.spansExported()).isZero();
  }

  @Test
  void theBudgetEndsTheWarmupBeforeItsTargets() {
    PipelineWarmup.Result r =
        PipelineWarmup.runHere(config(Map.of()), RESOLVERS, Duration.ofMillis(20));

    assertThat(r.rounds()).isPositive();
    assertThat(r.events()).isLessThan(PipelineWarmup.TARGET_EVENTS);
  }

  @Test
  void onItsOwnThreadItReturnsTheResult() {
    PipelineWarmup.Result r = PipelineWarmup.run(config(Map.of()), RESOLVERS, GENEROUS_BUDGET);

    assertThat(r).isNotNull();
    assertThat(r.events()).isGreaterThanOrEqualTo(PipelineWarmup.TARGET_EVENTS);
  }

  private static AgentConfig config(Map<Setting, String> settings) {
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.putAll(settings);
    return AgentConfig.from(SettingValues.resolve(flags, Map.of()));
  }
}
