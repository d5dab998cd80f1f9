package dev.wirespan.http;

import static dev.wirespan.http.Conversation.ascii;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.Conversation.Party;
import dev.wirespan.metrics.LossCause;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Timeouts, closes, eviction, limits, idle memory, and what an exchange keeps. */
class ConnectionTrackerLifecycleTest {
  private static final int IDLE_CONNECTIONS = 10_000;
  private static final String GET_NEXT = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  private static final String OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";


  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void requestWithoutResponseTimesOutAndItsLateResponseIsNotMisPaired(HttpExchange.Side side) {
    Duration timeout = Duration.ofSeconds(5);
    TrackerRun run = new TrackerRun(HttpSettings.builder().setResponseTimeout(timeout).build());
    Streams s = new Streams(run.wire(side, 1));
    s.request("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    HttpExchange slow = run.listener.started.get(0);
    long requestEnd = slow.requestEndNanos();

    run.tracker.expire(requestEnd + timeout.toNanos() - 1);
    assertThat(run.listener.ended).isEmpty();
    run.tracker.expire(requestEnd + timeout.toNanos());
    assertThat(run.listener.ended).containsExactly(slow);
    assertThat(slow.outcome()).isEqualTo(HttpExchange.Outcome.TIMED_OUT);
    assertThat(slow.statusCode()).isZero();
    assertThat(slow.responseEndNanos()).isEqualTo(requestEnd + timeout.toNanos());
    assertThat(run.loss(LossCause.PAIRING_REQUEST_TIMEOUT)).isEqualTo(1);

    // The late response belongs to the timed-out request, not to the next one.
    s.wire.advance(timeout.toNanos() * 2);
    s.response("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    s.request(GET_NEXT);
    s.response(OK);
    assertThat(run.listener.ended).hasSize(2);
    HttpExchange next = run.listener.ended.get(1);
    assertThat(next.target()).isEqualTo("/next");
    assertThat(next.statusCode()).isEqualTo(200);
    assertThat(slow.statusCode()).as("reported exchanges do not change").isZero();
    run.assertLosses("timeout", Map.of(LossCause.PAIRING_REQUEST_TIMEOUT, 1L));
    run.finish("timeout");
  }

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void closeEndsPendingExchangesAtTheCloseEvent(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(side, 1));
    s.request("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\npartial");
    s.wire.close();

    assertThat(run.listener.ended).hasSize(1);
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.CONNECTION_CLOSED);
    assertThat(x.responseEndNanos()).isEqualTo(s.wire.lastCloseNanos());
    assertThat(x.requestBodySize()).isEqualTo("partial".length());
    assertThat(run.tracker.connectionCount()).isZero();
    run.assertLosses("close", Map.of());
    run.finish("close");
  }

  @Test
  void connectionsOverTheLimitEvictTheLeastRecentlyActive() {
    TrackerRun run = new TrackerRun(HttpSettings.builder().setMaxConnections(2).build());
    List<Streams> conns = new ArrayList<>();
    for (int id = 1; id <= 3; id++) {
      Streams s = new Streams(run.wire(HttpExchange.Side.SERVER, id));
      conns.add(s);
      s.request("GET /c" + id + " HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    assertThat(run.tracker.connectionCount()).isEqualTo(2);
    assertThat(run.listener.ended).hasSize(1);
    HttpExchange evicted = run.listener.ended.get(0);
    assertThat(evicted.target()).isEqualTo("/c1");
    assertThat(evicted.outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
    assertThat(evicted.responseEndNanos()).isEqualTo(evicted.requestEndNanos());
    assertThat(run.loss(LossCause.PAIRING_CONNECTION_EVICTED)).isEqualTo(1);

    // The survivors still pair.
    conns.get(1).response(OK);
    conns.get(2).response(OK);
    assertThat(run.listener.ended).extracting(HttpExchange::target)
        .containsExactly("/c1", "/c2", "/c3");
    assertThat(run.listener.ended.get(2).outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
    run.finish("eviction");
  }

  @Test
  void activityMakesAConnectionTheLastToBeEvicted() {
    TrackerRun run = new TrackerRun(HttpSettings.builder().setMaxConnections(3).build());
    List<Streams> conns = new ArrayList<>();
    for (int id = 1; id <= 3; id++) {
      Streams s = new Streams(run.wire(HttpExchange.Side.SERVER, id));
      conns.add(s);
      s.request("GET /c" + id + " HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    // Order of activity now: 1, 2, 3. Connection 1 answers, then 2 and 1 again have traffic:
    // the least recently active is 3.
    conns.get(0).response(OK);
    conns.get(1).response(OK);
    conns.get(0).request("GET /c1-again HTTP/1.1\r\nHost: h\r\n\r\n");

    Streams fourth = new Streams(run.wire(HttpExchange.Side.SERVER, 4));
    fourth.request("GET /c4 HTTP/1.1\r\nHost: h\r\n\r\n");
    assertThat(run.tracker.connectionCount()).isEqualTo(3);
    assertThat(run.listener.ended).filteredOn(x -> x.outcome() == HttpExchange.Outcome.EVICTED)
        .extracting(HttpExchange::target).containsExactly("/c3");

    // Then 2 (its last activity was before 1's and 4's; nothing pending, so nothing ends).
    Streams fifth = new Streams(run.wire(HttpExchange.Side.SERVER, 5));
    fifth.request("GET /c5 HTTP/1.1\r\nHost: h\r\n\r\n");
    assertThat(run.tracker.connectionCount()).isEqualTo(3);
    assertThat(run.loss(LossCause.PAIRING_CONNECTION_EVICTED)).isEqualTo(1);
    conns.get(0).response(OK);
    fourth.response(OK);
    fifth.response(OK);
    assertThat(run.listener.ended).filteredOn(x -> x.outcome() == HttpExchange.Outcome.COMPLETE)
        .extracting(HttpExchange::target)
        .containsExactlyInAnyOrder("/c1", "/c2", "/c1-again", "/c4", "/c5");
    run.finish("activity order");
  }

  @Test
  void expiringTheMiddleOfTheActivityOrderKeepsTheRestInOrder() {
    Duration idle = Duration.ofSeconds(60);
    TrackerRun run = new TrackerRun(HttpSettings.builder()
        .setIdleConnectionTimeout(idle)
        .setResponseTimeout(Duration.ofMinutes(10))
        .setMaxConnections(3)
        .build());
    Streams a = new Streams(run.wire(HttpExchange.Side.SERVER, 1));
    Streams b = new Streams(run.wire(HttpExchange.Side.SERVER, 2));
    Streams c = new Streams(run.wire(HttpExchange.Side.SERVER, 3));
    // Each wire has its own clock: b's request is the oldest in time, but the second to arrive.
    long bTime = b.wire.now();
    long later = bTime + Duration.ofSeconds(30).toNanos();
    a.wire.advance(later - a.wire.now());
    c.wire.advance(later - c.wire.now());
    a.request("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    b.request("GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    c.request("GET /c HTTP/1.1\r\nHost: h\r\n\r\n");

    run.tracker.expire(b.wire.now() + idle.toNanos()); // b alone has been idle long enough
    assertThat(run.tracker.connectionCount()).isEqualTo(2);
    assertThat(run.listener.ended).extracting(HttpExchange::target).containsExactly("/b");

    // Over the limit, the least recently active go first: a, then c (b is gone).
    for (int id = 4; id <= 6; id++) {
      Streams s = new Streams(run.wire(HttpExchange.Side.SERVER, id));
      s.wire.advance(later - s.wire.now());
      s.request("GET /n" + id + " HTTP/1.1\r\nHost: h\r\n\r\n");
      assertThat(run.tracker.connectionCount()).isEqualTo(3);
    }
    assertThat(run.listener.ended).extracting(HttpExchange::target)
        .containsExactly("/b", "/a", "/c");
    assertThat(run.listener.ended).extracting(HttpExchange::outcome)
        .containsOnly(HttpExchange.Outcome.EVICTED);
    run.finish("expire in the middle");
  }

  @Test
  void idleConnectionsAreEvicted() {
    Duration idle = Duration.ofSeconds(60);
    TrackerRun run = new TrackerRun(HttpSettings.builder()
        .setIdleConnectionTimeout(idle)
        .setResponseTimeout(Duration.ofMinutes(10))
        .build());
    Streams quiet = new Streams(run.wire(HttpExchange.Side.SERVER, 1));
    quiet.request(GET_NEXT);
    quiet.response(OK);
    long quietLastEvent = quiet.wire.now();
    Streams waiting = new Streams(run.wire(HttpExchange.Side.CLIENT, 2));
    waiting.wire.advance(quietLastEvent - waiting.wire.now()); // each wire has its own clock
    waiting.request("GET /long-poll HTTP/1.1\r\nHost: h\r\n\r\n");
    long lastEvent = waiting.wire.now();

    run.tracker.expire(quietLastEvent + idle.toNanos() - 1);
    assertThat(run.tracker.connectionCount()).isEqualTo(2);
    run.tracker.expire(quietLastEvent + idle.toNanos());
    assertThat(run.tracker.connectionCount()).isEqualTo(1);
    assertThat(run.listener.ended).hasSize(1);
    run.tracker.expire(lastEvent + idle.toNanos());
    assertThat(run.tracker.connectionCount()).isZero();
    HttpExchange x = run.listener.ended.get(1);
    assertThat(x.target()).isEqualTo("/long-poll");
    assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.EVICTED);
    run.assertLosses("idle", Map.of(LossCause.PAIRING_CONNECTION_EVICTED, 1L));
    run.finish("idle");
  }

  @Test
  void tenThousandIdleKeepAliveConnectionsHoldNoDecoderAndNoBuffer() {
    TrackerRun run = new TrackerRun();
    for (int id = 1; id <= IDLE_CONNECTIONS; id++) {
      Streams s = new Streams(run.wire(id % 2 == 0 ? HttpExchange.Side.SERVER : HttpExchange.Side.CLIENT, id));
      s.request(GET_NEXT);
      s.response(OK);
    }
    assertThat(run.listener.ended).hasSize(IDLE_CONNECTIONS);
    assertThat(run.listener.ended).allMatch(x -> x.outcome() == HttpExchange.Outcome.COMPLETE);
    assertThat(run.tracker.connectionCount()).isEqualTo(IDLE_CONNECTIONS);
    assertThat(run.tracker.bufferedBytes()).isZero();
    assertThat(run.tracker.activeDecoders()).isZero();
    StringBuilder scrape = new StringBuilder();
    run.metrics.writePrometheus(scrape);
    assertThat(scrape.toString())
        .contains("wirespan_http_connections " + IDLE_CONNECTIONS + "\n")
        .contains("wirespan_http_buffered_bytes 0\n")
        .contains("wirespan_http_decoders 0\n")
        .contains("wirespan_exchanges_total{outcome=\"complete\"} " + IDLE_CONNECTIONS + "\n");
    run.finish("idle connections");
    assertThat(run.loss(LossCause.PAIRING_CONNECTION_EVICTED)).as("nothing was pending").isZero();
  }

  @Test
  void partialMessagesHoldADecoderUntilTheyEnd() {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(HttpExchange.Side.SERVER, 1));
    s.request("GET /next HTTP/1.1\r\nHo");
    assertThat(run.tracker.activeDecoders()).isEqualTo(1);
    // The parsed request line is held in the message being built, the partial line unparsed.
    assertThat(run.tracker.bufferedBytes()).isEqualTo("GET /next HTTP/1.1\r\nHo".length());
    s.request("st: h\r\n\r\n");
    assertThat(run.tracker.activeDecoders()).isZero();
    assertThat(run.tracker.bufferedBytes()).isZero();
    run.finish("partial");
  }

  @Test
  void pendingRequestsOverTheLimitDropTheOldestAndKeepPairingRight() {
    TrackerRun run = new TrackerRun(
        HttpSettings.builder().setMaxPendingRequestsPerConnection(2).build());
    Streams s = new Streams(run.wire(HttpExchange.Side.CLIENT, 1));
    StringBuilder pipelined = new StringBuilder();
    for (int i = 1; i <= 4; i++) {
      pipelined.append("GET /").append(i).append(" HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    s.request(pipelined.toString());
    assertThat(run.listener.ended).extracting(HttpExchange::target).containsExactly("/1", "/2");
    assertThat(run.listener.ended).allMatch(x -> x.outcome() == HttpExchange.Outcome.EVICTED);
    for (int i = 1; i <= 4; i++) {
      s.response("HTTP/1.1 20" + i + " X\r\nContent-Length: 0\r\n\r\n");
    }
    assertThat(run.listener.ended).extracting(HttpExchange::target)
        .containsExactly("/1", "/2", "/3", "/4");
    assertThat(run.listener.ended.get(2).statusCode()).isEqualTo(203);
    assertThat(run.listener.ended.get(3).statusCode()).isEqualTo(204);
    run.assertLosses("pending limit", Map.of(LossCause.STREAM_BUFFER_LIMIT, 2L));
    run.finish("pending limit");
  }

  @Test
  void responseWithoutRequestMakesNoExchange() {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(HttpExchange.Side.CLIENT, 1));
    s.response(OK);
    s.request(GET_NEXT);
    s.response(OK);
    assertThat(run.listener.ended).hasSize(1);
    assertThat(run.listener.ended.get(0).side()).isEqualTo(HttpExchange.Side.CLIENT);
    run.assertLosses("unpaired", Map.of(LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST, 1L));
    run.finish("unpaired");
  }

  @Test
  void bufferedBytesOverTheConnectionOrTotalLimitDropThePartialMessage() {
    HttpSettings settings = HttpSettings.builder()
        .setMaxInitialLineBytes(1024)
        .setMaxHeaderBytes(2048)
        .setMaxBufferedBytesPerConnection(3072)
        // 4 KiB of message bytes, plus the state of the two decoders then lent
        .setMaxBufferedBytesTotal(4096 + 2 * ConnectionTracker.DECODER_STATE_BYTES)
        .build();
    TrackerRun run = new TrackerRun(settings);
    String partialHeader = "X-Big: " + "a".repeat(1500);
    Streams one = new Streams(run.wire(HttpExchange.Side.SERVER, 1));
    one.request("GET /one HTTP/1.1\r\n" + partialHeader);
    one.response("HTTP/1.1 200 OK\r\nX-Big: " + "a".repeat(1600));
    assertThat(run.loss(LossCause.STREAM_BUFFER_LIMIT)).as("over the connection's limit").isEqualTo(1);
    assertThat(run.tracker.bufferedBytes()).isLessThanOrEqualTo(3072);

    Streams two = new Streams(run.wire(HttpExchange.Side.SERVER, 2));
    two.request("GET /two HTTP/1.1\r\n" + partialHeader);
    Streams three = new Streams(run.wire(HttpExchange.Side.SERVER, 3));
    three.request("GET /three HTTP/1.1\r\n" + partialHeader);
    assertThat(run.loss(LossCause.STREAM_BUFFER_LIMIT)).as("over the total limit").isEqualTo(2);
    assertThat(run.tracker.bufferedBytes()).isLessThanOrEqualTo(4096);

    // the connection that lost its partial message decodes the next one
    three.request(GET_NEXT);
    three.response(OK);
    assertThat(run.listener.ended).extracting(HttpExchange::target).containsExactly("/next");
    run.finish("buffer limits");
  }

  @Test
  void credentialsAndBodiesAreNeverKeptAndValuesAreCapped() throws IllegalAccessException {
    TrackerRun run = new TrackerRun();
    Streams s = new Streams(run.wire(HttpExchange.Side.SERVER, 1));
    String longAgent = "agent/" + "x".repeat(5000);
    s.request("POST /login HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: " + longAgent + "\r\n"
        + "traceparent: " + ConnectionTrackerCorpusTest.TRACEPARENT + "\r\n"
        + "tracestate: a=s3cr3t-not\r\n"
        + "Authorization: Basic s3cr3t-auth\r\nProxy-Authorization: s3cr3t-proxy\r\n"
        + "Cookie: s3cr3t-cookie\r\nContent-Length: 13\r\n\r\ns3cr3t-body!!");
    s.response("HTTP/1.1 200 OK\r\nSet-Cookie: s3cr3t-set\r\nContent-Length: 11\r\n\r\ns3cr3t-resp");
    HttpExchange x = run.listener.ended.get(0);
    assertThat(x.host()).isEqualTo("shop.example");
    assertThat(x.userAgent()).hasSize(ConnectionTracker.MAX_HEADER_VALUE_CHARS).startsWith("agent/x");
    assertThat(x.traceparent()).isEqualTo(ConnectionTrackerCorpusTest.TRACEPARENT);
    assertThat(x.tracestate()).isEqualTo("a=s3cr3t-not");
    for (Field f : HttpExchange.class.getDeclaredFields()) {
      if (f.getType() == String.class && !f.getName().equals("tracestate")) {
        f.setAccessible(true);
        Object v = f.get(x);
        assertThat(v == null ? "" : (String) v).as(f.getName()).doesNotContain("s3cr3t");
      }
    }
    run.finish("credentials");
  }

  @Test
  void nonHttpConnectionsAreIgnored() {
    TrackerRun run = new TrackerRun();
    Wire wire = run.wire(HttpExchange.Side.SERVER, 1);
    byte[] tlsHello = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03};
    wire.data(Party.REQUESTS, 0, tlsHello, 0, tlsHello.length);
    byte[] more = ascii("GET / HTTP/1.1\r\n\r\n");
    wire.data(Party.REQUESTS, tlsHello.length, more, 0, more.length);
    assertThat(run.listener.started).isEmpty();
    assertThat(run.metrics.total("wirespan_http_untracked_connections_total")).isEqualTo(1);
    assertThat(run.tracker.activeDecoders()).isZero();
    run.assertLosses("not http", Map.of());
    run.finish("not http");
  }

  @Test
  void aFailingListenerDoesNotStopDecoding() {
    TrackerRun ok = new TrackerRun();
    List<HttpExchange> ended = new ArrayList<>();
    ConnectionTracker tracker = new ConnectionTracker(HttpSettings.defaults(), new ExchangeListener() {
      @Override
      public void onRequestStart(HttpExchange exchange) {
        throw new IllegalStateException("listener bug");
      }

      @Override
      public void onExchangeEnd(HttpExchange exchange) {
        ended.add(exchange);
        throw new IllegalStateException("listener bug");
      }
    }, ok.metrics, ok.alloc);
    Streams s = new Streams(new Wire(tracker, HttpExchange.Side.SERVER, 1));
    for (int i = 0; i < 3; i++) {
      s.request(GET_NEXT);
      s.response(OK);
    }
    assertThat(ended).hasSize(3).allMatch(x -> x.statusCode() == 200);
    tracker.closeAll();
    ok.alloc.assertAllReleased();
  }

  @Test
  void closeOfAnUnknownConnectionIsIgnored() {
    TrackerRun run = new TrackerRun();
    Wire wire = new Wire(run.tracker, HttpExchange.Side.SERVER, 5, CaptureEvent.ConnectionRole.SERVER);
    wire.close();
    assertThat(run.tracker.connectionCount()).isZero();
    run.finish("unknown close");
  }
}
