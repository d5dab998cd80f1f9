package dev.wirespan.k8s;

import java.util.Locale;
import java.util.Objects;

/** The {@code --kubernetes} setting. */
public enum KubernetesMode {
  /** Use a cluster when the agent finds one (service account, then kubeconfig), else host mode. */
  AUTO,
  /** A cluster is required: start fails clearly when none is configured. */
  ENABLED,
  /** Host mode: no Kubernetes metadata. */
  DISABLED;

  /** Parses "auto", "enabled" or "disabled" (any case). */
  public static KubernetesMode parse(String text) {
    Objects.requireNonNull(text, "text");
    try {
      return valueOf(text.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "--kubernetes must be auto, enabled or disabled, not '" + text + "'", e);
    }
  }
}
