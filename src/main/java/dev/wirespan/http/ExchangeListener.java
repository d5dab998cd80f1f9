package dev.wirespan.http;

/**
 * Receives exchanges from the connection decoders, on the capture thread, in kernel event order.
 */
public interface ExchangeListener {
  /**
   * The request's header block has been decoded (method, target, headers set; no response yet).
   * Called before any exchange that starts later is reported, so that trace context can be
   * assigned in order.
   */
  default void onRequestStart(HttpExchange exchange) {}

  /** The exchange has ended: response complete, timed out, connection closed or evicted. */
  void onExchangeEnd(HttpExchange exchange);
}
