package dev.wirespan.metrics;

/**
 * Every reason the pipeline can fail to turn bytes the kernel saw into a complete span. Each
 * cause is a labelled counter, {@code wirespan_lost_total{stage,cause}}, and a field of the
 * periodic status line.
 */
public enum LossCause {
  /** The kernel could not reserve ring buffer space: the event was dropped. */
  KERNEL_RINGBUF_FULL("kernel", "ringbuf_full"),
  /**
   * The kernel's connection map was full: a connection was evicted from it (the agent saw it come
   * back under a new id and joined the two; bytes it moved meanwhile may be missing), or an insert
   * into a full map failed (a connection or a syscall's arguments were not tracked).
   */
  KERNEL_MAP_FULL("kernel", "map_full"),
  /**
   * An exchange (one traced side of it) began while the ring buffer was half full: the kernel did
   * not report it at all, so that the exchanges under way still fit whole (counted once per
   * exchange, where a full ring would have dropped records of many; a request body sent after a
   * 100 Continue looks like another exchange to the kernel and may count once more).
   */
  KERNEL_EXCHANGE_SHED("kernel", "exchange_shed"),
  /** A payload longer than the capture cap was copied in part (framing still followed). */
  KERNEL_COPY_TRUNCATED("kernel", "copy_truncated"),
  /** The stream offset jumped: bytes moved by the process never reached the agent. */
  STREAM_GAP("stream", "gap"),
  /** The decoder lost the message boundary and skipped to the next plausible message start. */
  STREAM_RESYNC("stream", "resync"),
  /** Netty's decoder rejected the bytes as HTTP. */
  STREAM_DECODER_ERROR("stream", "decoder_error"),
  /** A connection's buffered bytes reached their limit. */
  STREAM_BUFFER_LIMIT("stream", "buffer_limit"),
  /** A response arrived with no outstanding request to pair it with. */
  PAIRING_RESPONSE_WITHOUT_REQUEST("pairing", "response_without_request"),
  /** A request got no response within the timeout (still exported, marked). */
  PAIRING_REQUEST_TIMEOUT("pairing", "request_timeout"),
  /**
   * A connection was evicted (idle, over the connection limit, or its fd carried another socket
   * before its close was seen) with exchanges pending.
   */
  PAIRING_CONNECTION_EVICTED("pairing", "connection_evicted"),
  /** The span queue was full: the span was dropped. */
  EXPORT_QUEUE_FULL("export", "queue_full"),
  /** The exporter failed after its retries: the batch's spans were dropped. */
  EXPORT_FAILED("export", "export_failed");

  private final String stage;
  private final String cause;

  LossCause(String stage, String cause) {
    this.stage = stage;
    this.cause = cause;
  }

  public String stage() {
    return stage;
  }

  public String cause() {
    return cause;
  }
}
