package dev.wirespan.process;

import javax.annotation.Nullable;

/**
 * What a process's cgroup path says about the container it runs in.
 *
 * @param containerId the 64 hex digit container id, or null when the path names no container
 * @param runtime the container runtime the path's naming belongs to
 * @param podUid the pod uid (with dashes) when the path holds a kubelet pod cgroup, else null
 */
public record ContainerCgroup(
    @Nullable String containerId, ContainerRuntime runtime, @Nullable String podUid) {
  /** A cgroup outside any container: a plain host process. */
  public static final ContainerCgroup HOST = new ContainerCgroup(null, ContainerRuntime.NONE, null);

  /** Whether the path names a container or a pod at all. */
  public boolean inContainer() {
    return containerId != null || podUid != null;
  }

  /** The container runtimes whose cgroup naming the parser knows. */
  public enum ContainerRuntime {
    CONTAINERD,
    CRIO,
    DOCKER,
    PODMAN,
    /** A bare 64 hex digit cgroup name: containerd or Docker with the cgroupfs driver. */
    UNKNOWN,
    /** Not in a container. */
    NONE
  }
}
