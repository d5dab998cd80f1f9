package dev.wirespan.span;

import dev.wirespan.process.CgroupParser;
import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.testing.TestExchanges;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.semconv.ServiceAttributes;
import io.opentelemetry.semconv.incubating.ContainerIncubatingAttributes;
import io.opentelemetry.semconv.incubating.HostIncubatingAttributes;
import io.opentelemetry.semconv.incubating.ProcessIncubatingAttributes;
import io.opentelemetry.semconv.incubating.TelemetryIncubatingAttributes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ProcessResourceResolverTest {
  private static final String HOST = "node-1";
  private static final String ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

  private static final String SHELL = "/bin/sh";

  private Process child;

  @AfterEach
  void stopChild() throws InterruptedException {
    if (child != null) {
      child.destroyForcibly();
      child.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** A shell that sleeps, with secret-looking arguments; returns once it has exec'd. */
  private Process startChild(String serviceName, String resourceAttributes)
      throws IOException, InterruptedException {
    ProcessBuilder pb =
        new ProcessBuilder(
            SHELL, "-c", "sleep 60; true", "sh", "--password=hunter2", "--token", "hunter3",
            "--verbose");
    pb.environment().put("OTEL_SERVICE_NAME", serviceName);
    pb.environment().put("OTEL_RESOURCE_ATTRIBUTES", resourceAttributes);
    pb.environment().put("UNRELATED_SECRET", "s3cr3t");
    child = pb.start();
    Path cmdline = Paths.get("/proc", Long.toString(child.pid()), "cmdline");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!new String(Files.readAllBytes(cmdline), StandardCharsets.UTF_8).contains("--verbose")) {
      assertThat(System.nanoTime() - deadline).as("child exec").isNegative();
      Thread.sleep(5);
    }
    return child;
  }

  @Test
  void childProcessResourceComesFromItsProcEntries() throws Exception {
    Process p = startChild("checkout", "deployment.environment=test,service.version=1.2%2C3,service.name=ignored");
    int pid = (int) p.pid();
    ProcessResourceResolver resolver = new ProcessResourceResolver(HOST);

    Resource resource = resolver.resolve(pid);

    assertThat(resource.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo("checkout");
    assertThat(resource.getAttribute(ProcessIncubatingAttributes.PROCESS_PID)).isEqualTo(pid);
    assertThat(resource.getAttribute(ProcessIncubatingAttributes.PROCESS_EXECUTABLE_NAME))
        .isEqualTo(Paths.get(SHELL).toRealPath().getFileName().toString());
    String commandLine = resource.getAttribute(ProcessIncubatingAttributes.PROCESS_COMMAND_LINE);
    assertThat(commandLine)
        .isEqualTo("/bin/sh -c sleep 60; true sh --password=REDACTED --token REDACTED --verbose")
        .doesNotContain("hunter");
    assertThat(resource.getAttribute(HostIncubatingAttributes.HOST_NAME)).isEqualTo(HOST);
    assertThat(resource.getAttribute(TelemetryIncubatingAttributes.TELEMETRY_DISTRO_NAME))
        .isEqualTo("wirespan");
    assertThat(resource.getAttribute(AttributeKey.stringKey("deployment.environment")))
        .isEqualTo("test");
    assertThat(resource.getAttribute(AttributeKey.stringKey("service.version"))).isEqualTo("1.2,3");
    assertThat(resource.getAttributes().asMap().values().toString()).doesNotContain("s3cr3t");

    assertThat(resolver.resolve(pid)).isSameAs(resource);
  }

  @Test
  void currentProcessIsNamedAfterItsExecutable() {
    ProcessResourceResolver resolver = new ProcessResourceResolver(HOST);
    int pid = (int) ProcessHandle.current().pid();
    Resource resource = resolver.resolve(pid);
    String expected = System.getenv("OTEL_SERVICE_NAME") != null
        ? System.getenv("OTEL_SERVICE_NAME") : "java";
    assertThat(resource.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo(expected);
    assertThat(resource.getAttribute(ProcessIncubatingAttributes.PROCESS_EXECUTABLE_NAME))
        .isEqualTo("java");
    assertThat(resource.getAttribute(ProcessIncubatingAttributes.PROCESS_PID)).isEqualTo(pid);
    assertThat(resolver.resolve(pid)).isSameAs(resource);
  }

  @Test
  void exitedProcessKeepsItsCachedResourceAndUnknownPidsFallBack() throws Exception {
    Process p = startChild("billing", "");
    int pid = (int) p.pid();
    AtomicLong now = new AtomicLong();
    ProcessResourceResolver resolver =
        new ProcessResourceResolver(Paths.get("/proc"), HOST, 16, Duration.ofNanos(1), now::get);
    Resource resource = resolver.resolve(pid);
    p.destroyForcibly();
    p.waitFor(10, TimeUnit.SECONDS);
    now.addAndGet(1_000);
    assertThat(resolver.resolve(pid)).isSameAs(resource);

    Resource missing = resolver.resolve(Integer.MAX_VALUE - 1);
    assertThat(missing.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo("unknown_service");
    assertThat(missing.getAttribute(ProcessIncubatingAttributes.PROCESS_PID))
        .isEqualTo(Integer.MAX_VALUE - 1);
  }

  @Test
  void aProcessGoneBeforeItsResourceIsReadIsNamedByItsRecordedProcessName(@TempDir Path proc)
      throws IOException {
    fakeProcess(proc, 7, "nginx", 1000, "0::/\n");
    AtomicLong now = new AtomicLong();
    ProcessResourceResolver resolver =
        new ProcessResourceResolver(proc, HOST, 16, Duration.ofSeconds(10), now::get);

    // No /proc/40 (the curl run exited): the kernel's comm names it.
    Resource gone = resolver.resolve(40, "curl");
    assertThat(gone.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo("curl");
    assertThat(gone.getAttribute(ProcessIncubatingAttributes.PROCESS_EXECUTABLE_NAME))
        .isEqualTo("curl");
    assertThat(gone.getAttribute(ProcessIncubatingAttributes.PROCESS_PID)).isEqualTo(40);
    assertThat(gone.getAttribute(HostIncubatingAttributes.HOST_NAME)).isEqualTo(HOST);
    assertThat(gone.getAttribute(TelemetryIncubatingAttributes.TELEMETRY_DISTRO_NAME))
        .isEqualTo("wirespan");
    assertThat(resolver.resolve(40, "curl")).isSameAs(gone);

    // Another exited process that had the same pid is not given the first one's resource.
    Resource other = resolver.resolve(40, "wget");
    assertThat(other.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo("wget");

    // Nothing better known: unknown_service, no executable name.
    Resource unnamed = resolver.resolve(41, "");
    assertThat(unnamed.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo("unknown_service");
    assertThat(unnamed.getAttribute(ProcessIncubatingAttributes.PROCESS_EXECUTABLE_NAME)).isNull();

    // /proc readable: it wins over the recorded name (a thread may have renamed itself).
    Resource alive = resolver.resolve(7, "worker-3");
    assertThat(alive.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo("nginx");
    assertThat(alive.getAttribute(ProcessIncubatingAttributes.PROCESS_EXECUTABLE_NAME))
        .isEqualTo("nginx");

    // A pid whose process appeared since its fallback was cached is read from /proc.
    fakeProcess(proc, 40, "redis-server", 3000, "0::/\n");
    now.addAndGet(Duration.ofSeconds(11).toNanos());
    assertThat(resolver.resolve(40, "wget").getAttribute(ServiceAttributes.SERVICE_NAME))
        .isEqualTo("redis-server");
  }

  @Test
  void connectionsCarryTheProcessNameToTheResolver(@TempDir Path proc) {
    ProcessResourceResolver resolver =
        new ProcessResourceResolver(proc, HOST, 16, Duration.ofSeconds(10), System::nanoTime);
    ConnectionInfo connection =
        new ConnectionInfo(
            55, 0, 1, 3, TestExchanges.ip("127.0.0.1"), 40000, TestExchanges.ip("127.0.0.1"),
            8080, "python3");
    assertThat(resolver.resolve(connection).getAttribute(ServiceAttributes.SERVICE_NAME))
        .isEqualTo("python3");
  }

  @Test
  void pidReuseIsDetectedByStartTimeAndCacheIsBounded(@TempDir Path proc) throws IOException {
    fakeProcess(proc, 7, "nginx", 1000, "0::/system.slice/docker-" + ID + ".scope\n");
    AtomicLong now = new AtomicLong();
    ProcessResourceResolver resolver =
        new ProcessResourceResolver(proc, HOST, 2, Duration.ofSeconds(10), now::get);

    Resource first = resolver.resolve(7);
    assertThat(first.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo("nginx");
    assertThat(first.getAttribute(ContainerIncubatingAttributes.CONTAINER_ID)).isEqualTo(ID);

    fakeProcess(proc, 7, "redis-server", 2000, "0::/\n");
    assertThat(resolver.resolve(7)).isSameAs(first); // not yet revalidated
    now.addAndGet(Duration.ofSeconds(11).toNanos());
    Resource second = resolver.resolve(7);
    assertThat(second).isNotSameAs(first);
    assertThat(second.getAttribute(ServiceAttributes.SERVICE_NAME)).isEqualTo("redis-server");
    assertThat(second.getAttribute(ContainerIncubatingAttributes.CONTAINER_ID)).isNull();

    fakeProcess(proc, 8, "a", 1, "");
    fakeProcess(proc, 9, "b", 1, "");
    resolver.resolve(8);
    resolver.resolve(9);
    assertThat(resolver.cachedProcesses()).isEqualTo(2);
  }

  @Test
  void aProcessStillInUseKeepsItsPlaceWhenNewOnesFillTheCache(@TempDir Path proc)
      throws IOException {
    AtomicLong now = new AtomicLong();
    ProcessResourceResolver resolver =
        new ProcessResourceResolver(proc, HOST, 2, Duration.ofSeconds(10), now::get);
    fakeProcess(proc, 7, "nginx", 1000, "");
    fakeProcess(proc, 8, "curl", 1, "");
    Resource nginx = resolver.resolve(7);
    resolver.resolve(8);
    now.addAndGet(Duration.ofSeconds(11).toNanos());
    assertThat(resolver.resolve(7)).isSameAs(nginx); // revalidated: now the newest entry
    fakeProcess(proc, 9, "curl", 2, "");
    resolver.resolve(9); // drops 8, not 7
    fakeProcess(proc, 7, "nginx-renamed-in-proc", 1000, "");
    assertThat(resolver.resolve(7)).isSameAs(nginx);
    assertThat(resolver.cachedProcesses()).isEqualTo(2);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "12:memory:/docker/" + ID + "                                                   | " + ID,
        "0::/system.slice/docker-" + ID + ".scope                                       | " + ID,
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice/cri-containerd-" + ID + ".scope | " + ID,
        "0::/kubepods.slice/kubepods-pod1.slice/crio-" + ID + ".scope                   | " + ID,
        "11:cpu:/kubepods/besteffort/pod0c2b/" + ID + "                                 | " + ID,
        "0::/user.slice/user-1000.slice/libpod-" + ID + ".scope/container               | " + ID,
        "0::/user.slice/user-1000.slice/session-3.scope                                 | ",
        "0::/system.slice/docker-" + "0123456789abcdef" + ".scope                       | ",
        "0::/x/" + ID + "ff                                                             | ",
      })
  void containerIdFromCgroup(String cgroup, String id) {
    assertThat(CgroupParser.parseFile(cgroup.strip() + "\n").containerId()).isEqualTo(id);
  }

  private static void fakeProcess(Path proc, int pid, String comm, long startTime, String cgroup)
      throws IOException {
    Path dir = Files.createDirectories(proc.resolve(Integer.toString(pid)));
    Files.writeString(dir.resolve("comm"), comm + "\n");
    // comm in parentheses may itself contain spaces and parentheses.
    StringBuilder stat = new StringBuilder(pid + " (" + comm + " (x)) S");
    for (int field = 4; field <= 21; field++) {
      stat.append(' ').append(field);
    }
    stat.append(' ').append(startTime).append(" 0 0\n");
    Files.writeString(dir.resolve("stat"), stat);
    Files.writeString(dir.resolve("cgroup"), cgroup);
    Files.write(dir.resolve("cmdline"), (comm + "\0-c\0conf\0").getBytes(StandardCharsets.UTF_8));
  }
}
