package dev.wirespan.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/** The chart rendered by real Helm (helm-java) with a set of values, parsed by fabric8. */
final class RenderedChart {
  static final String RELEASE = "ws";
  static final String NAMESPACE = "observability";
  static final Path CHART = Repository.path("charts/wirespan");

  final String text;
  final List<HasMetadata> objects;

  private RenderedChart(String text) {
    this.text = text;
    this.objects = Manifests.parse(text);
  }

  /** Renders with {@code --set key=value} for every entry (keys in Helm's dotted form). */
  static RenderedChart render(Map<String, ?> values) {
    TemplateCommand template = new Helm(CHART).template().withName(RELEASE).withNamespace(NAMESPACE);
    for (Map.Entry<String, ?> e : values.entrySet()) {
      template = template.set(e.getKey(), e.getValue());
    }
    return new RenderedChart(template.call());
  }

  /** Renders as {@code helm template <release> -n <namespace> -f <valuesFile>}. */
  static RenderedChart render(String release, String namespace, Path valuesFile) {
    return new RenderedChart(
        new Helm(CHART)
            .template()
            .withName(release)
            .withNamespace(namespace)
            .withValuesFile(valuesFile)
            .call());
  }

  static RenderedChart render() {
    return render(Map.of());
  }

  /** The single object of this kind, failing when there is none or more than one. */
  <T extends HasMetadata> T one(Class<T> kind) {
    List<T> found = all(kind);
    assertThat(found).as("rendered %s objects", kind.getSimpleName()).hasSize(1);
    return found.get(0);
  }

  <T extends HasMetadata> List<T> all(Class<T> kind) {
    return objects.stream().filter(kind::isInstance).map(kind::cast).collect(Collectors.toList());
  }

  List<HasMetadata> ofKind(String kind) {
    return objects.stream()
        .filter(o -> Objects.equals(o.getKind(), kind))
        .collect(Collectors.toList());
  }
}
