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
final class Pipeline {
  final ConnectionTracker tracker;
  final SpanBatcher batcher;

  private Pipeline(ConnectionTracker tracker, SpanBatcher batcher) {
    this.tracker = tracker;
    this.batcher = batcher;
  }

  static Pipeline create(
      AgentConfig config,
      AgentMetrics metrics,
      SpanExporter exporter,
      ResourceResolver resourceResolver,
      PeerResolver peers) {
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
    TraceLinker linker =
        TraceLinker.builder(toExport, metrics).setThreadCorrelation(config.threadCorrelation()).build();
    return new Pipeline(new ConnectionTracker(config.httpSettings(), linker, metrics), batcher);
  }
}
