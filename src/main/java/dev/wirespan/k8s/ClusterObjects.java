package dev.wirespan.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.annotation.Nullable;

/**
 * The trimmed forms of the cluster-wide objects: what peer and owner resolution read, nothing
 * else. Repeated strings (namespaces, owner kinds, workload and label values shared by replicas)
 * are interned so that a cluster's pods share them.
 */
final class ClusterObjects {
  /** Label naming the pod's application instance (a well-known label). */
  static final String LABEL_APP_INSTANCE = "app.kubernetes.io/instance";
  /** Label naming the pod's application (a well-known label). */
  static final String LABEL_APP_NAME = "app.kubernetes.io/name";
  /** Label naming the application version (a well-known label). */
  static final String LABEL_APP_VERSION = "app.kubernetes.io/version";
  /** Hash the Deployment controller puts on its ReplicaSets' pods (and in the ReplicaSet name). */
  static final String LABEL_POD_TEMPLATE_HASH = "pod-template-hash";
  /** Label of an EndpointSlice naming its Service. */
  static final String LABEL_SERVICE_NAME = "kubernetes.io/service-name";
  /** OpenTelemetry's annotation prefix for resource attributes. */
  static final String ANNOTATION_RESOURCE_PREFIX = "resource.opentelemetry.io/";
  static final String ANNOTATION_SERVICE_NAME = ANNOTATION_RESOURCE_PREFIX + "service.name";
  static final String ANNOTATION_SERVICE_VERSION = ANNOTATION_RESOURCE_PREFIX + "service.version";
  static final String ANNOTATION_SERVICE_NAMESPACE = ANNOTATION_RESOURCE_PREFIX + "service.namespace";

  private static final String PHASE_SUCCEEDED = "Succeeded";
  private static final String PHASE_FAILED = "Failed";
  private static final String CLUSTER_IP_NONE = "None";
  private static final String NODE_INTERNAL_IP = "InternalIP";
  private static final String NODE_EXTERNAL_IP = "ExternalIP";

  private ClusterObjects() {}

  /** The controlling owner of an object, by reference (the object itself may not be visible). */
  record OwnerRef(String kind, String name) {}

  /**
   * A pod anywhere in the cluster, trimmed to what peer resolution needs.
   *
   * @param ips pod IPs; empty for hostNetwork pods (their IP is the node's) and finished pods
   * @param serviceNameAnnotation the {@code resource.opentelemetry.io/service.name} annotation
   * @param podTemplateHash the {@code pod-template-hash} label, for the documented fallback only
   */
  record PeerPod(
      String namespace,
      String name,
      String uid,
      InetAddress[] ips,
      @Nullable OwnerRef owner,
      @Nullable String nodeName,
      @Nullable String serviceNameAnnotation,
      @Nullable String appInstance,
      @Nullable String appName,
      @Nullable String podTemplateHash,
      String resourceVersion)
      implements CompactStore.Compacted {
    static PeerPod of(Pod pod) {
      ObjectMeta meta = pod.getMetadata();
      boolean hostNetwork =
          pod.getSpec() != null && Boolean.TRUE.equals(pod.getSpec().getHostNetwork());
      String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
      boolean finished = PHASE_SUCCEEDED.equals(phase) || PHASE_FAILED.equals(phase);
      InetAddress[] ips =
          hostNetwork || finished || pod.getStatus() == null
              ? new InetAddress[0]
              : podIps(pod.getStatus().getPodIPs(), pod.getStatus().getPodIP());
      Map<String, String> labels = meta.getLabels();
      Map<String, String> annotations = meta.getAnnotations();
      return new PeerPod(
          intern(meta.getNamespace()),
          meta.getName(),
          meta.getUid() == null ? "" : meta.getUid(),
          ips,
          controllerOf(meta),
          pod.getSpec() == null ? null : intern(pod.getSpec().getNodeName()),
          annotations == null ? null : intern(annotations.get(ANNOTATION_SERVICE_NAME)),
          labels == null ? null : intern(labels.get(LABEL_APP_INSTANCE)),
          labels == null ? null : intern(labels.get(LABEL_APP_NAME)),
          labels == null ? null : intern(labels.get(LABEL_POD_TEMPLATE_HASH)),
          nullToEmpty(meta.getResourceVersion()));
    }
  }

  /** A ReplicaSet or Job: its own controlling owner is what owner chains need. */
  record OwnedObject(String namespace, String name, @Nullable OwnerRef owner, String resourceVersion)
      implements CompactStore.Compacted {
    static OwnedObject of(HasMetadata object) {
      ObjectMeta meta = object.getMetadata();
      return new OwnedObject(
          intern(meta.getNamespace()),
          meta.getName(),
          controllerOf(meta),
          nullToEmpty(meta.getResourceVersion()));
    }
  }

  /** A Service and its cluster IPs (none for headless services). */
  record ServiceEntry(String namespace, String name, InetAddress[] clusterIps, String resourceVersion)
      implements CompactStore.Compacted {
    static ServiceEntry of(Service service) {
      ObjectMeta meta = service.getMetadata();
      List<String> ips = new ArrayList<>(2);
      if (service.getSpec() != null) {
        if (service.getSpec().getClusterIPs() != null) {
          ips.addAll(service.getSpec().getClusterIPs());
        }
        if (service.getSpec().getClusterIP() != null) {
          ips.add(service.getSpec().getClusterIP());
        }
      }
      ips.removeIf(CLUSTER_IP_NONE::equals);
      return new ServiceEntry(
          intern(meta.getNamespace()),
          meta.getName(),
          IpLiterals.parseAll(ips),
          nullToEmpty(meta.getResourceVersion()));
    }
  }

  /** An EndpointSlice: which addresses serve which Service. */
  record SliceEntry(
      String namespace, @Nullable String serviceName, InetAddress[] addresses, String resourceVersion)
      implements CompactStore.Compacted {
    static SliceEntry of(EndpointSlice slice) {
      ObjectMeta meta = slice.getMetadata();
      List<String> addresses = new ArrayList<>();
      if (slice.getEndpoints() != null) {
        for (Endpoint endpoint : slice.getEndpoints()) {
          if (endpoint.getAddresses() != null) {
            addresses.addAll(endpoint.getAddresses());
          }
        }
      }
      String service = meta.getLabels() == null ? null : meta.getLabels().get(LABEL_SERVICE_NAME);
      return new SliceEntry(
          intern(meta.getNamespace()),
          intern(service),
          IpLiterals.parseAll(addresses),
          nullToEmpty(meta.getResourceVersion()));
    }
  }

  /** A Node and its internal and external addresses. */
  record NodeEntry(String name, InetAddress[] addresses, String resourceVersion)
      implements CompactStore.Compacted {
    static NodeEntry of(Node node) {
      List<String> addresses = new ArrayList<>(2);
      if (node.getStatus() != null && node.getStatus().getAddresses() != null) {
        for (NodeAddress address : node.getStatus().getAddresses()) {
          if (NODE_INTERNAL_IP.equals(address.getType())
              || NODE_EXTERNAL_IP.equals(address.getType())) {
            addresses.add(address.getAddress());
          }
        }
      }
      return new NodeEntry(
          node.getMetadata().getName(),
          IpLiterals.parseAll(addresses),
          nullToEmpty(node.getMetadata().getResourceVersion()));
    }
  }

  /** The controlling owner reference (controller: true), else the first one, else null. */
  @Nullable
  static OwnerRef controllerOf(ObjectMeta meta) {
    List<OwnerReference> refs = meta.getOwnerReferences();
    if (refs == null || refs.isEmpty()) {
      return null;
    }
    OwnerReference chosen = refs.get(0);
    for (OwnerReference ref : refs) {
      if (Boolean.TRUE.equals(ref.getController())) {
        chosen = ref;
        break;
      }
    }
    if (chosen.getKind() == null || chosen.getName() == null) {
      return null;
    }
    return new OwnerRef(intern(chosen.getKind()), intern(chosen.getName()));
  }

  private static InetAddress[] podIps(@Nullable List<PodIP> podIps, @Nullable String podIp) {
    List<String> texts = new ArrayList<>(2);
    if (podIps != null) {
      for (PodIP ip : podIps) {
        texts.add(ip.getIp());
      }
    }
    if (podIp != null) {
      texts.add(podIp);
    }
    return IpLiterals.parseAll(texts);
  }

  @Nullable
  static String intern(@Nullable String value) {
    return value == null ? null : value.intern();
  }

  private static String nullToEmpty(@Nullable String value) {
    return value == null ? "" : value;
  }
}
