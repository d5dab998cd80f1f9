package dev.wirespan.k8s;

import static io.opentelemetry.semconv.incubating.PeerIncubatingAttributes.PEER_SERVICE;
import static io.opentelemetry.semconv.incubating.ServiceIncubatingAttributes.SERVICE_PEER_NAME;
import static io.opentelemetry.semconv.incubating.ServiceIncubatingAttributes.SERVICE_PEER_NAMESPACE;

import dev.wirespan.k8s.ClusterObjects.NodeEntry;
import dev.wirespan.k8s.ClusterObjects.PeerPod;
import dev.wirespan.k8s.ClusterObjects.ServiceEntry;
import dev.wirespan.http.HttpExchange;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.Counter;
import dev.wirespan.span.PeerResolver;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import java.net.InetAddress;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Names the remote end of an exchange from the cluster view: the Service behind a cluster IP (a
 * CLIENT span's peer before kube-proxy's address translation), the pod (with its workload and
 * Services) behind a pod IP, the node behind a node address. Never guessed: an address that is
 * none of these is labelled {@code outside} once the caches have listed, {@code unknown} before.
 * {@code server.address} is left to the span stage (it keeps the Host header).
 *
 * <p>Attributes:
 *
 * <table>
 *   <caption>Peer attributes</caption>
 *   <tr><th>attribute</th><th>set when</th><th>value</th></tr>
 *   <tr><td>{@code peer.service}, {@code service.peer.name}</td><td>pod, service</td>
 *       <td>the peer's logical name: for a pod, the {@code service.name} its own spans get
 *       ({@link ServiceNaming}: annotation, well-known labels, workload, pod name); for a
 *       Service, the logical name its endpoint pods share, else the Service's name</td></tr>
 *   <tr><td>{@code service.peer.namespace}</td><td>pod, service</td><td>the peer's namespace</td></tr>
 *   <tr><td>{@code wirespan.peer.kind}</td><td>always</td>
 *       <td>{@code pod}, {@code service}, {@code node} (another node's address), {@code host}
 *       (this node: loopback or one of its addresses), {@code outside} (no pod, Service or node
 *       of the cluster has it), {@code unknown} (not found while the caches are still listing)</td></tr>
 *   <tr><td>{@code wirespan.peer.k8s.namespace.name}</td><td>pod, service</td><td>namespace</td></tr>
 *   <tr><td>{@code wirespan.peer.k8s.pod.name}</td><td>pod</td><td>pod name</td></tr>
 *   <tr><td>{@code wirespan.peer.k8s.workload.name}, {@code wirespan.peer.k8s.workload.kind}</td>
 *       <td>pod with an owner</td><td>top of the owner chain, e.g. {@code web}, {@code Deployment}</td></tr>
 *   <tr><td>{@code wirespan.peer.k8s.service.name}</td><td>service; pod behind a Service</td>
 *       <td>the Service (for a pod, the first by name of those whose endpoint slices list it)</td></tr>
 *   <tr><td>{@code wirespan.peer.k8s.node.name}</td><td>pod, node, host (when known)</td>
 *       <td>the node the peer runs on / is</td></tr>
 *   <tr><td>{@code wirespan.peer.k8s.same_node}</td><td>pod</td>
 *       <td>whether the peer pod runs on this node</td></tr>
 * </table>
 *
 * <p>Lookups are map reads, cached per address until the cluster view changes. Metrics: {@code
 * wirespan_k8s_lookups_total{lookup="peer",result="pod|service|node|host|outside|unknown"}}.
 */
public final class KubernetesPeerResolver implements PeerResolver {
  public static final AttributeKey<String> PEER_KIND = AttributeKey.stringKey("wirespan.peer.kind");
  public static final AttributeKey<String> PEER_NAMESPACE =
      AttributeKey.stringKey("wirespan.peer.k8s.namespace.name");
  public static final AttributeKey<String> PEER_POD_NAME =
      AttributeKey.stringKey("wirespan.peer.k8s.pod.name");
  public static final AttributeKey<String> PEER_WORKLOAD_NAME =
      AttributeKey.stringKey("wirespan.peer.k8s.workload.name");
  public static final AttributeKey<String> PEER_WORKLOAD_KIND =
      AttributeKey.stringKey("wirespan.peer.k8s.workload.kind");
  public static final AttributeKey<String> PEER_SERVICE_NAME =
      AttributeKey.stringKey("wirespan.peer.k8s.service.name");
  public static final AttributeKey<String> PEER_NODE_NAME =
      AttributeKey.stringKey("wirespan.peer.k8s.node.name");
  public static final AttributeKey<Boolean> PEER_SAME_NODE =
      AttributeKey.booleanKey("wirespan.peer.k8s.same_node");

  /** Values of {@link #PEER_KIND}. */
  public enum PeerKind {
    POD("pod"),
    SERVICE("service"),
    NODE("node"),
    HOST("host"),
    OUTSIDE("outside"),
    UNKNOWN("unknown");

    private final String value;

    PeerKind(String value) {
      this.value = value;
    }

    public String value() {
      return value;
    }
  }

  /** Peer addresses whose attributes are remembered; past this the memo is cleared. */
  static final int MAX_CACHED_PEERS = 16_384;

  private final KubernetesMetadata metadata;
  private final ConcurrentHashMap<InetAddress, Cached> cache = new ConcurrentHashMap<>();
  private final Counter[] lookups = new Counter[PeerKind.values().length];
  private final Attributes hostOnly;

  public KubernetesPeerResolver(KubernetesMetadata metadata, AgentMetrics metrics) {
    this.metadata = Objects.requireNonNull(metadata, "metadata");
    Objects.requireNonNull(metrics, "metrics");
    for (PeerKind kind : PeerKind.values()) {
      lookups[kind.ordinal()] =
          metrics.counter(
              "wirespan_k8s_lookups_total",
              "Kubernetes metadata lookups on the span path, by lookup and result.",
              "lookup",
              "peer",
              "result",
              kind.value());
    }
    hostOnly =
        Attributes.of(PEER_KIND, PeerKind.HOST.value(), PEER_NODE_NAME, metadata.nodeName());
  }

  @Override
  public Attributes peerAttributes(HttpExchange exchange) {
    InetAddress peer = exchange.connection().remoteAddress();
    long generation = metadata.clusterGeneration();
    boolean synced = metadata.peerSourcesSynced();
    Cached cached = cache.get(peer);
    if (cached == null || cached.generation != generation || cached.synced != synced) {
      cached = new Cached(generation, synced, describe(peer, synced));
      if (cache.size() >= MAX_CACHED_PEERS) {
        cache.clear();
      }
      cache.put(peer, cached);
    }
    lookups[cached.kind.ordinal()].inc();
    return cached.attributes;
  }

  /** What the cluster view says of an address (no caching). */
  Cached describe(InetAddress peer, boolean synced) {
    ServiceEntry service = metadata.serviceByClusterIp(peer);
    if (service != null) {
      String logical = serviceLogicalName(service);
      return new Cached(
          0,
          synced,
          PeerKind.SERVICE,
          Attributes.builder()
              .put(PEER_KIND, PeerKind.SERVICE.value())
              .put(PEER_SERVICE, logical)
              .put(SERVICE_PEER_NAME, logical)
              .put(SERVICE_PEER_NAMESPACE, service.namespace())
              .put(PEER_NAMESPACE, service.namespace())
              .put(PEER_SERVICE_NAME, service.name())
              .build());
    }
    PeerPod pod = metadata.podByIp(peer);
    if (pod != null) {
      Workload workload = metadata.workloadOf(pod.namespace(), pod.owner(), pod.podTemplateHash());
      String logical = podLogicalName(pod, workload);
      AttributesBuilder b =
          Attributes.builder()
              .put(PEER_KIND, PeerKind.POD.value())
              .put(PEER_SERVICE, logical)
              .put(SERVICE_PEER_NAME, logical)
              .put(SERVICE_PEER_NAMESPACE, pod.namespace())
              .put(PEER_NAMESPACE, pod.namespace())
              .put(PEER_POD_NAME, pod.name());
      if (workload.name() != null) {
        b.put(PEER_WORKLOAD_NAME, workload.name());
        b.put(PEER_WORKLOAD_KIND, workload.kind());
      }
      List<String> services = metadata.serviceNamesServing(peer, pod.namespace());
      if (!services.isEmpty()) {
        b.put(PEER_SERVICE_NAME, services.get(0));
      }
      if (pod.nodeName() != null) {
        b.put(PEER_NODE_NAME, pod.nodeName());
        b.put(PEER_SAME_NODE, pod.nodeName().equals(metadata.nodeName()));
      }
      return new Cached(0, synced, PeerKind.POD, b.build());
    }
    NodeEntry node = metadata.nodeByAddress(peer);
    if (node != null) {
      if (node.name().equals(metadata.nodeName())) {
        return new Cached(0, synced, PeerKind.HOST, hostOnly);
      }
      return new Cached(
          0,
          synced,
          PeerKind.NODE,
          Attributes.of(PEER_KIND, PeerKind.NODE.value(), PEER_NODE_NAME, node.name()));
    }
    if (peer.isLoopbackAddress() || peer.isAnyLocalAddress()) {
      return new Cached(0, synced, PeerKind.HOST, hostOnly);
    }
    PeerKind kind = synced ? PeerKind.OUTSIDE : PeerKind.UNKNOWN;
    return new Cached(0, synced, kind, Attributes.of(PEER_KIND, kind.value()));
  }

  private String podLogicalName(PeerPod pod, Workload workload) {
    return ServiceNaming.logicalName(
        pod.serviceNameAnnotation(), pod.appInstance(), pod.appName(), workload, pod.name());
  }

  /**
   * The logical name the Service's endpoint pods share (so that a CLIENT span to a ClusterIP
   * names the same service as the SERVER spans behind it), else the Service's own name.
   */
  private String serviceLogicalName(ServiceEntry service) {
    String shared = null;
    for (InetAddress endpoint : metadata.endpointsOf(service.namespace(), service.name())) {
      PeerPod pod = metadata.podByIp(endpoint);
      if (pod == null) {
        continue;
      }
      String name =
          podLogicalName(
              pod, metadata.workloadOf(pod.namespace(), pod.owner(), pod.podTemplateHash()));
      if (shared == null) {
        shared = name;
      } else if (!shared.equals(name)) {
        return service.name();
      }
    }
    return shared == null ? service.name() : shared;
  }

  /** Attributes of one peer address, valid while the cluster view is at {@code generation}. */
  static final class Cached {
    final long generation;
    final boolean synced;
    final PeerKind kind;
    final Attributes attributes;

    Cached(long generation, boolean synced, PeerKind kind, Attributes attributes) {
      this.generation = generation;
      this.synced = synced;
      this.kind = kind;
      this.attributes = attributes;
    }

    Cached(long generation, boolean synced, Cached described) {
      this(generation, synced, described.kind, described.attributes);
    }
  }
}
