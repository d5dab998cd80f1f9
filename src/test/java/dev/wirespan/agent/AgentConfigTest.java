package dev.wirespan.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.wirespan.export.ExportSettings;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AgentConfigTest {
  @TempDir Path dir;

  @Test
  void defaultsAreValid() {
    AgentConfig c = AgentConfig.from(SettingValues.resolve(Map.of(), Map.of()));
    assertThat(c.exportSettings().outputs()).containsExactly(ExportSettings.Output.CONSOLE);
    assertThat(c.captureSettings().captureBytes()).isEqualTo(4096);
    assertThat(c.captureSettings().ringBufferBytes()).isEqualTo(8 << 20);
    assertThat(c.httpSettings().responseTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.exportSettings().otlpProtocol()).isEqualTo(ExportSettings.Protocol.GRPC);
    assertThat(c.exportSettings().resolvedOtlpEndpoint()).isEqualTo("http://localhost:4317");
    assertThat(c.adminAddress().getPort()).isEqualTo(9464);
    assertThat(c.kubernetes()).isEqualTo(dev.wirespan.k8s.KubernetesMode.AUTO);
    assertThat(c.exportMaxInFlight()).isEqualTo(2);
    assertThat(c.warmup()).isEqualTo(Duration.ofSeconds(5));
  }

  @Test
  void warmupIsBoundedAndZeroSkipsIt() {
    assertThat(config(Setting.WARMUP, "0").warmup()).isZero();
    assertThat(config(Setting.WARMUP, "1m").warmup()).isEqualTo(Duration.ofMinutes(1));
    assertThatThrownBy(() -> config(Setting.WARMUP, "61s"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("--warmup")
        .hasMessageContaining("at most 60s");
    assertThatThrownBy(() -> config(Setting.WARMUP, "soon"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("--warmup");
  }

  @Test
  void exportsInFlightAreBounded() {
    assertThat(config(Setting.EXPORT_MAX_IN_FLIGHT, "1").exportMaxInFlight()).isEqualTo(1);
    assertThat(config(Setting.EXPORT_MAX_IN_FLIGHT, "3").exportMaxInFlight()).isEqualTo(3);
    assertThatThrownBy(() -> config(Setting.EXPORT_MAX_IN_FLIGHT, "0"))
        .isInstanceOf(ConfigException.class);
    assertThatThrownBy(() -> config(Setting.EXPORT_MAX_IN_FLIGHT, "4"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("from 1 to 3");
  }

  @Test
  void flagBeatsEnvironmentBeatsFileBeatsDefault() throws Exception {
    Path file = dir.resolve("wirespan.yaml");
    Files.writeString(
        file,
        "capture-bytes: 1KiB\nresponse-timeout: 5s\nexporter: [console, jsonl]\nspan-queue-size: 100\n");
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.CAPTURE_BYTES, "2KiB");
    Map<String, String> env =
        Map.of(
            "WIRESPAN_CONFIG", file.toString(),
            "WIRESPAN_CAPTURE_BYTES", "8KiB",
            "WIRESPAN_RESPONSE_TIMEOUT", "7s",
            "OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317",
            "OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret,x=y");
    AgentConfig c = AgentConfig.from(SettingValues.resolve(flags, env));
    assertThat(c.captureSettings().captureBytes()).isEqualTo(2048);
    assertThat(c.httpSettings().responseTimeout()).isEqualTo(Duration.ofSeconds(7));
    assertThat(c.spanQueueSize()).isEqualTo(100);
    assertThat(c.exportSettings().outputs()).containsExactly(ExportSettings.Output.CONSOLE, ExportSettings.Output.JSONL);
    assertThat(c.exportSettings().resolvedOtlpEndpoint()).isEqualTo("http://traces:4317");
    assertThat(c.exportSettings().otlpHeaders()).containsEntry("api-key", "s=cret").containsEntry("x", "y");
    assertThat(c.values().source(Setting.SPAN_QUEUE_SIZE)).startsWith("file");
    assertThat(c.describe()).anyMatch(l -> l.startsWith("otlp-headers=(set)"));
  }

  @Test
  void otlpTimeoutPlainNumberIsMilliseconds() {
    AgentConfig c =
        AgentConfig.from(SettingValues.resolve(Map.of(), Map.of("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")));
    assertThat(c.exportSettings().otlpTimeout()).isEqualTo(Duration.ofMillis(2500));
  }

  @Test
  void wrongValuesNameTheSettingAndWhatIsExpected() {
    assertThatThrownBy(() -> config(Setting.CAPTURE_BYTES, "lots"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("--capture-bytes")
        .hasMessageContaining("lots");
    assertThatThrownBy(() -> config(Setting.CAPTURE_BYTES, "64KiB"))
        .hasMessageContaining("from 64 to 16384");
    assertThatThrownBy(() -> config(Setting.RING_BUFFER_SIZE, "3MiB"))
        .hasMessageContaining("power of two");
    assertThatThrownBy(() -> config(Setting.EXPORTER, "console,zipkin"))
        .hasMessageContaining("console, otlp, jsonl");
    assertThatThrownBy(() -> config(Setting.OTLP_PROTOCOL, "thrift"))
        .hasMessageContaining("grpc or http/protobuf");
    assertThatThrownBy(() -> config(Setting.ADMIN_ADDRESS, "nowhere"))
        .hasMessageContaining("host:port");
    assertThatThrownBy(() -> config(Setting.RESPONSE_TIMEOUT, "0s"))
        .hasMessageContaining("above zero");
  }

  @Test
  void kernelConnectionMapIsSizedByItsOwnSetting() {
    assertThat(config(Setting.MAX_KERNEL_CONNECTIONS, "65536").captureSettings()
            .connectionMapEntries())
        .isEqualTo(65536);
    assertThat(config(Setting.MAX_KERNEL_CONNECTIONS, "4096").captureSettings()
            .connectionMapEntries())
        .isEqualTo(4096);
    assertThat(config(Setting.MAX_KERNEL_CONNECTIONS, "4096").httpSettings().maxConnections())
        .as("the user-space limit is a separate setting")
        .isEqualTo(65536);
    assertThatThrownBy(() -> config(Setting.MAX_KERNEL_CONNECTIONS, "10"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("--max-kernel-connections")
        .hasMessageContaining("from 64 to 4194304");
  }

  @Test
  void httpLimitsReachTheDecoderAndMustFitTogether() {
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.MAX_BUFFERED_BYTES_PER_CONNECTION, "128KiB");
    flags.put(Setting.MAX_BUFFERED_BYTES, "256MiB");
    flags.put(Setting.MAX_PENDING_REQUESTS, "8");
    flags.put(Setting.MAX_HEADER_BYTES, "32KiB");
    flags.put(Setting.MAX_REQUEST_LINE_BYTES, "4KiB");
    dev.wirespan.http.HttpSettings http = AgentConfig.from(SettingValues.resolve(flags, Map.of())).httpSettings();
    assertThat(http.maxBufferedBytesPerConnection()).isEqualTo(128 * 1024);
    assertThat(http.maxBufferedBytesTotal()).isEqualTo(256L << 20);
    assertThat(http.maxPendingRequestsPerConnection()).isEqualTo(8);
    assertThat(http.maxHeaderBytes()).isEqualTo(32 * 1024);
    assertThat(http.maxInitialLineBytes()).isEqualTo(4 * 1024);

    flags.put(Setting.MAX_BUFFERED_BYTES_PER_CONNECTION, "1KiB"); // cannot hold a 32 KiB header block
    assertThatThrownBy(() -> AgentConfig.from(SettingValues.resolve(flags, Map.of())))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("inconsistent HTTP limits");
  }

  @Test
  void unknownKeyInFileIsRejected() throws Exception {
    Path file = dir.resolve("bad.yaml");
    Files.writeString(file, "capture-byte: 10\n");
    assertThatThrownBy(() -> SettingValues.resolve(Map.of(), Map.of("WIRESPAN_CONFIG", file.toString())))
        .hasMessageContaining("unknown setting 'capture-byte'");
  }

  @Test
  void helpListsEveryOptionWithDefaultAndEnvironmentVariable() {
    StringWriter out = new StringWriter();
    int code = WirespanCommand.run(new String[] {"--help"}, Map.of(), new PrintWriter(out), new PrintWriter(new StringWriter()));
    assertThat(code).isZero();
    for (Setting s : Setting.values()) {
      assertThat(out.toString()).contains(s.flag()).contains(s.envVars().get(0));
    }
    assertThat(out.toString()).contains("default: 4KiB");
  }

  @Test
  void wrongFlagGivesUsageErrorNotAStackTrace() {
    StringWriter err = new StringWriter();
    int code =
        WirespanCommand.run(
            new String[] {"--no-such-flag"}, Map.of(), new PrintWriter(new StringWriter()), new PrintWriter(err));
    assertThat(code).isEqualTo(WirespanCommand.EXIT_USAGE);
    assertThat(err.toString()).contains("--no-such-flag").doesNotContain("Exception");

    StringWriter err2 = new StringWriter();
    int code2 =
        WirespanCommand.run(
            new String[] {"--capture-bytes", "-5"}, Map.of(), new PrintWriter(new StringWriter()), new PrintWriter(err2));
    assertThat(code2).isEqualTo(WirespanCommand.EXIT_USAGE);
    assertThat(err2.toString()).contains("--capture-bytes");
  }

  private static AgentConfig config(Setting s, String value) {
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(s, value);
    return AgentConfig.from(SettingValues.resolve(flags, Map.of()));
  }
}
