package dev.wirespan.process;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Predicate;
import javax.annotation.Nullable;

/**
 * The {@code /proc/<pid>} files the resource resolvers read, once per new process or container
 * (never per span). Every method answers null or empty when the process is gone or may not be
 * read, never an exception. The root is configurable: the host's {@code /proc} seen from a
 * container, or a tree laid out by a test.
 */
public final class ProcessFiles {
  /** Upper bound on what is read of one file: environments can be large, the others are small. */
  public static final int MAX_FILE_BYTES = 256 * 1024;
  private static final int MAX_STAT_BYTES = 4096;
  private static final int MAX_NAME_BYTES = 256;
  /** Index of starttime among the fields after the comm's closing parenthesis in stat. */
  private static final int STAT_START_TIME_INDEX = 19;
  private static final String DELETED_SUFFIX = " (deleted)";

  private final Path procRoot;

  public ProcessFiles(Path procRoot) {
    this.procRoot = Objects.requireNonNull(procRoot, "procRoot");
  }

  /** The text of {@code cgroup}, or null. */
  @Nullable
  public String cgroup(int pid) {
    byte[] bytes = read(pid, "cgroup", MAX_FILE_BYTES);
    return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
  }

  /** The variables of the process's initial environment whose names {@code wanted} accepts. */
  public Map<String, String> environment(int pid, Predicate<String> wanted) {
    Map<String, String> out = new LinkedHashMap<>();
    byte[] bytes = read(pid, "environ", MAX_FILE_BYTES);
    if (bytes == null) {
      return out;
    }
    int start = 0;
    for (int i = 0; i <= bytes.length; i++) {
      if (i == bytes.length || bytes[i] == 0) {
        if (i > start) {
          String entry = new String(bytes, start, i - start, StandardCharsets.UTF_8);
          int eq = entry.indexOf('=');
          if (eq > 0 && wanted.test(entry.substring(0, eq))) {
            out.put(entry.substring(0, eq), entry.substring(eq + 1));
          }
        }
        start = i + 1;
      }
    }
    return out;
  }

  /** {@code cmdline} with its NUL separators as spaces, or null when empty or unreadable. */
  @Nullable
  public String commandLine(int pid) {
    byte[] bytes = read(pid, "cmdline", MAX_FILE_BYTES);
    if (bytes == null || bytes.length == 0) {
      return null;
    }
    int length = bytes.length;
    while (length > 0 && bytes[length - 1] == 0) {
      length--;
    }
    for (int i = 0; i < length; i++) {
      if (bytes[i] == 0) {
        bytes[i] = ' ';
      }
    }
    return length == 0 ? null : new String(bytes, 0, length, StandardCharsets.UTF_8);
  }

  /**
   * The file name of the {@code exe} link, else {@code comm} (kernel threads, and other users'
   * processes without CAP_SYS_PTRACE); null when neither can be read.
   */
  @Nullable
  public String executableName(int pid) {
    if (pid <= 0) {
      return null;
    }
    try {
      String target = Files.readSymbolicLink(dir(pid).resolve("exe")).toString();
      if (target.endsWith(DELETED_SUFFIX)) {
        target = target.substring(0, target.length() - DELETED_SUFFIX.length());
      }
      String name = target.substring(target.lastIndexOf('/') + 1);
      if (!name.isEmpty()) {
        return name;
      }
    } catch (IOException | RuntimeException e) {
      // fall back to comm
    }
    byte[] comm = read(pid, "comm", MAX_NAME_BYTES);
    if (comm == null) {
      return null;
    }
    String name = new String(comm, StandardCharsets.UTF_8).strip();
    return name.isEmpty() ? null : name;
  }

  /** The process's start time in clock ticks since boot (tells a reused pid), or -1. */
  public long startTime(int pid) {
    byte[] bytes = read(pid, "stat", MAX_STAT_BYTES);
    if (bytes == null) {
      return -1;
    }
    String stat = new String(bytes, StandardCharsets.UTF_8);
    int close = stat.lastIndexOf(')');
    if (close < 0) {
      return -1;
    }
    String[] fields = stat.substring(close + 1).trim().split(" ");
    if (fields.length <= STAT_START_TIME_INDEX) {
      return -1;
    }
    try {
      return Long.parseLong(fields[STAT_START_TIME_INDEX]);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private Path dir(int pid) {
    return procRoot.resolve(Integer.toString(pid));
  }

  @Nullable
  private byte[] read(int pid, String file, int maxBytes) {
    if (pid <= 0) {
      return null;
    }
    try (InputStream in = Files.newInputStream(dir(pid).resolve(file))) {
      return in.readNBytes(maxBytes); // /proc files report size 0: read, don't stat
    } catch (IOException | RuntimeException e) {
      return null; // the process exited, or we may not read it: the caller falls back
    }
  }
}
