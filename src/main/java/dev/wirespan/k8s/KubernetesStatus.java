package dev.wirespan.k8s;

import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/** The health of all of the metadata informers, for /readyz and the status line. */
public record KubernetesStatus(List<InformerStatus> informers) {
  public KubernetesStatus {
    informers = List.copyOf(Objects.requireNonNull(informers, "informers"));
  }

  /** Every informer listed and watching. */
  public boolean allUp() {
    return informers.stream().allMatch(InformerStatus::up);
  }

  /** The informers that are not watching, e.g. "replicasets=FAILING (403 Forbidden)". */
  public String degradedSummary() {
    return informers.stream()
        .filter(s -> !s.up())
        .map(
            s ->
                s.resource()
                    + "="
                    + s.state()
                    + (s.lastError() == null ? "" : " (" + s.lastError() + ")"))
        .collect(Collectors.joining(", "));
  }
}
