package dev.wirespan.testing;

import com.google.protobuf.ByteString;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.TraceServiceGrpc;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.InstrumentationScope;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPInputStream;

/**
 * An OTLP trace receiver for tests, speaking the real wire protocol on 127.0.0.1: gRPC
 * ({@link #startGrpc()}, grpc-java's Netty server with the opentelemetry-proto service) or
 * http/protobuf ({@link #startHttp()}, the JDK's HTTP server on {@code /v1/traces}, gzip
 * understood). It keeps every request it accepts, can refuse the next few requests with a
 * retryable error ({@link #failNext}), and can be stopped ({@link #stop()}: connections refused) or
 * turned into a black hole ({@link #blackHole()}: connections accepted and read, never answered)
 * and restarted on the same port to play a collector that goes away and comes back.
 *
 * <pre>{@code
 * try (OtlpTestReceiver collector = OtlpTestReceiver.startGrpc()) {
 *   exporter = OtlpGrpcSpanExporter.builder().setEndpoint(collector.endpoint()).build();
 *   ...
 *   List<OtlpTestReceiver.ReceivedSpan> spans = collector.awaitSpans(3, Duration.ofSeconds(10));
 * }
 * }</pre>
 */
public final class OtlpTestReceiver implements AutoCloseable {
  /** The OTLP transport a receiver speaks. */
  public enum Transport {
    GRPC,
    HTTP_PROTOBUF
  }

  public static final String HTTP_TRACES_PATH = "/v1/traces";
  private static final Duration POLL_INTERVAL = Duration.ofMillis(20);
  private static final Duration STOP_GRACE = Duration.ofSeconds(5);
  private static final Duration REBIND_WAIT = Duration.ofSeconds(5);
  private static final int HTTP_OK = 200;
  private static final int HTTP_UNAVAILABLE = 503;
  private static final int HTTP_BAD_REQUEST = 400;
  private static final int HTTP_NOT_ALLOWED = 405;

  private final Transport transport;
  private final List<ExportTraceServiceRequest> requests = new CopyOnWriteArrayList<>();
  private final List<Map<String, String>> headers = new CopyOnWriteArrayList<>();
  private final AtomicInteger failuresToInject = new AtomicInteger();
  private final AtomicInteger refused = new AtomicInteger();
  private final List<Long> refusedAtNanos = new CopyOnWriteArrayList<>();
  private final List<Long> acceptedAtNanos = new CopyOnWriteArrayList<>();
  private int port;
  private Server grpcServer;
  private HttpServer httpServer;
  private ServerSocket hole;
  private final List<Socket> heldByHole = new CopyOnWriteArrayList<>();
  /** Black-hole connections left open across {@link #restartKeepingHeldConnections()}. */
  private final List<Socket> orphaned = new CopyOnWriteArrayList<>();

  private OtlpTestReceiver(Transport transport, int port) {
    this.transport = transport;
    this.port = port;
  }

  /** An OTLP/gRPC receiver on a free port of 127.0.0.1 ({@link #startOnFreePort}). */
  public static OtlpTestReceiver startGrpc() {
    return startOnFreePort(Transport.GRPC);
  }

  /** An OTLP/HTTP (protobuf) receiver on a free port of 127.0.0.1 ({@link #startOnFreePort}). */
  public static OtlpTestReceiver startHttp() {
    return startOnFreePort(Transport.HTTP_PROTOBUF);
  }

  /**
   * A receiver on a free port below the kernel's ephemeral range ({@link AgentProcess#freePort}).
   * Tests stop and restart receivers on the same port while exporters keep connecting: an
   * ephemeral port can meanwhile become the local port of one of those connections, and then the
   * restart cannot bind it, or a connection to it from that very port connects to itself.
   */
  private static OtlpTestReceiver startOnFreePort(Transport transport) {
    RuntimeException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      try {
        return start(transport, AgentProcess.freePort());
      } catch (IOException | RuntimeException e) { // taken between the check and the bind
        last = e instanceof RuntimeException r ? r : new UncheckedIOException((IOException) e);
      }
    }
    throw last;
  }

  /** A receiver on {@code port} (0: ephemeral). */
  public static OtlpTestReceiver start(Transport transport, int port) {
    OtlpTestReceiver receiver = new OtlpTestReceiver(transport, port);
    receiver.listen();
    return receiver;
  }

  public Transport transport() {
    return transport;
  }

  public int port() {
    return port;
  }

  /**
   * The exporter endpoint: {@code http://127.0.0.1:<port>} for gRPC, {@code
   * http://127.0.0.1:<port>/v1/traces} for http/protobuf.
   */
  public String endpoint() {
    String base = "http://127.0.0.1:" + port;
    return transport == Transport.GRPC ? base : base + HTTP_TRACES_PATH;
  }

  /** Whether the receiver is answering export requests. */
  public synchronized boolean isRunning() {
    return grpcServer != null || httpServer != null;
  }

  /**
   * Stops answering but keeps the port: connections are accepted and their bytes read, nothing is
   * ever answered (a collector that hangs, or a network path that swallows packets). {@link
   * #restart()} or {@link #stop()} close the held connections.
   */
  public synchronized void blackHole() {
    stop();
    rebinding(() -> {
      try {
        ServerSocket socket = new ServerSocket();
        socket.setReuseAddress(true);
        try {
          socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        } catch (IOException e) {
          socket.close();
          throw e;
        }
        hole = socket;
      } catch (IOException e) {
        throw new UncheckedIOException("cannot listen on 127.0.0.1:" + port, e);
      }
    });
    ServerSocket listening = hole;
    Thread acceptor = new Thread(() -> swallow(listening), "otlp-black-hole");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** Whether the receiver is a black hole ({@link #blackHole()}). */
  public synchronized boolean isBlackHole() {
    return hole != null;
  }

  private void swallow(ServerSocket listening) {
    while (!listening.isClosed()) {
      Socket s;
      try {
        s = listening.accept();
      } catch (IOException closed) {
        return;
      }
      synchronized (this) {
        if (hole != listening) {
          // stop() or restart() ran between accept and here: it closed the held connections
          // already, so this one would be held open forever (an exporter stuck on it).
          closeQuietly(s);
          return;
        }
        heldByHole.add(s);
      }
      Thread reader =
          new Thread(
              () -> {
                try (InputStream in = s.getInputStream()) {
                  in.transferTo(OutputStream.nullOutputStream());
                } catch (IOException closed) {
                  // the exporter gave up on this connection, or the hole was closed
                }
              },
              "otlp-black-hole-reader");
      reader.setDaemon(true);
      reader.start();
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing a socket nobody reads
    }
  }

  /** Stops listening; exporters then see connection refused. Received data is kept. */
  public synchronized void stop() {
    if (hole != null) {
      try {
        hole.close();
        for (Socket s : heldByHole) {
          s.close();
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      heldByHole.clear();
      hole = null;
    }
    if (grpcServer != null) {
      grpcServer.shutdownNow();
      try {
        grpcServer.awaitTermination(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      grpcServer = null;
    }
    if (httpServer != null) {
      httpServer.stop(0);
      httpServer = null;
    }
  }

  /** Listens again on the same port. */
  public synchronized void restart() {
    stop();
    listen();
  }

  /**
   * Listens again on the same port while the connections the black hole accepted stay open and
   * unanswered: a collector that vanished without resetting its connections (its node died, a
   * network path dropped them) and a replacement reachable at the same address.
   */
  public synchronized void restartKeepingHeldConnections() {
    orphaned.addAll(heldByHole);
    heldByHole.clear();
    restart();
  }

  @Override
  public void close() {
    stop();
    for (Socket s : orphaned) {
      closeQuietly(s);
    }
    orphaned.clear();
  }

  /** The next {@code count} export requests are refused with UNAVAILABLE (gRPC) or 503. */
  public void failNext(int count) {
    failuresToInject.set(count);
  }

  /** Export requests refused by {@link #failNext}. */
  public int refusedRequests() {
    return refused.get();
  }

  /** When each refused request arrived ({@link System#nanoTime()}), in arrival order. */
  public List<Long> refusedAtNanos() {
    return List.copyOf(refusedAtNanos);
  }

  /** When each accepted request arrived ({@link System#nanoTime()}), in arrival order. */
  public List<Long> acceptedAtNanos() {
    return List.copyOf(acceptedAtNanos);
  }

  /** Accepted export requests, in arrival order. */
  public List<ExportTraceServiceRequest> requests() {
    return List.copyOf(requests);
  }

  /** Headers (lowercase names) of each accepted request, in arrival order. */
  public List<Map<String, String>> requestHeaders() {
    return List.copyOf(headers);
  }

  /** Forgets everything received so far. */
  public void clear() {
    requests.clear();
    headers.clear();
    acceptedAtNanos.clear();
  }

  /** Every received span with its resource and scope, in arrival order. */
  public List<ReceivedSpan> spans() {
    return flatten(requests);
  }

  /**
   * Waits until at least {@code count} spans have arrived and returns all received spans.
   *
   * @throws AssertionError when they do not arrive within {@code timeout}
   */
  public List<ReceivedSpan> awaitSpans(int count, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      List<ReceivedSpan> spans = spans();
      if (spans.size() >= count) {
        return spans;
      }
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError(
            "expected " + count + " spans within " + timeout + " but received " + spans.size());
      }
      try {
        Thread.sleep(POLL_INTERVAL.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting for spans", e);
      }
    }
  }

  /** Flattens export requests into spans with their resource and scope. */
  public static List<ReceivedSpan> flatten(List<ExportTraceServiceRequest> requests) {
    List<ReceivedSpan> spans = new ArrayList<>();
    for (ExportTraceServiceRequest request : requests) {
      for (ResourceSpans rs : request.getResourceSpansList()) {
        for (ScopeSpans ss : rs.getScopeSpansList()) {
          for (Span span : ss.getSpansList()) {
            spans.add(new ReceivedSpan(rs.getResource(), ss.getScope(), span));
          }
        }
      }
    }
    return spans;
  }

  /** Listens on the port (again). */
  private synchronized void listen() {
    rebinding(this::bind);
  }

  /**
   * Runs a bind, retried for a moment while the port is still taken: a listening socket closed
   * while another thread waits on it (a selector, an accept) is released only once that thread
   * lets go.
   */
  private void rebinding(Runnable bind) {
    long deadline = System.nanoTime() + REBIND_WAIT.toNanos();
    while (true) {
      try {
        bind.run();
        return;
      } catch (UncheckedIOException e) {
        if (port == 0 || !causedByBind(e) || System.nanoTime() - deadline > 0) {
          throw e;
        }
        try {
          Thread.sleep(POLL_INTERVAL.toMillis());
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
  }

  private static boolean causedByBind(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof BindException) {
        return true;
      }
    }
    return false;
  }

  private void bind() {
    try {
      if (transport == Transport.GRPC) {
        grpcServer =
            NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))
                .addService(ServerInterceptors.intercept(new TraceService(), new HeaderCapture()))
                .build()
                .start();
        port = grpcServer.getPort();
      } else {
        httpServer =
            HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
        httpServer.createContext(HTTP_TRACES_PATH, this::handleHttp);
        httpServer.start();
        port = httpServer.getAddress().getPort();
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot listen on 127.0.0.1:" + port, e);
    }
  }

  private boolean refuse() {
    if (failuresToInject.getAndUpdate(n -> n > 0 ? n - 1 : 0) > 0) {
      refusedAtNanos.add(System.nanoTime());
      refused.incrementAndGet();
      return true;
    }
    return false;
  }

  private void handleHttp(HttpExchange exchange) throws IOException {
    try (exchange) {
      if (!"POST".equals(exchange.getRequestMethod())) {
        exchange.sendResponseHeaders(HTTP_NOT_ALLOWED, -1);
        return;
      }
      byte[] body;
      try (InputStream in = exchange.getRequestBody()) {
        body = in.readAllBytes();
      }
      if (refuse()) {
        exchange.sendResponseHeaders(HTTP_UNAVAILABLE, -1);
        return;
      }
      String encoding = exchange.getRequestHeaders().getFirst("Content-Encoding");
      if ("gzip".equalsIgnoreCase(encoding)) {
        try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(body))) {
          body = in.readAllBytes();
        }
      }
      ExportTraceServiceRequest request;
      try {
        request = ExportTraceServiceRequest.parseFrom(body);
      } catch (IOException e) {
        exchange.sendResponseHeaders(HTTP_BAD_REQUEST, -1);
        return;
      }
      Map<String, String> h = new LinkedHashMap<>();
      exchange.getRequestHeaders()
          .forEach((name, values) -> h.put(name.toLowerCase(Locale.ROOT), String.join(",", values)));
      headers.add(h);
      acceptedAtNanos.add(System.nanoTime());
      requests.add(request);
      byte[] response = ExportTraceServiceResponse.getDefaultInstance().toByteArray();
      exchange.getResponseHeaders().set("Content-Type", "application/x-protobuf");
      exchange.sendResponseHeaders(HTTP_OK, response.length == 0 ? -1 : response.length);
      if (response.length > 0) {
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(response);
        }
      }
    }
  }

  private static final ThreadLocal<Map<String, String>> CALL_HEADERS = new ThreadLocal<>();

  /** Copies the call's metadata to the thread that runs the unary handler. */
  private static final class HeaderCapture implements ServerInterceptor {
    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
        ServerCall<Q, R> call, Metadata metadata, ServerCallHandler<Q, R> next) {
      Map<String, String> h = new LinkedHashMap<>();
      for (String key : metadata.keys()) {
        if (!key.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
          String value = metadata.get(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER));
          h.put(key, value);
        }
      }
      ServerCall.Listener<Q> delegate = next.startCall(call, metadata);
      return new io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
          delegate) {
        @Override
        public void onHalfClose() {
          CALL_HEADERS.set(h);
          try {
            super.onHalfClose();
          } finally {
            CALL_HEADERS.remove();
          }
        }
      };
    }
  }

  private final class TraceService extends TraceServiceGrpc.TraceServiceImplBase {
    @Override
    public void export(
        ExportTraceServiceRequest request,
        StreamObserver<ExportTraceServiceResponse> responseObserver) {
      if (refuse()) {
        responseObserver.onError(
            Status.UNAVAILABLE.withDescription("refused by the test").asRuntimeException());
        return;
      }
      Map<String, String> h = CALL_HEADERS.get();
      headers.add(h == null ? Map.of() : h);
      acceptedAtNanos.add(System.nanoTime());
      requests.add(request);
      responseObserver.onNext(ExportTraceServiceResponse.getDefaultInstance());
      responseObserver.onCompleted();
    }
  }

  /** One received span with the resource and scope it came under. */
  public record ReceivedSpan(Resource resource, InstrumentationScope scope, Span span) {
    public String traceId() {
      return hex(span.getTraceId());
    }

    public String spanId() {
      return hex(span.getSpanId());
    }

    /** The parent span id in hex, or "" for a root span. */
    public String parentSpanId() {
      return hex(span.getParentSpanId());
    }

    public String name() {
      return span.getName();
    }

    public Span.SpanKind kind() {
      return span.getKind();
    }

    /** A span attribute as text (numbers and booleans in their usual notation). */
    public Optional<String> attribute(String key) {
      return find(span.getAttributesList(), key);
    }

    /** A resource attribute as text. */
    public Optional<String> resourceAttribute(String key) {
      return find(resource.getAttributesList(), key);
    }

    /** All span attributes as text. */
    public Map<String, String> attributes() {
      Map<String, String> map = new LinkedHashMap<>();
      for (KeyValue kv : span.getAttributesList()) {
        map.put(kv.getKey(), text(kv.getValue()));
      }
      return map;
    }

    private static Optional<String> find(List<KeyValue> attributes, String key) {
      for (KeyValue kv : attributes) {
        if (kv.getKey().equals(key)) {
          return Optional.of(text(kv.getValue()));
        }
      }
      return Optional.empty();
    }

    private static String text(AnyValue value) {
      switch (value.getValueCase()) {
        case STRING_VALUE:
          return value.getStringValue();
        case INT_VALUE:
          return Long.toString(value.getIntValue());
        case BOOL_VALUE:
          return Boolean.toString(value.getBoolValue());
        case DOUBLE_VALUE:
          return Double.toString(value.getDoubleValue());
        default:
          return value.toString();
      }
    }

    private static String hex(ByteString bytes) {
      return HexFormat.of().formatHex(bytes.toByteArray());
    }
  }
}
