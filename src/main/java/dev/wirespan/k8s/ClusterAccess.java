package dev.wirespan.k8s;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * Where the agent's cluster credentials come from, found the way fabric8's
 * {@code Config.autoConfigure} looks for them: the pod's service account first, then a
 * kubeconfig file.
 */
public enum ClusterAccess {
  /** The service account token mounted into the agent's pod, and the in-cluster API address. */
  IN_CLUSTER,
  /** A kubeconfig file ($KUBECONFIG, else ~/.kube/config). */
  KUBECONFIG,
  /** Neither: the agent is not on (or pointed at) a cluster. */
  NONE;

  /** Where a pod's service account is mounted. */
  public static final Path SERVICE_ACCOUNT_DIR =
      Path.of("/var/run/secrets/kubernetes.io/serviceaccount");

  static final String ENV_SERVICE_HOST = "KUBERNETES_SERVICE_HOST";
  static final String ENV_KUBECONFIG = "KUBECONFIG";
  private static final String TOKEN_FILE = "token";

  /** Detects the access from the process environment and the real file system. */
  public static ClusterAccess detect() {
    return detect(System.getenv(), SERVICE_ACCOUNT_DIR, Path.of(System.getProperty("user.home")));
  }

  /**
   * Detects the access from the given environment, service account directory and home
   * directory.
   */
  public static ClusterAccess detect(Map<String, String> env, Path serviceAccountDir, Path home) {
    Objects.requireNonNull(env, "env");
    if (env.get(ENV_SERVICE_HOST) != null
        && Files.isReadable(serviceAccountDir.resolve(TOKEN_FILE))) {
      return IN_CLUSTER;
    }
    String kubeconfig = env.get(ENV_KUBECONFIG);
    if (kubeconfig != null && !kubeconfig.isBlank()) {
      for (String file : kubeconfig.split(java.io.File.pathSeparator)) {
        if (!file.isBlank() && Files.isReadable(Path.of(file))) {
          return KUBECONFIG;
        }
      }
    }
    if (Files.isReadable(home.resolve(".kube").resolve("config"))) {
      return KUBECONFIG;
    }
    return NONE;
  }
}
