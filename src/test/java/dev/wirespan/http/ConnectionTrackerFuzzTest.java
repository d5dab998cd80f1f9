package dev.wirespan.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.Conversation.Party;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.LossCause;
import io.netty.util.ResourceLeakDetector;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Feeds the tracker random and damaged traffic for a bounded time and checks after every event
 * that nothing escapes, memory stays within the configured total, and every exchange reported is
 * sane ({@link ExchangeInvariants}); after closeAll nothing is held and every buffer is released.
 *
 * <p>Runs for {@value #DEFAULT_SECONDS} s by default; {@code -Dwirespan.fuzz.seconds=600} runs
 * longer. Each run logs its base seed; a failure names the failing case's seed, and {@code
 * -Dwirespan.fuzz.seed=N} replays exactly that case.
 */
class ConnectionTrackerFuzzTest {
  static final String SECONDS_PROPERTY = "wirespan.fuzz.seconds";
  static final String SEED_PROPERTY = "wirespan.fuzz.seed";
  static final double DEFAULT_SECONDS = 15;

  private static final String CREDENTIAL_MARKER = "CRED-SECRET";
  private static final String BODY_MARKER = "BODY-SECRET";
  private static final String QUERY_MARKER = "QUERY-SECRET";
  private static final int MAX_STEPS_PER_CASE = 400;
  private static final int MAX_BODY_BYTES = 3000;
  private static final long NANOS_PER_MILLI = 1_000_000L;
  private static final String[] METHODS = {
    "GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "M-SEARCH", "PROPFIND", "CONNECT"
  };
  private static final int[] STATUSES = {100, 101, 200, 201, 204, 301, 304, 404, 500, 503, 999};

  private static ResourceLeakDetector.Level previousLevel;

  @BeforeAll
  static void paranoidLeakDetection() {
    previousLevel = ResourceLeakDetector.getLevel();
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
  }

  @AfterAll
  static void restoreLeakDetection() {
    ResourceLeakDetector.setLevel(previousLevel);
  }

  @Test
  void randomAndDamagedTrafficKeepsEveryInvariant() {
    String replay = System.getProperty(SEED_PROPERTY);
    if (replay != null) {
      runCase(Long.parseLong(replay));
      return;
    }
    double seconds = Double.parseDouble(System.getProperty(SECONDS_PROPERTY, "" + DEFAULT_SECONDS));
    long baseSeed = new Random().nextLong();
    System.out.println("fuzz base seed " + baseSeed + ", " + seconds + " s");
    Random seeds = new Random(baseSeed);
    long deadline = System.nanoTime() + (long) (seconds * 1e9);
    int cases = 0;
    while (System.nanoTime() < deadline) {
      runCase(seeds.nextLong());
      cases++;
    }
    System.out.println("fuzz ran " + cases + " cases");
    assertThat(cases).isPositive();
  }

  private static void runCase(long seed) {
    Case c = new Case(seed);
    try {
      c.run();
    } catch (Throwable t) {
      StringBuilder losses = new StringBuilder();
      for (LossCause cause : LossCause.values()) {
        long n = c.metrics.loss(cause).get();
        if (n > 0) {
          losses.append(' ').append(cause).append('=').append(n);
        }
      }
      System.out.println("fuzz case failed: -D" + SEED_PROPERTY + "=" + seed + "; losses:" + losses);
      throw new AssertionError(
          "fuzz case failed; replay with -D" + SEED_PROPERTY + "=" + seed + "; losses:" + losses, t);
    }
  }

  /** One tracker fed a few connections of generated traffic. */
  private static final class Case {
    final Random r;
    final HttpSettings settings;
    final AgentMetrics metrics = new AgentMetrics();
    final LeakCheckingAllocator alloc = new LeakCheckingAllocator();
    final ExchangeInvariants invariants = new ExchangeInvariants();
    final List<Flow> flows = new ArrayList<>();
    final ConnectionTracker tracker;
    final int connections;

    Case(long seed) {
      r = new Random(seed);
      int line = 128 + r.nextInt(2048);
      int header = 256 + r.nextInt(4096);
      int perConnection = line + header + r.nextInt(8192);
      settings =
          HttpSettings.builder()
              .setMaxInitialLineBytes(line)
              .setMaxHeaderBytes(header)
              .setMaxBufferedBytesPerConnection(perConnection)
              .setMaxBufferedBytesTotal((long) perConnection * (1 + r.nextInt(3)))
              .setMaxConnections(1 + r.nextInt(4))
              .setMaxPendingRequestsPerConnection(1 + r.nextInt(8))
              .setResponseTimeout(Duration.ofMillis(1 + r.nextInt(1000)))
              .setIdleConnectionTimeout(Duration.ofMillis(10 + r.nextInt(10_000)))
              .build();
      tracker = new ConnectionTracker(settings, new Checker(), metrics, alloc);
      connections = 1 + r.nextInt(5);
      for (int i = 0; i < connections; i++) {
        flows.add(new Flow(i + 1));
      }
    }

    void run() {
      int steps = 1 + r.nextInt(MAX_STEPS_PER_CASE);
      for (int i = 0; i < steps; i++) {
        Flow f = flows.get(r.nextInt(flows.size()));
        int action = r.nextInt(100);
        if (action < 3) {
          f.wire.close();
          f.restart();
        } else if (action < 6) {
          long now = latest() + r.nextInt(3) * (long) r.nextInt(2000) * NANOS_PER_MILLI;
          tracker.expire(now);
          // An evicted connection is picked up again mid-stream: a body's last bytes may then
          // run into an unknown method (M-SEARCH) of the next request, a known limit of resyncing.
          flows.forEach(g -> g.damaged = true);
        } else {
          f.sendSomething();
        }
        assertThat(tracker.bufferedBytes())
            .as("bytes buffered, limit %d", settings.maxBufferedBytesTotal())
            .isBetween(0L, settings.maxBufferedBytesTotal());
        assertThat(tracker.connectionCount()).isLessThanOrEqualTo(settings.maxConnections());
        assertThat(tracker.activeDecoders()).isBetween(0, 2 * settings.maxConnections());
      }
      tracker.closeAll();
      assertThat(tracker.bufferedBytes()).as("bytes buffered after closeAll").isZero();
      assertThat(tracker.activeDecoders()).as("decoders held after closeAll").isZero();
      assertThat(tracker.connectionCount()).isZero();
      alloc.assertAllReleased();
    }

    long latest() {
      long t = 0;
      for (Flow f : flows) {
        t = Math.max(t, f.wire.now());
      }
      return t;
    }

    /** Checks each exchange as it ends, with the secrets its connection must not leak. */
    final class Checker implements ExchangeListener {
      @Override
      public void onExchangeEnd(HttpExchange x) {
        Flow f = flows.get((int) x.connection().connectionId() - 1);
        try {
          invariants.check(x, f.forbidden(), f.mutated ? List.of() : List.of(QUERY_MARKER));
        } catch (AssertionError e) {
          throw new AssertionError(
              "connection " + f.id + " (" + f.wire.role() + ", damaged " + f.damaged
                  + ", mutated " + f.mutated + ") reported " + x, e);
        }
      }
    }

    /** One connection: its two generated streams, how far each was sent, how it was damaged. */
    final class Flow {
      final long id;
      Wire wire;
      byte[] requests;
      byte[] responses;
      int requestsSent;
      int responsesSent;
      /** The bytes were mutated (a credential may legitimately end up in a decoded value). */
      boolean mutated;
      /** Events lost or bytes uncopied: a body may be decoded where headers were expected. */
      boolean damaged;

      Flow(long id) {
        this.id = id;
        restart();
      }

      void restart() {
        HttpExchange.Side side = r.nextBoolean() ? HttpExchange.Side.SERVER : HttpExchange.Side.CLIENT;
        CaptureEvent.ConnectionRole role =
            r.nextInt(5) == 0
                ? CaptureEvent.ConnectionRole.UNKNOWN
                : side == HttpExchange.Side.SERVER
                    ? CaptureEvent.ConnectionRole.SERVER
                    : CaptureEvent.ConnectionRole.CLIENT;
        long clock = wire == null ? 0 : wire.now() - Wire.FIRST_TIMESTAMP_NANOS;
        wire = new Wire(tracker, side, id, role);
        wire.advance(clock);
        mutated = false;
        // More connections than tracked: some are evicted and picked up mid-stream. Without a
        // role, the stream's start is not known to be a message start: mid-stream too.
        damaged =
            connections > settings.maxConnections() || role == CaptureEvent.ConnectionRole.UNKNOWN;
        requestsSent = 0;
        responsesSent = 0;
        int kind = r.nextInt(10);
        if (kind == 0) {
          requests = randomBytes();
          responses = randomBytes();
          mutated = true;
          return;
        }
        int exchanges = 1 + r.nextInt(6);
        ByteArrayOutputStream req = new ByteArrayOutputStream();
        ByteArrayOutputStream resp = new ByteArrayOutputStream();
        for (int i = 0; i < exchanges; i++) {
          String method = METHODS[r.nextInt(METHODS.length)];
          req.writeBytes(request(method));
          resp.writeBytes(response(method));
        }
        requests = req.toByteArray();
        responses = resp.toByteArray();
        if (kind < 5) {
          requests = mutate(requests);
          responses = mutate(responses);
          mutated = true;
        }
      }

      List<String> forbidden() {
        if (mutated) {
          return List.of();
        }
        // A partial message dropped over a buffer limit loses its boundary as a gap does. (One
        // failed by the decoder, a line or header block over the case's small limits, does not
        // let its body be decoded as a message head: seed 4695568818427037546.)
        boolean resynced = damaged || metrics.loss(LossCause.STREAM_BUFFER_LIMIT).get() > 0;
        return resynced ? List.of(CREDENTIAL_MARKER) : List.of(CREDENTIAL_MARKER, BODY_MARKER);
      }

      void sendSomething() {
        boolean req = r.nextBoolean();
        byte[] bytes = req ? requests : responses;
        int sent = req ? requestsSent : responsesSent;
        Party party = req ? Party.REQUESTS : Party.RESPONSES;
        if (sent >= bytes.length) {
          return;
        }
        int left = bytes.length - sent;
        int n = r.nextInt(4) == 0 ? left : 1 + r.nextInt(Math.min(left, 1 + r.nextInt(600)));
        int kind = r.nextInt(20);
        if (kind == 0) {
          damaged = true; // the event was lost: a gap
        } else if (kind == 1 && n > 1) {
          damaged = true; // the copy was cut: head (and maybe tail) only
          int head = r.nextInt(n);
          int tail = r.nextBoolean() ? r.nextInt(Math.min(n - head, 512) + 1) : 0;
          wire.dataHeadAndTail(party, sent, bytes, sent, n, head, tail);
        } else if (kind == 2 && sent > 0) {
          // a retransmitted overlap: some bytes seen already
          int back = 1 + r.nextInt(Math.min(sent, 64));
          wire.data(party, sent - back, bytes, sent - back, n + back);
        } else {
          wire.data(party, sent, bytes, sent, n);
        }
        if (req) {
          requestsSent += n;
        } else {
          responsesSent += n;
        }
      }

      byte[] request(String method) {
        StringBuilder b = new StringBuilder();
        b.append(method).append(' ').append(target()).append(r.nextInt(8) == 0 ? " HTTP/1.0" : " HTTP/1.1");
        b.append("\r\n");
        List<String> headers = new ArrayList<>();
        headers.add("Host: " + pick("example.com", "127.0.0.1:8080", "[::1]:9000", "h:99999", ""));
        headers.add("User-Agent: fuzz/" + r.nextInt(100) + " (" + pick("x", "\u00e9", "a b") + ")");
        if (r.nextBoolean()) {
          headers.add("traceparent: 00-" + hex(32) + "-" + hex(16) + "-01");
          headers.add("tracestate: k=v" + r.nextInt(9));
        }
        headers.add("Authorization: Bearer " + CREDENTIAL_MARKER + r.nextInt(1000));
        headers.add("Cookie: session=" + CREDENTIAL_MARKER);
        if (r.nextInt(6) == 0) {
          headers.add("Expect: 100-continue");
        }
        String body = body();
        boolean hasBody = r.nextInt(3) == 0;
        boolean chunked = hasBody && r.nextBoolean();
        if (hasBody && !chunked) {
          headers.add("Content-Length: " + body.length());
        } else if (chunked) {
          headers.add("Transfer-Encoding: chunked");
        }
        headers(b, headers);
        if (hasBody) {
          b.append(chunked ? chunk(body) : body);
        }
        return b.toString().getBytes(StandardCharsets.ISO_8859_1);
      }

      byte[] response(String method) {
        StringBuilder b = new StringBuilder();
        int status = STATUSES[r.nextInt(STATUSES.length)];
        if (status == 100 && r.nextBoolean()) {
          b.append("HTTP/1.1 100 Continue\r\n\r\n");
          status = 200;
        }
        b.append("HTTP/1.1 ").append(status).append(" Reason\r\n");
        List<String> headers = new ArrayList<>();
        headers.add("Set-Cookie: id=" + CREDENTIAL_MARKER + "; HttpOnly");
        headers.add("Server: fuzz");
        String body = body();
        boolean bodyless = status < 200 || status == 204 || status == 304 || "HEAD".equals(method);
        int framing = r.nextInt(3);
        if (framing == 0) {
          headers.add("Content-Length: " + body.length());
        } else if (framing == 1) {
          headers.add("Transfer-Encoding: chunked");
        } else {
          // no framing header: the body is read until the connection closes
        }
        headers(b, headers);
        if (!bodyless) {
          b.append(framing == 1 ? chunk(body) : body);
        }
        return b.toString().getBytes(StandardCharsets.ISO_8859_1);
      }

      void headers(StringBuilder b, List<String> headers) {
        if (r.nextInt(4) == 0) {
          headers.add(headers.get(r.nextInt(headers.size()))); // a duplicated header
        }
        for (String h : headers) {
          if (r.nextInt(8) == 0) {
            h = randomCase(h);
          }
          b.append(h).append("\r\n");
        }
        b.append("\r\n");
      }

      String target() {
        StringBuilder t = new StringBuilder();
        int segments = r.nextInt(5);
        for (int i = 0; i < segments; i++) {
          t.append('/').append(pick("api", "v1", "users", "" + r.nextInt(100000), hex(24), "%e2%82"));
        }
        if (t.length() == 0) {
          t.append('/');
        }
        if (r.nextBoolean()) {
          t.append("?q=").append(r.nextInt(10)).append("&access_token=").append(QUERY_MARKER);
        }
        return t.toString();
      }

      String body() {
        int n = r.nextInt(MAX_BODY_BYTES);
        StringBuilder b = new StringBuilder(n);
        while (b.length() < n) {
          b.append(BODY_MARKER).append((char) ('a' + r.nextInt(26)));
        }
        return b.substring(0, n);
      }

      String chunk(String body) {
        StringBuilder b = new StringBuilder();
        int at = 0;
        while (at < body.length()) {
          int n = Math.min(body.length() - at, 1 + r.nextInt(700));
          b.append(Integer.toHexString(n)).append("\r\n").append(body, at, at + n).append("\r\n");
          at += n;
        }
        b.append("0\r\n");
        if (r.nextInt(4) == 0) {
          b.append("X-Trailer: t\r\n");
        }
        return b.append("\r\n").toString();
      }

      byte[] mutate(byte[] in) {
        byte[] out = in;
        int mutations = 1 + r.nextInt(6);
        for (int m = 0; m < mutations && out.length > 0; m++) {
          int at = r.nextInt(out.length);
          switch (r.nextInt(6)) {
            case 0 -> out[at] = (byte) r.nextInt(256);
            case 1 -> out[at] ^= (byte) (1 << r.nextInt(8));
            case 2 -> {
              byte[] ins = pick(
                  new byte[] {'\r'}, new byte[] {'\n'}, new byte[] {0}, new byte[] {' '},
                  new byte[] {':'}, "\r\n".getBytes(StandardCharsets.US_ASCII),
                  "\r\nContent-Length: 5\r\n".getBytes(StandardCharsets.US_ASCII),
                  "\r\nTransfer-Encoding: chunked\r\n".getBytes(StandardCharsets.US_ASCII),
                  "\r\n folded\r\n".getBytes(StandardCharsets.US_ASCII),
                  randomBytesOf(1 + r.nextInt(32)));
              out = splice(out, at, 0, ins);
            }
            case 3 -> out = splice(out, at, Math.min(out.length - at, 1 + r.nextInt(16)), new byte[0]);
            case 4 -> {
              int n = Math.min(out.length - at, 1 + r.nextInt(64));
              out = splice(out, at, 0, Arrays.copyOfRange(out, at, at + n)); // duplicated bytes
            }
            default -> {
              int n = Math.min(out.length - at, 1 + r.nextInt(64));
              for (int i = at; i < at + n; i++) {
                out[i] = (byte) (r.nextBoolean() ? Character.toUpperCase(out[i]) : Character.toLowerCase(out[i]));
              }
            }
          }
        }
        return out;
      }

      byte[] randomBytes() {
        return randomBytesOf(r.nextInt(4096));
      }

      byte[] randomBytesOf(int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        if (r.nextBoolean()) {
          // printable-ish bytes get further into the parser than uniform ones
          for (int i = 0; i < n; i++) {
            b[i] = (byte) pickInt((int) ' ', (int) '\r', (int) '\n', (int) ':', 'A' + r.nextInt(26), '0' + r.nextInt(10), (int) '/', b[i]);
          }
        }
        return b;
      }

      String randomCase(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
          b.append(r.nextBoolean() ? Character.toUpperCase(c) : Character.toLowerCase(c));
        }
        return b.toString().toLowerCase(Locale.ROOT).equals(s.toLowerCase(Locale.ROOT)) ? b.toString() : s;
      }

      String hex(int n) {
        StringBuilder b = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
          b.append(Character.forDigit(r.nextInt(16), 16));
        }
        return b.toString();
      }

      @SafeVarargs
      final <T> T pick(T... options) {
        return options[r.nextInt(options.length)];
      }

      int pickInt(int... options) {
        return options[r.nextInt(options.length)];
      }
    }

    static byte[] splice(byte[] in, int at, int remove, byte[] insert) {
      byte[] out = new byte[in.length - remove + insert.length];
      System.arraycopy(in, 0, out, 0, at);
      System.arraycopy(insert, 0, out, at, insert.length);
      System.arraycopy(in, at + remove, out, at + insert.length, in.length - at - remove);
      return out;
    }
  }
}
