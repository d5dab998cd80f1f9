package dev.wirespan.agent;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventWriter;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.net.UnknownHostException;
import java.util.Arrays;

/**
 * Synthetic HTTP/1.1 traffic in the kernel's ring-buffer record layout, for the start-up {@link
 * PipelineWarmup}. Each round opens {@value #CONNECTIONS} new keep-alive connections (IPv4 and
 * IPv6), traced on both ends as on a node (the client writes the request, the server reads it,
 * the server writes the response, the client reads it: each call is a record at both ends, each
 * exchange two spans), carries the exchange shapes of {@link #EXCHANGES} and two more over each of
 * them, and closes them. The shapes cover what common traffic takes: content-length and chunked
 * bodies, a body-less status, a query string, a trace context header, client and server errors, a
 * request whose body leaves in a second call, and an answer longer than the capture cap (copied
 * as head and tail, the middle missing, as the kernel programs do). Every round's connections are
 * new, so the paths that open and close connections run as often as those inside one.
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

  /** A POST whose header block and body leave in two syscalls (and arrive in two). */
  static final String SPLIT_REQUEST_HEAD =
      "POST /api/uploads HTTP/1.1\r\nHost: files.internal:9000\r\nUser-Agent: Go-http-client/1.1\r\n"
          + "Content-Type: application/octet-stream\r\nContent-Length: 512\r\n\r\n";
  static final int SPLIT_REQUEST_BODY_BYTES = 512;
  static final String SPLIT_RESPONSE = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  /** A GET answered with a body larger than the capture cap: copied as head and tail. */
  static final String LARGE_REQUEST =
      "GET /downloads/report.pdf HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n";
  /** Body bytes of the large answer beyond the capture cap. */
  static final int LARGE_BODY_BEYOND_CAP = 2048;

  /** Per exchange: the request's syscalls, then the response's (each moved as written). */
  private final byte[][][] requestCalls;
  private final byte[][][] responseCalls;
  private final int captureBytes;
  private final int tailBytes;
  private final ByteBuffer records;
  private final int[] recordStarts;
  private final CaptureEventWriter client;
  private final CaptureEventWriter server;
  private final InetAddress loopback4;
  private final InetAddress loopback6;
  private long nextConnectionId;
  /** Timestamp of the last record written (CLOCK_MONOTONIC). */
  private long clockNanos;
  private int recordCount;

  /**
   * @param pid process id the traffic is attributed to (the agent's own, so that resource
   *     resolution reads a /proc entry that exists)
   * @param firstConnectionId connection ids are handed out from here on
   * @param captureBytes payload bytes the kernel copies of a call (the agent's --capture-bytes)
   * @param tailBytes last bytes also copied of a longer call
   */
  WarmupTraffic(int pid, long firstConnectionId, int captureBytes, int tailBytes) {
    this.captureBytes = captureBytes;
    this.tailBytes = tailBytes;
    int n = EXCHANGES.length + 2;
    requestCalls = new byte[n][][];
    responseCalls = new byte[n][][];
    for (int i = 0; i < EXCHANGES.length; i++) {
      requestCalls[i] = new byte[][] {ascii(EXCHANGES[i][0])};
      responseCalls[i] = new byte[][] {ascii(EXCHANGES[i][1])};
    }
    byte[] body = new byte[SPLIT_REQUEST_BODY_BYTES];
    Arrays.fill(body, (byte) 'u');
    requestCalls[n - 2] = new byte[][] {ascii(SPLIT_REQUEST_HEAD), body};
    responseCalls[n - 2] = new byte[][] {ascii(SPLIT_RESPONSE)};
    int largeBody = captureBytes + LARGE_BODY_BEYOND_CAP;
    byte[] head =
        ascii("HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: " + largeBody
            + "\r\n\r\n");
    byte[] large = Arrays.copyOf(head, head.length + largeBody);
    Arrays.fill(large, head.length, large.length, (byte) 'p');
    requestCalls[n - 1] = new byte[][] {ascii(LARGE_REQUEST)};
    responseCalls[n - 1] = new byte[][] {large};

    int bytes = 0;
    int calls = 0;
    for (int i = 0; i < n; i++) {
      for (byte[][] side : new byte[][][] {requestCalls[i], responseCalls[i]}) {
        for (byte[] call : side) {
          bytes += 2 * aligned(CaptureEvent.HEADER_SIZE + captured(call.length));
          calls += 2; // written by one end, read by the other
        }
      }
    }
    this.records =
        ByteBuffer.allocateDirect(CONNECTIONS * (bytes + 2 * aligned(CaptureEvent.HEADER_SIZE)))
            .order(ByteOrder.LITTLE_ENDIAN);
    this.recordStarts = new int[CONNECTIONS * (calls + 2)];
    this.loopback4 = address("127.0.0.1");
    this.loopback6 = address("::1");
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
    return CONNECTIONS * (EXCHANGES.length + 2);
  }

  /** Writes the next round's records, timestamped from {@code startNanos} (CLOCK_MONOTONIC). */
  void nextRound(long startNanos) {
    records.clear();
    recordCount = 0;
    clockNanos = startNanos;
    for (int c = 0; c < CONNECTIONS; c++) {
      long clientId = nextConnectionId++;
      long serverId = nextConnectionId++;
      int clientPort = FIRST_CLIENT_PORT + (int) (clientId % CLIENT_PORTS);
      InetAddress loopback = c % 2 == 0 ? loopback4 : loopback6;
      client.connectionId(clientId).tid(1_000 + c).fd(FIRST_FD + c)
          .local(loopback, clientPort).remote(loopback, SERVER_PORT)
          .type(CaptureEvent.TYPE_DATA);
      server.connectionId(serverId).tid(2_000 + c).fd(FIRST_FD + CONNECTIONS + c)
          .local(loopback, SERVER_PORT).remote(loopback, clientPort)
          .type(CaptureEvent.TYPE_DATA);
      long requestOffset = 0;
      long responseOffset = 0;
      for (int e = 0; e < requestCalls.length; e++) {
        requestOffset = transfer(requestCalls[e], client, server, requestOffset);
        responseOffset = transfer(responseCalls[e], server, client, responseOffset);
      }
      add(client.type(CaptureEvent.TYPE_CLOSE), NO_BYTES, 0);
      add(server.type(CaptureEvent.TYPE_CLOSE), NO_BYTES, 0);
    }
  }

  /**
   * Each call written by {@code sender} and read by {@code receiver}, from stream offset {@code
   * offset} on; returns the offset after them.
   */
  private long transfer(
      byte[][] calls, CaptureEventWriter sender, CaptureEventWriter receiver, long offset) {
    for (byte[] call : calls) {
      add(sender.direction(CaptureEvent.Direction.EGRESS), call, offset);
      add(receiver.direction(CaptureEvent.Direction.INGRESS), call, offset);
      offset += call.length;
    }
    return offset;
  }

  /**
   * One record, one simulated syscall later, of a call that moved {@code moved}: the kernel copies
   * a head, and of a longer call a tail.
   */
  private void add(CaptureEventWriter writer, byte[] moved, long offset) {
    recordStarts[recordCount++] = records.position();
    int head = Math.min(moved.length, captureBytes);
    clockNanos += NANOS_PER_SYSCALL;
    writer.timestampNanos(clockNanos).streamOffset(offset).length(moved.length)
        .write(records, moved, 0, head, captured(moved.length) - head);
    records.position(aligned(records.position()));
  }

  private int captured(int moved) {
    return moved <= captureBytes ? moved : captureBytes + Math.min(tailBytes, moved - captureBytes);
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static InetAddress address(String literal) {
    try {
      return InetAddress.getByName(literal); // a literal: no name lookup
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e);
    }
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
