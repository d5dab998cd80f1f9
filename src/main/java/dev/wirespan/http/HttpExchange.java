package dev.wirespan.http;

import io.opentelemetry.api.trace.SpanContext;
import java.util.Objects;
import javax.annotation.Nullable;

/**
 * One HTTP/1.x request and its response as the traced process saw them: the unit that becomes a
 * span. Filled in by the connection's decoder as the request and then the response are decoded;
 * handed to the {@link ExchangeListener} when the request starts and again when the exchange
 * ends.
 *
 * <p>Only the headers the span needs are kept. Credentials (Authorization, Cookie, Set-Cookie,
 * Proxy-Authorization) and bodies are never copied into an exchange.
 */
public final class HttpExchange {
  /** Which end of the exchange the traced process was. */
  public enum Side {
    /** The process wrote the request. */
    CLIENT,
    /** The process read the request. */
    SERVER
  }

  /** How the exchange ended. */
  public enum Outcome {
    /** The response was read completely. */
    COMPLETE,
    /** No response came within the response timeout. */
    TIMED_OUT,
    /** The connection closed before the response was complete. */
    CONNECTION_CLOSED,
    /** The agent stopped tracking the connection (idle, or over its limits) first. */
    EVICTED
  }

  private final ConnectionInfo connection;
  private final Side side;

  // request
  private String method = "";
  private String target = "";
  private String protocolVersion = "1.1";
  @Nullable private String host;
  @Nullable private String userAgent;
  @Nullable private String traceparent;
  @Nullable private String tracestate;
  private int requestTid;
  private long requestStartNanos;
  private long requestEndNanos;
  private long requestBodySize;

  // response
  private int statusCode;
  private int responseTid;
  private long responseStartNanos;
  private long responseEndNanos;
  private long responseBodySize;

  private Outcome outcome = Outcome.COMPLETE;
  private boolean bytesMissing;

  // trace linkage, assigned when the request starts
  @Nullable private SpanContext spanContext;
  @Nullable private SpanContext parentSpanContext;

  public HttpExchange(ConnectionInfo connection, Side side) {
    this.connection = Objects.requireNonNull(connection, "connection");
    this.side = Objects.requireNonNull(side, "side");
  }

  public ConnectionInfo connection() {
    return connection;
  }

  public Side side() {
    return side;
  }

  /** Request method as sent, e.g. "GET". */
  public String method() {
    return method;
  }

  /** The request-target as sent: origin-form path and query, or absolute-form. */
  public String target() {
    return target;
  }

  /** "1.0" or "1.1". */
  public String protocolVersion() {
    return protocolVersion;
  }

  /** The Host header, or null. */
  @Nullable
  public String host() {
    return host;
  }

  @Nullable
  public String userAgent() {
    return userAgent;
  }

  /** The W3C traceparent header of the request, or null. */
  @Nullable
  public String traceparent() {
    return traceparent;
  }

  @Nullable
  public String tracestate() {
    return tracestate;
  }

  /** Thread that read (SERVER) or wrote (CLIENT) the first request byte. */
  public int requestTid() {
    return requestTid;
  }

  /** CLOCK_MONOTONIC nanoseconds of the syscall that moved the first request byte. */
  public long requestStartNanos() {
    return requestStartNanos;
  }

  /** CLOCK_MONOTONIC nanoseconds of the syscall that moved the last request byte. */
  public long requestEndNanos() {
    return requestEndNanos;
  }

  /** Request body bytes (after any chunked framing is removed), counted even when not captured. */
  public long requestBodySize() {
    return requestBodySize;
  }

  /** Final response status code, or 0 when no response was seen. */
  public int statusCode() {
    return statusCode;
  }

  public int responseTid() {
    return responseTid;
  }

  public long responseStartNanos() {
    return responseStartNanos;
  }

  /**
   * CLOCK_MONOTONIC nanoseconds of the syscall that moved the last response byte; for an exchange
   * without a complete response, when it was ended (timeout, close or eviction).
   */
  public long responseEndNanos() {
    return responseEndNanos;
  }

  public long responseBodySize() {
    return responseBodySize;
  }

  public Outcome outcome() {
    return outcome;
  }

  /** Some of the exchange's bytes never reached the agent (truncated copy or lost events). */
  public boolean bytesMissing() {
    return bytesMissing;
  }

  @Nullable
  public SpanContext spanContext() {
    return spanContext;
  }

  @Nullable
  public SpanContext parentSpanContext() {
    return parentSpanContext;
  }

  // Setters used by the decoder and the trace linker.

  public HttpExchange setRequestLine(String method, String target, String protocolVersion) {
    this.method = Objects.requireNonNull(method, "method");
    this.target = Objects.requireNonNull(target, "target");
    this.protocolVersion = Objects.requireNonNull(protocolVersion, "protocolVersion");
    return this;
  }

  public HttpExchange setHost(@Nullable String host) {
    this.host = host;
    return this;
  }

  public HttpExchange setUserAgent(@Nullable String userAgent) {
    this.userAgent = userAgent;
    return this;
  }

  public HttpExchange setTraceHeaders(@Nullable String traceparent, @Nullable String tracestate) {
    this.traceparent = traceparent;
    this.tracestate = tracestate;
    return this;
  }

  public HttpExchange setRequestTiming(int tid, long startNanos, long endNanos) {
    this.requestTid = tid;
    this.requestStartNanos = startNanos;
    this.requestEndNanos = endNanos;
    return this;
  }

  public HttpExchange setRequestEndNanos(long endNanos) {
    this.requestEndNanos = endNanos;
    return this;
  }

  public HttpExchange setRequestBodySize(long bytes) {
    this.requestBodySize = bytes;
    return this;
  }

  public HttpExchange setStatusCode(int statusCode) {
    this.statusCode = statusCode;
    return this;
  }

  public HttpExchange setResponseTiming(int tid, long startNanos, long endNanos) {
    this.responseTid = tid;
    this.responseStartNanos = startNanos;
    this.responseEndNanos = endNanos;
    return this;
  }

  public HttpExchange setResponseEndNanos(long endNanos) {
    this.responseEndNanos = endNanos;
    return this;
  }

  public HttpExchange setResponseBodySize(long bytes) {
    this.responseBodySize = bytes;
    return this;
  }

  public HttpExchange setOutcome(Outcome outcome) {
    this.outcome = Objects.requireNonNull(outcome, "outcome");
    return this;
  }

  public HttpExchange markBytesMissing() {
    this.bytesMissing = true;
    return this;
  }

  public HttpExchange setTraceContext(SpanContext spanContext, @Nullable SpanContext parent) {
    this.spanContext = Objects.requireNonNull(spanContext, "spanContext");
    this.parentSpanContext = parent;
    return this;
  }

  @Override
  public String toString() {
    return side + " " + method + " " + target + " -> " + statusCode + " (" + outcome + ")";
  }
}
