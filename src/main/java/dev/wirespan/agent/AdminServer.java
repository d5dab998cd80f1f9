package dev.wirespan.agent;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.wirespan.metrics.AgentMetrics;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * The agent's own HTTP endpoint: {@code /healthz} (is the pipeline alive and making progress),
 * {@code /readyz} (are the kernel programs attached; which optional parts are degraded) and
 * {@code /metrics} (Prometheus text format). The agent's own process is never traced, so its
 * admin traffic produces no spans.
 */
public final class AdminServer implements AutoCloseable {
  /** A probe answer: healthy or not, with a one-line reason per component. */
  public record Status(boolean ok, String detail) {}

  private static final int STOP_DELAY_SECONDS = 0;

  private final HttpServer server;
  private final ExecutorService executor;

  private AdminServer(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  public static AdminServer start(
      InetSocketAddress address,
      AgentMetrics metrics,
      Supplier<Status> health,
      Supplier<Status> readiness)
      throws IOException {
    HttpServer server = HttpServer.create(address, 0);
    ExecutorService executor =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "wirespan-admin");
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(executor);
    server.createContext("/healthz", ex -> respond(ex, health.get()));
    server.createContext("/readyz", ex -> respond(ex, readiness.get()));
    server.createContext(
        "/metrics",
        ex -> {
          StringBuilder sb = new StringBuilder(16 * 1024);
          metrics.writePrometheus(sb);
          send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", sb.toString());
        });
    server.createContext("/", ex -> send(ex, 404, "text/plain", "not found\n"));
    server.start();
    return new AdminServer(server, executor);
  }

  public InetSocketAddress address() {
    return server.getAddress();
  }

  private static void respond(HttpExchange ex, Status status) throws IOException {
    send(ex, status.ok() ? 200 : 503, "text/plain; charset=utf-8", status.detail() + "\n");
  }

  private static void send(HttpExchange ex, int code, String type, String body) throws IOException {
    try (ex) {
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", type);
      if ("HEAD".equals(ex.getRequestMethod())) {
        ex.sendResponseHeaders(code, -1);
        return;
      }
      ex.sendResponseHeaders(code, bytes.length);
      try (OutputStream os = ex.getResponseBody()) {
        os.write(bytes);
      }
    }
  }

  @Override
  public void close() {
    server.stop(STOP_DELAY_SECONDS);
    executor.shutdownNow();
  }
}
