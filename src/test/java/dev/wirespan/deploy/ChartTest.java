package dev.wirespan.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import dev.wirespan.agent.AgentConfig;
import dev.wirespan.agent.Setting;
import dev.wirespan.agent.SettingValues;
import dev.wirespan.export.ExportSettings;
import com.marcnuri.helm.LintResult;
import io.fabric8.kubernetes.api.model.Capabilities;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The chart rendered by real Helm with its defaults and main variants. */
class ChartTest {
  /**
   * Every environment variable of the agent's settings that the chart always sets (the agent's
   * settings table: flags, env vars, config-file keys). WIRESPAN_CLUSTER_NAME, WIRESPAN_CONFIG and
   * OTEL_EXPORTER_OTLP_HEADERS are set only when their values are given.
   */
  private static final Set<String> ALWAYS_SET_ENV =
      Set.of(
          "NODE_NAME",
          "OTEL_EXPORTER_OTLP_ENDPOINT",
          "OTEL_EXPORTER_OTLP_PROTOCOL",
          "OTEL_EXPORTER_OTLP_TIMEOUT",
          "OTEL_EXPORTER_OTLP_COMPRESSION",
          "WIRESPAN_EXPORTER",
          "WIRESPAN_JSONL_FILE",
          "WIRESPAN_CAPTURE_BYTES",
          "WIRESPAN_RING_BUFFER_SIZE",
          "WIRESPAN_RESPONSE_TIMEOUT",
          "WIRESPAN_IDLE_CONNECTION_TIMEOUT",
          "WIRESPAN_MAX_CONNECTIONS",
          "WIRESPAN_MAX_KERNEL_CONNECTIONS",
          "WIRESPAN_MAX_BUFFERED_BYTES_PER_CONNECTION",
          "WIRESPAN_MAX_BUFFERED_BYTES",
          "WIRESPAN_MAX_PENDING_REQUESTS",
          "WIRESPAN_MAX_HEADER_BYTES",
          "WIRESPAN_MAX_REQUEST_LINE_BYTES",
          "WIRESPAN_SPAN_QUEUE_SIZE",
          "WIRESPAN_EXPORT_MAX_IN_FLIGHT",
          "WIRESPAN_ADMIN_ADDRESS",
          "WIRESPAN_KUBERNETES",
          "WIRESPAN_THREAD_CORRELATION",
          "WIRESPAN_WARMUP",
          "WIRESPAN_STATUS_INTERVAL",
          "WIRESPAN_LOG_LEVEL",
          "JAVA_TOOL_OPTIONS");

  private static final Set<String> OPTIONAL_ENV =
      Set.of(
          "WIRESPAN_CLUSTER_NAME",
          "WIRESPAN_CONFIG",
          "OTEL_EXPORTER_OTLP_HEADERS",
          "WIRESPAN_KERNEL_PROGRAMS");

  private static final List<String> CAPABILITIES = List.of("BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH");
  private static final int ADMIN_PORT = 9464;

  @Test
  void lintIsCleanInStrictMode() {
    LintResult result = new Helm(RenderedChart.CHART).lint().strict().call();
    assertThat(result.isFailed()).as("lint: %s", result.getMessages()).isFalse();
    assertThat(result.getMessages()).noneMatch(m -> m.contains("[WARNING]") || m.contains("[ERROR]"));
  }

  @Test
  void defaultsRenderOnlyTheAgentAndItsRbac() {
    RenderedChart chart = RenderedChart.render();
    assertThat(chart.objects)
        .extracting(HasMetadata::getKind)
        .containsExactlyInAnyOrder(
            "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "DaemonSet");
    assertThat(chart.objects)
        .allSatisfy(o -> assertThat(o.getMetadata().getName()).startsWith(RenderedChart.RELEASE + "-wirespan"));
  }

  @Test
  void agentIsNotPrivilegedAndHoldsExactlyTheNeededCapabilities() {
    Container agent = agent(RenderedChart.render());
    SecurityContext sc = agent.getSecurityContext();
    assertThat(sc.getPrivileged()).isFalse();
    assertThat(sc.getAllowPrivilegeEscalation()).isFalse();
    assertThat(sc.getReadOnlyRootFilesystem()).isTrue();
    assertThat(sc.getRunAsUser()).isZero();
    assertThat(sc.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    Capabilities caps = sc.getCapabilities();
    assertThat(caps.getDrop()).containsExactly("ALL");
    assertThat(caps.getAdd()).containsExactlyInAnyOrderElementsOf(CAPABILITIES);
    assertThat(caps.getAdd()).doesNotContain("SYS_ADMIN", "NET_ADMIN", "SYS_RESOURCE");
  }

  @Test
  void everyCapabilityAndHostPidCarryTheirReasonInTheManifest() {
    String text = RenderedChart.render().text;
    List<String> lines = text.lines().map(String::trim).collect(Collectors.toList());
    int hostPid = lines.indexOf("hostPID: true");
    assertThat(hostPid).as("hostPID: true rendered").isPositive();
    assertThat(String.join("\n", lines.subList(hostPid - 3, hostPid)))
        .startsWith("# hostPID:")
        .contains("/proc/<pid>");
    for (String cap : CAPABILITIES) {
      int at = lines.indexOf("- " + cap);
      assertThat(at).as("capability %s rendered", cap).isPositive();
      assertThat(lines.get(at - 1)).as("reason above %s", cap).startsWith("# ");
    }
  }

  @Test
  void podSharesTheHostPidNamespaceButNotItsNetwork() {
    PodSpec pod = pod(RenderedChart.render());
    assertThat(pod.getHostPID()).isTrue();
    assertThat(pod.getHostNetwork()).isNotEqualTo(Boolean.TRUE);
    assertThat(pod.getHostIPC()).isNotEqualTo(Boolean.TRUE);
    assertThat(pod.getAutomountServiceAccountToken()).isTrue();
    assertThat(pod.getTolerations()).extracting(Toleration::getOperator).containsExactly("Exists");
    assertThat(pod.getTolerations().get(0).getKey()).isNull();
  }

  @Test
  void hostPathsAreMountedReadOnlyAndTmpIsTheOnlyWritableMount() {
    RenderedChart chart = RenderedChart.render();
    Container agent = agent(chart);
    Map<String, VolumeMount> mounts =
        agent.getVolumeMounts().stream().collect(Collectors.toMap(VolumeMount::getMountPath, m -> m));
    assertThat(mounts.keySet())
        .containsExactlyInAnyOrder("/tmp", "/sys/kernel/tracing", "/sys/fs/cgroup", "/sys/kernel/btf");
    for (String path : List.of("/sys/kernel/tracing", "/sys/fs/cgroup", "/sys/kernel/btf")) {
      assertThat(mounts.get(path).getReadOnly()).as("%s read-only", path).isTrue();
    }
    assertThat(mounts.get("/tmp").getReadOnly()).isNotEqualTo(Boolean.TRUE);
    Map<String, Volume> volumes =
        pod(chart).getVolumes().stream().collect(Collectors.toMap(Volume::getName, v -> v));
    assertThat(volumes.get(mounts.get("/tmp").getName()).getEmptyDir()).isNotNull();
    for (String path : List.of("/sys/kernel/tracing", "/sys/fs/cgroup", "/sys/kernel/btf")) {
      Volume v = volumes.get(mounts.get(path).getName());
      assertThat(v.getHostPath().getPath()).isEqualTo(path);
      assertThat(v.getHostPath().getType()).isEqualTo("Directory");
    }
    assertThat(env(agent).get("JAVA_TOOL_OPTIONS").getValue())
        .contains("-Djna.tmpdir=/tmp", "-Djava.io.tmpdir=/tmp");
  }

  @Test
  void jvmMemoryDefaultsAreTheImagesWithTheHeapHalfTheLimit() {
    Container agent = agent(RenderedChart.render());
    String options = env(agent).get("JAVA_TOOL_OPTIONS").getValue();
    assertThat(options).contains("-XX:MaxRAMPercentage=50 ", "-XX:+ExitOnOutOfMemoryError");
    assertThat(options).contains(JvmDefaultsTest.MEMORY_FLAGS);
    assertThat(env(agent).get("MALLOC_ARENA_MAX").getValue()).isEqualTo(JvmDefaultsTest.MALLOC_ARENA_MAX);
    // Half of the limit is for what lives outside the heap (about 100 MiB measured).
    assertThat(agent.getResources().getLimits()).containsEntry("memory", new Quantity("256Mi"));
  }

  @Test
  void envCarriesEveryAgentSettingAndTheNodeNameFromTheDownwardApi() {
    Container agent = agent(RenderedChart.render());
    Map<String, EnvVar> env = env(agent);
    assertThat(env.keySet()).containsAll(ALWAYS_SET_ENV).doesNotContainAnyElementsOf(OPTIONAL_ENV);
    assertThat(env.get("NODE_NAME").getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
    assertThat(env.get("WIRESPAN_ADMIN_ADDRESS").getValue()).isEqualTo("0.0.0.0:" + ADMIN_PORT);
    assertThat(env.get("WIRESPAN_EXPORTER").getValue()).isEqualTo("otlp");
    assertThat(env.get("OTEL_EXPORTER_OTLP_ENDPOINT").getValue())
        .isEqualTo("http://otel-collector.observability.svc:4317");
    assertThat(env.get("WIRESPAN_JSONL_FILE").getValue()).startsWith("/tmp/");
  }

  @Test
  void everyAgentSettingHasItsEnvironmentVariableInTheChart() {
    Map<String, EnvVar> env = env(agent(RenderedChart.render()));
    for (Setting setting : Setting.values()) {
      assertThat(setting.envVars())
          .as("%s has an environment variable the chart sets", setting.flag())
          .anyMatch(v -> env.containsKey(v) || OPTIONAL_ENV.contains(v));
    }
  }

  @Test
  void theAgentAcceptsWhatTheChartRendersByDefault() {
    Map<String, String> plain = new LinkedHashMap<>();
    env(agent(RenderedChart.render()))
        .forEach((name, var) -> {
          if (var.getValue() != null) {
            plain.put(name, var.getValue());
          }
        });
    AgentConfig config = AgentConfig.from(SettingValues.resolve(Map.of(), plain));
    assertThat(config.adminAddress().getPort()).isEqualTo(ADMIN_PORT);
    assertThat(config.exportSettings().outputs()).containsExactly(ExportSettings.Output.OTLP);
    assertThat(config.exportSettings().resolvedOtlpEndpoint())
        .isEqualTo("http://otel-collector.observability.svc:4317");
  }

  @Test
  void everyValueUnderAgentReachesTheContainer() {
    Map<String, Object> values = new LinkedHashMap<>();
    values.put("agent.exporter", "otlp,jsonl");
    values.put("agent.jsonlFile", "/tmp/spans.jsonl");
    values.put("agent.captureBytes", 16384);
    values.put("agent.ringBufferSize", "16MiB");
    values.put("agent.responseTimeout", "45s");
    values.put("agent.idleConnectionTimeout", "5m");
    values.put("agent.maxConnections", 1000);
    values.put("agent.maxKernelConnections", 4096);
    values.put("agent.spanQueueSize", 512);
    values.put("agent.clusterName", "prod-eu");
    values.put("agent.kernelPrograms", "portable");
    values.put("agent.kubernetes", "enabled");
    values.put("agent.threadCorrelation", false);
    values.put("agent.statusInterval", "30s");
    values.put("agent.logLevel", "debug");
    values.put("agent.config.ring-buffer-size", "32MiB");
    values.put("agent.extraArgs[0]", "--log-level=warn");
    values.put("admin.port", 9500);
    values.put("otlp.endpoint", "https://otlp.example.test:4318");
    values.put("otlp.protocol", "http/protobuf");
    values.put("otlp.headers", "x-tenant=a");
    values.put("otlp.timeoutMillis", 2500);
    values.put("otlp.compression", "gzip");
    RenderedChart chart = RenderedChart.render(values);
    Container agent = agent(chart);
    Map<String, String> env =
        env(agent).values().stream()
            .filter(e -> e.getValue() != null)
            .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
    assertThat(env)
        .containsEntry("WIRESPAN_EXPORTER", "otlp,jsonl")
        .containsEntry("WIRESPAN_JSONL_FILE", "/tmp/spans.jsonl")
        .containsEntry("WIRESPAN_CAPTURE_BYTES", "16384")
        .containsEntry("WIRESPAN_RING_BUFFER_SIZE", "16MiB")
        .containsEntry("WIRESPAN_RESPONSE_TIMEOUT", "45s")
        .containsEntry("WIRESPAN_IDLE_CONNECTION_TIMEOUT", "5m")
        .containsEntry("WIRESPAN_MAX_CONNECTIONS", "1000")
        .containsEntry("WIRESPAN_MAX_KERNEL_CONNECTIONS", "4096")
        .containsEntry("WIRESPAN_SPAN_QUEUE_SIZE", "512")
        .containsEntry("WIRESPAN_CLUSTER_NAME", "prod-eu")
        .containsEntry("WIRESPAN_KERNEL_PROGRAMS", "portable")
        .containsEntry("WIRESPAN_KUBERNETES", "enabled")
        .containsEntry("WIRESPAN_THREAD_CORRELATION", "false")
        .containsEntry("WIRESPAN_STATUS_INTERVAL", "30s")
        .containsEntry("WIRESPAN_LOG_LEVEL", "debug")
        .containsEntry("WIRESPAN_ADMIN_ADDRESS", "0.0.0.0:9500")
        .containsEntry("WIRESPAN_CONFIG", "/etc/wirespan/config.yaml")
        .containsEntry("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.test:4318")
        .containsEntry("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .containsEntry("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=a")
        .containsEntry("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
        .containsEntry("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    assertThat(env.keySet()).containsAll(OPTIONAL_ENV);
    assertThat(agent.getArgs()).containsExactly("--log-level=warn");
    assertThat(agent.getPorts()).singleElement().satisfies(p -> assertThat(p.getContainerPort()).isEqualTo(9500));

    ConfigMap config = chart.one(ConfigMap.class);
    assertThat(config.getData().get("config.yaml")).contains("ring-buffer-size: 32MiB");
    assertThat(agent.getVolumeMounts())
        .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/etc/wirespan"));
    assertThat(pod(chart).getVolumes())
        .filteredOn(v -> v.getConfigMap() != null)
        .singleElement()
        .satisfies(v -> assertThat(v.getConfigMap().getName()).isEqualTo(config.getMetadata().getName()));
  }

  @Test
  void headersFromASecretStayOutOfThePodSpec() {
    Container agent =
        agent(
            RenderedChart.render(
                Map.of(
                    "otlp.headers", "authorization=visible",
                    "otlp.headersSecret.name", "otlp-auth",
                    "otlp.headersSecret.key", "headers")));
    EnvVar headers = env(agent).get("OTEL_EXPORTER_OTLP_HEADERS");
    assertThat(headers.getValue()).isNull();
    assertThat(headers.getValueFrom().getSecretKeyRef().getName()).isEqualTo("otlp-auth");
    assertThat(headers.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("headers");
  }

  @Test
  void probesUseTheAdminEndpoints() {
    Container agent = agent(RenderedChart.render());
    assertThat(agent.getPorts()).singleElement().satisfies(p -> {
      assertThat(p.getName()).isEqualTo("admin");
      assertThat(p.getContainerPort()).isEqualTo(ADMIN_PORT);
    });
    assertThat(agent.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
    assertThat(agent.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("admin");
    assertThat(agent.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
    assertThat(agent.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("admin");
  }

  @Test
  void clusterRoleGrantsOnlyReadsOfTheInformerResources() {
    RenderedChart chart = RenderedChart.render();
    ClusterRole role = chart.one(ClusterRole.class);
    Map<String, Set<String>> resourcesByGroup = new LinkedHashMap<>();
    for (PolicyRule rule : role.getRules()) {
      assertThat(rule.getVerbs()).containsExactlyInAnyOrder("get", "list", "watch");
      assertThat(rule.getResourceNames()).isNullOrEmpty();
      assertThat(rule.getNonResourceURLs()).isNullOrEmpty();
      for (String group : rule.getApiGroups()) {
        resourcesByGroup.computeIfAbsent(group, g -> new java.util.TreeSet<>()).addAll(rule.getResources());
      }
    }
    assertThat(resourcesByGroup)
        .containsExactlyInAnyOrderEntriesOf(
            Map.of(
                "", Set.of("pods", "services", "nodes"),
                "discovery.k8s.io", Set.of("endpointslices"),
                "apps", Set.of("replicasets"),
                "batch", Set.of("jobs")));
    ClusterRoleBinding binding = chart.one(ClusterRoleBinding.class);
    assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
    ServiceAccount account = chart.one(ServiceAccount.class);
    assertThat(account.getAutomountServiceAccountToken()).isFalse();
    assertThat(binding.getSubjects()).singleElement().satisfies(s -> {
      assertThat(s.getName()).isEqualTo(account.getMetadata().getName());
      assertThat(s.getNamespace()).isEqualTo(RenderedChart.NAMESPACE);
    });
    assertThat(pod(chart).getServiceAccountName()).isEqualTo(account.getMetadata().getName());
  }

  @Test
  void warmupTakesWhatTheAgentTakesAndTheSchemaRejectsTheRest() {
    for (Object value : List.of(0, "0", "1500ms", "60s", "1m")) {
      assertThat(env(agent(RenderedChart.render(Map.of("agent.warmup", value)))).get("WIRESPAN_WARMUP").getValue())
          .isEqualTo(value.toString());
    }
    for (Object value : List.of("2m", "61s", "90000", 90000, "soon")) {
      assertThatThrownBy(() -> RenderedChart.render(Map.of("agent.warmup", value)))
          .as("agent.warmup=%s", value)
          .hasMessageContaining("warmup");
    }
  }

  @Test
  void withoutKubernetesMetadataThereIsNoTokenAndNoRbac() {
    RenderedChart chart = RenderedChart.render(Map.of("agent.kubernetes", "disabled"));
    assertThat(chart.all(ClusterRole.class)).isEmpty();
    assertThat(chart.all(ClusterRoleBinding.class)).isEmpty();
    assertThat(pod(chart).getAutomountServiceAccountToken()).isFalse();
  }

  @Test
  void metricsAreScrapableThroughAnnotationsAndAHeadlessService() {
    RenderedChart chart = RenderedChart.render();
    DaemonSet agents = chart.one(DaemonSet.class);
    assertThat(agents.getSpec().getTemplate().getMetadata().getAnnotations())
        .containsEntry("prometheus.io/scrape", "true")
        .containsEntry("prometheus.io/port", String.valueOf(ADMIN_PORT))
        .containsEntry("prometheus.io/path", "/metrics");
    Service service = chart.one(Service.class);
    assertThat(service.getSpec().getClusterIP()).isEqualTo("None");
    assertThat(service.getSpec().getSelector())
        .isEqualTo(agents.getSpec().getSelector().getMatchLabels());
    assertThat(service.getSpec().getPorts()).singleElement().satisfies(p -> {
      assertThat(p.getName()).isEqualTo("metrics");
      assertThat(p.getTargetPort().getStrVal()).isEqualTo("admin");
    });
    assertThat(chart.ofKind("ServiceMonitor")).isEmpty();
  }

  @Test
  void serviceMonitorSelectsTheMetricsService() {
    RenderedChart chart =
        RenderedChart.render(
            Map.of("metrics.serviceMonitor.enabled", true, "metrics.serviceMonitor.labels.release", "prom"));
    HasMetadata monitor = chart.ofKind("ServiceMonitor").get(0);
    assertThat(monitor.getApiVersion()).isEqualTo("monitoring.coreos.com/v1");
    assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "prom");
    Map<String, Object> spec = Manifests.spec(monitor);
    @SuppressWarnings("unchecked")
    Map<String, Object> selector = (Map<String, Object>) spec.get("selector");
    assertThat(selector.get("matchLabels"))
        .isEqualTo(chart.one(DaemonSet.class).getSpec().getSelector().getMatchLabels());
    assertThat(chart.one(Service.class).getMetadata().getLabels())
        .containsAllEntriesOf(chart.one(DaemonSet.class).getSpec().getSelector().getMatchLabels());
    assertThat(spec.get("endpoints").toString()).contains("port=metrics", "path=/metrics");
  }

  @Test
  void privilegedSwitchReplacesTheCapabilityListWithPrivileged() {
    Container agent = agent(RenderedChart.render(Map.of("securityContext.privileged", true)));
    SecurityContext sc = agent.getSecurityContext();
    assertThat(sc.getPrivileged()).isTrue();
    assertThat(sc.getCapabilities()).isNull();
    // The API server rejects allowPrivilegeEscalation=false together with privileged=true.
    assertThat(sc.getAllowPrivilegeEscalation()).isNull();
    assertThat(sc.getReadOnlyRootFilesystem()).isTrue();
  }

  @Test
  void optionalSwitchesAddTheMemlockCapabilityProfilesAndADebugfsTracefs() {
    RenderedChart chart =
        RenderedChart.render(
            Map.of(
                "securityContext.sysResource", true,
                "securityContext.seccompProfile.type", "Unconfined",
                "securityContext.appArmorProfile.type", "Unconfined",
                "hostPaths.tracing", "/sys/kernel/debug/tracing"));
    Container agent = agent(chart);
    assertThat(agent.getSecurityContext().getCapabilities().getAdd())
        .containsExactlyInAnyOrder("BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_RESOURCE");
    assertThat(agent.getSecurityContext().getSeccompProfile().getType()).isEqualTo("Unconfined");
    assertThat(agent.getSecurityContext().getAppArmorProfile().getType()).isEqualTo("Unconfined");
    // The node's tracefs under debugfs still appears where the agent and libbpf look for it.
    VolumeMount tracing =
        agent.getVolumeMounts().stream()
            .filter(m -> m.getMountPath().equals("/sys/kernel/tracing"))
            .findFirst()
            .orElseThrow();
    assertThat(tracing.getReadOnly()).isTrue();
    assertThat(pod(chart).getVolumes())
        .filteredOn(v -> v.getName().equals(tracing.getName()))
        .singleElement()
        .satisfies(v -> assertThat(v.getHostPath().getPath()).isEqualTo("/sys/kernel/debug/tracing"));
  }

  @Test
  void schedulingAndResourcesFollowTheValues() {
    Map<String, Object> values = new LinkedHashMap<>();
    values.put("tolerations[0].key", "dedicated");
    values.put("tolerations[0].operator", "Equal");
    values.put("tolerations[0].value", "ingress");
    values.put("tolerations[0].effect", "NoSchedule");
    values.put("resources.requests.cpu", "250m");
    values.put("resources.limits.memory", "1Gi");
    values.put("jvm.maxRamPercentage", 40);
    values.put("jvm.options", "-XX:+UseParallelGC");
    values.put("jvm.mallocArenaMax", 4);
    values.put("priorityClassName", "system-node-critical");
    values.put("updateStrategy.rollingUpdate.maxUnavailable", "20%");
    RenderedChart chart = RenderedChart.render(values);
    PodSpec pod = pod(chart);
    assertThat(pod.getTolerations()).singleElement().satisfies(t -> {
      assertThat(t.getKey()).isEqualTo("dedicated");
      assertThat(t.getOperator()).isEqualTo("Equal");
      assertThat(t.getValue()).isEqualTo("ingress");
      assertThat(t.getEffect()).isEqualTo("NoSchedule");
    });
    assertThat(pod.getPriorityClassName()).isEqualTo("system-node-critical");
    Container agent = pod.getContainers().get(0);
    assertThat(agent.getResources().getRequests()).containsEntry("cpu", new Quantity("250m"));
    assertThat(agent.getResources().getLimits()).containsEntry("memory", new Quantity("1Gi"));
    assertThat(env(agent).get("JAVA_TOOL_OPTIONS").getValue())
        .contains("-XX:MaxRAMPercentage=40 -XX:+UseParallelGC ")
        .doesNotContain("-XX:+UseSerialGC");
    assertThat(env(agent).get("MALLOC_ARENA_MAX").getValue()).isEqualTo("4");
    DaemonSet ds = chart.one(DaemonSet.class);
    assertThat(ds.getSpec().getUpdateStrategy().getType()).isEqualTo("RollingUpdate");
    assertThat(ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getStrVal())
        .isEqualTo("20%");
  }

  @Test
  void defaultResourcesLimitMemorySoTheHeapHasSomethingToFollow() {
    Container agent = agent(RenderedChart.render());
    assertThat(agent.getResources().getLimits()).containsKey("memory");
    assertThat(agent.getResources().getRequests()).containsKeys("cpu", "memory");
  }

  @Test
  void collectorIsOffByDefaultAndTheAgentPointsAtTheChartsCollectorWhenOn() {
    assertThat(RenderedChart.render().all(Deployment.class)).isEmpty();
    RenderedChart chart = RenderedChart.render(Map.of("collector.enabled", true));
    Deployment collector = chart.one(Deployment.class);
    Service collectorService =
        chart.all(Service.class).stream()
            .filter(s -> s.getMetadata().getName().equals(collector.getMetadata().getName()))
            .findFirst()
            .orElseThrow();
    assertThat(env(agent(chart)).get("OTEL_EXPORTER_OTLP_ENDPOINT").getValue())
        .isEqualTo("http://" + collectorService.getMetadata().getName() + "." + RenderedChart.NAMESPACE + ".svc:4317");
    assertThat(collectorService.getSpec().getSelector())
        .isEqualTo(collector.getSpec().getSelector().getMatchLabels());
    assertThat(collectorService.getSpec().getPorts())
        .extracting(p -> p.getPort())
        .containsExactlyInAnyOrder(4317, 4318, 8889);
    Container c = collector.getSpec().getTemplate().getSpec().getContainers().get(0);
    assertThat(c.getSecurityContext().getPrivileged()).isFalse();
    assertThat(c.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(collector.getSpec().getTemplate().getSpec().getAutomountServiceAccountToken()).isFalse();

    RenderedChart http =
        RenderedChart.render(Map.of("collector.enabled", true, "otlp.protocol", "http/protobuf"));
    assertThat(env(agent(http)).get("OTEL_EXPORTER_OTLP_ENDPOINT").getValue()).endsWith(".svc:4318");
  }

  @ParameterizedTest(name = "{0}={1} is rejected")
  @CsvSource({
    "agent.captureBytes, 20000, captureBytes",
    "agent.kubernetes, sometimes, kubernetes",
    "agent.logLevel, verbose, logLevel",
    "agent.exporter, zipkin, exporter",
    "agent.responseTimeout, thirty, responseTimeout",
    "otlp.protocol, http/json, protocol",
    "otlp.compression, zstd, compression",
    "collector.config, zipkin, config",
    "securityContext.privileged, maybe, privileged",
    "securityContext.seccompProfile.type, Strict, type",
    "admin.port, 70000, port",
    "agent.capturebytes, 4096, capturebytes",
  })
  void schemaRejectsAWrongValue(String key, String value, String reported) {
    Object typed = value.chars().allMatch(Character::isDigit) ? (Object) Integer.valueOf(value) : value;
    assertThatThrownBy(() -> RenderedChart.render(Map.of(key, typed)))
        .hasMessageContaining("schema")
        .hasMessageContaining(reported);
  }

  private static PodSpec pod(RenderedChart chart) {
    return chart.one(DaemonSet.class).getSpec().getTemplate().getSpec();
  }

  private static Container agent(RenderedChart chart) {
    List<Container> containers = pod(chart).getContainers();
    assertThat(containers).hasSize(1);
    return containers.get(0);
  }

  private static Map<String, EnvVar> env(Container c) {
    return c.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, Function.identity()));
  }
}
