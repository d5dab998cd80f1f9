package dev.wirespan.agent;

import dev.wirespan.export.SpanBatcher;
import dev.wirespan.http.ConnectionTracker;
import dev.wirespan.k8s.KubernetesMetadata;
import dev.wirespan.k8s.KubernetesStatus;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.LossCause;
import javax.annotation.Nullable;

/** The periodic one-line summary of the pipeline: throughput, backlog and every non-zero loss. */
final class StatusLine {
  private final AgentMetrics metrics;
  private final ConnectionTracker tracker;
  private final SpanBatcher batcher;
  @Nullable private final KubernetesMetadata kubernetes;

  StatusLine(
      AgentMetrics metrics,
      ConnectionTracker tracker,
      SpanBatcher batcher,
      @Nullable KubernetesMetadata kubernetes) {
    this.metrics = metrics;
    this.tracker = tracker;
    this.batcher = batcher;
    this.kubernetes = kubernetes;
  }

  String format() {
    StringBuilder sb = new StringBuilder(256).append("status:");
    sb.append(" events=").append(metrics.total("wirespan_events_total"));
    sb.append(" exchanges=").append(metrics.total("wirespan_exchanges_total"));
    sb.append(" spans_exported=").append(metrics.total(SpanBatcher.METRIC_EXPORTED));
    sb.append(" spans_queued=").append(batcher.queuedSpans());
    sb.append(" connections=").append(tracker.connectionCount());
    sb.append(" buffered_bytes=").append(tracker.bufferedBytes());
    sb.append(" errors=").append(metrics.total("wirespan_pipeline_errors_total"));
    if (kubernetes != null) {
      KubernetesStatus k8s = kubernetes.status();
      sb.append(" k8s=").append(k8s.allUp() ? "up" : "degraded(" + k8s.degradedSummary() + ")");
    }
    sb.append(" lost={");
    boolean first = true;
    for (LossCause cause : LossCause.values()) {
      long n = metrics.loss(cause).get();
      if (n > 0) {
        sb.append(first ? "" : ", ").append(cause.stage()).append('/').append(cause.cause()).append('=').append(n);
        first = false;
      }
    }
    return sb.append('}').toString();
  }
}
