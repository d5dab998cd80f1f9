package dev.wirespan.process;

import dev.wirespan.process.ContainerCgroup.ContainerRuntime;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.annotation.Nullable;

/**
 * Reads the container id and pod uid out of the text of {@code /proc/<pid>/cgroup}, for
 * containerd, CRI-O and Docker under both the systemd and the cgroupfs cgroup drivers, cgroup v1
 * and v2. Paths are read segment by segment from the leaf up, so a process in a sub-cgroup of its
 * container and paths relative to a cgroup namespace ({@code /../../kubepods...}) both work.
 */
public final class CgroupParser {
  private static final String HEX_ID = "([0-9a-f]{64})";

  /**
   * systemd driver: {@code cri-containerd-<id>.scope}, {@code crio-<id>.scope}, {@code
   * docker-<id>.scope}, and podman's {@code libpod-<id>.scope}.
   */
  private static final Pattern SYSTEMD_SCOPE =
      Pattern.compile("(cri-containerd|crio|docker|libpod)-" + HEX_ID + "\\.scope");

  /** containerd's systemd naming when kubelet uses cgroupfs paths: {@code ...slice:cri-containerd:<id>}. */
  private static final Pattern COLON_FORM = Pattern.compile(".*:(cri-containerd|crio|docker):" + HEX_ID);

  /** CRI-O with the cgroupfs driver: {@code crio-<id>}. */
  private static final Pattern CRIO_CGROUPFS = Pattern.compile("crio-" + HEX_ID);

  /** containerd or Docker with the cgroupfs driver: the bare id. */
  private static final Pattern BARE_ID = Pattern.compile(HEX_ID);

  /** systemd driver pod slice: {@code kubepods-burstable-pod<uid_with_underscores>.slice}. */
  private static final Pattern SYSTEMD_POD =
      Pattern.compile("kubepods(?:-[a-z]+)?-pod([0-9a-f_]{36})\\.slice");

  /** cgroupfs driver pod directory: {@code pod<uid>}. */
  private static final Pattern CGROUPFS_POD = Pattern.compile("pod([0-9a-f-]{36})");

  private CgroupParser() {}

  /**
   * Parses the whole file. The cgroup v2 line ({@code 0::<path>}) is preferred; v1 lines are
   * read when it names no container (hybrid hosts where the runtime only writes v1 paths).
   */
  public static ContainerCgroup parseFile(String procCgroupText) {
    ContainerCgroup fromV1 = null;
    int start = 0;
    int length = procCgroupText.length();
    while (start < length) {
      int end = procCgroupText.indexOf('\n', start);
      if (end < 0) {
        end = length;
      }
      String line = procCgroupText.substring(start, end);
      start = end + 1;
      ContainerCgroup parsed = parseLine(line);
      if (parsed == null || !parsed.inContainer()) {
        continue;
      }
      if (line.startsWith("0::")) {
        return parsed;
      }
      if (fromV1 == null || (fromV1.containerId() == null && parsed.containerId() != null)) {
        fromV1 = parsed;
      }
    }
    return fromV1 == null ? ContainerCgroup.HOST : fromV1;
  }

  /**
   * Parses one {@code hierarchy-id:controllers:path} line; null when the line is not of that
   * form.
   */
  @Nullable
  public static ContainerCgroup parseLine(String line) {
    int first = line.indexOf(':');
    int second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) {
      return null;
    }
    return parsePath(line.substring(second + 1).trim());
  }

  /** Parses a cgroup path such as {@code /kubepods/burstable/pod<uid>/<id>}. */
  public static ContainerCgroup parsePath(String path) {
    String[] segments = path.split("/");
    String containerId = null;
    ContainerRuntime runtime = ContainerRuntime.NONE;
    String podUid = null;
    boolean underDocker = false;
    for (int i = segments.length - 1; i >= 0; i--) {
      String segment = segments[i];
      if (segment.isEmpty()) {
        continue;
      }
      if (containerId == null) {
        Matcher m;
        if ((m = SYSTEMD_SCOPE.matcher(segment)).matches()
            || (m = COLON_FORM.matcher(segment)).matches()) {
          containerId = m.group(2);
          runtime = runtimeOf(m.group(1));
          String prefix = segment.substring(0, Math.max(0, segment.indexOf(':')));
          podUid = podUidOf(prefix);
          continue;
        }
        if ((m = CRIO_CGROUPFS.matcher(segment)).matches()) {
          containerId = m.group(1);
          runtime = ContainerRuntime.CRIO;
          continue;
        }
        if ((m = BARE_ID.matcher(segment)).matches()) {
          containerId = m.group(1);
          runtime = ContainerRuntime.UNKNOWN;
          underDocker = i > 0 && segments[i - 1].equals("docker");
          if (underDocker) {
            runtime = ContainerRuntime.DOCKER;
          }
          continue;
        }
      }
      if (podUid == null) {
        podUid = podUidOf(segment);
      }
    }
    if (containerId == null && podUid == null) {
      return ContainerCgroup.HOST;
    }
    return new ContainerCgroup(containerId, runtime, podUid);
  }

  @Nullable
  private static String podUidOf(String segment) {
    Matcher m = SYSTEMD_POD.matcher(segment);
    if (m.matches()) {
      return m.group(1).replace('_', '-');
    }
    m = CGROUPFS_POD.matcher(segment);
    if (m.matches()) {
      return m.group(1);
    }
    return null;
  }

  private static ContainerRuntime runtimeOf(String prefix) {
    switch (prefix) {
      case "cri-containerd":
        return ContainerRuntime.CONTAINERD;
      case "crio":
        return ContainerRuntime.CRIO;
      case "libpod":
        return ContainerRuntime.PODMAN;
      default:
        return ContainerRuntime.DOCKER;
    }
  }

  /**
   * The bare container id of a {@code status.containerStatuses[].containerID}
   * ({@code containerd://<id>}, {@code cri-o://<id>}, {@code docker://<id>}); null when empty.
   */
  @Nullable
  public static String containerIdOfStatus(@Nullable String statusContainerId) {
    if (statusContainerId == null || statusContainerId.isEmpty()) {
      return null;
    }
    int scheme = statusContainerId.indexOf("://");
    return scheme < 0 ? statusContainerId : statusContainerId.substring(scheme + 3);
  }
}
