package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.Conversation.Party;
import dev.wirespan.metrics.LossCause;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Connections the kernel forgot (evicted from its full LRU connection map) and tracked again under
 * a new id, role UNKNOWN, offsets from 0: recognised by pid, fd and addresses, counted once as
 * kernel/map_full, and continued so that exchanges still pair.
 */
class ConnectionTrackerKernelEvictionTest {
  private static final String GET_ITEMS = "GET /items HTTP/1.1\r\nHost: h\r\n\r\n";
  private static final String GET_MORE = "GET /more HTTP/1.1\r\nHost: h\r\n\r\n";
  private static final String OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  private static final String CREATED = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  private static final int OTHER_PEER_PORT = 40001;
  private static final int MANY_CONNECTIONS = 5_000;
  private static final int MAX_CONNECTIONS_OF_BOUND_TEST = 64;
  private static final int FDS_OF_BOUND_TEST = 200;
  private static final long SEED = 20240605L;

  @ParameterizedTest
  @EnumSource(HttpExchange.Side.class)
  void requestUnderTheOldIdPairsWithTheResponseUnderTheNewOne(HttpExchange.Side side) {
    TrackerRun run = new TrackerRun();
    Wire first = run.wire(side, 1);
    Streams before = new Streams(first);
    before.exchange(GET_ITEMS, OK);
    before.request("POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");

    // The kernel forgot the connection while its response was on the way.
    Streams after = new Streams(first.reTracked(2));
    after.response(CREATED);
    after.exchange(GET_MORE, OK);

    assertThat(run.listener.ended)
        .extracting(HttpExchange::method, HttpExchange::target, HttpExchange::statusCode,
            HttpExchange::outcome)
        .containsExactly(
            tuple("GET", "/items", 200, HttpExchange.Outcome.COMPLETE),
            tuple("POST", "/orders", 201, HttpExchange.Outcome.COMPLETE),
            tuple("GET", "/more", 200, HttpExchange.Outcome.COMPLETE));
    assertThat(run.listener.ended).noneMatch(HttpExchange::bytesMissing);
    assertThat(run.listener.ended)
        .as("one connection throughout: the first id's")
        .extracting(x -> x.connection().connectionId())
        .containsOnly(1L);
    assertThat(run.loss(LossCause.KERNEL_MAP_FULL)).isEqualTo(1);
    assertThat(run.tracker.connectionCount()).isEqualTo(1);
    assertThat(run.tracker.indexedConnections()).isEqualTo(1);
    run.assertLosses("rejoined", Map.of());
    run.finish("rejoined");
  }

  @Test
  void aConnectionForgottenAgainAndAgainKeepsPairing() {
    TrackerRun run = new TrackerRun();
    Wire wire = run.wire(HttpExchange.Side.SERVER, 1);
    Streams s = new Streams(wire);
    s.request(GET_ITEMS);
    for (long id = 2; id <= 5; id++) {
      wire = wire.reTracked(id);
      s = new Streams(wire);
      s.response(OK);
      s.request(GET_ITEMS); // answered under the next id
    }
    s.response(OK);

    assertThat(run.listener.ended).hasSize(5).allSatisfy(x -> {
      assertThat(x.outcome()).isEqualTo(HttpExchange.Outcome.COMPLETE);
      assertThat(x.statusCode()).isEqualTo(200);
      assertThat(x.target()).isEqualTo("/items");
    });
    assertThat(run.loss(LossCause.KERNEL_MAP_FULL)).isEqualTo(4);
    run.assertLosses("forgotten four times", Map.of());
    run.finish("forgotten four times");
  }

  @Test
  void bytesTheKernelDidNotReportAfterForgettingShowAsAGap() {
    TrackerRun run = new TrackerRun();
    Wire first = run.wire(HttpExchange.Side.SERVER, 1);
    Streams before = new Streams(first);
    before.request("PUT /blob HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n0123456789");
    Streams after = new Streams(first.reTracked(2));
    // The rest of the body was read while the kernel judged the protocol again: no events, but
    // the new id's offsets moved past it.
    after.lose(Party.REQUESTS, 10);
    after.response(CREATED);
    after.exchange(GET_MORE, OK);

    assertThat(run.listener.ended)
        .extracting(HttpExchange::target, HttpExchange::statusCode)
        .containsExactly(
            tuple("/blob", 201),
            tuple("/more", 200));
    assertThat(run.loss(LossCause.KERNEL_MAP_FULL)).isEqualTo(1);
    run.assertLosses("gap after rejoin", Map.of(LossCause.STREAM_GAP, 1L));
    run.finish("gap after rejoin");
  }

  @Test
  void fdReusedForAnotherPeerIsNotAnEvictionAndEndsTheOldConnection() {
    TrackerRun run = new TrackerRun();
    Wire first = run.wire(HttpExchange.Side.CLIENT, 1);
    new Streams(first).request(GET_ITEMS);
    // The fd now carries a socket to another peer: the old one closed while nobody saw it.
    Wire reused =
        new Wire(run.tracker, HttpExchange.Side.CLIENT, 2, CaptureEvent.ConnectionRole.UNKNOWN)
            .fd(first.fd())
            .remotePort(OTHER_PEER_PORT)
            .after(first);
    Streams other = new Streams(reused);
    other.exchange(GET_MORE, OK);

    assertThat(run.loss(LossCause.KERNEL_MAP_FULL)).isZero();
    assertThat(run.listener.ended)
        .extracting(HttpExchange::target, HttpExchange::outcome)
        .containsExactly(
            tuple("/items", HttpExchange.Outcome.EVICTED),
            tuple("/more", HttpExchange.Outcome.COMPLETE));
    assertThat(run.listener.ended.get(1).connection().connectionId()).isEqualTo(2);
    assertThat(run.tracker.connectionCount()).isEqualTo(1);
    assertThat(run.tracker.indexedConnections()).isEqualTo(1);
    run.assertLosses("fd reuse", Map.of(LossCause.PAIRING_CONNECTION_EVICTED, 1L));
    run.finish("fd reuse");
  }

  @Test
  void aNewSocketWithAKnownRoleOnTheSameFdIsNotAnEviction() {
    TrackerRun run = new TrackerRun();
    Wire first = run.wire(HttpExchange.Side.SERVER, 1);
    new Streams(first).exchange(GET_ITEMS, OK);
    // accept() returned the same fd for a connection from the same peer port: a new socket.
    Wire accepted =
        new Wire(run.tracker, HttpExchange.Side.SERVER, 2, CaptureEvent.ConnectionRole.SERVER)
            .fd(first.fd())
            .after(first);
    new Streams(accepted).exchange(GET_MORE, OK);

    assertThat(run.loss(LossCause.KERNEL_MAP_FULL)).isZero();
    assertThat(run.listener.ended).extracting(x -> x.connection().connectionId())
        .containsExactly(1L, 2L);
    assertThat(run.tracker.connectionCount()).isEqualTo(1);
    run.assertLosses("new socket", Map.of());
    run.finish("new socket");
  }

  @Test
  void aClosedConnectionFollowedByANewIdOnTheSameFdIsNotAnEviction() {
    TrackerRun run = new TrackerRun();
    Wire first = run.wire(HttpExchange.Side.CLIENT, 1);
    new Streams(first).exchange(GET_ITEMS, OK);
    first.close();
    // Same fd, same tuple, role UNKNOWN: what a re-tracked connection looks like, but the
    // connection it would continue was closed.
    Streams next = new Streams(first.reTracked(2));
    next.exchange(GET_MORE, OK);

    assertThat(run.loss(LossCause.KERNEL_MAP_FULL)).isZero();
    assertThat(run.listener.ended).extracting(x -> x.connection().connectionId())
        .containsExactly(1L, 2L);
    assertThat(run.tracker.connectionCount()).isEqualTo(1);
    assertThat(run.tracker.indexedConnections()).isEqualTo(1);
    run.assertLosses("closed first", Map.of());
    run.finish("closed first");
  }

  /**
   * Many connections on a few fds, each opened, re-tracked, closed, reused or left idle at random,
   * with a small connection limit: the (pid, fd) index never holds more than the tracked
   * connections, and nothing once they are gone.
   */
  @Test
  void theFdIndexIsBoundedByTheTrackedConnections() {
    Duration idle = Duration.ofSeconds(10);
    TrackerRun run =
        new TrackerRun(
            HttpSettings.builder()
                .setMaxConnections(MAX_CONNECTIONS_OF_BOUND_TEST)
                .setIdleConnectionTimeout(idle)
                .build());
    Random r = new Random(SEED);
    List<Wire> open = new ArrayList<>();
    long nowNanos = Wire.FIRST_TIMESTAMP_NANOS;
    long rejoins = 0;
    for (long id = 1; id <= MANY_CONNECTIONS; id++) {
      int action = r.nextInt(4);
      Wire w;
      if (action == 0 && !open.isEmpty()) {
        // The kernel forgot a connection still open: it comes back under this id.
        Wire old = open.remove(r.nextInt(open.size()));
        w = old.reTracked(id).withoutHistory();
        rejoins++;
      } else {
        w =
            new Wire(run.tracker, HttpExchange.Side.SERVER, id)
                .withoutHistory()
                .fd(Wire.FIRST_FD + r.nextInt(FDS_OF_BOUND_TEST));
        int fd = w.fd();
        open.removeIf(o -> o.fd() == fd); // the fd's previous socket is gone
      }
      w.advance(nowNanos - w.now());
      new Streams(w).exchange(GET_ITEMS, OK);
      nowNanos = w.now();
      if (action == 1) {
        w.close();
        nowNanos = w.now();
      } else {
        open.add(w);
      }
      if (r.nextInt(100) == 0) {
        nowNanos += idle.toNanos();
        run.tracker.expire(nowNanos);
        open.clear();
      }
      assertThat(run.tracker.indexedConnections())
          .isLessThanOrEqualTo(run.tracker.connectionCount());
      assertThat(run.tracker.connectionCount()).isLessThanOrEqualTo(MAX_CONNECTIONS_OF_BOUND_TEST);
    }
    assertThat(rejoins).isPositive();
    assertThat(run.loss(LossCause.KERNEL_MAP_FULL))
        .as("only connections still tracked can be rejoined")
        .isPositive()
        .isLessThanOrEqualTo(rejoins);
    run.tracker.expire(nowNanos + idle.toNanos());
    assertThat(run.tracker.connectionCount()).isZero();
    assertThat(run.tracker.indexedConnections()).isZero();
    run.finish("many connections");
  }
}
