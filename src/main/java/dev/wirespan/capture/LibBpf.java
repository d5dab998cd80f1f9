package dev.wirespan.capture;

import com.sun.jna.Callback;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.LongByReference;

/**
 * libbpf 1.1 ({@code libbpf.so.1}) through JNA: the calls needed to open, configure, load and
 * attach the capture object and to read its maps. Only used while starting, stopping and
 * scraping: never once per event.
 *
 * <p>Native contract (libbpf 1.0 error mode, the default since 1.0): functions returning a pointer
 * return {@code NULL} on failure with {@code errno} set (read it with {@link
 * Native#getLastError()} right after the call); functions returning {@code int} return 0 (or a
 * non-negative value) on success and a negative errno on failure. Opaque handles ({@code struct
 * bpf_object *}, {@code bpf_map *}, {@code bpf_program *}, {@code bpf_link *}, {@code btf *}) are
 * {@link Pointer}s owned by libbpf: maps, programs and the BTF live until {@link
 * #bpf_object__close}; links until {@link #bpf_link__destroy}. {@code size_t} is mapped to {@code
 * long} (LP64 Linux only).
 */
public interface LibBpf extends Library {
  /** The process-wide binding; loading fails with {@link UnsatisfiedLinkError} without libbpf. */
  LibBpf INSTANCE = NativeLibraries.load("bpf", "libbpf.so.1", LibBpf.class);

  /** {@code libbpf_print_level}: LIBBPF_WARN. */
  int LIBBPF_WARN = 0;
  /** {@code libbpf_print_level}: LIBBPF_INFO. */
  int LIBBPF_INFO = 1;
  /** {@code libbpf_print_level}: LIBBPF_DEBUG. */
  int LIBBPF_DEBUG = 2;

  /** {@code BTF_KIND_FUNC}: a function (in the kernel's BTF, also every kfunc). */
  int BTF_KIND_FUNC = 12;
  /** {@code BTF_KIND_VAR}: a global variable. */
  int BTF_KIND_VAR = 14;
  /** {@code BTF_KIND_DATASEC}: a data section (.rodata, .bss, ...) and its variables. */
  int BTF_KIND_DATASEC = 15;

  /**
   * {@code libbpf_print_fn_t}: {@code int (*)(enum libbpf_print_level, const char *fmt, va_list)}.
   * The {@code va_list} can only be consumed once, by one {@code vsnprintf}.
   */
  interface PrintCallback extends Callback {
    int invoke(int level, Pointer format, Pointer args);
  }

  /**
   * The head of {@code struct bpf_object_open_opts}: libbpf reads only the first {@code sz}
   * bytes, so a prefix of the structure is a valid argument.
   */
  @Structure.FieldOrder({"sz", "objectName"})
  final class OpenOptions extends Structure {
    public long sz;
    public String objectName;

    public OpenOptions(String objectName) {
      this.objectName = objectName;
      this.sz = size();
      write();
    }
  }

  /**
   * Installs the log callback, process-wide; returns the previous one. The callback must stay
   * strongly referenced while libbpf may call it. {@code NULL} silences libbpf.
   */
  Pointer libbpf_set_print(PrintCallback fn);

  /**
   * Opens an ELF object from memory (not loaded yet). The buffer must stay valid until the
   * object is loaded. Returns NULL with errno set on failure.
   */
  Pointer bpf_object__open_mem(Pointer objBuf, long objBufSize, OpenOptions opts);

  /** Creates the maps, loads and verifies every program: 0 or a negative errno. */
  int bpf_object__load(Pointer obj);

  /** Detaches nothing (links are separate), closes the maps and programs; NULL is a no-op. */
  void bpf_object__close(Pointer obj);

  /** The object's BTF (present for objects compiled with -g), or NULL. */
  Pointer bpf_object__btf(Pointer obj);

  /** The map named {@code name} (for .rodata: ".rodata"), or NULL with errno ENOENT. */
  Pointer bpf_object__find_map_by_name(Pointer obj, String name);

  /** Iterates the programs: pass NULL first, then the previous one; NULL ends. */
  Pointer bpf_object__next_program(Pointer obj, Pointer prev);

  /** Sets a map's size before load: 0 or a negative errno. */
  int bpf_map__set_max_entries(Pointer map, int maxEntries);

  /** A map's size (after load, what the kernel created). */
  int bpf_map__max_entries(Pointer map);

  /**
   * The writable initial contents of a global data map (.rodata, .data, .bss) before load,
   * {@code *psize} receiving its size; NULL for other maps.
   */
  Pointer bpf_map__initial_value(Pointer map, LongByReference psize);

  /** The map's file descriptor after load, or a negative errno. */
  int bpf_map__fd(Pointer map);

  /** The program's function name. */
  String bpf_program__name(Pointer prog);

  /** The program's ELF section, e.g. "tracepoint/syscalls/sys_enter_write". */
  String bpf_program__section_name(Pointer prog);

  /** Attaches according to the section name; the link, or NULL with errno set. */
  Pointer bpf_program__attach(Pointer prog);

  /** Detaches and frees a link: 0 or a negative errno. NULL is a no-op. */
  int bpf_link__destroy(Pointer link);

  /**
   * Parses the running kernel's BTF (/sys/kernel/btf/vmlinux); NULL with errno set on failure.
   * Free it with {@link #btf__free}.
   */
  Pointer btf__load_vmlinux_btf();

  /** Frees a BTF object this process loaded; NULL is a no-op. */
  void btf__free(Pointer btf);

  /** The id of the type named {@code name} of kind {@code kind}, or a negative errno. */
  int btf__find_by_name_kind(Pointer btf, String name, int kind);

  /**
   * {@code struct btf_type *} of {@code id}: {@code u32 name_off; u32 info; u32 size_or_type},
   * then kind-specific data (for a DATASEC, {@code vlen = info & 0xffff} entries of {@code u32
   * type; u32 offset; u32 size}). NULL with errno set if there is no such id.
   */
  Pointer btf__type_by_id(Pointer btf, int id);

  /** The string at {@code offset} of the BTF string section. */
  String btf__name_by_offset(Pointer btf, int offset);

  /**
   * {@code bpf(BPF_MAP_LOOKUP_ELEM)}: copies the value of {@code key} into {@code value} (for
   * per-CPU maps, one 8-byte-aligned value per possible CPU). 0 or a negative errno.
   */
  int bpf_map_lookup_elem(int fd, Pointer key, Pointer value);

  /** The number of possible CPUs (the per-CPU value count), or a negative errno. */
  int libbpf_num_possible_cpus();

  /** Writes the message for libbpf error code {@code err} into buf: 0 or a negative errno. */
  int libbpf_strerror(int err, byte[] buf, long size);
}
