package dev.wirespan.capture;

import java.util.Locale;

/**
 * Which build of the capture programs the agent loads. Both capture the same; they differ in how
 * the per-call check "is this fd a socket" reads kernel memory, which every read and write of
 * every process on the node pays.
 */
public enum ProgramVariant {
  /** {@link #KFUNC} when the running kernel has the kfunc it needs, else {@link #PORTABLE}. */
  AUTO(null, "the kfunc variant where the kernel has bpf_rdonly_cast, else the portable one"),
  /**
   * Kernel 6.2+: kernel objects read with plain JIT-ed loads through the {@code bpf_rdonly_cast}
   * kfunc instead of one helper call per field (about half the BPF time per non-socket call).
   */
  KFUNC("/bpf/wirespan.kfunc.bpf.o", "plain loads through bpf_rdonly_cast, kernel 6.2+"),
  /** Kernel 5.12+: kernel objects read with {@code bpf_probe_read_kernel}, one call per field. */
  PORTABLE("/bpf/wirespan.bpf.o", "helper reads, kernel 5.12+");

  private final String objectResource;
  private final String description;

  ProgramVariant(String objectResource, String description) {
    this.objectResource = objectResource;
    this.description = description;
  }

  /** Classpath resource of the compiled BPF object; {@code null} for {@link #AUTO}. */
  String objectResource() {
    return objectResource;
  }

  /** What the variant does, for log lines. */
  public String description() {
    return description;
  }

  /** The lower-case name used in settings and metric labels, e.g. {@code "kfunc"}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * The variant named {@code text} (case-insensitive: auto, kfunc, portable).
   *
   * @throws IllegalArgumentException naming the accepted values
   */
  public static ProgramVariant parse(String text) {
    for (ProgramVariant v : values()) {
      if (v.label().equalsIgnoreCase(text.trim())) {
        return v;
      }
    }
    throw new IllegalArgumentException(
        "unknown kernel program variant '" + text + "': auto, kfunc or portable");
  }
}
