package dev.wirespan.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The example manifests are valid Kubernetes objects that fit together with the chart. */
class ExamplesTest {
  private static final Path EXAMPLES = Repository.path("examples");
  /** Helm values files among the examples: input of the chart, not Kubernetes objects. */
  private static final String VALUES_FILE = "values.yaml";
  /** The release and namespace the example READMEs install the chart as. */
  private static final String RELEASE = "wirespan";
  private static final String RELEASE_NAMESPACE = "wirespan";
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  /** repository[:tag][@digest]; a tag is what we require (a digest alone is fine too). */
  private static final Pattern TAGGED_IMAGE = Pattern.compile("^[^@]+:[^/:@]+(@sha256:[0-9a-f]{64})?$|^[^@]+@sha256:[0-9a-f]{64}$");
  private static final Pattern HOST_PORT = Pattern.compile("([a-z0-9-]+(?:\\.[a-z0-9-]+)*):(\\d+)");

  static List<Path> manifests() {
    try (Stream<Path> files = Files.walk(EXAMPLES)) {
      return files
          .filter(p -> p.toString().endsWith(".yaml"))
          .filter(p -> !p.getFileName().toString().equals(VALUES_FILE))
          .sorted()
          .collect(Collectors.toList());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Test
  void thereAreManifestsForTheDemoJaegerAndTempo() {
    assertThat(manifests().stream().map(p -> EXAMPLES.relativize(p).toString()))
        .contains(
            "demo-app/demo-app.yaml",
            "jaeger/jaeger.yaml",
            "tempo/tempo.yaml",
            "tempo/prometheus.yaml",
            "tempo/grafana.yaml");
    assertThat(EXAMPLES.resolve("jaeger/README.md")).isRegularFile();
    assertThat(EXAMPLES.resolve("tempo/README.md")).isRegularFile();
  }

  @ParameterizedTest
  @MethodSource("manifests")
  void everyDocumentIsAValidKubernetesObject(Path file) throws IOException {
    List<HasMetadata> objects = Manifests.parse(Files.readString(file));
    assertThat(objects).as("%s", file).isNotEmpty();
    for (HasMetadata o : objects) {
      if (!o.getKind().equals("Namespace")) {
        assertThat(o.getMetadata().getNamespace()).as("namespace of %s in %s", o.getKind(), file).isNotBlank();
      }
    }
  }

  @ParameterizedTest
  @MethodSource("manifests")
  void everyImageHasATag(Path file) throws IOException {
    List<String> images = new ArrayList<>();
    for (HasMetadata o : Manifests.parse(Files.readString(file))) {
      PodSpec pod = podSpec(o);
      if (pod != null) {
        Stream.concat(pod.getContainers().stream(), pod.getInitContainers().stream())
            .map(Container::getImage)
            .forEach(images::add);
      }
    }
    assertThat(images).allSatisfy(image -> {
      assertThat(image).as("image in %s", file).matches(TAGGED_IMAGE);
      assertThat(image).as("image in %s", file).doesNotEndWith(":latest");
    });
  }

  @Test
  void theImageCheckCatchesAnUntaggedImage() {
    assertThat("nginx").doesNotMatch(TAGGED_IMAGE);
    assertThat("registry.local:5000/team/nginx").doesNotMatch(TAGGED_IMAGE);
    assertThat("registry.local:5000/team/nginx:1.27").matches(TAGGED_IMAGE);
    assertThat("nginx@sha256:" + "a".repeat(64)).matches(TAGGED_IMAGE);
  }

  @Test
  void theValidityCheckCatchesMisspeltAndMistypedFields() {
    String misspelt =
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"
            + "    - name: c\n      image: nginx:1.27\n      imagePullPolicyy: Always\n";
    assertThatThrownBy(() -> Manifests.parse(misspelt)).hasMessageContaining("not understood");
    String mistyped =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - port: [80]\n";
    // A value of the wrong type fails in Jackson already.
    assertThatThrownBy(() -> Manifests.parse(mistyped)).hasStackTraceContaining("Cannot deserialize");
  }

  @Test
  void nginxProxiesToDemoServicesThatExist() throws IOException {
    List<HasMetadata> demo = Manifests.parse(Files.readString(EXAMPLES.resolve("demo-app/demo-app.yaml")));
    String conf =
        demo.stream()
            .filter(ConfigMap.class::isInstance)
            .map(o -> ((ConfigMap) o).getData().get("default.conf"))
            .findFirst()
            .orElseThrow();
    Matcher m = Pattern.compile("server\\s+" + HOST_PORT.pattern() + ";").matcher(conf);
    int upstreams = 0;
    while (m.find()) {
      assertServiceExists(demo, m.group(1), "wirespan-demo", Integer.parseInt(m.group(2)));
      upstreams++;
    }
    assertThat(upstreams).isEqualTo(2);
    // The load generator calls the frontend Service on its port 80.
    assertServiceExists(demo, "frontend", "wirespan-demo", 80);
  }

  @ParameterizedTest
  @ValueSource(strings = {"jaeger", "tempo"})
  void exampleValuesDeployTheMatchingCollectorPointedAtTheExampleBackend(String backend) throws IOException {
    RenderedChart chart = RenderedChart.render(RELEASE, RELEASE_NAMESPACE, EXAMPLES.resolve(backend + "/" + VALUES_FILE));
    ConfigMap collectorConfig =
        chart.all(ConfigMap.class).stream()
            .filter(c -> c.getData().containsKey("collector.yaml"))
            .findFirst()
            .orElseThrow();
    assertThat(collectorConfig.getData().get("collector.yaml").strip())
        .isEqualTo(Files.readString(Repository.path("otel-collector/" + backend + ".yaml")).strip());
    Container collector = chart.one(Deployment.class).getSpec().getTemplate().getSpec().getContainers().get(0);
    String endpoint =
        collector.getEnv().stream()
            .filter(e -> e.getName().equals("BACKEND_OTLP_ENDPOINT"))
            .map(EnvVar::getValue)
            .findFirst()
            .orElseThrow();
    Matcher m = HOST_PORT.matcher(endpoint);
    assertThat(m.matches()).as(endpoint).isTrue();
    String[] serviceAndNamespace = m.group(1).split("\\.");
    List<HasMetadata> backendObjects = Manifests.parse(Files.readString(EXAMPLES.resolve(backend + "/" + backend + ".yaml")));
    assertServiceExists(backendObjects, serviceAndNamespace[0], serviceAndNamespace[1], Integer.parseInt(m.group(2)));
    assertThat(chart.one(DaemonSet.class).getMetadata().getName()).isEqualTo(RELEASE);
  }

  @Test
  void prometheusScrapesTheServicesTheChartCreates() throws IOException {
    RenderedChart chart = RenderedChart.render(RELEASE, RELEASE_NAMESPACE, EXAMPLES.resolve("tempo/" + VALUES_FILE));
    String config = configMapEntry(EXAMPLES.resolve("tempo/prometheus.yaml"), "prometheus.yml");
    JsonNode prometheus = YAML.readTree(config);
    List<String> targets = new ArrayList<>();
    prometheus.path("scrape_configs").forEach(job -> {
      job.path("static_configs").forEach(s -> s.path("targets").forEach(t -> targets.add(t.asText())));
      job.path("dns_sd_configs").forEach(d -> d.path("names").forEach(n -> targets.add(n.asText() + ":" + d.path("port").asInt())));
    });
    assertThat(targets).hasSize(2);
    for (String target : targets) {
      Matcher m = HOST_PORT.matcher(target);
      assertThat(m.matches()).as(target).isTrue();
      String[] parts = m.group(1).split("\\.");
      assertThat(parts).as(target).hasSize(3);
      assertThat(parts[2]).isEqualTo("svc");
      assertServiceExists(chart.objects, parts[0], parts[1], Integer.parseInt(m.group(2)));
    }
  }

  @Test
  void grafanaServiceMapUsesTheProvisionedPrometheus() throws IOException {
    JsonNode provisioning = YAML.readTree(configMapEntry(EXAMPLES.resolve("tempo/grafana.yaml"), "datasources.yaml"));
    Map<String, JsonNode> byType = new java.util.HashMap<>();
    provisioning.path("datasources").forEach(d -> byType.put(d.path("type").asText(), d));
    assertThat(byType).containsKeys("tempo", "prometheus");
    assertThat(byType.get("tempo").path("jsonData").path("serviceMap").path("datasourceUid").asText())
        .isEqualTo(byType.get("prometheus").path("uid").asText());
    List<HasMetadata> observability = new ArrayList<>();
    for (String f : List.of("tempo.yaml", "prometheus.yaml")) {
      observability.addAll(Manifests.parse(Files.readString(EXAMPLES.resolve("tempo/" + f))));
    }
    for (JsonNode d : byType.values()) {
      Matcher m = Pattern.compile("http://" + HOST_PORT.pattern()).matcher(d.path("url").asText());
      assertThat(m.matches()).as(d.path("url").asText()).isTrue();
      String[] parts = m.group(1).split("\\.");
      assertServiceExists(observability, parts[0], parts[1], Integer.parseInt(m.group(2)));
    }
  }

  private static String configMapEntry(Path file, String key) throws IOException {
    return Manifests.parse(Files.readString(file)).stream()
        .filter(ConfigMap.class::isInstance)
        .map(o -> ((ConfigMap) o).getData().get(key))
        .filter(v -> v != null)
        .findFirst()
        .orElseThrow(() -> new AssertionError(key + " in " + file));
  }

  private static void assertServiceExists(List<HasMetadata> objects, String name, String namespace, int port) {
    assertThat(objects)
        .as("Service %s.%s with port %d", name, namespace, port)
        .anySatisfy(o -> {
          assertThat(o).isInstanceOf(Service.class);
          assertThat(o.getMetadata().getName()).isEqualTo(name);
          String ns = o.getMetadata().getNamespace();
          assertThat(ns == null ? RELEASE_NAMESPACE : ns).isEqualTo(namespace);
          assertThat(((Service) o).getSpec().getPorts()).extracting(ServicePort::getPort).contains(port);
        });
  }

  private static PodSpec podSpec(HasMetadata o) {
    if (o instanceof Deployment d) {
      return d.getSpec().getTemplate().getSpec();
    }
    if (o instanceof DaemonSet d) {
      return d.getSpec().getTemplate().getSpec();
    }
    if (o instanceof io.fabric8.kubernetes.api.model.apps.StatefulSet s) {
      return s.getSpec().getTemplate().getSpec();
    }
    if (o instanceof io.fabric8.kubernetes.api.model.batch.v1.Job j) {
      return j.getSpec().getTemplate().getSpec();
    }
    if (o instanceof io.fabric8.kubernetes.api.model.Pod p) {
      return p.getSpec();
    }
    return null;
  }
}
