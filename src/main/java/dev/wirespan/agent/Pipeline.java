package dev.wirespan.agent;

import dev.wirespan.export.SpanBatcher;
import dev.wirespan.http.ConnectionTracker;
import dev.wirespan.http.ExchangeListener;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.span.MonotonicClock;
import dev.wirespan.span.PeerResolver;
import dev.wirespan.span.ResourceResolver;
import dev.wirespan.span.SpanFactory;
import dev.wirespan.span.TraceLinker;
import io.opentelemetry.sdk.trace.export.SpanExporter;

/**
 * The user-space stages wired together: the connections' decoders ({@link #tracker}, which takes
 * the kernel's events), trace linking, spans, and the export batcher ({@link #batcher}). Built
 * the same way for the agent and for its {@link PipelineWarmup}, so that the warm-up runs the
 * very code (and call sites) the agent will.
 */
final class Pipeline implements AutoCloseable {
  final ConnectionTracker tracker;
  final SpanBatcher batcher;

  private Pipeline(ConnectionTracker tracker, SpanBatcher batcher) {
    this.tracker = tracker;
    this.batcher = batcher;
  }

  /**
   * The span stage's resolvers. The agent makes them once; its warm-up makes its own of the same
   * kinds (same classes: the JIT compiles for the ones it saw) with its own metrics.
   */
  record Resolvers(ResourceResolver resources, PeerResolver peers) implements AutoCloseable {
    /** Releases what the resolvers hold outside themselves (listeners on the cluster view). */
    @Override
    public void close() {
      if (resources instanceof AutoCloseable c) {
        try {
          c.close();
        } catch (Exception e) {
          throw new IllegalStateException("closing " + resources, e);
        }
      }
    }
  }

  static Pipeline create(
      AgentConfig config, AgentMetrics metrics, SpanExporter exporter, Resolvers resolvers) {
    ResourceResolver resourceResolver = resolvers.resources();
    PeerResolver peers = resolvers.peers();
    SpanBatcher batcher =
        SpanBatcher.builder(exporter, metrics)
            .setQueueCapacity(config.spanQueueSize())
            .setMaxExportsInFlight(config.exportMaxInFlight())
            .build();
    SpanFactory spans = new SpanFactory(resourceResolver, peers, MonotonicClock.system());
    ExchangeListener toExport =
        new ExchangeListener() {
          @Override
          public void onRequestStart(HttpExchange exchange) {
            // Read the process's identity while it surely runs: short-lived clients (curl)
            // have often exited by the time their response is complete.
            resourceResolver.resolve(exchange.connection());
          }

          @Override
          public void onExchangeEnd(HttpExchange exchange) {
            batcher.offer(spans.toSpan(exchange));
          }
        };
    try {
      TraceLinker linker =
          TraceLinker.builder(toExport, metrics)
              .setThreadCorrelation(config.threadCorrelation())
              .build();
      return new Pipeline(new ConnectionTracker(config.httpSettings(), linker, metrics), batcher);
    } catch (RuntimeException | Error e) {
      batcher.close(); // its worker thread and the exporter
      throw e;
    }
  }

  /**
   * Ends what the connections hold (their pending exchanges as spans), then exports what is
   * queued and shuts the exporter down (bounded by the batcher's close timeout).
   */
  @Override
  public void close() {
    try {
      tracker.closeAll();
    } finally {
      batcher.close();
    }
  }
}
