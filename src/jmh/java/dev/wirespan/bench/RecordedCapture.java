package dev.wirespan.bench;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventWriter;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A recorded capture of keep-alive HTTP/1.1 traffic between a load generator and a web server on
 * one host, in the kernel's ring-buffer record layout (written by {@link CaptureEventWriter}):
 * per request four data records, as both processes are traced: the client writes the request,
 * the server reads it, the server writes the response, the client reads it. Each request thus
 * ends as two exchanges (a CLIENT and a SERVER span).
 *
 * <p>The batch can be replayed any number of times: {@link #advance()} moves every record's
 * stream offset and timestamp on by one batch, as the next batch of the same keep-alive
 * connections would carry, so the decoders see one continuous stream per connection.
 */
final class RecordedCapture {
  /** Ring-buffer records start on 8-byte boundaries. */
  private static final int RECORD_ALIGNMENT_BYTES = 8;
  /** Offsets of the fields that advance between batches; mirror bpf/include/wirespan_event.h. */
  private static final int OFF_TIMESTAMP = 32;
  private static final int OFF_OFFSET = 56;

  private static final int SERVER_PORT = 8080;
  private static final int FIRST_CLIENT_PORT = 40_000;
  private static final int CLIENT_FD_BASE = 10;
  private static final int SERVER_FD_BASE = 20;
  /** Simulated time between a request's four syscalls and between requests on a connection. */
  private static final long NANOS_CLIENT_WRITE_TO_SERVER_READ = 8_000;
  private static final long NANOS_SERVER_READ_TO_WRITE = 15_000;
  private static final long NANOS_SERVER_WRITE_TO_CLIENT_READ = 7_000;
  private static final long NANOS_BETWEEN_REQUESTS = 60_000;

  final ByteBuffer records;
  final int recordCount;
  final int requests;
  private final int[] recordBase;
  private final long[] offsetStepPerBatch;
  private final long timestampStepPerBatch;

  /**
   * @param connections keep-alive connections the requests are spread over, round robin
   * @param requests requests in one batch (a multiple of {@code connections})
   * @param responseBodyBytes size of each response body
   * @param captureCapBytes payload bytes the kernel side copies per syscall (the agent's
   *     --capture-bytes)
   * @param clientPid process id of the load generator, serverPid of the web server (real
   *     processes, so that the resource resolver finds them in /proc)
   */
  RecordedCapture(
      int connections,
      int requests,
      int responseBodyBytes,
      int captureCapBytes,
      int clientPid,
      int serverPid) {
    if (requests % connections != 0) {
      throw new IllegalArgumentException("requests must be a multiple of connections");
    }
    byte[] request = request();
    byte[] response = response(responseBodyBytes);
    int perRequestBytes =
        aligned(CaptureEvent.HEADER_SIZE + Math.min(request.length, captureCapBytes)) * 2
            + aligned(CaptureEvent.HEADER_SIZE + Math.min(response.length, captureCapBytes)) * 2;
    this.records = ByteBuffer.allocateDirect(perRequestBytes * requests).order(ByteOrder.LITTLE_ENDIAN);
    this.requests = requests;
    this.recordCount = requests * 4;
    this.recordBase = new int[recordCount];
    this.offsetStepPerBatch = new long[recordCount];
    int perConnection = requests / connections;
    this.timestampStepPerBatch = perConnection * NANOS_BETWEEN_REQUESTS;

    InetAddress loopback;
    try {
      loopback = InetAddress.getByName("127.0.0.1");
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e);
    }
    CaptureEventWriter client =
        new CaptureEventWriter().pid(clientPid).tid(clientPid).role(CaptureEvent.ConnectionRole.CLIENT);
    CaptureEventWriter server =
        new CaptureEventWriter().pid(serverPid).tid(serverPid).role(CaptureEvent.ConnectionRole.SERVER);
    long start = System.nanoTime();
    int n = 0;
    for (int round = 0; round < perConnection; round++) {
      for (int c = 0; c < connections; c++) {
        int clientPort = FIRST_CLIENT_PORT + c;
        client
            .connectionId(2L * c + 1)
            .fd(CLIENT_FD_BASE + c)
            .local(loopback, clientPort)
            .remote(loopback, SERVER_PORT);
        server
            .connectionId(2L * c + 2)
            .fd(SERVER_FD_BASE + c)
            .local(loopback, SERVER_PORT)
            .remote(loopback, clientPort);
        long t = start + round * NANOS_BETWEEN_REQUESTS + c * (NANOS_BETWEEN_REQUESTS / connections);
        long requestOffset = (long) round * request.length;
        long responseOffset = (long) round * response.length;
        long requestStep = (long) perConnection * request.length;
        long responseStep = (long) perConnection * response.length;
        n = add(n, client.direction(CaptureEvent.Direction.EGRESS).timestampNanos(t)
            .streamOffset(requestOffset), request, captureCapBytes, requestStep);
        t += NANOS_CLIENT_WRITE_TO_SERVER_READ;
        n = add(n, server.direction(CaptureEvent.Direction.INGRESS).timestampNanos(t)
            .streamOffset(requestOffset), request, captureCapBytes, requestStep);
        t += NANOS_SERVER_READ_TO_WRITE;
        n = add(n, server.direction(CaptureEvent.Direction.EGRESS).timestampNanos(t)
            .streamOffset(responseOffset), response, captureCapBytes, responseStep);
        t += NANOS_SERVER_WRITE_TO_CLIENT_READ;
        n = add(n, client.direction(CaptureEvent.Direction.INGRESS).timestampNanos(t)
            .streamOffset(responseOffset), response, captureCapBytes, responseStep);
      }
    }
    records.flip();
  }

  private int add(int n, CaptureEventWriter writer, byte[] payload, int cap, long offsetStep) {
    int base = records.position();
    writer.length(payload.length).write(records, payload, 0, Math.min(payload.length, cap));
    records.position(aligned(records.position()));
    recordBase[n] = base;
    offsetStepPerBatch[n] = offsetStep;
    return n + 1;
  }

  /** Start of record {@code i} in {@link #records}. */
  int recordBase(int i) {
    return recordBase[i];
  }

  /** Moves the batch on in stream offset and time, as the next batch on the same connections. */
  void advance() {
    for (int i = 0; i < recordCount; i++) {
      int base = recordBase[i];
      records.putLong(base + OFF_OFFSET, records.getLong(base + OFF_OFFSET) + offsetStepPerBatch[i]);
      records.putLong(
          base + OFF_TIMESTAMP, records.getLong(base + OFF_TIMESTAMP) + timestampStepPerBatch);
    }
  }

  /** A request as load generators and browsers send it: keep-alive, a handful of headers. */
  static byte[] request() {
    return ("GET /api/v1/orders/1234567?include=items&page=2 HTTP/1.1\r\n"
            + "Host: 127.0.0.1:8080\r\n"
            + "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
            + "Accept: application/json, text/plain, */*\r\n"
            + "Accept-Encoding: gzip, deflate\r\n"
            + "Accept-Language: en-US,en;q=0.9\r\n"
            + "Connection: keep-alive\r\n"
            + "\r\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  /** A 200 response as nginx sends it, with a body of {@code bodyBytes}. */
  static byte[] response(int bodyBytes) {
    byte[] head =
        ("HTTP/1.1 200 OK\r\n"
                + "Server: nginx/1.22.1\r\n"
                + "Date: Tue, 24 Nov 2026 21:00:00 GMT\r\n"
                + "Content-Type: application/json\r\n"
                + "Content-Length: " + bodyBytes + "\r\n"
                + "Connection: keep-alive\r\n"
                + "ETag: \"6553f1a2-80\"\r\n"
                + "\r\n")
            .getBytes(StandardCharsets.US_ASCII);
    byte[] message = Arrays.copyOf(head, head.length + bodyBytes);
    Arrays.fill(message, head.length, message.length, (byte) 'x');
    return message;
  }

  private static int aligned(int n) {
    return (n + RECORD_ALIGNMENT_BYTES - 1) & -RECORD_ALIGNMENT_BYTES;
  }
}
