package dev.wirespan.http;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventSink;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.Counter;
import dev.wirespan.metrics.LossCause;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.collection.LongObjectHashMap;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.Locale;
import java.util.Objects;
import javax.annotation.Nullable;

/**
 * Turns the capture stage's data and close events into {@link HttpExchange}s: per connection and
 * direction it reassembles the byte stream, decodes it with Netty's HTTP/1.x decoders and pairs
 * each response with its request (a FIFO per connection, so keep-alive and pipelining work).
 *
 * <p>Single-threaded: {@link #onEvent}, {@link #expire} and {@link #closeAll} must all be called on
 * the capture thread. Listener callbacks run on that thread too.
 *
 * <h2>Which side</h2>
 *
 * The direction whose first bytes look like a request line carries requests; one whose first
 * bytes start with "HTTP/1." carries responses; when the first bytes are too few to tell, the
 * connection's role decides (an accepted connection reads requests). A connection whose first
 * bytes (at stream offset 0, role known) fit neither is not HTTP/1.x and is ignored until it
 * closes.
 *
 * <h2>Lost and uncopied bytes</h2>
 *
 * Framing follows {@link CaptureEvent#length()}, not the bytes copied. A call that moved more than
 * the capture cap comes with its first bytes (the head) and its last ones (the tail, which holds
 * the framing that ends a large write: a chunk's CRLF, the next chunk-size line, the last chunk);
 * the bytes between them were not copied. Bytes that were not copied (that middle, sendfile) or
 * never arrived (a stream offset gap) are fed to the decoder as shared read-only zero bytes when
 * they fall inside a body whose extent does not depend on them (a Content-Length body, or a body
 * read until close); the tail follows them. Uncopied bytes inside a chunked body are fed the same
 * way and Netty decides: zeros in chunk data decode as data, zeros where a chunk-size line or a
 * chunk's CRLF was make the decoder fail, which loses the boundary (counted as STREAM_RESYNC, not
 * as a decoder error). Uncopied body bytes cost nothing (bodies are never exported) and are not
 * missing bytes; lost body bytes mark the exchange {@link HttpExchange#bytesMissing()}. Lost or
 * uncopied bytes anywhere else (headers, between messages) lose the message boundary: the partial message is dropped, the decoder
 * closed (Netty's decoders discard everything after a failure), and decoding restarts at a
 * message start. A request whose headers were decoded keeps waiting for its response (marked
 * bytesMissing); an exchange whose response was cut ends EVICTED, bytesMissing, with the status
 * code when it was decoded. A connection first seen mid-stream (role unknown, or offset past 0)
 * waits the same way for its first message start; that wait is not counted as a loss (except on
 * the response direction of a connection whose request direction was seen from its start: its
 * first bytes past offset 0 count as a gap).
 *
 * <p>While its ring buffer is half full the kernel sheds exchanges as they begin (see {@link
 * CaptureEvent#followsShedExchanges()}): the next event of each direction says so, and its offset
 * jumps over them. Met between messages (or while waiting for a message start), that jump is not
 * a loss: nothing is counted here (the kernel counted the exchanges), the bytes after it must
 * look like a message start by themselves, as after a gap (below), and the response
 * direction pairs as after lost answers (below), which for a client that waits for each answer is
 * the newest request, the one that began after the shed exchanges. Met inside a message (a request
 * body sent after a 100 Continue looks like an exchange beginning to the kernel), it is a gap like
 * any other.
 *
 * <p>Responses lost whole would leave their requests in the pairing queue, each taking a later
 * request's answer. After response bytes were lost with requests owed an answer, and until every
 * request seen was answered, each response answers the newest request that began before it did
 * (and is framed by that request's method), and older ones end EVICTED (bytes missing): a client
 * that waits for each answer sent that request after the lost answers arrived; answers owed to
 * requests dropped from the queue are recognised the same way. On a connection whose client was
 * seen pipelining (a request begun before the answer to the previous one began, or two requests
 * in one write) the number of answers in the lost bytes cannot be told: the oldest request is
 * paired as before, unless the response began before it did.
 *
 * <h2>Finding a message start</h2>
 *
 * Peers read and write in small pieces (byte-wise header readers, a status line written apart
 * from the headers), so a waiting direction gathers its contiguous bytes from an event start on,
 * across events, until they begin a plausible request line or status line ({@link MessageStart})
 * or cannot any more; a gap drops them. Causality also tells: HTTP/1.x answers in order, so when
 * a request is decoded with nothing else owed an answer, the response direction's next
 * contiguous bytes begin its response, and once every request seen whole was answered, the
 * request direction's next bytes begin the next request, unless bytes of a request were lost
 * there and no response has answered them yet (the rest of that request, a body, may still be on
 * its way); a response that answers no request seen is taken as that answer. Such a start is still
 * checked, after any empty lines: bytes that cannot begin a message are counted
 * (STREAM_DECODER_ERROR, unless a loss was counted there already) and the wait goes on; a response
 * may begin with too few bytes to tell ("H"), a request only with a method HTTP defines or its
 * first bytes (a byte-wise writer's "G"): other token bytes, which may be a body's last ones, must
 * look like a request line by themselves. Anywhere, a decoded method longer than any method (24
 * bytes) is a decoder error that loses the boundary. These are heuristics: a body sent where a
 * request must begin can still pass for one when it looks like a request line.
 *
 * <h2>Memory</h2>
 *
 * Decoders are lent from a small pool when a message starts and given back as soon as the
 * direction is between messages with nothing buffered, so an idle keep-alive connection holds
 * only its addresses and a few fields. Partial messages are bounded per connection and in total
 * ({@link HttpSettings}); over a limit the partial message is dropped (STREAM_BUFFER_LIMIT). A
 * partial message counts its unparsed bytes and the lines the decoder parsed and keeps (the
 * request or status line and header lines of a header block not yet complete), as do bytes
 * gathered while waiting for a message start. Body bytes are never kept. The total also
 * counts each lent decoder's own state ({@link #DECODER_STATE_BYTES}), so that many connections
 * each inside a message stay within it. Netty bounds a single
 * message's lines too: a request or status line over maxInitialLineBytes or a header block over
 * maxHeaderBytes is a decoder error (STREAM_DECODER_ERROR).
 * Connections over {@link HttpSettings#maxConnections()} evict the least recently active one.
 *
 * <h2>Connections the kernel forgot</h2>
 *
 * The kernel side keeps its connections in an LRU map: when the map is full it forgets the least
 * recently used one without a close event, and if that connection moves bytes again it tracks it
 * anew under a new connection id, with role UNKNOWN and stream offsets restarting at 0. Each
 * tracked connection is indexed by (pid, fd); a new id on an fd whose connection never closed,
 * with role UNKNOWN and the same addresses and ports, is that connection coming back: it is
 * counted once as KERNEL_MAP_FULL and joined to the connection it continues, the new id's offsets
 * shifted per direction to where the old ones ended, so that an exchange whose request went out
 * under the old id still pairs with a response read under the new one. Bytes lost in between show
 * as a gap of the new offsets (the kernel's offsets also count bytes it did not report while it
 * judged the protocol again; if the connection's next calls do not begin an HTTP message within
 * the kernel's few probes, it stops reporting the connection and its pending requests time out).
 * Joining is sound because the kernel reports every byte of a connection it tracks as HTTP: only
 * when the old id's last events were dropped on a full ring buffer (counted) do the joined offsets
 * hide that hole, which the decoder then meets as a counted resync or decoder error. Any other new
 * connection on an indexed fd means the fd's previous socket was closed unseen (its close came
 * while the kernel had forgotten it, or was dropped): the previous connection is evicted.
 *
 * <h2>How exchanges end</h2>
 *
 * <ul>
 *   <li>COMPLETE: the response's last byte was decoded; response end = that event's time. A body
 *       read until close completes at the CLOSE event, timed by its last data event.
 *   <li>TIMED_OUT: no response byte within {@link HttpSettings#responseTimeout()} after the last
 *       request byte. Its end time is request end + responseTimeout: the moment the wait was given
 *       up, a lower bound of the real duration (the request end would make a stuck call look
 *       fast). The request stays in the pairing queue, so a late response is matched to it and
 *       dropped rather than paired with the next request.
 *   <li>CONNECTION_CLOSED: the connection closed first; ends at the CLOSE event's time.
 *   <li>EVICTED: the tracker stopped following the connection (idle, over maxConnections, its fd
 *       carrying another socket before its close was seen, over maxPendingRequestsPerConnection,
 *       {@link #closeAll()} at shutdown, a protocol switch with requests still queued) or lost the
 *       response's bytes; ends at the last event seen on the connection.
 * </ul>
 */
public final class ConnectionTracker implements CaptureEventSink {
  /** Longest Host, User-Agent, traceparent or tracestate value kept. */
  static final int MAX_HEADER_VALUE_CHARS = 1024;
  /** Longest request target kept (url.path and url.query are cut to it). */
  static final int MAX_TARGET_CHARS = 2048;
  /** Size of the shared zero buffer whose slices stand in for bytes that were not copied. */
  static final int PLACEHOLDER_BYTES = DecoderPool.MAX_CHUNK_BYTES;
  /**
   * Heap one lent decoder holds besides the message bytes (its channel, pipeline and parser
   * state), about 2 KiB as measured by ConnectionTrackerBoundsTest; counted against
   * maxBufferedBytesTotal so that the number of connections inside a message is bounded too.
   */
  static final int DECODER_STATE_BYTES = 2 * 1024;
  /** A status code has three digits (RFC 9110 section 15). */
  private static final int MIN_STATUS_CODE = 100;
  private static final int MAX_STATUS_CODE = 999;
  private static final String HEX_DIGITS = "0123456789ABCDEF";
  private static final char REPLACEMENT_CHARACTER = '\uFFFD';
  private static final char DEL = 0x7f;
  /** Initial capacity of a connection's pairing queue (it grows up to the pending limit). */
  private static final int INITIAL_PENDING_CAPACITY = 4;
  /** Connections map sizing: grows from here as connections appear. */
  private static final int INITIAL_CONNECTIONS_CAPACITY = 1024;
  /** The first unexpected errors are logged as warnings, later ones at debug level. */
  private static final int MAX_WARNINGS_LOGGED = 10;
  /** Connections the kernel forgot are logged at most once per this interval (with a count). */
  private static final long FORGOTTEN_LOG_INTERVAL_NANOS = 60_000_000_000L;
  /** Bits of a (pid, fd) index key below the pid. */
  private static final int PID_SHIFT = 32;
  private static final long FD_MASK = 0xffff_ffffL;
  /** Odd multiplier (the 32-bit golden ratio) that scatters pids in {@link #fdKey}. */
  private static final int PID_MIX = 0x9E37_79B9;

  /** bodyRemaining value: not inside a body whose extent is known (headers, none). */
  private static final long NOT_IN_SIZED_BODY = -1;
  /** bodyRemaining value: inside a chunked body (its extent is in its framing). */
  private static final long IN_CHUNKED_BODY = -2;
  /** bodyRemaining value: inside a body that ends when the connection closes. */
  private static final long BODY_UNTIL_CLOSE = Long.MAX_VALUE;

  private static final ByteBuf PLACEHOLDER =
      Unpooled.unreleasableBuffer(
          Unpooled.wrappedBuffer(new byte[PLACEHOLDER_BYTES]).asReadOnly());
  private static final System.Logger LOG = System.getLogger(ConnectionTracker.class.getName());

  private final HttpSettings settings;
  private final ExchangeListener listener;
  private final ByteBufAllocator alloc;
  private final DecoderPool decoders;
  private final long responseTimeoutNanos;
  private final long idleTimeoutNanos;

  private final Counter[] exchangesByOutcome = new Counter[HttpExchange.Outcome.values().length];
  private final Counter gaps;
  private final Counter resyncs;
  private final Counter decoderErrors;
  private final Counter bufferLimits;
  private final Counter responsesWithoutRequest;
  private final Counter requestTimeouts;
  private final Counter evictionsWithPending;
  private final Counter notHttpConnections;
  private final Counter switchedConnections;
  private final Counter kernelForgotten;

  /** By kernel id, in order of activity: iteration starts at the least recently active. */
  private final ConnectionTable connections = new ConnectionTable();
  /**
   * (pid &lt;&lt; 32 | fd) -> the tracked connection that fd carries: how a connection the kernel
   * forgot and tracked again under a new id is recognised. Holds only connections that are in
   * {@link #connections} (removed with them), with primitive keys (no allocation per lookup).
   */
  private final LongObjectHashMap<Connection> byFd =
      new LongObjectHashMap<>(INITIAL_CONNECTIONS_CAPACITY);
  /** Reused view of the bytes a message-start test looks at (capture thread only). */
  private final MessageStart.Bytes startBytes = new MessageStart.Bytes();
  /** The last connection looked up; it is already the most recent in access order. */
  @Nullable private Connection lastConnection;

  private long bufferedBytesTotal;
  private int warningsLogged;
  /** Forgotten connections not yet logged, and when the last log line was written. */
  private long forgottenNotLogged;
  private long forgottenLoggedNanos;
  private boolean forgottenEverLogged;
  // Read by the metrics scrape on another thread.
  private volatile int connectionCountGauge;
  private volatile long bufferedBytesGauge;
  private volatile int decodersGauge;

  public ConnectionTracker(HttpSettings settings, ExchangeListener listener, AgentMetrics metrics) {
    this(settings, listener, metrics, PooledByteBufAllocator.DEFAULT);
  }

  /** With the allocator partial messages are copied into (tests pass one that finds leaks). */
  ConnectionTracker(
      HttpSettings settings,
      ExchangeListener listener,
      AgentMetrics metrics,
      ByteBufAllocator alloc) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.listener = Objects.requireNonNull(listener, "listener");
    Objects.requireNonNull(metrics, "metrics");
    this.alloc = Objects.requireNonNull(alloc, "alloc");
    this.decoders = new DecoderPool(settings, alloc);
    this.responseTimeoutNanos = settings.responseTimeout().toNanos();
    this.idleTimeoutNanos = settings.idleConnectionTimeout().toNanos();

    for (HttpExchange.Outcome outcome : HttpExchange.Outcome.values()) {
      exchangesByOutcome[outcome.ordinal()] =
          metrics.counter(
              "wirespan_exchanges_total",
              "HTTP exchanges ended, by outcome.",
              "outcome",
              outcome.name().toLowerCase(Locale.ROOT));
    }
    gaps = metrics.loss(LossCause.STREAM_GAP);
    resyncs = metrics.loss(LossCause.STREAM_RESYNC);
    decoderErrors = metrics.loss(LossCause.STREAM_DECODER_ERROR);
    bufferLimits = metrics.loss(LossCause.STREAM_BUFFER_LIMIT);
    responsesWithoutRequest = metrics.loss(LossCause.PAIRING_RESPONSE_WITHOUT_REQUEST);
    requestTimeouts = metrics.loss(LossCause.PAIRING_REQUEST_TIMEOUT);
    evictionsWithPending = metrics.loss(LossCause.PAIRING_CONNECTION_EVICTED);
    kernelForgotten = metrics.loss(LossCause.KERNEL_MAP_FULL);
    notHttpConnections =
        metrics.counter(
            "wirespan_http_untracked_connections_total",
            "Connections the HTTP stage stopped decoding, by reason.",
            "reason",
            "not_http");
    switchedConnections =
        metrics.counter(
            "wirespan_http_untracked_connections_total",
            "Connections the HTTP stage stopped decoding, by reason.",
            "reason",
            "protocol_switch");
    metrics.gauge(
        "wirespan_http_connections",
        "Connections the HTTP stage tracks.",
        () -> connectionCountGauge);
    metrics.gauge(
        "wirespan_http_buffered_bytes",
        "Bytes of partial HTTP messages held by the decoders.",
        () -> bufferedBytesGauge);
    metrics.gauge(
        "wirespan_http_decoders",
        "HTTP decoders held by connections inside a message (idle connections hold none).",
        () -> decodersGauge);
  }

  @Override
  public void onEvent(CaptureEvent event) {
    long id = event.connectionId();
    int type = event.type();
    if (type == CaptureEvent.TYPE_CLOSE) {
      Connection c = connections.remove(id);
      if (c != null) {
        forget(c);
        connectionCountGauge = connections.size();
        try {
          c.close(event.timestampNanos());
        } catch (RuntimeException e) {
          logUnexpected(e);
          decoderErrors.inc();
          c.evict();
        }
        updateGauges();
      }
      return;
    }
    if (type != CaptureEvent.TYPE_DATA) {
      return;
    }
    Connection c = lastConnection;
    if (c == null || c.id != id) {
      c = connections.get(id);
      if (c == null) {
        c = open(event);
      }
      lastConnection = c;
    }
    c.lastActivityNanos = Math.max(c.lastActivityNanos, event.timestampNanos());
    try {
      c.onData(event);
    } catch (RuntimeException e) {
      // A bug or a decoder surprise must cost this connection's state, not the capture thread.
      logUnexpected(e);
      decoderErrors.inc();
      c.loseAllBoundaries();
    }
    updateGauges();
  }

  /**
   * Ends exchanges whose response did not come within the response timeout and stops tracking
   * connections idle for the idle timeout. Call periodically, on the capture thread.
   *
   * @param nowMonotonicNanos CLOCK_MONOTONIC nanoseconds, the clock of the events' timestamps
   *     ({@link System#nanoTime()} on Linux)
   */
  public void expire(long nowMonotonicNanos) {
    Connection c = connections.leastRecentlyActive();
    while (c != null) {
      Connection next = c.newer;
      if (nowMonotonicNanos - c.lastActivityNanos >= idleTimeoutNanos) {
        connections.remove(c.id);
        forget(c);
        c.evict();
      } else {
        c.expirePending(nowMonotonicNanos);
      }
      c = next;
    }
    connectionCountGauge = connections.size();
    updateGauges();
  }

  /**
   * Stops tracking every connection (agent shutdown): their unfinished exchanges end EVICTED (the
   * connections are not known to be closed), counted as PAIRING_CONNECTION_EVICTED.
   */
  public void closeAll() {
    Connection c = connections.leastRecentlyActive();
    while (c != null) {
      Connection next = c.newer;
      c.evict();
      c = next;
    }
    connections.clear();
    byFd.clear();
    lastConnection = null;
    decoders.close();
    connectionCountGauge = 0;
    updateGauges();
  }

  /** Connections currently tracked. */
  public int connectionCount() {
    return connections.size();
  }

  /** Bytes of partial messages held by all connections (see Memory above). */
  public long bufferedBytes() {
    return bufferedBytesTotal;
  }

  /** Decoders held by connections (idle connections hold none). */
  public int activeDecoders() {
    return decoders.lent();
  }

  /** Entries of the (pid, fd) index (tests check that it is bounded by the connections). */
  int indexedConnections() {
    return byFd.size();
  }

  /**
   * The connection for an event with an id not tracked: the one it continues if the kernel forgot
   * and re-tracked it, else a new one.
   */
  private Connection open(CaptureEvent event) {
    long fdKey = fdKey(event.pid(), event.fd());
    Connection previous = byFd.get(fdKey);
    if (previous != null) {
      if (forgottenByKernel(previous, event)) {
        rejoin(previous, event);
        return previous;
      }
      // The fd carries another socket now: the previous one was closed without its close event.
      connections.remove(previous.id);
      forget(previous);
      previous.evict();
    }
    if (connections.size() >= settings.maxConnections()) {
      Connection oldest = connections.leastRecentlyActive();
      connections.remove(oldest.id);
      forget(oldest);
      oldest.evict();
    }
    ConnectionInfo info =
        new ConnectionInfo(
            event.pid(),
            event.cgroupId(),
            event.connectionId(),
            event.fd(),
            event.localAddress(),
            event.localPort(),
            event.remoteAddress(),
            event.remotePort(),
            event.processName());
    Connection c = new Connection(info, event.role(), event.timestampNanos());
    connections.put(info.connectionId(), c);
    byFd.put(fdKey, c);
    connectionCountGauge = connections.size();
    return c;
  }

  private static long fdKey(int pid, int fd) {
    // Unique per (pid, fd) (the pid is in the high half, and the low half is the fd mixed with a
    // function of the pid alone). The mixing spreads the key's hash (high half ^ low half, as
    // LongObjectHashMap takes it, without further mixing, into a linearly probed table): with
    // plain `pid << 32 | fd` it is pid ^ fd, so the fds of processes with nearby pids (the workers
    // of one server) crowded into one range of slots.
    return ((long) pid << PID_SHIFT) | ((fd ^ (pid * PID_MIX)) & FD_MASK);
  }

  /** Drops the other references to {@code c}, just removed from {@link #connections}. */
  private void forget(Connection c) {
    long key = fdKey(c.info.pid(), c.info.fd());
    if (byFd.get(key) == c) {
      byFd.remove(key);
    }
    if (c == lastConnection) {
      lastConnection = null;
    }
  }

  /**
   * Whether {@code event} (an id not tracked, on the fd {@code c} is indexed under) is {@code c}
   * tracked again by the kernel after it forgot it: the kernel re-tracks a connection it finds
   * moving bytes with role UNKNOWN (connect() and accept() give new sockets a role), and the socket
   * is the same when its addresses and ports are. Runs once per new connection id, not per event.
   */
  private static boolean forgottenByKernel(Connection c, CaptureEvent event) {
    ConnectionInfo info = c.info;
    return event.role() == CaptureEvent.ConnectionRole.UNKNOWN
        && event.localPort() == info.localPort()
        && event.remotePort() == info.remotePort()
        && event.localAddress().equals(info.localAddress())
        && event.remoteAddress().equals(info.remoteAddress());
  }

  /** {@code c} continues under the event's new id (see the class comment). */
  private void rejoin(Connection c, CaptureEvent event) {
    connections.remove(c.id);
    c.continueAs(event.connectionId());
    connections.put(c.id, c);
    kernelForgotten.inc();
    logForgotten(event.timestampNanos());
  }

  /** At most one line per interval: under a full map this happens for many events. */
  private void logForgotten(long nowNanos) {
    forgottenNotLogged++;
    if (forgottenEverLogged && nowNanos - forgottenLoggedNanos < FORGOTTEN_LOG_INTERVAL_NANOS) {
      return;
    }
    LOG.log(
        System.Logger.Level.WARNING,
        "the kernel''s connection map is full: {0} connection(s) forgotten by the kernel and"
            + " tracked again (wirespan_lost_total, stage kernel, cause map_full);"
            + " raise max-kernel-connections",
        forgottenNotLogged);
    forgottenNotLogged = 0;
    forgottenLoggedNanos = nowNanos;
    forgottenEverLogged = true;
  }

  private void updateGauges() {
    if (bufferedBytesGauge != bufferedBytesTotal) {
      bufferedBytesGauge = bufferedBytesTotal;
    }
    int lent = decoders.lent();
    if (decodersGauge != lent) {
      decodersGauge = lent;
    }
  }

  private void end(Pending p, HttpExchange.Outcome outcome, long endNanos) {
    if (p.reported) {
      return;
    }
    p.reported = true;
    HttpExchange x = p.exchange;
    if (outcome != HttpExchange.Outcome.COMPLETE) {
      x.setResponseEndNanos(Math.max(endNanos, x.requestEndNanos()));
    }
    x.setOutcome(outcome);
    exchangesByOutcome[outcome.ordinal()].inc();
    try {
      listener.onExchangeEnd(x);
    } catch (RuntimeException e) {
      logUnexpected(e);
    }
  }

  private void logUnexpected(RuntimeException e) {
    System.Logger.Level level =
        warningsLogged++ < MAX_WARNINGS_LOGGED
            ? System.Logger.Level.WARNING
            : System.Logger.Level.DEBUG;
    LOG.log(level, "HTTP decoding failed unexpectedly; the connection's state was reset", e);
  }

  /**
   * Whether an event's payload [from, to) begins a request with a known method of its own while
   * the bytes {@code gathered} before it, run together with it, make an unknown one: then the
   * gathered bytes ended something else (a body's last bytes) and the request begins with the
   * event. Leaves {@link #startBytes} set to the event's own bytes.
   */
  private boolean eventBeginsRequest(ByteBuf gathered, CaptureEvent e, int from, int to) {
    if (MessageStart.knownMethod(startBytes.set(gathered, e, from, to))) {
      return false;
    }
    MessageStart.Bytes own = startBytes.set(null, e, from, to);
    return MessageStart.knownMethod(own)
        && MessageStart.request(own, settings.maxInitialLineBytes()) == MessageStart.Match.MATCH;
  }

  private static String cap(String s, int maxChars) {
    return s.length() > maxChars ? s.substring(0, maxChars) : s;
  }

  /**
   * A request target as exported: Netty accepts control characters in it (they reach the
   * decoder from broken or hostile peers), which no exported string may carry, so they are
   * percent-encoded as a URL would carry them; then it is cut to {@link #MAX_TARGET_CHARS}.
   */
  private static String target(String uri) {
    return cap(withoutControls(uri, true), MAX_TARGET_CHARS);
  }

  @Nullable
  private static String header(HttpHeaders headers, CharSequence name) {
    String v = headers.get(name);
    return v == null ? null : cap(withoutControls(v, false), MAX_HEADER_VALUE_CHARS);
  }

  /**
   * {@code s} without control characters (C0 but tab, and DEL): each is percent-encoded, or
   * replaced by U+FFFD. Netty decodes the wire bytes as ISO-8859-1, so there are no surrogates.
   */
  private static String withoutControls(String s, boolean percentEncode) {
    int first = 0;
    while (first < s.length() && !isControl(s.charAt(first))) {
      first++;
    }
    if (first == s.length()) {
      return s; // the common case: nothing to copy
    }
    StringBuilder b = new StringBuilder(s.length() + 8).append(s, 0, first);
    for (int i = first; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!isControl(c)) {
        b.append(c);
      } else if (percentEncode) {
        b.append('%').append(HEX_DIGITS.charAt(c >> 4)).append(HEX_DIGITS.charAt(c & 0xf));
      } else {
        b.append(REPLACEMENT_CHARACTER);
      }
    }
    return b.toString();
  }

  private static boolean isControl(char c) {
    return (c < ' ' && c != '\t') || c == DEL;
  }

  /**
   * Contiguous bytes of one direction that may begin a message but are still too few to tell,
   * gathered across events while the direction waits for a message start. Bounded by what {@link
   * MessageStart} can still call a prefix (a request line up to maxInitialLineBytes), counted in
   * {@link #bufferedBytes()}.
   */
  private final class StartBuffer {
    @Nullable ByteBuf bytes;
    /** Stream offset just past the gathered bytes. */
    long endOffset;
    /** Time and thread of the event that carried the first gathered byte. */
    long startNanos;
    int startTid;

    int length() {
      return bytes == null ? 0 : bytes.readableBytes();
    }

    /** True when {@code offset} is where the gathered bytes end (the event continues them). */
    boolean continuedAt(long offset) {
      return bytes != null && offset == endOffset;
    }

    /**
     * Appends payload bytes [from, to) of {@code e}, whose payload was copied up to {@code to} and
     * whose first byte is at stream offset {@code offset}.
     */
    void append(CaptureEvent e, long offset, int from, int to) {
      int n = to - from;
      if (bytes == null) {
        bytes = alloc.heapBuffer(n);
        startNanos = e.timestampNanos();
        startTid = e.tid();
      }
      for (int i = from; i < to; i++) {
        bytes.writeByte(e.payloadByte(i));
      }
      endOffset = offset + to;
      bufferedBytesTotal += n;
    }

    /** Hands the gathered bytes over (to a decoder); the buffer is empty afterwards. */
    ByteBuf take() {
      ByteBuf b = bytes;
      bufferedBytesTotal -= b.readableBytes();
      bytes = null;
      return b;
    }

    void discard() {
      if (bytes != null) {
        take().release();
      }
    }
  }

  /** A request waiting for (or getting) its response. */
  private static final class Pending {
    final HttpExchange exchange;
    /** The listener was told it ended (timed out): its late response is matched and dropped. */
    boolean reported;

    Pending(HttpExchange exchange) {
      this.exchange = exchange;
    }
  }

  /**
   * The tracked connections by kernel id, with primitive keys (no boxed id per lookup), in a list
   * ordered by activity through the connections' own links: {@link #get} moves a connection to the
   * most recent end, eviction takes the least recent. What an access-ordered {@code LinkedHashMap}
   * does, without its {@code Long} per lookup (the two ends of a traced exchange alternate, so
   * nearly every event looks its connection up).
   */
  private final class ConnectionTable {
    private final LongObjectHashMap<Connection> byId =
        new LongObjectHashMap<>(INITIAL_CONNECTIONS_CAPACITY);
    @Nullable private Connection oldest;
    @Nullable private Connection newest;

    /** The connection with this id, now the most recently active; null when not tracked. */
    @Nullable
    Connection get(long id) {
      Connection c = byId.get(id);
      if (c != null && c != newest) {
        unlink(c);
        append(c);
      }
      return c;
    }

    /** Adds {@code c} under {@code id} as the most recently active (replacing nothing). */
    void put(long id, Connection c) {
      Connection previous = byId.put(id, c);
      if (previous != null) {
        unlink(previous);
      }
      append(c);
    }

    @Nullable
    Connection remove(long id) {
      Connection c = byId.remove(id);
      if (c != null) {
        unlink(c);
      }
      return c;
    }

    @Nullable
    Connection leastRecentlyActive() {
      return oldest;
    }

    int size() {
      return byId.size();
    }

    void clear() {
      byId.clear();
      oldest = null;
      newest = null;
    }

    private void append(Connection c) {
      c.older = newest;
      c.newer = null;
      if (newest != null) {
        newest.newer = c;
      } else {
        oldest = c;
      }
      newest = c;
    }

    private void unlink(Connection c) {
      if (c.older != null) {
        c.older.newer = c.newer;
      } else {
        oldest = c.newer;
      }
      if (c.newer != null) {
        c.newer.older = c.older;
      } else {
        newest = c.older;
      }
      c.older = null;
      c.newer = null;
    }
  }

  /** One tracked connection: pairing queue and the two directions' streams. */
  private final class Connection implements MessageDecoder.AnsweredRequest {
    /** The kernel's current id of the connection (a new one each time the kernel re-tracked it). */
    long id;
    /** Neighbours in {@link #connections}' activity order; null at its ends or once removed. */
    @Nullable Connection older;
    @Nullable Connection newer;
    final ConnectionInfo info;
    final CaptureEvent.ConnectionRole role;
    long lastActivityNanos;
    /** False once the connection is known not to carry HTTP/1.x (or switched protocols). */
    boolean decoding = true;
    /** Set by a response that switches protocols: tracking stops after the current event. */
    boolean switchingProtocols;
    @Nullable CaptureEvent.Direction requestDirection;
    @Nullable HttpExchange.Side side;
    @Nullable RequestStream requests;
    @Nullable ResponseStream responses;
    @Nullable ArrayDeque<Pending> pending;
    /** Responses whose request was dropped from the queue: they are decoded and discarded. */
    int responsesToSkip;
    /**
     * Response bytes were lost while requests were owed an answer: how many responses they held
     * is unknown, so the queue no longer tells which request the next response answers. Cleared
     * once every request seen was answered or ended.
     */
    boolean pairingUncertain;
    /** A request was seen to begin before the previous exchange's response had ended. */
    boolean pipelined;
    /** When the last response paired with certainty ended. */
    long lastResponseEndNanos = Long.MIN_VALUE;
    /** Bytes that may begin a message, per direction, until the request direction is known. */
    @Nullable StartBuffer ingressGathered;
    @Nullable StartBuffer egressGathered;
    /**
     * Added to the kernel's stream offsets of each direction: 0 until the kernel forgot the
     * connection, then where the offsets of the ids before ended (the new id's restart at 0).
     */
    long ingressBase;
    long egressBase;
    /** Where the bytes seen in each direction end, in this connection's offsets; -1: none yet. */
    long ingressEnd = -1;
    long egressEnd = -1;

    Connection(ConnectionInfo info, CaptureEvent.ConnectionRole role, long nowNanos) {
      this.id = info.connectionId();
      this.info = info;
      this.role = role;
      this.lastActivityNanos = nowNanos;
    }

    @Override
    @Nullable
    public String method(int ahead) {
      if (ahead == 0 && pairingUncertain && !pipelined && pending != null) {
        // Framed by the request pairing will give it (a HEAD's answer has no body).
        Pending p = newestBegunBy(responses.messageStartNanos);
        return p == null ? null : p.exchange.method();
      }
      if (ahead < responsesToSkip || pending == null) {
        return null;
      }
      int index = ahead - responsesToSkip;
      for (Pending p : pending) {
        if (index-- == 0) {
          return p.exchange.method();
        }
      }
      return null;
    }

    /** Ends a request taken off the queue without its whole answer: EVICTED, bytes missing. */
    void endDropped(Pending p, long nanos) {
      if (requests.current == p) {
        requests.current = null;
      }
      if (!p.reported) {
        p.exchange.markBytesMissing();
        end(p, HttpExchange.Outcome.EVICTED, nanos);
      }
    }

    /** The newest pending request that began no later than {@code nanos}, or null. */
    @Nullable
    Pending newestBegunBy(long nanos) {
      Pending found = null;
      if (pending != null) {
        for (Pending p : pending) {
          if (p.exchange.requestStartNanos() > nanos) {
            break;
          }
          found = p;
        }
      }
      return found;
    }

    /**
     * The kernel tracks this connection again under {@code newId}, its offsets from 0: they go on
     * where the old ones ended. A direction that had no bytes yet keeps offset 0 at its start
     * (when the role is known, the kernel reported every byte since the connection became HTTP).
     */
    void continueAs(long newId) {
      id = newId;
      ingressBase = Math.max(ingressEnd, 0);
      egressBase = Math.max(egressEnd, 0);
    }

    void onData(CaptureEvent e) {
      long length = e.length();
      if (length <= 0) {
        return;
      }
      boolean ingress = e.direction() == CaptureEvent.Direction.INGRESS;
      long offset = e.streamOffset() + (ingress ? ingressBase : egressBase);
      if (ingress) {
        ingressEnd = Math.max(ingressEnd, offset + length);
      } else {
        egressEnd = Math.max(egressEnd, offset + length);
      }
      if (!decoding) {
        return;
      }
      if (requestDirection == null && !chooseRequestDirection(e, offset)) {
        return;
      }
      Stream s = e.direction() == requestDirection ? requests : responses;
      s.onData(e, offset);
      if (switchingProtocols) {
        stopDecoding(switchedConnections);
        return;
      }
      if (s.buffered > 0 || s.gatheredLength() > 0) {
        int buffered =
            requests.buffered
                + responses.buffered
                + requests.gatheredLength()
                + responses.gatheredLength();
        if (overLimit(buffered)) {
          s.loseBoundary(bufferLimits, s.decoder != null && s.decoder.inMessage());
        }
      }
    }

    private boolean overLimit(int connectionBufferedBytes) {
      // A lent decoder's own state costs heap too: many connections each holding a few bytes
      // of a message must not escape the total either.
      long decoderState = (long) decoders.lent() * DECODER_STATE_BYTES;
      return connectionBufferedBytes > settings.maxBufferedBytesPerConnection()
          || bufferedBytesTotal + decoderState > settings.maxBufferedBytesTotal();
    }

    /**
     * Decides from the first payload which direction carries requests; false when it cannot yet.
     * Mid-stream, each direction's contiguous bytes are gathered across events until they surely
     * begin a request or a response, or surely cannot.
     */
    private boolean chooseRequestDirection(CaptureEvent e, long offset) {
      int n = (int) Math.min(e.headCaptured(), e.length());
      CaptureEvent.Direction here = e.direction();
      boolean ingress = here == CaptureEvent.Direction.INGRESS;
      StartBuffer g = ingress ? ingressGathered : egressGathered;
      if (n <= 0) {
        if (g != null) {
          g.discard();
        }
        return false;
      }
      ByteBuf head = null;
      if (g != null) {
        if (g.continuedAt(offset)) {
          head = g.bytes;
        } else {
          g.discard();
        }
      }
      int maxTarget = settings.maxInitialLineBytes();
      MessageStart.Match asRequest = MessageStart.request(startBytes.set(head, e, 0, n), maxTarget);
      MessageStart.Match asResponse = MessageStart.response(startBytes);
      if (head != null
          && ((asRequest == MessageStart.Match.MISMATCH
                  && asResponse == MessageStart.Match.MISMATCH)
              || (asRequest == MessageStart.Match.MATCH && eventBeginsRequest(head, e, 0, n)))) {
        // The gathered bytes began nothing (or ended a body, and the event begins a request of
        // its own); the event's own first bytes still may.
        g.discard();
        head = null;
        asRequest = MessageStart.request(startBytes.set(null, e, 0, n), maxTarget);
        asResponse = MessageStart.response(startBytes);
      }
      CaptureEvent.Direction other =
          ingress ? CaptureEvent.Direction.EGRESS : CaptureEvent.Direction.INGRESS;
      CaptureEvent.Direction chosen = null;
      if (asRequest == MessageStart.Match.MATCH && asResponse != MessageStart.Match.MATCH) {
        chosen = here;
      } else if (asResponse == MessageStart.Match.MATCH
          && asRequest != MessageStart.Match.MATCH) {
        chosen = other;
      } else if (head == null
          && offset == 0
          && role != CaptureEvent.ConnectionRole.UNKNOWN) {
        // The first bytes of a stream start a message: too few to tell, the role decides.
        CaptureEvent.Direction byRole =
            role == CaptureEvent.ConnectionRole.SERVER
                ? CaptureEvent.Direction.INGRESS
                : CaptureEvent.Direction.EGRESS;
        MessageStart.Match expected = here == byRole ? asRequest : asResponse;
        MessageStart.Match unexpected = here == byRole ? asResponse : asRequest;
        if (expected != MessageStart.Match.MISMATCH) {
          chosen = byRole;
        } else if (unexpected != MessageStart.Match.MISMATCH) {
          chosen = byRole == here ? other : here;
        } else {
          stopDecoding(notHttpConnections);
          return false;
        }
      }
      if (chosen == null) {
        // Mid-stream and not (yet) at a message start: gather what may still become one.
        boolean mayStart =
            asRequest == MessageStart.Match.PREFIX || asResponse == MessageStart.Match.PREFIX;
        if (mayStart && n == e.length()) {
          if (g == null) {
            g = new StartBuffer();
            if (ingress) {
              ingressGathered = g;
            } else {
              egressGathered = g;
            }
          }
          g.append(e, offset, 0, n);
          int gathered =
              (ingressGathered == null ? 0 : ingressGathered.length())
                  + (egressGathered == null ? 0 : egressGathered.length());
          if (overLimit(gathered)) {
            bufferLimits.inc();
            g.discard();
          }
        } else if (g != null) {
          g.discard();
        }
        return false;
      }
      requestDirection = chosen;
      side =
          chosen == CaptureEvent.Direction.INGRESS
              ? HttpExchange.Side.SERVER
              : HttpExchange.Side.CLIENT;
      requests = new RequestStream(this);
      responses = new ResponseStream(this);
      // The streams test the gathered bytes again, each for its own kind of message.
      boolean requestsIngress = chosen == CaptureEvent.Direction.INGRESS;
      requests.adopt(requestsIngress ? ingressGathered : egressGathered);
      responses.adopt(requestsIngress ? egressGathered : ingressGathered);
      ingressGathered = null;
      egressGathered = null;
      return true;
    }

    ArrayDeque<Pending> pending() {
      if (pending == null) {
        pending = new ArrayDeque<>(INITIAL_PENDING_CAPACITY);
      }
      return pending;
    }

    void enqueue(Pending p) {
      ArrayDeque<Pending> q = pending();
      if (!q.isEmpty()
          && q.peekLast().exchange.requestStartNanos() == p.exchange.requestStartNanos()) {
        pipelined = true; // two requests in one write
      }
      while (q.size() >= settings.maxPendingRequestsPerConnection()) {
        Pending oldest = q.pollFirst();
        if (oldest == responses.target) {
          // Its response is being decoded: it completes without the queue's help.
          continue;
        }
        if (!oldest.reported) {
          bufferLimits.inc();
        }
        endDropped(oldest, lastActivityNanos);
        // Its response may still come: keep pairing the others right (after a loss, on a client
        // that waits for each answer, pairing by time recognises it instead).
        if (!pairingUncertain || pipelined) {
          responsesToSkip++;
        }
      }
      q.addLast(p);
    }

    void expirePending(long nowNanos) {
      if (pending == null) {
        return;
      }
      for (Pending p : pending) {
        if (!p.reported
            && p != responses.target
            && nowNanos - p.exchange.requestEndNanos() >= responseTimeoutNanos) {
          requestTimeouts.inc();
          end(p, HttpExchange.Outcome.TIMED_OUT, p.exchange.requestEndNanos() + responseTimeoutNanos);
        }
      }
    }

    /** A CLOSE event: a body read until close ends here; everything else unfinished is cut. */
    void close(long closeNanos) {
      if (decoding && responses != null) {
        responses.finishAtClose();
      }
      endUnfinished(HttpExchange.Outcome.CONNECTION_CLOSED, closeNanos);
      releaseStreams();
    }

    /** The tracker stops following this connection (idle, limits, shutdown). */
    void evict() {
      if (endUnfinished(HttpExchange.Outcome.EVICTED, lastActivityNanos)) {
        evictionsWithPending.inc();
      }
      releaseStreams();
    }

    /** After an unexpected error: every partial message is dropped, decoding resynchronises. */
    void loseAllBoundaries() {
      if (requests != null) {
        requests.loseBoundary(null, true);
        responses.loseBoundary(null, true);
      }
    }

    private void stopDecoding(Counter reason) {
      reason.inc();
      decoding = false;
      endUnfinished(HttpExchange.Outcome.EVICTED, lastActivityNanos);
      releaseStreams();
    }

    /** Ends every exchange not yet reported; true when there was one. */
    private boolean endUnfinished(HttpExchange.Outcome outcome, long endNanos) {
      boolean any = false;
      if (pending != null) {
        for (Pending p : pending) {
          if (!p.reported) {
            any = true;
            end(p, outcome, endNanos);
          }
        }
        pending.clear();
      }
      return any;
    }

    private void releaseStreams() {
      if (requests != null) {
        requests.release();
        responses.release();
      }
      if (ingressGathered != null) {
        ingressGathered.discard();
      }
      if (egressGathered != null) {
        egressGathered.discard();
      }
    }
  }

  /** One direction of a connection: offsets, message boundary, the lent decoder. */
  private abstract class Stream {
    final Connection conn;
    long expectedOffset = -1;
    /** True when the next byte at expectedOffset is known to be a message boundary or inside one. */
    boolean synced;
    @Nullable MessageDecoder decoder;
    /** Bytes the decoder holds, as counted in bufferedBytesTotal. */
    int buffered;
    // The event being fed, and the one that carried the current message's first byte.
    long eventNanos;
    int eventTid;
    long messageStartNanos;
    int messageStartTid;
    /**
     * Body bytes still to come when inside a sized body; NOT_IN_SIZED_BODY, IN_CHUNKED_BODY or
     * BODY_UNTIL_CLOSE.
     */
    long bodyRemaining = NOT_IN_SIZED_BODY;
    /**
     * Zeros stood in for uncopied bytes of the current chunked body: if the decoder fails before
     * the message ends, they hid framing (a lost boundary, not malformed traffic).
     */
    boolean framingGuessed;
    /** Decoded content bytes of the current message (placeholders included). */
    long bodyBytes;
    /** While waiting for a message start: bytes that may begin one; null until first needed. */
    @Nullable StartBuffer gathered;
    /**
     * While waiting for a message start: the next bytes, if contiguous, are known to begin a
     * message (HTTP/1.x answers in order). They are still checked: bytes that cannot begin one
     * are counted; on the request direction only a known method (or its first bytes) is taken on
     * causality alone, anything else must look like a request line by itself.
     */
    boolean startExpected;
    /** A loss was counted here since the last message boundary found. */
    boolean lossCounted;
    /** The first bytes seen in this direction were its first. */
    boolean seenFromStart;

    Stream(Connection conn) {
      this.conn = conn;
    }

    abstract MessageDecoder lendDecoder();

    /** Whether the bytes tested begin this direction's kind of message. */
    abstract MessageStart.Match startMatch(MessageStart.Bytes bytes);

    /** Takes over bytes gathered before the connection's request direction was known. */
    final void adopt(@Nullable StartBuffer g) {
      if (g != null && g.length() > 0) {
        gathered = g;
        expectedOffset = g.endOffset;
      }
    }

    final int gatheredLength() {
      return gathered == null ? 0 : gathered.length();
    }

    /**
     * Called when causality says this direction's next contiguous bytes begin a message: only
     * while it waits for a message start and has gathered nothing that might begin one itself.
     */
    final void expectStart() {
      if (!synced && gatheredLength() == 0) {
        startExpected = true;
      }
    }

    /** Handles one decoded object; may lose the boundary (then the decoder is gone). */
    abstract void handle(Object decoded);

    /** The current partial message is being dropped: settle its exchange. */
    abstract void dropPartialMessage(boolean inMessage);

    void afterEvent() {}

    /** One event of this direction, its first byte at stream offset {@code offset}. */
    final void onData(CaptureEvent e, long offset) {
      long length = e.length();
      // The head is the event's first bytes; the tail (if any) its last, after a gap in the copy.
      int captured = (int) Math.min(e.headCaptured(), length);
      int tail = (int) Math.min(e.tailCaptured(), length - captured);
      long tailStart = length - tail;
      long skip = 0;
      eventNanos = e.timestampNanos();
      eventTid = e.tid();
      // Whether this event's new bytes follow the last ones seen here without a gap.
      boolean contiguous = expectedOffset < 0 || offset <= expectedOffset;
      if (expectedOffset < 0) {
        // First bytes seen in this direction: a boundary only if they are the stream's first.
        synced = offset == 0 && conn.role != CaptureEvent.ConnectionRole.UNKNOWN;
        if (offset > 0
            && this instanceof ResponseStream r
            && conn.requests.seenFromStart
            && conn.role != CaptureEvent.ConnectionRole.UNKNOWN) {
          // A connection seen from its start: the response bytes before these were lost, and
          // with them maybe whole answers to requests already seen.
          gaps.inc();
          lossCounted = true;
          startExpected = false;
          r.responsesMayBeLost();
        }
        seenFromStart = offset == 0;
      } else if (offset < expectedOffset) {
        skip = expectedOffset - offset;
        if (skip >= length) {
          return; // bytes already seen
        }
      } else if (offset > expectedOffset && e.followsShedExchanges() && (!synced || decoder == null)) {
        // Whole exchanges the kernel shed while its ring was crowded (counted there), skipped
        // between messages: not a loss. Their answers are skipped too, so a response answers the
        // newest request begun before it (as after a gap). The kernel resumes where calls change
        // direction, which is a message start unless a body followed an interim answer: the
        // bytes must look like a message start by themselves (a body whose headers were shed is
        // skipped, part of an exchange counted already).
        if (this instanceof ResponseStream r) {
          r.responsesMayBeLost();
        }
        synced = false;
      } else if (offset > expectedOffset) {
        gaps.inc();
        lossCounted = true;
        long gap = offset - expectedOffset;
        if (synced) {
          if (bodyRemaining >= gap && decoder != null) {
            markBytesMissing();
            feedPlaceholders(gap);
          } else {
            loseBoundary(resyncs, decoder != null && decoder.inMessage());
          }
        }
      }
      expectedOffset = offset + length;
      if (!synced) {
        if (!awaitStart(
            e, offset, (int) Math.min(skip, captured), captured, length, contiguous)) {
          return;
        }
        synced = true;
        lossCounted = false;
        if (this instanceof RequestStream r) {
          r.requestLost = false;
        }
        if (gatheredLength() > 0) {
          feedGathered();
        }
      }
      if (skip < captured && synced) {
        feed(e, (int) skip, captured);
      }
      long missing = tailStart - Math.max(captured, skip);
      if (missing > 0 && synced) {
        if (bodyRemaining >= missing) {
          feedPlaceholders(missing); // uncopied body bytes: framing is all that matters
        } else if (bodyRemaining == IN_CHUNKED_BODY && decoder != null) {
          // Netty decides: zeros where chunk framing was make it fail (then counted a resync).
          framingGuessed = true;
          feedPlaceholders(missing);
        } else {
          if (bodyRemaining > 0) {
            feedPlaceholders(bodyRemaining); // the body ends among them; what follows is lost
          }
          if (synced) {
            loseBoundary(resyncs, decoder != null && decoder.inMessage());
          }
        }
      }
      if (tail > 0 && synced && decoder != null) {
        long from = Math.max(tailStart, skip);
        if (from < length) {
          // (the tail as sent is never shorter than what is fed of it: tail <= tailCaptured)
          feedTail(e, (int) (from - tailStart) + e.tailCaptured() - tail);
        }
      }
      if (decoder != null && !decoder.inMessage()) {
        decoders.giveBack(decoder);
        decoder = null;
      }
      updateBuffered();
      afterEvent();
    }

    /**
     * While waiting for a message start: whether this event's new payload bytes [from, captured)
     * begin a message, possibly after bytes gathered from earlier contiguous events (then they are
     * still in {@link #gathered}, to be fed first). Bytes that might still become a message start
     * are gathered; bytes that cannot are dropped and the wait goes on.
     */
    private boolean awaitStart(
        CaptureEvent e, long offset, int from, int captured, long length, boolean contiguous) {
      boolean expected = startExpected;
      startExpected = false;
      if (!contiguous && gathered != null) {
        gathered.discard();
      }
      if (from >= captured) {
        // Nothing copied to look at: whatever was gathered cannot be continued.
        if (gathered != null) {
          gathered.discard();
        }
        return false;
      }
      if (expected && contiguous && gatheredLength() == 0) {
        int at = from;
        while (at < captured && (e.payloadByte(at) == '\r' || e.payloadByte(at) == '\n')) {
          at++; // empty lines a peer may send between messages
        }
        if (at == captured) {
          startExpected = true; // only empty lines: the message begins in a later event
          return false;
        }
        MessageStart.Bytes bytes = startBytes.set(null, e, at, captured);
        if (startMatch(bytes) == MessageStart.Match.MISMATCH) {
          // Where a message must begin, bytes that cannot begin one are malformed traffic, unless
          // they follow bytes already counted lost here (then they are that loss's consequence).
          if (!lossCounted) {
            decoderErrors.inc();
            lossCounted = true;
          }
          return false;
        }
        if (!(this instanceof RequestStream) || MessageStart.knownMethodOrPrefix(bytes)) {
          return true;
        }
        // An unknown method, or token bytes that may be a body's last ones: they must look like
        // a request by themselves, as anywhere else.
      }
      // Gathering may go on only when the event's bytes were all copied.
      boolean whole = captured == length;
      if (gatheredLength() > 0) {
        MessageStart.Match m = startMatch(startBytes.set(gathered.bytes, e, from, captured));
        if (m == MessageStart.Match.MATCH
            && !(this instanceof RequestStream
                && eventBeginsRequest(gathered.bytes, e, from, captured))) {
          return true;
        }
        if (m == MessageStart.Match.PREFIX && whole) {
          gathered.append(e, offset, from, captured);
          return false;
        }
        gathered.discard();
      }
      // The event's own first bytes may begin a message.
      MessageStart.Match m = startMatch(startBytes.set(null, e, from, captured));
      if (m == MessageStart.Match.MATCH) {
        return true;
      }
      if (m == MessageStart.Match.PREFIX && whole) {
        if (gathered == null) {
          gathered = new StartBuffer();
        }
        gathered.append(e, offset, from, captured);
      }
      return false;
    }

    /** Feeds the gathered bytes that begin the message, timed by the event that carried them. */
    private void feedGathered() {
      if (decoder == null) {
        decoder = lendDecoder();
      }
      messageStartNanos = gathered.startNanos;
      messageStartTid = gathered.startTid;
      write(gathered.take());
    }

    private void feed(CaptureEvent e, int skip, int captured) {
      if (decoder == null) {
        decoder = lendDecoder();
      }
      if (!decoder.inMessage()) {
        messageStartNanos = eventNanos;
        messageStartTid = eventTid;
      }
      ByteBuf bytes = alloc.heapBuffer(captured);
      e.copyHeadTo(bytes);
      bytes.writerIndex(captured); // a head longer than the call moved is cut to it
      bytes.skipBytes(skip);
      write(bytes);
    }

    /** Feeds the event's tail from its byte {@code skip} on (the decoder is inside a message). */
    private void feedTail(CaptureEvent e, int skip) {
      ByteBuf bytes = alloc.heapBuffer(e.tailCaptured());
      e.copyTailTo(bytes);
      bytes.skipBytes(skip);
      write(bytes);
    }

    private void feedPlaceholders(long count) {
      long left = count;
      while (left > 0 && decoder != null) {
        int n = (int) Math.min(left, PLACEHOLDER_BYTES);
        write(PLACEHOLDER.slice(0, n));
        left -= n;
      }
    }

    private void write(ByteBuf bytes) {
      try {
        decoder.write(bytes);
      } catch (RuntimeException ex) {
        // The decoder threw instead of reporting a failed result: treat it the same way.
        LOG.log(System.Logger.Level.DEBUG, "HTTP decoder threw", ex);
        loseBoundary(failureCause(), true);
        return;
      }
      drain();
    }

    private void drain() {
      Object o;
      while (decoder != null && (o = decoder.poll()) != null) {
        try {
          if (o instanceof HttpObject h && h.decoderResult().isFailure()) {
            loseBoundary(failureCause(), true);
          } else {
            handle(o);
          }
        } finally {
          ReferenceCountUtil.release(o);
        }
      }
    }

    /** What a decoder failure means: zeros hid the framing (a resync), or the bytes were bad. */
    private Counter failureCause() {
      return framingGuessed ? resyncs : decoderErrors;
    }

    /** Body accounting for one decoded content piece. */
    final void countContent(HttpContent c) {
      int n = c.content().readableBytes();
      bodyBytes += n;
      if (bodyRemaining != BODY_UNTIL_CLOSE && bodyRemaining > 0) {
        bodyRemaining -= n;
      }
    }

    /** A message's header block was decoded: how its body is framed. */
    final void startBody(HttpMessage m) {
      bodyBytes = 0;
      framingGuessed = false;
      if (HttpUtil.isTransferEncodingChunked(m)) {
        bodyRemaining = IN_CHUNKED_BODY;
      } else {
        long length = HttpUtil.getContentLength(m, -1L);
        bodyRemaining = length >= 0 ? length : BODY_UNTIL_CLOSE;
      }
    }

    /** The message ended in the current event; the next one starts at the earliest here. */
    final void endMessage() {
      bodyRemaining = NOT_IN_SIZED_BODY;
      framingGuessed = false;
      bodyBytes = 0;
      messageStartNanos = eventNanos;
      messageStartTid = eventTid;
    }

    abstract void markBytesMissing();

    /**
     * Drops the partial message and waits for the next plausible message start.
     *
     * @param cause counted once, or null
     * @param inMessage whether bytes of a message had been fed (its exchange is affected)
     */
    final void loseBoundary(@Nullable Counter cause, boolean inMessage) {
      if (cause != null) {
        cause.inc();
        lossCounted = true;
      }
      if (this instanceof RequestStream r) {
        r.requestLost = true;
      }
      dropPartialMessage(inMessage);
      if (decoder != null) {
        MessageDecoder d = decoder;
        decoder = null; // before closing: closing may deliver results nobody must handle
        decoders.drop(d);
      }
      bodyRemaining = NOT_IN_SIZED_BODY;
      framingGuessed = false;
      bodyBytes = 0;
      synced = false;
      startExpected = false;
      if (gathered != null) {
        gathered.discard();
      }
      updateBuffered();
    }

    final void updateBuffered() {
      int now = decoder == null ? 0 : decoder.bufferedBytes();
      if (now != buffered) {
        bufferedBytesTotal += now - buffered;
        buffered = now;
      }
    }

    final void release() {
      if (gathered != null) {
        gathered.discard();
      }
      if (decoder != null) {
        MessageDecoder d = decoder;
        decoder = null;
        decoders.drop(d);
      }
      updateBuffered();
    }
  }

  /** The direction that carries requests: each decoded request line opens an exchange. */
  private final class RequestStream extends Stream {
    /** The exchange whose request is being decoded, once its headers were. */
    @Nullable Pending current;
    /**
     * Bytes that may hold (part of) a request were lost since the last message boundary seen here,
     * and no response has answered them yet: the rest of that request may still be on its way, so
     * answers to the requests seen do not tell where the next request begins.
     */
    boolean requestLost;

    RequestStream(Connection conn) {
      super(conn);
    }

    @Override
    MessageDecoder lendDecoder() {
      return decoders.lendRequestDecoder();
    }

    @Override
    MessageStart.Match startMatch(MessageStart.Bytes bytes) {
      return MessageStart.request(bytes, settings.maxInitialLineBytes());
    }

    @Override
    void handle(Object decoded) {
      if (decoded instanceof HttpRequest request) {
        String method = request.method().name();
        if (method.length() > MessageStart.MAX_METHOD_BYTES) {
          // Netty takes a token of any length up to the line limit; no method is this long, and
          // such a "method" is bytes of a body decoded from where no request began.
          loseBoundary(decoderErrors, true);
          return;
        }
        HttpExchange x = new HttpExchange(conn.info, conn.side);
        x.setRequestLine(
            method,
            target(request.uri()),
            version(request.protocolVersion()));
        HttpHeaders h = request.headers();
        x.setHost(header(h, HttpHeaderNames.HOST));
        x.setUserAgent(header(h, HttpHeaderNames.USER_AGENT));
        x.setTraceHeaders(header(h, NeededHeaders.TRACEPARENT), header(h, NeededHeaders.TRACESTATE));
        x.setRequestTiming(messageStartTid, messageStartNanos, eventNanos);
        Pending p = new Pending(x);
        conn.enqueue(p);
        current = p;
        if (conn.responsesToSkip == 0 && conn.pending.size() == 1) {
          // Nothing else is owed an answer: the response direction's next bytes answer this.
          conn.responses.expectStart();
        }
        startBody(request);
        try {
          listener.onRequestStart(x);
        } catch (RuntimeException e) {
          logUnexpected(e);
        }
      }
      if (decoded instanceof HttpContent content) {
        countContent(content);
        Pending p = current;
        if (p != null && !p.reported) {
          p.exchange.setRequestBodySize(bodyBytes);
          if (content instanceof LastHttpContent) {
            p.exchange.setRequestEndNanos(eventNanos);
          }
        }
        if (content instanceof LastHttpContent) {
          current = null;
          endMessage();
        }
      }
    }

    @Override
    void afterEvent() {
      Pending p = current;
      if (p != null && !p.reported) {
        p.exchange.setRequestEndNanos(eventNanos);
      }
    }

    @Override
    void markBytesMissing() {
      if (current != null && !current.reported) {
        current.exchange.markBytesMissing();
      }
    }

    @Override
    void dropPartialMessage(boolean inMessage) {
      // A request whose headers were decoded still gets its response; its body was cut.
      markBytesMissing();
      current = null;
    }

    private String version(HttpVersion v) {
      if (v == HttpVersion.HTTP_1_1) {
        return "1.1";
      }
      if (v == HttpVersion.HTTP_1_0) {
        return "1.0";
      }
      return v.majorVersion() + "." + v.minorVersion();
    }
  }

  /** The direction that carries responses: each final response ends the oldest pending request. */
  private final class ResponseStream extends Stream {
    /** The exchange the response being decoded answers (final status decoded). */
    @Nullable Pending target;
    /** Decoding a 1xx interim response: it neither pairs nor ends anything. */
    boolean interim;
    /** Decoding a response that answers nothing we keep: decoded for framing, then dropped. */
    boolean discarding;
    /** The response being discarded answers a request whose bytes were lost. */
    boolean answersLostRequest;
    boolean switchesProtocols;

    ResponseStream(Connection conn) {
      super(conn);
    }

    @Override
    MessageDecoder lendDecoder() {
      MessageDecoder d = decoders.lendResponseDecoder();
      d.answering(conn);
      return d;
    }

    @Override
    MessageStart.Match startMatch(MessageStart.Bytes bytes) {
      return MessageStart.response(bytes);
    }

    @Override
    void handle(Object decoded) {
      if (decoded instanceof HttpResponse response) {
        int code = response.status().code();
        if (code < MIN_STATUS_CODE || code > MAX_STATUS_CODE) {
          // Netty takes any number for a status code; a status line needs three digits.
          loseBoundary(decoderErrors, true);
          return;
        }
        startBody(response);
        if (code >= 100 && code < 200 && code != 101) {
          interim = true; // 100 Continue and friends neither pair nor end anything
        } else {
          decoder.finalResponseHandled();
          pair(code);
        }
      }
      if (decoded instanceof HttpContent content) {
        countContent(content);
        Pending p = target;
        if (p != null && !p.reported) {
          p.exchange.setResponseBodySize(bodyBytes);
        }
        if (content instanceof LastHttpContent) {
          if (interim) {
            interim = false;
          } else if (p != null) {
            complete(p);
          } else if (answersLostRequest && (conn.pending == null || conn.pending.isEmpty())) {
            conn.requests.expectStart(); // the lost request was answered, nothing else is owed
          }
          answersLostRequest = false;
          discarding = false;
          endMessage();
        }
      }
    }

    /**
     * The request a response answers while pairing is uncertain (see {@link
     * Connection#pairingUncertain}), or null when it answers none still queued. A response cannot
     * begin before its request did, and a client that waits for each answer (most do) sent the
     * newest request that began before the response after the earlier answers arrived: that is the
     * one answered, and older requests, whose answers were lost, end (EVICTED, bytes missing). On
     * a connection whose client was seen pipelining the number of lost answers cannot be told: the
     * oldest request is answered as usual, unless the response began before it did.
     */
    @Nullable
    private Pending pairAfterLoss() {
      ArrayDeque<Pending> q = conn.pending;
      if (q == null || q.isEmpty()) {
        conn.pairingUncertain = false; // nothing left to mispair
        return null;
      }
      if (conn.pipelined) {
        // (A pipelining client's lost answers cannot be counted: the oldest is the best guess.)
        Pending oldest = q.peekFirst();
        return oldest.exchange.requestStartNanos() <= messageStartNanos ? oldest : null;
      }
      Pending answered = conn.newestBegunBy(messageStartNanos);
      while (answered != null && q.peekFirst() != answered) {
        conn.endDropped(q.pollFirst(), eventNanos);
      }
      return answered;
    }

    /**
     * A final response's headers were decoded: it answers the oldest pending request, or after
     * lost response bytes the one {@link #pairAfterLoss} finds.
     */
    private void pair(int code) {
      if (conn.responsesToSkip > 0) {
        conn.responsesToSkip--;
        discarding = true;
        return;
      }
      ArrayDeque<Pending> queued = conn.pending;
      if (queued != null && queued.size() >= 2 && !conn.pipelined && !conn.pairingUncertain) {
        // (Not after a loss: a request queued behind one whose answer was lost looks the same.)
        Iterator<Pending> it = queued.iterator();
        it.next();
        if (it.next().exchange.requestStartNanos() < messageStartNanos) {
          conn.pipelined = true; // a request was sent before the answer to the one before it
        }
      }
      Pending head;
      if (conn.pairingUncertain) {
        head = pairAfterLoss();
      } else {
        head = conn.pending == null ? null : conn.pending.peekFirst();
      }
      if (head == null) {
        responsesWithoutRequest.inc();
        discarding = true;
        if (conn.requests.requestLost) {
          answersLostRequest = true; // the server read the request whose bytes were lost
          conn.requests.requestLost = false;
        }
        return;
      }
      target = head;
      switchesProtocols =
          code == HttpResponseStatus.SWITCHING_PROTOCOLS.code()
              || (code / 100 == 2 && "CONNECT".equals(head.exchange.method()));
      if (!head.reported) {
        head.exchange.setStatusCode(code);
        head.exchange.setResponseTiming(messageStartTid, messageStartNanos, eventNanos);
      }
    }

    private void complete(Pending p) {
      target = null;
      ArrayDeque<Pending> q = conn.pending;
      if (q != null && !q.remove(p)) {
        // dropped from the queue over its limit while its response was being decoded
        LOG.log(System.Logger.Level.TRACE, "response completed a request no longer queued");
      }
      RequestStream requests = conn.requests;
      if (requests.current == p) {
        requests.current = null; // answered before its body was all read: stop counting it
      }
      if (!p.reported) {
        p.exchange.setResponseEndNanos(eventNanos);
      }
      if (!conn.pairingUncertain) {
        if (p.exchange.requestStartNanos() < conn.lastResponseEndNanos) {
          conn.pipelined = true;
        }
        conn.lastResponseEndNanos = eventNanos;
      }
      end(p, HttpExchange.Outcome.COMPLETE, eventNanos);
      if (q == null || q.isEmpty()) {
        conn.pairingUncertain = false; // every request seen was answered or ended
      }
      if (switchesProtocols) {
        switchesProtocols = false;
        conn.switchingProtocols = true;
      } else if (q != null && q.isEmpty() && !p.exchange.bytesMissing() && !requests.requestLost) {
        // Every request seen whole was answered: the request direction's next bytes begin the
        // next request. (Not after a cut request, nor after bytes of one were lost unanswered:
        // the rest of it may still be on its way.)
        requests.expectStart();
      }
    }

    /** At CLOSE: a response read until close ends here (timed by its last data event). */
    void finishAtClose() {
      if (decoder == null || !decoder.inMessage() || !synced) {
        return;
      }
      MessageDecoder d = decoder;
      try {
        d.finish();
        Object o;
        while (decoder != null && (o = d.poll()) != null) {
          try {
            if (!(o instanceof HttpObject h && h.decoderResult().isFailure())) {
              handle(o);
            }
          } finally {
            ReferenceCountUtil.release(o);
          }
        }
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.DEBUG, "HTTP decoder threw at close", e);
      }
    }

    @Override
    void markBytesMissing() {
      if (target != null && !target.reported) {
        target.exchange.markBytesMissing();
      }
    }

    @Override
    void dropPartialMessage(boolean inMessage) {
      Pending p = target;
      if (p == null && inMessage && !interim && !discarding) {
        // The bytes dropped were (part of) the response to the oldest pending request.
        if (conn.responsesToSkip > 0) {
          conn.responsesToSkip--;
        } else if (conn.pending != null) {
          p = conn.pending.peekFirst();
        }
      }
      target = null;
      interim = false;
      discarding = false;
      answersLostRequest = false;
      switchesProtocols = false;
      if (p != null) {
        conn.pending.remove(p);
        conn.endDropped(p, eventNanos);
      }
      responsesMayBeLost();
    }

    /** Whole responses may have been in bytes not seen here, those of skipped requests too. */
    void responsesMayBeLost() {
      if ((conn.pending != null && !conn.pending.isEmpty()) || conn.responsesToSkip > 0) {
        if (!conn.pipelined) {
          conn.responsesToSkip = 0; // answers to skipped requests are recognised by time
        }
        conn.pairingUncertain = true;
      }
    }
  }
}
