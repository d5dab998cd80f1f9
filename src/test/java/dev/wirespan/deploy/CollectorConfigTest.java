package dev.wirespan.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The Collector configurations in otel-collector/ and the Collector the chart deploys. */
class CollectorConfigTest {
  private static final Path CONFIGS = Repository.path("otel-collector");
  private static final Path CHART_COPIES = Repository.path("charts/wirespan/collector");
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final List<String> PIPELINE_ROLES = List.of("receivers", "processors", "exporters");
  private static final int OTLP_GRPC_PORT = 4317;
  private static final int OTLP_HTTP_PORT = 4318;
  private static final int METRICS_PORT = 8889;
  private static final int HEALTH_PORT = 13133;

  @Test
  void theShippedConfigurationsAreJaegerTempoAndDebug() {
    assertThat(yamlFiles(CONFIGS)).containsExactlyInAnyOrder("debug.yaml", "jaeger.yaml", "tempo.yaml");
  }

  @Test
  void theChartCarriesVerbatimCopiesOfTheConfigurations() throws IOException {
    assertThat(yamlFiles(CHART_COPIES)).isEqualTo(yamlFiles(CONFIGS));
    for (String file : yamlFiles(CONFIGS)) {
      assertThat(Files.readString(CHART_COPIES.resolve(file)))
          .as("charts/wirespan/collector/%s must equal otel-collector/%s (copy it over)", file, file)
          .isEqualTo(Files.readString(CONFIGS.resolve(file)));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"debug.yaml", "jaeger.yaml", "tempo.yaml"})
  void everyPipelineReferencesDefinedComponents(String file) {
    JsonNode config = read(file);
    for (Map.Entry<String, JsonNode> pipeline : pipelines(config).entrySet()) {
      String name = pipeline.getKey();
      for (String id : ids(pipeline.getValue().path("receivers"))) {
        assertThat(defined(config, "receivers").contains(id) || defined(config, "connectors").contains(id))
            .as("%s: pipeline %s receiver %s is defined", file, name, id)
            .isTrue();
      }
      for (String id : ids(pipeline.getValue().path("processors"))) {
        assertThat(defined(config, "processors")).as("%s: pipeline %s", file, name).contains(id);
      }
      for (String id : ids(pipeline.getValue().path("exporters"))) {
        assertThat(defined(config, "exporters").contains(id) || defined(config, "connectors").contains(id))
            .as("%s: pipeline %s exporter %s is defined", file, name, id)
            .isTrue();
      }
      assertThat(ids(pipeline.getValue().path("receivers"))).as("%s: %s receivers", file, name).isNotEmpty();
      assertThat(ids(pipeline.getValue().path("exporters"))).as("%s: %s exporters", file, name).isNotEmpty();
    }
    for (String id : ids(config.path("service").path("extensions"))) {
      assertThat(defined(config, "extensions")).as("%s: extension", file).contains(id);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"debug.yaml", "jaeger.yaml", "tempo.yaml"})
  void everyComponentIsUsedExceptTheKubernetesAttributesProcessor(String file) {
    JsonNode config = read(file);
    Set<String> used = new HashSet<>();
    for (JsonNode pipeline : pipelines(config).values()) {
      for (String role : PIPELINE_ROLES) {
        used.addAll(ids(pipeline.path(role)));
      }
    }
    for (String section : List.of("receivers", "exporters", "connectors")) {
      assertThat(used).as("%s: every one of %s is in a pipeline", file, section).containsAll(defined(config, section));
    }
    assertThat(defined(config, "processors")).contains("k8sattributes", "memory_limiter", "batch");
    assertThat(used).as("%s: k8sattributes stays out of the pipelines", file).doesNotContain("k8sattributes");
  }

  @ParameterizedTest
  @ValueSource(strings = {"debug.yaml", "jaeger.yaml", "tempo.yaml"})
  void connectorsTurnTheTracesPipelineIntoAMetricsPipeline(String file) {
    JsonNode config = read(file);
    assertThat(defined(config, "connectors")).containsExactlyInAnyOrder("spanmetrics", "servicegraph");
    for (String connector : defined(config, "connectors")) {
      List<String> exportingFrom = new ArrayList<>();
      List<String> receivingIn = new ArrayList<>();
      pipelines(config).forEach((name, pipeline) -> {
        if (ids(pipeline.path("exporters")).contains(connector)) {
          exportingFrom.add(name);
        }
        if (ids(pipeline.path("receivers")).contains(connector)) {
          receivingIn.add(name);
        }
      });
      assertThat(exportingFrom).as("%s: %s as exporter", file, connector).singleElement()
          .satisfies(p -> assertThat(type(p)).isEqualTo("traces"));
      assertThat(receivingIn).as("%s: %s as receiver", file, connector).singleElement()
          .satisfies(p -> assertThat(type(p)).isEqualTo("metrics"));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"debug.yaml", "jaeger.yaml", "tempo.yaml"})
  void tracesComeInOverOtlpAndMemoryIsLimitedFirst(String file) {
    JsonNode config = read(file);
    JsonNode otlp = config.path("receivers").path("otlp").path("protocols");
    assertThat(otlp.path("grpc").path("endpoint").asText()).isEqualTo("0.0.0.0:" + OTLP_GRPC_PORT);
    assertThat(otlp.path("http").path("endpoint").asText()).isEqualTo("0.0.0.0:" + OTLP_HTTP_PORT);
    for (Map.Entry<String, JsonNode> pipeline : pipelines(config).entrySet()) {
      List<String> processors = ids(pipeline.getValue().path("processors"));
      assertThat(processors).as("%s: %s processors", file, pipeline.getKey()).startsWith("memory_limiter").contains("batch");
      assertThat(processors.indexOf("batch")).isEqualTo(processors.size() - 1);
    }
    assertThat(pipelines(config).get("traces").path("receivers").toString()).contains("otlp");
    assertThat(config.path("exporters").path("prometheus").path("endpoint").asText()).isEqualTo("0.0.0.0:" + METRICS_PORT);
    assertThat(config.path("extensions").path("health_check").path("endpoint").asText()).isEqualTo("0.0.0.0:" + HEALTH_PORT);
  }

  @ParameterizedTest
  @ValueSource(strings = {"jaeger", "tempo"})
  void backendsAreReachedThroughTheBackendEndpointVariable(String backend) {
    JsonNode exporter = read(backend + ".yaml").path("exporters").path("otlp/" + backend);
    assertThat(exporter.path("endpoint").asText()).startsWith("${env:BACKEND_OTLP_ENDPOINT:-");
  }

  @ParameterizedTest
  @ValueSource(strings = {"debug", "jaeger", "tempo"})
  void theHelmDeployedCollectorRunsTheShippedConfiguration(String name) throws IOException {
    RenderedChart chart =
        RenderedChart.render(
            Map.of(
                "collector.enabled", true,
                "collector.config", name,
                "collector.backendEndpoint", "backend.tracing:4317"));
    ConfigMap configMap = chart.one(ConfigMap.class);
    String shipped = Files.readString(CONFIGS.resolve(name + ".yaml"));
    assertThat(configMap.getData().get("collector.yaml").strip()).isEqualTo(shipped.strip());

    Deployment deployment = chart.one(Deployment.class);
    PodSpec pod = deployment.getSpec().getTemplate().getSpec();
    Container collector = pod.getContainers().get(0);
    assertThat(collector.getImage()).startsWith("otel/opentelemetry-collector-contrib:");
    assertThat(collector.getArgs()).containsExactly("--config=/conf/collector.yaml");
    String volume =
        collector.getVolumeMounts().stream()
            .filter(m -> m.getMountPath().equals("/conf"))
            .findFirst()
            .orElseThrow()
            .getName();
    assertThat(pod.getVolumes())
        .filteredOn(v -> v.getName().equals(volume))
        .singleElement()
        .satisfies(v -> assertThat(v.getConfigMap().getName()).isEqualTo(configMap.getMetadata().getName()));
    Map<String, String> env =
        collector.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
    assertThat(env).containsEntry("BACKEND_OTLP_ENDPOINT", "backend.tracing:4317");
    assertThat(collector.getPorts())
        .extracting(ContainerPort::getContainerPort)
        .containsExactlyInAnyOrder(OTLP_GRPC_PORT, OTLP_HTTP_PORT, METRICS_PORT, HEALTH_PORT);
    assertThat(collector.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("health");
  }

  private static String type(String pipelineId) {
    int slash = pipelineId.indexOf('/');
    return slash < 0 ? pipelineId : pipelineId.substring(0, slash);
  }

  private static Map<String, JsonNode> pipelines(JsonNode config) {
    JsonNode node = config.path("service").path("pipelines");
    assertThat(node.isObject()).as("service.pipelines").isTrue();
    Map<String, JsonNode> result = new java.util.LinkedHashMap<>();
    node.fields().forEachRemaining(e -> result.put(e.getKey(), e.getValue()));
    return result;
  }

  private static Set<String> defined(JsonNode config, String section) {
    Set<String> ids = new LinkedHashSet<>();
    config.path(section).fieldNames().forEachRemaining(ids::add);
    return ids;
  }

  private static List<String> ids(JsonNode list) {
    List<String> ids = new ArrayList<>();
    list.forEach(n -> ids.add(n.asText()));
    return ids;
  }

  private static JsonNode read(String file) {
    try {
      return YAML.readTree(CONFIGS.resolve(file).toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Set<String> yamlFiles(Path dir) {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml")).collect(Collectors.toSet());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
