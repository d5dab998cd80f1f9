package dev.wirespan.agent;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventWriter;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Synthetic HTTP/1.1 traffic in the kernel's ring-buffer record layout, for the start-up {@link
 * PipelineWarmup}. Each round opens {@value #CONNECTIONS} new keep-alive connections, traced on
 * both ends as on a node (the client writes the request, the server reads it, the server writes
 * the response, the client reads it: four records per exchange, two spans), carries the exchange
 * shapes of {@link #EXCHANGES} over each of them, and closes them. The shapes cover what common
 * traffic takes: content-length and chunked bodies, a body-less status, a query string, a trace
 * context header, client and server errors. Every round's connections are new, so the paths that
 * open and close connections run as often as those inside one.
 *
 * <p>Records are written into one reused direct buffer (as the ring buffer is memory the kernel
 * maps): {@link #nextRound} rewrites it, and the records are valid until the next call.
 */
final class WarmupTraffic {
  static final int CONNECTIONS = 8;
  private static final int SERVER_PORT = 8080;
  private static final int FIRST_CLIENT_PORT = 50_000;
  private static final int CLIENT_PORTS = 10_000;
  private static final int FIRST_FD = 100;
  private static final int RECORD_ALIGNMENT_BYTES = 8;
  private static final byte[] NO_BYTES = new byte[0];
  /** Simulated time between consecutive syscalls. */
  private static final long NANOS_PER_SYSCALL = 5_000;

  /** Request and response of each exchange on a connection, in order. */
  static final String[][] EXCHANGES = {
    {
      "GET /api/users/12345/orders?page=2&access_token=abc HTTP/1.1\r\nHost: shop.example:8080\r\n"
          + "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\n"
          + "Accept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n",
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 12:00:00 GMT\r\n"
          + "Content-Type: application/json\r\nContent-Length: 47\r\nConnection: keep-alive\r\n\r\n"
          + "{\"orders\":[{\"id\":1,\"total\":12.5}],\"next\":null}\n"
    },
    {
      "POST /api/orders HTTP/1.1\r\nHost: shop.example:8080\r\nUser-Agent: okhttp/4.12.0\r\n"
          + "Content-Type: application/json\r\nContent-Length: 26\r\n"
          + "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"
          + "{\"item\":42,\"quantity\":3}\r\n",
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nLocation: /api/orders/981\r\n"
          + "Content-Length: 11\r\n\r\n{\"id\":981}\n"
    },
    {
      "GET /static/js/app.3f2a9c.js HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\nTransfer-Encoding: chunked\r\n\r\n"
          + "16\r\nconsole.log('warm');\n\n\r\n10\r\nexport default 1\r\n0\r\n\r\n"
    },
    {
      "GET /healthz HTTP/1.1\r\nHost: 10.0.0.7:8080\r\nUser-Agent: kube-probe/1.31\r\n\r\n",
      "HTTP/1.1 204 No Content\r\nDate: Wed, 25 Nov 2026 12:00:00 GMT\r\n\r\n"
    },
    {
      "DELETE /api/carts/5f0c2b7e-8d1a-4c3e-9b2a-1e6f0d9c8a7b HTTP/1.1\r\nHost: cart\r\n"
          + "Content-Length: 0\r\n\r\n",
      "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n"
    },
    {
      "GET /api/report?from=2026-11-01&to=2026-11-24 HTTP/1.1\r\nHost: reports.internal\r\n"
          + "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n"
    },
  };

  private final byte[][] requests = new byte[EXCHANGES.length][];
  private final byte[][] responses = new byte[EXCHANGES.length][];
  private final ByteBuffer records;
  private final int[] recordStarts;
  private final CaptureEventWriter client;
  private final CaptureEventWriter server;
  private final InetAddress loopback;
  private long nextConnectionId;
  private int recordCount;

  /**
   * @param pid process id the traffic is attributed to (the agent's own, so that resource
   *     resolution reads a /proc entry that exists)
   * @param firstConnectionId connection ids are handed out from here on
   */
  WarmupTraffic(int pid, long firstConnectionId) {
    int bytes = 0;
    for (int i = 0; i < EXCHANGES.length; i++) {
      requests[i] = EXCHANGES[i][0].getBytes(StandardCharsets.US_ASCII);
      responses[i] = EXCHANGES[i][1].getBytes(StandardCharsets.US_ASCII);
      bytes += 2 * aligned(CaptureEvent.HEADER_SIZE + requests[i].length)
          + 2 * aligned(CaptureEvent.HEADER_SIZE + responses[i].length);
    }
    int closes = 2 * CONNECTIONS;
    bytes = CONNECTIONS * bytes + closes * aligned(CaptureEvent.HEADER_SIZE);
    this.records = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    this.recordStarts = new int[CONNECTIONS * (4 * EXCHANGES.length + 2)];
    this.loopback = InetAddress.getLoopbackAddress();
    this.client =
        new CaptureEventWriter().pid(pid).processName("warmup-client")
            .role(CaptureEvent.ConnectionRole.CLIENT);
    this.server =
        new CaptureEventWriter().pid(pid).processName("warmup-server")
            .role(CaptureEvent.ConnectionRole.SERVER);
    this.nextConnectionId = firstConnectionId;
  }

  /** Exchanges (each seen from both ends) in one round. */
  static int exchangesPerRound() {
    return CONNECTIONS * EXCHANGES.length;
  }

  /** Writes the next round's records, timestamped from {@code startNanos} (CLOCK_MONOTONIC). */
  void nextRound(long startNanos) {
    records.clear();
    recordCount = 0;
    long t = startNanos;
    for (int c = 0; c < CONNECTIONS; c++) {
      long clientId = nextConnectionId++;
      long serverId = nextConnectionId++;
      int clientPort = FIRST_CLIENT_PORT + (int) (clientId % CLIENT_PORTS);
      client.connectionId(clientId).tid(1_000 + c).fd(FIRST_FD + c)
          .local(loopback, clientPort).remote(loopback, SERVER_PORT)
          .type(CaptureEvent.TYPE_DATA);
      server.connectionId(serverId).tid(2_000 + c).fd(FIRST_FD + CONNECTIONS + c)
          .local(loopback, SERVER_PORT).remote(loopback, clientPort)
          .type(CaptureEvent.TYPE_DATA);
      long requestOffset = 0;
      long responseOffset = 0;
      for (int e = 0; e < EXCHANGES.length; e++) {
        byte[] request = requests[e];
        byte[] response = responses[e];
        add(client.direction(CaptureEvent.Direction.EGRESS), request, t += NANOS_PER_SYSCALL,
            requestOffset);
        add(server.direction(CaptureEvent.Direction.INGRESS), request, t += NANOS_PER_SYSCALL,
            requestOffset);
        add(server.direction(CaptureEvent.Direction.EGRESS), response, t += NANOS_PER_SYSCALL,
            responseOffset);
        add(client.direction(CaptureEvent.Direction.INGRESS), response, t += NANOS_PER_SYSCALL,
            responseOffset);
        requestOffset += request.length;
        responseOffset += response.length;
      }
      add(client.type(CaptureEvent.TYPE_CLOSE), NO_BYTES, t += NANOS_PER_SYSCALL, 0);
      add(server.type(CaptureEvent.TYPE_CLOSE), NO_BYTES, t += NANOS_PER_SYSCALL, 0);
    }
  }

  private void add(CaptureEventWriter writer, byte[] payload, long timestampNanos, long offset) {
    recordStarts[recordCount++] = records.position();
    writer.timestampNanos(timestampNanos).streamOffset(offset).length(payload.length)
        .write(records, payload, 0, payload.length);
    records.position(aligned(records.position()));
  }

  /** Records of the current round. */
  int recordCount() {
    return recordCount;
  }

  /** Points {@code view} at record {@code i} of the current round. */
  CaptureEvent record(int i, CaptureEvent view) {
    return view.wrap(records, recordStarts[i]);
  }

  private static int aligned(int n) {
    return (n + RECORD_ALIGNMENT_BYTES - 1) & -RECORD_ALIGNMENT_BYTES;
  }
}
