package dev.wirespan.testing;

import static org.assertj.core.api.Assumptions.assumeThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The real agent ({@code dev.wirespan.agent.WirespanCommand}) started as a separate JVM on the
 * test's class path, so that the test JVM's own traffic is traced (the agent never traces its own
 * process). Its output goes to a file shown when a test fails.
 */
public final class AgentProcess implements AutoCloseable {
  /**
   * Agents started by this JVM and not stopped yet. A test JVM that ends without stopping them (a
   * failed assertion before the stop, an out-of-memory error in the fork) kills them on its way
   * out: a left-over agent would keep tracing the whole host, every later test and run included.
   */
  private static final java.util.Set<Process> RUNNING = java.util.concurrent.ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(() -> RUNNING.forEach(Process::destroyForcibly), "agent-process-reaper"));
  }

  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);
  /** Enough of the agent's log to explain a failure, without flooding the report. */
  private static final int MAX_OUTPUT_CHARS = 64 * 1024;

  private final Process process;
  private final Path log;
  private final int adminPort;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  private AgentProcess(Process process, Path log, int adminPort) {
    this.process = process;
    this.log = log;
    this.adminPort = adminPort;
  }

  /** Skips the calling test when BPF cannot be used here, unless CI=true (then it must run). */
  public static void assumeBpfAvailable() {
    boolean root = "root".equals(System.getProperty("user.name"));
    if (!"true".equals(System.getenv("CI"))) {
      assumeThat(root).as("needs root to load eBPF programs (set CI=true to force)").isTrue();
    }
  }

  /**
   * Starts the agent with {@code args} (plus its admin address, and {@code --kubernetes disabled}
   * unless args say otherwise) and waits until it is ready.
   */
  public static AgentProcess start(List<String> args) throws IOException, InterruptedException {
    return start(args, Map.of());
  }

  /** As {@link #start(List)}, with extra environment variables (e.g. KUBECONFIG, NODE_NAME). */
  public static AgentProcess start(List<String> args, Map<String, String> environment)
      throws IOException, InterruptedException {
    int adminPort = freePort();
    Path log = Files.createTempFile("wirespan-agent", ".log");
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add("dev.wirespan.agent.WirespanCommand");
    cmd.add("--admin-address");
    cmd.add("127.0.0.1:" + adminPort);
    if (!args.contains("--kubernetes")) {
      cmd.add("--kubernetes");
      cmd.add("disabled");
    }
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    pb.environment().remove("OTEL_SERVICE_NAME");
    pb.environment().putAll(environment);
    Process started = pb.start();
    RUNNING.add(started);
    AgentProcess agent = new AgentProcess(started, log, adminPort);
    agent.awaitReady();
    return agent;
  }

  private void awaitReady() throws IOException, InterruptedException {
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            "agent exited with " + process.exitValue() + " before it was ready:\n" + output());
      }
      try {
        if (get("/readyz").statusCode() == 200) {
          return;
        }
      } catch (IOException notListeningYet) {
        // keep waiting
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("agent not ready after " + READY_TIMEOUT + ":\n" + output());
  }

  public HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + path))
            .timeout(Duration.ofSeconds(5))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** The value of a metric series line (exact name with labels), or -1. */
  public long metric(String series) throws IOException, InterruptedException {
    for (String line : get("/metrics").body().split("\n")) {
      if (line.startsWith(series + " ")) {
        return Long.parseLong(line.substring(series.length() + 1).trim());
      }
    }
    return -1;
  }

  public long pid() {
    return process.pid();
  }

  public Process process() {
    return process;
  }

  /** The agent's output, its last {@value #MAX_OUTPUT_CHARS} characters when longer. */
  public String output() {
    try {
      String all = Files.readString(log);
      return all.length() <= MAX_OUTPUT_CHARS
          ? all
          : "(... " + (all.length() - MAX_OUTPUT_CHARS) + " characters before)\n"
              + all.substring(all.length() - MAX_OUTPUT_CHARS);
    } catch (IOException e) {
      return "(agent output unreadable: " + e + ")";
    }
  }

  /** Sends SIGTERM and waits for the agent to exit; returns its exit code. */
  public int stop() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor();
      RUNNING.remove(process);
      throw new IllegalStateException("agent did not stop within " + STOP_TIMEOUT + ":\n" + output());
    }
    RUNNING.remove(process);
    return process.exitValue();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      stop();
    }
  }

  /**
   * A port of 127.0.0.1 free now, below the kernel's ephemeral range: tests close a listener and
   * bind its port again later, and an ephemeral port left unbound meanwhile can be taken as the
   * source port of any outgoing connection on the host (the agent's own reconnects included).
   */
  public static int freePort() throws IOException {
    int ephemeralLow = ephemeralPortsLow();
    if (ephemeralLow > FIRST_TEST_PORT + 1) {
      java.util.concurrent.ThreadLocalRandom random = java.util.concurrent.ThreadLocalRandom.current();
      for (int attempt = 0; attempt < 50; attempt++) {
        int port = random.nextInt(FIRST_TEST_PORT, ephemeralLow);
        try (ServerSocket s = new ServerSocket()) {
          s.bind(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), port));
          return port;
        } catch (IOException taken) {
          // try another
        }
      }
    }
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static final int FIRST_TEST_PORT = 20000;

  private static int ephemeralPortsLow() {
    try {
      String range = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim();
      return Integer.parseInt(range.split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return 0;
    }
  }
}
