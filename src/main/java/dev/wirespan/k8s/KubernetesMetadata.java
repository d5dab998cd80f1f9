package dev.wirespan.k8s;

import dev.wirespan.process.CgroupParser;
import dev.wirespan.k8s.ClusterObjects.NodeEntry;
import dev.wirespan.k8s.ClusterObjects.OwnedObject;
import dev.wirespan.k8s.ClusterObjects.OwnerRef;
import dev.wirespan.k8s.ClusterObjects.PeerPod;
import dev.wirespan.k8s.ClusterObjects.ServiceEntry;
import dev.wirespan.k8s.ClusterObjects.SliceEntry;
import dev.wirespan.k8s.InformerStatus.State;
import dev.wirespan.metrics.AgentMetrics;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.EphemeralContainer;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.IntSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.annotation.Nullable;

/**
 * The agent's view of the cluster, kept by fabric8 informers (resync 0) and read by the span path
 * through plain map lookups only: the span path never calls the API server, so an API server that
 * is away, slow or refusing never stops or slows export. Informers list, watch, and after any
 * failure re-list and re-watch by themselves; {@link #status()} says how each stands.
 *
 * <p>Sources: the pods of this node in full detail (field selector {@code spec.nodeName}); all
 * pods of the cluster trimmed to name, namespace, uid, IPs, controlling owner and the labels and
 * annotation that name a service ({@link CompactStore}); ReplicaSets and Jobs trimmed to their
 * owner (for Deployment and CronJob); Services (cluster IPs); EndpointSlices (which addresses serve
 * which Service); Nodes (node addresses).
 *
 * <p>Metrics: {@code wirespan_k8s_informer_up{resource}} (1 when listed and watching) and
 * {@code wirespan_k8s_informer_objects{resource}} (objects cached).
 */
public final class KubernetesMetadata implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(KubernetesMetadata.class.getName());

  /** Page size of the informers' initial lists, so a large cluster is not listed in one reply. */
  static final long LIST_PAGE_SIZE = 500;

  /**
   * How long an informer may be between watches without a reported failure (fabric8 reconnects
   * dropped watches by itself) before it counts as failing.
   */
  private static final long WATCH_GAP_GRACE_NANOS = TimeUnit.SECONDS.toNanos(5);

  private static final String WATCH_LOST = "watch lost, reconnecting";

  /** Characters of an informer error kept for the status. */
  private static final int MAX_ERROR_CHARS = 200;

  static final String RESOURCE_LOCAL_PODS = "pods(node)";
  static final String RESOURCE_PODS = "pods";
  static final String RESOURCE_REPLICASETS = "replicasets";
  static final String RESOURCE_JOBS = "jobs";
  static final String RESOURCE_SERVICES = "services";
  static final String RESOURCE_ENDPOINTSLICES = "endpointslices";
  static final String RESOURCE_NODES = "nodes";

  static final String KIND_REPLICASET = "ReplicaSet";
  static final String KIND_DEPLOYMENT = "Deployment";
  static final String KIND_JOB = "Job";
  static final String KIND_CRONJOB = "CronJob";
  static final String KIND_STATEFULSET = "StatefulSet";
  static final String KIND_DAEMONSET = "DaemonSet";

  private final KubernetesClient client;
  private final boolean ownsClient;
  private final String nodeName;
  private volatile boolean closed;

  private final List<Source<?>> sources = new ArrayList<>();
  private final Source<Pod> localPodSource;
  private final Source<Pod> podSource;
  private final Source<ReplicaSet> replicaSetSource;
  private final Source<Job> jobSource;
  private final Source<Service> serviceSource;
  private final Source<EndpointSlice> sliceSource;
  private final Source<Node> nodeSource;

  // this node's pods
  private final ConcurrentHashMap<String, LocalContainer> containersById = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Pod> localPodsByUid = new ConcurrentHashMap<>();
  private final List<Consumer<Pod>> podChangeListeners = new CopyOnWriteArrayList<>();

  // cluster-wide, trimmed
  private final CompactStore<Pod, PeerPod> pods;
  private final CompactStore<ReplicaSet, OwnedObject> replicaSets;
  private final CompactStore<Job, OwnedObject> jobs;
  private final CompactStore<Service, ServiceEntry> services;
  private final CompactStore<EndpointSlice, SliceEntry> slices;
  private final CompactStore<Node, NodeEntry> nodes;
  private final AddressIndex<PeerPod> podsByIp = new AddressIndex<>();
  private final AddressIndex<ServiceEntry> servicesByClusterIp = new AddressIndex<>();
  private final AddressIndex<SliceEntry> slicesByAddress = new AddressIndex<>();
  private final AddressIndex<NodeEntry> nodesByAddress = new AddressIndex<>();

  private KubernetesMetadata(
      KubernetesClient client, boolean ownsClient, String nodeName, AgentMetrics metrics) {
    this.client = Objects.requireNonNull(client, "client");
    this.ownsClient = ownsClient;
    this.nodeName = Objects.requireNonNull(nodeName, "nodeName");
    Objects.requireNonNull(metrics, "metrics");

    pods = new CompactStore<>(Pod::new, PeerPod::of, this::podChanged);
    replicaSets = new CompactStore<>(ReplicaSet::new, OwnedObject::of, (k, b, a) -> {});
    jobs = new CompactStore<>(Job::new, OwnedObject::of, (k, b, a) -> {});
    services = new CompactStore<>(Service::new, ServiceEntry::of, this::serviceChanged);
    slices = new CompactStore<>(EndpointSlice::new, SliceEntry::of, this::sliceChanged);
    nodes = new CompactStore<>(Node::new, NodeEntry::of, this::nodeChanged);

    SharedIndexInformer<Pod> localPodInformer =
        client.pods().inAnyNamespace().withField("spec.nodeName", nodeName).runnableInformer(0);
    localPodInformer.addEventHandler(new LocalPodHandler());
    localPodSource = add(RESOURCE_LOCAL_PODS, localPodInformer);
    podSource =
        addTrimmed(
            RESOURCE_PODS,
            client.pods().inAnyNamespace().withLimit(LIST_PAGE_SIZE).runnableInformer(0),
            pods);
    replicaSetSource =
        addTrimmed(
            RESOURCE_REPLICASETS,
            client.apps().replicaSets().inAnyNamespace().withLimit(LIST_PAGE_SIZE)
                .runnableInformer(0),
            replicaSets);
    jobSource =
        addTrimmed(
            RESOURCE_JOBS,
            client.batch().v1().jobs().inAnyNamespace().withLimit(LIST_PAGE_SIZE)
                .runnableInformer(0),
            jobs);
    serviceSource =
        addTrimmed(
            RESOURCE_SERVICES,
            client.services().inAnyNamespace().withLimit(LIST_PAGE_SIZE).runnableInformer(0),
            services);
    sliceSource =
        addTrimmed(
            RESOURCE_ENDPOINTSLICES,
            client.discovery().v1().endpointSlices().inAnyNamespace().withLimit(LIST_PAGE_SIZE)
                .runnableInformer(0),
            slices);
    nodeSource =
        addTrimmed(
            RESOURCE_NODES, client.nodes().withLimit(LIST_PAGE_SIZE).runnableInformer(0), nodes);

    for (Source<?> source : sources) {
      metrics.gauge(
          "wirespan_k8s_informer_up",
          "1 when the Kubernetes informer has listed and is watching, else 0.",
          () -> source.state() == State.WATCHING ? 1 : 0,
          "resource",
          source.resource);
      metrics.gauge(
          "wirespan_k8s_informer_objects",
          "Objects in the Kubernetes informer's cache.",
          () -> source.objects(),
          "resource",
          source.resource);
    }
  }

  /**
   * Starts watching the cluster through {@code client} (which stays the caller's to close).
   * Returns at once: the informers list in the background; see {@link #awaitSynced}.
   */
  public static KubernetesMetadata start(
      KubernetesClient client, String nodeName, AgentMetrics metrics) {
    return startInternal(client, false, nodeName, metrics);
  }

  /**
   * Starts Kubernetes metadata as {@code --kubernetes} asks: empty for host mode (disabled, or
   * auto without a service account or kubeconfig, which logs one line saying so); throws
   * {@link IllegalStateException} when {@code enabled} finds no cluster configuration.
   */
  public static Optional<KubernetesMetadata> connect(
      KubernetesMode mode, ClusterAccess access, String nodeName, AgentMetrics metrics) {
    Objects.requireNonNull(mode, "mode");
    Objects.requireNonNull(access, "access");
    if (mode == KubernetesMode.DISABLED) {
      LOG.info("Kubernetes metadata disabled (--kubernetes disabled): spans carry host resources");
      return Optional.empty();
    }
    if (access == ClusterAccess.NONE) {
      if (mode == KubernetesMode.ENABLED) {
        throw new IllegalStateException(
            "--kubernetes enabled, but no cluster is configured: no service account token under "
                + ClusterAccess.SERVICE_ACCOUNT_DIR
                + " with KUBERNETES_SERVICE_HOST set, and no kubeconfig ($KUBECONFIG or"
                + " ~/.kube/config)");
      }
      LOG.info(
          "No Kubernetes cluster found (no service account, no kubeconfig): host mode, spans carry"
              + " host resources");
      return Optional.empty();
    }
    Config config = Config.autoConfigure(null);
    KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();
    LOG.info(
        "Kubernetes metadata from "
            + config.getMasterUrl()
            + " ("
            + (access == ClusterAccess.IN_CLUSTER ? "service account" : "kubeconfig")
            + "), node "
            + nodeName);
    return Optional.of(startInternal(client, true, nodeName, metrics));
  }

  private static KubernetesMetadata startInternal(
      KubernetesClient client, boolean ownsClient, String nodeName, AgentMetrics metrics) {
    KubernetesMetadata metadata = new KubernetesMetadata(client, ownsClient, nodeName, metrics);
    for (Source<?> source : metadata.sources) {
      source.start();
    }
    return metadata;
  }

  /** The node this agent runs on. */
  public String nodeName() {
    return nodeName;
  }

  /**
   * Waits until every informer has listed once, at most {@code timeout}. Never needed for
   * correctness (lookups answer "not known" until then); useful at start-up and in tests.
   *
   * @return whether all informers synced in time
   */
  public boolean awaitSynced(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (Source<?> source : sources) {
      long left = deadline - System.nanoTime();
      try {
        source.started.get(Math.max(0, left), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        return false;
      } catch (ExecutionException e) {
        return false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return true;
  }

  /** Per-informer health, for /readyz, /metrics and the status line. */
  public KubernetesStatus status() {
    List<InformerStatus> out = new ArrayList<>(sources.size());
    for (Source<?> source : sources) {
      out.add(source.status());
    }
    return new KubernetesStatus(out);
  }

  @Override
  public void close() {
    closed = true;
    for (Source<?> source : sources) {
      source.informer.stop();
    }
    if (ownsClient) {
      client.close();
    }
  }

  // ---- lookups: map reads only ----

  /** A container of this node's pods by its bare runtime id, or null. */
  @Nullable
  LocalContainer containerById(String containerId) {
    return containersById.get(containerId);
  }

  /** One of this node's pods by uid, or null. */
  @Nullable
  Pod localPodByUid(String uid) {
    return localPodsByUid.get(uid);
  }

  /** The pod holding the IP (newest first; hostNetwork and finished pods hold none), or null. */
  @Nullable
  PeerPod podByIp(InetAddress ip) {
    return podsByIp.newest(ip);
  }

  /** The Service whose cluster IP this is, or null. */
  @Nullable
  ServiceEntry serviceByClusterIp(InetAddress ip) {
    return servicesByClusterIp.newest(ip);
  }

  /** The names of the Services whose endpoint slices list this address, sorted, no duplicates. */
  List<String> serviceNamesServing(InetAddress ip, String namespace) {
    Object[] found = slicesByAddress.all(ip);
    if (found.length == 0) {
      return List.of();
    }
    List<String> names = new ArrayList<>(found.length);
    for (Object o : found) {
      SliceEntry slice = (SliceEntry) o;
      if (slice.serviceName() != null
          && slice.namespace().equals(namespace)
          && !names.contains(slice.serviceName())) {
        names.add(slice.serviceName());
      }
    }
    names.sort(null);
    return names;
  }

  /** The addresses listed by the endpoint slices of a Service. */
  List<InetAddress> endpointsOf(String namespace, String serviceName) {
    List<InetAddress> out = new ArrayList<>();
    for (SliceEntry slice : slices.records()) {
      if (serviceName.equals(slice.serviceName()) && namespace.equals(slice.namespace())) {
        for (InetAddress a : slice.addresses()) {
          out.add(a);
        }
      }
    }
    return out;
  }

  /** The node holding the address, or null. */
  @Nullable
  NodeEntry nodeByAddress(InetAddress ip) {
    return nodesByAddress.newest(ip);
  }

  /**
   * Whether the cluster-wide sources that peer lookups read (pods, services, endpoint slices,
   * nodes) have all listed: before that, "not found" means "not known yet".
   */
  boolean peerSourcesSynced() {
    return podSource.informer.hasSynced()
        && serviceSource.informer.hasSynced()
        && sliceSource.informer.hasSynced()
        && nodeSource.informer.hasSynced();
  }

  /** Whether the owner sources (ReplicaSets, Jobs) have listed. */
  boolean ownerSourcesSynced() {
    return replicaSetSource.informer.hasSynced() && jobSource.informer.hasSynced();
  }

  /** Count of changes to the cluster-wide caches: a cache built on them is stale when it moves. */
  long clusterGeneration() {
    return pods.changes()
        + replicaSets.changes()
        + jobs.changes()
        + services.changes()
        + slices.changes()
        + nodes.changes();
  }

  /** Count of changes to the owner caches. */
  long ownerGeneration() {
    return replicaSets.changes() + jobs.changes();
  }

  /** Called with a pod of this node when it is deleted or changes what its resource says. */
  void addLocalPodChangeListener(Consumer<Pod> listener) {
    podChangeListeners.add(Objects.requireNonNull(listener, "listener"));
  }

  /** Stops calling {@code listener} (the instance given to {@link #addLocalPodChangeListener}). */
  void removeLocalPodChangeListener(Consumer<Pod> listener) {
    podChangeListeners.remove(listener);
  }

  /**
   * The controllers of a pod, through owner references. A ReplicaSet or Job that is not visible
   * leaves the chain at the reference's name and kind; for a ReplicaSet, its Deployment is then
   * derived only by the documented last-resort rule: the Deployment controller names its
   * ReplicaSets {@code <deployment>-<pod-template-hash>}, so when the pod's {@code
   * pod-template-hash} label is the suffix of the ReplicaSet name, the prefix is the Deployment.
   */
  Workload workloadOf(String namespace, @Nullable OwnerRef owner, @Nullable String podTemplateHash) {
    if (owner == null) {
      return Workload.NONE;
    }
    switch (owner.kind()) {
      case KIND_REPLICASET:
        {
          OwnedObject rs = replicaSets.record(namespace + "/" + owner.name());
          if (rs != null) {
            OwnerRef top = rs.owner();
            if (top == null) {
              return new Workload(KIND_REPLICASET, owner.name(), null, owner.name(), null, null, null, null, false);
            }
            String deployment = KIND_DEPLOYMENT.equals(top.kind()) ? top.name() : null;
            return new Workload(top.kind(), top.name(), deployment, owner.name(), null, null, null, null, false);
          }
          String suffix = podTemplateHash == null ? null : "-" + podTemplateHash;
          if (suffix != null
              && owner.name().endsWith(suffix)
              && owner.name().length() > suffix.length()) {
            String deployment = owner.name().substring(0, owner.name().length() - suffix.length());
            return new Workload(KIND_DEPLOYMENT, deployment, deployment, owner.name(), null, null, null, null, true);
          }
          return new Workload(KIND_REPLICASET, owner.name(), null, owner.name(), null, null, null, null, true);
        }
      case KIND_JOB:
        {
          OwnedObject job = jobs.record(namespace + "/" + owner.name());
          if (job == null) {
            return new Workload(KIND_JOB, owner.name(), null, null, null, null, owner.name(), null, true);
          }
          OwnerRef top = job.owner();
          if (top != null && KIND_CRONJOB.equals(top.kind())) {
            return new Workload(KIND_CRONJOB, top.name(), null, null, null, null, owner.name(), top.name(), false);
          }
          return new Workload(KIND_JOB, owner.name(), null, null, null, null, owner.name(), null, false);
        }
      case KIND_STATEFULSET:
        return new Workload(KIND_STATEFULSET, owner.name(), null, null, owner.name(), null, null, null, false);
      case KIND_DAEMONSET:
        return new Workload(KIND_DAEMONSET, owner.name(), null, null, null, owner.name(), null, null, false);
      default:
        // another controller (e.g. a custom resource, or a static pod's Node): named as referenced
        return new Workload(owner.kind(), owner.name(), null, null, null, null, null, null, false);
    }
  }

  int clusterPodCount() {
    return pods.size();
  }

  // ---- index maintenance, on the informers' threads ----

  private void podChanged(String key, @Nullable PeerPod before, @Nullable PeerPod after) {
    if (before != null) {
      for (InetAddress ip : before.ips()) {
        podsByIp.remove(ip, before);
      }
    }
    if (after != null) {
      for (InetAddress ip : after.ips()) {
        podsByIp.add(ip, after);
      }
    }
  }

  private void serviceChanged(String key, @Nullable ServiceEntry before, @Nullable ServiceEntry after) {
    if (before != null) {
      for (InetAddress ip : before.clusterIps()) {
        servicesByClusterIp.remove(ip, before);
      }
    }
    if (after != null) {
      for (InetAddress ip : after.clusterIps()) {
        servicesByClusterIp.add(ip, after);
      }
    }
  }

  private void sliceChanged(String key, @Nullable SliceEntry before, @Nullable SliceEntry after) {
    if (before != null) {
      for (InetAddress ip : before.addresses()) {
        slicesByAddress.remove(ip, before);
      }
    }
    if (after != null) {
      for (InetAddress ip : after.addresses()) {
        slicesByAddress.add(ip, after);
      }
    }
  }

  private void nodeChanged(String key, @Nullable NodeEntry before, @Nullable NodeEntry after) {
    if (before != null) {
      for (InetAddress ip : before.addresses()) {
        nodesByAddress.remove(ip, before);
      }
    }
    if (after != null) {
      for (InetAddress ip : after.addresses()) {
        nodesByAddress.add(ip, after);
      }
    }
  }

  private <T> Source<T> add(String resource, SharedIndexInformer<T> informer) {
    Source<T> source = new Source<>(resource, informer, null);
    sources.add(source);
    return source;
  }

  private <T extends HasMetadata> Source<T> addTrimmed(
      String resource, SharedIndexInformer<T> informer, CompactStore<T, ?> store) {
    // no namespace index: lookups go through our own address and key maps
    Source<T> source =
        new Source<>(resource, informer.itemStore(store).removeNamespaceIndex(), store::size);
    sources.add(source);
    return source;
  }

  /** Keeps the container and pod maps of this node's pods. */
  private final class LocalPodHandler implements ResourceEventHandler<Pod> {
    @Override
    public void onAdd(Pod pod) {
      upsert(null, pod);
    }

    @Override
    public void onUpdate(Pod before, Pod after) {
      upsert(before, after);
    }

    @Override
    public void onDelete(Pod pod, boolean deletedFinalStateUnknown) {
      remove(pod);
    }

    private void upsert(@Nullable Pod before, Pod pod) {
      // The field selector already limits the list to this node; checked again so that a server
      // that ignores it (or a pod bound later) never puts another node's pods here.
      if (pod.getSpec() == null || !nodeName.equals(pod.getSpec().getNodeName())) {
        remove(pod);
        return;
      }
      String uid = pod.getMetadata().getUid();
      if (uid == null) {
        return;
      }
      Map<String, LocalContainer> now = containersOf(pod);
      Pod previous = localPodsByUid.put(uid, pod);
      Set<String> stale = new HashSet<>();
      if (previous != null) {
        stale.addAll(containersOf(previous).keySet());
        stale.removeAll(now.keySet());
      }
      containersById.putAll(now);
      for (String id : stale) {
        containersById.remove(id);
      }
      if (previous != null && (!stale.isEmpty() || resourceInputsDiffer(previous, pod))) {
        notifyChanged(previous);
      }
    }

    private void remove(Pod pod) {
      String uid = pod.getMetadata().getUid();
      if (uid == null) {
        return;
      }
      Pod previous = localPodsByUid.remove(uid);
      if (previous == null) {
        return;
      }
      for (String id : containersOf(previous).keySet()) {
        containersById.remove(id);
      }
      notifyChanged(previous);
    }

    private void notifyChanged(Pod pod) {
      for (Consumer<Pod> listener : podChangeListeners) {
        try {
          listener.accept(pod);
        } catch (RuntimeException e) {
          LOG.log(Level.WARNING, "pod change listener failed", e);
        }
      }
    }
  }

  /** Whether what a container's resource is made of (labels, annotations, owners) changed. */
  private static boolean resourceInputsDiffer(Pod a, Pod b) {
    return !Objects.equals(a.getMetadata().getLabels(), b.getMetadata().getLabels())
        || !Objects.equals(a.getMetadata().getAnnotations(), b.getMetadata().getAnnotations())
        || !Objects.equals(a.getMetadata().getOwnerReferences(), b.getMetadata().getOwnerReferences());
  }

  /** The pod's containers (regular, init and ephemeral) that have a runtime id, by that id. */
  static Map<String, LocalContainer> containersOf(Pod pod) {
    Map<String, LocalContainer> out = new java.util.HashMap<>();
    if (pod.getStatus() == null || pod.getSpec() == null) {
      return out;
    }
    Map<String, String> images = new java.util.HashMap<>();
    addImages(images, pod.getSpec().getContainers());
    addImages(images, pod.getSpec().getInitContainers());
    if (pod.getSpec().getEphemeralContainers() != null) {
      for (EphemeralContainer c : pod.getSpec().getEphemeralContainers()) {
        if (c.getName() != null && c.getImage() != null) {
          images.put(c.getName(), c.getImage());
        }
      }
    }
    addStatuses(out, pod, images, pod.getStatus().getContainerStatuses());
    addStatuses(out, pod, images, pod.getStatus().getInitContainerStatuses());
    addStatuses(out, pod, images, pod.getStatus().getEphemeralContainerStatuses());
    return out;
  }

  private static void addImages(Map<String, String> images, @Nullable List<Container> containers) {
    if (containers != null) {
      for (Container c : containers) {
        if (c.getName() != null && c.getImage() != null) {
          images.put(c.getName(), c.getImage());
        }
      }
    }
  }

  private static void addStatuses(
      Map<String, LocalContainer> out,
      Pod pod,
      Map<String, String> images,
      @Nullable List<ContainerStatus> statuses) {
    if (statuses == null) {
      return;
    }
    for (ContainerStatus status : statuses) {
      String id = CgroupParser.containerIdOfStatus(status.getContainerID());
      if (id != null && status.getName() != null) {
        String image = images.getOrDefault(status.getName(), status.getImage());
        out.put(id, new LocalContainer(pod, status.getName(), id, image));
      }
      // the previous instance of a restarted container may still be serving its last requests
      if (status.getLastState() != null
          && status.getLastState().getTerminated() != null
          && status.getName() != null) {
        String lastId = CgroupParser.containerIdOfStatus(status.getLastState().getTerminated().getContainerID());
        if (lastId != null && !out.containsKey(lastId)) {
          out.put(lastId, new LocalContainer(pod, status.getName(), lastId, images.get(status.getName())));
        }
      }
    }
  }

  /** One informer and what is known of its health. */
  private final class Source<T> {
    final String resource;
    final SharedIndexInformer<T> informer;
    final CompletableFuture<Void> started = new CompletableFuture<>();
    @Nullable final IntSupplier count;
    @Nullable volatile String lastError;
    volatile long failuresSinceWatch;
    volatile boolean reportedFailing;
    volatile long notWatchingSinceNanos;

    Source(String resource, SharedIndexInformer<T> informer, @Nullable IntSupplier count) {
      this.resource = resource;
      this.informer = informer;
      this.count = count;
      informer.exceptionHandler(
          (isStarted, error) -> {
            failed(error);
            // keep retrying (with fabric8's backoff) whatever the error: 403s get fixed by RBAC
            // changes, and an API server comes back
            return !closed;
          });
    }

    void start() {
      informer
          .start()
          .whenComplete(
              (v, error) -> {
                if (error == null) {
                  started.complete(null);
                } else {
                  started.completeExceptionally(error);
                }
              });
    }

    void failed(Throwable error) {
      String message = describe(error);
      lastError = message;
      failuresSinceWatch++;
      if (!reportedFailing) {
        reportedFailing = true;
        LOG.warning(
            "Kubernetes "
                + resource
                + " informer failing, retrying in the background; spans keep the metadata cached"
                + " so far: "
                + message);
      } else {
        LOG.fine(() -> "Kubernetes " + resource + " informer still failing: " + message);
      }
    }

    State state() {
      if (closed) {
        return State.STOPPED;
      }
      if (informer.isWatching()) {
        if (reportedFailing) {
          reportedFailing = false;
          LOG.info("Kubernetes " + resource + " informer recovered: listed and watching");
        }
        failuresSinceWatch = 0;
        notWatchingSinceNanos = 0;
        return State.WATCHING;
      }
      if (failuresSinceWatch > 0) {
        return State.FAILING;
      }
      // Not watching and no failure reported: the first list, the routine re-watch after a watch
      // timeout, or a dropped watch that fabric8 is reconnecting to without reporting failures.
      // Past the grace period it is counted as failing.
      long now = System.nanoTime();
      long since = notWatchingSinceNanos;
      if (since == 0) {
        notWatchingSinceNanos = now;
        return State.SYNCING;
      }
      if (informer.hasSynced() && now - since > WATCH_GAP_GRACE_NANOS) {
        if (lastError == null) {
          lastError = WATCH_LOST;
        }
        return State.FAILING;
      }
      return State.SYNCING;
    }

    int objects() {
      // the trimmed stores count without building the informer's skeleton objects
      return count == null ? informer.getStore().list().size() : count.getAsInt();
    }

    InformerStatus status() {
      return new InformerStatus(resource, state(), objects(), lastError);
    }
  }

  private static String describe(Throwable error) {
    Throwable t = error;
    while (t.getCause() != null && t.getCause() != t && t.getMessage() == null) {
      t = t.getCause();
    }
    String message = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
    // API server messages can be long (whole Status bodies); the status line needs the gist
    return message.length() > MAX_ERROR_CHARS
        ? message.substring(0, MAX_ERROR_CHARS) + "..."
        : message;
  }
}
