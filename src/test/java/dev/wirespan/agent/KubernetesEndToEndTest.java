package dev.wirespan.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.wirespan.k8s.MockCluster;
import dev.wirespan.testing.AgentProcess;
import dev.wirespan.testing.OtlpTestReceiver;
import dev.wirespan.testing.OtlpTestReceiver.ReceivedSpan;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The real agent with its real BPF programs, pointed by a kubeconfig at a mock API server
 * ({@link MockCluster}) that lists two pods of node {@code node-a}:
 *
 * <ul>
 *   <li>{@code shop/catalog-…}: a Python HTTP server bound to its pod IP 127.0.0.2 (and to
 *       127.0.0.4, the cluster IP of the Service {@code shop/catalog}: there is no kube-proxy here,
 *       so the pod answers on the Service address itself, which leaves the client's socket with the
 *       cluster IP as its peer, as kube-proxy's translation does);
 *   <li>{@code shop/frontend-…}: a Python HTTP client sending from its pod IP 127.0.0.3.
 * </ul>
 *
 * <p>Each process is moved into a cgroup v2 directory named as containerd's systemd driver names a
 * container's scope ({@code cri-containerd-<id>.scope}), whose id the pod's container status lists.
 * This test's JVM is the process outside any pod; the node's address is 127.0.0.1. Needs root
 * (BPF, cgroups); skipped otherwise, unless CI=true.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KubernetesEndToEndTest {
  /** How long one request's spans are waited for before the request is tried again. */
  private static final Duration SPAN_WAIT = Duration.ofSeconds(10);
  /**
   * Requests tried per check. The agent traces the whole host: under other load on it (the ring
   * buffer or the export queue full, each loss counted) a request's spans may be among those lost;
   * a fresh request then checks the same thing.
   */
  private static final int MAX_ATTEMPTS = 5;
  /** The metadata informers list at start, and re-watch with backoff after an outage. */
  private static final Duration METADATA_WAIT = Duration.ofSeconds(90);
  private static final Duration PROCESS_WAIT = Duration.ofSeconds(10);
  /** Time for duplicates, if any, to arrive before a span count is checked exactly. */
  private static final long SETTLE_MILLIS = 300;
  private static final long POLL_MILLIS = 50;
  private static final int CONTAINER_ID_BYTES = 32;

  private static final Path HYBRID_UNIFIED = Path.of("/sys/fs/cgroup/unified");
  private static final Path PURE_V2 = Path.of("/sys/fs/cgroup");

  private static final String NODE = "node-a";
  private static final String NODE_IP = "127.0.0.1";
  private static final String CLUSTER = "test-cluster";
  private static final String NAMESPACE = "shop";
  private static final String CATALOG_IP = "127.0.0.2";
  private static final String FRONTEND_IP = "127.0.0.3";
  private static final String CATALOG_SERVICE_IP = "127.0.0.4";
  private static final String CATALOG_DEPLOYMENT = "catalog";
  private static final String CATALOG_HASH = "5d8c7b9f4";
  private static final String CATALOG_REPLICASET = CATALOG_DEPLOYMENT + "-" + CATALOG_HASH;
  private static final String CATALOG_POD = CATALOG_REPLICASET + "-x2k9p";
  /** The catalog's app.kubernetes.io/name label: service.name prefers it to the workload. */
  private static final String CATALOG_APP = "catalog-api";
  private static final String CATALOG_SERVICE = "catalog";
  private static final String FRONTEND_DEPLOYMENT = "frontend";
  private static final String FRONTEND_HASH = "7c6d5f8b9";
  private static final String FRONTEND_REPLICASET = FRONTEND_DEPLOYMENT + "-" + FRONTEND_HASH;
  private static final String FRONTEND_POD = FRONTEND_REPLICASET + "-m4n7q";
  private static final String LABEL_APP_NAME = "app.kubernetes.io/name";
  private static final String LABEL_POD_TEMPLATE_HASH = "pod-template-hash";

  /** The catalog pod's server: one HTTP/1.1 server per address given, on one port. */
  private static final String SERVER_SCRIPT =
      """
      import http.server, sys, threading
      class Handler(http.server.BaseHTTPRequestHandler):
          protocol_version = "HTTP/1.1"
          def do_GET(self):
              body = b"catalog"
              self.send_response(200)
              self.send_header("Content-Type", "text/plain")
              self.send_header("Content-Length", str(len(body)))
              self.end_headers()
              self.wfile.write(body)
          def log_message(self, *args):
              pass
      port = int(sys.argv[1])
      servers = [http.server.ThreadingHTTPServer((a, port), Handler) for a in sys.argv[2:]]
      for s in servers[1:]:
          threading.Thread(target=s.serve_forever, daemon=True).start()
      print("ready", flush=True)
      servers[0].serve_forever()
      """;

  /** The frontend pod's client: one GET per URL read from stdin, from the given source address. */
  private static final String CLIENT_SCRIPT =
      """
      import http.client, sys, urllib.parse
      source = sys.argv[1]
      print("ready", flush=True)
      for line in sys.stdin:
          url = urllib.parse.urlsplit(line.strip())
          c = http.client.HTTPConnection(url.hostname, url.port, timeout=10, source_address=(source, 0))
          try:
              c.request("GET", url.path + ("?" + url.query if url.query else ""))
              r = c.getresponse()
              r.read()
              print(r.status, flush=True)
          except Exception as e:
              print("error", e, flush=True)
          finally:
              c.close()
      """;

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private final String catalogContainerId = randomContainerId();
  private final String frontendContainerId = randomContainerId();
  /** Pod uids as the API server assigned them. */
  private String catalogUid;
  private String frontendUid;
  private final List<Path> cgroups = new ArrayList<>();

  private MockCluster cluster;
  private OtlpTestReceiver receiver;
  private AgentProcess agent;
  private Process catalog;
  private Process frontend;
  private Writer frontendIn;
  private BufferedReader frontendOut;
  private int port;

  @BeforeAll
  void startPodsClusterAndAgent() throws Exception {
    AgentProcess.assumeBpfAvailable();
    Path cgroup2 = Files.exists(PURE_V2.resolve("cgroup.controllers")) ? PURE_V2 : HYBRID_UNIFIED;
    assertThat(cgroup2.resolve("cgroup.procs")).as("cgroup v2 mount").exists();
    Path testCgroup = createCgroup(cgroup2.resolve("wirespan-k8s-e2e-" + ProcessHandle.current().pid()));
    Path catalogScope = createCgroup(testCgroup.resolve("cri-containerd-" + catalogContainerId + ".scope"));
    Path frontendScope = createCgroup(testCgroup.resolve("cri-containerd-" + frontendContainerId + ".scope"));

    String python = pythonExecutable();
    port = AgentProcess.freePort();
    catalog =
        startPython(python, SERVER_SCRIPT, Integer.toString(port), CATALOG_IP, CATALOG_SERVICE_IP);
    moveInto(catalogScope, catalog, catalogContainerId);
    BufferedReader catalogOut =
        new BufferedReader(new InputStreamReader(catalog.getInputStream(), StandardCharsets.UTF_8));
    assertThat(catalogOut.readLine()).as("catalog server started").isEqualTo("ready");
    frontend = startPython(python, CLIENT_SCRIPT, FRONTEND_IP);
    moveInto(frontendScope, frontend, frontendContainerId);
    frontendIn = new OutputStreamWriter(frontend.getOutputStream(), StandardCharsets.UTF_8);
    frontendOut =
        new BufferedReader(new InputStreamReader(frontend.getInputStream(), StandardCharsets.UTF_8));
    assertThat(frontendOut.readLine()).as("frontend client started").isEqualTo("ready");

    cluster = MockCluster.start();
    cluster.node(NODE, NODE_IP);
    cluster.replicaSet(NAMESPACE, CATALOG_REPLICASET, CATALOG_DEPLOYMENT);
    cluster.replicaSet(NAMESPACE, FRONTEND_REPLICASET, FRONTEND_DEPLOYMENT);
    catalogUid = catalogPod(CATALOG_APP).create().getMetadata().getUid();
    frontendUid =
        cluster
            .pod(NAMESPACE, FRONTEND_POD)
            .node(NODE)
            .ip(FRONTEND_IP)
            .label(LABEL_POD_TEMPLATE_HASH, FRONTEND_HASH)
            .owner("ReplicaSet", FRONTEND_REPLICASET)
            .container("web", "ghcr.io/shop/frontend:1.4.2", frontendContainerId)
            .create()
            .getMetadata()
            .getUid();
    cluster.service(NAMESPACE, CATALOG_SERVICE, CATALOG_SERVICE_IP);
    cluster.endpointSlice(NAMESPACE, CATALOG_SERVICE, CATALOG_IP);

    Path kubeconfig = Files.createTempFile("wirespan-kubeconfig", ".yaml");
    Files.writeString(kubeconfig, kubeconfig(cluster.port()));
    receiver = OtlpTestReceiver.startGrpc();
    try {
      agent =
          AgentProcess.start(
              List.of(
                  "--exporter", "otlp",
                  "--otlp-endpoint", receiver.endpoint(),
                  "--kubernetes", "enabled",
                  "--node-name", NODE,
                  "--cluster-name", CLUSTER),
              Map.of("KUBECONFIG", kubeconfig.toString()));
    } finally {
      Files.delete(kubeconfig); // read once, at start
    }
    awaitReadiness("kubernetes metadata up");
  }

  @AfterAll
  void stopEverything() throws Exception {
    try {
      if (agent != null) {
        agent.close();
      }
    } finally {
      try {
        for (Process p : new Process[] {frontend, catalog}) {
          if (p != null) {
            p.destroy();
            if (!p.waitFor(PROCESS_WAIT.toSeconds(), TimeUnit.SECONDS)) {
              p.destroyForcibly().waitFor();
            }
          }
        }
      } finally {
        // innermost first; a cgroup can be removed once its processes have left it
        for (int i = cgroups.size() - 1; i >= 0; i--) {
          Path cgroup = cgroups.get(i);
          await().atMost(PROCESS_WAIT).untilAsserted(() -> {
            Files.deleteIfExists(cgroup);
            assertThat(cgroup).doesNotExist();
          });
        }
        if (cluster != null) {
          cluster.close();
        }
        if (receiver != null) {
          receiver.close();
        }
      }
    }
  }

  @Test
  @Order(1)
  void podToPodRequestGivesSpansWithBothPodsResourcesAndPeers() throws Exception {
    Exchange spans = exchange(token -> frontendGet(CATALOG_IP, token));
    ReceivedSpan server = spans.server();
    ReceivedSpan client = spans.client();

    assertCatalogResource(server, CATALOG_APP);
    assertThat(server.attribute("network.peer.address")).hasValue(FRONTEND_IP);
    assertFrontendPeer(server);

    assertFrontendResource(client);
    assertThat(client.attribute("network.peer.address")).hasValue(CATALOG_IP);
    // to a pod IP: the peer is the pod, with the Service whose EndpointSlice lists it
    assertThat(client.attribute("wirespan.peer.kind")).hasValue("pod");
    assertThat(client.attribute("wirespan.peer.k8s.pod.name")).hasValue(CATALOG_POD);
    assertThat(client.attribute("wirespan.peer.k8s.namespace.name")).hasValue(NAMESPACE);
    assertThat(client.attribute("wirespan.peer.k8s.workload.name")).hasValue(CATALOG_DEPLOYMENT);
    assertThat(client.attribute("wirespan.peer.k8s.workload.kind")).hasValue("Deployment");
    assertThat(client.attribute("wirespan.peer.k8s.service.name")).hasValue(CATALOG_SERVICE);
    assertThat(client.attribute("wirespan.peer.k8s.node.name")).hasValue(NODE);
    assertThat(client.attribute("wirespan.peer.k8s.same_node")).hasValue("true");
    assertThat(client.attribute("peer.service")).hasValue(CATALOG_APP);
    assertThat(client.attribute("service.peer.name")).hasValue(CATALOG_APP);
    assertThat(client.attribute("service.peer.namespace")).hasValue(NAMESPACE);

    // same-host pair: the SERVER span is the CLIENT span's child
    assertThat(server.traceId()).isEqualTo(client.traceId());
    assertThat(server.parentSpanId()).isEqualTo(client.spanId());
  }

  @Test
  @Order(2)
  void requestToTheServiceClusterIpNamesTheServiceAsPeer() throws Exception {
    Exchange spans = exchange(token -> frontendGet(CATALOG_SERVICE_IP, token));
    ReceivedSpan client = spans.client();
    ReceivedSpan server = spans.server();

    assertFrontendResource(client);
    assertThat(client.attribute("network.peer.address")).hasValue(CATALOG_SERVICE_IP);
    assertThat(client.attribute("wirespan.peer.kind")).hasValue("service");
    assertThat(client.attribute("wirespan.peer.k8s.service.name")).hasValue(CATALOG_SERVICE);
    assertThat(client.attribute("wirespan.peer.k8s.namespace.name")).hasValue(NAMESPACE);
    // the logical name the Service's endpoint pods share, as their own SERVER spans name it
    assertThat(client.attribute("peer.service")).hasValue(CATALOG_APP);
    assertThat(client.attribute("wirespan.peer.k8s.pod.name")).isEmpty();

    assertCatalogResource(server, CATALOG_APP);
    assertFrontendPeer(server);
  }

  @Test
  @Order(3)
  void processOutsideAnyPodGetsTheHostResourceAndIsTheHostAsPeer() throws Exception {
    Exchange spans =
        exchange(
            token -> {
              HttpResponse<String> response =
                  http.send(
                      HttpRequest.newBuilder(URI.create("http://" + CATALOG_IP + ":" + port + "/items/" + token))
                          .timeout(PROCESS_WAIT)
                          .build(),
                      HttpResponse.BodyHandlers.ofString());
              assertThat(response.statusCode()).isEqualTo(200);
            });
    ReceivedSpan client = spans.client();
    ReceivedSpan server = spans.server();

    // this JVM: the process resource, plus the node and cluster, and nothing of a pod
    assertThat(client.resourceAttribute("process.pid")).hasValue(Long.toString(ProcessHandle.current().pid()));
    assertThat(client.resourceAttribute("k8s.node.name")).hasValue(NODE);
    assertThat(client.resourceAttribute("k8s.cluster.name")).hasValue(CLUSTER);
    assertThat(client.resourceAttribute("k8s.pod.name")).isEmpty();
    assertThat(client.resourceAttribute("k8s.namespace.name")).isEmpty();
    assertThat(client.resourceAttribute("container.id")).isEmpty();
    assertThat(client.attribute("wirespan.peer.kind")).hasValue("pod");
    assertThat(client.attribute("wirespan.peer.k8s.pod.name")).hasValue(CATALOG_POD);

    // the catalog sees the node's own address: "host", not a pod, never a guessed name
    assertCatalogResource(server, CATALOG_APP);
    assertThat(server.attribute("network.peer.address")).hasValue(NODE_IP);
    assertThat(server.attribute("wirespan.peer.kind")).hasValue("host");
    assertThat(server.attribute("wirespan.peer.k8s.node.name")).hasValue(NODE);
    assertThat(server.attribute("wirespan.peer.k8s.pod.name")).isEmpty();
    assertThat(server.attribute("peer.service")).isEmpty();
  }

  @Test
  @Order(4)
  void apiServerOutageKeepsSpansFlowingWithCachedMetadataAndRecovers() throws Exception {
    cluster.stopServer();
    awaitReadiness("kubernetes metadata degraded");

    Exchange spans = exchange(token -> frontendGet(CATALOG_IP, token));
    ReceivedSpan server = spans.server();
    ReceivedSpan client = spans.client();
    assertCatalogResource(server, CATALOG_APP);
    assertFrontendPeer(server);
    assertFrontendResource(client);
    assertThat(client.attribute("wirespan.peer.k8s.pod.name")).hasValue(CATALOG_POD);
    assertThat(agent.get("/readyz").statusCode()).as("degraded metadata is not unready").isEqualTo(200);

    cluster.restartServer();
    awaitReadiness("kubernetes metadata up");
    // the watches are live again: a change made now reaches the spans
    String renamed = CATALOG_APP + "-v2";
    // a relabelled pod keeps its uid
    assertThat(catalogPod(renamed).create().getMetadata().getUid()).isEqualTo(catalogUid);
    await()
        .atMost(METADATA_WAIT)
        .pollInterval(Duration.ofMillis(SETTLE_MILLIS))
        .untilAsserted(() -> {
          Exchange after = exchange(token -> frontendGet(CATALOG_IP, token));
          assertThat(after.server().resourceAttribute("service.name")).hasValue(renamed);
          assertThat(after.client().attribute("peer.service")).hasValue(renamed);
        });
  }

  // ---- expectations ----

  private void assertCatalogResource(ReceivedSpan span, String serviceName) {
    assertThat(span.resourceAttribute("k8s.cluster.name")).hasValue(CLUSTER);
    assertThat(span.resourceAttribute("k8s.node.name")).hasValue(NODE);
    assertThat(span.resourceAttribute("k8s.namespace.name")).hasValue(NAMESPACE);
    assertThat(span.resourceAttribute("k8s.pod.name")).hasValue(CATALOG_POD);
    assertThat(span.resourceAttribute("k8s.pod.uid")).hasValue(catalogUid);
    assertThat(span.resourceAttribute("k8s.container.name")).hasValue("catalog");
    assertThat(span.resourceAttribute("container.id")).hasValue(catalogContainerId);
    assertThat(span.resourceAttribute("container.image.name")).hasValue("ghcr.io/shop/catalog");
    assertThat(span.resourceAttribute("k8s.deployment.name")).hasValue(CATALOG_DEPLOYMENT);
    assertThat(span.resourceAttribute("k8s.replicaset.name")).hasValue(CATALOG_REPLICASET);
    // precedence: no OTEL_SERVICE_NAME in the process, no annotation, no instance label: the
    // app.kubernetes.io/name label, ahead of the Deployment
    assertThat(span.resourceAttribute("service.name")).hasValue(serviceName);
    assertThat(span.resourceAttribute("service.namespace")).hasValue(NAMESPACE);
    assertThat(span.resourceAttribute("service.version")).hasValue("3.1.0");
    assertThat(span.resourceAttribute("service.instance.id"))
        .hasValue(NAMESPACE + "." + CATALOG_POD + ".catalog");
  }

  private void assertFrontendResource(ReceivedSpan span) {
    assertThat(span.resourceAttribute("k8s.cluster.name")).hasValue(CLUSTER);
    assertThat(span.resourceAttribute("k8s.node.name")).hasValue(NODE);
    assertThat(span.resourceAttribute("k8s.namespace.name")).hasValue(NAMESPACE);
    assertThat(span.resourceAttribute("k8s.pod.name")).hasValue(FRONTEND_POD);
    assertThat(span.resourceAttribute("k8s.pod.uid")).hasValue(frontendUid);
    assertThat(span.resourceAttribute("k8s.container.name")).hasValue("web");
    assertThat(span.resourceAttribute("container.id")).hasValue(frontendContainerId);
    assertThat(span.resourceAttribute("k8s.deployment.name")).hasValue(FRONTEND_DEPLOYMENT);
    assertThat(span.resourceAttribute("k8s.replicaset.name")).hasValue(FRONTEND_REPLICASET);
    // no labels or annotations: the workload at the top of the owner chain
    assertThat(span.resourceAttribute("service.name")).hasValue(FRONTEND_DEPLOYMENT);
  }

  /** The frontend pod as the peer of a catalog SERVER span. */
  private static void assertFrontendPeer(ReceivedSpan server) {
    assertThat(server.attribute("wirespan.peer.kind")).hasValue("pod");
    assertThat(server.attribute("wirespan.peer.k8s.pod.name")).hasValue(FRONTEND_POD);
    assertThat(server.attribute("wirespan.peer.k8s.namespace.name")).hasValue(NAMESPACE);
    assertThat(server.attribute("wirespan.peer.k8s.workload.name")).hasValue(FRONTEND_DEPLOYMENT);
    assertThat(server.attribute("wirespan.peer.k8s.workload.kind")).hasValue("Deployment");
    assertThat(server.attribute("wirespan.peer.k8s.service.name")).isEmpty(); // no Service selects it
    assertThat(server.attribute("wirespan.peer.k8s.same_node")).hasValue("true");
    assertThat(server.attribute("peer.service")).hasValue(FRONTEND_DEPLOYMENT);
    assertThat(server.attribute("service.peer.name")).hasValue(FRONTEND_DEPLOYMENT);
  }

  // ---- helpers ----

  private MockCluster.MockPod catalogPod(String appName) {
    return cluster
        .pod(NAMESPACE, CATALOG_POD)
        .uid(catalogUid)
        .node(NODE)
        .ip(CATALOG_IP)
        .label(LABEL_APP_NAME, appName)
        .label(LABEL_POD_TEMPLATE_HASH, CATALOG_HASH)
        .owner("ReplicaSet", CATALOG_REPLICASET)
        .container("catalog", "ghcr.io/shop/catalog:3.1.0", catalogContainerId);
  }

  /** Has the frontend pod GET {@code /items/<token>} from the catalog at {@code address}. */
  private void frontendGet(String address, String token) throws IOException {
    frontendIn.write("http://" + address + ":" + port + "/items/" + token + "\n");
    frontendIn.flush();
    assertThat(frontendOut.readLine()).as("frontend client's status").isEqualTo("200");
  }

  private void awaitReadiness(String text) {
    await()
        .atMost(METADATA_WAIT)
        .pollInterval(Duration.ofMillis(SETTLE_MILLIS))
        .untilAsserted(() -> assertThat(agent.get("/readyz").body()).contains(text));
  }

  /** One request's two spans, as the catalog and its client report it. */
  private record Exchange(ReceivedSpan server, ReceivedSpan client) {}

  /** Sends a request whose path holds the token it is given. */
  @FunctionalInterface
  private interface Request {
    void send(String token) throws Exception;
  }

  /**
   * Sends the request and returns its SERVER and CLIENT spans, exactly one of each (checked once
   * no more arrive); tries a fresh request when they were lost to other load on the host.
   */
  private Exchange exchange(Request request) throws Exception {
    Predicate<ReceivedSpan> ofRequest = s -> false;
    List<ReceivedSpan> found = List.of();
    for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      receiver.clear(); // the host's other traffic is exported too: keep the search short
      String token = token();
      ofRequest = s -> s.attribute("url.path").or(() -> s.attribute("url.full")).map(p -> p.contains(token)).orElse(false);
      request.send(token);
      long deadline = System.nanoTime() + SPAN_WAIT.toNanos();
      while (System.nanoTime() < deadline) {
        found = receiver.spans().stream().filter(ofRequest).toList();
        if (found.size() >= 2) {
          Thread.sleep(SETTLE_MILLIS);
          found = receiver.spans().stream().filter(ofRequest).toList();
          assertThat(found).as("spans of one request (agent output:\n%s)", agent.output()).hasSize(2);
          return new Exchange(
              only(found, Span.SpanKind.SPAN_KIND_SERVER), only(found, Span.SpanKind.SPAN_KIND_CLIENT));
        }
        Thread.sleep(POLL_MILLIS);
      }
    }
    throw new AssertionError(
        "no request of " + MAX_ATTEMPTS + " gave its 2 spans; the last gave " + found
            + "\nagent output:\n" + agent.output()
            + "\nagent losses and metadata lookups:\n"
            + agent.get("/metrics").body().lines()
                .filter(l -> l.startsWith("wirespan_lost_total") || l.startsWith("wirespan_k8s_"))
                .collect(java.util.stream.Collectors.joining("\n")));
  }

  private static ReceivedSpan only(List<ReceivedSpan> spans, Span.SpanKind kind) {
    List<ReceivedSpan> ofKind = spans.stream().filter(s -> s.kind() == kind).toList();
    assertThat(ofKind).as("%s spans in %s", kind, spans).hasSize(1);
    return ofKind.get(0);
  }

  private Path createCgroup(Path path) throws IOException {
    Files.createDirectory(path);
    cgroups.add(path);
    return path;
  }

  private static void moveInto(Path scope, Process process, String containerId) throws IOException {
    Files.writeString(scope.resolve("cgroup.procs"), Long.toString(process.pid()));
    assertThat(Files.readString(Path.of("/proc", Long.toString(process.pid()), "cgroup")))
        .contains("cri-containerd-" + containerId + ".scope");
  }

  private static Process startPython(String python, String script, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(python, "-c", script));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
    // the service name must come from the pod, not from this test's environment
    pb.environment().remove("OTEL_SERVICE_NAME");
    pb.environment().remove("OTEL_RESOURCE_ATTRIBUTES");
    return pb.start();
  }

  /** The interpreter itself (not a version manager's shim), so the started pid is the server's. */
  private static String pythonExecutable() throws IOException, InterruptedException {
    Process p = new ProcessBuilder("python3", "-c", "import sys; print(sys.executable)").start();
    String path = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertThat(p.waitFor(PROCESS_WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("python3 available").isZero();
    return path;
  }

  private static String kubeconfig(int apiPort) {
    return """
        apiVersion: v1
        kind: Config
        clusters:
          - name: test
            cluster:
              server: http://127.0.0.1:%d
        users:
          - name: test
            user: {}
        contexts:
          - name: test
            context:
              cluster: test
              user: test
              namespace: default
        current-context: test
        """
        .formatted(apiPort);
  }

  private static String randomContainerId() {
    byte[] random = new byte[CONTAINER_ID_BYTES];
    ThreadLocalRandom.current().nextBytes(random);
    return HexFormat.of().formatHex(random);
  }

  private static String token() {
    return UUID.randomUUID().toString().substring(0, 8);
  }
}
