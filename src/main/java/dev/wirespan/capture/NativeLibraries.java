package dev.wirespan.capture;

import com.sun.jna.Library;
import com.sun.jna.Native;

/** Loads the native libraries of the capture stage, also when only the versioned file exists. */
final class NativeLibraries {
  private NativeLibraries() {}

  /**
   * Loads {@code name} ("bpf" finds libbpf.so), then {@code versionedFile} (the runtime package
   * ships only libbpf.so.1, the unversioned link comes with the -dev package).
   */
  static <T extends Library> T load(String name, String versionedFile, Class<T> type) {
    try {
      return Native.load(name, type);
    } catch (UnsatisfiedLinkError first) {
      try {
        return Native.load(versionedFile, type);
      } catch (UnsatisfiedLinkError second) {
        second.addSuppressed(first);
        throw second;
      }
    }
  }
}
