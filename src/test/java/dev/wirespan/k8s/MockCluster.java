package dev.wirespan.k8s;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.apps.ReplicaSetBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Queue;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * A fake Kubernetes API server for tests: fabric8's KubernetesMockServer in CRUD mode (plus
 * expectations, which take precedence), on 127.0.0.1, with helpers that create nodes, pods (with
 * IPs, container ids, owners, labels), ReplicaSets, Jobs, Services and EndpointSlices. The server
 * can be stopped and started again on the same port with its objects kept, to exercise informer
 * recovery.
 *
 * <p>CRUD mode cannot serve the {@code spec.nodeName} field selector (it only indexes name,
 * namespace and labels, so it would answer with no pods at all): this cluster strips that
 * selector from list and watch requests and serves the pods of every node; {@link
 * KubernetesMetadata} keeps only those of its own node. The selector itself is tested against
 * expectations in {@code KubernetesMetadataTest}.
 *
 * <pre>{@code
 * try (MockCluster cluster = MockCluster.start()) {
 *   cluster.node("node-a", "127.0.0.1");
 *   cluster.pod("shop", "web-7d9f-abcde").node("node-a").ip("127.0.0.2")
 *       .container("web", "ghcr.io/shop/web:1.4.2", containerId)
 *       .owner("ReplicaSet", "web-7d9f").create();
 *   cluster.replicaSet("shop", "web-7d9f", "web");
 *   KubernetesMetadata metadata = KubernetesMetadata.start(cluster.client(), "node-a", metrics);
 * }
 * }</pre>
 */
public final class MockCluster implements AutoCloseable {
  /** Informer retry interval for tests: fast recovery after a restart. */
  private static final int WATCH_RECONNECT_INTERVAL_MILLIS = 100;
  private static final int WATCH_RECONNECT_LIMIT_UNBOUNDED = -1;
  private static final int REQUEST_TIMEOUT_MILLIS = 5_000;

  private final Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
  private final KubernetesMixedDispatcher crud = new KubernetesMixedDispatcher(responses);
  private final Dispatcher dispatcher = new NodeSelectorStripping(crud);
  private final int port;
  private KubernetesMockServer server;
  private final KubernetesClient client;
  private final List<KubernetesClient> extraClients = new ArrayList<>();

  private MockCluster() {
    server = newServer();
    server.init(InetAddress.getLoopbackAddress(), 0);
    port = server.getPort();
    client = newClient();
  }

  /** Starts an empty cluster. */
  public static MockCluster start() {
    return new MockCluster();
  }

  /** A client of this cluster that test code and the agent under test can share. */
  public KubernetesClient client() {
    return client;
  }

  /** A client of its own (closed with the cluster), e.g. for a metadata instance that owns it. */
  public KubernetesClient newClient() {
    Config config =
        new ConfigBuilder(Config.empty())
            .withMasterUrl("http://127.0.0.1:" + port)
            .withNamespace("default")
            .withTrustCerts(true)
            .withWatchReconnectInterval(WATCH_RECONNECT_INTERVAL_MILLIS)
            .withWatchReconnectLimit(WATCH_RECONNECT_LIMIT_UNBOUNDED)
            .withRequestTimeout(REQUEST_TIMEOUT_MILLIS)
            .withRequestRetryBackoffLimit(0)
            .build();
    KubernetesClient c = new KubernetesClientBuilder().withConfig(config).build();
    synchronized (extraClients) {
      extraClients.add(c);
    }
    return c;
  }

  /** The underlying mock server, for expectations ({@code server().expect()...}). */
  public KubernetesMockServer server() {
    return server;
  }

  public int port() {
    return port;
  }

  /** Stops answering (connections refused); the objects are kept. */
  public void stopServer() {
    server.destroy();
  }

  /** Answers again on the same port, with the objects it had. */
  public void restartServer() {
    server = newServer();
    server.init(InetAddress.getLoopbackAddress(), port);
  }

  private KubernetesMockServer newServer() {
    return new KubernetesMockServer(new Context(), new MockWebServer(), responses, dispatcher, false);
  }

  @Override
  public void close() {
    synchronized (extraClients) {
      for (KubernetesClient c : extraClients) {
        c.close();
      }
    }
    server.destroy();
  }

  /** Serves {@code fieldSelector=spec.nodeName=...} requests as if the selector were absent. */
  private static final class NodeSelectorStripping extends Dispatcher {
    private static final Pattern NODE_SELECTOR =
        Pattern.compile("(?<=[?&])fieldSelector=spec\\.nodeName%3D[^&]*(&|$)");
    private final Dispatcher delegate;

    NodeSelectorStripping(Dispatcher delegate) {
      this.delegate = delegate;
    }

    @Override
    public MockResponse dispatch(RecordedRequest request) {
      String path = request.getPath();
      if (path != null && NODE_SELECTOR.matcher(path).find()) {
        String stripped = NODE_SELECTOR.matcher(path).replaceAll("");
        if (stripped.endsWith("?") || stripped.endsWith("&")) {
          stripped = stripped.substring(0, stripped.length() - 1);
        }
        request =
            new RecordedRequest(
                request.getHttpVersion(), request.method(), stripped, request.getHeaders(), request.getBody());
      }
      return delegate.dispatch(request);
    }

    @Override
    public void shutdown() {
      delegate.shutdown();
    }

    @Override
    public void releaseResources() {
      delegate.releaseResources();
    }
  }

  // ---- objects ----

  /** Creates a node with the given InternalIP addresses. */
  public Node node(String name, String... internalIps) {
    NodeBuilder b = new NodeBuilder().withNewMetadata().withName(name).withUid(uid()).endMetadata();
    b.withNewStatus().endStatus();
    Node node = b.build();
    for (String ip : internalIps) {
      node.getStatus()
          .getAddresses()
          .add(new io.fabric8.kubernetes.api.model.NodeAddress(ip, "InternalIP"));
    }
    return client.nodes().resource(node).create();
  }

  /** Starts describing a pod; {@link MockPod#create()} sends it. */
  public MockPod pod(String namespace, String name) {
    return new MockPod(namespace, name);
  }

  /** Deletes a pod (immediately: the mock has no grace period). */
  public void deletePod(String namespace, String name) {
    client.pods().inNamespace(namespace).withName(name).delete();
  }

  /** Creates a ReplicaSet owned by a Deployment (or by nothing when deployment is null). */
  public ReplicaSet replicaSet(String namespace, String name, String deployment) {
    ReplicaSetBuilder b =
        new ReplicaSetBuilder()
            .withNewMetadata()
            .withNamespace(namespace)
            .withName(name)
            .withUid(uid())
            .endMetadata();
    if (deployment != null) {
      b.editMetadata().withOwnerReferences(controller("apps/v1", "Deployment", deployment)).endMetadata();
    }
    return client.apps().replicaSets().inNamespace(namespace).resource(b.build()).create();
  }

  /** Creates a Job owned by a CronJob (or by nothing when cronJob is null). */
  public Job job(String namespace, String name, String cronJob) {
    JobBuilder b =
        new JobBuilder()
            .withNewMetadata()
            .withNamespace(namespace)
            .withName(name)
            .withUid(uid())
            .endMetadata();
    if (cronJob != null) {
      b.editMetadata().withOwnerReferences(controller("batch/v1", "CronJob", cronJob)).endMetadata();
    }
    return client.batch().v1().jobs().inNamespace(namespace).resource(b.build()).create();
  }

  /** Creates a ClusterIP Service ("None" for headless). */
  public Service service(String namespace, String name, String clusterIp) {
    Service service =
        new ServiceBuilder()
            .withNewMetadata()
            .withNamespace(namespace)
            .withName(name)
            .withUid(uid())
            .endMetadata()
            .withNewSpec()
            .withClusterIP(clusterIp)
            .withClusterIPs(clusterIp)
            .endSpec()
            .build();
    return client.services().inNamespace(namespace).resource(service).create();
  }

  /** Creates (or replaces) the EndpointSlice {@code <service>-slice} listing the addresses. */
  public EndpointSlice endpointSlice(String namespace, String service, String... addresses) {
    EndpointSliceBuilder b =
        new EndpointSliceBuilder()
            .withNewMetadata()
            .withNamespace(namespace)
            .withName(service + "-slice")
            .withUid(uid())
            .addToLabels(ClusterObjects.LABEL_SERVICE_NAME, service)
            .endMetadata()
            .withAddressType("IPv4");
    for (String address : addresses) {
      b.addToEndpoints(new EndpointBuilder().withAddresses(address).build());
    }
    return client.discovery().v1().endpointSlices().inNamespace(namespace).resource(b.build()).createOr(
        existing -> existing.update());
  }

  private static io.fabric8.kubernetes.api.model.OwnerReference controller(
      String apiVersion, String kind, String name) {
    return new OwnerReferenceBuilder()
        .withApiVersion(apiVersion)
        .withKind(kind)
        .withName(name)
        .withUid(uid())
        .withController(true)
        .build();
  }

  private static String uid() {
    return UUID.randomUUID().toString();
  }

  /** A pod being described; {@link #create()} sends it to the server. */
  public final class MockPod {
    private final String namespace;
    private final String name;
    private String uid;
    private String nodeName;
    private final List<String> ips = new ArrayList<>();
    private boolean hostNetwork;
    private String phase = "Running";
    private final Map<String, String> labels = new LinkedHashMap<>();
    private final Map<String, String> annotations = new LinkedHashMap<>();
    private final List<String[]> containers = new ArrayList<>();
    private final List<String[]> initContainers = new ArrayList<>();
    private String[] owner;

    private MockPod(String namespace, String name) {
      this.namespace = Objects.requireNonNull(namespace);
      this.name = Objects.requireNonNull(name);
    }

    /** The uid to send (e.g. when replacing a pod); by default the server assigns one. */
    public MockPod uid(String uid) {
      this.uid = uid;
      return this;
    }

    public MockPod node(String nodeName) {
      this.nodeName = nodeName;
      return this;
    }

    public MockPod ip(String ip) {
      ips.add(ip);
      return this;
    }

    public MockPod hostNetwork() {
      this.hostNetwork = true;
      return this;
    }

    public MockPod phase(String phase) {
      this.phase = phase;
      return this;
    }

    public MockPod label(String key, String value) {
      labels.put(key, value);
      return this;
    }

    public MockPod annotation(String key, String value) {
      annotations.put(key, value);
      return this;
    }

    /**
     * Adds a container and its status; {@code containerId} is the bare 64 hex digit id (given
     * the {@code containerd://} scheme in the status), or null for a container not started yet.
     */
    public MockPod container(String containerName, String image, String containerId) {
      containers.add(new String[] {containerName, image, containerId});
      return this;
    }

    public MockPod initContainer(String containerName, String image, String containerId) {
      initContainers.add(new String[] {containerName, image, containerId});
      return this;
    }

    /** The controlling owner reference. */
    public MockPod owner(String kind, String ownerName) {
      this.owner = new String[] {kind, ownerName};
      return this;
    }

    /** The pod as it would be created. */
    public Pod build() {
      PodBuilder b =
          new PodBuilder()
              .withNewMetadata()
              .withNamespace(namespace)
              .withName(name)
              .withUid(uid)
              .withLabels(labels)
              .withAnnotations(annotations)
              .endMetadata();
      if (owner != null) {
        String apiVersion =
            switch (owner[0]) {
              case "Job" -> "batch/v1";
              case "Node" -> "v1";
              default -> "apps/v1";
            };
        b.editMetadata().withOwnerReferences(controller(apiVersion, owner[0], owner[1])).endMetadata();
      }
      b.withNewSpec().withNodeName(nodeName).withHostNetwork(hostNetwork).endSpec();
      b.withNewStatus().withPhase(phase).endStatus();
      for (String[] c : containers) {
        b.editSpec().addToContainers(new ContainerBuilder().withName(c[0]).withImage(c[1]).build()).endSpec();
        b.editStatus()
            .addToContainerStatuses(
                new ContainerStatusBuilder()
                    .withName(c[0])
                    .withImage(c[1])
                    .withContainerID(c[2] == null ? null : "containerd://" + c[2])
                    .build())
            .endStatus();
      }
      for (String[] c : initContainers) {
        b.editSpec().addToInitContainers(new ContainerBuilder().withName(c[0]).withImage(c[1]).build()).endSpec();
        b.editStatus()
            .addToInitContainerStatuses(
                new ContainerStatusBuilder()
                    .withName(c[0])
                    .withImage(c[1])
                    .withContainerID(c[2] == null ? null : "containerd://" + c[2])
                    .build())
            .endStatus();
      }
      if (!ips.isEmpty()) {
        b.editStatus().withPodIP(ips.get(0)).endStatus();
        for (String ip : ips) {
          b.editStatus().addToPodIPs(new PodIPBuilder().withIp(ip).build()).endStatus();
        }
      }
      return b.build();
    }

    /** Creates the pod, or replaces it when it exists (e.g. to change its IP). */
    public Pod create() {
      Pod pod = build();
      return client.pods().inNamespace(namespace).resource(pod).createOr(existing -> existing.update());
    }
  }
}
