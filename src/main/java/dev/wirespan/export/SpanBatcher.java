package dev.wirespan.export;

import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.Counter;
import dev.wirespan.metrics.LossCause;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.annotation.Nullable;

/**
 * Bounded span queue between the capture thread and a {@link SpanExporter}: the SDK's
 * BatchSpanProcessor only accepts SDK spans, the agent's are hand-built {@link SpanData}.
 *
 * <p>{@link #offer} never blocks and takes no lock: on a full queue the span is dropped and
 * counted as {@link LossCause#EXPORT_QUEUE_FULL}. A worker thread exports batches of at most
 * {@code maxBatchSize} spans when a batch is full or {@code scheduleDelay} has passed. Up to
 * {@code maxExportsInFlight} exports run at once: one export is mostly waiting for the network
 * and the collector, and with one at a time the export rate is one batch per round trip however
 * idle the agent is. Each export is given {@code exportTimeout} (the OTLP exporters retry with
 * backoff inside that). Spans of a failed or timed-out export count as {@link
 * LossCause#EXPORT_FAILED}. {@link #flush()} and {@link #close()} also wait for the exports in
 * flight; {@link #close()} exports what is queued within {@code closeTimeout}, then shuts the
 * exporter down.
 *
 * <p>The worker is supervised: an error that escapes it is logged, counted ({@value
 * #METRIC_WORKER_RESTARTS}) and the worker restarted after a short, growing pause; the spans of the
 * batch it held (taken from the queue, not yet handed to the exporter) count as {@link
 * LossCause#EXPORT_FAILED}, the queued ones stay queued. Two probes tell a broken worker from a
 * broken collector: {@link #workerProblem()} (the worker is dead, or spans wait while it has not
 * come round for {@code workerStallTimeout}: the agent is unhealthy) and {@link #exportProblem()}
 * (exports keep failing: the collector is down or refusing, the worker itself is fine).
 *
 * <p>Metrics: {@value #METRIC_EXPORTED} (spans), {@value #METRIC_EXPORT_FAILURES} (export calls),
 * {@value #METRIC_QUEUE_SIZE} and {@value #METRIC_EXPORTS_IN_FLIGHT} (gauges), {@value
 * #METRIC_WORKER_RESTARTS} and the loss counters.
 */
public final class SpanBatcher implements AutoCloseable {
  public static final String METRIC_EXPORTED = "wirespan_spans_exported_total";
  public static final String METRIC_EXPORT_FAILURES = "wirespan_export_failures_total";
  public static final String METRIC_QUEUE_SIZE = "wirespan_export_queue_spans";
  public static final String METRIC_EXPORTS_IN_FLIGHT = "wirespan_exports_in_flight";
  public static final String METRIC_WORKER_RESTARTS = "wirespan_worker_restarts_total";
  public static final int DEFAULT_QUEUE_CAPACITY = 8192;
  public static final int DEFAULT_MAX_BATCH_SIZE = 512;
  /**
   * Two exports at once: the second hides one export's round trip and the collector's pauses; one
   * OTLP/HTTP export of 512 spans to a local receiver takes 4-8 ms, so two sustain several times
   * the spans one agent makes, while the memory held by exports in flight stays small.
   */
  public static final int DEFAULT_MAX_EXPORTS_IN_FLIGHT = 2;
  public static final Duration DEFAULT_SCHEDULE_DELAY = Duration.ofSeconds(1);
  public static final Duration DEFAULT_EXPORT_TIMEOUT = Duration.ofSeconds(30);
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(10);
  /**
   * Added to the longest legitimate round of the worker (one export timeout plus one schedule
   * delay) before a worker that has not come round is called stuck: room for a restart pause and
   * for a busy machine.
   */
  public static final Duration DEFAULT_WORKER_STALL_MARGIN = Duration.ofSeconds(10);
  private static final long FIRST_RESTART_PAUSE_MILLIS = 10;
  private static final int RUNNING = 0;
  private static final int SUCCEEDED = 1;
  private static final int FAILED = 2;
  private static final long MAX_RESTART_PAUSE_MILLIS = 5_000;

  private static final Logger LOG = Logger.getLogger(SpanBatcher.class.getName());

  private final SpanExporter exporter;
  private final int queueCapacity;
  private final int maxBatchSize;
  private final int maxExportsInFlight;
  private final long scheduleDelayNanos;
  private final long exportTimeoutNanos;
  private final long closeTimeoutNanos;
  private final long workerStallNanos;

  private final Queue<SpanData> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger queued = new AtomicInteger();
  private final AtomicBoolean closeCalled = new AtomicBoolean();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicReference<CompletableResultCode> flushRequest = new AtomicReference<>();
  /** Exports started and not settled yet (succeeded, failed or timed out), oldest first. */
  private final Queue<Export> inFlight = new ConcurrentLinkedQueue<>();
  private final AtomicInteger inFlightCount = new AtomicInteger();
  private volatile boolean workerParked;
  private volatile long closeDeadlineNanos;
  private final Thread worker;

  // Worker-confined: the batch taken from the queue and not yet handed to the exporter, and the
  // flush being served, so that a worker that dies can account for them.
  private final List<SpanData> batch;
  @Nullable private CompletableResultCode flushInProgress;

  // Read by the probes; lastRoundNanos written by the worker, the others by export completions.
  private volatile long lastRoundNanos = System.nanoTime();
  private volatile long lastSuccessNanos;
  private volatile boolean anySuccess;
  private final AtomicInteger failuresInARow = new AtomicInteger();

  /** Runs on the worker with each batch just before it is exported: a seam for fault tests. */
  private volatile Consumer<List<SpanData>> beforeExport = b -> {};

  private final Counter exported;
  private final Counter exportFailures;
  private final Counter queueFull;
  private final Counter exportFailed;
  private final Counter restarts;

  private SpanBatcher(Builder b) {
    this.exporter = b.exporter;
    this.queueCapacity = b.queueCapacity;
    this.maxBatchSize = b.maxBatchSize;
    this.maxExportsInFlight = b.maxExportsInFlight;
    this.scheduleDelayNanos = b.scheduleDelay.toNanos();
    this.exportTimeoutNanos = b.exportTimeout.toNanos();
    this.closeTimeoutNanos = b.closeTimeout.toNanos();
    this.workerStallNanos =
        b.workerStallTimeout != null
            ? b.workerStallTimeout.toNanos()
            : b.exportTimeout.plus(b.scheduleDelay).plus(DEFAULT_WORKER_STALL_MARGIN).toNanos();
    this.batch = new ArrayList<>(maxBatchSize);
    this.exported = b.metrics.counter(METRIC_EXPORTED, "Spans handed to the exporter successfully.");
    this.exportFailures =
        b.metrics.counter(METRIC_EXPORT_FAILURES, "Export calls that failed after retries.");
    this.queueFull = b.metrics.loss(LossCause.EXPORT_QUEUE_FULL);
    this.exportFailed = b.metrics.loss(LossCause.EXPORT_FAILED);
    b.metrics.gauge(METRIC_QUEUE_SIZE, "Spans waiting for export.", queued::get);
    b.metrics.gauge(
        METRIC_EXPORTS_IN_FLIGHT, "Export calls started and not finished.", inFlightCount::get);
    this.restarts =
        b.metrics.counter(
            METRIC_WORKER_RESTARTS,
            "Times a pipeline worker died of an unexpected error and was restarted.",
            "worker",
            "export");
    this.worker = new Thread(this::supervisedRun, "wirespan-span-export");
    worker.setDaemon(true);
    worker.start();
  }

  public static Builder builder(SpanExporter exporter, AgentMetrics metrics) {
    return new Builder(exporter, metrics);
  }

  /**
   * Queues a span for export without blocking. Returns false (and counts the loss) when the queue
   * is full or the batcher is closed.
   */
  public boolean offer(SpanData span) {
    Objects.requireNonNull(span, "span");
    if (closed.get()) {
      queueFull.inc();
      return false;
    }
    int size = queued.incrementAndGet();
    if (size > queueCapacity) {
      queued.decrementAndGet();
      queueFull.inc();
      return false;
    }
    queue.add(span);
    // Once per batch, on the span that fills it: a worker parked with a full queue is waiting for
    // an export slot, and the export that frees one wakes it.
    if (size == maxBatchSize && workerParked) {
      LockSupport.unpark(worker);
    }
    return true;
  }

  /** Spans waiting for export. */
  public int queuedSpans() {
    return queued.get();
  }

  /**
   * Why the export worker no longer takes spans, if it does not: it is dead, or spans wait while it
   * has not come round for the worker stall timeout (an exporter call that never returns). A
   * collector that is down or never answers is not a worker problem: each export ends at the
   * export timeout and the worker moves on (see {@link #exportProblem()}).
   */
  public Optional<String> workerProblem() {
    if (closed.get()) {
      return Optional.empty();
    }
    if (!worker.isAlive()) {
      return Optional.of("span export worker is dead");
    }
    long since = System.nanoTime() - lastRoundNanos;
    if (since > workerStallNanos && queued.get() > 0) {
      return Optional.of(
          queued.get() + " spans waiting but the span export worker has taken none for "
              + TimeUnit.NANOSECONDS.toSeconds(since) + " s");
    }
    return Optional.empty();
  }

  /**
   * Whether the latest exports failed (after the exporter's own retries), with how many in a row
   * and when the last one succeeded: the collector is down, refusing or too slow.
   */
  public Optional<String> exportProblem() {
    int failures = failuresInARow.get();
    if (failures == 0) {
      return Optional.empty();
    }
    String last =
        anySuccess
            ? "last success "
                + TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - lastSuccessNanos) + " s ago"
            : "none succeeded yet";
    return Optional.of(failures + " exports in a row failed, " + last);
  }

  /** Sets the action run on the worker with each batch before it is exported (fault tests). */
  void setBeforeExport(Consumer<List<SpanData>> action) {
    this.beforeExport = Objects.requireNonNull(action, "action");
  }

  /**
   * Exports everything queued so far; the result completes when that is done (success only when
   * every batch succeeded).
   */
  public CompletableResultCode flush() {
    CompletableResultCode result = new CompletableResultCode();
    CompletableResultCode previous = flushRequest.getAndSet(result);
    if (previous != null) {
      // Two flushes at once: the newer one covers everything the older one asked for.
      result.whenComplete(() -> previous.succeed());
    }
    if (!worker.isAlive()) {
      flushRequest.compareAndSet(result, null);
      return result.fail();
    }
    LockSupport.unpark(worker);
    return result;
  }

  /** Exports what is queued (within the close timeout), then shuts the exporter down. */
  @Override
  public void close() {
    if (!closeCalled.compareAndSet(false, true)) {
      return;
    }
    // The deadline is set before the worker can see the batcher closed.
    closeDeadlineNanos = System.nanoTime() + closeTimeoutNanos;
    closed.set(true);
    LockSupport.unpark(worker);
    try {
      worker.join(TimeUnit.NANOSECONDS.toMillis(closeTimeoutNanos) + 1);
      if (worker.isAlive()) {
        worker.interrupt();
        worker.join(TimeUnit.NANOSECONDS.toMillis(closeTimeoutNanos) + 1);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    // Exports still running past the close deadline, and whatever is still queued, will never be
    // exported (a settled export's late completion is ignored).
    settleAllInFlight(false, "not finished when the agent stopped");
    int left = 0;
    while (queue.poll() != null) {
      left++;
    }
    queued.addAndGet(-left);
    exportFailed.add(left);
    long remaining = Math.max(0, closeDeadlineNanos - System.nanoTime());
    exporter.shutdown().join(Math.max(remaining, TimeUnit.SECONDS.toNanos(1)), TimeUnit.NANOSECONDS);
  }

  /** The worker: {@link #run} until closed, restarted (logged, counted) if an error kills it. */
  private void supervisedRun() {
    long pauseMillis = FIRST_RESTART_PAUSE_MILLIS;
    while (true) {
      try {
        run();
        return;
      } catch (OutOfMemoryError e) {
        throw e;
      } catch (Throwable e) {
        restarts.inc();
        int lost = abandonHeldBatch();
        LOG.log(
            Level.SEVERE,
            "span export worker died; restarting it in " + pauseMillis + " ms ("
                + lost + " spans of its batch counted as lost, "
                + queued.get() + " queued spans kept)",
            e);
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(pauseMillis));
        pauseMillis = Math.min(pauseMillis * 2, MAX_RESTART_PAUSE_MILLIS);
      }
    }
  }

  /**
   * After the worker died: the spans of the batch it held are lost (counted), a flush it was
   * serving fails. Returns how many spans were lost.
   */
  private int abandonHeldBatch() {
    int lost = batch.size();
    batch.clear();
    exportFailed.add(lost);
    CompletableResultCode flush = flushInProgress;
    flushInProgress = null;
    if (flush != null) {
      flush.fail();
    }
    return lost;
  }

  private void run() {
    long nextExportNanos = System.nanoTime() + scheduleDelayNanos;
    while (true) {
      boolean closing = closed.get();
      CompletableResultCode flush = flushRequest.getAndSet(null);
      if (closing || flush != null) {
        flushInProgress = flush;
        boolean ok = drainAll(closing);
        flushInProgress = null;
        if (flush != null) {
          if (ok) {
            flush.succeed();
          } else {
            flush.fail();
          }
        }
        if (closing) {
          failPendingFlush();
          return;
        }
        nextExportNanos = System.nanoTime() + scheduleDelayNanos;
        lastRoundNanos = System.nanoTime();
        continue;
      }
      long now = System.nanoTime();
      expireOverdue(now);
      boolean slotFree = inFlightCount.get() < maxExportsInFlight;
      if (slotFree
          && (queued.get() >= maxBatchSize || (now - nextExportNanos >= 0 && queued.get() > 0))) {
        fill();
        startExport(now + exportTimeoutNanos);
        nextExportNanos = System.nanoTime() + scheduleDelayNanos;
        lastRoundNanos = System.nanoTime();
        continue;
      }
      long wakeNanos;
      if (slotFree) {
        if (now - nextExportNanos >= 0) {
          nextExportNanos = now + scheduleDelayNanos; // nothing was queued when it was due
        }
        wakeNanos = earliestDeadline(nextExportNanos);
      } else {
        // A completing export unparks the worker; a due partial batch then goes at once.
        wakeNanos = earliestDeadline(now + scheduleDelayNanos);
      }
      workerParked = true;
      // Re-check after publishing the flag so that an offer racing with it is not missed; an
      // export that completes unparks the worker whatever the flag.
      if ((queued.get() < maxBatchSize || inFlightCount.get() >= maxExportsInFlight)
          && !closed.get()
          && flushRequest.get() == null) {
        LockSupport.parkNanos(this, wakeNanos - System.nanoTime());
      }
      workerParked = false;
      lastRoundNanos = System.nanoTime();
      if (Thread.interrupted() && closed.get()) {
        return;
      }
    }
  }

  /**
   * Exports the spans queued now (a flush under steady load must end), or when closing everything
   * until the close deadline, and waits for them and for the exports already in flight (their
   * spans were queued earlier). True when all of them succeeded.
   */
  private boolean drainAll(boolean closing) {
    List<Export> awaited = new ArrayList<>(inFlight);
    long limit = closing ? closeDeadlineNanos : Long.MAX_VALUE;
    long left = closing ? Long.MAX_VALUE : queued.get();
    while (left > 0 && queued.get() > 0) {
      if (!awaitFreeSlot(limit)) {
        break;
      }
      long deadline = System.nanoTime() + exportTimeoutNanos;
      if (closing && deadline - closeDeadlineNanos > 0) {
        deadline = closeDeadlineNanos;
      }
      fill();
      left -= batch.size();
      Export started = startExport(deadline);
      lastRoundNanos = System.nanoTime();
      if (started != null) {
        awaited.add(started);
      }
    }
    boolean ok = awaitSettled(awaited, limit) && (left <= 0 || queued.get() == 0);
    for (Export e : awaited) {
      ok &= e.succeeded();
    }
    return ok;
  }

  /** Waits until an export slot is free; false when {@code limitNanos} came first. */
  private boolean awaitFreeSlot(long limitNanos) {
    while (true) {
      long now = System.nanoTime();
      expireOverdue(now);
      if (inFlightCount.get() < maxExportsInFlight) {
        return true;
      }
      if (limitNanos != Long.MAX_VALUE && now - limitNanos >= 0) {
        return false;
      }
      parkUntil(Math.min(earliestDeadline(limitNanos), limitNanos), now);
    }
  }

  /** Waits until every one of {@code exports} is settled; false when {@code limitNanos} came first. */
  private boolean awaitSettled(List<Export> exports, long limitNanos) {
    for (Export e : exports) {
      while (!e.settled()) {
        long now = System.nanoTime();
        expireOverdue(now);
        if (e.settled()) {
          break;
        }
        if (limitNanos != Long.MAX_VALUE && now - limitNanos >= 0) {
          return false;
        }
        parkUntil(Math.min(e.deadlineNanos, limitNanos), now);
      }
    }
    return true;
  }

  /**
   * Parks until {@code deadlineNanos} or a completing export. close() interrupts the worker only
   * after the close deadline, so the waits above end then by their limit.
   */
  private void parkUntil(long deadlineNanos, long now) {
    LockSupport.parkNanos(this, Math.max(0, deadlineNanos - now));
  }

  private void fill() {
    batch.clear();
    SpanData span;
    while (batch.size() < maxBatchSize && (span = queue.poll()) != null) {
      batch.add(span);
    }
    queued.addAndGet(-batch.size());
  }

  /**
   * Hands the held batch to the exporter without waiting for the result, which is counted when it
   * comes (on the exporter's thread) or when {@code deadlineNanos} passes, whichever is first.
   * Returns null when the batch was empty.
   */
  @Nullable
  private Export startExport(long deadlineNanos) {
    if (batch.isEmpty()) {
      return null;
    }
    beforeExport.accept(batch);
    Export export = new Export(batch.size(), deadlineNanos);
    inFlightCount.incrementAndGet();
    inFlight.add(export);
    try {
      // A copy: the exporter may read the spans until its result completes.
      CompletableResultCode result = exporter.export(new ArrayList<>(batch));
      result.whenComplete(() -> export.settle(result.isSuccess(), result.getFailureThrowable()));
    } catch (OutOfMemoryError e) {
      throw e;
    } catch (RuntimeException | Error e) {
      // A broken exporter fails its batch (counted); it does not take the worker down.
      LOG.log(Level.WARNING, "span exporter threw", e);
      export.settle(false, null);
    }
    batch.clear();
    return export;
  }

  /** Fails the exports whose deadline has passed, and forgets the settled ones. */
  private void expireOverdue(long now) {
    for (Export e : inFlight) {
      if (!e.settled() && now - e.deadlineNanos >= 0) {
        e.settleTimedOut();
      }
    }
    inFlight.removeIf(e -> e.settled());
  }

  /** The earliest deadline of the exports in flight, or {@code otherwise} when none is earlier. */
  private long earliestDeadline(long otherwise) {
    long earliest = otherwise;
    for (Export e : inFlight) {
      if (!e.settled() && e.deadlineNanos - earliest < 0) {
        earliest = e.deadlineNanos;
      }
    }
    return earliest;
  }

  private void settleAllInFlight(boolean ok, String why) {
    Export e;
    while ((e = inFlight.poll()) != null) {
      if (!e.settled()) {
        LOG.warning("span export of " + e.spans + " spans " + why);
        e.settle(ok, null);
      }
    }
  }

  private void failPendingFlush() {
    CompletableResultCode flush = flushRequest.getAndSet(null);
    if (flush != null) {
      flush.fail();
    }
  }

  /** One export call: counted exactly once, by its result or by its deadline. */
  private final class Export {
    final int spans;
    final long deadlineNanos;
    /** {@link #RUNNING}, then {@link #SUCCEEDED} or {@link #FAILED}, set once. */
    final AtomicInteger state = new AtomicInteger(RUNNING);

    Export(int spans, long deadlineNanos) {
      this.spans = spans;
      this.deadlineNanos = deadlineNanos;
    }

    void settle(boolean ok, @Nullable Throwable failure) {
      if (!state.compareAndSet(RUNNING, ok ? SUCCEEDED : FAILED)) {
        return; // already timed out (or failed at close); a late result changes nothing
      }
      if (ok) {
        exported.add(spans);
        lastSuccessNanos = System.nanoTime();
        anySuccess = true;
        failuresInARow.set(0);
      } else {
        failuresInARow.incrementAndGet();
        if (failure != null) {
          LOG.warning("span export of " + spans + " spans failed: " + failure);
        } else {
          LOG.warning("span export of " + spans + " spans failed");
        }
        exportFailures.inc();
        exportFailed.add(spans);
      }
      inFlightCount.decrementAndGet();
      LockSupport.unpark(worker);
    }

    boolean settled() {
      return state.get() != RUNNING;
    }

    boolean succeeded() {
      return state.get() == SUCCEEDED;
    }

    void settleTimedOut() {
      if (!settled()) {
        LOG.warning("span export of " + spans + " spans timed out");
        settle(false, null);
      }
    }
  }

  /** Settings of a {@link SpanBatcher}. */
  public static final class Builder {
    private final SpanExporter exporter;
    private final AgentMetrics metrics;
    private int queueCapacity = DEFAULT_QUEUE_CAPACITY;
    private int maxBatchSize = DEFAULT_MAX_BATCH_SIZE;
    private int maxExportsInFlight = DEFAULT_MAX_EXPORTS_IN_FLIGHT;
    private Duration scheduleDelay = DEFAULT_SCHEDULE_DELAY;
    private Duration exportTimeout = DEFAULT_EXPORT_TIMEOUT;
    private Duration closeTimeout = DEFAULT_CLOSE_TIMEOUT;
    @Nullable private Duration workerStallTimeout;

    private Builder(SpanExporter exporter, AgentMetrics metrics) {
      this.exporter = Objects.requireNonNull(exporter, "exporter");
      this.metrics = Objects.requireNonNull(metrics, "metrics");
    }

    /** Spans queued at most; default {@value SpanBatcher#DEFAULT_QUEUE_CAPACITY}. */
    public Builder setQueueCapacity(int spans) {
      this.queueCapacity = positive(spans, "queueCapacity");
      return this;
    }

    /** Spans per export call at most; default {@value SpanBatcher#DEFAULT_MAX_BATCH_SIZE}. */
    public Builder setMaxBatchSize(int spans) {
      this.maxBatchSize = positive(spans, "maxBatchSize");
      return this;
    }

    /**
     * Export calls running at once at most; default {@value
     * SpanBatcher#DEFAULT_MAX_EXPORTS_IN_FLIGHT}. Each holds its batch until it completes.
     */
    public Builder setMaxExportsInFlight(int exports) {
      this.maxExportsInFlight = positive(exports, "maxExportsInFlight");
      return this;
    }

    /** Longest wait before a non-full batch is exported; default 1 s. */
    public Builder setScheduleDelay(Duration delay) {
      this.scheduleDelay = positive(delay, "scheduleDelay");
      return this;
    }

    /** Longest wait for one export call (including the exporter's retries); default 30 s. */
    public Builder setExportTimeout(Duration timeout) {
      this.exportTimeout = positive(timeout, "exportTimeout");
      return this;
    }

    /** Longest time {@link SpanBatcher#close()} spends exporting what is left; default 10 s. */
    public Builder setCloseTimeout(Duration timeout) {
      this.closeTimeout = positive(timeout, "closeTimeout");
      return this;
    }

    /**
     * How long spans may wait while the worker does not come round before {@link
     * SpanBatcher#workerProblem()} reports it stuck; default: export timeout + schedule delay +
     * {@link SpanBatcher#DEFAULT_WORKER_STALL_MARGIN}. Keep it above the export timeout plus the
     * schedule delay, or a collector that never answers, or a worker waiting for a batch to fill,
     * looks like a stuck worker.
     */
    public Builder setWorkerStallTimeout(Duration timeout) {
      this.workerStallTimeout = positive(timeout, "workerStallTimeout");
      return this;
    }

    public SpanBatcher build() {
      if (maxBatchSize > queueCapacity) {
        maxBatchSize = queueCapacity;
      }
      return new SpanBatcher(this);
    }

    private static int positive(int value, String name) {
      if (value <= 0) {
        throw new IllegalArgumentException(name + " must be positive: " + value);
      }
      return value;
    }

    private static Duration positive(Duration value, String name) {
      Objects.requireNonNull(value, name);
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException(name + " must be positive: " + value);
      }
      return value;
    }
  }
}
