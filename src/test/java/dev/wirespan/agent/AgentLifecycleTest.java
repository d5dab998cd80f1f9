package dev.wirespan.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.wirespan.testing.AgentProcess;
import dev.wirespan.testing.OtlpTestReceiver;
import dev.wirespan.testing.OtlpTestReceiver.ReceivedSpan;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The agent process's own faults: stopped cleanly or killed, restarted while traffic flows, its
 * collector gone and back. Checked against the kernel's own listing of BPF objects.
 */
class AgentLifecycleTest {
  private static final Duration SPAN_WAIT = Duration.ofSeconds(20);
  private static final ObjectMapper JSON = new ObjectMapper();

  private HttpServer server;
  private OtlpTestReceiver receiver;
  /** The agent of the running test, whose output explains a failure. */
  private AgentProcess agentUnderTest;

  @BeforeEach
  void startServer() throws IOException {
    AgentProcess.assumeBpfAvailable();
    server = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 0);
    server.setExecutor(Executors.newFixedThreadPool(2));
    server.createContext(
        "/",
        ex -> {
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
  void stopServer() {
    if (server != null) {
      server.stop(0);
    }
    if (receiver != null) {
      receiver.close();
    }
  }

  @Test
  void noProgramLinkOrMapIsLeftAfterACleanStopOrAKill() throws Exception {
    Set<Long> programsBefore = bpfIds("prog");
    Set<Long> mapsBefore = bpfIds("map");
    for (boolean kill : new boolean[] {false, true}) {
      AgentProcess agent = AgentProcess.start(otlpArgs());
      // Exactly the agent's objects: those its file descriptors hold (other processes may load
      // programs meanwhile), and that the kernel lists as new.
      Set<Long> programs = intersection(heldIds(agent.pid(), "prog_id"), difference(bpfIds("prog"), programsBefore));
      Set<Long> maps = intersection(heldIds(agent.pid(), "map_id"), difference(bpfIds("map"), mapsBefore));
      assertThat(programs).as("programs the agent loaded").hasSizeGreaterThanOrEqualTo(20);
      assertThat(maps).as("maps the agent created").isNotEmpty();
      if (kill) {
        agent.process().destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      } else {
        assertThat(agent.stop()).isIn(0, 143);
      }
      // The kernel frees programs and maps once their last fd and link are gone.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (System.nanoTime() < deadline
          && (!intersection(bpfIds("prog"), programs).isEmpty()
              || !intersection(bpfIds("map"), maps).isEmpty())) {
        Thread.sleep(100);
      }
      assertThat(intersection(bpfIds("prog"), programs)).as("programs left after " + (kill ? "SIGKILL" : "SIGTERM")).isEmpty();
      assertThat(intersection(bpfIds("map"), maps)).as("maps left after " + (kill ? "SIGKILL" : "SIGTERM")).isEmpty();
    }
  }

  @Test
  void keepAliveConnectionIsTracedAgainAfterTheAgentRestarts() throws Exception {
    try (Socket connection = new Socket("127.0.0.1", server.getAddress().getPort())) {
      AgentProcess first = AgentProcess.start(otlpArgs());
      agentUnderTest = first;
      request(connection, "/restart/one");
      awaitSpans("/restart/one", 2);
      assertThat(first.stop()).isIn(0, 143);
      request(connection, "/restart/untraced"); // while no agent runs
      AgentProcess second = AgentProcess.start(otlpArgs());
      agentUnderTest = second;
      try {
        request(connection, "/restart/two");
        List<ReceivedSpan> spans = awaitSpans("/restart/two", 2);
        assertThat(spans).extracting(s -> s.attribute("http.response.status_code").orElse(""))
            .containsOnly("200");
      } finally {
        second.stop();
      }
      assertThat(matching("/restart/untraced")).isEmpty();
    }
  }

  @Test
  void sigtermFlushesTheSpansStillQueued() throws Exception {
    // A long schedule would hold spans in the queue; SIGTERM must flush them before exit.
    AgentProcess agent = AgentProcess.start(otlpArgs());
    try (Socket connection = new Socket("127.0.0.1", server.getAddress().getPort())) {
      for (int i = 0; i < 20; i++) {
        request(connection, "/flush/" + i);
      }
    }
    // Give the capture thread time to read the events, not the exporter time to send them.
    Thread.sleep(300);
    long stopStarted = System.nanoTime();
    assertThat(agent.stop()).isIn(0, 143);
    assertThat(Duration.ofNanos(System.nanoTime() - stopStarted)).isLessThan(Duration.ofSeconds(25));
    assertThat(matching("/flush/")).hasSize(40);
  }

  @Test
  void collectorDownThenBackLosesOnlyCountedSpansAndExportResumes() throws Exception {
    AgentProcess agent =
        AgentProcess.start(
            List.of("--exporter", "otlp", "--otlp-endpoint", receiver.endpoint(), "--otlp-timeout", "1s", "--span-queue-size", "16"));
    agentUnderTest = agent;
    try (Socket connection = new Socket("127.0.0.1", server.getAddress().getPort())) {
      // Traffic of other processes on the host shares the 16-span queue: ask until one pair lands.
      requestUntilSpans(connection, "/collector/up");
      receiver.stop();
      for (int i = 0; i < 60; i++) {
        request(connection, "/collector/down/" + i);
      }
      // With the collector gone the queue (16 spans) overflows: the overflow is counted.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < deadline && lost(agent) < 120 - 16) {
        Thread.sleep(200);
      }
      assertThat(lost(agent)).isGreaterThanOrEqualTo(120 - 16);
      receiver.restart();
      requestUntilSpans(connection, "/collector/back");
      // Every span of the outage is either delivered or counted as lost, none silently. (An
      // export that timed out on our side may still have reached the collector, and OTLP
      // retries may deliver a batch twice: count distinct spans, and allow the overlap.)
      deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < deadline && distinct(matching("/collector/down/")) + lost(agent) < 120) {
        Thread.sleep(200);
      }
      assertThat(distinct(matching("/collector/down/")) + lost(agent))
          .as("distinct spans delivered + counted as lost")
          .isGreaterThanOrEqualTo(120);
      assertThat(distinct(matching("/collector/down/"))).isLessThanOrEqualTo(120);
      assertThat(agent.metric("wirespan_export_queue_spans")).isLessThanOrEqualTo(16);
    } finally {
      agent.stop();
    }
  }

  @Test
  void aCollectorThatAcceptsButNeverAnswersCostsBoundedQueueAndCountedLossesOnly() throws Exception {
    // A black hole: connections are accepted and read, nothing is ever answered.
    int port = AgentProcess.freePort();
    java.net.ServerSocket hole = new java.net.ServerSocket(port, 50, InetAddress.getByName("127.0.0.1"));
    List<Socket> held = new java.util.concurrent.CopyOnWriteArrayList<>();
    Thread acceptor =
        new Thread(
            () -> {
              while (!hole.isClosed()) {
                try {
                  Socket s = hole.accept();
                  held.add(s);
                  Thread reader = new Thread(() -> {
                    try {
                      s.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
                    } catch (IOException closed) {
                      // the agent gave up on this connection
                    }
                  });
                  reader.setDaemon(true);
                  reader.start();
                } catch (IOException closed) {
                  return;
                }
              }
            },
            "black-hole");
    acceptor.setDaemon(true);
    acceptor.start();
    AgentProcess agent =
        AgentProcess.start(
            List.of("--exporter", "otlp", "--otlp-endpoint", "http://127.0.0.1:" + port,
                "--otlp-timeout", "1s", "--span-queue-size", "16"));
    agentUnderTest = agent;
    OtlpTestReceiver back = null;
    try (Socket connection = new Socket("127.0.0.1", server.getAddress().getPort())) {
      for (int i = 0; i < 60; i++) {
        request(connection, "/hole/" + i);
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < deadline && lost(agent) < 120 - 16) {
        Thread.sleep(200);
      }
      assertThat(lost(agent)).as("spans counted as lost while the collector hangs").isGreaterThanOrEqualTo(120 - 16);
      assertThat(agent.metric("wirespan_export_queue_spans")).isLessThanOrEqualTo(16);
      assertThat(agent.get("/healthz").statusCode()).isEqualTo(200);
      // The collector comes back on the same address: export resumes.
      hole.close();
      for (Socket s : held) {
        s.close();
      }
      back = OtlpTestReceiver.start(OtlpTestReceiver.Transport.GRPC, port);
      OtlpTestReceiver receiverBack = back;
      long resumeDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      boolean resumed = false;
      while (!resumed && System.nanoTime() < resumeDeadline) {
        request(connection, "/hole/back");
        Thread.sleep(1000);
        resumed = receiverBack.spans().stream()
            .anyMatch(sp -> sp.attribute("url.path").map(p -> p.equals("/hole/back")).orElse(false));
      }
      assertThat(resumed).as("export resumed after the collector came back\n" + agent.output()).isTrue();
    } finally {
      agent.stop();
      hole.close();
      if (back != null) {
        back.close();
      }
    }
  }

  private static long distinct(List<ReceivedSpan> spans) {
    return spans.stream().map(s -> s.traceId() + s.spanId()).distinct().count();
  }

  private static long lost(AgentProcess agent) throws Exception {
    return agent.metric("wirespan_lost_total{stage=\"export\",cause=\"queue_full\"}")
        + agent.metric("wirespan_lost_total{stage=\"export\",cause=\"export_failed\"}");
  }

  private List<String> otlpArgs() {
    return List.of("--exporter", "otlp", "--otlp-endpoint", receiver.endpoint());
  }

  private List<ReceivedSpan> matching(String pathPart) {
    return receiver.spans().stream()
        .filter(s -> s.attribute("url.path").or(() -> s.attribute("url.full")).map(p -> p.contains(pathPart)).orElse(false))
        .toList();
  }

  private List<ReceivedSpan> awaitSpans(String pathPart, int count) throws InterruptedException {
    long deadline = System.nanoTime() + SPAN_WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      List<ReceivedSpan> found = matching(pathPart);
      if (found.size() >= count) {
        return found;
      }
      Thread.sleep(50);
    }
    throw new AssertionError(
        "expected " + count + " spans for " + pathPart + ", got " + matching(pathPart)
            + (agentUnderTest == null ? "" : "\nagent output:\n" + agentUnderTest.output()));
  }

  /**
   * Repeats a request until both of its spans arrive (a busy host can overflow a small queue with
   * other processes' spans, or a collector just back can still be in its retry backoff).
   */
  private void requestUntilSpans(Socket connection, String path) throws Exception {
    long deadline = System.nanoTime() + SPAN_WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      request(connection, path);
      long retryAt = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
      while (System.nanoTime() < retryAt) {
        if (matching(path).size() >= 2) {
          return;
        }
        Thread.sleep(50);
      }
    }
    awaitSpans(path, 2);
  }

  private static void request(Socket socket, String path) throws IOException {
    OutputStream out = socket.getOutputStream();
    out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.flush();
    InputStream in = socket.getInputStream();
    byte[] head = new byte[4096];
    int n = 0;
    while (n < 4 || !new String(head, 0, n, StandardCharsets.US_ASCII).contains("\r\n\r\n")) {
      int r = in.read(head, n, head.length - n);
      if (r < 0) {
        throw new IOException("closed");
      }
      n += r;
    }
    String text = new String(head, 0, n, StandardCharsets.US_ASCII);
    int bodyStart = text.indexOf("\r\n\r\n") + 4;
    int length = 0;
    for (String line : text.substring(0, bodyStart).split("\r\n")) {
      if (line.toLowerCase().startsWith("content-length:")) {
        length = Integer.parseInt(line.substring(15).trim());
      }
    }
    in.readNBytes(length - (n - bodyStart));
  }

  private static Set<Long> bpfIds(String kind) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("bpftool", "-j", kind, "show").redirectErrorStream(false).start();
    byte[] out = p.getInputStream().readAllBytes();
    p.waitFor();
    Set<Long> ids = new HashSet<>();
    JsonNode root = JSON.readTree(out);
    if (root != null) {
      root.forEach(n -> ids.add(n.get("id").asLong()));
    }
    return ids;
  }

  /** Ids of the BPF objects of one kind that a process's file descriptors hold. */
  private static Set<Long> heldIds(long pid, String field) throws IOException {
    Set<Long> ids = new HashSet<>();
    java.nio.file.Path fdinfo = java.nio.file.Path.of("/proc", Long.toString(pid), "fdinfo");
    try (var entries = java.nio.file.Files.list(fdinfo)) {
      for (java.nio.file.Path entry : (Iterable<java.nio.file.Path>) entries::iterator) {
        try {
          for (String line : java.nio.file.Files.readAllLines(entry)) {
            if (line.startsWith(field + ":")) {
              ids.add(Long.parseLong(line.substring(field.length() + 1).trim()));
            }
          }
        } catch (IOException closedMeanwhile) {
          // the fd was closed while listing
        }
      }
    }
    return ids;
  }

  private static Set<Long> difference(Set<Long> a, Set<Long> b) {
    Set<Long> d = new HashSet<>(a);
    d.removeAll(b);
    return d;
  }

  private static Set<Long> intersection(Set<Long> a, Set<Long> b) {
    Set<Long> d = new HashSet<>(a);
    d.retainAll(b);
    return d;
  }
}
