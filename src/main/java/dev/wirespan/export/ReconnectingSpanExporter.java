package dev.wirespan.export;

import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.Counter;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.InterruptedIOException;
import java.util.Collection;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.logging.Logger;
import javax.annotation.Nullable;

/**
 * An OTLP exporter that is built anew, with new connections, after several exports in a row
 * timed out (an {@link InterruptedIOException} among the failure's causes). OTLP/gRPC multiplexes
 * every export on one HTTP/2 connection, and the SDK's sender neither pings nor drops the
 * connection when a call times out, so a connection whose peer vanished without a reset (its
 * node died, a network path drops it) carries every later export into the void until TCP gives
 * up, about 15 minutes later, even when the collector's replacement answers at the same address
 * (measured: 30 exports in a row timed out; OTLP/HTTP opens a new connection after a timeout and
 * does not need this). Any other outcome (success, an answer with an error, a refused connection)
 * resets the count.
 */
final class ReconnectingSpanExporter implements SpanExporter {
  static final String METRIC_RECONNECTS = "wirespan_export_reconnects_total";

  private static final Logger LOG = Logger.getLogger(ReconnectingSpanExporter.class.getName());

  private final Supplier<SpanExporter> factory;
  private final int failuresBeforeReconnect;
  private final AtomicReference<SpanExporter> current;
  private final AtomicInteger timedOutInARow = new AtomicInteger();
  private volatile boolean shutDown;
  private final Counter reconnects;

  /**
   * @param factory builds the exporter, first now and again at each reconnect
   * @param failuresBeforeReconnect exports in a row that must time out before a reconnect
   */
  ReconnectingSpanExporter(
      Supplier<SpanExporter> factory, int failuresBeforeReconnect, AgentMetrics metrics) {
    this.factory = Objects.requireNonNull(factory, "factory");
    if (failuresBeforeReconnect <= 0) {
      throw new IllegalArgumentException(
          "failuresBeforeReconnect must be positive: " + failuresBeforeReconnect);
    }
    this.failuresBeforeReconnect = failuresBeforeReconnect;
    this.current = new AtomicReference<>(Objects.requireNonNull(factory.get(), "exporter"));
    this.reconnects =
        metrics.counter(
            METRIC_RECONNECTS,
            "OTLP exporters rebuilt (new connections) after exports in a row timed out.");
  }

  @Override
  public CompletableResultCode export(Collection<SpanData> spans) {
    SpanExporter exporter = current.get();
    CompletableResultCode result = exporter.export(spans);
    result.whenComplete(() -> settled(exporter, result));
    return result;
  }

  private void settled(SpanExporter exporter, CompletableResultCode result) {
    if (shutDown || exporter != current.get()) {
      return; // a late result of an exporter already replaced says nothing of the current one
    }
    if (result.isSuccess() || !timedOut(result.getFailureThrowable())) {
      timedOutInARow.set(0);
      return;
    }
    if (timedOutInARow.incrementAndGet() < failuresBeforeReconnect) {
      return;
    }
    SpanExporter fresh;
    try {
      fresh = factory.get();
    } catch (RuntimeException e) {
      LOG.warning("cannot rebuild the OTLP exporter (keeping the old one): " + e);
      return;
    }
    // Only the first of concurrent failures on the same exporter replaces it.
    if (!shutDown && current.compareAndSet(exporter, fresh)) {
      timedOutInARow.set(0);
      reconnects.inc();
      LOG.warning(failuresBeforeReconnect + " exports in a row timed out: reconnecting");
      // Not on this thread: it belongs to the old exporter's client.
      CompletableFuture.runAsync(exporter::shutdown);
      if (shutDown) {
        // shutdown() ran between the check and the swap and closed the exporter replaced here;
        // the new one must not outlive it (a second shutdown of an exporter does nothing).
        CompletableFuture.runAsync(fresh::shutdown);
      }
    } else {
      CompletableFuture.runAsync(fresh::shutdown);
    }
  }

  /** Whether the export timed out: an {@link InterruptedIOException} among its causes. */
  private static boolean timedOut(@Nullable Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof InterruptedIOException) {
        return true;
      }
    }
    return false;
  }

  @Override
  public CompletableResultCode flush() {
    return current.get().flush();
  }

  @Override
  public CompletableResultCode shutdown() {
    shutDown = true;
    return current.get().shutdown();
  }

  @Override
  public String toString() {
    return current.get().toString();
  }
}
