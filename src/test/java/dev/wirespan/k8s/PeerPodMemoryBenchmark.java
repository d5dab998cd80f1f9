package dev.wirespan.k8s;

import dev.wirespan.k8s.ClusterObjects.PeerPod;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Retained heap of the trimmed cluster-wide pod store per 10,000 pods, against keeping the full
 * pod objects (what a default informer store holds). Not a unit test (surefire does not run it):
 *
 * <pre>
 * mvn -o -q test-compile -DskipBpf=true
 * java -cp target/test-classes:target/classes:$(mvn -o -q dependency:build-classpath \
 *     -Dmdep.outputFile=/dev/stdout) dev.wirespan.k8s.PeerPodMemoryBenchmark
 * </pre>
 *
 * <p>The pods are realistic: a Deployment's pods across 200 namespaces and 1,000 workloads, with
 * the labels, annotations, two containers with resources, env, probes and statuses that real
 * pods carry. Heap is measured after repeated full collections; the number is approximate
 * (within a few percent between runs), and the pods are fed through the same store and index
 * code the informer calls.
 */
public final class PeerPodMemoryBenchmark {
  private static final int PODS = 10_000;
  private static final int NAMESPACES = 200;
  private static final int WORKLOADS = 1_000;
  private static final int GC_ROUNDS = 5;
  private static final long GC_PAUSE_MILLIS = 200;
  private static final double BYTES_PER_KIB = 1024.0;

  private PeerPodMemoryBenchmark() {}

  public static void main(String[] args) throws Exception {
    // trimmed: what KubernetesMetadata keeps; each full pod is garbage once stored, as in the
    // informer
    long base = usedHeap();
    AddressIndex<PeerPod> byIp = new AddressIndex<>();
    CompactStore<Pod, PeerPod> trimmed =
        new CompactStore<>(
            Pod::new,
            PeerPod::of,
            (key, before, after) -> {
              if (before != null) {
                for (InetAddress ip : before.ips()) {
                  byIp.remove(ip, before);
                }
              }
              if (after != null) {
                for (InetAddress ip : after.ips()) {
                  byIp.add(ip, after);
                }
              }
            });
    for (int i = 0; i < PODS; i++) {
      Pod pod = realisticPod(i);
      trimmed.put(Cache.metaNamespaceKeyFunc(pod), pod);
    }
    long trimmedBytes = usedHeap() - base;

    // full objects: what a default informer store keeps (fresh copies, as deserialized)
    long beforeFull = usedHeap();
    List<Pod> full = new ArrayList<>(PODS);
    for (int i = 0; i < PODS; i++) {
      full.add(realisticPod(i));
    }
    long fullBytes = usedHeap() - beforeFull;

    System.out.printf(
        "pods=%d trimmed store + IP index: %.0f KiB (%.0f bytes/pod); full Pod objects: %.0f KiB"
            + " (%.0f bytes/pod)%n",
        PODS,
        trimmedBytes / BYTES_PER_KIB,
        (double) trimmedBytes / PODS,
        fullBytes / BYTES_PER_KIB,
        (double) fullBytes / PODS);
    // keep everything reachable until measured
    if (trimmed.size() + full.size() + byIp.size() == 0) {
      System.out.println();
    }
  }

  static Pod realisticPod(int i) {
    String namespace = "team-" + (i % NAMESPACES);
    String app = "app-" + (i % WORKLOADS);
    String hash = Integer.toHexString(0x5d4f8000 + (i % WORKLOADS));
    String rs = app + "-" + hash;
    String ip = "10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255);
    String id = UUID.randomUUID().toString().replace("-", "") + UUID.randomUUID().toString().replace("-", "");
    return new PodBuilder()
        .withNewMetadata()
        .withNamespace(namespace)
        .withName(rs + "-" + Integer.toString(i, 36))
        .withUid(UUID.randomUUID().toString())
        .withResourceVersion(Integer.toString(1_000_000 + i))
        .withCreationTimestamp("2025-01-01T00:00:00Z")
        .addToLabels("app.kubernetes.io/name", app)
        .addToLabels("app.kubernetes.io/instance", app + "-prod")
        .addToLabels("app.kubernetes.io/version", "1.4." + (i % 7))
        .addToLabels("pod-template-hash", hash)
        .addToLabels("team", namespace)
        .addToAnnotations("kubectl.kubernetes.io/restartedAt", "2025-01-01T00:00:00Z")
        .addToAnnotations("prometheus.io/scrape", "true")
        .addNewOwnerReference()
        .withApiVersion("apps/v1")
        .withKind("ReplicaSet")
        .withName(rs)
        .withUid(UUID.randomUUID().toString())
        .withController(true)
        .withBlockOwnerDeletion(true)
        .endOwnerReference()
        .endMetadata()
        .withNewSpec()
        .withNodeName("node-" + (i % 100))
        .withServiceAccountName(app)
        .addToContainers(
            new ContainerBuilder()
                .withName("app")
                .withImage("registry.example.com/" + app + ":1.4." + (i % 7))
                .addNewEnv().withName("JAVA_OPTS").withValue("-Xmx512m -XX:+UseG1GC").endEnv()
                .addNewEnv().withName("OTEL_SERVICE_NAME").withValue(app).endEnv()
                .addNewPort().withContainerPort(8080).withName("http").withProtocol("TCP").endPort()
                .withNewReadinessProbe().withNewHttpGet().withPath("/ready").withNewPort(8080).endHttpGet().endReadinessProbe()
                .withNewResources()
                .addToRequests("cpu", new io.fabric8.kubernetes.api.model.Quantity("250m"))
                .addToRequests("memory", new io.fabric8.kubernetes.api.model.Quantity("512Mi"))
                .endResources()
                .addNewVolumeMount().withName("config").withMountPath("/etc/app").endVolumeMount()
                .build(),
            new ContainerBuilder()
                .withName("envoy")
                .withImage("envoyproxy/envoy:v1.31.0")
                .addNewPort().withContainerPort(15001).endPort()
                .build())
        .addNewVolume().withName("config").withNewConfigMap().withName(app + "-config").endConfigMap().endVolume()
        .endSpec()
        .withNewStatus()
        .withPhase("Running")
        .withPodIP(ip)
        .addToPodIPs(new PodIPBuilder().withIp(ip).build())
        .withHostIP("192.168.0." + (i % 100))
        .withQosClass("Burstable")
        .withStartTime("2025-01-01T00:00:00Z")
        .addNewCondition().withType("Ready").withStatus("True").endCondition()
        .addNewCondition().withType("ContainersReady").withStatus("True").endCondition()
        .addNewCondition().withType("PodScheduled").withStatus("True").endCondition()
        .addToContainerStatuses(
            new ContainerStatusBuilder().withName("app").withReady(true).withRestartCount(0)
                .withImage("registry.example.com/" + app + ":1.4." + (i % 7))
                .withContainerID("containerd://" + id).withNewState().withNewRunning()
                .withStartedAt("2025-01-01T00:00:01Z").endRunning().endState().build(),
            new ContainerStatusBuilder().withName("envoy").withReady(true).withRestartCount(0)
                .withImage("envoyproxy/envoy:v1.31.0")
                .withContainerID("containerd://" + new StringBuilder(id).reverse()).build())
        .endStatus()
        .build();
  }

  private static long usedHeap() throws InterruptedException {
    Runtime rt = Runtime.getRuntime();
    for (int i = 0; i < GC_ROUNDS; i++) {
      System.gc();
      Thread.sleep(GC_PAUSE_MILLIS);
    }
    return rt.totalMemory() - rt.freeMemory();
  }
}
