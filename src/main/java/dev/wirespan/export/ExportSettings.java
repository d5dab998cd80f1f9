package dev.wirespan.export;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import javax.annotation.Nullable;

/**
 * Where and how spans are exported. Immutable; built with {@link #builder()}.
 *
 * <p>Endpoints follow the OTLP exporter specification: a signal-specific endpoint ({@code
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT}, {@link Builder#setOtlpTracesEndpoint}) is used as is; the
 * generic one ({@code OTEL_EXPORTER_OTLP_ENDPOINT}, {@link Builder#setOtlpEndpoint}) is used as is
 * for gRPC and gets {@code v1/traces} appended for http/protobuf. Defaults: {@value
 * #DEFAULT_GRPC_ENDPOINT} (grpc) and {@value #DEFAULT_HTTP_ENDPOINT} (http/protobuf).
 */
public final class ExportSettings {
  public static final String DEFAULT_GRPC_ENDPOINT = "http://localhost:4317";
  public static final String DEFAULT_HTTP_ENDPOINT = "http://localhost:4318/v1/traces";
  public static final String HTTP_TRACES_PATH = "v1/traces";
  public static final Duration DEFAULT_OTLP_TIMEOUT = Duration.ofSeconds(10);

  /** Span outputs; several may be active at once. */
  public enum Output {
    /** One line per span, for people ({@link ConsoleSpanExporter}). */
    CONSOLE,
    /** OTLP to a collector. */
    OTLP,
    /** OTLP JSON lines to a file ({@link JsonLinesSpanExporter}). */
    JSONL;

    /** {@code console}, {@code otlp} or {@code jsonl}, any case. */
    public static Output parse(String name) {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    }
  }

  /** OTLP transport. */
  public enum Protocol {
    GRPC("grpc"),
    HTTP_PROTOBUF("http/protobuf");

    private final String value;

    Protocol(String value) {
      this.value = value;
    }

    /** The value as written in {@code OTEL_EXPORTER_OTLP_PROTOCOL}. */
    public String value() {
      return value;
    }

    /** {@code grpc} or {@code http/protobuf}. */
    public static Protocol parse(String value) {
      for (Protocol p : values()) {
        if (p.value.equalsIgnoreCase(value.trim())) {
          return p;
        }
      }
      throw new IllegalArgumentException(
          "unsupported OTLP protocol '" + value + "' (grpc or http/protobuf)");
    }
  }

  /** OTLP payload compression. */
  public enum Compression {
    NONE("none"),
    GZIP("gzip");

    private final String value;

    Compression(String value) {
      this.value = value;
    }

    public String value() {
      return value;
    }

    /** {@code gzip} or {@code none}. */
    public static Compression parse(String value) {
      for (Compression c : values()) {
        if (c.value.equalsIgnoreCase(value.trim())) {
          return c;
        }
      }
      throw new IllegalArgumentException("unsupported compression '" + value + "' (gzip or none)");
    }
  }

  private final Set<Output> outputs;
  private final Protocol otlpProtocol;
  @Nullable private final String otlpEndpoint;
  @Nullable private final String otlpTracesEndpoint;
  private final Map<String, String> otlpHeaders;
  private final Duration otlpTimeout;
  private final Compression otlpCompression;
  private final PrintStream console;
  @Nullable private final Path jsonlFile;

  private ExportSettings(Builder b) {
    this.outputs = Collections.unmodifiableSet(EnumSet.copyOf(b.outputs));
    this.otlpProtocol = b.otlpProtocol;
    this.otlpEndpoint = b.otlpEndpoint;
    this.otlpTracesEndpoint = b.otlpTracesEndpoint;
    this.otlpHeaders = Collections.unmodifiableMap(new LinkedHashMap<>(b.otlpHeaders));
    this.otlpTimeout = b.otlpTimeout;
    this.otlpCompression = b.otlpCompression;
    this.console = b.console;
    this.jsonlFile = b.jsonlFile;
  }

  public static Builder builder() {
    return new Builder();
  }

  public Set<Output> outputs() {
    return outputs;
  }

  public Protocol otlpProtocol() {
    return otlpProtocol;
  }

  /** The URL the OTLP exporter sends to, after the specification's endpoint rules. */
  public String resolvedOtlpEndpoint() {
    if (otlpTracesEndpoint != null) {
      return otlpTracesEndpoint;
    }
    if (otlpEndpoint == null) {
      return otlpProtocol == Protocol.GRPC ? DEFAULT_GRPC_ENDPOINT : DEFAULT_HTTP_ENDPOINT;
    }
    if (otlpProtocol == Protocol.GRPC) {
      return otlpEndpoint;
    }
    return otlpEndpoint.endsWith("/")
        ? otlpEndpoint + HTTP_TRACES_PATH
        : otlpEndpoint + "/" + HTTP_TRACES_PATH;
  }

  public Map<String, String> otlpHeaders() {
    return otlpHeaders;
  }

  public Duration otlpTimeout() {
    return otlpTimeout;
  }

  public Compression otlpCompression() {
    return otlpCompression;
  }

  public PrintStream console() {
    return console;
  }

  @Nullable
  public Path jsonlFile() {
    return jsonlFile;
  }

  @Override
  public String toString() {
    // Header values may hold credentials: only their names are shown.
    return "ExportSettings{outputs=" + outputs + ", protocol=" + otlpProtocol.value()
        + ", endpoint=" + resolvedOtlpEndpoint() + ", headers=" + otlpHeaders.keySet()
        + ", timeout=" + otlpTimeout + ", compression=" + otlpCompression.value()
        + ", jsonl=" + jsonlFile + "}";
  }

  /** Builder of {@link ExportSettings}; defaults: OTLP over gRPC to localhost, no compression. */
  public static final class Builder {
    private Set<Output> outputs = EnumSet.of(Output.OTLP);
    private Protocol otlpProtocol = Protocol.GRPC;
    @Nullable private String otlpEndpoint;
    @Nullable private String otlpTracesEndpoint;
    private final Map<String, String> otlpHeaders = new LinkedHashMap<>();
    private Duration otlpTimeout = DEFAULT_OTLP_TIMEOUT;
    private Compression otlpCompression = Compression.NONE;
    private PrintStream console = System.out;
    @Nullable private Path jsonlFile;

    private Builder() {}

    /** The active outputs; at least one. Default {@code otlp}. */
    public Builder setOutputs(Set<Output> outputs) {
      Objects.requireNonNull(outputs, "outputs");
      if (outputs.isEmpty()) {
        throw new IllegalArgumentException("at least one output is needed");
      }
      this.outputs = EnumSet.copyOf(outputs);
      return this;
    }

    public Builder setOtlpProtocol(Protocol protocol) {
      this.otlpProtocol = Objects.requireNonNull(protocol, "protocol");
      return this;
    }

    /** The generic endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): base URL for http/protobuf. */
    public Builder setOtlpEndpoint(@Nullable String endpoint) {
      this.otlpEndpoint = endpoint;
      return this;
    }

    /** The traces endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): used as is. */
    public Builder setOtlpTracesEndpoint(@Nullable String endpoint) {
      this.otlpTracesEndpoint = endpoint;
      return this;
    }

    public Builder putOtlpHeader(String name, String value) {
      otlpHeaders.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
      return this;
    }

    public Builder setOtlpHeaders(Map<String, String> headers) {
      otlpHeaders.clear();
      headers.forEach(this::putOtlpHeader);
      return this;
    }

    /** Time allowed for one export call, its retries and their backoff included. Default 10 s. */
    public Builder setOtlpTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "timeout");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("timeout must be positive: " + timeout);
      }
      this.otlpTimeout = timeout;
      return this;
    }

    public Builder setOtlpCompression(Compression compression) {
      this.otlpCompression = Objects.requireNonNull(compression, "compression");
      return this;
    }

    /** Where the console output goes; default System.out. */
    public Builder setConsole(PrintStream console) {
      this.console = Objects.requireNonNull(console, "console");
      return this;
    }

    /** The file the jsonl output appends to; required when that output is active. */
    public Builder setJsonlFile(@Nullable Path file) {
      this.jsonlFile = file;
      return this;
    }

    public ExportSettings build() {
      if (outputs.contains(Output.JSONL) && jsonlFile == null) {
        throw new IllegalArgumentException("the jsonl output needs a file");
      }
      return new ExportSettings(this);
    }
  }
}
