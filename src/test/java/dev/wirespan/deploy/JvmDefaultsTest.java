package dev.wirespan.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The agent's JVM memory defaults are the same wherever it is started: the image (Dockerfile,
 * whose runtime base the Jib image also builds on), the Helm chart ({@link ChartTest}),
 * {@code bin/dev run} and the benchmark. docs/deployment.md ("Memory") gives each flag's reason.
 */
class JvmDefaultsTest {
  /** Serial GC and native heap trimming, in this order in every place. */
  static final String MEMORY_FLAGS = "-XX:+UseSerialGC -XX:TrimNativeHeapInterval=5000";

  static final String MALLOC_ARENA_MAX = "2";

  /** Heap ceiling where no container limit sizes it: the chart's 50 % of its 256 MiB limit. */
  static final String HEAP_CEILING = "-Xmx128m";

  private static final Pattern DOCKER_TOOL_OPTIONS = Pattern.compile("JAVA_TOOL_OPTIONS=\"([^\"]*)\"");

  @Test
  void imageRuntimeBaseSetsTheDefaults() throws IOException {
    String dockerfile = Files.readString(Repository.path("Dockerfile"));
    String base = dockerfile.substring(dockerfile.indexOf(" AS runtime-base"), dockerfile.indexOf(" AS runtime\n"));
    Matcher m = DOCKER_TOOL_OPTIONS.matcher(base);
    assertThat(m.find()).as("the runtime-base stage sets JAVA_TOOL_OPTIONS").isTrue();
    assertThat(m.group(1)).startsWith(HEAP_CEILING + " " + MEMORY_FLAGS).contains("-XX:+ExitOnOutOfMemoryError");
    assertThat(base).containsPattern("(?m)^\\s+MALLOC_ARENA_MAX=" + MALLOC_ARENA_MAX + "$");
  }

  @Test
  void devRunAndTheBenchmarkStartTheAgentWithTheDefaults() throws IOException {
    String dev = Files.readString(Repository.path("bin/dev"));
    assertThat(dev).contains("AGENT_JAVA_OPTS=(" + HEAP_CEILING + " " + MEMORY_FLAGS + " ");
    assertThat(dev).contains("AGENT_MALLOC_ARENA_MAX=" + MALLOC_ARENA_MAX + "\n");
    assertThat(dev).contains("exec java \"${AGENT_JAVA_OPTS[@]}\" -jar target/wirespan-agent.jar");
    String bench = Files.readString(Repository.path("bench/bench.py"));
    assertThat(bench).contains("\"" + HEAP_CEILING + " " + MEMORY_FLAGS + " ");
    assertThat(bench).contains("os.environ.get(\"AGENT_MALLOC_ARENA_MAX\", \"" + MALLOC_ARENA_MAX + "\")");
  }
}
