package dev.wirespan.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.span.ResourceResolver;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.sdk.resources.Resource;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PodResourceResolverTest {
  static final String ID_WEB = "1".repeat(64);
  static final String ID_SIDECAR = "2".repeat(64);

  @TempDir Path proc;
  private MockCluster cluster;
  private KubernetesMetadata metadata;
  private final AgentMetrics metrics = new AgentMetrics();
  private final Map<Integer, Resource> processResources = new ConcurrentHashMap<>();
  private final ResourceResolver hostFallback =
      c ->
          processResources.computeIfAbsent(
              c.pid(),
              pid ->
                  Resource.create(
                      Attributes.of(
                          AttributeKey.longKey("process.pid"), (long) pid,
                          AttributeKey.stringKey("service.name"), "unknown_service:host")));
  private PodResourceResolver resolver;
  private String podUid = "0b4c2d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e";

  @BeforeEach
  void start() {
    cluster = MockCluster.start();
    cluster.replicaSet("shop", "web-7d9f8", "web");
  }

  @AfterEach
  void stop() {
    if (metadata != null) {
      metadata.close();
    }
    cluster.close();
  }

  private void startResolver() {
    metadata = KubernetesMetadata.start(cluster.client(), "node-a", metrics);
    assertThat(metadata.awaitSynced(KubernetesMetadataTest.SYNC_TIMEOUT)).isTrue();
    resolver = new PodResourceResolver(metadata, hostFallback, "prod-eu", proc, metrics);
  }

  private MockCluster.MockPod webPod() {
    return cluster
        .pod("shop", "web-7d9f8-x2k4q")
        .node("node-a")
        .ip("10.0.0.5")
        .owner("ReplicaSet", "web-7d9f8")
        .label("pod-template-hash", "7d9f8")
        .container("web", "ghcr.io/shop/web:1.4.2", ID_WEB)
        .container("envoy", "envoyproxy/envoy@sha256:" + "e".repeat(64), ID_SIDECAR);
  }

  private void process(int pid, String cgroupPath, String... env) throws IOException {
    Path dir = Files.createDirectories(proc.resolve(Integer.toString(pid)));
    Files.writeString(dir.resolve("cgroup"), "0::" + cgroupPath + "\n");
    Files.write(dir.resolve("environ"), String.join("\0", env).getBytes(StandardCharsets.UTF_8));
  }

  private String containerdPath(String id) {
    return "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        + podUid.replace('-', '_')
        + ".slice/cri-containerd-"
        + id
        + ".scope";
  }

  static ConnectionInfo connection(int pid, long cgroupId) {
    InetAddress local = InetAddress.getLoopbackAddress();
    return new ConnectionInfo(pid, cgroupId, 1, 3, local, 8080, local, 40000, "server");
  }

  @Test
  void containerResourceFollowsTheConventions() throws IOException {
    podUid = webPod().create().getMetadata().getUid();
    startResolver();
    await().untilAsserted(() -> assertThat(metadata.containerById(ID_WEB)).isNotNull());
    process(100, containerdPath(ID_WEB), "PATH=/bin", "HOME=/root");

    Resource resource = resolver.resolve(connection(100, 5001));

    assertThat(resource.getAttributes().asMap())
        .containsEntry(AttributeKey.stringKey("k8s.cluster.name"), "prod-eu")
        .containsEntry(AttributeKey.stringKey("k8s.node.name"), "node-a")
        .containsEntry(AttributeKey.stringKey("k8s.namespace.name"), "shop")
        .containsEntry(AttributeKey.stringKey("k8s.pod.name"), "web-7d9f8-x2k4q")
        .containsEntry(AttributeKey.stringKey("k8s.pod.uid"), podUid)
        .containsEntry(AttributeKey.stringKey("k8s.container.name"), "web")
        .containsEntry(AttributeKey.stringKey("container.id"), ID_WEB)
        .containsEntry(AttributeKey.stringKey("container.image.name"), "ghcr.io/shop/web")
        .containsEntry(AttributeKey.stringArrayKey("container.image.tags"), List.of("1.4.2"))
        .containsEntry(AttributeKey.stringKey("k8s.deployment.name"), "web")
        .containsEntry(AttributeKey.stringKey("k8s.replicaset.name"), "web-7d9f8")
        .containsEntry(AttributeKey.stringKey("service.name"), "web")
        .containsEntry(AttributeKey.stringKey("service.namespace"), "shop")
        .containsEntry(AttributeKey.stringKey("service.version"), "1.4.2")
        .containsEntry(AttributeKey.stringKey("service.instance.id"), "shop.web-7d9f8-x2k4q.web");
    // one instance per container: the same cgroup, another process of it, or a sub-cgroup
    process(101, containerdPath(ID_WEB) + "/worker");
    assertThat(resolver.resolve(connection(100, 5001))).isSameAs(resource);
    assertThat(resolver.resolve(connection(101, 5002))).isSameAs(resource);

    process(102, containerdPath(ID_SIDECAR));
    Resource sidecar = resolver.resolve(connection(102, 5003));
    assertThat(sidecar.getAttributes().get(AttributeKey.stringKey("k8s.container.name"))).isEqualTo("envoy");
    assertThat(sidecar.getAttributes().get(AttributeKey.stringKey("container.image.name"))).isEqualTo("envoyproxy/envoy");
    assertThat(sidecar.getAttributes().get(AttributeKey.stringArrayKey("container.image.tags"))).isNull();
    assertThat(sidecar.getAttributes().get(AttributeKey.stringKey("service.version"))).isNull();
  }

  @Test
  void serviceNameFromTheProcessThenAnnotationThenLabels() throws IOException {
    webPod().create();
    cluster
        .pod("shop", "annotated")
        .node("node-a")
        .annotation("resource.opentelemetry.io/service.name", "checkout")
        .annotation("resource.opentelemetry.io/deployment.environment.name", "prod")
        .label("app.kubernetes.io/name", "checkout-app")
        .label("app.kubernetes.io/version", "7.1")
        .container("main", "checkout:latest", "3".repeat(64))
        .create();
    cluster
        .pod("shop", "labelled")
        .node("node-a")
        .label("app.kubernetes.io/name", "cart")
        .container("main", "cart:latest", "4".repeat(64))
        .create();
    startResolver();
    await().untilAsserted(() -> assertThat(metadata.containerById("4".repeat(64))).isNotNull());
    await().untilAsserted(() -> assertThat(metadata.containerById(ID_WEB)).isNotNull());
    process(200, containerdPath(ID_WEB), "OTEL_SERVICE_NAME=web-frontend", "OTEL_RESOURCE_ATTRIBUTES=service.version=9.9");
    process(201, "/kubepods/burstable/podx/" + "3".repeat(64));
    process(202, "/kubepods/burstable/podx/" + "4".repeat(64));

    Attributes fromEnv = resolver.resolve(connection(200, 6001)).getAttributes();
    Attributes fromAnnotation = resolver.resolve(connection(201, 6002)).getAttributes();
    Attributes fromLabel = resolver.resolve(connection(202, 6003)).getAttributes();

    assertThat(fromEnv.get(AttributeKey.stringKey("service.name"))).isEqualTo("web-frontend");
    assertThat(fromEnv.get(AttributeKey.stringKey("service.version"))).isEqualTo("9.9");
    assertThat(fromAnnotation.get(AttributeKey.stringKey("service.name"))).isEqualTo("checkout");
    assertThat(fromAnnotation.get(AttributeKey.stringKey("service.version"))).isEqualTo("7.1");
    assertThat(fromAnnotation.get(AttributeKey.stringKey("deployment.environment.name"))).isEqualTo("prod");
    assertThat(fromLabel.get(AttributeKey.stringKey("service.name"))).isEqualTo("cart");
    // "latest" says nothing about the version
    assertThat(fromLabel.get(AttributeKey.stringKey("service.version"))).isNull();
    assertThat(fromLabel.get(AttributeKey.stringKey("service.name"))).isNotEqualTo("labelled");
  }

  @Test
  void hostProcessesGetTheFallbackWithTheNode() throws IOException {
    startResolver();
    process(300, "/system.slice/ssh.service");

    Resource first = resolver.resolve(connection(300, 7001));

    assertThat(first.getAttributes().get(AttributeKey.longKey("process.pid"))).isEqualTo(300L);
    assertThat(first.getAttributes().get(AttributeKey.stringKey("k8s.node.name"))).isEqualTo("node-a");
    assertThat(first.getAttributes().get(AttributeKey.stringKey("k8s.cluster.name"))).isEqualTo("prod-eu");
    assertThat(first.getAttributes().get(AttributeKey.stringKey("k8s.pod.name"))).isNull();
    assertThat(resolver.resolve(connection(300, 7001))).isSameAs(first);
    // a process that vanished before its cgroup was read
    assertThat(resolver.resolve(connection(999, 7002)).getAttributes().get(AttributeKey.longKey("process.pid")))
        .isEqualTo(999L);
  }

  @Test
  void hostNetworkPodsAreAttributedByCgroup() throws IOException {
    cluster
        .pod("kube-system", "node-exporter")
        .node("node-a")
        .ip("192.168.1.10")
        .hostNetwork()
        .owner("DaemonSet", "node-exporter")
        .container("exporter", "prom/node-exporter:v1.8.0", "5".repeat(64))
        .create();
    startResolver();
    await().untilAsserted(() -> assertThat(metadata.containerById("5".repeat(64))).isNotNull());
    process(400, "/kubepods.slice/kubepods-besteffort.slice/crio-" + "5".repeat(64) + ".scope");

    Attributes attributes = resolver.resolve(connection(400, 8001)).getAttributes();

    assertThat(attributes.get(AttributeKey.stringKey("k8s.pod.name"))).isEqualTo("node-exporter");
    assertThat(attributes.get(AttributeKey.stringKey("k8s.daemonset.name"))).isEqualTo("node-exporter");
    assertThat(attributes.get(AttributeKey.stringKey("service.name"))).isEqualTo("node-exporter");
  }

  @Test
  void deletedPodsAreForgottenAndTheirSuccessorsResolved() throws IOException {
    webPod().create();
    startResolver();
    await().untilAsserted(() -> assertThat(metadata.containerById(ID_WEB)).isNotNull());
    process(500, containerdPath(ID_WEB));
    Resource before = resolver.resolve(connection(500, 9001));
    assertThat(before.getAttributes().get(AttributeKey.stringKey("k8s.pod.name"))).isEqualTo("web-7d9f8-x2k4q");

    cluster.deletePod("shop", "web-7d9f8-x2k4q");
    await().untilAsserted(() -> assertThat(metadata.containerById(ID_WEB)).isNull());

    Resource after = resolver.resolve(connection(500, 9001));
    assertThat(after.getAttributes().get(AttributeKey.stringKey("k8s.pod.name"))).isNull();
    assertThat(after.getAttributes().get(AttributeKey.stringKey("k8s.node.name"))).isEqualTo("node-a");
  }

  @Test
  void containerNotInStatusYetGetsThePodAndIsResolvedLater() throws IOException {
    String uid = cluster.pod("shop", "starting").node("node-a")
        .container("main", "img:2", null).create().getMetadata().getUid();
    startResolver();
    await().untilAsserted(() -> assertThat(metadata.localPodByUid(uid)).isNotNull());
    String id = "6".repeat(64);
    process(600, "/kubepods/besteffort/pod" + uid + "/" + id);

    Attributes early = resolver.resolve(connection(600, 9101)).getAttributes();
    assertThat(early.get(AttributeKey.stringKey("k8s.pod.name"))).isEqualTo("starting");
    assertThat(early.get(AttributeKey.stringKey("container.id"))).isNull();

    cluster.pod("shop", "starting").uid(uid).node("node-a").container("main", "img:2", id).create();
    await().untilAsserted(() -> assertThat(metadata.containerById(id)).isNotNull());
    Attributes later = resolver.resolve(connection(600, 9101)).getAttributes();
    assertThat(later.get(AttributeKey.stringKey("container.id"))).isEqualTo(id);
    assertThat(later.get(AttributeKey.stringKey("k8s.container.name"))).isEqualTo("main");
  }

  @Test
  void aResourceBuiltWithoutItsOwnerIsRebuiltWhenTheOwnerAppears() throws IOException {
    cluster.pod("shop", "api-5c6b7-abcde").node("node-a").owner("ReplicaSet", "api-5c6b7")
        .container("api", "api:3", ID_WEB).create();
    startResolver();
    await().untilAsserted(() -> assertThat(metadata.containerById(ID_WEB)).isNotNull());
    process(700, containerdPath(ID_WEB));

    Attributes early = resolver.resolve(connection(700, 9201)).getAttributes();
    assertThat(early.get(AttributeKey.stringKey("k8s.replicaset.name"))).isEqualTo("api-5c6b7");
    assertThat(early.get(AttributeKey.stringKey("k8s.deployment.name"))).isNull();

    cluster.replicaSet("shop", "api-5c6b7", "api");
    await()
        .untilAsserted(
            () ->
                assertThat(resolver.resolve(connection(700, 9201)).getAttributes().get(AttributeKey.stringKey("k8s.deployment.name")))
                    .isEqualTo("api"));
    Resource settled = resolver.resolve(connection(700, 9201));
    assertThat(resolver.resolve(connection(700, 9201))).isSameAs(settled);
    assertThat(settled.getAttributes().get(AttributeKey.stringKey("service.name"))).isEqualTo("api");
  }

  @Test
  void imageNames() {
    assertThat(PodResourceResolver.splitImage("nginx")).containsExactly("nginx", null);
    assertThat(PodResourceResolver.splitImage("nginx:1.27")).containsExactly("nginx", "1.27");
    assertThat(PodResourceResolver.splitImage("localhost:5000/web")).containsExactly("localhost:5000/web", null);
    assertThat(PodResourceResolver.splitImage("localhost:5000/web:2@sha256:abc"))
        .containsExactly("localhost:5000/web", "2");
  }
}
