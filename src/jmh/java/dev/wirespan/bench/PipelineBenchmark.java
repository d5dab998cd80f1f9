package dev.wirespan.bench;

import dev.wirespan.capture.CaptureEvent;
import dev.wirespan.http.ConnectionTracker;
import dev.wirespan.http.ExchangeListener;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.http.HttpSettings;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.LossCause;
import dev.wirespan.span.MonotonicClock;
import dev.wirespan.span.PeerResolver;
import dev.wirespan.span.ProcessResourceResolver;
import dev.wirespan.span.SpanFactory;
import dev.wirespan.span.TraceLinker;
import io.opentelemetry.exporter.internal.otlp.traces.LowAllocationTraceRequestMarshaler;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The agent's user-space path alone, on one core: ring-buffer records -> {@link
 * ConnectionTracker} (reassembly, Netty decoding, pairing) -> {@link TraceLinker} -> {@link
 * SpanFactory} -> OTLP protobuf marshalling, wired as {@code dev.wirespan.agent.Agent} wires them
 * (minus the export queue and the network).
 *
 * <p>One operation is one HTTP request seen from both sides: 4 kernel events (client write,
 * server read, server write, client read) and 2 exchanges (a CLIENT and a SERVER span). So
 * events/s = 4 x ops/s and exchanges (spans)/s = 2 x ops/s; {@code -prof gc}'s
 * gc.alloc.rate.norm is bytes per request, half of it per exchange.
 *
 * <ul>
 *   <li>{@code decode}: tracker only (exchanges built, nothing downstream).
 *   <li>{@code pipeline}: tracker + linker + span factory + OTLP marshalling of every 512 spans
 *       (the batcher's batch size) to a null stream, with the marshaler the OTLP exporters use in
 *       their default memory mode (REUSABLE_DATA: one reused {@link
 *       LowAllocationTraceRequestMarshaler}).
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 2, jvmArgsAppend = {"-Xmx512m", "-Dio.netty.leakDetection.level=disabled"})
public class PipelineBenchmark {
  /** Requests in one replayed batch; 2 spans each, so one 512-span OTLP request per batch. */
  static final int REQUESTS_PER_BATCH = 256;
  static final int SPANS_PER_EXPORT = 2 * REQUESTS_PER_BATCH;
  /** The agent's default --capture-bytes. */
  static final int CAPTURE_CAP_BYTES = 4096;
  /** pid 1 always exists: it plays the web server, this JVM the load generator. */
  private static final int SERVER_PID = 1;

  @Param({"16", "256"})
  public int connections;

  @Param({"128", "4096"})
  public int responseBodyBytes;

  private RecordedCapture decodeCapture;
  private RecordedCapture pipelineCapture;
  private final CaptureEvent view = new CaptureEvent();
  private AgentMetrics metrics;
  private ConnectionTracker decodeOnly;
  private ConnectionTracker pipeline;
  private final List<SpanData> batch = new ArrayList<>(SPANS_PER_EXPORT);
  private long decodedExchanges;
  private final OutputStream nullStream = OutputStream.nullOutputStream();
  private final LowAllocationTraceRequestMarshaler marshaler =
      new LowAllocationTraceRequestMarshaler();

  @Setup(Level.Trial)
  public void setUp() throws IOException {
    int self = Math.toIntExact(ProcessHandle.current().pid());
    decodeCapture =
        new RecordedCapture(
            connections, REQUESTS_PER_BATCH, responseBodyBytes, CAPTURE_CAP_BYTES, self, SERVER_PID);
    pipelineCapture =
        new RecordedCapture(
            connections, REQUESTS_PER_BATCH, responseBodyBytes, CAPTURE_CAP_BYTES, self, SERVER_PID);
    metrics = new AgentMetrics();
    decodeOnly =
        new ConnectionTracker(
            HttpSettings.defaults(), exchange -> decodedExchanges++, new AgentMetrics());
    ProcessResourceResolver resources =
        new ProcessResourceResolver(ProcessResourceResolver.UNKNOWN_SERVICE);
    SpanFactory spans = new SpanFactory(resources, PeerResolver.NONE, MonotonicClock.system());
    ExchangeListener toBatch =
        new ExchangeListener() {
          @Override
          public void onRequestStart(HttpExchange exchange) {
            resources.resolve(exchange.connection());
          }

          @Override
          public void onExchangeEnd(HttpExchange exchange) {
            batch.add(spans.toSpan(exchange));
          }
        };
    pipeline =
        new ConnectionTracker(
            HttpSettings.defaults(), TraceLinker.builder(toBatch, metrics).build(), metrics);
    checkOneBatch();
  }

  /** The replay must really produce two complete spans per request and lose nothing. */
  private void checkOneBatch() throws IOException {
    feed(pipelineCapture, pipeline);
    if (batch.size() != SPANS_PER_EXPORT) {
      throw new IllegalStateException(
          "expected " + SPANS_PER_EXPORT + " spans per batch, got " + batch.size());
    }
    marshal(null);
    pipelineCapture.advance();
    for (LossCause cause : LossCause.values()) {
      if (metrics.loss(cause).get() != 0) {
        throw new IllegalStateException("replay lost data: " + cause);
      }
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (LossCause cause : LossCause.values()) {
      if (metrics.loss(cause).get() != 0) {
        throw new IllegalStateException("replay lost data: " + cause + " " + metrics.loss(cause).get());
      }
    }
    decodeOnly.closeAll();
    pipeline.closeAll();
  }

  @Benchmark
  @OperationsPerInvocation(REQUESTS_PER_BATCH)
  public long decode() {
    feed(decodeCapture, decodeOnly);
    decodeCapture.advance();
    return decodedExchanges;
  }

  @Benchmark
  @OperationsPerInvocation(REQUESTS_PER_BATCH)
  public void pipeline(Blackhole bh) throws IOException {
    feed(pipelineCapture, pipeline);
    pipelineCapture.advance();
    marshal(bh);
  }

  private void feed(RecordedCapture capture, ConnectionTracker tracker) {
    for (int i = 0; i < capture.recordCount; i++) {
      tracker.onEvent(view.wrap(capture.records, capture.recordBase(i)));
    }
  }

  private void marshal(Blackhole bh) throws IOException {
    marshaler.initialize(batch);
    try {
      marshaler.writeBinaryTo(nullStream);
      if (bh != null) {
        bh.consume(marshaler.getBinarySerializedSize());
      }
    } finally {
      marshaler.reset();
    }
    batch.clear();
  }
}
