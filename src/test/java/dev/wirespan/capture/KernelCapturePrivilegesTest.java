package dev.wirespan.capture;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Without the capabilities, opening fails with a message that names them. */
class KernelCapturePrivilegesTest {
  private static final long CHILD_TIMEOUT_SECONDS = 60;
  private static final Path SETPRIV = Path.of("/usr/bin/setpriv");

  @Test
  void openWithoutCapabilitiesNamesTheMissingOnes() throws Exception {
    Privileges.requireRoot();
    Privileges.requireThat(Files.isExecutable(SETPRIV), "setpriv (util-linux) is needed");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // Still uid 0, but with no capability in any set: exactly "root without CAP_BPF/CAP_PERFMON".
    Process child =
        new ProcessBuilder(
                List.of(
                    SETPRIV.toString(),
                    "--inh-caps=-all",
                    "--ambient-caps=-all",
                    "--bounding-set=-all",
                    java,
                    "-cp",
                    System.getProperty("java.class.path"),
                    OpenCaptureMain.class.getName()))
            .redirectErrorStream(true)
            .start();
    String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.waitFor(CHILD_TIMEOUT_SECONDS, TimeUnit.SECONDS)).isTrue();

    assertThat(child.exitValue()).as(out).isEqualTo(OpenCaptureMain.CAPTURE_FAILED);
    assertThat(out).contains("needs CAP_BPF and CAP_PERFMON (or root)");
  }
}
