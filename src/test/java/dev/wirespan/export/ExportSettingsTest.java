package dev.wirespan.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.wirespan.export.ExportSettings.Protocol;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ExportSettingsTest {
  @ParameterizedTest(name = "{0} generic={1} traces={2}")
  @CsvSource({
    "GRPC, , , http://localhost:4317",
    "HTTP_PROTOBUF, , , http://localhost:4318/v1/traces",
    "GRPC, http://collector:4317, , http://collector:4317",
    "HTTP_PROTOBUF, http://collector:4318, , http://collector:4318/v1/traces",
    "HTTP_PROTOBUF, http://collector:4318/, , http://collector:4318/v1/traces",
    "HTTP_PROTOBUF, http://gw/otlp, , http://gw/otlp/v1/traces",
    "HTTP_PROTOBUF, http://collector:4318, http://other/custom, http://other/custom",
    "GRPC, http://collector:4317, http://other:4317, http://other:4317",
  })
  void endpointRulesOfTheSpecification(Protocol protocol, String generic, String traces,
      String expected) {
    ExportSettings settings = ExportSettings.builder().setOtlpProtocol(protocol)
        .setOtlpEndpoint(generic).setOtlpTracesEndpoint(traces).build();
    assertThat(settings.resolvedOtlpEndpoint()).isEqualTo(expected);
  }

  @Test
  void parsesNamesAndChecksConsistency() {
    assertThat(Protocol.parse("http/protobuf")).isEqualTo(Protocol.HTTP_PROTOBUF);
    assertThat(Protocol.parse("grpc")).isEqualTo(Protocol.GRPC);
    assertThatThrownBy(() -> Protocol.parse("http/json")).isInstanceOf(IllegalArgumentException.class);
    assertThat(ExportSettings.Compression.parse("GZIP")).isEqualTo(ExportSettings.Compression.GZIP);
    assertThat(ExportSettings.Output.parse("jsonl")).isEqualTo(ExportSettings.Output.JSONL);
    assertThatThrownBy(() -> ExportSettings.builder()
        .setOutputs(EnumSet.of(ExportSettings.Output.JSONL)).build())
        .hasMessageContaining("file");
    assertThat(ExportSettings.builder().putOtlpHeader("authorization", "Bearer s3cr3t").build()
        .toString()).contains("authorization").doesNotContain("s3cr3t");
  }
}
