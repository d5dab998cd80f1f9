package dev.wirespan.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.metrics.AgentMetrics;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.sdk.resources.Resource;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A real server process moved into a cgroup v2 directory named the way containerd's systemd
 * driver names a container's scope, resolved to its pod through the mock API server. Needs root
 * (creating cgroups); skipped otherwise, unless CI=true.
 */
class CgroupEndToEndTest {
  private static final Path HYBRID_UNIFIED = Path.of("/sys/fs/cgroup/unified");
  private static final Path PURE_V2 = Path.of("/sys/fs/cgroup");
  private static final int CONTAINER_ID_BYTES = 32;
  private static final Duration PROCESS_STOP_TIMEOUT = Duration.ofSeconds(10);

  private Path testCgroup;
  private Path scope;
  private Process server;

  @AfterEach
  void cleanUp() throws Exception {
    if (server != null) {
      server.destroy();
      if (!server.waitFor(PROCESS_STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        server.destroyForcibly().waitFor();
      }
    }
    // a cgroup can be removed once it has no processes left
    if (scope != null) {
      await().atMost(PROCESS_STOP_TIMEOUT).untilAsserted(() -> {
        Files.deleteIfExists(scope);
        assertThat(scope).doesNotExist();
      });
    }
    if (testCgroup != null) {
      Files.deleteIfExists(testCgroup);
    }
  }

  @Test
  void processInAContainerCgroupResolvesToItsPod() throws Exception {
    boolean root = "root".equals(System.getProperty("user.name"));
    if (!"true".equals(System.getenv("CI"))) {
      assumeTrue(root, "creating cgroups needs root: skipped (runs when CI=true)");
    }
    Path cgroup2 = Files.exists(PURE_V2.resolve("cgroup.controllers")) ? PURE_V2 : HYBRID_UNIFIED;
    assertThat(cgroup2.resolve("cgroup.procs")).as("cgroup v2 mount").exists();

    byte[] random = new byte[CONTAINER_ID_BYTES];
    ThreadLocalRandom.current().nextBytes(random);
    String containerId = HexFormat.of().formatHex(random);
    testCgroup = Files.createDirectory(cgroup2.resolve("wirespan-test-" + ProcessHandle.current().pid()));
    scope = Files.createDirectory(testCgroup.resolve("cri-containerd-" + containerId + ".scope"));
    long cgroupId = (Long) Files.getAttribute(scope, "unix:ino");

    ProcessBuilder pb =
        new ProcessBuilder("python3", "-m", "http.server", "0", "--bind", "127.0.0.1")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().put("OTEL_SERVICE_NAME", "checkout-from-env");
    server = pb.start();
    int pid = (int) server.pid();
    Files.writeString(scope.resolve("cgroup.procs"), Integer.toString(pid));
    assertThat(Files.readString(Path.of("/proc", Integer.toString(pid), "cgroup")))
        .contains("cri-containerd-" + containerId + ".scope");

    try (MockCluster cluster = MockCluster.start()) {
      cluster.replicaSet("shop", "checkout-6f7d9", "checkout");
      cluster
          .pod("shop", "checkout-6f7d9-q8r2t")
          .node("node-a")
          .ip("127.0.0.2")
          .owner("ReplicaSet", "checkout-6f7d9")
          .container("server", "ghcr.io/shop/checkout:2.0.1", containerId)
          .create();
      AgentMetrics metrics = new AgentMetrics();
      try (KubernetesMetadata metadata = KubernetesMetadata.start(cluster.client(), "node-a", metrics)) {
        assertThat(metadata.awaitSynced(KubernetesMetadataTest.SYNC_TIMEOUT)).isTrue();
        await().untilAsserted(() -> assertThat(metadata.containerById(containerId)).isNotNull());
        Resource host = Resource.create(Attributes.of(AttributeKey.stringKey("host.name"), "node-a"));
        PodResourceResolver resolver =
            new PodResourceResolver(metadata, c -> host, "test-cluster", Path.of("/proc"), metrics);
        InetAddress lo = InetAddress.getLoopbackAddress();

        Resource resource = resolver.resolve(new ConnectionInfo(pid, cgroupId, 1, 3, lo, 8000, lo, 50000, "python3"));

        Attributes a = resource.getAttributes();
        assertThat(a.get(AttributeKey.stringKey("k8s.pod.name"))).isEqualTo("checkout-6f7d9-q8r2t");
        assertThat(a.get(AttributeKey.stringKey("k8s.deployment.name"))).isEqualTo("checkout");
        assertThat(a.get(AttributeKey.stringKey("container.id"))).isEqualTo(containerId);
        assertThat(a.get(AttributeKey.stringKey("k8s.container.name"))).isEqualTo("server");
        assertThat(a.get(AttributeKey.stringKey("service.name"))).isEqualTo("checkout-from-env");
        assertThat(a.get(AttributeKey.stringKey("k8s.cluster.name"))).isEqualTo("test-cluster");
        // cached by the cgroup id
        assertThat(resolver.resolve(new ConnectionInfo(pid, cgroupId, 2, 4, lo, 8000, lo, 50001, "python3")))
            .isSameAs(resource);
      }
    }
  }
}
