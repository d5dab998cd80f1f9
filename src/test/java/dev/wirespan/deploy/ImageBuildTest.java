package dev.wirespan.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPath;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

/**
 * The Dockerfile and the Maven image profile agree with the build (jar name, main class, Java
 * release) and with the chart (admin port). No image can be built here (no Docker engine); the
 * images themselves are built by CI.
 */
class ImageBuildTest {
  private static final Pattern FROM = Pattern.compile("^FROM\\s+(\\S+)(?:\\s+AS\\s+(\\S+))?", Pattern.CASE_INSENSITIVE | Pattern.MULTILINE);
  private static final int ADMIN_PORT = 9464;
  private static String dockerfile;
  private static Document pom;
  private static XPath xpath;

  @BeforeAll
  static void read() throws Exception {
    dockerfile = Files.readString(Repository.path("Dockerfile"));
    DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
    pom = factory.newDocumentBuilder().parse(Repository.path("pom.xml").toFile());
    xpath = XPathFactory.newInstance().newXPath();
  }

  @Test
  void dockerfileIsMultiStageWithTheRuntimeLast() {
    List<String> stages = new ArrayList<>();
    Matcher m = FROM.matcher(dockerfile);
    while (m.find()) {
      stages.add(m.group(2));
    }
    assertThat(stages).containsExactly("build", "runtime-base", "runtime");
    String build = stage("build");
    assertThat(build).contains("clang", "libbpf-dev", "maven", "openjdk-" + javaRelease() + "-jdk-headless");
    assertThat(build).containsPattern("(?m)^USER builder$");
    String base = stage("runtime-base");
    assertThat(base).contains("libbpf1", "libelf1", "openjdk-" + javaRelease() + "-jre-headless");
    assertThat(base).doesNotContain("clang", "maven");
  }

  @Test
  void runtimeRunsTheShadedJarOnTheAdminPort() throws Exception {
    String finalName =
        xpath.evaluate("//plugin[artifactId='maven-shade-plugin']//finalName", pom);
    String jar = "/opt/wirespan/" + finalName + ".jar";
    String runtime = stage("runtime");
    assertThat(runtime).contains("target/" + finalName + ".jar " + jar);
    assertThat(runtime).contains("ENTRYPOINT [\"java\", \"-jar\", \"" + jar + "\"]");
    assertThat(runtime).contains("EXPOSE " + ADMIN_PORT);
  }

  @Test
  void jibProfileNeedsAnExplicitBaseAndRunsTheMainClass() throws Exception {
    String jib = "//profile[id='image']//plugin[artifactId='jib-maven-plugin']";
    assertThat(xpath.evaluate(jib + "/version", pom)).isEqualTo("3.5.2");
    assertThat(xpath.evaluate(jib + "/configuration/from/image", pom)).isEqualTo("${image.base}");
    assertThat(xpath.evaluate(jib + "/configuration/container/mainClass", pom)).isEqualTo("${main.class}");
    assertThat(xpath.evaluate("/project/properties/main.class", pom)).isEqualTo("dev.wirespan.agent.WirespanCommand");
    assertThat(xpath.evaluate(jib + "/configuration/container/ports/port", pom)).isEqualTo(String.valueOf(ADMIN_PORT));
    String rule = "//profile[id='image']//plugin[artifactId='maven-enforcer-plugin']//requireProperty";
    assertThat(xpath.evaluate(rule + "/property", pom)).isEqualTo("image.base");
    assertThat(xpath.evaluate("//profile[id='image']/properties/image.base", pom)).isEmpty();
  }

  @Test
  void dockerContextHoldsOnlyWhatTheBuildReads() throws IOException {
    List<String> ignore = Files.readAllLines(Repository.path(".dockerignore"));
    assertThat(ignore).contains("*", "!pom.xml", "!bpf/", "!src/main/");
    Matcher copies = Pattern.compile("(?m)^COPY --chown=builder (\\S+) ").matcher(stage("build"));
    while (copies.find()) {
      assertThat(ignore).as("COPY %s is in the context", copies.group(1))
          .anySatisfy(line -> assertThat(line).isIn("!" + copies.group(1), "!" + copies.group(1) + "/"));
    }
  }

  private static String javaRelease() {
    try {
      return xpath.evaluate("/project/properties/maven.compiler.release", pom);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static String stage(String name) {
    Matcher m = FROM.matcher(dockerfile);
    int start = -1;
    while (m.find()) {
      if (start >= 0) {
        return dockerfile.substring(start, m.start());
      }
      if (name.equals(m.group(2))) {
        start = m.start();
      }
    }
    assertThat(start).as("stage %s", name).isNotNegative();
    return dockerfile.substring(start);
  }
}
