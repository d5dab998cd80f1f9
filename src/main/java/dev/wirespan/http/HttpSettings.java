package dev.wirespan.http;

import java.time.Duration;
import java.util.Objects;

/**
 * Limits and timeouts of the HTTP decoding stage ({@link ConnectionTracker}). Immutable; build with
 * {@link #builder()}, or take {@link #defaults()}.
 */
public final class HttpSettings {
  /** How long a complete request waits for its response before it ends as TIMED_OUT. */
  public static final Duration DEFAULT_RESPONSE_TIMEOUT = Duration.ofSeconds(30);
  /** A connection with no event for this long is no longer tracked. */
  public static final Duration DEFAULT_IDLE_CONNECTION_TIMEOUT = Duration.ofSeconds(120);
  public static final int DEFAULT_MAX_CONNECTIONS = 65_536;
  public static final int DEFAULT_MAX_BUFFERED_BYTES_PER_CONNECTION = 64 * 1024;
  /**
   * A quarter of the agent's default heap ceiling (128 MiB), so that buffers filled to the limit
   * leave room for the live data of the rest of the pipeline (25-40 MiB measured).
   */
  public static final long DEFAULT_MAX_BUFFERED_BYTES_TOTAL = 32L * 1024 * 1024;
  public static final int DEFAULT_MAX_PENDING_REQUESTS_PER_CONNECTION = 64;
  /**
   * 16 KiB of header lines: Node.js's default, twice Netty's and Tomcat's, enough for the cookie
   * and token heavy requests browsers and gateways send. A larger header block is a decoder
   * error (counted) and costs that one exchange; a larger limit would cost memory on every
   * connection in the middle of a header block.
   */
  public static final int DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
  /** 8 KiB request or status line: the common server limit for URLs (nginx, Tomcat, Netty 4.2). */
  public static final int DEFAULT_MAX_INITIAL_LINE_BYTES = 8 * 1024;

  private static final HttpSettings DEFAULTS = builder().build();

  private final Duration responseTimeout;
  private final Duration idleConnectionTimeout;
  private final int maxConnections;
  private final int maxBufferedBytesPerConnection;
  private final long maxBufferedBytesTotal;
  private final int maxPendingRequestsPerConnection;
  private final int maxHeaderBytes;
  private final int maxInitialLineBytes;

  private HttpSettings(Builder b) {
    this.responseTimeout = b.responseTimeout;
    this.idleConnectionTimeout = b.idleConnectionTimeout;
    this.maxConnections = b.maxConnections;
    this.maxBufferedBytesPerConnection = b.maxBufferedBytesPerConnection;
    this.maxBufferedBytesTotal = b.maxBufferedBytesTotal;
    this.maxPendingRequestsPerConnection = b.maxPendingRequestsPerConnection;
    this.maxHeaderBytes = b.maxHeaderBytes;
    this.maxInitialLineBytes = b.maxInitialLineBytes;
  }

  public static HttpSettings defaults() {
    return DEFAULTS;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this instance's values. */
  public Builder toBuilder() {
    return new Builder()
        .setResponseTimeout(responseTimeout)
        .setIdleConnectionTimeout(idleConnectionTimeout)
        .setMaxConnections(maxConnections)
        .setMaxBufferedBytesPerConnection(maxBufferedBytesPerConnection)
        .setMaxBufferedBytesTotal(maxBufferedBytesTotal)
        .setMaxPendingRequestsPerConnection(maxPendingRequestsPerConnection)
        .setMaxHeaderBytes(maxHeaderBytes)
        .setMaxInitialLineBytes(maxInitialLineBytes);
  }

  public Duration responseTimeout() {
    return responseTimeout;
  }

  public Duration idleConnectionTimeout() {
    return idleConnectionTimeout;
  }

  public int maxConnections() {
    return maxConnections;
  }

  /** Bytes of partial messages one connection may hold (both directions together). */
  public int maxBufferedBytesPerConnection() {
    return maxBufferedBytesPerConnection;
  }

  /**
   * Bytes of partial messages all connections together may hold; each connection direction
   * inside a message also counts its decoder's state ({@link
   * ConnectionTracker#DECODER_STATE_BYTES}, 2 KiB) against it.
   */
  public long maxBufferedBytesTotal() {
    return maxBufferedBytesTotal;
  }

  /** Requests of one connection waiting for their responses (pipelining, timed-out requests). */
  public int maxPendingRequestsPerConnection() {
    return maxPendingRequestsPerConnection;
  }

  /** Largest header block (or trailer block) decoded. */
  public int maxHeaderBytes() {
    return maxHeaderBytes;
  }

  /** Largest request line or status line decoded. */
  public int maxInitialLineBytes() {
    return maxInitialLineBytes;
  }

  @Override
  public String toString() {
    return "HttpSettings{responseTimeout="
        + responseTimeout
        + ", idleConnectionTimeout="
        + idleConnectionTimeout
        + ", maxConnections="
        + maxConnections
        + ", maxBufferedBytesPerConnection="
        + maxBufferedBytesPerConnection
        + ", maxBufferedBytesTotal="
        + maxBufferedBytesTotal
        + ", maxPendingRequestsPerConnection="
        + maxPendingRequestsPerConnection
        + ", maxHeaderBytes="
        + maxHeaderBytes
        + ", maxInitialLineBytes="
        + maxInitialLineBytes
        + '}';
  }

  /** Builder of {@link HttpSettings}; every value starts at its default. */
  public static final class Builder {
    private Duration responseTimeout = DEFAULT_RESPONSE_TIMEOUT;
    private Duration idleConnectionTimeout = DEFAULT_IDLE_CONNECTION_TIMEOUT;
    private int maxConnections = DEFAULT_MAX_CONNECTIONS;
    private int maxBufferedBytesPerConnection = DEFAULT_MAX_BUFFERED_BYTES_PER_CONNECTION;
    private long maxBufferedBytesTotal = DEFAULT_MAX_BUFFERED_BYTES_TOTAL;
    private int maxPendingRequestsPerConnection = DEFAULT_MAX_PENDING_REQUESTS_PER_CONNECTION;
    private int maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES;
    private int maxInitialLineBytes = DEFAULT_MAX_INITIAL_LINE_BYTES;

    private Builder() {}

    public Builder setResponseTimeout(Duration responseTimeout) {
      this.responseTimeout = positive(responseTimeout, "responseTimeout");
      return this;
    }

    public Builder setIdleConnectionTimeout(Duration idleConnectionTimeout) {
      this.idleConnectionTimeout = positive(idleConnectionTimeout, "idleConnectionTimeout");
      return this;
    }

    public Builder setMaxConnections(int maxConnections) {
      this.maxConnections = positive(maxConnections, "maxConnections");
      return this;
    }

    public Builder setMaxBufferedBytesPerConnection(int bytes) {
      this.maxBufferedBytesPerConnection = positive(bytes, "maxBufferedBytesPerConnection");
      return this;
    }

    public Builder setMaxBufferedBytesTotal(long bytes) {
      if (bytes <= 0) {
        throw new IllegalArgumentException("maxBufferedBytesTotal must be positive: " + bytes);
      }
      this.maxBufferedBytesTotal = bytes;
      return this;
    }

    public Builder setMaxPendingRequestsPerConnection(int requests) {
      this.maxPendingRequestsPerConnection = positive(requests, "maxPendingRequestsPerConnection");
      return this;
    }

    public Builder setMaxHeaderBytes(int bytes) {
      this.maxHeaderBytes = positive(bytes, "maxHeaderBytes");
      return this;
    }

    public Builder setMaxInitialLineBytes(int bytes) {
      this.maxInitialLineBytes = positive(bytes, "maxInitialLineBytes");
      return this;
    }

    /**
     * @throws IllegalArgumentException when a connection's buffer could not hold one legal
     *     request line and header block
     */
    public HttpSettings build() {
      if ((long) maxInitialLineBytes + maxHeaderBytes > maxBufferedBytesPerConnection) {
        throw new IllegalArgumentException(
            "maxBufferedBytesPerConnection ("
                + maxBufferedBytesPerConnection
                + ") must hold maxInitialLineBytes + maxHeaderBytes ("
                + ((long) maxInitialLineBytes + maxHeaderBytes)
                + ")");
      }
      if (maxBufferedBytesTotal < maxBufferedBytesPerConnection) {
        throw new IllegalArgumentException(
            "maxBufferedBytesTotal must be at least maxBufferedBytesPerConnection");
      }
      return new HttpSettings(this);
    }

    private static Duration positive(Duration d, String name) {
      Objects.requireNonNull(d, name);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(name + " must be positive: " + d);
      }
      return d;
    }

    private static int positive(int v, String name) {
      if (v <= 0) {
        throw new IllegalArgumentException(name + " must be positive: " + v);
      }
      return v;
    }
  }
}
