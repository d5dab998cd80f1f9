package dev.wirespan.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.wirespan.export.SpanBatcher;
import dev.wirespan.metrics.JvmHeapMetrics;
import dev.wirespan.testing.AgentProcess;
import dev.wirespan.testing.KeepAliveClient;
import dev.wirespan.testing.OtlpTestReceiver;
import dev.wirespan.testing.OtlpTestReceiver.ReceivedSpan;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Minutes of collector outage with traffic flowing the whole time, against the real agent and a
 * real OTLP receiver that goes away and comes back on the same port: first refusing connections,
 * then accepting and never answering. The agent must stay healthy with a bounded queue, counted
 * losses and a heap that does not grow, and export must resume when the collector is back. Beside
 * it, a second agent whose export worker is truly stuck (its jsonl output is a pipe nobody reads)
 * must turn unhealthy: /healthz tells the two apart.
 *
 * <p>The outage lasts {@value #OUTAGE_PROPERTY} seconds (default {@value #DEFAULT_OUTAGE_SECONDS}):
 * the first half refused, the second half a black hole.
 */
class CollectorOutageSoakTest {
  static final String OUTAGE_PROPERTY = "wirespan.outage.seconds";
  static final long DEFAULT_OUTAGE_SECONDS = 120;
  private static final double BLACK_HOLE_SHARE = 0.5;

  /**
   * ~100 requests/s, two spans each (the client and the server are both in this process), over a
   * few keep-alive connections: one alone is held back by delayed acknowledgements, as the JDK
   * server writes a response's head and body apart.
   */
  private static final int CONNECTIONS = 4;
  private static final long REQUEST_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(40);
  private static final int SPANS_PER_REQUEST = 2;
  private static final Duration BEFORE_OUTAGE = Duration.ofSeconds(5);
  private static final Duration AFTER_RESUME = Duration.ofSeconds(5);
  private static final Duration SAMPLE_INTERVAL = Duration.ofSeconds(3);
  /** A forced collection costs the agent a pause: the heap is read every few samples only. */
  private static final int HEAP_SAMPLE_EVERY = 5;
  private static final Duration DELIVERY_WAIT = Duration.ofSeconds(60);
  private static final Duration JCMD_TIMEOUT = Duration.ofSeconds(30);

  /** Small enough that the traffic overflows it between two failed exports. */
  private static final int QUEUE_CAPACITY_SPANS = 256;
  /**
   * Room for the live set to move while the outage goes on: exports abandoned at their timeout and
   * their connections, decoder state of other traffic on the host. A queue that grew past its
   * capacity, or spans kept per request, would exceed it within the outage.
   */
  private static final long HEAP_GROWTH_BUDGET_BYTES = 16L * 1024 * 1024;
  /** The agent's own bounds, kept small so that other traffic on the host cannot fill the heap. */
  private static final List<String> BOUNDS =
      List.of("--span-queue-size", Integer.toString(QUEUE_CAPACITY_SPANS),
          "--max-buffered-bytes", "4MiB", "--max-connections", "4096", "--status-interval", "10s");

  /** When an export worker stuck in one call is reported, with the agent's defaults, and slack. */
  private static final Duration STUCK_REPORTED_WITHIN =
      SpanBatcher.DEFAULT_EXPORT_TIMEOUT.plus(SpanBatcher.DEFAULT_SCHEDULE_DELAY)
          .plus(SpanBatcher.DEFAULT_WORKER_STALL_MARGIN).plus(Duration.ofSeconds(30));

  private static final String LOST_FAMILY = "wirespan_lost_total";
  private static final String LOST_QUEUE_FULL = "wirespan_lost_total{stage=\"export\",cause=\"queue_full\"}";
  private static final String LOST_EXPORT_FAILED = "wirespan_lost_total{stage=\"export\",cause=\"export_failed\"}";

  /** What the collector does while a request is made; part of each request's path. */
  private enum Phase {
    UP, REFUSED, BLACK_HOLE, RESUMING, RESUMED;

    String prefix() {
      return "/soak/" + name().toLowerCase(Locale.ROOT) + "/";
    }

    String path(int n) {
      return prefix() + n;
    }

    /** Requests whose spans may have been queued while the collector was away. */
    boolean beforeResume() {
      return this != RESUMED;
    }
  }

  private HttpServer server;
  private ExecutorService serverThreads;
  private OtlpTestReceiver receiver;
  private AgentProcess agent;
  private AgentProcess stuck;
  private Path pipe;
  private RandomAccessFile pipeHeld;
  private Thread pipeDrain;

  private final AtomicReference<Phase> phase = new AtomicReference<>(Phase.UP);
  private final Map<Phase, AtomicInteger> requests = new EnumMap<>(Phase.class);
  private final AtomicReference<Throwable> trafficFailure = new AtomicReference<>();
  private volatile boolean trafficOn = true;

  @BeforeEach
  void start() throws IOException {
    AgentProcess.assumeBpfAvailable();
    for (Phase p : Phase.values()) {
      requests.put(p, new AtomicInteger());
    }
    server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
    serverThreads = Executors.newFixedThreadPool(2);
    server.setExecutor(serverThreads);
    server.createContext("/", ex -> {
      ex.getRequestBody().readAllBytes();
      byte[] body = "ok".getBytes(StandardCharsets.US_ASCII);
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream os = ex.getResponseBody()) {
        os.write(body);
      }
    });
    server.start();
    receiver = OtlpTestReceiver.startGrpc();
  }

  @AfterEach
  void stop() throws Exception {
    trafficOn = false;
    if (agent != null) {
      agent.close();
    }
    if (stuck != null) {
      if (pipeDrain == null) {
        drainPipe(); // lets the stuck agent finish its write and stop
      }
      stuck.close();
    }
    if (pipeHeld != null) {
      pipeHeld.close();
    }
    if (pipe != null) {
      Files.deleteIfExists(pipe);
    }
    if (receiver != null) {
      receiver.close();
    }
    if (server != null) {
      server.stop(0);
      serverThreads.shutdownNow();
    }
  }

  @Test
  void minutesOfCollectorOutageCostABoundedQueueAndCountedLossesWhileAStuckWorkerIsUnhealthy()
      throws Exception {
    Duration outage = Duration.ofSeconds(Long.getLong(OUTAGE_PROPERTY, DEFAULT_OUTAGE_SECONDS));
    agent = AgentProcess.start(concat(
        List.of("--exporter", "otlp", "--otlp-endpoint", receiver.endpoint()), BOUNDS));
    List<Thread> traffic = new ArrayList<>();
    for (int i = 0; i < CONNECTIONS; i++) {
      Thread t = new Thread(this::traffic, "soak-traffic-" + i);
      t.setDaemon(true);
      t.start();
      traffic.add(t);
    }
    long upSince = System.nanoTime();
    startStuckAgent();
    long stuckStarted = System.nanoTime();
    Thread.sleep(Math.max(0, TimeUnit.NANOSECONDS.toMillis(upSince + BEFORE_OUTAGE.toNanos() - System.nanoTime())));
    assertThat(agent.get("/readyz").body()).contains("export ok");

    // The outage: refused, then a black hole, sampled all along.
    long lostBefore = lost();
    phase.set(Phase.REFUSED);
    receiver.stop();
    long outageStart = System.nanoTime();
    long blackHoleAt = outageStart + (long) (outage.toNanos() * (1 - BLACK_HOLE_SHARE));
    long outageEnd = outageStart + outage.toNanos();
    long lostAtBlackHole = -1;
    List<Long> heap = new ArrayList<>();
    boolean stuckSeenUnhealthy = false;
    int sample = 0;
    while (System.nanoTime() < outageEnd) {
      if (receiver.isBlackHole() || System.nanoTime() < blackHoleAt) {
        Thread.sleep(Math.min(SAMPLE_INTERVAL.toMillis(),
            TimeUnit.NANOSECONDS.toMillis(Math.max(0, outageEnd - System.nanoTime()))));
      } else {
        lostAtBlackHole = lost();
        phase.set(Phase.BLACK_HOLE);
        receiver.blackHole();
      }
      sample++;
      long queued = agent.metric("wirespan_export_queue_spans");
      assertThat(queued).as("export queue at sample %d", sample).isBetween(0L, (long) QUEUE_CAPACITY_SPANS);
      assertThat(agent.get("/healthz").statusCode())
          .as("/healthz during the outage\n%s", agent.output()).isEqualTo(200);
      HttpResponse<String> ready = agent.get("/readyz");
      assertThat(ready.statusCode()).as("/readyz during the outage: %s", ready.body()).isEqualTo(200);
      if (sample % HEAP_SAMPLE_EVERY == 0) {
        heap.add(heapAfterFullCollection(agent));
      }
      stuckSeenUnhealthy |= stuck.get("/healthz").statusCode() == 503;
    }
    assertThat(trafficFailure.get()).as("traffic failure").isNull();
    long lostAtEnd = lost();
    System.out.printf("outage of %s: %d requests, export losses %d -> %d -> %d, heap after GC %s%n",
        outage, requests.values().stream().mapToInt(AtomicInteger::get).sum(), lostBefore,
        lostAtBlackHole, lostAtEnd, heap);
    assertThat(lostAtBlackHole).as("losses counted while refused").isGreaterThan(lostBefore);
    assertThat(lostAtEnd).as("losses counted in the black hole").isGreaterThan(lostAtBlackHole);
    assertThat(agent.get("/readyz").body()).contains("export failing");
    // The heap the agent keeps does not grow with the outage: every reading stays within a fixed
    // budget of the first one (taken when the queue had long been full).
    assertThat(heap).as("heap after a full collection, sampled").hasSizeGreaterThanOrEqualTo(2);
    assertThat(heap).as("heap after a full collection, sampled (first is the reference): %s", heap)
        .allSatisfy(h -> assertThat(h).isLessThanOrEqualTo(heap.get(0) + HEAP_GROWTH_BUDGET_BYTES));

    // The collector comes back on the same port: export resumes by itself.
    phase.set(Phase.RESUMING);
    receiver.restart();
    awaitDelivered(Phase.RESUMING, 1, Long.MAX_VALUE);
    long lostAllAtResume = lostAnywhere();
    phase.set(Phase.RESUMED);
    Thread.sleep(AFTER_RESUME.toMillis());
    trafficOn = false;
    for (Thread t : traffic) {
      t.join(TimeUnit.SECONDS.toMillis(10));
    }
    assertThat(trafficFailure.get()).as("traffic failure").isNull();
    int afterResume = requests.get(Phase.RESUMED).get();
    assertThat(afterResume).isPositive();
    // Every span of a request made once export had resumed is delivered. (Other traffic on the
    // host can flood the agent meanwhile; what that costs is counted, never silent.)
    long resumedSpans = (long) SPANS_PER_REQUEST * afterResume;
    awaitDelivered(Phase.RESUMED, resumedSpans, lostAllAtResume);
    assertThat(delivered(Phase.RESUMED)).isLessThanOrEqualTo(resumedSpans);
    // Every span made before export resumed is delivered or counted as lost, none silently. (An
    // export that timed out on the agent's side may still have arrived, and a retry may deliver a
    // batch twice: distinct spans are counted, and the overlap is allowed.)
    long spansBefore = 0;
    long deliveredBefore = 0;
    for (Phase p : Phase.values()) {
      if (p.beforeResume()) {
        spansBefore += (long) SPANS_PER_REQUEST * requests.get(p).get();
        deliveredBefore += delivered(p);
        assertThat(delivered(p)).as("distinct spans of %s", p)
            .isLessThanOrEqualTo(SPANS_PER_REQUEST * requests.get(p).get());
      }
    }
    assertThat(deliveredBefore + lostAnywhere())
        .as("distinct spans made before export resumed, delivered + counted as lost")
        .isGreaterThanOrEqualTo(spansBefore);
    assertThat(agent.get("/healthz").statusCode()).isEqualTo(200);
    awaitReadyzSays(agent, "export ok");
    assertThat(agent.metric("wirespan_worker_restarts_total{worker=\"export\"}")).isZero();

    // The other agent: its export worker has been stuck in one write since the pipe filled.
    long reportDeadline = stuckStarted + STUCK_REPORTED_WITHIN.toNanos();
    while (!stuckSeenUnhealthy && System.nanoTime() < reportDeadline) {
      Thread.sleep(SAMPLE_INTERVAL.toMillis());
      stuckSeenUnhealthy = stuck.get("/healthz").statusCode() == 503;
    }
    HttpResponse<String> stuckHealth = stuck.get("/healthz");
    assertThat(stuckHealth.statusCode()).as("/healthz of the stuck agent: %s\n%s",
        stuckHealth.body(), stuck.output()).isEqualTo(503);
    assertThat(stuckHealth.body()).contains("span export worker has taken none");
    assertThat(stuck.get("/readyz").statusCode()).isEqualTo(200);
    drainPipe();
    long healthyDeadline = System.nanoTime() + DELIVERY_WAIT.toNanos();
    while (stuck.get("/healthz").statusCode() != 200 && System.nanoTime() < healthyDeadline) {
      Thread.sleep(200);
    }
    assertThat(stuck.get("/healthz").statusCode()).as("once the pipe is read again").isEqualTo(200);
  }

  /** A second agent writing jsonl into a pipe that is held open but not read. */
  private void startStuckAgent() throws IOException, InterruptedException {
    pipe = Files.createTempDirectory("wirespan-soak").resolve("spans.pipe");
    Process mkfifo = new ProcessBuilder("mkfifo", pipe.toString()).inheritIO().start();
    assertThat(mkfifo.waitFor()).isZero();
    pipeHeld = new RandomAccessFile(pipe.toFile(), "rw"); // a reader exists: the agent's open returns
    stuck = AgentProcess.start(concat(
        List.of("--exporter", "jsonl", "--jsonl-file", pipe.toString()), BOUNDS));
  }

  private void drainPipe() throws IOException {
    InputStream reader = new FileInputStream(pipe.toFile()); // a writer exists: does not block
    pipeHeld.close();
    pipeHeld = null;
    pipeDrain = new Thread(() -> {
      try (reader) {
        reader.transferTo(OutputStream.nullOutputStream()); // until the agent closes its end
      } catch (IOException e) {
        // the agent is gone
      }
    }, "soak-pipe-drain");
    pipeDrain.setDaemon(true);
    pipeDrain.start();
  }

  /** Requests at a steady pace on one keep-alive connection until told to stop. */
  private void traffic() {
    try (KeepAliveClient client = new KeepAliveClient("127.0.0.1", server.getAddress().getPort())) {
      long next = System.nanoTime();
      while (trafficOn) {
        Phase p = phase.get();
        int status = client.get(p.path(requests.get(p).getAndIncrement()));
        if (status != 200) {
          throw new IOException("status " + status);
        }
        next += REQUEST_INTERVAL_NANOS;
        LockSupport.parkNanos(next - System.nanoTime());
      }
    } catch (Throwable e) {
      trafficFailure.set(e);
    }
  }

  /** Spans the export stage counted as lost. */
  private long lost() throws IOException, InterruptedException {
    return agent.metric(LOST_QUEUE_FULL) + agent.metric(LOST_EXPORT_FAILED);
  }

  /** Losses counted anywhere in the pipeline, kernel to export. */
  private long lostAnywhere() throws IOException, InterruptedException {
    long sum = 0;
    for (String line : agent.get("/metrics").body().split("\n")) {
      if (line.startsWith(LOST_FAMILY + "{")) {
        sum += Long.parseLong(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  /**
   * The agent's heap right after a full collection, asked for from outside (the agent itself never
   * forces one): the live set, free of the garbage that happens to be left at a sample.
   */
  private static long heapAfterFullCollection(AgentProcess agent)
      throws IOException, InterruptedException {
    Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    Process p = new ProcessBuilder(jcmd.toString(), Long.toString(agent.pid()), "GC.run")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(JCMD_TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("jcmd GC.run: %s", out).isZero();
    return agent.metric(JvmHeapMetrics.METRIC_HEAP_AFTER_GC);
  }

  /** Distinct spans of one phase's requests that reached the collector. */
  private long delivered(Phase p) {
    String prefix = p.prefix();
    Set<String> ids = new HashSet<>();
    for (ReceivedSpan s : receiver.spans()) {
      Optional<String> where = s.attribute("url.path").or(() -> s.attribute("url.full"));
      if (where.map(w -> w.contains(prefix)).orElse(false)) {
        ids.add(s.traceId() + s.spanId());
      }
    }
    return ids.size();
  }

  /**
   * Waits until {@code count} spans of phase {@code p} are delivered, or fewer plus as many losses
   * counted (any stage) since {@code lostSince} (a {@link #lostAnywhere()} reading).
   */
  private void awaitDelivered(Phase p, long count, long lostSince)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + DELIVERY_WAIT.toNanos();
    while (delivered(p) + Math.max(0, lostAnywhere() - lostSince) < count
        && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertThat(delivered(p) + Math.max(0, lostAnywhere() - lostSince))
        .as("spans of %s delivered (+ losses counted meanwhile)\n%s", p, agent.output())
        .isGreaterThanOrEqualTo(count);
  }

  private static void awaitReadyzSays(AgentProcess agent, String text)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + DELIVERY_WAIT.toNanos();
    while (!agent.get("/readyz").body().contains(text) && System.nanoTime() < deadline) {
      Thread.sleep(200);
    }
    assertThat(agent.get("/readyz").body()).contains(text);
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }
}
