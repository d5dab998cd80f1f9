package dev.wirespan.agent;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.capture.CaptureEventSink;
import dev.wirespan.capture.CaptureException;
import dev.wirespan.capture.KernelCapture;
import dev.wirespan.capture.KernelLossCounters;
import dev.wirespan.capture.RingBufferReader;
import dev.wirespan.export.ExportSettings;
import dev.wirespan.export.ExporterFactory;
import dev.wirespan.export.SpanBatcher;
import dev.wirespan.http.ConnectionTracker;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.Counter;
import dev.wirespan.metrics.JvmHeapMetrics;
import dev.wirespan.metrics.LossCause;
import dev.wirespan.span.PeerResolver;
import dev.wirespan.span.ProcessResourceResolver;
import io.netty.util.concurrent.FastThreadLocalThread;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import dev.wirespan.k8s.ClusterAccess;
import dev.wirespan.k8s.KubernetesMetadata;
import dev.wirespan.k8s.KubernetesPeerResolver;
import dev.wirespan.k8s.KubernetesStatus;
import dev.wirespan.k8s.PodResourceResolver;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.annotation.Nullable;

/**
 * Wires the pipeline (kernel capture, connection decoding, trace linking, spans, export) and runs
 * it on one capture thread until the process is stopped. The only class that knows every stage.
 */
public final class Agent implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(Agent.class.getName());

  /** How often timed-out requests and idle connections are looked for. */
  private static final long EXPIRE_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  /** How often the kernel's loss counters are read into the agent's metrics. */
  private static final long KERNEL_COUNTERS_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
  /** Bound on a graceful stop (drain, flush, detach). */
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(20);
  /** Errors logged in full before further ones are only counted (until the next status line). */
  private static final int LOGGED_ERRORS_PER_INTERVAL = 5;

  /** Where the traced processes' /proc entries are (the agent runs with the host's pid space). */
  private static final Path HOST_PROC = Path.of("/proc");

  private final AgentConfig config;
  private final AgentMetrics metrics;
  /** Makes the span stage's resolvers for given metrics (the agent's, or its warm-up's own). */
  private final Function<AgentMetrics, Pipeline.Resolvers> resolvers;
  @Nullable private final KubernetesMetadata kubernetes;
  private final Counter events;
  private final Counter eventBytes;
  private final Counter pipelineErrors;
  private final SpanBatcher batcher;
  private final ConnectionTracker tracker;
  private final StatusLine statusLine;
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final List<AutoCloseable> resources = new ArrayList<>();

  private volatile boolean attached;
  private volatile CaptureLoop loop;
  private int errorsLoggedThisInterval;
  private long lastExpireNanos = System.nanoTime();
  private long lastKernelCountersNanos = lastExpireNanos;
  private KernelCapture capture;
  private final long[] kernelCountersSeen = new long[KernelLossCounters.COUNT];

  Agent(
      AgentConfig config,
      AgentMetrics metrics,
      SpanExporter exporter,
      Function<AgentMetrics, Pipeline.Resolvers> resolvers,
      @Nullable KubernetesMetadata kubernetes) {
    this.config = config;
    this.resolvers = resolvers;
    this.metrics = metrics;
    this.kubernetes = kubernetes;
    if (kubernetes != null) {
      resources.add(kubernetes);
    }
    this.events = metrics.counter("wirespan_events_total", "Kernel events read from the ring buffer.");
    this.eventBytes =
        metrics.counter(
            "wirespan_event_bytes_total", "Bytes moved by the traced syscalls the events describe.");
    this.pipelineErrors =
        metrics.counter(
            "wirespan_pipeline_errors_total",
            "Unexpected errors while handling an event (the event is skipped, the pipeline goes on).");
    Pipeline pipeline = Pipeline.create(config, metrics, exporter, resolvers.apply(metrics));
    this.batcher = pipeline.batcher;
    this.tracker = pipeline.tracker;
    this.statusLine = new StatusLine(metrics, tracker, batcher, kubernetes);
    metrics.gauge(
        "wirespan_ready", "1 once the kernel programs are attached.", () -> attached ? 1 : 0);
    JvmHeapMetrics.register(metrics);
  }

  /** Runs the agent in this thread until SIGTERM/SIGINT; returns the process exit code. */
  static int runUntilStopped(AgentConfig config, PrintWriter err) {
    AgentLogging.configure(config.logLevel());
    for (String line : config.describe()) {
      LOG.fine(() -> "setting " + line);
    }
    AgentMetrics metrics = new AgentMetrics();
    SpanExporter exporter;
    try {
      exporter = ExporterFactory.create(config.exportSettings(), metrics);
    } catch (RuntimeException e) {
      err.println("wirespan-agent: cannot create the span exporter: " + e.getMessage());
      return WirespanCommand.EXIT_USAGE;
    }
    String nodeName = hostName(config);
    Optional<KubernetesMetadata> kubernetes;
    try {
      kubernetes =
          KubernetesMetadata.connect(config.kubernetes(), ClusterAccess.detect(), nodeName, metrics);
    } catch (RuntimeException e) {
      err.println("wirespan-agent: cannot start Kubernetes metadata: " + e.getMessage());
      exporter.shutdown();
      return WirespanCommand.EXIT_START_FAILED;
    }
    Function<AgentMetrics, Pipeline.Resolvers> resolvers =
        m -> {
          ProcessResourceResolver processes = new ProcessResourceResolver(nodeName);
          return kubernetes
              .map(
                  k ->
                      new Pipeline.Resolvers(
                          new PodResourceResolver(k, processes, config.clusterName(), HOST_PROC, m),
                          new KubernetesPeerResolver(k, m)))
              .orElseGet(() -> new Pipeline.Resolvers(processes, PeerResolver.NONE));
        };
    Agent agent = new Agent(config, metrics, exporter, resolvers, kubernetes.orElse(null));
    Thread hook = new Thread(agent::requestStopAndWait, "wirespan-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      agent.start();
    } catch (CaptureException | IOException e) {
      err.println("wirespan-agent: cannot start: " + e.getMessage());
      agent.close();
      return WirespanCommand.EXIT_START_FAILED;
    }
    agent.runCaptureLoop();
    return 0;
  }

  /** Opens the admin endpoint, then loads and attaches the kernel programs. */
  void start() throws IOException {
    if (config.adminAddress() != null) {
      AdminServer admin =
          AdminServer.start(config.adminAddress(), metrics, this::health, this::readiness);
      resources.add(admin);
      LOG.info(() -> "admin endpoint on http://" + hostPort(admin) + " (/healthz /readyz /metrics)");
    }
    warmUp();
    capture = KernelCapture.open(config.captureSettings()); // excludes this process

    RingBufferReader ring = capture.ringBuffer();
    metrics.gauge(
        "wirespan_kernel_programs_info",
        "1, labelled with the build of the BPF programs that runs (kfunc or portable).",
        () -> 1,
        "variant",
        capture.programVariant().label());
    metrics.gauge(
        "wirespan_ring_buffer_used_bytes", "Unread bytes in the kernel ring buffer.", ring::availableBytes);
    metrics.gauge(
        "wirespan_ring_buffer_size_bytes", "Size of the kernel ring buffer.", ring::capacity);
    CaptureLoop.EventSource source =
        new CaptureLoop.EventSource() {
          @Override
          public int poll(CaptureEventSink sink, int timeoutMillis) {
            return ring.poll(sink, timeoutMillis);
          }

          @Override
          public long availableBytes() {
            return ring.availableBytes();
          }
        };
    loop = new CaptureLoop(source, this::onEvent, this::housekeeping, metrics);
    attached = true;
    LOG.info(
        () ->
            "capturing HTTP/1.x on this host: "
                + capture.attachedPrograms().size()
                + " kernel programs attached, exporting to "
                + config.exportSettings().outputs()
                + (config.exportSettings().outputs().contains(ExportSettings.Output.OTLP)
                    ? " (" + config.exportSettings().resolvedOtlpEndpoint() + ")"
                    : ""));
    if (!config.statusInterval().isZero()) {
      ScheduledExecutorService status =
          Executors.newSingleThreadScheduledExecutor(
              r -> {
                Thread t = new Thread(r, "wirespan-status");
                t.setDaemon(true);
                return t;
              });
      long period = config.statusInterval().toMillis();
      status.scheduleAtFixedRate(this::logStatus, period, period, TimeUnit.MILLISECONDS);
      resources.add(status::shutdownNow);
    }
  }

  /** Runs {@link PipelineWarmup} for the configured time, before any kernel event can arrive. */
  private void warmUp() {
    if (config.warmup().isZero()) {
      return;
    }
    PipelineWarmup.Result r = PipelineWarmup.run(config, resolvers, config.warmup());
    if (r != null) {
      LOG.info(
          () ->
              String.format(
                  "pipeline warmed up in %d ms: %d synthetic events decoded, %d spans exported"
                      + " (%d KiB marshaled and discarded)",
                  r.elapsed().toMillis(), r.events(), r.spansExported(), r.exportBytes() / 1024));
    }
  }

  /**
   * Runs the capture thread, which drains the ring buffer into the decoders until stopped, and
   * waits for it. It is a Netty {@link FastThreadLocalThread}: the decoders' buffers then come
   * from the pooled allocator's per-thread cache and Netty's thread-locals from an indexed array
   * (on another thread every buffer takes the shared arena's lock and every thread-local a hash
   * probe: about 10 % of the capture thread, profiled).
   */
  void runCaptureLoop() {
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread capture =
        new FastThreadLocalThread(
            () -> {
              try {
                loop.run();
              } catch (Throwable t) {
                failure.set(t);
              } finally {
                try {
                  shutDownPipeline();
                } catch (Throwable t) { // an Error: the agent must not exit 0 after it
                  if (!failure.compareAndSet(null, t)) {
                    failure.get().addSuppressed(t);
                  }
                }
              }
            },
            "wirespan-capture");
    capture.start();
    boolean interrupted = false;
    while (true) {
      try {
        capture.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true; // the capture thread ends through stop(), not through this one
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    Throwable t = failure.get();
    if (t instanceof RuntimeException e) {
      throw e;
    } else if (t instanceof Error e) {
      throw e;
    } else if (t != null) {
      throw new IllegalStateException("capture thread failed", t);
    }
  }

  /** Between polls, on the capture thread: end timed-out requests, read kernel counters. */
  private void housekeeping(long now) {
    if (now - lastExpireNanos >= EXPIRE_INTERVAL_NANOS) {
      lastExpireNanos = now;
      try {
        tracker.expire(now);
      } catch (RuntimeException e) {
        reportError("expiring connections", e);
      }
    }
    if (now - lastKernelCountersNanos >= KERNEL_COUNTERS_INTERVAL_NANOS) {
      lastKernelCountersNanos = now;
      readKernelCounters();
    }
  }

  private void onEvent(CaptureEvent event) {
    events.inc();
    eventBytes.add(event.length());
    try {
      tracker.onEvent(event);
    } catch (RuntimeException e) {
      reportError("decoding an event of connection " + event.connectionId(), e);
    }
  }

  private void reportError(String what, RuntimeException e) {
    pipelineErrors.inc();
    if (errorsLoggedThisInterval++ < LOGGED_ERRORS_PER_INTERVAL) {
      LOG.log(Level.WARNING, "error while " + what + " (skipped, counted)", e);
    }
  }

  private void readKernelCounters() {
    KernelLossCounters kernel = capture.lossCounters();
    addDelta(kernel, KernelLossCounters.RINGBUF_FULL, LossCause.KERNEL_RINGBUF_FULL);
    addDelta(kernel, KernelLossCounters.MAP_FULL, LossCause.KERNEL_MAP_FULL);
    addDelta(kernel, KernelLossCounters.EXCHANGES_SHED, LossCause.KERNEL_EXCHANGE_SHED);
    addDelta(kernel, KernelLossCounters.COPY_TRUNCATED, LossCause.KERNEL_COPY_TRUNCATED);
  }

  private void addDelta(KernelLossCounters kernel, int index, LossCause cause) {
    long now = kernel.read(index);
    long delta = now - kernelCountersSeen[index];
    if (delta > 0) {
      metrics.loss(cause).add(delta);
      kernelCountersSeen[index] = now;
    }
  }

  /** Ends the pipeline in data-path order, so that what was captured is exported. */
  private void shutDownPipeline() {
    try {
      if (capture != null) {
        readKernelCounters();
        capture.close(); // detach first: no new events
      }
      tracker.closeAll(); // pending exchanges end as spans
      batcher.close(); // flush within its close timeout
      logStatus();
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "error while stopping", e);
    } finally {
      close();
      stopped.countDown();
    }
  }

  /** Shutdown hook: stops the capture loop and waits, bounded, for the pipeline to drain. */
  private void requestStopAndWait() {
    if (!attached || loop == null) {
      close();
      return;
    }
    LOG.info("stopping: detaching programs and flushing spans");
    loop.stop();
    try {
      if (!stopped.await(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        LOG.warning("pipeline did not stop within " + STOP_TIMEOUT + "; exiting anyway");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Unhealthy when a worker is stuck or dead: the capture loop, or the export worker while spans
   * wait. A collector that is down is not an unhealthy agent (a restart would not bring it back):
   * its exports fail, are counted, and {@link #readiness()} says so.
   */
  AdminServer.Status health() {
    Optional<String> export = batcher.workerProblem();
    CaptureLoop current = loop;
    AdminServer.Status capture =
        current == null ? new AdminServer.Status(true, "starting") : current.health();
    if (export.isEmpty()) {
      return capture;
    }
    return new AdminServer.Status(
        false, (capture.ok() ? "" : capture.detail() + "; ") + export.get());
  }

  AdminServer.Status readiness() {
    if (!attached) {
      return new AdminServer.Status(false, "kernel programs not attached yet");
    }
    String detail = "ready: kernel programs attached";
    if (kubernetes != null) {
      KubernetesStatus k8s = kubernetes.status();
      // Spans keep flowing with what is known, so degraded metadata is reported, not unready.
      detail += k8s.allUp() ? "; kubernetes metadata up" : "; kubernetes metadata degraded: " + k8s.degradedSummary();
    }
    // A failing collector is reported, not unready: capture goes on, the losses are counted, and
    // export resumes by itself when the collector is back.
    detail += batcher.exportProblem().map(p -> "; export failing: " + p).orElse("; export ok");
    return new AdminServer.Status(true, detail);
  }

  private void logStatus() {
    LOG.info(statusLine.format());
    errorsLoggedThisInterval = 0;
  }

  @Override
  public void close() {
    for (int i = resources.size() - 1; i >= 0; i--) {
      try {
        resources.get(i).close();
      } catch (Exception e) {
        LOG.log(Level.FINE, "closing " + resources.get(i), e);
      }
    }
    resources.clear();
    if (capture != null) {
      capture.close();
    }
  }

  private static String hostPort(AdminServer admin) {
    return admin.address().getHostString() + ":" + admin.address().getPort();
  }

  private static String hostName(AgentConfig config) {
    if (config.nodeName() != null) {
      return config.nodeName();
    }
    try {
      return Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
    } catch (IOException e) {
      return "localhost";
    }
  }
}
