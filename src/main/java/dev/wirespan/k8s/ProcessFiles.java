package dev.wirespan.k8s;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import javax.annotation.Nullable;

/**
 * The few {@code /proc/<pid>} files the resource resolver reads, once per new cgroup or
 * container (never per span). The root is configurable so tests can lay out their own files.
 */
final class ProcessFiles {
  /** Upper bound on what is read of one file: environments can be large, cgroup files are small. */
  static final int MAX_FILE_BYTES = 256 * 1024;

  private final Path procRoot;

  ProcessFiles(Path procRoot) {
    this.procRoot = Objects.requireNonNull(procRoot, "procRoot");
  }

  /** The text of {@code /proc/<pid>/cgroup}, or null when the process is gone or unreadable. */
  @Nullable
  String cgroup(int pid) {
    byte[] bytes = read(pid, "cgroup");
    return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
  }

  /** The values of the named variables in {@code /proc/<pid>/environ}; empty when unreadable. */
  Map<String, String> environment(int pid, Set<String> names) {
    Map<String, String> out = new HashMap<>();
    byte[] bytes = read(pid, "environ");
    if (bytes == null) {
      return out;
    }
    int start = 0;
    for (int i = 0; i <= bytes.length; i++) {
      if (i == bytes.length || bytes[i] == 0) {
        if (i > start) {
          String entry = new String(bytes, start, i - start, StandardCharsets.UTF_8);
          int eq = entry.indexOf('=');
          if (eq > 0 && names.contains(entry.substring(0, eq))) {
            out.put(entry.substring(0, eq), entry.substring(eq + 1));
          }
        }
        start = i + 1;
      }
    }
    return out;
  }

  @Nullable
  private byte[] read(int pid, String file) {
    if (pid <= 0) {
      return null;
    }
    try (InputStream in = Files.newInputStream(procRoot.resolve(Integer.toString(pid)).resolve(file))) {
      return in.readNBytes(MAX_FILE_BYTES);
    } catch (IOException | SecurityException e) {
      return null; // the process exited, or we may not read it: the caller falls back
    }
  }
}
