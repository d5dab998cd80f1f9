package dev.wirespan.agent;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.export.ExporterFactory;
import dev.wirespan.export.SpanBatcher;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.span.PeerResolver;
import dev.wirespan.span.ProcessResourceResolver;
import io.netty.util.concurrent.FastThreadLocalThread;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Runs {@link WarmupTraffic} through a private copy of the pipeline ({@link Pipeline}, built as
 * the agent's: decoders, trace linking, spans, batching and the configured OTLP exporter's
 * marshaling, on senders that discard) for a while before the kernel programs are attached.
 *
 * <p>Why: a JVM starts by interpreting, and compiles the hot code once it has run for a while.
 * Started on a busy node, the agent's capture thread used to fall behind the kernel for its first
 * second or two and the ring buffer overflowed: at 30 k req/s (nginx, 16 connections, both ends
 * traced), 17-36 k records lost to {@code kernel/ringbuf_full} within two seconds of attaching,
 * with the 2-9 k stream gaps they cause, every one counted, and nothing lost after. With the
 * warm-up (1.5-4 s of one core before attaching), nothing was lost in the same runs (three
 * interleaved pairs; bench/README.md).
 *
 * <p>Nothing of the warm-up is seen outside: its own metrics, its own resolver (the agent's own
 * process), its spans discarded after marshaling; console and jsonl outputs never see it. It runs
 * on a thread of the capture thread's kind ({@link FastThreadLocalThread}), and a failure only
 * logs a warning: the agent starts all the same.
 */
final class PipelineWarmup {
  private static final Logger LOG = Logger.getLogger(PipelineWarmup.class.getName());
  /** How often the private pipeline's housekeeping runs, as the capture loop's does. */
  private static final long EXPIRE_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  /**
   * Events decoded and spans exported after which the warm-up ends before its time is up: the
   * JIT compiles a method after some ten thousand calls, and the hot methods run once or more per
   * event or span; this many leave the capture thread keeping up from its first second (measured:
   * see the class comment).
   */
  static final long TARGET_EVENTS = 200_000;
  static final long TARGET_SPANS = 100_000;
  /** While more spans than this wait for the private exporter, decoding pauses. */
  private static final int MAX_QUEUED_SPANS = SpanBatcher.DEFAULT_MAX_BATCH_SIZE * 4;
  private static final long BACKPRESSURE_PAUSE_NANOS = TimeUnit.MICROSECONDS.toNanos(200);
  /** Extra time allowed for the batcher's last export and shutdown after the budget. */
  private static final Duration CLOSE_MARGIN = Duration.ofSeconds(10);

  /** What a warm-up did. */
  record Result(long rounds, long events, long spansExported, long exportBytes, Duration elapsed) {}

  private PipelineWarmup() {}

  /**
   * Runs the warm-up until {@value #TARGET_EVENTS} events are decoded and {@value #TARGET_SPANS}
   * spans exported, or for {@code budget} at most (a node whose cores are busy leaves it little
   * CPU), and waits for it. Returns null when it failed (the failure is logged).
   */
  static Result run(AgentConfig config, String hostName, Duration budget) {
    AtomicReference<Result> result = new AtomicReference<>();
    Thread thread =
        new FastThreadLocalThread(
            () -> {
              try {
                result.set(runHere(config, hostName, budget));
              } catch (RuntimeException | Error e) { // ExceptionInInitializerError, a linkage error
                LOG.log(Level.WARNING, "pipeline warm-up failed; starting without it", e);
              }
            },
            "wirespan-warmup");
    thread.setDaemon(true);
    thread.start();
    try {
      thread.join(budget.plus(CLOSE_MARGIN).toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (thread.isAlive()) {
      LOG.warning("pipeline warm-up did not end in time; starting without waiting for it");
      return null;
    }
    return result.get();
  }

  /** The warm-up itself, on the calling thread. */
  static Result runHere(AgentConfig config, String hostName, Duration budget) {
    long start = System.nanoTime();
    long deadline = start + budget.toNanos();
    AgentMetrics metrics = new AgentMetrics();
    ExporterFactory.WarmupExport export =
        ExporterFactory.forWarmup(config.exportSettings(), metrics);
    Pipeline pipeline =
        Pipeline.create(
            config, metrics, export.exporter(), new ProcessResourceResolver(hostName),
            PeerResolver.NONE);
    WarmupTraffic traffic = new WarmupTraffic((int) ProcessHandle.current().pid(), 1);
    CaptureEvent view = new CaptureEvent();
    long rounds = 0;
    long events = 0;
    long lastExpire = start;
    try {
      long now = start;
      while (now < deadline
          && (events < TARGET_EVENTS || metrics.total(SpanBatcher.METRIC_EXPORTED) < TARGET_SPANS)) {
        if (pipeline.batcher.queuedSpans() > MAX_QUEUED_SPANS) {
          // Export is the slower stage: let it catch up rather than drop spans it should marshal.
          LockSupport.parkNanos(BACKPRESSURE_PAUSE_NANOS);
          now = System.nanoTime();
          continue;
        }
        traffic.nextRound(now);
        for (int i = 0; i < traffic.recordCount(); i++) {
          pipeline.tracker.onEvent(traffic.record(i, view));
        }
        events += traffic.recordCount();
        rounds++;
        now = System.nanoTime();
        if (now - lastExpire >= EXPIRE_INTERVAL_NANOS) {
          lastExpire = now;
          pipeline.tracker.expire(now);
        }
      }
    } finally {
      pipeline.tracker.closeAll();
      pipeline.batcher.close(); // exports what is queued, then shuts the exporter down
    }
    return new Result(
        rounds,
        events,
        metrics.total(SpanBatcher.METRIC_EXPORTED),
        export.bytesMarshaled().getAsLong(),
        Duration.ofNanos(System.nanoTime() - start));
  }
}
