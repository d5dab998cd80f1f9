package dev.wirespan.agent;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.logging.Level;
import dev.wirespan.capture.CaptureSettings;
import dev.wirespan.capture.ProgramVariant;
import dev.wirespan.export.ExportSettings;
import dev.wirespan.export.ExportSettings.Compression;
import dev.wirespan.export.ExportSettings.Output;
import dev.wirespan.export.ExportSettings.Protocol;
import dev.wirespan.http.HttpSettings;
import dev.wirespan.k8s.KubernetesMode;
import javax.annotation.Nullable;

/** The agent's validated configuration, built from {@link SettingValues}. */
public final class AgentConfig {
  /** Largest capture cap the kernel side supports (WS_MAX_PAYLOAD). */
  public static final long MAX_CAPTURE_BYTES = 16 * 1024;

  /** Smallest capture cap: enough for a request line and the first headers. */
  public static final long MIN_CAPTURE_BYTES = 64;

  private static Duration warmup(SettingValues v) {
    Duration d = v.duration(Setting.WARMUP);
    if (d.compareTo(MAX_WARMUP) > 0) {
      throw v.invalid(Setting.WARMUP, "a duration of at most " + MAX_WARMUP.toSeconds() + "s, or 0");
    }
    return d;
  }

  private static final long MIN_RING_BUFFER_BYTES = 64 * 1024;
  private static final long MAX_RING_BUFFER_BYTES = 512L << 20;
  private static final int MAX_QUEUE = 1 << 22;
  /** Longest start-up warm-up: a minute of one core is more than the JIT ever needs. */
  private static final Duration MAX_WARMUP = Duration.ofMinutes(1);
  /**
   * Largest kernel connection map: 4Mi entries, about 640 MiB of kernel memory reserved at start
   * (an entry is about 160 bytes): beyond is surely a unit mistake.
   */
  private static final int MAX_KERNEL_CONNECTIONS = 1 << 22;
  /**
   * The SDK's OkHttp sender (gRPC) runs at most 5 calls per host on a pool of 5 threads, and
   * rejects a call when a finishing one still holds its thread: 3 leaves room for that.
   */
  static final int MAX_EXPORTS_IN_FLIGHT = 3;
  /** Smallest of the byte limits: one short request line and a few headers. */
  private static final long MIN_LIMIT_BYTES = 256;

  private final SettingValues values;
  private final CaptureSettings captureSettings;
  private final HttpSettings httpSettings;
  private final ExportSettings exportSettings;
  private final int spanQueueSize;
  private final int exportMaxInFlight;
  @Nullable private final InetSocketAddress adminAddress;
  @Nullable private final String nodeName;
  @Nullable private final String clusterName;
  private final KubernetesMode kubernetes;
  private final boolean threadCorrelation;
  private final Duration warmup;
  private final Duration statusInterval;
  private final Level logLevel;

  private AgentConfig(SettingValues v) {
    this.values = v;
    this.captureSettings = captureSettings(v);
    this.httpSettings = httpSettings(v);
    this.exportSettings = exportSettings(v);
    this.spanQueueSize = v.intValue(Setting.SPAN_QUEUE_SIZE, 1, MAX_QUEUE);
    this.exportMaxInFlight = v.intValue(Setting.EXPORT_MAX_IN_FLIGHT, 1, MAX_EXPORTS_IN_FLIGHT);
    this.adminAddress = address(v);
    this.nodeName = blankToNull(v.string(Setting.NODE_NAME));
    this.clusterName = blankToNull(v.string(Setting.CLUSTER_NAME));
    this.kubernetes = kubernetesMode(v);
    this.threadCorrelation = v.bool(Setting.THREAD_CORRELATION);
    this.warmup = warmup(v);
    this.statusInterval = v.duration(Setting.STATUS_INTERVAL);
    this.logLevel = logLevel(v);
  }

  public static AgentConfig from(SettingValues values) {
    return new AgentConfig(values);
  }

  public SettingValues values() {
    return values;
  }

  /** Settings of the kernel capture stage (the agent's own process is excluded by default). */
  public CaptureSettings captureSettings() {
    return captureSettings;
  }

  /** Settings of the HTTP decoding stage. */
  public HttpSettings httpSettings() {
    return httpSettings;
  }

  /** Settings of the export stage. */
  public ExportSettings exportSettings() {
    return exportSettings;
  }

  public int spanQueueSize() {
    return spanQueueSize;
  }

  /** Export calls running at once at most. */
  public int exportMaxInFlight() {
    return exportMaxInFlight;
  }

  /** Null when the admin endpoint is off. */
  @Nullable
  public InetSocketAddress adminAddress() {
    return adminAddress;
  }

  @Nullable
  public String nodeName() {
    return nodeName;
  }

  @Nullable
  public String clusterName() {
    return clusterName;
  }

  public KubernetesMode kubernetes() {
    return kubernetes;
  }

  public boolean threadCorrelation() {
    return threadCorrelation;
  }

  /** How long the pipeline warms up before the kernel programs are attached; zero: not at all. */
  public Duration warmup() {
    return warmup;
  }

  public Duration statusInterval() {
    return statusInterval;
  }

  public Level logLevel() {
    return logLevel;
  }

  private static CaptureSettings captureSettings(SettingValues v) {
    long ring = v.bytes(Setting.RING_BUFFER_SIZE, MIN_RING_BUFFER_BYTES, MAX_RING_BUFFER_BYTES);
    if (Long.bitCount(ring) != 1) {
      throw v.invalid(Setting.RING_BUFFER_SIZE, "a power of two such as 4MiB or 8MiB");
    }
    ProgramVariant programs;
    try {
      programs = ProgramVariant.parse(v.string(Setting.KERNEL_PROGRAMS));
    } catch (IllegalArgumentException e) {
      throw v.invalid(Setting.KERNEL_PROGRAMS, "auto, kfunc or portable");
    }
    return CaptureSettings.builder()
        .setCaptureBytes((int) v.bytes(Setting.CAPTURE_BYTES, MIN_CAPTURE_BYTES, MAX_CAPTURE_BYTES))
        .setRingBufferBytes(Math.toIntExact(ring))
        .setConnectionMapEntries(
            v.intValue(
                Setting.MAX_KERNEL_CONNECTIONS,
                CaptureSettings.MIN_CONNECTION_MAP_ENTRIES,
                MAX_KERNEL_CONNECTIONS))
        .setProgramVariant(programs)
        .build();
  }

  private static HttpSettings httpSettings(SettingValues v) {
    HttpSettings.Builder b =
        HttpSettings.builder()
            .setResponseTimeout(positive(v, Setting.RESPONSE_TIMEOUT))
            .setIdleConnectionTimeout(positive(v, Setting.IDLE_CONNECTION_TIMEOUT))
            .setMaxConnections(v.intValue(Setting.MAX_CONNECTIONS, 1, MAX_QUEUE))
            .setMaxBufferedBytesPerConnection(
                (int) v.bytes(Setting.MAX_BUFFERED_BYTES_PER_CONNECTION, MIN_LIMIT_BYTES, Integer.MAX_VALUE))
            .setMaxBufferedBytesTotal(v.bytes(Setting.MAX_BUFFERED_BYTES, MIN_LIMIT_BYTES, Long.MAX_VALUE))
            .setMaxPendingRequestsPerConnection(v.intValue(Setting.MAX_PENDING_REQUESTS, 1, MAX_QUEUE))
            .setMaxHeaderBytes((int) v.bytes(Setting.MAX_HEADER_BYTES, MIN_LIMIT_BYTES, Integer.MAX_VALUE))
            .setMaxInitialLineBytes(
                (int) v.bytes(Setting.MAX_REQUEST_LINE_BYTES, MIN_LIMIT_BYTES, Integer.MAX_VALUE));
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      // The limits must fit together (a connection's buffer holds a whole header block).
      throw new ConfigException("inconsistent HTTP limits: " + e.getMessage(), e);
    }
  }

  private static ExportSettings exportSettings(SettingValues v) {
    Protocol protocol;
    try {
      protocol = Protocol.parse(v.string(Setting.OTLP_PROTOCOL));
    } catch (IllegalArgumentException e) {
      throw v.invalid(Setting.OTLP_PROTOCOL, "grpc or http/protobuf");
    }
    Compression compression;
    try {
      compression = Compression.parse(v.string(Setting.OTLP_COMPRESSION));
    } catch (IllegalArgumentException e) {
      throw v.invalid(Setting.OTLP_COMPRESSION, "gzip or none");
    }
    ExportSettings.Builder b =
        ExportSettings.builder()
            .setOutputs(outputs(v))
            .setOtlpProtocol(protocol)
            .setOtlpHeaders(headers(v))
            .setOtlpTimeout(v.duration(Setting.OTLP_TIMEOUT))
            .setOtlpCompression(compression)
            .setJsonlFile(Path.of(v.string(Setting.JSONL_FILE)));
    // A signal-specific endpoint is used as is; the generic one gets /v1/traces for HTTP.
    String endpoint = blankToNull(v.string(Setting.OTLP_ENDPOINT));
    if (endpoint != null) {
      if (v.source(Setting.OTLP_ENDPOINT).endsWith("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        b.setOtlpTracesEndpoint(endpoint);
      } else {
        b.setOtlpEndpoint(endpoint);
      }
    }
    return b.build();
  }

  private static Set<Output> outputs(SettingValues v) {
    Set<Output> out = new LinkedHashSet<>();
    for (String part : v.string(Setting.EXPORTER).split(",")) {
      if (part.isBlank()) {
        continue;
      }
      try {
        out.add(Output.parse(part));
      } catch (IllegalArgumentException e) {
        throw v.invalid(Setting.EXPORTER, "a comma list of console, otlp, jsonl");
      }
    }
    if (out.isEmpty()) {
      throw v.invalid(Setting.EXPORTER, "at least one of console, otlp, jsonl");
    }
    return Collections.unmodifiableSet(out);
  }

  private static Map<String, String> headers(SettingValues v) {
    Map<String, String> headers = new LinkedHashMap<>();
    String raw = v.string(Setting.OTLP_HEADERS);
    if (raw == null || raw.isBlank()) {
      return Map.of();
    }
    for (String pair : raw.split(",")) {
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        throw v.invalid(Setting.OTLP_HEADERS, "key=value pairs separated by commas");
      }
      headers.put(
          java.net.URLDecoder.decode(pair.substring(0, eq).trim(), java.nio.charset.StandardCharsets.UTF_8),
          java.net.URLDecoder.decode(pair.substring(eq + 1).trim(), java.nio.charset.StandardCharsets.UTF_8));
    }
    return Collections.unmodifiableMap(headers);
  }

  private static Duration positive(SettingValues v, Setting s) {
    Duration d = v.duration(s);
    if (d.isZero() || d.isNegative()) {
      throw v.invalid(s, "a duration above zero");
    }
    return d;
  }

  @Nullable
  private static InetSocketAddress address(SettingValues v) {
    String raw = v.string(Setting.ADMIN_ADDRESS).trim();
    if (raw.equalsIgnoreCase("off") || raw.isEmpty()) {
      return null;
    }
    int colon = raw.lastIndexOf(':');
    if (colon <= 0) {
      throw v.invalid(Setting.ADMIN_ADDRESS, "host:port, e.g. 127.0.0.1:9464, or off");
    }
    String host = raw.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(raw.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw v.invalid(Setting.ADMIN_ADDRESS, "host:port, e.g. 127.0.0.1:9464, or off");
    }
    if (port < 0 || port > 65535) {
      throw v.invalid(Setting.ADMIN_ADDRESS, "a port from 0 to 65535");
    }
    return new InetSocketAddress(host, port);
  }

  private static KubernetesMode kubernetesMode(SettingValues v) {
    try {
      return KubernetesMode.parse(v.string(Setting.KUBERNETES));
    } catch (IllegalArgumentException e) {
      throw v.invalid(Setting.KUBERNETES, "auto, enabled or disabled");
    }
  }

  private static Level logLevel(SettingValues v) {
    return switch (v.string(Setting.LOG_LEVEL).trim().toLowerCase(Locale.ROOT)) {
      case "error" -> Level.SEVERE;
      case "warn", "warning" -> Level.WARNING;
      case "info" -> Level.INFO;
      case "debug" -> Level.FINE;
      case "trace" -> Level.FINEST;
      default -> throw v.invalid(Setting.LOG_LEVEL, "error, warn, info or debug");
    };
  }

  /** One line per setting with its value and source, for the start-up log. */
  public List<String> describe() {
    List<String> lines = new ArrayList<>();
    for (Setting s : Setting.values()) {
      String value =
          s == Setting.OTLP_HEADERS && !exportSettings.otlpHeaders().isEmpty() ? "(set)" : values.string(s);
      lines.add(s.key() + "=" + value + " (" + values.source(s) + ")");
    }
    return lines;
  }

  @Nullable
  private static String blankToNull(@Nullable String s) {
    return s == null || s.isBlank() ? null : s.trim();
  }
}
