package dev.wirespan.export;

import static dev.wirespan.testing.TestExchanges.connection;
import static dev.wirespan.testing.TestExchanges.request;
import static dev.wirespan.testing.TestExchanges.respond;

import dev.wirespan.http.ExchangeListener;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.span.MonotonicClock;
import dev.wirespan.span.PeerResolver;
import dev.wirespan.span.SpanFactory;
import dev.wirespan.span.TraceLinker;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.util.ArrayList;
import java.util.List;

/** Spans made the way the agent makes them: exchange -> TraceLinker -> SpanFactory. */
final class TestSpans {
  static final Resource FRONTEND =
      Resource.builder().put("service.name", "frontend").put("process.pid", 100L).build();
  static final Resource BACKEND =
      Resource.builder().put("service.name", "backend").put("process.pid", 200L).build();

  final List<SpanData> spans = new ArrayList<>();
  private final SpanFactory factory =
      new SpanFactory(c -> c.pid() == 100 ? FRONTEND : BACKEND, PeerResolver.NONE,
          MonotonicClock.system());
  private final TraceLinker linker =
      TraceLinker.builder(
              new ExchangeListener() {
                @Override
                public void onExchangeEnd(HttpExchange exchange) {
                  spans.add(factory.toSpan(exchange));
                }
              },
              new AgentMetrics())
          .build();

  /**
   * One request through two processes: frontend (pid 100) serves {@code GET /orders/<n>} and calls
   * backend (pid 200) on 127.0.0.1:9000; yields three spans of one trace: frontend SERVER,
   * frontend CLIENT, backend SERVER.
   */
  List<SpanData> trace(int n) {
    int from = spans.size();
    long t = System.nanoTime();
    HttpExchange inbound =
        request(connection(100, "127.0.0.1", 8080, "127.0.0.3", 50000 + n), HttpExchange.Side.SERVER,
            "GET", "/orders/" + n + "?id=" + n, 11, t)
            .setHost("frontend:8080").setUserAgent("test-agent/1.0");
    linker.onRequestStart(inbound);
    var outbound = connection(100, "127.0.0.1", 40000 + n, "127.0.0.1", 9000);
    HttpExchange call = request(outbound, HttpExchange.Side.CLIENT, "GET", "/stock/" + n, 11,
        t + 1_000_000).setHost("127.0.0.1:9000");
    linker.onRequestStart(call);
    HttpExchange served = request(dev.wirespan.testing.TestExchanges.reversed(outbound, 200),
        HttpExchange.Side.SERVER, "GET", "/stock/" + n, 21, t + 1_100_000).setHost("127.0.0.1:9000");
    linker.onRequestStart(served);
    linker.onExchangeEnd(respond(served, 200, t + 2_000_000));
    linker.onExchangeEnd(respond(call, 200, t + 2_100_000));
    linker.onExchangeEnd(respond(inbound, 200, t + 3_000_000));
    return new ArrayList<>(spans.subList(from, spans.size()));
  }

  static long lost(AgentMetrics metrics, String cause) {
    StringBuilder sb = new StringBuilder();
    metrics.writePrometheus(sb);
    String prefix = "wirespan_lost_total{stage=\"export\",cause=\"" + cause + "\"} ";
    return sb.toString().lines().filter(l -> l.startsWith(prefix))
        .mapToLong(l -> Long.parseLong(l.substring(prefix.length()))).sum();
  }
}
