package dev.wirespan.bench;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * A constant-rate (open-loop) HTTP/1.1 load generator for loopback: request k is due at {@code
 * start + k / rate}, whatever happened to earlier requests, over a pool of keep-alive
 * connections. As in wrk2 and in the connection pools of real clients, a request goes out on a
 * connection that is not waiting for a response; when every connection waits, the request waits
 * for the first one free (counted as {@code waited_for_connection}), so an overloaded server
 * makes latency grow (it is measured from the due time) instead of the offered rate shrink. With
 * {@code pipelined} as the seventh argument, a request is instead written when due on the next
 * connection in turn, behind any request still unanswered there (HTTP/1.1 pipelining, which
 * browsers and client libraries do not do; counted as {@code pipelined}).
 *
 * <p>A sender thread writes requests when they are due; a receiver thread blocked in the selector
 * parses responses (Content-Length framing) and records, in HdrHistograms, the latency from the
 * due time (includes queueing and the sender's lateness: what a user would see) and the service
 * time from the actual write. Responses to requests due in the warm-up are not recorded.
 *
 * <p>Usage: {@code OpenLoopLoad PORT PATH CONNECTIONS RATE_PER_SECOND DURATION_SECONDS
 * [WARMUP_SECONDS [queued|pipelined]]}. Prints one JSON object. Stops by itself: sending ends after warm-up +
 * duration, waiting for responses {@link #DRAIN_NANOS} later.
 */
public final class OpenLoopLoad {
  /** Responses still missing this long after the last request was due are counted missing. */
  static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(3);
  /** The sender sleeps when the next request is due later than this, else it spins. */
  private static final long SPIN_BELOW_NANOS = 20_000;
  /** How long the sender parks between looks for a free connection when all are busy. */
  private static final long WAIT_FOR_CONNECTION_NANOS = 10_000;
  private static final long HIGHEST_TRACKABLE_NANOS = TimeUnit.SECONDS.toNanos(60);
  private static final int SIGNIFICANT_DIGITS = 3;
  private static final int READ_BUFFER_BYTES = 256 * 1024;
  /** Requests a connection can have in flight; beyond, the request is counted as not sent. */
  private static final int MAX_IN_FLIGHT_PER_CONNECTION = 1 << 14;
  private static final int SELECT_TIMEOUT_MILLIS = 10;

  private OpenLoopLoad() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 5) {
      System.err.println(
          "usage: OpenLoopLoad PORT PATH CONNECTIONS RATE_PER_SECOND DURATION_SECONDS"
              + " [WARMUP_SECONDS [queued|pipelined]]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    String path = args[1];
    int connections = Integer.parseInt(args[2]);
    double rate = Double.parseDouble(args[3]);
    double duration = Double.parseDouble(args[4]);
    double warmup = args.length > 5 ? Double.parseDouble(args[5]) : 1;
    String mode = args.length > 6 ? args[6] : "queued";
    if (!mode.equals("queued") && !mode.equals("pipelined")) {
      System.err.println("mode must be queued or pipelined: " + mode);
      System.exit(2);
    }
    System.out.println(run(port, path, connections, rate, duration, warmup, mode.equals("pipelined")));
  }

  /** In-flight requests of one connection: a single-producer single-consumer ring of times. */
  private static final class Connection {
    final SocketChannel channel;
    final long[] due = new long[MAX_IN_FLIGHT_PER_CONNECTION];
    final long[] sent = new long[MAX_IN_FLIGHT_PER_CONNECTION];
    volatile long tail; // written by the sender
    volatile long head; // written by the receiver
    // receiver's response parser state
    final StringBuilder header = new StringBuilder();
    long bodyRemaining = -1; // -1: reading headers
    volatile boolean closed;

    Connection(SocketChannel channel) {
      this.channel = channel;
    }
  }

  static String run(
      int port, String path, int connectionCount, double rate, double duration, double warmup,
      boolean pipelined)
      throws IOException, InterruptedException {
    byte[] request =
        ("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port
                + "\r\nUser-Agent: wirespan-open-loop\r\nAccept: */*\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII);
    InetSocketAddress target = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
    Connection[] conns = new Connection[connectionCount];
    Selector selector = Selector.open();
    for (int i = 0; i < connectionCount; i++) {
      SocketChannel ch = SocketChannel.open(target);
      ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
      ch.configureBlocking(false);
      conns[i] = new Connection(ch);
      ch.register(selector, SelectionKey.OP_READ, conns[i]);
    }
    long periodNanos = (long) (1e9 / rate);
    long total = (long) ((warmup + duration) * rate);
    long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
    long measureFrom = start + (long) (warmup * 1e9);
    long lastDue = start + (total - 1) * periodNanos;
    long deadline = lastDue + DRAIN_NANOS;

    Histogram latency = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
    Histogram service = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
    Histogram lateness = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
    long[] counts = new long[5]; // completed measured, completed all, errors, pipelined, waited
    long[] notSent = new long[1];

    Thread sender =
        new Thread(
            () -> {
              ByteBuffer out = ByteBuffer.wrap(request);
              for (long k = 0; k < total; k++) {
                long due = start + k * periodNanos;
                long now;
                while ((now = System.nanoTime()) < due) {
                  long wait = due - now;
                  if (wait > SPIN_BELOW_NANOS) {
                    LockSupport.parkNanos(wait - SPIN_BELOW_NANOS);
                  } else {
                    Thread.onSpinWait();
                  }
                }
                if (now > deadline) {
                  notSent[0] += total - k;
                  break;
                }
                if (due >= measureFrom) {
                  lateness.recordValue(Math.min(now - due, HIGHEST_TRACKABLE_NANOS));
                }
                Connection c;
                if (pipelined) {
                  c = conns[(int) (k % connectionCount)];
                } else {
                  c = idle(conns, k);
                  if (c == null) {
                    counts[4]++; // waits for a free connection (in latency, not in lateness)
                    // Parked, not spinning: the receiver that frees a connection may share
                    // this core.
                    while ((c = idle(conns, k)) == null && System.nanoTime() < deadline) {
                      LockSupport.parkNanos(WAIT_FOR_CONNECTION_NANOS);
                    }
                    if (c == null) {
                      notSent[0] += total - k;
                      break;
                    }
                    now = System.nanoTime();
                  }
                }
                long t = c.tail;
                if (c.closed || t - c.head >= MAX_IN_FLIGHT_PER_CONNECTION) {
                  notSent[0]++;
                  continue;
                }
                if (t != c.head) {
                  counts[3]++;
                }
                int slot = (int) (t % MAX_IN_FLIGHT_PER_CONNECTION);
                c.due[slot] = due;
                c.sent[slot] = now;
                c.tail = t + 1; // publish before writing, so the response always finds it
                out.clear();
                try {
                  while (out.hasRemaining() && System.nanoTime() < deadline) {
                    if (c.channel.write(out) == 0) {
                      LockSupport.parkNanos(SPIN_BELOW_NANOS);
                    }
                  }
                } catch (IOException e) {
                  c.closed = true;
                }
              }
            },
            "open-loop-sender");
    sender.setDaemon(true);
    sender.start();

    ByteBuffer in = ByteBuffer.allocateDirect(READ_BUFFER_BYTES);
    long expected = total;
    while (counts[1] + counts[2] + notSent[0] < expected && System.nanoTime() < deadline) {
      selector.select(SELECT_TIMEOUT_MILLIS);
      for (SelectionKey key : selector.selectedKeys()) {
        Connection c = (Connection) key.attachment();
        in.clear();
        int n;
        try {
          n = c.channel.read(in);
        } catch (IOException e) {
          n = -1;
        }
        long now = System.nanoTime();
        if (n < 0) {
          c.closed = true;
          key.cancel();
          counts[2] += c.tail - c.head;
          c.head = c.tail;
          continue;
        }
        in.flip();
        while (in.hasRemaining()) {
          if (c.bodyRemaining < 0) {
            char ch = (char) in.get();
            c.header.append(ch);
            int len = c.header.length();
            if (ch == '\n' && len >= 4 && c.header.charAt(len - 3) == '\n') {
              c.bodyRemaining = contentLength(c.header);
              c.header.setLength(0);
            }
          } else {
            int skip = (int) Math.min(c.bodyRemaining, in.remaining());
            in.position(in.position() + skip);
            c.bodyRemaining -= skip;
          }
          if (c.bodyRemaining == 0) {
            c.bodyRemaining = -1;
            if (c.head >= c.tail) {
              counts[2]++; // a response without a request
              continue;
            }
            int slot = (int) (c.head % MAX_IN_FLIGHT_PER_CONNECTION);
            long due = c.due[slot];
            if (due >= measureFrom) {
              latency.recordValue(Math.min(now - due, HIGHEST_TRACKABLE_NANOS));
              service.recordValue(Math.min(now - c.sent[slot], HIGHEST_TRACKABLE_NANOS));
              counts[0]++;
            }
            c.head++;
            counts[1]++;
          }
        }
      }
      selector.selectedKeys().clear();
    }
    sender.join(TimeUnit.NANOSECONDS.toMillis(DRAIN_NANOS));
    long end = System.nanoTime();
    for (Connection c : conns) {
      c.channel.close();
    }
    selector.close();
    long missing = Math.max(0, total - notSent[0] - counts[1] - counts[2]);
    double measuredSeconds = (Math.min(end, lastDue) - measureFrom) / 1e9;
    return String.format(
        Locale.ROOT,
        "{\"offered_rps\": %.1f, \"connections\": %d, \"duration_s\": %.1f, \"warmup_s\": %.1f,"
            + " \"requests_due\": %d, \"completed\": %d, \"completed_measured\": %d,"
            + " \"achieved_rps\": %.1f, \"errors\": %d, \"missing\": %d, \"not_sent\": %d,"
            + " \"mode\": \"%s\", \"pipelined\": %d, \"waited_for_connection\": %d, %s, %s, %s}",
        rate, connectionCount, duration, warmup, total, counts[1], counts[0],
        counts[0] / Math.max(measuredSeconds, 1e-9), counts[2], missing, notSent[0],
        pipelined ? "pipelined" : "queued", counts[3], counts[4],
        percentiles("latency", latency), percentiles("service", service),
        percentiles("send_lateness", lateness));
  }

  /**
   * A connection with no request in flight, looking from the one after request {@code k}'s turn
   * so that load spreads over the pool; null when every connection waits for a response.
   */
  private static Connection idle(Connection[] conns, long k) {
    for (int i = 0; i < conns.length; i++) {
      Connection c = conns[(int) ((k + i) % conns.length)];
      if (!c.closed && c.tail == c.head) {
        return c;
      }
    }
    return null;
  }

  private static long contentLength(CharSequence header) {
    String h = header.toString().toLowerCase(Locale.ROOT);
    int i = h.indexOf("\ncontent-length:");
    if (i < 0) {
      return 0;
    }
    int from = i + "\ncontent-length:".length();
    int to = h.indexOf('\r', from);
    return Long.parseLong(h.substring(from, to).trim());
  }

  private static String percentiles(String name, Histogram h) {
    return String.format(
        Locale.ROOT,
        "\"%s_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99_9\": %.1f, \"max\": %.1f}",
        name,
        h.getValueAtPercentile(50) / 1e3,
        h.getValueAtPercentile(90) / 1e3,
        h.getValueAtPercentile(99) / 1e3,
        h.getValueAtPercentile(99.9) / 1e3,
        h.getMaxValue() / 1e3);
  }
}
