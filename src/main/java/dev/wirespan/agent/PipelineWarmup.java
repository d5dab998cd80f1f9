package dev.wirespan.agent;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.export.ExporterFactory;
import dev.wirespan.export.SpanBatcher;
import dev.wirespan.metrics.AgentMetrics;
import io.netty.util.concurrent.FastThreadLocalThread;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Runs {@link WarmupTraffic} through a private copy of the pipeline ({@link Pipeline}, built as
 * the agent's: decoders, trace linking, spans, batching and the configured OTLP exporter's
 * marshaling, on senders that discard) for a while before the kernel programs are attached.
 *
 * <p>Why: a JVM starts by interpreting, and compiles the hot code once it has run for a while.
 * Started on a busy node, the agent's capture thread used to fall behind the kernel for its first
 * second or two and the ring buffer overflowed. Measured with nginx saturated by wrk when the
 * agent starts (bench/README.md, "start-up under load"): with every process sharing the cores
 * thread by thread, 12-61 k records lost to {@code kernel/ringbuf_full} within two seconds of
 * attaching without the warm-up, none with it (six interleaved pairs); with every process held to
 * its own CPU share, as pods of equal weight are, the agent cannot follow nginx's untraced rate
 * until its own load slows nginx down, and loses records either way: about half as many with the
 * warm-up (medians 190 k and 370 k). Every loss is counted.
 *
 * <p>Nothing of the warm-up is seen outside: its own metrics, its own resolvers (of the agent's
 * kinds, closed after it; the traffic is the agent's own process's, which the kernel programs
 * never capture), its spans discarded after marshaling; console and jsonl outputs never see it. It
 * runs on a thread of the capture thread's kind ({@link FastThreadLocalThread}); a failure only
 * logs a warning and the agent starts all the same (running out of memory ends the start).
 */
final class PipelineWarmup {
  private static final Logger LOG = Logger.getLogger(PipelineWarmup.class.getName());
  /** How often the private pipeline's housekeeping runs, as the capture loop's does. */
  private static final long EXPIRE_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  /**
   * Events decoded and spans exported after which the warm-up ends before its time is up: the
   * JIT compiles a method after some ten thousand calls, and the hot methods run once or more per
   * event or span; with this many the capture thread kept up from its first second wherever it
   * had the CPU to (see the class comment).
   */
  static final long TARGET_EVENTS = 200_000;
  static final long TARGET_SPANS = 100_000;
  /** Spans waiting for the private exporter beyond which decoding pauses (at most half the queue). */
  private static final int MAX_QUEUED_SPANS = SpanBatcher.DEFAULT_MAX_BATCH_SIZE * 4;
  private static final long BACKPRESSURE_PAUSE_NANOS = TimeUnit.MICROSECONDS.toNanos(200);
  /**
   * Extra time allowed after the budget for the private batcher's close, which waits at most its
   * close timeout for the worker and as long again for the exporter's shutdown.
   */
  private static final Duration CLOSE_MARGIN =
      SpanBatcher.DEFAULT_CLOSE_TIMEOUT.multipliedBy(2).plusSeconds(5);

  /** What a warm-up did. */
  record Result(long rounds, long events, long spansExported, long exportBytes, Duration elapsed) {}

  private PipelineWarmup() {}

  /**
   * Runs the warm-up until {@value #TARGET_EVENTS} events are decoded and {@value #TARGET_SPANS}
   * spans exported, or for {@code budget} at most (a node whose cores are busy leaves it little
   * CPU), and waits for it. Returns null when it failed (the failure is logged).
   *
   * @param resolvers makes resolvers of the agent's kinds, for the warm-up's own metrics
   */
  static Result run(
      AgentConfig config, Function<AgentMetrics, Pipeline.Resolvers> resolvers, Duration budget) {
    AtomicReference<Result> result = new AtomicReference<>();
    AtomicReference<VirtualMachineError> fatal = new AtomicReference<>();
    Thread thread =
        new FastThreadLocalThread(
            () -> {
              try {
                result.set(runHere(config, resolvers, budget));
              } catch (VirtualMachineError e) {
                fatal.set(e); // out of memory: not something to start anyway with
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
    if (fatal.get() != null) {
      throw fatal.get();
    }
    if (thread.isAlive()) {
      LOG.warning("pipeline warm-up did not end in time; starting without waiting for it");
      return null;
    }
    return result.get();
  }

  /** The warm-up itself, on the calling thread. */
  static Result runHere(
      AgentConfig config, Function<AgentMetrics, Pipeline.Resolvers> resolversFor, Duration budget) {
    long start = System.nanoTime();
    long deadline = start + budget.toNanos();
    AgentMetrics metrics = new AgentMetrics();
    // Decoding pauses while more spans than this wait for the private exporter.
    int maxQueuedSpans = Math.max(1, Math.min(MAX_QUEUED_SPANS, config.spanQueueSize() / 2));
    ExporterFactory.WarmupExport export =
        ExporterFactory.forWarmup(config.exportSettings(), metrics);
    WarmupTraffic traffic =
        new WarmupTraffic(
            (int) ProcessHandle.current().pid(), 1, config.captureSettings().captureBytes(),
            config.captureSettings().tailBytes());
    CaptureEvent view = new CaptureEvent();
    long rounds = 0;
    long events = 0;
    long lastExpire = start;
    Pipeline.Resolvers resolvers;
    try {
      resolvers = resolversFor.apply(metrics);
    } catch (RuntimeException | Error e) {
      export.exporter().shutdown();
      throw e;
    }
    // Closing the pipeline exports what is queued and shuts the exporter down.
    try (resolvers;
        Pipeline pipeline = Pipeline.create(config, metrics, export.exporter(), resolvers)) {
      long now = start;
      while (now < deadline
          && (events < TARGET_EVENTS || metrics.total(SpanBatcher.METRIC_EXPORTED) < TARGET_SPANS)) {
        if (pipeline.batcher.queuedSpans() > maxQueuedSpans) {
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
    }
    return new Result(
        rounds,
        events,
        metrics.total(SpanBatcher.METRIC_EXPORTED),
        export.bytesMarshaled().getAsLong(),
        Duration.ofNanos(System.nanoTime() - start));
  }
}
