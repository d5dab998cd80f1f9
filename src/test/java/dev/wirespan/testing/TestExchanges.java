package dev.wirespan.testing;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.http.HttpExchange;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Builds {@link HttpExchange}s as the connection decoder fills them, for tests of the stages
 * after it.
 */
public final class TestExchanges {
  private static final AtomicLong CONNECTION_IDS = new AtomicLong(1000);

  private TestExchanges() {}

  /** An address literal ("127.0.0.1", "::1"), never a name lookup. */
  public static InetAddress ip(String literal) {
    try {
      return InetAddress.getByName(literal);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException(literal, e);
    }
  }

  /** A connection with a fresh connection id and fd 3. */
  public static ConnectionInfo connection(
      int pid, String localAddress, int localPort, String remoteAddress, int remotePort) {
    return new ConnectionInfo(
        pid, 0, CONNECTION_IDS.incrementAndGet(), 3, ip(localAddress), localPort,
        ip(remoteAddress), remotePort, "app");
  }

  /** The connection as the other process sees it (same tuple reversed, pid given). */
  public static ConnectionInfo reversed(ConnectionInfo c, int pid) {
    return new ConnectionInfo(
        pid, 0, CONNECTION_IDS.incrementAndGet(), 4, c.remoteAddress(), c.remotePort(),
        c.localAddress(), c.localPort(), "app");
  }

  /** An exchange whose request line is decoded and whose request started at {@code startNanos}. */
  public static HttpExchange request(
      ConnectionInfo connection, HttpExchange.Side side, String method, String target,
      int tid, long startNanos) {
    return new HttpExchange(connection, side)
        .setRequestLine(method, target, "1.1")
        .setRequestTiming(tid, startNanos, startNanos);
  }

  /** Completes the exchange with a response. */
  public static HttpExchange respond(HttpExchange exchange, int status, long endNanos) {
    return exchange
        .setStatusCode(status)
        .setResponseTiming(exchange.requestTid(), endNanos, endNanos);
  }
}
