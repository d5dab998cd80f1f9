package dev.wirespan.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.wirespan.metrics.AgentMetrics;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KubernetesConnectTest {
  @TempDir Path dir;

  @Test
  void detectsServiceAccountThenKubeconfigThenNothing() throws IOException {
    Path sa = Files.createDirectories(dir.resolve("sa"));
    Path home = Files.createDirectories(dir.resolve("home"));
    Map<String, String> inPod = Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1");

    assertThat(ClusterAccess.detect(inPod, sa, home)).isEqualTo(ClusterAccess.NONE);
    Files.writeString(sa.resolve("token"), "t");
    assertThat(ClusterAccess.detect(inPod, sa, home)).isEqualTo(ClusterAccess.IN_CLUSTER);
    // a token without the in-cluster address is not enough
    assertThat(ClusterAccess.detect(Map.of(), sa, home)).isEqualTo(ClusterAccess.NONE);

    Path kubeconfig = Files.writeString(dir.resolve("kc"), "apiVersion: v1\n");
    assertThat(ClusterAccess.detect(Map.of("KUBECONFIG", "/nonexistent:" + kubeconfig), sa, home))
        .isEqualTo(ClusterAccess.KUBECONFIG);
    Files.createDirectories(home.resolve(".kube"));
    Files.writeString(home.resolve(".kube/config"), "apiVersion: v1\n");
    assertThat(ClusterAccess.detect(Map.of(), sa, home)).isEqualTo(ClusterAccess.KUBECONFIG);
  }

  @Test
  void modes() {
    AgentMetrics metrics = new AgentMetrics();
    assertThat(KubernetesMode.parse(" Auto ")).isEqualTo(KubernetesMode.AUTO);
    assertThatThrownBy(() -> KubernetesMode.parse("on")).hasMessageContaining("auto, enabled or disabled");

    assertThat(KubernetesMetadata.connect(KubernetesMode.DISABLED, ClusterAccess.IN_CLUSTER, "n", metrics))
        .isEmpty();
    assertThat(KubernetesMetadata.connect(KubernetesMode.AUTO, ClusterAccess.NONE, "n", metrics)).isEmpty();
    assertThatThrownBy(
            () -> KubernetesMetadata.connect(KubernetesMode.ENABLED, ClusterAccess.NONE, "n", metrics))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no cluster is configured");
  }
}
