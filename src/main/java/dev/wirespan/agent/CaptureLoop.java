package dev.wirespan.agent;

import dev.wirespan.capture.CaptureEventSink;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.Counter;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The capture thread's work: drain kernel events into the pipeline, run housekeeping between
 * polls, and keep going. An error that escapes the pipeline is logged, counted and the loop
 * restarted (after a short, growing pause), so that one bad event cannot end tracing; only running
 * out of memory ends it. {@link #health()} reports a loop that stopped coming round, or that has
 * unread events but delivers none.
 */
final class CaptureLoop {
  /** Where events come from: the kernel ring buffer, or a recorded stream in tests. */
  interface EventSource {
    /** Delivers what is available, waiting up to {@code timeoutMillis} when nothing is. */
    int poll(CaptureEventSink sink, int timeoutMillis);

    /** Bytes not consumed yet. */
    long availableBytes();
  }

  private static final Logger LOG = Logger.getLogger(CaptureLoop.class.getName());

  /** Longest wait for kernel events before housekeeping runs. */
  static final int POLL_TIMEOUT_MILLIS = 100;
  /** The loop is unhealthy when it has not come round, or delivered pending events, for this long. */
  static final long STALL_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final long FIRST_RESTART_PAUSE_MILLIS = 10;
  private static final long MAX_RESTART_PAUSE_MILLIS = 5_000;

  private final EventSource source;
  private final CaptureEventSink sink;
  private final LongConsumer housekeeping;
  private final Counter restarts;
  private final long stallNanos;

  private volatile boolean running = true;
  private volatile long lastLoopNanos = System.nanoTime();
  private volatile long lastDeliveryNanos = System.nanoTime();

  CaptureLoop(EventSource source, CaptureEventSink sink, LongConsumer housekeeping, AgentMetrics metrics) {
    this(source, sink, housekeeping, metrics, STALL_NANOS);
  }

  CaptureLoop(
      EventSource source,
      CaptureEventSink sink,
      LongConsumer housekeeping,
      AgentMetrics metrics,
      long stallNanos) {
    this.stallNanos = stallNanos;
    this.source = Objects.requireNonNull(source, "source");
    this.sink = Objects.requireNonNull(sink, "sink");
    this.housekeeping = Objects.requireNonNull(housekeeping, "housekeeping");
    this.restarts =
        metrics.counter(
            "wirespan_worker_restarts_total",
            "Times a pipeline worker died of an unexpected error and was restarted.",
            "worker",
            "capture");
  }

  /** Runs until {@link #stop()}; returns normally then. */
  void run() {
    long pauseMillis = FIRST_RESTART_PAUSE_MILLIS;
    while (running) {
      try {
        loop();
      } catch (OutOfMemoryError e) {
        throw e; // nothing sensible is left to do; the process supervisor restarts the agent
      } catch (Throwable e) {
        restarts.inc();
        LOG.log(Level.SEVERE, "capture worker died; restarting it in " + pauseMillis + " ms", e);
        sleep(pauseMillis);
        pauseMillis = Math.min(pauseMillis * 2, MAX_RESTART_PAUSE_MILLIS);
      }
    }
  }

  private void loop() {
    while (running) {
      int delivered = source.poll(sink, POLL_TIMEOUT_MILLIS);
      long now = System.nanoTime();
      lastLoopNanos = now;
      if (delivered > 0) {
        lastDeliveryNanos = now;
      }
      housekeeping.accept(now);
    }
  }

  void stop() {
    running = false;
  }

  boolean isRunning() {
    return running;
  }

  /** Unhealthy when the loop is stuck, or events wait unread while nothing is delivered. */
  AdminServer.Status health() {
    long now = System.nanoTime();
    long sinceLoop = now - lastLoopNanos;
    if (running && sinceLoop > stallNanos) {
      return new AdminServer.Status(
          false, "capture loop stuck for " + TimeUnit.NANOSECONDS.toSeconds(sinceLoop) + " s");
    }
    long sinceDelivery = now - lastDeliveryNanos;
    if (running && sinceDelivery > stallNanos && source.availableBytes() > 0) {
      return new AdminServer.Status(
          false,
          "events waiting in the ring buffer but none delivered for "
              + TimeUnit.NANOSECONDS.toSeconds(sinceDelivery)
              + " s");
    }
    return new AdminServer.Status(true, "ok");
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
