package dev.wirespan.span;

import dev.wirespan.http.ConnectionInfo;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.semconv.ServiceAttributes;
import io.opentelemetry.semconv.incubating.ContainerIncubatingAttributes;
import io.opentelemetry.semconv.incubating.HostIncubatingAttributes;
import io.opentelemetry.semconv.incubating.ProcessIncubatingAttributes;
import io.opentelemetry.semconv.incubating.TelemetryIncubatingAttributes;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;
import javax.annotation.Nullable;

/**
 * The resource of a traced process, read from {@code /proc/<pid>}, one cached {@link Resource}
 * instance per process.
 *
 * <p>Attributes: {@code service.name} (the process's {@code OTEL_SERVICE_NAME}, else its {@code
 * OTEL_RESOURCE_ATTRIBUTES} {@code service.name}, else the executable name, else {@value
 * #UNKNOWN_SERVICE}), {@code process.pid}, {@code process.executable.name} ({@code exe} link's
 * file name, else {@code comm}), {@code process.command_line} ({@code cmdline}, arguments joined
 * by spaces, secret option values redacted, capped at {@value #MAX_COMMAND_LINE_CHARS}),
 * {@code host.name}, {@code container.id} (a 64-hex id in {@code /proc/<pid>/cgroup}: docker,
 * containerd, CRI-O, podman), {@code telemetry.distro.name}={@value #DISTRO_NAME}, and the
 * process's own {@code OTEL_RESOURCE_ATTRIBUTES} (at most {@value #MAX_PROCESS_RESOURCE_ATTRIBUTES}
 * pairs; they cannot override the attributes read from /proc).
 *
 * <p>A process that cannot be read (gone, no permission) gets a resource with what is known,
 * never an exception. A short-lived client (a {@code curl} run) is often gone by the time its
 * exchanges are decoded: then the process name the kernel recorded with the connection's first
 * event ({@link ConnectionInfo#processName()}, the comm) gives {@code service.name} and {@code
 * process.executable.name} instead of {@value #UNKNOWN_SERVICE}. Cached per pid (LRU bounded by {@code maxProcesses}); an entry older than
 * {@code revalidateAfter} is checked against the process's start time (field 22 of {@code
 * /proc/<pid>/stat}) and rebuilt when the pid was reused. Thread-safe.
 */
public final class ProcessResourceResolver implements ResourceResolver {
  public static final String UNKNOWN_SERVICE = "unknown_service";
  public static final String DISTRO_NAME = "wirespan";
  public static final int DEFAULT_MAX_PROCESSES = 4096;
  public static final Duration DEFAULT_REVALIDATE_AFTER = Duration.ofSeconds(10);
  public static final int MAX_COMMAND_LINE_CHARS = 1024;
  public static final int MAX_VALUE_CHARS = 256;
  public static final int MAX_PROCESS_RESOURCE_ATTRIBUTES = 32;
  /** Environment blocks larger than this are read in part. */
  static final int MAX_ENVIRON_BYTES = 256 * 1024;
  static final int MAX_CMDLINE_BYTES = 16 * 1024;
  static final int MAX_CGROUP_BYTES = 64 * 1024;
  private static final int CONTAINER_ID_HEX_CHARS = 64;
  /** Index of starttime among the fields after the comm's closing parenthesis. */
  private static final int STAT_START_TIME_INDEX = 19;
  private static final String DELETED_SUFFIX = " (deleted)";

  private final Path procRoot;
  private final String hostName;
  private final int maxProcesses;
  private final long revalidateAfterNanos;
  private final LongSupplier nanoTime;
  private final LinkedHashMap<Integer, Entry> cache;

  /** The host's /proc, caching {@value #DEFAULT_MAX_PROCESSES} processes. */
  public ProcessResourceResolver(String hostName) {
    this(Paths.get("/proc"), hostName, DEFAULT_MAX_PROCESSES, DEFAULT_REVALIDATE_AFTER,
        System::nanoTime);
  }

  /**
   * @param procRoot the proc file system (the host's, e.g. {@code /host/proc} in a container)
   * @param hostName value of {@code host.name}
   * @param maxProcesses resources cached at most
   * @param revalidateAfter how long a cached resource is used before the pid is checked for reuse
   * @param nanoTime monotonic time source for revalidation
   */
  public ProcessResourceResolver(
      Path procRoot, String hostName, int maxProcesses, Duration revalidateAfter,
      LongSupplier nanoTime) {
    this.procRoot = Objects.requireNonNull(procRoot, "procRoot");
    this.hostName = Objects.requireNonNull(hostName, "hostName");
    if (maxProcesses <= 0) {
      throw new IllegalArgumentException("maxProcesses must be positive: " + maxProcesses);
    }
    this.maxProcesses = maxProcesses;
    this.revalidateAfterNanos = Objects.requireNonNull(revalidateAfter, "revalidateAfter").toNanos();
    this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
    this.cache =
        new LinkedHashMap<>(16, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<Integer, Entry> eldest) {
            return size() > ProcessResourceResolver.this.maxProcesses;
          }
        };
  }

  @Override
  public Resource resolve(ConnectionInfo connection) {
    return resolve(connection.pid(), connection.processName());
  }

  /** The resource of process {@code pid}, knowing no name for it should /proc not tell. */
  public Resource resolve(int pid) {
    return resolve(pid, "");
  }

  /**
   * The resource of process {@code pid}.
   *
   * @param processName the name the kernel recorded for it (its comm), used when {@code
   *     /proc/<pid>} cannot be read; empty when unknown
   */
  public synchronized Resource resolve(int pid, String processName) {
    Objects.requireNonNull(processName, "processName");
    long now = nanoTime.getAsLong();
    Entry entry = cache.get(pid);
    if (entry != null && entry.fallbackName != null && !entry.fallbackName.equals(processName)) {
      // Built without /proc for another process that had this pid: this one is not that one.
      entry = null;
    }
    if (entry != null) {
      if (now - entry.checkedAtNanos < revalidateAfterNanos) {
        return entry.resource;
      }
      long startTime = startTime(pid);
      if (startTime == entry.startTime || startTime < 0) {
        // Same process, or gone (its last exchanges still deserve its resource).
        entry.checkedAtNanos = now;
        return entry.resource;
      }
    }
    long startTime = startTime(pid);
    Entry fresh =
        startTime < 0
            ? new Entry(fallback(pid, processName), startTime, now, processName)
            : new Entry(read(pid), startTime, now, null);
    cache.put(pid, fresh);
    return fresh.resource;
  }

  /** A process whose /proc entry cannot be read (gone): what the kernel told about it. */
  private Resource fallback(int pid, String processName) {
    String name = nonEmpty(Redaction.cap(processName.strip(), MAX_VALUE_CHARS));
    AttributesBuilder attributes = Attributes.builder();
    attributes.put(ServiceAttributes.SERVICE_NAME, name != null ? name : UNKNOWN_SERVICE);
    attributes.put(ProcessIncubatingAttributes.PROCESS_PID, (long) pid);
    if (name != null) {
      attributes.put(ProcessIncubatingAttributes.PROCESS_EXECUTABLE_NAME, name);
    }
    attributes.put(HostIncubatingAttributes.HOST_NAME, hostName);
    attributes.put(TelemetryIncubatingAttributes.TELEMETRY_DISTRO_NAME, DISTRO_NAME);
    return Resource.create(attributes.build());
  }

  /** Number of cached resources. */
  public synchronized int cachedProcesses() {
    return cache.size();
  }

  private Resource read(int pid) {
    Path dir = procRoot.resolve(Integer.toString(pid));
    String executable = executableName(dir);
    Map<String, String> environment = otelEnvironment(dir);

    AttributesBuilder attributes = Attributes.builder();
    String resourceAttributes = environment.get("OTEL_RESOURCE_ATTRIBUTES");
    String serviceNameFromAttributes = null;
    if (resourceAttributes != null) {
      Map<String, String> parsed = parseResourceAttributes(resourceAttributes);
      for (Map.Entry<String, String> e : parsed.entrySet()) {
        attributes.put(AttributeKey.stringKey(e.getKey()), e.getValue());
      }
      serviceNameFromAttributes = parsed.get(ServiceAttributes.SERVICE_NAME.getKey());
    }

    String serviceName = nonEmpty(environment.get("OTEL_SERVICE_NAME"));
    if (serviceName == null) {
      serviceName = nonEmpty(serviceNameFromAttributes);
    }
    if (serviceName == null) {
      serviceName = executable != null ? executable : UNKNOWN_SERVICE;
    }
    attributes.put(ServiceAttributes.SERVICE_NAME, Redaction.cap(serviceName, MAX_VALUE_CHARS));
    attributes.put(ProcessIncubatingAttributes.PROCESS_PID, (long) pid);
    if (executable != null) {
      attributes.put(ProcessIncubatingAttributes.PROCESS_EXECUTABLE_NAME, executable);
    }
    String commandLine = commandLine(dir);
    if (commandLine != null) {
      attributes.put(ProcessIncubatingAttributes.PROCESS_COMMAND_LINE, commandLine);
    }
    attributes.put(HostIncubatingAttributes.HOST_NAME, hostName);
    String cgroup = readText(dir.resolve("cgroup"), MAX_CGROUP_BYTES);
    String containerId = cgroup == null ? null : containerId(cgroup);
    if (containerId != null) {
      attributes.put(ContainerIncubatingAttributes.CONTAINER_ID, containerId);
    }
    attributes.put(TelemetryIncubatingAttributes.TELEMETRY_DISTRO_NAME, DISTRO_NAME);
    return Resource.create(attributes.build());
  }

  @Nullable
  private String executableName(Path dir) {
    try {
      String target = Files.readSymbolicLink(dir.resolve("exe")).toString();
      if (target.endsWith(DELETED_SUFFIX)) {
        target = target.substring(0, target.length() - DELETED_SUFFIX.length());
      }
      int slash = target.lastIndexOf('/');
      String name = target.substring(slash + 1);
      if (!name.isEmpty()) {
        return Redaction.cap(name, MAX_VALUE_CHARS);
      }
    } catch (IOException | RuntimeException e) {
      // Kernel threads and other users' processes without CAP_SYS_PTRACE: fall back to comm.
    }
    String comm = readText(dir.resolve("comm"), MAX_VALUE_CHARS);
    return comm == null ? null : nonEmpty(comm.strip());
  }

  /** The OTEL_* variables of the process's initial environment. */
  private static Map<String, String> otelEnvironment(Path dir) {
    Map<String, String> env = new LinkedHashMap<>();
    byte[] bytes = readBytes(dir.resolve("environ"), MAX_ENVIRON_BYTES);
    if (bytes == null) {
      return env;
    }
    int start = 0;
    for (int i = 0; i <= bytes.length; i++) {
      if (i == bytes.length || bytes[i] == 0) {
        if (i - start > 5 && bytes[start] == 'O' && bytes[start + 1] == 'T'
            && bytes[start + 2] == 'E' && bytes[start + 3] == 'L' && bytes[start + 4] == '_') {
          String variable = new String(bytes, start, i - start, StandardCharsets.UTF_8);
          int eq = variable.indexOf('=');
          if (eq > 0) {
            env.put(variable.substring(0, eq), variable.substring(eq + 1));
          }
        }
        start = i + 1;
      }
    }
    return env;
  }

  @Nullable
  private static String commandLine(Path dir) {
    byte[] bytes = readBytes(dir.resolve("cmdline"), MAX_CMDLINE_BYTES);
    if (bytes == null || bytes.length == 0) {
      return null;
    }
    int length = bytes.length;
    while (length > 0 && bytes[length - 1] == 0) {
      length--;
    }
    for (int i = 0; i < length; i++) {
      if (bytes[i] == 0) {
        bytes[i] = ' ';
      }
    }
    String line = new String(bytes, 0, length, StandardCharsets.UTF_8);
    return Redaction.cap(Redaction.redactCommandLine(line), MAX_COMMAND_LINE_CHARS);
  }

  /** The start time of the process in clock ticks since boot, or -1 when unreadable. */
  private long startTime(int pid) {
    String stat = readText(procRoot.resolve(Integer.toString(pid)).resolve("stat"), 4096);
    if (stat == null) {
      return -1;
    }
    int close = stat.lastIndexOf(')');
    if (close < 0) {
      return -1;
    }
    String[] fields = stat.substring(close + 1).trim().split(" ");
    if (fields.length <= STAT_START_TIME_INDEX) {
      return -1;
    }
    try {
      return Long.parseLong(fields[STAT_START_TIME_INDEX]);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /**
   * The container id in a /proc/<pid>/cgroup text: the last run of exactly 64 hex digits in the
   * last line that has one ({@code /docker/<id>}, {@code docker-<id>.scope}, {@code
   * cri-containerd-<id>.scope}, {@code crio-<id>.scope}, {@code libpod-<id>.scope}, kubepods
   * paths); null when there is none.
   */
  @Nullable
  static String containerId(String cgroup) {
    String found = null;
    for (String line : cgroup.split("\n")) {
      int run = 0;
      String lineId = null;
      for (int i = 0; i <= line.length(); i++) {
        boolean hex = i < line.length() && isLowerHex(line.charAt(i));
        if (hex) {
          run++;
        } else {
          if (run == CONTAINER_ID_HEX_CHARS) {
            lineId = line.substring(i - run, i);
          }
          run = 0;
        }
      }
      if (lineId != null) {
        found = lineId;
      }
    }
    return found;
  }

  /** OTEL_RESOURCE_ATTRIBUTES syntax: comma-separated key=value, values percent-encoded. */
  static Map<String, String> parseResourceAttributes(String value) {
    Map<String, String> attributes = new LinkedHashMap<>();
    for (String pair : value.split(",")) {
      if (attributes.size() == MAX_PROCESS_RESOURCE_ATTRIBUTES) {
        break;
      }
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        continue;
      }
      String key = pair.substring(0, eq).trim();
      String raw = pair.substring(eq + 1).trim();
      if (key.isEmpty()) {
        continue;
      }
      String decoded;
      try {
        decoded = URLDecoder.decode(raw.replace("+", "%2B"), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        decoded = raw;
      }
      attributes.put(Redaction.cap(key, MAX_VALUE_CHARS), Redaction.cap(decoded, MAX_VALUE_CHARS));
    }
    return attributes;
  }

  private static boolean isLowerHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }

  @Nullable
  private static String nonEmpty(@Nullable String s) {
    return s == null || s.isEmpty() ? null : s;
  }

  @Nullable
  private static String readText(Path file, int maxBytes) {
    byte[] bytes = readBytes(file, maxBytes);
    return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
  }

  /** Up to maxBytes of a file, or null when it cannot be read (/proc files report size 0). */
  @Nullable
  private static byte[] readBytes(Path file, int maxBytes) {
    try (InputStream in = Files.newInputStream(file)) {
      return in.readNBytes(maxBytes);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private static final class Entry {
    final Resource resource;
    final long startTime;
    long checkedAtNanos;
    /** The process name the resource was built from when /proc could not be read, else null. */
    @Nullable final String fallbackName;

    Entry(Resource resource, long startTime, long checkedAtNanos, @Nullable String fallbackName) {
      this.resource = resource;
      this.startTime = startTime;
      this.checkedAtNanos = checkedAtNanos;
      this.fallbackName = fallbackName;
    }
  }
}
