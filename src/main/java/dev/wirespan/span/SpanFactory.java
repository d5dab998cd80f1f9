package dev.wirespan.span;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.http.HttpExchange;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.trace.IdGenerator;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.data.StatusData;
import io.opentelemetry.semconv.ClientAttributes;
import io.opentelemetry.semconv.ErrorAttributes;
import io.opentelemetry.semconv.HttpAttributes;
import io.opentelemetry.semconv.NetworkAttributes;
import io.opentelemetry.semconv.ServerAttributes;
import io.opentelemetry.semconv.UrlAttributes;
import io.opentelemetry.semconv.UserAgentAttributes;
import io.opentelemetry.semconv.incubating.HttpIncubatingAttributes;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import javax.annotation.Nullable;

/**
 * Builds the span of an ended {@link HttpExchange}, following the stable HTTP semantic
 * conventions (semconv 1.39).
 *
 * <p><b>Kind and time.</b> SERVER when the traced process read the request, CLIENT when it wrote
 * it. The span starts at the syscall that moved the first request byte and ends at the one that
 * moved the last response byte (for an exchange without a complete response: when the decoder
 * ended it), converted from CLOCK_MONOTONIC by a {@link MonotonicClock}.
 *
 * <p><b>Name.</b> {@code {method} {route}}, the route from {@link RouteTemplate} (identifier-like
 * path segments replaced by {@value RouteTemplate#PLACEHOLDER}); {@code {method}} is {@code HTTP}
 * for methods outside the conventions' known set; only {@code {method}} when the target has no
 * path (CONNECT, {@code OPTIONS *}). {@code http.route} is <em>not</em> set: the conventions
 * reserve it for the application framework's own route template, which a network observer cannot
 * know; our guessed template lives only in the span name.
 *
 * <p><b>Attributes.</b> Every span: {@code http.request.method} (plus {@code
 * http.request.method_original} and {@code _OTHER} for unknown methods), {@code
 * http.response.status_code} (when a response was seen), {@code network.protocol.version} (not
 * {@code network.protocol.name}: the conventions leave it out when it is {@code http}, and every
 * span would carry the same bytes), {@code server.address}/{@code server.port} (Host header
 * without brackets, default port 80; else the server end of the connection), {@code
 * network.peer.address}/{@code network.peer.port} (the remote end), {@code user_agent.original},
 * {@code http.request.body.size}/{@code http.response.body.size} (when non-zero). SERVER spans:
 * {@code url.scheme}={@code http}, {@code url.path}, {@code url.query} (secret values redacted,
 * see {@link Redaction}), {@code client.address} (the remote end; {@code client.port} is opt-in in
 * the conventions and would repeat {@code network.peer.port}). CLIENT spans:
 * {@code url.full} (built from Host and target, query redacted, no user info). {@code url.path},
 * {@code url.query} and {@code url.full} are capped at {@value #MAX_URL_CHARS} characters, all
 * other string values at {@value #MAX_VALUE_CHARS}. No header other than Host, User-Agent (and
 * traceparent, for linkage only) is ever read.
 *
 * <p><b>Status and errors.</b> SERVER: ERROR for status 5xx; CLIENT: ERROR for 4xx and 5xx;
 * {@code error.type} is then the status code as a string. A status code outside 100..599 is an
 * error for both. An exchange that did not complete: {@code wirespan.exchange.outcome} is
 * {@code timed_out}, {@code connection_closed} or {@code evicted}; the first two are
 * ERROR with {@code error.type} {@value #ERROR_TYPE_TIMEOUT} or {@value
 * #ERROR_TYPE_CONNECTION_CLOSED} (unless the status code already gave one). {@code evicted}
 * means the agent stopped following the connection, not that the application failed, so it
 * leaves the status unset. {@code wirespan.capture.incomplete}=true marks exchanges some of whose
 * bytes never reached the agent.
 */
public final class SpanFactory {
  public static final int MAX_URL_CHARS = 2048;
  public static final int MAX_VALUE_CHARS = 256;
  public static final int DEFAULT_HTTP_PORT = 80;
  public static final String INSTRUMENTATION_SCOPE_NAME = "dev.wirespan";

  /** {@code error.type} of an exchange whose response did not come within the timeout. */
  public static final String ERROR_TYPE_TIMEOUT = "timeout";
  /** {@code error.type} of an exchange whose connection closed before the response ended. */
  public static final String ERROR_TYPE_CONNECTION_CLOSED = "connection_closed";

  /** Agent attribute: some bytes of the exchange were lost between kernel and agent. */
  public static final AttributeKey<Boolean> CAPTURE_INCOMPLETE =
      AttributeKey.booleanKey("wirespan.capture.incomplete");
  /** Agent attribute: how an exchange that did not complete ended (lowercase outcome name). */
  public static final AttributeKey<String> EXCHANGE_OUTCOME =
      AttributeKey.stringKey("wirespan.exchange.outcome");

  /** Methods the conventions know; others are reported as {@code _OTHER}. */
  private static final Set<String> KNOWN_METHODS =
      Set.of(
          HttpAttributes.HttpRequestMethodValues.CONNECT,
          HttpAttributes.HttpRequestMethodValues.DELETE,
          HttpAttributes.HttpRequestMethodValues.GET,
          HttpAttributes.HttpRequestMethodValues.HEAD,
          HttpAttributes.HttpRequestMethodValues.OPTIONS,
          HttpAttributes.HttpRequestMethodValues.PATCH,
          HttpAttributes.HttpRequestMethodValues.POST,
          HttpAttributes.HttpRequestMethodValues.PUT,
          HttpAttributes.HttpRequestMethodValues.TRACE);
  private static final String UNKNOWN_METHOD_SPAN_NAME = "HTTP";
  private static final String URL_SCHEME = "http";
  private static final int MIN_STATUS_CODE = 100;
  private static final int MAX_STATUS_CODE = 599;
  private static final int MIN_CLIENT_ERROR_STATUS = 400;
  private static final int MIN_SERVER_ERROR_STATUS = 500;
  private static final int MAX_PORT = 65535;
  /** Characters of a full URL besides scheme, host, path and query: "://", "[]", ":65535", "/". */
  private static final int URL_EXTRA_CHARS = 12;

  /**
   * Span names remembered: most traffic repeats a few paths, and making the route of one
   * ({@link RouteTemplate#ofPath}, then the name) cost more than a lookup. A power of two.
   */
  private static final int NAME_CACHE_SIZE = 512;
  /** Longer paths are not remembered, which bounds the cache to a few hundred KiB. */
  private static final int MAX_CACHED_PATH_CHARS = 256;

  private static final InstrumentationScopeInfo SCOPE = scope();

  private final ResourceResolver resources;
  private final PeerResolver peers;
  private final MonotonicClock clock;
  private final IdGenerator ids = IdGenerator.random();
  /** Recent span names by method and path (direct-mapped; entries are immutable). */
  private final SpanName[] names = new SpanName[NAME_CACHE_SIZE];

  /** A span name and the method and path it was made for. */
  private record SpanName(String methodName, String path, String name) {}

  public SpanFactory(ResourceResolver resources, PeerResolver peers, MonotonicClock clock) {
    this.resources = Objects.requireNonNull(resources, "resources");
    this.peers = Objects.requireNonNull(peers, "peers");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  /** The instrumentation scope of every span the agent makes. */
  public static InstrumentationScopeInfo instrumentationScope() {
    return SCOPE;
  }

  /**
   * The span of an ended exchange. An exchange without trace context (no {@link TraceLinker} in
   * front) becomes the root of a new sampled trace.
   */
  public SpanData toSpan(HttpExchange exchange) {
    Objects.requireNonNull(exchange, "exchange");
    boolean server = exchange.side() == HttpExchange.Side.SERVER;
    ConnectionInfo connection = exchange.connection();

    SpanContext context = exchange.spanContext();
    if (context == null) {
      context =
          SpanContext.create(
              ids.generateTraceId(),
              ids.generateSpanId(),
              TraceFlags.getSampled(),
              TraceState.getDefault());
    }
    SpanContext parent = exchange.parentSpanContext();
    if (parent == null) {
      parent = SpanContext.getInvalid();
    }

    String method = exchange.method();
    boolean knownMethod = KNOWN_METHODS.contains(method);
    String target = exchange.target();
    String path = RouteTemplate.path(target);
    String name = spanName(knownMethod ? method : UNKNOWN_METHOD_SPAN_NAME, path);

    SpanAttributes.Builder attributes = SpanAttributes.builder();
    // Peer attributes first so that the conventions' attributes below win on a clash.
    attributes.putAll(peers.peerAttributes(exchange));

    if (knownMethod) {
      attributes.put(HttpAttributes.HTTP_REQUEST_METHOD, method);
    } else {
      attributes.put(HttpAttributes.HTTP_REQUEST_METHOD, HttpAttributes.HttpRequestMethodValues.OTHER);
      attributes.put(HttpAttributes.HTTP_REQUEST_METHOD_ORIGINAL, cap(method));
    }
    int status = exchange.statusCode();
    if (status > 0) {
      attributes.put(HttpAttributes.HTTP_RESPONSE_STATUS_CODE, (long) status);
    }
    attributes.put(NetworkAttributes.NETWORK_PROTOCOL_VERSION, cap(exchange.protocolVersion()));

    HostAndPort host = HostAndPort.parse(exchange.host());
    String serverAddress;
    int serverPort;
    if (host != null) {
      serverAddress = host.host();
      // An absent port is the scheme's default; an invalid one is left out.
      serverPort = host.port() == 0 ? DEFAULT_HTTP_PORT : host.port();
    } else if (server) {
      serverAddress = connection.localAddressText();
      serverPort = connection.localPort();
    } else {
      serverAddress = connection.remoteAddressText();
      serverPort = connection.remotePort();
    }
    attributes.put(ServerAttributes.SERVER_ADDRESS, cap(serverAddress));
    if (serverPort > 0) {
      attributes.put(ServerAttributes.SERVER_PORT, (long) serverPort);
    }

    String peerAddress = connection.remoteAddressText();
    attributes.put(NetworkAttributes.NETWORK_PEER_ADDRESS, peerAddress);
    attributes.put(NetworkAttributes.NETWORK_PEER_PORT, (long) connection.remotePort());

    String query = query(target);
    if (server) {
      attributes.put(UrlAttributes.URL_SCHEME, URL_SCHEME);
      if (!path.isEmpty()) {
        attributes.put(UrlAttributes.URL_PATH, Redaction.cap(path, MAX_URL_CHARS));
      }
      if (query != null) {
        attributes.put(
            UrlAttributes.URL_QUERY, Redaction.cap(Redaction.redactQuery(query), MAX_URL_CHARS));
      }
      attributes.put(ClientAttributes.CLIENT_ADDRESS, peerAddress);
    } else {
      attributes.put(
          UrlAttributes.URL_FULL,
          Redaction.cap(fullUrl(serverAddress, serverPort, path, query), MAX_URL_CHARS));
    }

    String userAgent = exchange.userAgent();
    if (userAgent != null) {
      attributes.put(UserAgentAttributes.USER_AGENT_ORIGINAL, cap(userAgent));
    }
    if (exchange.requestBodySize() > 0) {
      attributes.put(HttpIncubatingAttributes.HTTP_REQUEST_BODY_SIZE, exchange.requestBodySize());
    }
    if (exchange.responseBodySize() > 0) {
      attributes.put(
          HttpIncubatingAttributes.HTTP_RESPONSE_BODY_SIZE, exchange.responseBodySize());
    }

    StatusData statusData = StatusData.unset();
    String errorType = statusErrorType(status, server);
    HttpExchange.Outcome outcome = exchange.outcome();
    if (outcome != HttpExchange.Outcome.COMPLETE) {
      attributes.put(EXCHANGE_OUTCOME, outcome.name().toLowerCase(Locale.ROOT));
      if (errorType == null) {
        errorType = outcomeErrorType(outcome);
      }
    }
    if (errorType != null) {
      attributes.put(ErrorAttributes.ERROR_TYPE, errorType);
      statusData = StatusData.error();
    }
    if (exchange.bytesMissing()) {
      attributes.put(CAPTURE_INCOMPLETE, true);
    }

    long start = exchange.requestStartNanos();
    long end = Math.max(exchange.responseEndNanos(), Math.max(exchange.requestEndNanos(), start));
    long startEpoch = clock.toEpochNanos(start);
    return new ExchangeSpanData(
        name,
        server ? SpanKind.SERVER : SpanKind.CLIENT,
        context,
        parent,
        statusData,
        startEpoch,
        startEpoch + (end - start),
        attributes.build(),
        resources.resolve(connection),
        SCOPE);
  }

  /** {@code "GET /users/{id}"}: the method's name and the route of {@code path}, if any. */
  private String spanName(String methodName, String path) {
    if (path.length() > MAX_CACHED_PATH_CHARS) {
      return spanNameOf(methodName, path);
    }
    int slot = (31 * methodName.hashCode() + path.hashCode()) & (NAME_CACHE_SIZE - 1);
    SpanName cached = names[slot];
    if (cached != null && cached.path.equals(path) && cached.methodName.equals(methodName)) {
      return cached.name;
    }
    String name = spanNameOf(methodName, path);
    names[slot] = new SpanName(methodName, path, name);
    return name;
  }

  private static String spanNameOf(String methodName, String path) {
    String route = RouteTemplate.ofPath(path);
    return route.isEmpty() ? methodName : methodName + " " + route;
  }

  @Nullable
  private static String statusErrorType(int status, boolean server) {
    if (status <= 0) {
      return null;
    }
    boolean error =
        status < MIN_STATUS_CODE
            || status > MAX_STATUS_CODE
            || status >= (server ? MIN_SERVER_ERROR_STATUS : MIN_CLIENT_ERROR_STATUS);
    return error ? Integer.toString(status) : null;
  }

  @Nullable
  private static String outcomeErrorType(HttpExchange.Outcome outcome) {
    switch (outcome) {
      case TIMED_OUT:
        return ERROR_TYPE_TIMEOUT;
      case CONNECTION_CLOSED:
        return ERROR_TYPE_CONNECTION_CLOSED;
      default:
        return null;
    }
  }

  /** The query of a request-target (without '?' and fragment), or null when it has none. */
  @Nullable
  static String query(String target) {
    int q = target.indexOf('?');
    if (q < 0) {
      return null;
    }
    int fragment = target.indexOf('#', q);
    return target.substring(q + 1, fragment < 0 ? target.length() : fragment);
  }

  private static String fullUrl(String host, int port, String path, @Nullable String query) {
    // Sized for the usual case so that the builder does not grow: scheme, brackets, port.
    int capacity =
        URL_SCHEME.length() + host.length() + path.length() + URL_EXTRA_CHARS
            + (query == null ? 0 : query.length() + 1);
    StringBuilder url = new StringBuilder(capacity).append(URL_SCHEME).append("://");
    if (host.indexOf(':') >= 0) {
      url.append('[').append(host).append(']');
    } else {
      url.append(host);
    }
    if (port > 0 && port != DEFAULT_HTTP_PORT) {
      url.append(':').append(port);
    }
    url.append(path.isEmpty() ? "/" : path);
    if (query != null) {
      url.append('?').append(Redaction.redactQuery(query));
    }
    return url.toString();
  }

  private static String cap(String value) {
    return Redaction.cap(value, MAX_VALUE_CHARS);
  }

  private static InstrumentationScopeInfo scope() {
    String version = SpanFactory.class.getPackage().getImplementationVersion();
    return version == null
        ? InstrumentationScopeInfo.create(INSTRUMENTATION_SCOPE_NAME)
        : InstrumentationScopeInfo.builder(INSTRUMENTATION_SCOPE_NAME).setVersion(version).build();
  }

  /** A Host header split into host (IPv6 without brackets) and port (0 absent, -1 invalid). */
  record HostAndPort(String host, int port) {
    private static final int MAX_PORT_DIGITS = String.valueOf(MAX_PORT).length();

    @Nullable
    static HostAndPort parse(@Nullable String header) {
      if (header == null) {
        return null;
      }
      String value = header.trim();
      if (value.isEmpty()) {
        return null;
      }
      String host;
      // The port is value[portStart, end); portStart < 0 when there is none.
      int portStart = -1;
      if (value.charAt(0) == '[') {
        int close = value.indexOf(']');
        if (close < 0) {
          return null;
        }
        host = value.substring(1, close);
        if (close + 1 < value.length() && value.charAt(close + 1) == ':') {
          portStart = close + 2;
        }
      } else {
        int colon = value.indexOf(':');
        if (colon >= 0 && colon == value.lastIndexOf(':')) {
          host = value.substring(0, colon);
          portStart = colon + 1;
        } else {
          host = value; // no port, or a bare IPv6 address (invalid, but kept as sent)
        }
      }
      if (host.isEmpty()) {
        return null;
      }
      return new HostAndPort(Redaction.cap(host, MAX_VALUE_CHARS), parsePort(value, portStart));
    }

    private static int parsePort(String text, int portStart) {
      if (portStart < 0 || portStart >= text.length()) {
        return 0;
      }
      if (text.length() - portStart > MAX_PORT_DIGITS) {
        return -1;
      }
      int value = 0;
      for (int i = portStart; i < text.length(); i++) {
        char c = text.charAt(i);
        if (c < '0' || c > '9') {
          return -1;
        }
        value = value * 10 + (c - '0');
      }
      return value > 0 && value <= MAX_PORT ? value : -1;
    }
  }
}
