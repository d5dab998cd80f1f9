package dev.wirespan.agent;

import java.util.List;

/**
 * Every setting of the agent: one table behind the command-line flags, the environment variables
 * and the YAML configuration file (whose keys are the flag names without dashes). Precedence:
 * flag, then environment (first variable listed wins), then file, then default.
 */
public enum Setting {
  CONFIG("config", List.of("WIRESPAN_CONFIG"), "", "YAML file holding any of these settings."),
  EXPORTER(
      "exporter",
      List.of("WIRESPAN_EXPORTER"),
      "console",
      "Where spans go: a comma list of console, otlp, jsonl."),
  OTLP_ENDPOINT(
      "otlp-endpoint",
      List.of("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
      "",
      "OTLP endpoint (default http://localhost:4317 for grpc, http://localhost:4318 for"
          + " http/protobuf)."),
  OTLP_PROTOCOL(
      "otlp-protocol",
      List.of("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
      "grpc",
      "OTLP protocol: grpc or http/protobuf."),
  OTLP_HEADERS(
      "otlp-headers",
      List.of("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
      "",
      "Headers sent with every export: key=value,key2=value2."),
  OTLP_TIMEOUT(
      "otlp-timeout",
      List.of("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
      "10s",
      "Timeout of one export (a plain number is milliseconds)."),
  OTLP_COMPRESSION(
      "otlp-compression",
      List.of("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
      "none",
      "Export compression: gzip or none."),
  JSONL_FILE(
      "jsonl-file",
      List.of("WIRESPAN_JSONL_FILE"),
      "wirespan-spans.jsonl",
      "File the jsonl exporter appends OTLP JSON lines to."),
  CAPTURE_BYTES(
      "capture-bytes",
      List.of("WIRESPAN_CAPTURE_BYTES"),
      "4KiB",
      "Payload bytes copied per syscall, at most 16KiB. Framing follows the real length."),
  RING_BUFFER_SIZE(
      "ring-buffer-size",
      List.of("WIRESPAN_RING_BUFFER_SIZE"),
      "8MiB",
      "Kernel ring buffer size, a power of two."),
  KERNEL_PROGRAMS(
      "kernel-programs",
      List.of("WIRESPAN_KERNEL_PROGRAMS"),
      "auto",
      "Build of the BPF programs: auto (kfunc where the kernel has it), kfunc (6.2+) or portable (5.12+)."),
  RESPONSE_TIMEOUT(
      "response-timeout",
      List.of("WIRESPAN_RESPONSE_TIMEOUT"),
      "30s",
      "A request without a response ends as a span, marked timed out, after this."),
  IDLE_CONNECTION_TIMEOUT(
      "idle-connection-timeout",
      List.of("WIRESPAN_IDLE_CONNECTION_TIMEOUT"),
      "120s",
      "Connections without traffic for this long are forgotten."),
  MAX_CONNECTIONS(
      "max-connections",
      List.of("WIRESPAN_MAX_CONNECTIONS"),
      "65536",
      "Connections tracked in user space; the least recently active is evicted beyond."),
  MAX_KERNEL_CONNECTIONS(
      "max-kernel-connections",
      List.of("WIRESPAN_MAX_KERNEL_CONNECTIONS"),
      "65536",
      "TCP sockets the kernel tracks, HTTP or not (about 160 bytes each, reserved at start);"
          + " beyond, the least recently used is forgotten, counted as kernel map_full."),
  MAX_BUFFERED_BYTES_PER_CONNECTION(
      "max-buffered-bytes-per-connection",
      List.of("WIRESPAN_MAX_BUFFERED_BYTES_PER_CONNECTION"),
      "64KiB",
      "Bytes one connection may hold while a message is incomplete; beyond, it is dropped and"
          + " counted."),
  MAX_BUFFERED_BYTES(
      "max-buffered-bytes",
      List.of("WIRESPAN_MAX_BUFFERED_BYTES"),
      "32MiB",
      "Bytes all connections may hold together (decoder state included); beyond, dropped and"
          + " counted."),
  MAX_PENDING_REQUESTS(
      "max-pending-requests",
      List.of("WIRESPAN_MAX_PENDING_REQUESTS"),
      "64",
      "Requests awaiting their response on one connection; the oldest is ended beyond."),
  MAX_HEADER_BYTES(
      "max-header-bytes",
      List.of("WIRESPAN_MAX_HEADER_BYTES"),
      "16KiB",
      "Largest header block decoded; a larger one is a counted decoder error."),
  MAX_REQUEST_LINE_BYTES(
      "max-request-line-bytes",
      List.of("WIRESPAN_MAX_REQUEST_LINE_BYTES"),
      "8KiB",
      "Largest request or status line (method, URL, version) decoded."),
  SPAN_QUEUE_SIZE(
      "span-queue-size",
      List.of("WIRESPAN_SPAN_QUEUE_SIZE"),
      "8192",
      "Spans waiting for export; beyond, spans are dropped and counted."),
  EXPORT_MAX_IN_FLIGHT(
      "export-max-in-flight",
      List.of("WIRESPAN_EXPORT_MAX_IN_FLIGHT"),
      "2",
      "Export calls running at once (1 to 3); more hide the collector's round trips."),
  ADMIN_ADDRESS(
      "admin-address",
      List.of("WIRESPAN_ADMIN_ADDRESS"),
      "127.0.0.1:9464",
      "host:port of /healthz, /readyz and /metrics; 'off' disables it."),
  NODE_NAME(
      "node-name", List.of("NODE_NAME"), "", "Kubernetes node this agent runs on (host name)."),
  CLUSTER_NAME(
      "cluster-name",
      List.of("WIRESPAN_CLUSTER_NAME"),
      "",
      "Value of the k8s.cluster.name resource attribute."),
  KUBERNETES(
      "kubernetes",
      List.of("WIRESPAN_KUBERNETES"),
      "auto",
      "Kubernetes metadata: auto (when a cluster is reachable), enabled or disabled."),
  THREAD_CORRELATION(
      "thread-correlation",
      List.of("WIRESPAN_THREAD_CORRELATION"),
      "true",
      "Make a CLIENT span the child of the SERVER span its thread is handling."),
  WARMUP(
      "warmup",
      List.of("WIRESPAN_WARMUP"),
      "5s",
      "Before attaching, run synthetic HTTP traffic through a private copy of the pipeline until"
          + " the JVM has compiled it (200k events and 100k spans), for at most this long (0 skips"
          + " it, at most 1m)."),
  STATUS_INTERVAL(
      "status-interval",
      List.of("WIRESPAN_STATUS_INTERVAL"),
      "60s",
      "Period of the status log line (0 disables it)."),
  LOG_LEVEL(
      "log-level", List.of("WIRESPAN_LOG_LEVEL"), "info", "error, warn, info or debug.");

  private final String flagName;
  private final List<String> envVars;
  private final String defaultValue;
  private final String description;

  Setting(String flagName, List<String> envVars, String defaultValue, String description) {
    this.flagName = flagName;
    this.envVars = envVars;
    this.defaultValue = defaultValue;
    this.description = description;
  }

  /** Flag name without dashes; also the YAML key. */
  public String key() {
    return flagName;
  }

  public String flag() {
    return "--" + flagName;
  }

  public List<String> envVars() {
    return envVars;
  }

  public String defaultValue() {
    return defaultValue;
  }

  public String description() {
    return description;
  }
}
