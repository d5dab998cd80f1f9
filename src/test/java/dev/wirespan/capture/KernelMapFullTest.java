package dev.wirespan.capture;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.ConnectionTracker;
import dev.wirespan.http.ExchangeListener;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.http.HttpSettings;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.LossCause;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The kernel's connection map far smaller than the connections in use: the real BPF programs
 * forget connections (LRU) and track them again under new ids, and the HTTP stage counts that as
 * kernel/map_full and keeps pairing their exchanges. Nothing goes missing without a count.
 */
class KernelMapFullTest {
  private static final int PID = (int) ProcessHandle.current().pid();
  /** The smallest map allowed: a fraction of the sockets below (two per connection). */
  private static final int TINY_CONNECTION_MAP_ENTRIES = CaptureSettings.MIN_CONNECTION_MAP_ENTRIES;
  private static final int CONNECTIONS = 200;
  private static final int ROUNDS = 4;
  /** Both ends of every request are traced: one CLIENT and one SERVER exchange. */
  private static final int EXCHANGES_PER_REQUEST = 2;
  /** Statuses cycle through these, so that pairing a response with the wrong request shows. */
  private static final int[] STATUSES = {200, 201, 404};
  private static final Pattern REQUEST_LINE = Pattern.compile("^GET (\\S+) HTTP/1\\.1\r\n");
  private static final Pattern STATUS_LINE = Pattern.compile("^HTTP/1\\.1 (\\d{3}) ");
  private static final Pattern CONTENT_LENGTH =
      Pattern.compile("\r\nContent-Length: (\\d+)\r\n", Pattern.CASE_INSENSITIVE);
  private static final byte[] HEADER_END = "\r\n\r\n".getBytes(US_ASCII);
  private static final int POLL_TIMEOUT_MILLIS = 20;
  private static final long EXCHANGE_WAIT_NANOS = TimeUnit.SECONDS.toNanos(30);
  private static final long JOIN_MILLIS = TimeUnit.SECONDS.toMillis(15);
  private static final int SERVER_BACKLOG = CONNECTIONS;
  private static final int READ_BUFFER_BYTES = 8192;

  /** An exchange as the tracker reported it (copied on the capture thread). */
  private record Seen(
      HttpExchange.Side side,
      String method,
      String target,
      int status,
      HttpExchange.Outcome outcome) {}

  @Test
  void connectionsTheKernelForgotAreCountedAndTheirExchangesStillPair() throws Exception {
    Privileges.requireRoot();
    AgentMetrics metrics = new AgentMetrics();
    List<Seen> seen = new CopyOnWriteArrayList<>();
    ConnectionTracker tracker =
        new ConnectionTracker(
            HttpSettings.defaults(),
            new ExchangeListener() {
              @Override
              public void onExchangeEnd(HttpExchange x) {
                seen.add(new Seen(x.side(), x.method(), x.target(), x.statusCode(), x.outcome()));
              }
            },
            metrics);
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    List<Socket> clients = new ArrayList<>();
    List<InputStream> clientInputs = new ArrayList<>();
    List<Thread> serverThreads = new CopyOnWriteArrayList<>();
    ConcurrentLinkedQueue<Throwable> serverErrors = new ConcurrentLinkedQueue<>();
    try (KernelCapture capture =
            KernelCapture.open(
                CaptureSettings.builder()
                    .setSelfTgid(0)
                    .setConnectionMapEntries(TINY_CONNECTION_MAP_ENTRIES)
                    .build());
        ServerSocket server = new ServerSocket(0, SERVER_BACKLOG, lo)) {
      // The tracker is fed on this thread only, as the agent's capture thread does.
      CaptureFeeder feeder = new CaptureFeeder(capture.ringBuffer(), tracker);
      feeder.start();
      Thread acceptor =
          new Thread(() -> acceptLoop(server, serverThreads, serverErrors), "acceptor");
      acceptor.start();
      try {
        for (int i = 0; i < CONNECTIONS; i++) {
          Socket c = new Socket(lo, server.getLocalPort());
          clients.add(c);
          clientInputs.add(new BufferedInputStream(c.getInputStream(), READ_BUFFER_BYTES));
        }
        // Round-robin over every keep-alive connection: each is forgotten by the kernel between
        // two of its requests (and the server's blocking read is forgotten while it waits).
        for (int round = 0; round < ROUNDS; round++) {
          for (int i = 0; i < CONNECTIONS; i++) {
            Socket c = clients.get(i);
            String target = target(round, i);
            c.getOutputStream()
                .write(("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n").getBytes(US_ASCII));
            InputStream in = clientInputs.get(i);
            String head = readHead(in);
            Matcher status = STATUS_LINE.matcher(head);
            assertThat(status.find()).as(head).isTrue();
            assertThat(Integer.parseInt(status.group(1))).isEqualTo(statusOf(i));
            readBody(in, head);
          }
        }
        int expected = CONNECTIONS * ROUNDS * EXCHANGES_PER_REQUEST;
        long deadline = System.nanoTime() + EXCHANGE_WAIT_NANOS;
        while (System.nanoTime() < deadline && seen.size() < expected) {
          Thread.sleep(POLL_TIMEOUT_MILLIS);
        }
        feeder.stopAndJoin();
        assertThat(serverErrors).isEmpty();

        // The kernel map's evictions, as the HTTP stage saw connections come back under new ids.
        long forgotten = metrics.loss(LossCause.KERNEL_MAP_FULL).get();
        assertThat(forgotten).as("connections the kernel forgot and tracked again").isPositive();
        StringBuilder prometheus = new StringBuilder();
        metrics.writePrometheus(prometheus);
        assertThat(prometheus)
            .contains("wirespan_lost_total{stage=\"kernel\",cause=\"map_full\"} " + forgotten);

        // Every request is an exchange, with its own method, target and status, or is counted.
        Map<HttpExchange.Side, Set<String>> complete = new HashMap<>();
        for (Seen s : seen) {
          if (s.outcome() == HttpExchange.Outcome.COMPLETE) {
            assertThat(s.method()).isEqualTo("GET");
            assertThat(s.status())
                .as("status of %s", s.target())
                .isEqualTo(statusOf(connectionOf(s.target())));
            assertThat(complete.computeIfAbsent(s.side(), k -> new HashSet<>()).add(s.target()))
                .as("%s exchange %s reported once", s.side(), s.target())
                .isTrue();
          }
        }
        long losses = countedLosses(metrics, capture.lossCounters());
        for (HttpExchange.Side side : HttpExchange.Side.values()) {
          Set<String> done = complete.getOrDefault(side, Set.of());
          int missing = CONNECTIONS * ROUNDS - done.size();
          assertThat((long) missing)
              .as("%s exchanges neither complete nor counted as lost", side)
              .isLessThanOrEqualTo(losses);
          // Requests made long after the kernel began forgetting connections still pair (the
          // server's reads, forgotten while they blocked, too).
          long lastRound =
              done.stream().filter(t -> t.startsWith("/r" + (ROUNDS - 1) + "/")).count();
          assertThat(lastRound).as("%s exchanges of the last round", side).isPositive();
          assertThat(lastRound + losses)
              .as("%s exchanges of the last round, complete or counted", side)
              .isGreaterThanOrEqualTo(CONNECTIONS);
        }
        System.out.printf(
            "kernel map of %d entries, %d connections: forgotten %d times, %d exchanges complete"
                + " (of %d), losses counted %d%n",
            TINY_CONNECTION_MAP_ENTRIES,
            CONNECTIONS,
            forgotten,
            complete.values().stream().mapToInt(Set::size).sum(),
            expected,
            losses);
      } finally {
        feeder.stopAndJoin();
        for (Socket c : clients) {
          c.close();
        }
        server.close();
        acceptor.join(JOIN_MILLIS);
        for (Thread t : serverThreads) {
          t.join(JOIN_MILLIS);
        }
      }
    }
    tracker.closeAll();
  }

  /** Every loss counter a request could have gone missing under. */
  private static long countedLosses(AgentMetrics metrics, KernelLossCounters kernel) {
    long sum = kernel.ringbufFull() + kernel.mapFull();
    for (LossCause c : LossCause.values()) {
      if (c.stage().equals("stream") || c.stage().equals("pairing")) {
        sum += metrics.loss(c).get();
      }
    }
    return sum;
  }

  private static String target(int round, int connection) {
    return "/r" + round + "/c" + connection;
  }

  private static int connectionOf(String target) {
    return Integer.parseInt(target.substring(target.indexOf("/c") + 2));
  }

  private static int statusOf(int connection) {
    return STATUSES[connection % STATUSES.length];
  }

  private static void acceptLoop(
      ServerSocket server, List<Thread> threads, ConcurrentLinkedQueue<Throwable> errors) {
    while (!server.isClosed()) {
      Socket s;
      try {
        s = server.accept();
      } catch (IOException e) {
        return; // closed
      }
      Thread t = new Thread(() -> serve(s, errors), "server-" + s.getPort());
      threads.add(t);
      t.start();
    }
  }

  /** Answers every request of one keep-alive connection until the client closes it. */
  private static void serve(Socket s, ConcurrentLinkedQueue<Throwable> errors) {
    try (s) {
      InputStream in = new BufferedInputStream(s.getInputStream(), READ_BUFFER_BYTES);
      OutputStream out = s.getOutputStream();
      while (true) {
        String head = readHead(in);
        if (head.isEmpty()) {
          return;
        }
        Matcher m = REQUEST_LINE.matcher(head);
        if (!m.find()) {
          throw new IOException("not a request: " + head);
        }
        String target = m.group(1);
        int status = statusOf(connectionOf(target));
        byte[] body = target.getBytes(US_ASCII);
        out.write(
            ("HTTP/1.1 " + status + " X\r\nContent-Length: " + body.length + "\r\n\r\n")
                .getBytes(US_ASCII));
        out.write(body);
      }
    } catch (SocketException e) {
      // the client closed the connection at the end of the test
    } catch (IOException | RuntimeException e) {
      errors.add(e);
    }
  }

  /** The header block up to and including its empty line; "" at end of stream. */
  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < HEADER_END.length) {
      int b = in.read();
      if (b < 0) {
        if (head.size() == 0) {
          return "";
        }
        throw new IOException("stream ended inside a header block");
      }
      head.write(b);
      matched = b == HEADER_END[matched] ? matched + 1 : (b == HEADER_END[0] ? 1 : 0);
    }
    return head.toString(US_ASCII);
  }

  private static void readBody(InputStream in, String head) throws IOException {
    Matcher m = CONTENT_LENGTH.matcher(head);
    int length = m.find() ? Integer.parseInt(m.group(1)) : 0;
    if (in.readNBytes(length).length != length) {
      throw new IOException("response body cut");
    }
  }

  /** Polls the ring buffer into the tracker on its own thread, this process's events only. */
  private static final class CaptureFeeder extends Thread {
    private final RingBufferReader ring;
    private final ConnectionTracker tracker;
    private volatile boolean running = true;

    CaptureFeeder(RingBufferReader ring, ConnectionTracker tracker) {
      super("capture-feeder");
      this.ring = ring;
      this.tracker = tracker;
    }

    @Override
    public void run() {
      while (running) {
        ring.poll(
            e -> {
              if (e.pid() == PID) {
                tracker.onEvent(e);
              }
            },
            POLL_TIMEOUT_MILLIS);
      }
    }

    void stopAndJoin() throws InterruptedException {
      running = false;
      join(JOIN_MILLIS);
    }
  }
}
