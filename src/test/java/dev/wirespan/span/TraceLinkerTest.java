package dev.wirespan.span;

import static dev.wirespan.testing.TestExchanges.connection;
import static dev.wirespan.testing.TestExchanges.request;
import static dev.wirespan.testing.TestExchanges.respond;
import static dev.wirespan.testing.TestExchanges.reversed;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.http.ExchangeListener;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.http.HttpExchange.Side;
import dev.wirespan.metrics.AgentMetrics;
import io.opentelemetry.api.trace.SpanContext;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TraceLinkerTest {
  private static final String TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  private static final String PARENT_ID = "00f067aa0ba902b7";

  private final AgentMetrics metrics = new AgentMetrics();
  private final List<String> forwarded = new ArrayList<>();
  private final ExchangeListener next =
      new ExchangeListener() {
        @Override
        public void onRequestStart(HttpExchange exchange) {
          assertThat(exchange.spanContext()).isNotNull();
          forwarded.add("start " + exchange.target());
        }

        @Override
        public void onExchangeEnd(HttpExchange exchange) {
          forwarded.add("end " + exchange.target());
        }
      };
  private final TraceLinker linker = TraceLinker.builder(next, metrics).build();

  private long links(String rule) {
    String text = prometheus();
    String prefix = TraceLinker.METRIC_LINKS + "{rule=\"" + rule + "\"} ";
    return text.lines().filter(l -> l.startsWith(prefix))
        .mapToLong(l -> Long.parseLong(l.substring(prefix.length()))).sum();
  }

  private String prometheus() {
    StringBuilder sb = new StringBuilder();
    metrics.writePrometheus(sb);
    return sb.toString();
  }

  @ParameterizedTest
  @ValueSource(strings = {"SERVER", "CLIENT"})
  void validTraceparentGivesTraceAndParentKeepingFlagsAndState(Side side) {
    HttpExchange e = request(connection(1, "127.0.0.1", 80, "127.0.0.2", 5000), side, "GET", "/a",
        1, 100)
        .setTraceHeaders("00-" + TRACE_ID + "-" + PARENT_ID + "-00", "vendor=x");
    linker.onRequestStart(e);

    assertThat(e.spanContext().getTraceId()).isEqualTo(TRACE_ID);
    assertThat(e.spanContext().getSpanId()).isNotEqualTo(PARENT_ID);
    assertThat(e.spanContext().isSampled()).isFalse();
    assertThat(e.spanContext().getTraceState().get("vendor")).isEqualTo("x");
    assertThat(e.parentSpanContext().getSpanId()).isEqualTo(PARENT_ID);
    assertThat(e.parentSpanContext().isRemote()).isTrue();
    assertThat(links("traceparent")).isEqualTo(1);
    assertThat(forwarded).containsExactly("start /a");
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "garbage",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
  })
  void invalidTraceparentStartsANewTrace(String traceparent) {
    HttpExchange e = request(connection(1, "127.0.0.1", 80, "127.0.0.2", 5000), Side.SERVER, "GET",
        "/", 1, 100).setTraceHeaders(traceparent, null);
    linker.onRequestStart(e);
    assertThat(e.spanContext().isValid()).isTrue();
    assertThat(e.spanContext().getTraceId()).isNotEqualTo(TRACE_ID);
    assertThat(e.spanContext().isSampled()).isTrue();
    assertThat(e.parentSpanContext()).isNull();
    linker.onExchangeEnd(e);
    assertThat(links("traceparent")).isZero();
    assertThat(links("root")).isEqualTo(1);
  }

  @Test
  void serverJoinsTheClientOnTheReversedTupleWhenTheClientCameFirst() {
    ConnectionInfo clientSide = connection(10, "127.0.0.1", 41000, "127.0.0.1", 8080);
    ConnectionInfo serverSide = reversed(clientSide, 20);

    HttpExchange c1 = request(clientSide, Side.CLIENT, "GET", "/one", 5, 100);
    linker.onRequestStart(c1);
    HttpExchange s1 = request(serverSide, Side.SERVER, "GET", "/one", 6, 110);
    linker.onRequestStart(s1);
    assertThat(s1.spanContext().getTraceId()).isEqualTo(c1.spanContext().getTraceId());
    assertThat(s1.parentSpanContext()).isEqualTo(c1.spanContext());

    // The second request on the same keep-alive connection pairs with the second client request.
    linker.onExchangeEnd(respond(s1, 200, 120));
    linker.onExchangeEnd(respond(c1, 200, 121));
    HttpExchange c2 = request(clientSide, Side.CLIENT, "GET", "/two", 5, 200);
    linker.onRequestStart(c2);
    HttpExchange s2 = request(serverSide, Side.SERVER, "GET", "/two", 6, 210);
    linker.onRequestStart(s2);
    assertThat(s2.parentSpanContext()).isEqualTo(c2.spanContext());
    assertThat(c2.spanContext().getTraceId()).isNotEqualTo(c1.spanContext().getTraceId());
    assertThat(links("tcp_peer")).isEqualTo(2);
  }

  @Test
  void serverSeenBeforeItsClientIsReparentedAtExchangeEnd() {
    ConnectionInfo clientSide = connection(10, "127.0.0.1", 41001, "127.0.0.1", 8080);
    ConnectionInfo serverSide = reversed(clientSide, 20);

    HttpExchange s1 = request(serverSide, Side.SERVER, "GET", "/late", 6, 100);
    linker.onRequestStart(s1);
    SpanContext provisional = s1.spanContext();
    assertThat(s1.parentSpanContext()).isNull();
    assertThat(linker.pendingServerExchanges()).isEqualTo(1);

    HttpExchange c1 = request(clientSide, Side.CLIENT, "GET", "/late", 5, 101);
    linker.onRequestStart(c1);
    linker.onExchangeEnd(respond(s1, 200, 150));

    assertThat(s1.spanContext().getTraceId()).isEqualTo(c1.spanContext().getTraceId());
    assertThat(s1.spanContext().getSpanId()).isEqualTo(provisional.getSpanId());
    assertThat(s1.parentSpanContext()).isEqualTo(c1.spanContext());
    assertThat(linker.pendingServerExchanges()).isZero();
    assertThat(links("tcp_peer")).isEqualTo(1);
    assertThat(links("root")).isEqualTo(1); // the client itself
    assertThat(forwarded).containsExactly("start /late", "start /late", "end /late");
  }

  @Test
  void serverWhoseClientNeverShowsIsARoot() {
    ConnectionInfo serverSide = connection(20, "127.0.0.1", 8080, "127.0.0.5", 41002);
    HttpExchange s = request(serverSide, Side.SERVER, "GET", "/", 6, 100);
    linker.onRequestStart(s);
    SpanContext provisional = s.spanContext();
    linker.onExchangeEnd(respond(s, 200, 150));
    assertThat(s.spanContext()).isEqualTo(provisional);
    assertThat(s.parentSpanContext()).isNull();
    assertThat(links("root")).isEqualTo(1);
    assertThat(links("tcp_peer")).isZero();
  }

  @Test
  void aNewConnectionOnAReusedTupleStartsCountingAgain() {
    ConnectionInfo firstClient = connection(10, "127.0.0.1", 41003, "127.0.0.1", 8080);
    ConnectionInfo firstServer = reversed(firstClient, 20);
    for (int i = 0; i < 3; i++) {
      HttpExchange c = request(firstClient, Side.CLIENT, "GET", "/" + i, 5, 100 + i * 10);
      linker.onRequestStart(c);
      HttpExchange s = request(firstServer, Side.SERVER, "GET", "/" + i, 6, 101 + i * 10);
      linker.onRequestStart(s);
      assertThat(s.parentSpanContext()).isEqualTo(c.spanContext());
    }
    // Same addresses and ports, new sockets: the first request pairs with the first.
    ConnectionInfo secondClient = connection(10, "127.0.0.1", 41003, "127.0.0.1", 8080);
    ConnectionInfo secondServer = reversed(secondClient, 20);
    HttpExchange c = request(secondClient, Side.CLIENT, "GET", "/again", 5, 1000);
    linker.onRequestStart(c);
    HttpExchange s = request(secondServer, Side.SERVER, "GET", "/again", 6, 1001);
    linker.onRequestStart(s);
    assertThat(s.parentSpanContext()).isEqualTo(c.spanContext());
  }

  @Test
  void clientInsideAServerExchangeOnTheSameThreadIsItsChild() {
    ConnectionInfo inbound = connection(30, "127.0.0.1", 8080, "127.0.0.7", 50000);
    ConnectionInfo outbound = connection(30, "127.0.0.1", 42000, "127.0.0.8", 9090);
    HttpExchange server = request(inbound, Side.SERVER, "GET", "/front", 77, 100);
    linker.onRequestStart(server);

    HttpExchange client = request(outbound, Side.CLIENT, "GET", "/back", 77, 110);
    linker.onRequestStart(client);
    assertThat(client.spanContext().getTraceId()).isEqualTo(server.spanContext().getTraceId());
    assertThat(client.parentSpanContext()).isEqualTo(server.spanContext());

    // Another thread of the same process, and the same tid in another process: not children.
    HttpExchange otherThread = request(outbound, Side.CLIENT, "GET", "/x", 78, 111);
    linker.onRequestStart(otherThread);
    assertThat(otherThread.parentSpanContext()).isNull();
    HttpExchange otherProcess = request(connection(31, "127.0.0.1", 42001, "127.0.0.8", 9090),
        Side.CLIENT, "GET", "/y", 77, 112);
    linker.onRequestStart(otherProcess);
    assertThat(otherProcess.parentSpanContext()).isNull();

    // After the server's response the thread is free again.
    linker.onExchangeEnd(respond(client, 200, 120));
    linker.onExchangeEnd(respond(server, 200, 130));
    HttpExchange after = request(outbound, Side.CLIENT, "GET", "/after", 77, 140);
    linker.onRequestStart(after);
    assertThat(after.parentSpanContext()).isNull();
    assertThat(links("thread")).isEqualTo(1);
  }

  @Test
  void threadWithSeveralOpenServerExchangesIsAmbiguous() {
    HttpExchange s1 = request(connection(40, "127.0.0.1", 8080, "127.0.0.7", 50001), Side.SERVER,
        "GET", "/1", 9, 100);
    HttpExchange s2 = request(connection(40, "127.0.0.1", 8080, "127.0.0.7", 50002), Side.SERVER,
        "GET", "/2", 9, 101);
    linker.onRequestStart(s1);
    linker.onRequestStart(s2);
    HttpExchange client = request(connection(40, "127.0.0.1", 42002, "127.0.0.8", 9090),
        Side.CLIENT, "GET", "/c", 9, 102);
    linker.onRequestStart(client);
    assertThat(client.parentSpanContext()).isNull();
    assertThat(links("thread")).isZero();
  }

  @Test
  void threadCorrelationCanBeDisabled() {
    TraceLinker noThreads = TraceLinker.builder(next, new AgentMetrics())
        .setThreadCorrelation(false).build();
    HttpExchange server = request(connection(30, "127.0.0.1", 8080, "127.0.0.7", 50003),
        Side.SERVER, "GET", "/front", 77, 100);
    noThreads.onRequestStart(server);
    HttpExchange client = request(connection(30, "127.0.0.1", 42003, "127.0.0.8", 9090),
        Side.CLIENT, "GET", "/back", 77, 110);
    noThreads.onRequestStart(client);
    assertThat(client.parentSpanContext()).isNull();
  }

  @Test
  void correlationStateIsBoundedByCountAndAge() {
    TraceLinker small = TraceLinker.builder(next, metrics)
        .setMaxConnections(4).setMaxPendingServerExchanges(3)
        .setMaxCorrelationAge(Duration.ofNanos(1_000)).build();
    for (int i = 0; i < 10; i++) {
      small.onRequestStart(request(connection(50, "127.0.0.1", 8080, "127.0.0.9", 30000 + i),
          Side.SERVER, "GET", "/", 1, 100 + i));
    }
    assertThat(small.trackedConnections()).isEqualTo(4);
    assertThat(small.pendingServerExchanges()).isEqualTo(3);
    // Ten microseconds later everything has aged out.
    small.onRequestStart(request(connection(50, "127.0.0.1", 43000, "127.0.0.9", 80), Side.CLIENT,
        "GET", "/", 2, 10_000));
    assertThat(small.pendingServerExchanges()).isZero();
    assertThat(small.trackedConnections()).isEqualTo(1);
    assertThat(links("root")).isEqualTo(11);
  }

  @Test
  void exchangeEndedWithoutStartStillGetsATrace() {
    HttpExchange e = request(connection(1, "127.0.0.1", 80, "127.0.0.2", 5000), Side.CLIENT, "GET",
        "/", 1, 100);
    linker.onExchangeEnd(e);
    assertThat(e.spanContext()).isNotNull();
    assertThat(forwarded).containsExactly("end /");
  }

  @Test
  void threadKeysAreUniqueAndSpreadOverHashBucketsForSingleThreadedProcesses() {
    java.util.Set<Long> keys = new java.util.HashSet<>();
    java.util.Set<Integer> hashes = new java.util.HashSet<>();
    int[] ids = {1, 2, 77, 4096, 65_535, 4_194_304, Integer.MAX_VALUE};
    for (int pid : ids) {
      for (int tid : ids) {
        assertThat(keys.add(TraceLinker.threadKey(pid, tid))).as(pid + "/" + tid).isTrue();
      }
      // pid == tid: a single-threaded process, the common case (nginx workers, curl, wrk).
      hashes.add(Long.hashCode(TraceLinker.threadKey(pid, pid)));
    }
    assertThat(hashes).hasSize(ids.length);
  }
}
