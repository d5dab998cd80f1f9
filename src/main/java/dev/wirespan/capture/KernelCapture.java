package dev.wirespan.capture;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The running kernel capture: a build of the BPF object (see {@link ProgramVariant}) loaded with
 * its settings, every program attached to its syscall tracepoint, the event ring buffer mapped for
 * reading and the loss counters. Closing detaches everything; it is idempotent and thread-safe, so
 * a shutdown hook may call it while the capture thread polls.
 */
public final class KernelCapture implements AutoCloseable {
  /**
   * Classpath resource of the portable BPF object (built from {@code bpf/wirespan.bpf.c}), the one
   * every supported kernel loads.
   */
  public static final String OBJECT_RESOURCE = "/bpf/wirespan.bpf.o";
  /** The kfunc the {@link ProgramVariant#KFUNC} build calls: its presence in the kernel's BTF. */
  static final String KFUNC_NEEDED = "bpf_rdonly_cast";

  static final Path TRACEFS = Path.of("/sys/kernel/tracing");
  static final Path KERNEL_BTF = Path.of("/sys/kernel/btf/vmlinux");

  private static final Logger LOG = System.getLogger(KernelCapture.class.getName());
  private static final String OBJECT_NAME = "wirespan";
  private static final String NEEDS_PRIVILEGES = "needs CAP_BPF and CAP_PERFMON (or root)";

  static final String MAP_EVENTS = "events";
  static final String MAP_CONNECTIONS = "conns";
  static final String MAP_LOSSES = "losses";
  static final String MAP_SCRATCH = "scratch";
  static final String SECTION_RODATA = ".rodata";
  static final String VAR_SELF_TGID = "self_tgid";
  static final String VAR_CAPTURE_BYTES = "capture_bytes";
  static final String VAR_WAKEUP_BYTES = "wakeup_bytes";
  static final String VAR_TAIL_BYTES = "tail_bytes";
  static final String VAR_SHED_BYTES = "shed_bytes";

  /** {@code struct btf_type}: name_off, info, size/type; a DATASEC's entries follow. */
  private static final int BTF_TYPE_BYTES = 12;
  private static final int BTF_TYPE_INFO_OFFSET = 4;
  private static final int BTF_VLEN_MASK = 0xffff;
  /** {@code struct btf_var_secinfo}: type, offset, size. */
  private static final int BTF_VAR_SECINFO_BYTES = 12;
  private static final int ERROR_TEXT_BYTES = 256;
  /** Loads of the BPF object tried when signals interrupt the verifier (EAGAIN). */
  static final int LOAD_ATTEMPTS = 4;
  private static final long LOAD_RETRY_PAUSE_MS = 50;

  private final CaptureSettings settings;
  /** The ELF image libbpf was opened from: kept reachable for as long as the object lives. */
  private final Memory objectBytes;
  private final Pointer object;
  private final List<Pointer> links;
  private final List<String> programNames;
  private final RingBufferReader ringBuffer;
  private final KernelLossCounters lossCounters;
  private final ProgramVariant programVariant;
  private boolean closed;

  private KernelCapture(
      CaptureSettings settings,
      Memory objectBytes,
      Pointer object,
      List<Pointer> links,
      List<String> programNames,
      RingBufferReader ringBuffer,
      KernelLossCounters lossCounters,
      ProgramVariant programVariant) {
    this.settings = settings;
    this.objectBytes = objectBytes;
    this.object = object;
    this.links = links;
    this.programNames = List.copyOf(programNames);
    this.ringBuffer = ringBuffer;
    this.lossCounters = lossCounters;
    this.programVariant = programVariant;
  }

  /**
   * Loads and attaches the capture: mounts tracefs at /sys/kernel/tracing if needed, opens the
   * embedded object of the variant the settings ask for (for {@link ProgramVariant#AUTO}: the
   * kfunc build when the kernel's BTF has {@value #KFUNC_NEEDED} and it loads, else the portable
   * one), applies {@code settings}, loads and attaches every program and maps the ring buffer.
   *
   * @throws CaptureException naming the missing capability, kernel feature or library
   */
  public static KernelCapture open(CaptureSettings settings) {
    Objects.requireNonNull(settings, "settings");
    if (!Files.exists(KERNEL_BTF)) {
      throw new CaptureException(
          "kernel BTF "
              + KERNEL_BTF
              + " missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y for CO-RE programs");
    }
    ensureTracefs();
    LibBpf bpf = libBpf();
    LibBpfLog.install();
    int cpus = bpf.libbpf_num_possible_cpus();
    if (cpus <= 0) {
      throw new CaptureException("cannot count the possible CPUs: " + describe(-cpus));
    }

    ProgramVariant variant = settings.programVariant();
    LoadedObject loaded;
    if (variant != ProgramVariant.AUTO) {
      loaded = load(variant, settings, cpus);
    } else if (!kernelHasKfunc()) {
      loaded = load(ProgramVariant.PORTABLE, settings, cpus);
    } else {
      try {
        loaded = load(ProgramVariant.KFUNC, settings, cpus);
      } catch (CaptureException e) {
        // Should not happen where the kfunc exists; the portable build still captures everything.
        LOG.log(
            Level.WARNING,
            "the kfunc build of the capture programs did not load, using the portable one: {0}",
            e.getMessage());
        loaded = load(ProgramVariant.PORTABLE, settings, cpus);
      }
    }

    Pointer object = loaded.object();
    List<Pointer> links = new ArrayList<>();
    List<String> names = new ArrayList<>();
    RingBufferReader reader = null;
    try {
      attachAll(object, links, names);
      Pointer events = map(object, MAP_EVENTS);
      reader = RingBufferReader.map(bpf.bpf_map__fd(events), bpf.bpf_map__max_entries(events));
      KernelLossCounters counters =
          new KernelLossCounters(bpf.bpf_map__fd(map(object, MAP_LOSSES)), cpus);
      LOG.log(
          Level.INFO,
          "kernel capture attached: {0} programs, {1} variant ({2}), {3}",
          links.size(),
          loaded.variant().label(),
          loaded.variant().description(),
          settings);
      return new KernelCapture(
          settings, loaded.bytes(), object, links, names, reader, counters, loaded.variant());
    } catch (RuntimeException e) {
      if (reader != null) {
        reader.close();
      }
      for (Pointer link : links) {
        bpf.bpf_link__destroy(link);
      }
      bpf.bpf_object__close(object);
      throw e;
    }
  }

  /** A BPF object loaded into the kernel (maps created, programs verified), not attached yet. */
  private record LoadedObject(ProgramVariant variant, Memory bytes, Pointer object) {}

  /**
   * Opens the embedded object of {@code variant}, sizes its maps, writes its settings, loads it.
   * A load the kernel gave up because signals kept interrupting its verifier (EAGAIN; a profiler
   * or debugger attached to the agent sends them many times a second) is tried again on a fresh
   * object, up to {@value #LOAD_ATTEMPTS} times: libbpf's own retries are few and immediate.
   */
  private static LoadedObject load(ProgramVariant variant, CaptureSettings settings, int cpus) {
    for (int attempt = 1; ; attempt++) {
      try {
        return loadOnce(variant, settings, cpus);
      } catch (InterruptedLoad e) {
        if (attempt >= LOAD_ATTEMPTS) {
          throw loadFailure(LibC.EAGAIN);
        }
        LOG.log(
            Level.WARNING,
            "loading the capture programs was interrupted (attempt {0} of {1}), trying again",
            attempt,
            LOAD_ATTEMPTS);
        try {
          Thread.sleep(LOAD_RETRY_PAUSE_MS * attempt);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new CaptureException("interrupted while loading the capture programs");
        }
      }
    }
  }

  /** The kernel returned EAGAIN from a program load: signals interrupted its verifier. */
  private static final class InterruptedLoad extends RuntimeException {
    InterruptedLoad() {
      super(null, null, false, false);
    }
  }

  private static LoadedObject loadOnce(ProgramVariant variant, CaptureSettings settings, int cpus) {
    LibBpf bpf = LibBpf.INSTANCE;
    String resource = variant.objectResource();
    byte[] elf = readObject(resource);
    LibBpfLog.clearRecentWarnings();
    Memory objectBytes = new Memory(elf.length);
    objectBytes.write(0, elf, 0, elf.length);
    Pointer object =
        bpf.bpf_object__open_mem(objectBytes, elf.length, new LibBpf.OpenOptions(OBJECT_NAME));
    if (object == null) {
      throw new CaptureException(
          "cannot open the BPF object " + resource + ": " + describe(Native.getLastError()));
    }
    try {
      setMaxEntries(object, MAP_EVENTS, settings.ringBufferBytes());
      setMaxEntries(object, MAP_CONNECTIONS, settings.connectionMapEntries());
      setMaxEntries(object, MAP_SCRATCH, cpus);
      writeRodata(object, settings);
      int err = bpf.bpf_object__load(object);
      if (err == -LibC.EAGAIN) {
        throw new InterruptedLoad();
      }
      if (err < 0) {
        throw loadFailure(-err);
      }
      return new LoadedObject(variant, objectBytes, object);
    } catch (RuntimeException e) {
      bpf.bpf_object__close(object);
      throw e;
    }
  }

  /**
   * Whether the running kernel's BTF declares the kfunc the {@link ProgramVariant#KFUNC} build
   * calls, i.e. whether {@link ProgramVariant#AUTO} picks that build.
   */
  public static boolean kernelHasKfunc() {
    LibBpf bpf = LibBpf.INSTANCE;
    Pointer btf = bpf.btf__load_vmlinux_btf();
    if (btf == null) {
      return false; // libbpf's load will say what is wrong with the kernel's BTF
    }
    try {
      return bpf.btf__find_by_name_kind(btf, KFUNC_NEEDED, LibBpf.BTF_KIND_FUNC) > 0;
    } finally {
      bpf.btf__free(btf);
    }
  }

  public CaptureSettings settings() {
    return settings;
  }

  /** The event ring buffer; read it from one capture thread. */
  public RingBufferReader ringBuffer() {
    return ringBuffer;
  }

  /** The kernel side's loss counters, for metrics scrapes. */
  public KernelLossCounters lossCounters() {
    return lossCounters;
  }

  /** The build of the programs that runs: {@link ProgramVariant#KFUNC} or {@link ProgramVariant#PORTABLE}. */
  public ProgramVariant programVariant() {
    return programVariant;
  }

  /** Names of the attached programs (e.g. "enter_write"). */
  public List<String> attachedPrograms() {
    return programNames;
  }

  public synchronized boolean isClosed() {
    return closed;
  }

  /** Detaches every program, unmaps the ring buffer and frees the object. Idempotent. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    ringBuffer.close();
    lossCounters.close();
    LibBpf bpf = LibBpf.INSTANCE;
    for (Pointer link : links) {
      int err = bpf.bpf_link__destroy(link);
      if (err < 0) {
        LOG.log(Level.WARNING, "detaching a capture program failed: {0}", describe(-err));
      }
    }
    bpf.bpf_object__close(object);
    LOG.log(Level.INFO, "kernel capture detached");
  }

  private static LibBpf libBpf() {
    try {
      return LibBpf.INSTANCE;
    } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
      throw new CaptureException(
          "libbpf not found: install libbpf 1.1 or newer (Debian/Ubuntu: libbpf1)", e);
    }
  }

  private static void ensureTracefs() {
    Path events = TRACEFS.resolve("events");
    if (!Files.isDirectory(events)) {
      if (!Files.isDirectory(TRACEFS)) {
        throw new CaptureException(
            "tracefs mount point "
                + TRACEFS
                + " missing (kernel without tracing support?): syscall tracepoints unavailable");
      }
      int rc = LibC.INSTANCE.mount("tracefs", TRACEFS.toString(), "tracefs", 0, null);
      if (rc != 0) {
        int errno = Native.getLastError();
        throw new CaptureException(
            "tracefs not mounted at "
                + TRACEFS
                + " and mounting it failed ("
                + describe(errno)
                + "): syscall tracepoints unavailable; mount it (mount -t tracefs tracefs "
                + TRACEFS
                + ") or grant CAP_SYS_ADMIN");
      }
      LOG.log(Level.INFO, "mounted tracefs at {0}", TRACEFS);
    }
    if (!Files.isDirectory(events.resolve("syscalls"))) {
      throw new CaptureException(
          "syscall tracepoints unavailable: "
              + events.resolve("syscalls")
              + " missing (the kernel needs CONFIG_FTRACE_SYSCALLS)");
    }
  }

  private static byte[] readObject(String resource) {
    try (InputStream in = KernelCapture.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new CaptureException(
            "BPF object "
                + resource
                + " not on the classpath: the build was made with -DskipBpf (or without clang)");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new CaptureException("cannot read the BPF object " + resource, e);
    }
  }

  private static Pointer map(Pointer object, String name) {
    Pointer map = LibBpf.INSTANCE.bpf_object__find_map_by_name(object, name);
    if (map == null) {
      throw new CaptureException("the BPF object has no map '" + name + "'");
    }
    return map;
  }

  private static void setMaxEntries(Pointer object, String mapName, int entries) {
    int err = LibBpf.INSTANCE.bpf_map__set_max_entries(map(object, mapName), entries);
    if (err < 0) {
      throw new CaptureException(
          "cannot size map '" + mapName + "' to " + entries + ": " + describe(-err));
    }
  }

  /**
   * Writes the settings into .rodata by variable name: their offsets come from the object's BTF
   * (the DATASEC ".rodata"), not from an assumed layout.
   */
  private static void writeRodata(Pointer object, CaptureSettings settings) {
    LibBpf bpf = LibBpf.INSTANCE;
    LongByReference size = new LongByReference();
    Pointer data = bpf.bpf_map__initial_value(map(object, SECTION_RODATA), size);
    if (data == null) {
      throw new CaptureException("the BPF object's .rodata has no initial value");
    }
    Map<String, long[]> vars = dataSectionVariables(object, SECTION_RODATA);
    putRodata(data, size.getValue(), vars, VAR_SELF_TGID, Integer.BYTES, settings.selfTgid());
    putRodata(
        data, size.getValue(), vars, VAR_CAPTURE_BYTES, Integer.BYTES, settings.captureBytes());
    putRodata(data, size.getValue(), vars, VAR_WAKEUP_BYTES, Long.BYTES, settings.wakeupBytes());
    putRodata(data, size.getValue(), vars, VAR_TAIL_BYTES, Integer.BYTES, settings.tailBytes());
    putRodata(data, size.getValue(), vars, VAR_SHED_BYTES, Long.BYTES, settings.shedBytes());
  }

  /** Variable name -> {offset, size} of the DATASEC {@code section}. */
  static Map<String, long[]> dataSectionVariables(Pointer object, String section) {
    LibBpf bpf = LibBpf.INSTANCE;
    Pointer btf = bpf.bpf_object__btf(object);
    if (btf == null) {
      throw new CaptureException("the BPF object has no BTF (compile it with -g)");
    }
    int id = bpf.btf__find_by_name_kind(btf, section, LibBpf.BTF_KIND_DATASEC);
    if (id < 0) {
      throw new CaptureException("the BPF object's BTF has no section " + section);
    }
    Pointer datasec = bpf.btf__type_by_id(btf, id);
    int vlen = datasec.getInt(BTF_TYPE_INFO_OFFSET) & BTF_VLEN_MASK;
    Map<String, long[]> vars = new HashMap<>();
    for (int i = 0; i < vlen; i++) {
      long entry = BTF_TYPE_BYTES + (long) i * BTF_VAR_SECINFO_BYTES;
      int varType = datasec.getInt(entry);
      long offset = Integer.toUnsignedLong(datasec.getInt(entry + Integer.BYTES));
      long varSize = Integer.toUnsignedLong(datasec.getInt(entry + 2L * Integer.BYTES));
      Pointer var = bpf.btf__type_by_id(btf, varType);
      if (var != null) {
        vars.put(bpf.btf__name_by_offset(btf, var.getInt(0)), new long[] {offset, varSize});
      }
    }
    return vars;
  }

  private static void putRodata(
      Pointer data, long dataSize, Map<String, long[]> vars, String name, int bytes, long value) {
    long[] var = vars.get(name);
    if (var == null || var[1] != bytes || var[0] + bytes > dataSize) {
      throw new CaptureException(
          "the BPF object's .rodata has no " + bytes + "-byte variable '" + name + "'");
    }
    if (bytes == Integer.BYTES) {
      data.setInt(var[0], (int) value);
    } else {
      data.setLong(var[0], value);
    }
  }

  private static void attachAll(Pointer object, List<Pointer> links, List<String> names) {
    LibBpf bpf = LibBpf.INSTANCE;
    for (Pointer prog = bpf.bpf_object__next_program(object, null);
        prog != null;
        prog = bpf.bpf_object__next_program(object, prog)) {
      LibBpfLog.clearRecentWarnings();
      Pointer link = bpf.bpf_program__attach(prog);
      if (link == null) {
        throw attachFailure(bpf.bpf_program__section_name(prog), Native.getLastError());
      }
      links.add(link);
      names.add(bpf.bpf_program__name(prog));
    }
  }

  private static CaptureException loadFailure(int errno) {
    List<String> warnings = LibBpfLog.recentWarnings();
    String log = warnings.isEmpty() ? "" : "\nlibbpf said:\n" + String.join("\n", warnings);
    boolean verifier =
        warnings.stream().anyMatch(w -> w.contains("PROG LOAD LOG") || w.contains("processed "));
    boolean btf = warnings.stream().anyMatch(w -> w.contains("vmlinux BTF") || w.contains("kernel BTF"));
    String why;
    if (errno == LibC.EPERM) {
      why = "loading BPF programs " + NEEDS_PRIVILEGES + " (kernel lockdown may also forbid it)";
    } else if (errno == LibC.EAGAIN) {
      // The verifier's log is printed for this too, but nothing was rejected.
      why =
          "signals kept interrupting the kernel's verifier while it checked a capture program ("
              + describe(errno)
              + ", "
              + LOAD_ATTEMPTS
              + " attempts): attach profilers or debuggers to the agent after it started";
    } else if (verifier) {
      why = "the kernel's verifier rejected a capture program (" + describe(errno) + ")";
    } else if (errno == LibC.EACCES) {
      why = "loading BPF programs " + NEEDS_PRIVILEGES;
    } else if (btf) {
      why = "kernel BTF " + KERNEL_BTF + " unusable (" + describe(errno) + ")";
    } else if (errno == LibC.ENOMEM || errno == LibC.E2BIG) {
      why =
          "the kernel refused the maps' memory ("
              + describe(errno)
              + "): lower ringBufferBytes or connectionMapEntries";
    } else {
      why = "loading the BPF object failed: " + describe(errno);
    }
    return new CaptureException(why + log);
  }

  private static CaptureException attachFailure(String section, int errno) {
    String what = "attaching " + section + " failed (" + describe(errno) + ")";
    if (errno == LibC.EPERM || errno == LibC.EACCES) {
      return new CaptureException(what + ": " + NEEDS_PRIVILEGES);
    }
    if (errno == LibC.ENOENT || errno == LibC.ENODEV || errno == LibC.EINVAL) {
      return new CaptureException(
          what + ": tracefs not mounted at " + TRACEFS + " / syscall tracepoints unavailable");
    }
    return new CaptureException(what);
  }

  /** "EPERM-like text (errno N)" through libbpf_strerror, which also knows libbpf's own codes. */
  static String describe(int errno) {
    byte[] buf = new byte[ERROR_TEXT_BYTES];
    try {
      if (LibBpf.INSTANCE.libbpf_strerror(errno, buf, buf.length) == 0) {
        int n = 0;
        while (n < buf.length && buf[n] != 0) {
          n++;
        }
        return new String(buf, 0, n, StandardCharsets.UTF_8) + " (errno " + errno + ")";
      }
    } catch (UnsatisfiedLinkError e) {
      // fall through to the bare number
    }
    return "errno " + errno;
  }
}
