package dev.wirespan.k8s;

import dev.wirespan.process.CgroupParser;
import dev.wirespan.process.ContainerCgroup;
import dev.wirespan.process.ProcessFiles;
import dev.wirespan.process.ResourceAttributesVariable;
import static io.opentelemetry.semconv.incubating.ContainerIncubatingAttributes.CONTAINER_ID;
import static io.opentelemetry.semconv.incubating.ContainerIncubatingAttributes.CONTAINER_IMAGE_NAME;
import static io.opentelemetry.semconv.incubating.ContainerIncubatingAttributes.CONTAINER_IMAGE_TAGS;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_CLUSTER_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_CONTAINER_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_CRONJOB_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_DAEMONSET_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_DEPLOYMENT_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_JOB_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_NAMESPACE_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_NODE_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_POD_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_POD_UID;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_REPLICASET_NAME;
import static io.opentelemetry.semconv.incubating.K8sIncubatingAttributes.K8S_STATEFULSET_NAME;
import static io.opentelemetry.semconv.incubating.ServiceIncubatingAttributes.SERVICE_INSTANCE_ID;
import static io.opentelemetry.semconv.incubating.ServiceIncubatingAttributes.SERVICE_NAMESPACE;

import dev.wirespan.http.ConnectionInfo;
import dev.wirespan.metrics.AgentMetrics;
import dev.wirespan.metrics.Counter;
import dev.wirespan.span.ResourceResolver;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.semconv.SchemaUrls;
import io.opentelemetry.semconv.ServiceAttributes;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import javax.annotation.Nullable;

/**
 * The resource of the pod and container a traced process runs in: the process's cgroup (from
 * {@code /proc/<pid>/cgroup}, read once per cgroup id) names its container id (containerd,
 * CRI-O, Docker; systemd or cgroupfs driver; cgroup v1 or v2), which is matched to the
 * {@code status.containerStatuses[].containerID} (and init and ephemeral containers) of this
 * node's pods. hostNetwork pods are attributed this way too: by cgroup, never by IP.
 *
 * <p>One {@link Resource} instance per container, cached by container id and by cgroup id; the
 * entries of a pod are dropped when the pod is deleted or its labels, annotations or owners
 * change. A resource built while an owner (ReplicaSet, Job) was not visible yet is rebuilt once
 * the owner caches change. Processes outside any pod get the host fallback's resource with
 * {@code k8s.node.name} (and {@code k8s.cluster.name}) added.
 *
 * <p>Attributes (OpenTelemetry semantic conventions): {@code k8s.cluster.name} (when set),
 * {@code k8s.node.name}, {@code k8s.namespace.name}, {@code k8s.pod.name}, {@code k8s.pod.uid},
 * {@code k8s.container.name}, {@code container.id}, {@code container.image.name}, {@code
 * container.image.tags}, the workload ({@code k8s.deployment.name}, {@code
 * k8s.replicaset.name}, {@code k8s.statefulset.name}, {@code k8s.daemonset.name}, {@code
 * k8s.job.name}, {@code k8s.cronjob.name}), {@code service.name}, {@code service.namespace},
 * {@code service.version}, {@code service.instance.id}, and every other
 * {@code resource.opentelemetry.io/<attribute>} pod annotation as {@code <attribute>}.
 *
 * <p>{@code service.name}: the process's {@code OTEL_SERVICE_NAME}, else the {@code
 * service.name} of its {@code OTEL_RESOURCE_ATTRIBUTES}, else {@link ServiceNaming}'s rule
 * (annotation, well-known labels, workload, pod name). {@code service.namespace}: the {@code
 * resource.opentelemetry.io/service.namespace} annotation, else the pod's namespace. {@code
 * service.version}: the process's {@code OTEL_RESOURCE_ATTRIBUTES}, else the annotation, else the
 * {@code app.kubernetes.io/version} label, else the image tag (unless "latest").
 *
 * <p>Metrics: {@code wirespan_k8s_lookups_total{lookup="container",result="hit|miss|host"}}.
 */
public final class PodResourceResolver implements ResourceResolver, AutoCloseable {
  /** Cgroups whose parse is remembered; past this the memo is cleared and rebuilt. */
  static final int MAX_CGROUP_ENTRIES = 65_536;
  /** Host-process resources whose node-annotated copy is remembered. */
  static final int MAX_HOST_RESOURCES = 4_096;

  static final String ENV_SERVICE_NAME = "OTEL_SERVICE_NAME";
  private static final Set<String> ENV_NAMES =
      Set.of(ENV_SERVICE_NAME, ResourceAttributesVariable.NAME);
  private static final String LATEST_TAG = "latest";
  private static final String POD_KEY_PREFIX = "pod/";

  private final KubernetesMetadata metadata;
  private final ResourceResolver hostFallback;
  @Nullable private final String clusterName;
  private final ProcessFiles files;

  private final ConcurrentHashMap<Long, Entry> byCgroup = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Entry> byContainer = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<Long, ContainerCgroup> parsedCgroups = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<Resource, Resource> hostResources = new ConcurrentHashMap<>();
  private final Counter hits;
  private final Counter misses;
  private final Counter hosts;
  private final Consumer<Pod> podChanges = this::forgetPod;

  /**
   * @param metadata the cluster view
   * @param hostFallback the resolver for processes outside any pod (the span stage's process
   *     resolver)
   * @param clusterName value of {@code k8s.cluster.name}, or null to leave it out
   * @param procRoot the host's proc file system ({@code /proc}, or e.g. {@code /host/proc})
   */
  public PodResourceResolver(
      KubernetesMetadata metadata,
      ResourceResolver hostFallback,
      @Nullable String clusterName,
      Path procRoot,
      AgentMetrics metrics) {
    this.metadata = Objects.requireNonNull(metadata, "metadata");
    this.hostFallback = Objects.requireNonNull(hostFallback, "hostFallback");
    this.clusterName = clusterName == null || clusterName.isBlank() ? null : clusterName;
    this.files = new ProcessFiles(procRoot);
    String help = "Kubernetes metadata lookups on the span path, by lookup and result.";
    hits = metrics.counter("wirespan_k8s_lookups_total", help, "lookup", "container", "result", "hit");
    misses = metrics.counter("wirespan_k8s_lookups_total", help, "lookup", "container", "result", "miss");
    hosts = metrics.counter("wirespan_k8s_lookups_total", help, "lookup", "container", "result", "host");
    metadata.addLocalPodChangeListener(podChanges);
  }

  /** Stops following pod changes; a resolver used for a while only (the start-up warm-up) ends so. */
  @Override
  public void close() {
    metadata.removeLocalPodChangeListener(podChanges);
  }

  @Override
  public Resource resolve(ConnectionInfo connection) {
    long cgroupId = connection.cgroupId();
    if (cgroupId != 0) {
      Entry entry = byCgroup.get(cgroupId);
      if (entry != null && entry.isCurrent(metadata)) {
        hits.inc();
        return entry.resource;
      }
    }
    return resolveSlowly(connection);
  }

  private Resource resolveSlowly(ConnectionInfo connection) {
    long cgroupId = connection.cgroupId();
    ContainerCgroup cgroup = cgroupId == 0 ? null : parsedCgroups.get(cgroupId);
    if (cgroup == null) {
      String text = files.cgroup(connection.pid());
      if (text == null) {
        // the process is gone or unreadable: nothing says it is in a pod
        hosts.inc();
        return hostResource(connection);
      }
      cgroup = CgroupParser.parseFile(text);
      if (cgroupId != 0) {
        if (parsedCgroups.size() >= MAX_CGROUP_ENTRIES) {
          parsedCgroups.clear();
        }
        parsedCgroups.put(cgroupId, cgroup);
      }
    }
    if (!cgroup.inContainer()) {
      hosts.inc();
      return hostResource(connection);
    }
    LocalContainer container =
        cgroup.containerId() == null ? null : metadata.containerById(cgroup.containerId());
    Entry entry;
    if (container != null) {
      entry = containerEntry(container, connection.pid());
    } else {
      Pod pod = cgroup.podUid() == null ? null : metadata.localPodByUid(cgroup.podUid());
      if (pod == null) {
        // a container the informer has not reported yet (just started) or not of this node
        misses.inc();
        return hostResource(connection);
      }
      entry = podEntry(pod, connection.pid());
    }
    misses.inc();
    if (cgroupId != 0 && container != null) {
      if (byCgroup.size() >= MAX_CGROUP_ENTRIES) {
        byCgroup.clear();
      }
      byCgroup.put(cgroupId, entry);
    }
    return entry.resource;
  }

  private Entry containerEntry(LocalContainer container, int pid) {
    Entry entry = byContainer.get(container.containerId());
    if (entry != null && entry.isCurrent(metadata)) {
      return entry;
    }
    Entry built = build(container.pod(), container, pid);
    byContainer.put(container.containerId(), built);
    return built;
  }

  private Entry podEntry(Pod pod, int pid) {
    String key = POD_KEY_PREFIX + pod.getMetadata().getUid();
    Entry entry = byContainer.get(key);
    if (entry != null && entry.isCurrent(metadata)) {
      return entry;
    }
    Entry built = build(pod, null, pid);
    byContainer.put(key, built);
    return built;
  }

  private Resource hostResource(ConnectionInfo connection) {
    Resource process = hostFallback.resolve(connection);
    Resource cached = hostResources.get(process);
    if (cached != null) {
      return cached;
    }
    AttributesBuilder b = Attributes.builder().put(K8S_NODE_NAME, metadata.nodeName());
    if (clusterName != null) {
      b.put(K8S_CLUSTER_NAME, clusterName);
    }
    Resource merged = process.merge(Resource.create(b.build()));
    if (hostResources.size() >= MAX_HOST_RESOURCES) {
      hostResources.clear();
    }
    Resource raced = hostResources.putIfAbsent(process, merged);
    return raced == null ? merged : raced;
  }

  private void forgetPod(Pod pod) {
    String uid = pod.getMetadata().getUid();
    byContainer.values().removeIf(e -> uid.equals(e.podUid));
    byCgroup.values().removeIf(e -> uid.equals(e.podUid));
  }

  /** Builds the resource of a container (or of the pod, when the container is not known). */
  private Entry build(Pod pod, @Nullable LocalContainer container, int pid) {
    ObjectMeta meta = pod.getMetadata();
    Map<String, String> labels = meta.getLabels() == null ? Map.of() : meta.getLabels();
    Map<String, String> annotations = meta.getAnnotations() == null ? Map.of() : meta.getAnnotations();
    Workload workload =
        metadata.workloadOf(
            meta.getNamespace(),
            ClusterObjects.controllerOf(meta),
            labels.get(ClusterObjects.LABEL_POD_TEMPLATE_HASH));

    AttributesBuilder b = Attributes.builder();
    // resource.opentelemetry.io/<attribute> annotations first: what is derived below wins where
    // the conventions give it its own source
    for (Map.Entry<String, String> a : annotations.entrySet()) {
      if (a.getKey().startsWith(ClusterObjects.ANNOTATION_RESOURCE_PREFIX) && a.getValue() != null) {
        String key = a.getKey().substring(ClusterObjects.ANNOTATION_RESOURCE_PREFIX.length());
        if (!key.isEmpty()) {
          b.put(AttributeKey.stringKey(key), a.getValue());
        }
      }
    }
    if (clusterName != null) {
      b.put(K8S_CLUSTER_NAME, clusterName);
    }
    b.put(K8S_NODE_NAME, metadata.nodeName());
    b.put(K8S_NAMESPACE_NAME, meta.getNamespace());
    b.put(K8S_POD_NAME, meta.getName());
    b.put(K8S_POD_UID, meta.getUid());
    putIfSet(b, K8S_DEPLOYMENT_NAME, workload.deployment());
    putIfSet(b, K8S_REPLICASET_NAME, workload.replicaSet());
    putIfSet(b, K8S_STATEFULSET_NAME, workload.statefulSet());
    putIfSet(b, K8S_DAEMONSET_NAME, workload.daemonSet());
    putIfSet(b, K8S_JOB_NAME, workload.job());
    putIfSet(b, K8S_CRONJOB_NAME, workload.cronJob());

    String imageTag = null;
    if (container != null) {
      b.put(K8S_CONTAINER_NAME, container.containerName());
      b.put(CONTAINER_ID, container.containerId());
      if (container.image() != null) {
        String[] image = splitImage(container.image());
        b.put(CONTAINER_IMAGE_NAME, image[0]);
        if (image[1] != null) {
          imageTag = image[1];
          b.put(CONTAINER_IMAGE_TAGS, List.of(imageTag));
        }
      }
    }

    Map<String, String> env = files.environment(pid, ENV_NAMES::contains);
    Map<String, String> envResource =
        ResourceAttributesVariable.parse(env.get(ResourceAttributesVariable.NAME));
    String serviceName =
        firstSet(
            env.get(ENV_SERVICE_NAME),
            envResource.get(ServiceAttributes.SERVICE_NAME.getKey()),
            ServiceNaming.logicalName(
                annotations.get(ClusterObjects.ANNOTATION_SERVICE_NAME),
                labels.get(ClusterObjects.LABEL_APP_INSTANCE),
                labels.get(ClusterObjects.LABEL_APP_NAME),
                workload,
                meta.getName()));
    String serviceNamespace =
        firstSet(annotations.get(ClusterObjects.ANNOTATION_SERVICE_NAMESPACE), meta.getNamespace());
    String serviceVersion =
        firstSet(
            envResource.get(ServiceAttributes.SERVICE_VERSION.getKey()),
            annotations.get(ClusterObjects.ANNOTATION_SERVICE_VERSION),
            labels.get(ClusterObjects.LABEL_APP_VERSION),
            LATEST_TAG.equals(imageTag) ? null : imageTag);
    b.put(ServiceAttributes.SERVICE_NAME, serviceName);
    b.put(SERVICE_NAMESPACE, serviceNamespace);
    putIfSet(b, ServiceAttributes.SERVICE_VERSION, serviceVersion);
    b.put(
        SERVICE_INSTANCE_ID,
        meta.getNamespace()
            + "."
            + meta.getName()
            + (container == null ? "" : "." + container.containerName()));

    Resource resource = Resource.create(b.build(), SchemaUrls.V1_39_0);
    boolean provisional = workload.viaFallback() || !metadata.ownerSourcesSynced();
    return new Entry(resource, meta.getUid(), provisional ? metadata.ownerGeneration() : Entry.FINAL);
  }

  /** Splits {@code registry:port/repo/name:tag@sha256:...} into name and tag (null if none). */
  static String[] splitImage(String image) {
    String withoutDigest = image;
    int at = image.indexOf('@');
    if (at >= 0) {
      withoutDigest = image.substring(0, at);
    }
    int slash = withoutDigest.lastIndexOf('/');
    int colon = withoutDigest.lastIndexOf(':');
    if (colon > slash) {
      return new String[] {withoutDigest.substring(0, colon), withoutDigest.substring(colon + 1)};
    }
    return new String[] {withoutDigest, null};
  }

  private static void putIfSet(AttributesBuilder b, AttributeKey<String> key, @Nullable String value) {
    if (value != null && !value.isEmpty()) {
      b.put(key, value);
    }
  }

  @Nullable
  private static String firstSet(@Nullable String... values) {
    for (String v : values) {
      if (ServiceNaming.notBlank(v)) {
        return v;
      }
    }
    return null;
  }

  /** A cached resource; provisional ones are rebuilt when the owner caches have changed. */
  private static final class Entry {
    static final long FINAL = -1;
    final Resource resource;
    final String podUid;
    final long provisionalAtOwnerGeneration;

    Entry(Resource resource, String podUid, long provisionalAtOwnerGeneration) {
      this.resource = resource;
      this.podUid = podUid;
      this.provisionalAtOwnerGeneration = provisionalAtOwnerGeneration;
    }

    boolean isCurrent(KubernetesMetadata metadata) {
      return provisionalAtOwnerGeneration == FINAL
          || provisionalAtOwnerGeneration == metadata.ownerGeneration();
    }
  }
}
