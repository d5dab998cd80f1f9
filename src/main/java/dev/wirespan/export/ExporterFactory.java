package dev.wirespan.export;

import dev.wirespan.metrics.AgentMetrics;
import io.opentelemetry.common.ComponentLoader;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporterBuilder;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporterBuilder;
import io.opentelemetry.exporter.sender.jdk.internal.JdkHttpSenderProvider;
import io.opentelemetry.sdk.common.export.GrpcSenderProvider;
import io.opentelemetry.sdk.common.export.HttpSenderProvider;
import io.opentelemetry.sdk.common.export.MemoryMode;
import io.opentelemetry.sdk.common.export.RetryPolicy;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Builds the {@link SpanExporter} described by {@link ExportSettings}.
 *
 * <p>OTLP exporters marshal in the SDK's {@link MemoryMode#REUSABLE_DATA} mode (pooled marshalers,
 * little allocation per span). Both OTLP transports send on sockets with TCP_NODELAY: OTLP/HTTP
 * through the JDK's HttpClient, which sets it (OkHttp, the SDK's other HTTP sender, also on the
 * class path for gRPC, does not, and without it every export request waits about 40 ms for the
 * collector's delayed ACK before its last segment leaves (Nagle): measured, 44 ms per 512-span
 * export with OkHttp against 4-8 ms); OTLP/gRPC through the SDK's OkHttp sender with a socket
 * factory that sets it ({@link NoDelayGrpcSenderProvider}).
 */
public final class ExporterFactory {
  /** The gRPC sender of every OTLP/gRPC exporter: its sockets are counted for tests. */
  static final NoDelayGrpcSenderProvider GRPC_SENDER = new NoDelayGrpcSenderProvider();

  /** Picks the JDK sender for OTLP/HTTP and {@link #GRPC_SENDER} for OTLP/gRPC. */
  private static final ComponentLoader SENDERS = senders(new JdkHttpSenderProvider(), GRPC_SENDER);

  /**
   * OTLP/gRPC exports in a row that time out before the exporter is rebuilt on new connections
   * ({@link ReconnectingSpanExporter}).
   */
  static final int GRPC_TIMEOUTS_BEFORE_RECONNECT = 3;

  private ExporterFactory() {}

  /**
   * One exporter for all outputs in the settings (a composite when there are several). OTLP
   * exporters retry retryable failures with exponential backoff ({@link RetryPolicy#getDefault()});
   * an OTLP/gRPC one is rebuilt on new connections after {@value #GRPC_TIMEOUTS_BEFORE_RECONNECT}
   * exports in a row timed out ({@link ReconnectingSpanExporter}), counted in {@code metrics}.
   *
   * @throws UncheckedIOException when the jsonl file cannot be opened
   */
  public static SpanExporter create(ExportSettings settings, AgentMetrics metrics) {
    List<SpanExporter> exporters = new ArrayList<>();
    try {
      for (ExportSettings.Output output : settings.outputs()) {
        switch (output) {
          case CONSOLE:
            exporters.add(new ConsoleSpanExporter(settings.console()));
            break;
          case OTLP:
            exporters.add(
                settings.otlpProtocol() == ExportSettings.Protocol.GRPC
                    ? new ReconnectingSpanExporter(
                        () -> otlp(settings), GRPC_TIMEOUTS_BEFORE_RECONNECT, metrics)
                    : otlp(settings));
            break;
          case JSONL:
            exporters.add(JsonLinesSpanExporter.open(settings.jsonlFile()));
            break;
          default:
            throw new IllegalArgumentException("unknown output " + output);
        }
      }
    } catch (IOException e) {
      exporters.forEach(SpanExporter::shutdown);
      throw new UncheckedIOException("cannot open span output: " + e.getMessage(), e);
    }
    return exporters.size() == 1 ? exporters.get(0) : SpanExporter.composite(exporters);
  }

  /** The OTLP exporter alone. */
  public static SpanExporter otlp(ExportSettings settings) {
    return otlp(settings, SENDERS);
  }

  /**
   * What the agent's start-up warm-up exports to, and how many bytes of export requests it has
   * marshaled so far.
   */
  public record WarmupExport(SpanExporter exporter, LongSupplier bytesMarshaled) {}

  /**
   * An exporter for the agent's start-up warm-up, which must reach no collector and no output:
   * when the settings export OTLP, the same exporter as {@link #create} builds (same classes, same
   * marshaling, compression included) on senders that discard every request and answer success;
   * otherwise (console, jsonl) one that accepts spans and drops them.
   */
  public static WarmupExport forWarmup(ExportSettings settings, AgentMetrics metrics) {
    if (!settings.outputs().contains(ExportSettings.Output.OTLP)) {
      return new WarmupExport(SpanExporter.noop(), () -> 0);
    }
    DiscardingSenders discarding = new DiscardingSenders();
    ComponentLoader senders = senders(discarding, discarding);
    SpanExporter exporter =
        settings.otlpProtocol() == ExportSettings.Protocol.GRPC
            ? new ReconnectingSpanExporter(
                () -> otlp(settings, senders), GRPC_TIMEOUTS_BEFORE_RECONNECT, metrics)
            : otlp(settings, senders);
    return new WarmupExport(exporter, discarding::bytesDiscarded);
  }

  private static SpanExporter otlp(ExportSettings settings, ComponentLoader senders) {
    String endpoint = settings.resolvedOtlpEndpoint();
    String compression = settings.otlpCompression().value();
    if (settings.otlpProtocol() == ExportSettings.Protocol.GRPC) {
      OtlpGrpcSpanExporterBuilder b =
          OtlpGrpcSpanExporter.builder()
              .setEndpoint(endpoint)
              .setTimeout(settings.otlpTimeout())
              .setCompression(compression)
              .setRetryPolicy(RetryPolicy.getDefault())
              .setMemoryMode(MemoryMode.REUSABLE_DATA)
              .setComponentLoader(senders);
      for (Map.Entry<String, String> h : settings.otlpHeaders().entrySet()) {
        b.addHeader(h.getKey(), h.getValue());
      }
      return b.build();
    }
    OtlpHttpSpanExporterBuilder b =
        OtlpHttpSpanExporter.builder()
            .setEndpoint(endpoint)
            .setTimeout(settings.otlpTimeout())
            .setCompression(compression)
            .setRetryPolicy(RetryPolicy.getDefault())
            .setMemoryMode(MemoryMode.REUSABLE_DATA)
            .setComponentLoader(senders);
    for (Map.Entry<String, String> h : settings.otlpHeaders().entrySet()) {
      b.addHeader(h.getKey(), h.getValue());
    }
    return b.build();
  }

  /** Loads {@code http} and {@code grpc} as the OTLP senders, anything else from the class path. */
  private static ComponentLoader senders(HttpSenderProvider http, GrpcSenderProvider grpc) {
    ComponentLoader classPath = ComponentLoader.forClassLoader(ExporterFactory.class.getClassLoader());
    return new ComponentLoader() {
      @Override
      public <T> Iterable<T> load(Class<T> spi) {
        if (spi == HttpSenderProvider.class) {
          return List.of(spi.cast(http));
        }
        if (spi == GrpcSenderProvider.class) {
          return List.of(spi.cast(grpc));
        }
        return classPath.load(spi);
      }
    };
  }
}
