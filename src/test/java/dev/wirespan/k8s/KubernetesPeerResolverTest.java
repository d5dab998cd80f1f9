package dev.wirespan.k8s;

import static dev.wirespan.k8s.KubernetesPeerResolver.PEER_KIND;
import static dev.wirespan.k8s.KubernetesPeerResolver.PEER_NAMESPACE;
import static dev.wirespan.k8s.KubernetesPeerResolver.PEER_NODE_NAME;
import static dev.wirespan.k8s.KubernetesPeerResolver.PEER_POD_NAME;
import static dev.wirespan.k8s.KubernetesPeerResolver.PEER_SAME_NODE;
import static dev.wirespan.k8s.KubernetesPeerResolver.PEER_SERVICE_NAME;
import static dev.wirespan.k8s.KubernetesPeerResolver.PEER_WORKLOAD_KIND;
import static dev.wirespan.k8s.KubernetesPeerResolver.PEER_WORKLOAD_NAME;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.metrics.AgentMetrics;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import java.io.StringWriter;
import java.net.InetAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class KubernetesPeerResolverTest {
  static final AttributeKey<String> PEER_SERVICE = AttributeKey.stringKey("peer.service");
  static final AttributeKey<String> SERVICE_PEER_NAME = AttributeKey.stringKey("service.peer.name");

  private MockCluster cluster;
  private KubernetesMetadata metadata;
  private KubernetesPeerResolver resolver;
  private final AgentMetrics metrics = new AgentMetrics();

  @BeforeEach
  void start() {
    cluster = MockCluster.start();
    cluster.node("node-a", "192.168.1.10");
    cluster.node("node-b", "192.168.1.11");
    cluster.replicaSet("shop", "web-7d9f8", "web");
    cluster.replicaSet("shop", "cart-66b5c", "cart");
    cluster.service("shop", "web", "10.96.0.10");
    cluster.service("shop", "frontend", "10.96.0.11");
    cluster.endpointSlice("shop", "web", "10.0.0.5", "10.0.1.5");
    cluster.endpointSlice("shop", "frontend", "10.0.0.5", "10.0.2.9");
    cluster.pod("shop", "web-7d9f8-aaaaa").node("node-a").ip("10.0.0.5").owner("ReplicaSet", "web-7d9f8").create();
    cluster.pod("shop", "web-7d9f8-bbbbb").node("node-b").ip("10.0.1.5").owner("ReplicaSet", "web-7d9f8").create();
    cluster.pod("shop", "cart-66b5c-ccccc").node("node-b").ip("10.0.2.9").owner("ReplicaSet", "cart-66b5c").create();
    // "pods" on loopback addresses, as an end-to-end test on one machine gives them
    cluster.pod("shop", "checkout-0").node("node-a").ip("127.0.0.3").owner("StatefulSet", "checkout")
        .label("app.kubernetes.io/name", "checkout-svc").create();
    metadata = KubernetesMetadata.start(cluster.client(), "node-a", metrics);
    assertThat(metadata.awaitSynced(KubernetesMetadataTest.SYNC_TIMEOUT)).isTrue();
    await().untilAsserted(() -> assertThat(metadata.clusterPodCount()).isEqualTo(4));
    await().untilAsserted(() -> assertThat(metadata.endpointsOf("shop", "frontend")).hasSize(2));
    resolver = new KubernetesPeerResolver(metadata, metrics);
  }

  @AfterEach
  void stop() {
    metadata.close();
    cluster.close();
  }

  private Attributes peer(String address) {
    InetAddress local = InetAddress.getLoopbackAddress();
    ConnectionInfo c =
        new ConnectionInfo(1, 1, 1, 3, local, 40000, IpLiterals.parse(address), 80, "client");
    return resolver.peerAttributes(new HttpExchange(c, HttpExchange.Side.CLIENT));
  }

  @Test
  void podOnThisNodeWithWorkloadAndService() {
    Attributes a = peer("10.0.0.5");

    assertThat(a.get(PEER_KIND)).isEqualTo("pod");
    assertThat(a.get(PEER_SERVICE)).isEqualTo("web");
    assertThat(a.get(SERVICE_PEER_NAME)).isEqualTo("web");
    assertThat(a.get(PEER_NAMESPACE)).isEqualTo("shop");
    assertThat(a.get(PEER_POD_NAME)).isEqualTo("web-7d9f8-aaaaa");
    assertThat(a.get(PEER_WORKLOAD_NAME)).isEqualTo("web");
    assertThat(a.get(PEER_WORKLOAD_KIND)).isEqualTo("Deployment");
    // two Services select it: the first by name
    assertThat(a.get(PEER_SERVICE_NAME)).isEqualTo("frontend");
    assertThat(a.get(PEER_NODE_NAME)).isEqualTo("node-a");
    assertThat(a.get(PEER_SAME_NODE)).isTrue();
  }

  @Test
  void podOfAnotherNodeIsLabelledSo() {
    Attributes a = peer("10.0.2.9");

    assertThat(a.get(PEER_KIND)).isEqualTo("pod");
    assertThat(a.get(PEER_SERVICE)).isEqualTo("cart");
    assertThat(a.get(PEER_NODE_NAME)).isEqualTo("node-b");
    assertThat(a.get(PEER_SAME_NODE)).isFalse();
  }

  @Test
  void clusterIpNamesTheServiceByWhatItsPodsShare() {
    Attributes web = peer("10.96.0.10");
    assertThat(web.get(PEER_KIND)).isEqualTo("service");
    assertThat(web.get(PEER_SERVICE_NAME)).isEqualTo("web");
    assertThat(web.get(PEER_SERVICE)).isEqualTo("web");
    assertThat(web.get(PEER_NAMESPACE)).isEqualTo("shop");
    assertThat(web.get(PEER_POD_NAME)).isNull();

    // endpoints of two different services behind one Service: the Service's own name
    Attributes frontend = peer("10.96.0.11");
    assertThat(frontend.get(PEER_SERVICE_NAME)).isEqualTo("frontend");
    assertThat(frontend.get(PEER_SERVICE)).isEqualTo("frontend");
  }

  @Test
  void nodesHostLoopbackAndOutside() {
    assertThat(peer("192.168.1.11").get(PEER_KIND)).isEqualTo("node");
    assertThat(peer("192.168.1.11").get(PEER_NODE_NAME)).isEqualTo("node-b");
    assertThat(peer("192.168.1.11").get(PEER_SERVICE)).isNull();
    assertThat(peer("192.168.1.10").get(PEER_KIND)).isEqualTo("host");
    assertThat(peer("127.0.0.1").get(PEER_KIND)).isEqualTo("host");
    assertThat(peer("::1").get(PEER_KIND)).isEqualTo("host");
    // an address the cluster does not know (attributes only: nothing is sent anywhere)
    assertThat(peer("203.0.113.7").get(PEER_KIND)).isEqualTo("outside");
    assertThat(peer("203.0.113.7").get(PEER_SERVICE)).isNull();
  }

  @Test
  void loopbackAddressListedAsAPodIpIsThatPod() {
    Attributes a = peer("127.0.0.3");

    assertThat(a.get(PEER_KIND)).isEqualTo("pod");
    assertThat(a.get(PEER_POD_NAME)).isEqualTo("checkout-0");
    assertThat(a.get(PEER_SERVICE)).isEqualTo("checkout-svc");
    assertThat(a.get(PEER_WORKLOAD_KIND)).isEqualTo("StatefulSet");
  }

  @Test
  void cachedUntilTheClusterChanges() {
    Attributes first = peer("10.0.2.9");
    assertThat(peer("10.0.2.9")).isSameAs(first);

    cluster.deletePod("shop", "cart-66b5c-ccccc");
    await().untilAsserted(() -> assertThat(peer("10.0.2.9").get(PEER_KIND)).isEqualTo("outside"));

    StringWriter out = new StringWriter();
    metrics.writePrometheus(out);
    assertThat(out.toString())
        .contains("wirespan_k8s_lookups_total{lookup=\"peer\",result=\"pod\"} 2")
        .containsPattern("wirespan_k8s_lookups_total\\{lookup=\"peer\",result=\"outside\"\\} [1-9]");
  }
}
