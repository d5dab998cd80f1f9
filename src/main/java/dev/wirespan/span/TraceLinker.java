package dev.wirespan.span;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.http.ExchangeListener;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.Counter;
import io.netty.util.collection.LongObjectHashMap;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.sdk.trace.IdGenerator;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Objects;
import javax.annotation.Nullable;

/**
 * Gives every exchange its span context when its request starts, so that spans join into traces,
 * then forwards to the next listener. Rules, first match wins:
 *
 * <ol>
 *   <li><b>traceparent</b>: the request carries a valid W3C {@code traceparent}: same trace,
 *       parent = its span id, its sampled flag and {@code tracestate} kept.
 *   <li><b>tcp_peer</b> (SERVER only): a CLIENT exchange traced on this host went out on the same
 *       TCP connection seen from the other end (its local address:port is this server's remote
 *       address:port and vice versa): the n-th request read on the connection is the child of the
 *       n-th request written on it. The two processes' events arrive in either order: when the
 *       client's request is not known yet at the server's request start, the server gets a
 *       provisional root context and is re-parented when its exchange ends (before its span is
 *       built). Spans that already took the provisional context as parent (thread rule) stay in
 *       the provisional trace.
 *   <li><b>thread</b> (CLIENT only, {@code threadCorrelation}): the same process and thread is
 *       inside exactly one SERVER exchange (request started, response not ended): the client is
 *       its child. Suits thread-per-request servers; a thread with several SERVER exchanges open
 *       at once (an event loop) is ambiguous and not used.
 *   <li><b>root</b>: a new sampled trace with random ids.
 * </ol>
 *
 * <p>Each decision counts in {@code wirespan_trace_links_total{rule}}. All state is bounded:
 * connection state and pending server exchanges by count and by age (measured on the exchanges'
 * kernel timestamps), thread state by count. Not thread-safe: it runs on the capture thread, which
 * reports exchanges in kernel event order.
 */
public final class TraceLinker implements ExchangeListener {
  public static final String METRIC_LINKS = "wirespan_trace_links_total";
  public static final int DEFAULT_MAX_CONNECTIONS = 16_384;
  public static final int DEFAULT_MAX_PENDING_SERVER_EXCHANGES = 4_096;
  public static final int DEFAULT_MAX_THREADS = 16_384;
  public static final Duration DEFAULT_MAX_CORRELATION_AGE = Duration.ofSeconds(60);
  /** Client span contexts remembered per connection, for pipelined requests. */
  static final int CLIENT_CONTEXTS_PER_CONNECTION = 8;

  private static final TextMapGetter<HttpExchange> TRACE_HEADERS =
      new TextMapGetter<>() {
        @Nullable
        @Override
        public String get(@Nullable HttpExchange carrier, String key) {
          if (carrier == null) {
            return null;
          }
          switch (key) {
            case "traceparent":
              return carrier.traceparent();
            case "tracestate":
              return carrier.tracestate();
            default:
              return null;
          }
        }
      };

  private final ExchangeListener next;
  private final boolean threadCorrelation;
  private final int maxConnections;
  private final int maxPendingServerExchanges;
  private final int maxThreads;
  private final long maxCorrelationAgeNanos;
  private final IdGenerator ids = IdGenerator.random();

  private final Counter traceparentLinks;
  private final Counter tcpPeerLinks;
  private final Counter threadLinks;
  private final Counter roots;

  /** By the client's view of the tuple; access order, so the eldest is the least recently used. */
  private final LinkedHashMap<TcpTuple, ConnectionState> connections =
      new LinkedHashMap<>(16, 0.75f, true);
  /** SERVER exchanges still waiting for their client, in request order (identity keys). */
  private final LinkedHashMap<HttpExchange, PendingServer> pendingServers = new LinkedHashMap<>();
  /**
   * Open SERVER exchanges by {@link #threadKey}, with primitive keys (no boxed key for each of the
   * three or four lookups an exchange makes; the key's hash is its tid, see {@link #threadKey}).
   */
  private final LongObjectHashMap<ThreadState> threads = new LongObjectHashMap<>();
  /** The lookup key, reused for every exchange (capture thread only). */
  private final TcpTuple probe = new TcpTuple();

  private TraceLinker(Builder builder) {
    this.next = builder.next;
    this.threadCorrelation = builder.threadCorrelation;
    this.maxConnections = builder.maxConnections;
    this.maxPendingServerExchanges = builder.maxPendingServerExchanges;
    this.maxThreads = builder.maxThreads;
    this.maxCorrelationAgeNanos = builder.maxCorrelationAge.toNanos();
    String help = "Span parent decisions, by the rule that made them.";
    this.traceparentLinks = builder.metrics.counter(METRIC_LINKS, help, "rule", "traceparent");
    this.tcpPeerLinks = builder.metrics.counter(METRIC_LINKS, help, "rule", "tcp_peer");
    this.threadLinks = builder.metrics.counter(METRIC_LINKS, help, "rule", "thread");
    this.roots = builder.metrics.counter(METRIC_LINKS, help, "rule", "root");
  }

  public static Builder builder(ExchangeListener next, AgentMetrics metrics) {
    return new Builder(next, metrics);
  }

  @Override
  public void onRequestStart(HttpExchange exchange) {
    long now = exchange.requestStartNanos();
    evictOld(now);
    if (exchange.side() == HttpExchange.Side.SERVER) {
      startServer(exchange, now);
    } else {
      startClient(exchange, now);
    }
    next.onRequestStart(exchange);
  }

  @Override
  public void onExchangeEnd(HttpExchange exchange) {
    if (exchange.spanContext() == null) {
      // The decoder ended an exchange whose start it never reported: give it a trace anyway.
      onRequestStartSilently(exchange);
    }
    if (exchange.side() == HttpExchange.Side.SERVER) {
      endServer(exchange);
    }
    next.onExchangeEnd(exchange);
  }

  /** Number of pending SERVER exchanges awaiting their client (for tests and gauges). */
  public int pendingServerExchanges() {
    return pendingServers.size();
  }

  /** Number of connections with correlation state (for tests and gauges). */
  public int trackedConnections() {
    return connections.size();
  }

  private void onRequestStartSilently(HttpExchange exchange) {
    if (exchange.side() == HttpExchange.Side.SERVER) {
      startServer(exchange, exchange.requestStartNanos());
    } else {
      startClient(exchange, exchange.requestStartNanos());
    }
  }

  private void startClient(HttpExchange exchange, long now) {
    SpanContext parent = fromTraceparent(exchange);
    Counter rule = traceparentLinks;
    if (parent == null && threadCorrelation) {
      ThreadState thread = threads.get(threadKey(exchange.connection().pid(), exchange.requestTid()));
      if (thread != null && thread.open == 1 && thread.exchange != null) {
        parent = thread.exchange.spanContext();
        rule = threadLinks;
      }
    }
    SpanContext context;
    if (parent != null && parent.isValid()) {
      context = child(parent);
      exchange.setTraceContext(context, parent);
      rule.inc();
    } else {
      context = root();
      exchange.setTraceContext(context, null);
      roots.inc();
    }
    recordClient(exchange, context, now);
  }

  private void recordClient(HttpExchange exchange, SpanContext context, long now) {
    ConnectionInfo c = exchange.connection();
    ConnectionState state =
        connection(
            probe.set(c.localAddress(), c.localPort(), c.remoteAddress(), c.remotePort()), now);
    if (state == null) {
      return;
    }
    if (state.clientConnectionId != c.connectionId() || state.clientPid != c.pid()) {
      state.resetClient(c.pid(), c.connectionId());
    }
    long seq = state.clientRequests++;
    int slot = (int) (seq % CLIENT_CONTEXTS_PER_CONNECTION);
    state.clientContexts[slot] = context;
    state.clientSequences[slot] = seq;
    // A server exchange that started first and waits for this client is resolved at its end.
  }

  private void startServer(HttpExchange exchange, long now) {
    SpanContext parent = fromTraceparent(exchange);
    if (parent != null) {
      exchange.setTraceContext(child(parent), parent);
      traceparentLinks.inc();
    } else {
      ConnectionInfo c = exchange.connection();
      // The client's view: its local end is our remote end.
      TcpTuple tuple =
          probe.set(c.remoteAddress(), c.remotePort(), c.localAddress(), c.localPort());
      ConnectionState state = connection(tuple, now);
      long seq = -1;
      if (state != null) {
        if (state.serverConnectionId != c.connectionId() || state.serverPid != c.pid()) {
          state.resetServer(c.pid(), c.connectionId());
        }
        seq = state.serverRequests++;
      }
      SpanContext client = state == null ? null : state.client(seq);
      if (client != null) {
        exchange.setTraceContext(child(client), client);
        tcpPeerLinks.inc();
      } else {
        exchange.setTraceContext(root(), null);
        if (state != null) {
          pendingServers.put(exchange, new PendingServer(tuple.copy(), state, seq, now));
          trimPending(now);
        } else {
          roots.inc();
        }
      }
    }
    openThread(exchange);
  }

  private void endServer(HttpExchange exchange) {
    closeThread(exchange);
    PendingServer pending = pendingServers.remove(exchange);
    if (pending == null) {
      return;
    }
    SpanContext client =
        connections.get(pending.tuple) == pending.state ? pending.state.client(pending.sequence) : null;
    if (client == null) {
      roots.inc();
      return;
    }
    SpanContext provisional = exchange.spanContext();
    SpanContext joined =
        SpanContext.create(
            client.getTraceId(),
            provisional == null ? ids.generateSpanId() : provisional.getSpanId(),
            client.getTraceFlags(),
            client.getTraceState());
    exchange.setTraceContext(joined, client);
    tcpPeerLinks.inc();
  }

  private void openThread(HttpExchange exchange) {
    if (!threadCorrelation) {
      return;
    }
    long key = threadKey(exchange.connection().pid(), exchange.requestTid());
    ThreadState state = threads.get(key);
    if (state == null) {
      if (threads.size() >= maxThreads) {
        return;
      }
      state = new ThreadState();
      threads.put(key, state);
    }
    state.open++;
    state.exchange = exchange;
  }

  private void closeThread(HttpExchange exchange) {
    if (!threadCorrelation) {
      return;
    }
    long key = threadKey(exchange.connection().pid(), exchange.requestTid());
    ThreadState state = threads.get(key);
    if (state == null) {
      return;
    }
    state.open--;
    if (state.exchange == exchange) {
      state.exchange = null;
    }
    if (state.open <= 0) {
      threads.remove(key);
    }
  }

  /** Looks up (or adds) the state of {@code tuple}, which may be the reused {@link #probe}. */
  @Nullable
  private ConnectionState connection(TcpTuple tuple, long now) {
    ConnectionState state = connections.get(tuple);
    if (state == null) {
      if (connections.size() >= maxConnections) {
        Iterator<ConnectionState> eldest = connections.values().iterator();
        eldest.next();
        eldest.remove();
      }
      state = new ConnectionState();
      connections.put(tuple.copy(), state);
    }
    state.lastSeenNanos = now;
    return state;
  }

  private void evictOld(long now) {
    Iterator<ConnectionState> it = connections.values().iterator();
    while (it.hasNext()) {
      ConnectionState state = it.next();
      if (now - state.lastSeenNanos <= maxCorrelationAgeNanos) {
        break; // access order: the rest were used more recently
      }
      it.remove();
    }
    trimPending(now);
  }

  private void trimPending(long now) {
    Iterator<PendingServer> it = pendingServers.values().iterator();
    while (it.hasNext()) {
      PendingServer pending = it.next();
      if (pendingServers.size() <= maxPendingServerExchanges
          && now - pending.startNanos <= maxCorrelationAgeNanos) {
        break; // insertion order: the rest are younger
      }
      it.remove();
      roots.inc();
    }
  }

  @Nullable
  private static SpanContext fromTraceparent(HttpExchange exchange) {
    if (exchange.traceparent() == null) {
      return null;
    }
    Context extracted =
        W3CTraceContextPropagator.getInstance().extract(Context.root(), exchange, TRACE_HEADERS);
    SpanContext remote = Span.fromContext(extracted).getSpanContext();
    return remote.isValid() ? remote : null;
  }

  private SpanContext child(SpanContext parent) {
    return SpanContext.create(
        parent.getTraceId(), ids.generateSpanId(), parent.getTraceFlags(), parent.getTraceState());
  }

  private SpanContext root() {
    return SpanContext.create(
        ids.generateTraceId(), ids.generateSpanId(), TraceFlags.getSampled(), TraceState.getDefault());
  }

  /**
   * A key unique per (pid, tid) whose hash ({@link Long#hashCode}, as {@link LongObjectHashMap}'s)
   * is the tid. The plain {@code pid << 32 | tid} hashes to {@code pid ^ tid}, which is 0 for
   * every single-threaded process (nginx workers, most clients): all of them shared one bucket.
   */
  static long threadKey(int pid, int tid) {
    return ((long) pid << 32) | ((pid ^ tid) & 0xffffffffL);
  }

  /**
   * A TCP connection as the client sees it. Mutable so that lookups reuse one instance ({@link
   * #probe}) instead of allocating a key per exchange; keys stored in a map are {@link #copy()
   * copies} and never change.
   */
  private static final class TcpTuple {
    private InetAddress clientAddress;
    private int clientPort;
    private InetAddress serverAddress;
    private int serverPort;
    private int hash;

    TcpTuple set(InetAddress clientAddress, int clientPort, InetAddress serverAddress,
        int serverPort) {
      this.clientAddress = clientAddress;
      this.clientPort = clientPort;
      this.serverAddress = serverAddress;
      this.serverPort = serverPort;
      this.hash =
          31 * (31 * (31 * clientAddress.hashCode() + clientPort) + serverAddress.hashCode())
              + serverPort;
      return this;
    }

    TcpTuple copy() {
      TcpTuple t = new TcpTuple();
      t.clientAddress = clientAddress;
      t.clientPort = clientPort;
      t.serverAddress = serverAddress;
      t.serverPort = serverPort;
      t.hash = hash;
      return t;
    }

    @Override
    public int hashCode() {
      return hash;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof TcpTuple t
          && hash == t.hash
          && clientPort == t.clientPort
          && serverPort == t.serverPort
          && clientAddress.equals(t.clientAddress)
          && serverAddress.equals(t.serverAddress);
    }
  }

  /** Request counters of both ends of one connection. */
  private static final class ConnectionState {
    int clientPid;
    long clientConnectionId = -1;
    long clientRequests;
    final SpanContext[] clientContexts = new SpanContext[CLIENT_CONTEXTS_PER_CONNECTION];
    final long[] clientSequences = new long[CLIENT_CONTEXTS_PER_CONNECTION];
    int serverPid;
    long serverConnectionId = -1;
    long serverRequests;
    long lastSeenNanos;

    void resetClient(int pid, long connectionId) {
      clientPid = pid;
      clientConnectionId = connectionId;
      clientRequests = 0;
      java.util.Arrays.fill(clientContexts, null);
    }

    void resetServer(int pid, long connectionId) {
      serverPid = pid;
      serverConnectionId = connectionId;
      serverRequests = 0;
    }

    @Nullable
    SpanContext client(long sequence) {
      if (sequence < 0 || sequence >= clientRequests) {
        return null;
      }
      int slot = (int) (sequence % CLIENT_CONTEXTS_PER_CONNECTION);
      return clientSequences[slot] == sequence ? clientContexts[slot] : null;
    }
  }

  private record PendingServer(TcpTuple tuple, ConnectionState state, long sequence,
      long startNanos) {}

  /** SERVER exchanges open on one thread. */
  private static final class ThreadState {
    int open;
    @Nullable HttpExchange exchange;
  }

  /** Settings of a {@link TraceLinker}. */
  public static final class Builder {
    private final ExchangeListener next;
    private final AgentMetrics metrics;
    private boolean threadCorrelation = true;
    private int maxConnections = DEFAULT_MAX_CONNECTIONS;
    private int maxPendingServerExchanges = DEFAULT_MAX_PENDING_SERVER_EXCHANGES;
    private int maxThreads = DEFAULT_MAX_THREADS;
    private Duration maxCorrelationAge = DEFAULT_MAX_CORRELATION_AGE;

    private Builder(ExchangeListener next, AgentMetrics metrics) {
      this.next = Objects.requireNonNull(next, "next");
      this.metrics = Objects.requireNonNull(metrics, "metrics");
    }

    /** Rule 3, parenting CLIENT spans by thread; default true. */
    public Builder setThreadCorrelation(boolean enabled) {
      this.threadCorrelation = enabled;
      return this;
    }

    /** Connections with correlation state; least recently used dropped first. */
    public Builder setMaxConnections(int max) {
      this.maxConnections = positive(max, "maxConnections");
      return this;
    }

    public Builder setMaxPendingServerExchanges(int max) {
      this.maxPendingServerExchanges = positive(max, "maxPendingServerExchanges");
      return this;
    }

    public Builder setMaxThreads(int max) {
      this.maxThreads = positive(max, "maxThreads");
      return this;
    }

    /** How long connection state and pending correlations are kept without activity. */
    public Builder setMaxCorrelationAge(Duration age) {
      this.maxCorrelationAge = Objects.requireNonNull(age, "age");
      return this;
    }

    public TraceLinker build() {
      return new TraceLinker(this);
    }

    private static int positive(int value, String name) {
      if (value <= 0) {
        throw new IllegalArgumentException(name + " must be positive: " + value);
      }
      return value;
    }
  }
}
