package dev.wirespan.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.k8s.ClusterObjects.OwnerRef;
import dev.wirespan.k8s.ClusterObjects.PeerPod;
import dev.wirespan.k8s.InformerStatus.State;
import dev.wirespan.metrics.AgentMetrics;
import io.fabric8.kubernetes.api.model.PodListBuilder;
import io.fabric8.kubernetes.api.model.WatchEvent;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.StringWriter;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class KubernetesMetadataTest {
  static final Duration SYNC_TIMEOUT = Duration.ofSeconds(20);
  static final String ID_A = "a".repeat(64);
  static final String ID_B = "b".repeat(64);
  static final String ID_INIT = "c".repeat(64);

  private MockCluster cluster;
  private KubernetesMetadata metadata;
  private final AgentMetrics metrics = new AgentMetrics();

  @BeforeEach
  void startCluster() {
    cluster = MockCluster.start();
  }

  @AfterEach
  void stop() {
    if (metadata != null) {
      metadata.close();
    }
    cluster.close();
  }

  private KubernetesMetadata startMetadata() {
    metadata = KubernetesMetadata.start(cluster.client(), "node-a", metrics);
    assertThat(metadata.awaitSynced(SYNC_TIMEOUT)).isTrue();
    return metadata;
  }

  static InetAddress ip(String text) {
    return IpLiterals.parse(text);
  }

  @Test
  void podsAppearChangeIpAndAreReplacedOnTheSameIp() {
    startMetadata();
    assertThat(metadata.podByIp(ip("10.0.0.5"))).isNull();

    cluster.pod("shop", "web-1").node("node-b").ip("10.0.0.5").create();
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.5"))).isNotNull());
    assertThat(metadata.podByIp(ip("10.0.0.5")).name()).isEqualTo("web-1");
    assertThat(metadata.podByIp(ip("10.0.0.5")).nodeName()).isEqualTo("node-b");

    cluster.pod("shop", "web-1").node("node-b").ip("10.0.0.6").create();
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.6"))).isNotNull());
    assertThat(metadata.podByIp(ip("10.0.0.5"))).isNull();

    cluster.deletePod("shop", "web-1");
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.6"))).isNull());

    String newUid = cluster.pod("shop", "web-1").node("node-b").ip("10.0.0.6").create().getMetadata().getUid();
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.6"))).isNotNull());
    assertThat(metadata.podByIp(ip("10.0.0.6")).uid()).isEqualTo(newUid);
  }

  @Test
  void aSuccessorOnTheSameIpWinsAndTheFinishedPodDoesNotHoldIt() {
    startMetadata();
    cluster.pod("shop", "old").node("node-b").ip("10.0.0.7").create();
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.7"))).isNotNull());

    // the IP is handed to a new pod before the old one's deletion is seen
    cluster.pod("shop", "new").node("node-b").ip("10.0.0.7").create();
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.7")).name()).isEqualTo("new"));
    cluster.deletePod("shop", "old");
    await().untilAsserted(() -> assertThat(metadata.clusterPodCount()).isEqualTo(1));
    assertThat(metadata.podByIp(ip("10.0.0.7")).name()).isEqualTo("new");

    // a pod that finished keeps podIP in its status, but the IP is free
    cluster.pod("shop", "new").node("node-b").ip("10.0.0.7").phase("Succeeded").create();
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.7"))).isNull());
  }

  @Test
  void hostNetworkPodsHoldNoIpOfTheirOwn() {
    startMetadata();
    cluster.node("node-b", "192.168.1.12");
    cluster.pod("kube-system", "proxy").node("node-b").ip("192.168.1.12").hostNetwork().create();
    await().untilAsserted(() -> assertThat(metadata.clusterPodCount()).isEqualTo(1));
    await().untilAsserted(() -> assertThat(metadata.nodeByAddress(ip("192.168.1.12"))).isNotNull());

    assertThat(metadata.podByIp(ip("192.168.1.12"))).isNull();
    assertThat(metadata.nodeByAddress(ip("192.168.1.12")).name()).isEqualTo("node-b");
  }

  @Test
  void ownerChains() {
    cluster.replicaSet("shop", "web-7d9f8", "web");
    cluster.replicaSet("shop", "bare-rs", null);
    cluster.job("batch", "report-2891", "report");
    cluster.job("batch", "once", null);
    startMetadata();

    assertThat(metadata.workloadOf("shop", new OwnerRef("ReplicaSet", "web-7d9f8"), "7d9f8"))
        .isEqualTo(new Workload("Deployment", "web", "web", "web-7d9f8", null, null, null, null, false));
    assertThat(metadata.workloadOf("shop", new OwnerRef("ReplicaSet", "bare-rs"), null))
        .isEqualTo(new Workload("ReplicaSet", "bare-rs", null, "bare-rs", null, null, null, null, false));
    assertThat(metadata.workloadOf("batch", new OwnerRef("Job", "report-2891"), null))
        .isEqualTo(new Workload("CronJob", "report", null, null, null, null, "report-2891", "report", false));
    assertThat(metadata.workloadOf("batch", new OwnerRef("Job", "once"), null))
        .isEqualTo(new Workload("Job", "once", null, null, null, null, "once", null, false));
    assertThat(metadata.workloadOf("db", new OwnerRef("StatefulSet", "pg"), null))
        .isEqualTo(new Workload("StatefulSet", "pg", null, null, "pg", null, null, null, false));
    assertThat(metadata.workloadOf("kube-system", new OwnerRef("DaemonSet", "cilium"), null))
        .isEqualTo(new Workload("DaemonSet", "cilium", null, null, null, "cilium", null, null, false));
    assertThat(metadata.workloadOf("shop", null, null)).isEqualTo(Workload.NONE);
  }

  @Test
  void invisibleOwnersFallBackToTheReference() {
    startMetadata();
    // the ReplicaSet object is not (yet) visible: the documented pod-template-hash rule
    assertThat(metadata.workloadOf("shop", new OwnerRef("ReplicaSet", "api-5c6b7"), "5c6b7"))
        .isEqualTo(new Workload("Deployment", "api", "api", "api-5c6b7", null, null, null, null, true));
    // without a matching hash nothing is derived from the name
    assertThat(metadata.workloadOf("shop", new OwnerRef("ReplicaSet", "api-5c6b7"), null))
        .isEqualTo(new Workload("ReplicaSet", "api-5c6b7", null, "api-5c6b7", null, null, null, null, true));
    assertThat(metadata.workloadOf("shop", new OwnerRef("ReplicaSet", "api-5c6b7"), "ffff"))
        .isEqualTo(new Workload("ReplicaSet", "api-5c6b7", null, "api-5c6b7", null, null, null, null, true));
    assertThat(metadata.workloadOf("batch", new OwnerRef("Job", "nightly-1"), null))
        .isEqualTo(new Workload("Job", "nightly-1", null, null, null, null, "nightly-1", null, true));

    cluster.replicaSet("shop", "api-5c6b7", "api-v2");
    await()
        .untilAsserted(
            () ->
                assertThat(metadata.workloadOf("shop", new OwnerRef("ReplicaSet", "api-5c6b7"), "5c6b7"))
                    .isEqualTo(
                        new Workload("Deployment", "api-v2", "api-v2", "api-5c6b7", null, null, null, null, false)));
  }

  @Test
  void servicesAndEndpointSlices() {
    startMetadata();
    cluster.service("shop", "web", "10.96.0.10");
    cluster.service("shop", "web-headless", "None");
    cluster.endpointSlice("shop", "web", "10.0.0.5", "10.0.0.6");
    cluster.endpointSlice("shop", "web-headless", "10.0.0.5");

    await().untilAsserted(() -> assertThat(metadata.serviceByClusterIp(ip("10.96.0.10"))).isNotNull());
    assertThat(metadata.serviceByClusterIp(ip("10.96.0.10")).name()).isEqualTo("web");
    await()
        .untilAsserted(
            () ->
                assertThat(metadata.serviceNamesServing(ip("10.0.0.5"), "shop"))
                    .containsExactly("web", "web-headless"));
    assertThat(metadata.serviceNamesServing(ip("10.0.0.6"), "shop")).containsExactly("web");
    assertThat(metadata.serviceNamesServing(ip("10.0.0.6"), "other")).isEmpty();
    assertThat(metadata.endpointsOf("shop", "web")).containsExactlyInAnyOrder(ip("10.0.0.5"), ip("10.0.0.6"));

    cluster.endpointSlice("shop", "web", "10.0.0.6");
    await().untilAsserted(() -> assertThat(metadata.serviceNamesServing(ip("10.0.0.5"), "shop")).containsExactly("web-headless"));

    cluster.client().services().inNamespace("shop").withName("web").delete();
    await().untilAsserted(() -> assertThat(metadata.serviceByClusterIp(ip("10.96.0.10"))).isNull());
  }

  @Test
  void containersOfThisNodesPodsIncludingInitContainers() {
    startMetadata();
    cluster
        .pod("shop", "web-1")
        .node("node-a")
        .ip("10.0.0.5")
        .container("web", "ghcr.io/shop/web:1.4.2", ID_A)
        .initContainer("migrate", "ghcr.io/shop/migrate:3", ID_INIT)
        .create();
    cluster.pod("shop", "web-2").node("node-b").ip("10.0.0.6").container("web", "ghcr.io/shop/web:1.4.2", ID_B).create();

    await().untilAsserted(() -> assertThat(metadata.containerById(ID_A)).isNotNull());
    LocalContainer web = metadata.containerById(ID_A);
    assertThat(web.containerName()).isEqualTo("web");
    assertThat(web.image()).isEqualTo("ghcr.io/shop/web:1.4.2");
    assertThat(web.pod().getMetadata().getName()).isEqualTo("web-1");
    assertThat(metadata.containerById(ID_INIT).containerName()).isEqualTo("migrate");
    await().untilAsserted(() -> assertThat(metadata.clusterPodCount()).isEqualTo(2));
    // the pod of node-b is known for peer lookups but not as a container of this node
    assertThat(metadata.containerById(ID_B)).isNull();

    List<String> changed = new ArrayList<>();
    metadata.addLocalPodChangeListener(p -> changed.add(p.getMetadata().getName()));
    cluster.deletePod("shop", "web-1");
    await().untilAsserted(() -> assertThat(metadata.containerById(ID_A)).isNull());
    assertThat(metadata.containerById(ID_INIT)).isNull();
    assertThat(changed).containsExactly("web-1");
  }

  @Test
  void apiServerStopsAndComesBack() {
    startMetadata();
    cluster.pod("shop", "web-1").node("node-a").ip("10.0.0.5").container("web", "web:1", ID_A).create();
    await().untilAsserted(() -> assertThat(metadata.containerById(ID_A)).isNotNull());
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.5"))).isNotNull());
    await().untilAsserted(() -> assertThat(metadata.status().allUp()).isTrue());

    cluster.stopServer();

    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(
            () -> {
              KubernetesStatus status = metadata.status();
              assertThat(status.allUp()).isFalse();
              assertThat(status.informers()).allMatch(s -> s.state() == State.FAILING);
            });
    // lookups keep answering from the cache
    assertThat(metadata.containerById(ID_A)).isNotNull();
    assertThat(metadata.podByIp(ip("10.0.0.5")).name()).isEqualTo("web-1");
    assertThat(metadata.status().degradedSummary()).contains("pods=FAILING");
    assertThat(prometheus()).contains("wirespan_k8s_informer_up{resource=\"pods\"} 0");

    cluster.restartServer();
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(metadata.status().allUp()).isTrue());
    assertThat(prometheus()).contains("wirespan_k8s_informer_up{resource=\"pods\"} 1");

    // changes made after the restart arrive through the re-established watches
    cluster.pod("shop", "web-2").node("node-a").ip("10.0.0.9").container("web", "web:1", ID_B).create();
    cluster.deletePod("shop", "web-1");
    await().untilAsserted(() -> assertThat(metadata.containerById(ID_B)).isNotNull());
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.9"))).isNotNull());
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.5"))).isNull());
    assertThat(metadata.containerById(ID_A)).isNull();
  }

  @Test
  void forbiddenResourceDegradesOnlyItsInformerAndOwnersFallBack() {
    cluster
        .server()
        .expect()
        .get()
        .withPath("/apis/apps/v1/replicasets?limit=500")
        .andReturn(403, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"replicasets.apps is forbidden: User \\\"system:serviceaccount:wirespan:wirespan\\\" cannot list resource\",\"reason\":\"Forbidden\",\"code\":403}")
        .always();
    metadata = KubernetesMetadata.start(cluster.client(), "node-a", metrics);

    await()
        .untilAsserted(
            () -> {
              InformerStatus rs = statusOf(metadata.status(), "replicasets");
              assertThat(rs.state()).isEqualTo(State.FAILING);
              assertThat(rs.lastError()).contains("forbidden");
            });
    await().untilAsserted(() -> assertThat(statusOf(metadata.status(), "pods").up()).isTrue());
    cluster.pod("shop", "web-1").node("node-b").ip("10.0.0.5").owner("ReplicaSet", "web-7d9f8")
        .label("pod-template-hash", "7d9f8").create();
    await().untilAsserted(() -> assertThat(metadata.podByIp(ip("10.0.0.5"))).isNotNull());
    PeerPod pod = metadata.podByIp(ip("10.0.0.5"));
    assertThat(metadata.workloadOf(pod.namespace(), pod.owner(), pod.podTemplateHash()))
        .isEqualTo(new Workload("Deployment", "web", "web", "web-7d9f8", null, null, null, null, true));
  }

  /** CRUD mode ignores field selectors; here the node's pod list and watch are served exactly. */
  @Test
  void thisNodesPodsAreListedAndWatchedWithTheNodeFieldSelector() throws Exception {
    KubernetesMockServer server = new KubernetesMockServer(false);
    server.init(InetAddress.getLoopbackAddress(), 0);
    try {
      String nodePods = "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a&resourceVersion=0";
      MockCluster.MockPod listed = podOnNodeA("listed", ID_A);
      MockCluster.MockPod added = podOnNodeA("added", ID_B);
      server
          .expect()
          .get()
          .withPath(nodePods)
          .andReturn(
              200,
              new PodListBuilder().withNewMetadata().withResourceVersion("1").endMetadata()
                  .withItems(listed.build()).build())
          .always();
      server
          .expect()
          .get()
          .withPath(
              "/api/v1/pods?allowWatchBookmarks=true&fieldSelector=spec.nodeName%3Dnode-a"
                  + "&resourceVersion=1&timeoutSeconds=600&watch=true")
          .andUpgradeToWebSocket()
          .open()
          .waitFor(100)
          .andEmit(new WatchEvent(added.build(), "ADDED"))
          .done()
          .always();
      try (var client = server.createClient()) {
        metadata = KubernetesMetadata.start(client, "node-a", metrics);
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(metadata.containerById(ID_A)).isNotNull());
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(metadata.containerById(ID_B)).isNotNull());
        List<String> paths = new ArrayList<>();
        RecordedRequest r;
        while ((r = server.takeRequest(100, TimeUnit.MILLISECONDS)) != null) {
          paths.add(r.getPath());
        }
        assertThat(paths).anyMatch(p -> p.equals(nodePods));
        assertThat(paths)
            .anyMatch(p -> p.contains("fieldSelector=spec.nodeName%3Dnode-a") && p.contains("watch=true"));
        metadata.close();
        metadata = null;
      }
    } finally {
      server.destroy();
    }
  }

  private MockCluster.MockPod podOnNodeA(String name, String containerId) {
    return cluster
        .pod("shop", name)
        .uid(java.util.UUID.randomUUID().toString())
        .node("node-a")
        .ip("10.0.1." + name.length())
        .container("web", "web:1", containerId);
  }

  private static InformerStatus statusOf(KubernetesStatus status, String resource) {
    return status.informers().stream().filter(s -> s.resource().equals(resource)).findFirst().orElseThrow();
  }

  private String prometheus() {
    StringWriter out = new StringWriter();
    metrics.writePrometheus(out);
    return out.toString();
  }
}
