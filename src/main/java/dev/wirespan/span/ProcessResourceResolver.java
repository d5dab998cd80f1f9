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
import dev.wirespan.process.CgroupParser;
import dev.wirespan.process.ProcessFiles;
import dev.wirespan.process.ResourceAttributesVariable;
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
 * {@code host.name}, {@code container.id} (from {@code /proc/<pid>/cgroup}, read by {@link
 * CgroupParser}: containerd, CRI-O, Docker, podman), {@code telemetry.distro.name}={@value #DISTRO_NAME}, and the
 * process's own {@code OTEL_RESOURCE_ATTRIBUTES} (bounded by {@link ResourceAttributesVariable};
 * they cannot override the attributes read from /proc).
 *
 * <p>A process that cannot be read (gone, no permission) gets a resource with what is known,
 * never an exception. A short-lived client (a {@code curl} run) is often gone by the time its
 * exchanges are decoded: then the process name the kernel recorded with the connection's first
 * event ({@link ConnectionInfo#processName()}, the comm) gives {@code service.name} and {@code
 * process.executable.name} instead of {@value #UNKNOWN_SERVICE}. Cached per pid, at most {@code maxProcesses} (the entry used and revalidated longest ago is dropped first); an entry older than
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

  private final ProcessFiles files;
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
    this.files = new ProcessFiles(Objects.requireNonNull(procRoot, "procRoot"));
    this.hostName = Objects.requireNonNull(hostName, "hostName");
    if (maxProcesses <= 0) {
      throw new IllegalArgumentException("maxProcesses must be positive: " + maxProcesses);
    }
    this.maxProcesses = maxProcesses;
    this.revalidateAfterNanos = Objects.requireNonNull(revalidateAfter, "revalidateAfter").toNanos();
    this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
    this.cache =
        // Insertion order, refreshed when an entry is revalidated: close to least recently used
        // without relinking the entry on every lookup (two per exchange).
        new LinkedHashMap<>(16, 0.75f, false) {
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
      long startTime = files.startTime(pid);
      if (startTime == entry.startTime || startTime < 0) {
        // Same process, or gone (its last exchanges still deserve its resource).
        entry.checkedAtNanos = now;
        cache.remove(pid);
        cache.put(pid, entry);
        return entry.resource;
      }
    }
    long startTime = files.startTime(pid);
    Entry fresh =
        startTime < 0
            ? new Entry(fallback(pid, processName), startTime, now, processName)
            : new Entry(read(pid), startTime, now, null);
    cache.remove(pid); // a rebuilt entry goes to the end, as a new one would
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
    String executable = files.executableName(pid);
    if (executable != null) {
      executable = Redaction.cap(executable, MAX_VALUE_CHARS);
    }
    Map<String, String> environment = files.environment(pid, name -> name.startsWith("OTEL_"));

    AttributesBuilder attributes = Attributes.builder();
    Map<String, String> fromVariable =
        ResourceAttributesVariable.parse(environment.get(ResourceAttributesVariable.NAME));
    fromVariable.forEach((key, value) -> attributes.put(AttributeKey.stringKey(key), value));

    String serviceName = nonEmpty(environment.get("OTEL_SERVICE_NAME"));
    if (serviceName == null) {
      serviceName = nonEmpty(fromVariable.get(ServiceAttributes.SERVICE_NAME.getKey()));
    }
    if (serviceName == null) {
      serviceName = executable != null ? executable : UNKNOWN_SERVICE;
    }
    attributes.put(ServiceAttributes.SERVICE_NAME, Redaction.cap(serviceName, MAX_VALUE_CHARS));
    attributes.put(ProcessIncubatingAttributes.PROCESS_PID, (long) pid);
    if (executable != null) {
      attributes.put(ProcessIncubatingAttributes.PROCESS_EXECUTABLE_NAME, executable);
    }
    String commandLine = files.commandLine(pid);
    if (commandLine != null) {
      attributes.put(
          ProcessIncubatingAttributes.PROCESS_COMMAND_LINE,
          Redaction.cap(Redaction.redactCommandLine(commandLine), MAX_COMMAND_LINE_CHARS));
    }
    attributes.put(HostIncubatingAttributes.HOST_NAME, hostName);
    String cgroup = files.cgroup(pid);
    String containerId = cgroup == null ? null : CgroupParser.parseFile(cgroup).containerId();
    if (containerId != null) {
      attributes.put(ContainerIncubatingAttributes.CONTAINER_ID, containerId);
    }
    attributes.put(TelemetryIncubatingAttributes.TELEMETRY_DISTRO_NAME, DISTRO_NAME);
    return Resource.create(attributes.build());
  }

  @Nullable
  private static String nonEmpty(@Nullable String s) {
    return s == null || s.isEmpty() ? null : s;
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
