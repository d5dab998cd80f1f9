package dev.wirespan.capture;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Gates for tests that need root (BPF) or a tool: skipped locally, failed on CI. */
final class Privileges {
  private Privileges() {}

  static boolean isRoot() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("Uid:")) {
          return line.split("\\s+")[1].equals("0");
        }
      }
    } catch (IOException e) {
      return false;
    }
    return false;
  }

  /** Root, and the BPF object built (a build with -DskipBpf has none). */
  static void requireRoot() {
    requireThat(isRoot(), "needs root to load BPF programs");
    requireThat(
        Privileges.class.getResource(KernelCapture.OBJECT_RESOURCE) != null,
        "the BPF object " + KernelCapture.OBJECT_RESOURCE + " was not built (-DskipBpf)");
  }

  static void requireThat(boolean condition, String why) {
    if (condition) {
      return;
    }
    if ("true".equals(System.getenv("CI"))) {
      fail(why + " (never skipped when CI=true)");
    }
    assumeTrue(false, "skipped: " + why);
  }
}
