package dev.wirespan.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.wirespan.capture.KernelCapture;
import dev.wirespan.testing.AgentProcess;
import dev.wirespan.testing.OtlpTestReceiver;
import dev.wirespan.testing.OtlpTestReceiver.ReceivedSpan;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The whole agent, as a separate process with its real BPF programs in this kernel, tracing a JDK
 * HttpServer, the JDK HttpClient and curl in this JVM over 127.0.0.1 and ::1, exporting over OTLP
 * gRPC to a receiver in this test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AgentEndToEndTest {
  /** How much later a write's exit may be timed than the peer's read of its bytes. */
  private static final long SYSCALL_EXIT_SKEW_NANOS = 1_000_000L;

  private static final Duration SPAN_WAIT = Duration.ofSeconds(20);
  private static final int LARGE_BODY_BYTES = 1 << 20;
  private static final int CHUNKED_BODY_BYTES = 300_000;
  private static final int SLEEP_MILLIS = 50;

  private OtlpTestReceiver receiver;
  private HttpServer server4;
  private HttpServer server6;
  private ServerSocket binaryServer;
  private Socket earlyConnection;
  private AgentProcess agent;
  private final HttpClient client =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  void startServersAndAgent() throws Exception {
    AgentProcess.assumeBpfAvailable();
    receiver = OtlpTestReceiver.startGrpc();
    server4 = startServer(InetAddress.getByName("127.0.0.1"));
    server6 = startServer(InetAddress.getByName("::1"));
    binaryServer = startBinaryEchoServer();

    // A keep-alive connection opened, and used once, before the agent starts.
    earlyConnection = new Socket("127.0.0.1", server4.getAddress().getPort());
    assertThat(rawRequest(earlyConnection, "/early/before")).startsWith("HTTP/1.1 200");

    agent =
        AgentProcess.start(
            List.of("--exporter", "otlp,console", "--otlp-endpoint", receiver.endpoint()));
  }

  @AfterAll
  void stopAll() throws Exception {
    if (agent != null) {
      int code = agent.stop();
      // 143 = 128 + SIGTERM: the JVM's status when it ends on the signal after its shutdown
      // hook (detach, flush) has run; the last status line shows the hook completed.
      assertThat(code).as("agent exit code after SIGTERM:\n%s", agent.output()).isIn(0, 143);
      assertThat(agent.output()).contains("stopping: detaching programs and flushing spans");
      assertThat(agent.output().substring(agent.output().indexOf("stopping:"))).contains("status:");
    }
    if (earlyConnection != null) {
      earlyConnection.close();
    }
    if (binaryServer != null) {
      binaryServer.close();
    }
    if (server4 != null) {
      server4.stop(0);
      server6.stop(0);
    }
    if (receiver != null) {
      receiver.close();
    }
  }

  @Test
  void theStartUpWarmupRanAndNoneOfItsSyntheticSpansLeftTheAgent() throws Exception {
    assertThat(agent.output()).contains("pipeline warmed up in");
    // The warm-up's spans are counted in its own metrics, never in the agent's.
    assertThat(agent.metric("wirespan_spans_exported_total"))
        .isBetween(0L, PipelineWarmup.TARGET_SPANS - 1);
    // Real traffic of other tests gets through meanwhile: the synthetic spans would be there too.
    String token = token();
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(uri(server4, "/after-warmup/" + token)).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    awaitSpans(pathContains(token), 2);
    assertThat(receiver.spans())
        .noneMatch(s -> s.attribute("server.address").filter(WARMUP_HOSTS::contains).isPresent());
    assertThat(agent.output()).doesNotContain("shop.example");
  }

  /** Host headers of the warm-up's synthetic traffic ({@code WarmupTraffic}). */
  private static final java.util.Set<String> WARMUP_HOSTS =
      java.util.Set.of("shop.example", "cart", "reports.internal");

  @Test
  void keepAliveRequestsOverIpv4AndIpv6GiveOneServerAndOneClientSpanEach() throws Exception {
    for (HttpServer server : List.of(server4, server6)) {
      String token = token();
      String host = server == server4 ? "127.0.0.1" : "[::1]";
      String peer = server == server4 ? "127.0.0.1" : "::1";
      int port = server.getAddress().getPort();
      for (int i = 0; i < 3; i++) {
        HttpResponse<String> r =
            client.send(
                HttpRequest.newBuilder(URI.create("http://" + host + ":" + port + "/users/" + (1000 + i) + "/" + token + "?page=" + i))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
      }
      List<ReceivedSpan> spans = awaitSpans(pathContains(token), 6);
      List<ReceivedSpan> servers = ofKind(spans, Span.SpanKind.SPAN_KIND_SERVER);
      List<ReceivedSpan> clients = ofKind(spans, Span.SpanKind.SPAN_KIND_CLIENT);
      assertThat(servers).hasSize(3);
      assertThat(clients).hasSize(3);
      for (ReceivedSpan s : spans) {
        assertThat(s.name()).isEqualTo("GET /users/{id}/" + token);
        assertThat(s.attribute("http.request.method")).hasValue("GET");
        assertThat(s.attribute("http.response.status_code")).hasValue("200");
        assertThat(s.attribute("network.protocol.version")).hasValue("1.1");
        assertThat(s.attribute("server.port")).hasValue(Integer.toString(port));
        assertThat(s.attribute("network.peer.address")).hasValue(peer);
        assertThat(s.attribute("user_agent.original")).hasValueSatisfying(ua -> assertThat(ua).startsWith("Java-http-client"));
        assertThat(s.resourceAttribute("process.pid")).hasValue(Long.toString(ProcessHandle.current().pid()));
        assertThat(s.span().getStatus().getCode().getNumber()).isZero(); // unset
      }
      for (ReceivedSpan s : servers) {
        assertThat(s.attribute("url.path")).hasValueSatisfying(p -> assertThat(p).startsWith("/users/10").endsWith(token));
        assertThat(s.attribute("url.query")).hasValueSatisfying(q -> assertThat(q).startsWith("page="));
        assertThat(s.attribute("url.scheme")).hasValue("http");
        assertThat(s.attribute("network.peer.port")).isPresent();
        assertThat(s.attribute("client.port")).isEmpty();
        assertThat(s.attribute("client.address")).hasValue(peer);
      }
      for (ReceivedSpan c : clients) {
        assertThat(c.attribute("url.full"))
            .hasValueSatisfying(u -> assertThat(u).startsWith("http://" + host + ":" + port + "/users/10").contains(token + "?page="));
        assertThat(c.attribute("network.peer.port")).hasValue(Integer.toString(port));
      }
      // Same-host pairs join: each SERVER span is the child of its CLIENT span, nested in time.
      for (ReceivedSpan s : servers) {
        ReceivedSpan c =
            clients.stream()
                .filter(x -> x.attribute("url.full").orElseThrow().endsWith(s.attribute("url.path").orElseThrow() + "?" + s.attribute("url.query").orElseThrow()))
                .findFirst()
                .orElseThrow();
        assertThat(s.traceId()).isEqualTo(c.traceId());
        assertThat(s.parentSpanId()).isEqualTo(c.spanId());
        // Events are timed at syscall exit: on loopback the server may read the first request
        // byte before the client's write call returns, and the client the last response byte
        // before the server's (seen: 4 us), never by much.
        assertThat(s.span().getStartTimeUnixNano())
            .isGreaterThanOrEqualTo(c.span().getStartTimeUnixNano() - SYSCALL_EXIT_SKEW_NANOS);
        assertThat(s.span().getEndTimeUnixNano())
            .isLessThanOrEqualTo(c.span().getEndTimeUnixNano() + SYSCALL_EXIT_SKEW_NANOS);
      }
    }
  }

  @Test
  void handlerThatSleeps50msGivesSpansOfAtLeast50ms() throws Exception {
    String token = token();
    get(server4, "/sleep/" + token);
    List<ReceivedSpan> spans = awaitSpans(pathContains(token), 2);
    for (ReceivedSpan s : spans) {
      long nanos = s.span().getEndTimeUnixNano() - s.span().getStartTimeUnixNano();
      assertThat(nanos).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(SLEEP_MILLIS));
      assertThat(nanos).isLessThan(TimeUnit.SECONDS.toNanos(10));
    }
  }

  @Test
  void oneMebibyteRequestBodyAndChunkedResponseAreFramedByTheirRealSizes() throws Exception {
    String token = token();
    byte[] body = new byte[LARGE_BODY_BYTES];
    new java.util.Random(7).nextBytes(body);
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(uri(server4, "/upload/" + token))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.body()).isEqualTo(Integer.toString(LARGE_BODY_BYTES));
    HttpResponse<byte[]> chunked =
        client.send(HttpRequest.newBuilder(uri(server4, "/chunked/" + token)).build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(chunked.body()).hasSize(CHUNKED_BODY_BYTES);
    // The connection carries on after both: a third exchange on it is decoded too.
    get(server4, "/after/" + token);

    List<ReceivedSpan> spans = awaitSpans(pathContains(token), 6);
    List<ReceivedSpan> uploads = spans.stream().filter(pathContains("/upload/")).toList();
    assertThat(uploads).hasSize(2).allSatisfy(s -> {
      assertThat(s.attribute("http.request.method")).hasValue("POST");
      assertThat(s.attribute("http.request.body.size")).hasValue(Integer.toString(LARGE_BODY_BYTES));
      assertThat(s.attribute("http.response.status_code")).hasValue("200");
    });
    List<ReceivedSpan> chunks = spans.stream().filter(pathContains("/chunked/")).toList();
    assertThat(chunks).hasSize(2).allSatisfy(s ->
        assertThat(s.attribute("http.response.status_code")).hasValue("200"));
    // The server writes each chunk in one write: its head and tail hold the framing, so the
    // body is followed to its end. The client reads 16 KiB at a time: chunk headers fall in the
    // part of a read that is not copied, and the span must then say it is incomplete, not lie.
    ReceivedSpan chunkedServer = ofKind(chunks, Span.SpanKind.SPAN_KIND_SERVER).get(0);
    assertThat(chunkedServer.attribute("http.response.body.size")).hasValue(Integer.toString(CHUNKED_BODY_BYTES));
    ReceivedSpan chunkedClient = ofKind(chunks, Span.SpanKind.SPAN_KIND_CLIENT).get(0);
    if (!chunkedClient.attribute("http.response.body.size").equals(java.util.Optional.of(Integer.toString(CHUNKED_BODY_BYTES)))) {
      assertThat(chunkedClient.attribute("wirespan.capture.incomplete")).hasValue("true");
    }
    assertThat(spans.stream().filter(pathContains("/after/"))).hasSize(2);
  }

  @Test
  void curlRequestsAreTracedOnBothSides() throws Exception {
    String token = token();
    Process curl =
        new ProcessBuilder("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", uri(server4, "/curl/" + token).toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(curl.waitFor()).isZero();
    assertThat(out).isEqualTo("200");
    List<ReceivedSpan> spans = awaitSpans(pathContains(token), 2);
    ReceivedSpan c = ofKind(spans, Span.SpanKind.SPAN_KIND_CLIENT).get(0);
    ReceivedSpan s = ofKind(spans, Span.SpanKind.SPAN_KIND_SERVER).get(0);
    assertThat(c.resourceAttribute("service.name")).hasValue("curl");
    assertThat(c.resourceAttribute("process.pid")).hasValue(Long.toString(curl.pid()));
    assertThat(c.attribute("user_agent.original")).hasValueSatisfying(ua -> assertThat(ua).startsWith("curl/"));
    assertThat(s.parentSpanId()).isEqualTo(c.spanId());
  }

  @Test
  @Order(1) // first: the server closes keep-alive connections idle for 30 s
  void connectionOpenedBeforeTheAgentStartedIsTraced() throws Exception {
    assertThat(rawRequest(earlyConnection, "/early/after")).startsWith("HTTP/1.1 200");
    List<ReceivedSpan> spans = awaitSpans(pathContains("/early/after"), 2);
    assertThat(spans).extracting(ReceivedSpan::kind)
        .containsExactlyInAnyOrder(Span.SpanKind.SPAN_KIND_SERVER, Span.SpanKind.SPAN_KIND_CLIENT);
    assertThat(receiver.spans()).noneMatch(pathContains("/early/before"));
  }

  @Test
  void nonHttpTcpTrafficProducesNoSpan() throws Exception {
    try (Socket s = new Socket("127.0.0.1", binaryServer.getLocalPort())) {
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      byte[] hello = {0x16, 0x03, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
      for (int i = 0; i < 5; i++) {
        out.write(hello);
        out.flush();
        assertThat(in.readNBytes(hello.length)).isEqualTo(hello);
      }
      // Plain text that looks like HTTP later on the same connection must not turn it into HTTP.
      out.write("GET /late HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      in.readNBytes(30);
    }
    // A marker exchange after the binary traffic: once its spans are in, the binary
    // connection's events were processed too.
    String token = token();
    get(server4, "/marker/" + token);
    awaitSpans(pathContains(token), 2);
    int binaryPort = binaryServer.getLocalPort();
    assertThat(receiver.spans())
        .noneMatch(s -> s.attribute("server.port").equals(java.util.Optional.of(Integer.toString(binaryPort)))
            || s.attribute("network.peer.port").equals(java.util.Optional.of(Integer.toString(binaryPort))));
  }

  @Test
  void credentialsAndSecretQueryValuesNeverLeaveTheAgent() throws Exception {
    String token = token();
    String[] secrets = {
      "authz-" + UUID.randomUUID(), "cookie-" + UUID.randomUUID(), "proxy-" + UUID.randomUUID(),
      "setcookie-" + UUID.randomUUID(), "pw-" + UUID.randomUUID(), "apikey-" + UUID.randomUUID()
    };
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(uri(server4, "/secret/" + token + "?password=" + secrets[4] + "&api_key=" + secrets[5] + "&q=visible"))
                .header("Authorization", "Bearer " + secrets[0])
                .header("Cookie", "session=" + secrets[1])
                .header("Proxy-Authorization", "Basic " + secrets[2])
                .header("X-Set-Cookie-Value", secrets[3])
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Set-Cookie")).hasValue("id=" + secrets[3]);
    List<ReceivedSpan> spans = awaitSpans(pathContains(token), 2);
    assertThat(spans).allSatisfy(s -> assertThat(s.attribute("url.query").or(() -> s.attribute("url.full")))
        .hasValueSatisfying(q -> assertThat(q).contains("q=visible").contains("REDACTED")));
    // Every byte the agent exported (the host's other traffic included), one request at a time.
    for (ExportTraceServiceRequest req : receiver.requests()) {
      String exported = new String(req.toByteArray(), StandardCharsets.ISO_8859_1);
      for (String secret : secrets) {
        assertThat(exported).doesNotContain(secret);
      }
    }
  }

  @Test
  void metricsCountWhatWasReadAndExported() throws Exception {
    String token = token();
    get(server4, "/metrics-check/" + token);
    awaitSpans(pathContains(token), 2);
    String metrics = agent.get("/metrics").body();
    assertThat(metrics).contains("wirespan_events_total").contains("wirespan_lost_total{stage=\"kernel\",cause=\"ringbuf_full\"}");
    // The build of the BPF programs that runs: by default the kfunc one where the kernel has it.
    String variant = KernelCapture.kernelHasKfunc() ? "kfunc" : "portable";
    assertThat(metrics).contains("wirespan_kernel_programs_info{variant=\"" + variant + "\"} 1");
    assertThat(agent.metric("wirespan_events_total")).isPositive();
    assertThat(agent.metric("wirespan_spans_exported_total")).isPositive();
    assertThat(agent.get("/healthz").statusCode()).isEqualTo(200);
    assertThat(agent.get("/readyz").statusCode()).isEqualTo(200);
  }

  // --- helpers -----------------------------------------------------------------------------

  private List<ReceivedSpan> awaitSpans(Predicate<ReceivedSpan> filter, int count) throws InterruptedException {
    long deadline = System.nanoTime() + SPAN_WAIT.toNanos();
    List<ReceivedSpan> found = List.of();
    while (System.nanoTime() < deadline) {
      found = receiver.spans().stream().filter(filter).toList();
      if (found.size() >= count) {
        Thread.sleep(300); // let duplicates, if any, arrive so that the count is checked exactly
        found = receiver.spans().stream().filter(filter).toList();
        assertThat(found).as("spans matching (agent output:\n%s)", agent.output()).hasSize(count);
        return found;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("expected " + count + " spans, got " + found.size() + ": "
        + found.stream().map(s -> s.kind() + " " + s.name() + " " + s.attributes()).toList()
        + "\nagent output:\n" + agent.output());
  }

  private static Predicate<ReceivedSpan> pathContains(String text) {
    return s -> s.attribute("url.path").or(() -> s.attribute("url.full")).map(p -> p.contains(text)).orElse(false);
  }

  private static List<ReceivedSpan> ofKind(List<ReceivedSpan> spans, Span.SpanKind kind) {
    return spans.stream().filter(s -> s.kind() == kind).toList();
  }

  private static String token() {
    // letters only, so that route templating keeps it literal
    String hex = UUID.randomUUID().toString().replaceAll("[^a-f]", "");
    return "t" + hex.substring(0, Math.min(8, hex.length()));
  }

  private void get(HttpServer server, String path) throws IOException, InterruptedException {
    HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri(server, path)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
  }

  private static URI uri(HttpServer server, String path) {
    InetSocketAddress a = server.getAddress();
    String host = a.getAddress().getHostAddress();
    host = host.contains(":") ? "[" + host.replaceAll("%.*", "") + "]" : host;
    return URI.create("http://" + host + ":" + a.getPort() + path);
  }

  private static String rawRequest(Socket socket, String path) throws IOException {
    OutputStream out = socket.getOutputStream();
    out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: raw-socket\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.flush();
    InputStream in = socket.getInputStream();
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("connection closed: " + head);
      }
      head.append((char) b);
    }
    int length = 0;
    for (String line : head.toString().split("\r\n")) {
      if (line.toLowerCase().startsWith("content-length:")) {
        length = Integer.parseInt(line.substring(15).trim());
      }
    }
    in.readNBytes(length);
    return head.toString();
  }

  private static HttpServer startServer(InetAddress address) throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress(address, 0), 0);
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.createContext("/", ex -> {
      String path = ex.getRequestURI().getPath();
      byte[] in = ex.getRequestBody().readAllBytes();
      try {
        if (path.startsWith("/sleep/")) {
          Thread.sleep(SLEEP_MILLIS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (path.startsWith("/secret/")) {
        ex.getResponseHeaders().add("Set-Cookie", "id=" + ex.getRequestHeaders().getFirst("X-Set-Cookie-Value"));
      }
      if (path.startsWith("/chunked/")) {
        ex.sendResponseHeaders(200, 0); // 0 = chunked
        try (OutputStream os = ex.getResponseBody()) {
          byte[] piece = new byte[10_000];
          for (int i = 0; i < CHUNKED_BODY_BYTES / piece.length; i++) {
            os.write(piece);
            os.flush();
          }
        }
        return;
      }
      byte[] body = (path.startsWith("/upload/") ? Integer.toString(in.length) : "ok " + path).getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream os = ex.getResponseBody()) {
        os.write(body);
      }
    });
    server.start();
    return server;
  }

  private static ServerSocket startBinaryEchoServer() throws IOException {
    ServerSocket ss = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    Thread t = new Thread(() -> {
      while (!ss.isClosed()) {
        try (Socket s = ss.accept()) {
          InputStream in = s.getInputStream();
          OutputStream out = s.getOutputStream();
          byte[] buf = new byte[4096];
          int n;
          while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
            out.flush();
          }
        } catch (IOException closed) {
          // server closed or peer gone
        }
      }
    }, "binary-echo");
    t.setDaemon(true);
    t.start();
    return ss;
  }

  @SuppressWarnings("unused")
  private static List<String> lines(String s) {
    return new ArrayList<>(List.of(s.split("\n")));
  }
}
