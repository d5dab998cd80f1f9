package dev.wirespan.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.wirespan.metrics.LossCause;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Keeps the README's configuration reference true to the settings the agent really has. */
class ReadmeTest {
  @Test
  void everySettingIsDocumentedWithItsEnvironmentVariablesAndDefault() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    for (Setting s : Setting.values()) {
      String row =
          readme.lines()
              .filter(l -> l.startsWith("| `" + s.flag() + "` |"))
              .findFirst()
              .orElseThrow(() -> new AssertionError("README lacks a row for " + s.flag()));
      for (String env : s.envVars()) {
        assertThat(row).contains("`" + env + "`");
      }
      assertThat(row).contains(s.defaultValue().isEmpty() ? "(none)" : "`" + s.defaultValue() + "`");
    }
  }

  @Test
  void everyLossCauseIsInTheLossTable() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    for (LossCause c : LossCause.values()) {
      assertThat(readme.lines())
          .as("README loss table row for %s", c)
          .anyMatch(l -> l.startsWith("| `" + c.stage() + "/" + c.cause() + "` |"));
    }
  }

  @Test
  void setUpCommandsExist() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    assertThat(readme).contains("bin/dev run").contains("bin/dev test");
    assertThat(Files.isExecutable(Path.of("bin/dev"))).isTrue();
    assertThat(Files.readString(Path.of(".ci/run"))).contains("bin/dev test");
  }
}
