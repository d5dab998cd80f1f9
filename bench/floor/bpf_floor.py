#!/usr/bin/env python3
"""Loads bpf-floor.bpf.o through libbpf, runs dd under it and prints each program's mean BPF
run time (run_time_ns / run_cnt deltas), REPEATS times, then the medians. Run by bpf-floor.sh."""
import ctypes, os, statistics, subprocess, sys

SYS_BPF, BPF_ENABLE_STATS, BPF_STATS_RUN_TIME = 321, 32, 0  # x86-64
obj_path, repeats, dd_count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

bpf = ctypes.CDLL("libbpf.so.1", use_errno=True)
libc = ctypes.CDLL(None, use_errno=True)
for name in ("bpf_object__open_file", "bpf_object__find_map_by_name", "bpf_map__initial_value",
             "bpf_object__next_program", "bpf_program__attach", "bpf_program__name",
             "bpf_object__find_program_by_name", "bpf_object__bss"):
    if hasattr(bpf, name):
        getattr(bpf, name).restype = ctypes.c_void_p
for name in ("bpf_object__find_map_by_name", "bpf_map__initial_value", "bpf_object__next_program",
             "bpf_program__attach", "bpf_program__name", "bpf_program__fd", "bpf_object__load", "bpf_map__fd",
             "bpf_object__close", "bpf_link__destroy"):
    getattr(bpf, name).argtypes = None
bpf.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
bpf.bpf_object__find_map_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
bpf.bpf_map__initial_value.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
bpf.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
bpf.bpf_program__attach.argtypes = [ctypes.c_void_p]
bpf.bpf_program__name.argtypes = [ctypes.c_void_p]
bpf.bpf_program__name.restype = ctypes.c_char_p
bpf.bpf_program__fd.argtypes = [ctypes.c_void_p]
bpf.bpf_object__load.argtypes = [ctypes.c_void_p]
bpf.bpf_object__close.argtypes = [ctypes.c_void_p]
bpf.bpf_link__destroy.argtypes = [ctypes.c_void_p]
bpf.bpf_map__fd.argtypes = [ctypes.c_void_p]
bpf.bpf_map_lookup_elem.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]

attr = (ctypes.c_uint32 * 30)(BPF_STATS_RUN_TIME)
stats_fd = libc.syscall(SYS_BPF, BPF_ENABLE_STATS, ctypes.byref(attr), ctypes.sizeof(attr))
if stats_fd < 0:
    sys.exit(f"BPF_ENABLE_STATS failed: errno {ctypes.get_errno()}")


def stats(fd):
    fields = dict(l.split(":\t", 1) for l in open(f"/proc/self/fdinfo/{fd}") if ":\t" in l)
    return int(fields["run_cnt"]), int(fields["run_time_ns"])


def one_run():
    # dd waits for a line on stdin, so that its pid can be written into the object before load.
    child = subprocess.Popen(
        ["sh", "-c", f'read go; exec dd if=/dev/zero of=/dev/null bs=64 count={dd_count} status=none'],
        stdin=subprocess.PIPE)
    obj = bpf.bpf_object__open_file(obj_path.encode(), None)
    if not obj:
        sys.exit(f"cannot open {obj_path}: errno {ctypes.get_errno()}")
    size = ctypes.c_size_t()
    rodata = bpf.bpf_map__initial_value(bpf.bpf_object__find_map_by_name(obj, b".rodata"), ctypes.byref(size))
    ctypes.c_uint32.from_address(rodata).value = child.pid  # target_tgid, the only .rodata variable
    if bpf.bpf_object__load(obj):
        sys.exit("load failed")
    progs, links = [], []
    prog = bpf.bpf_object__next_program(obj, None)
    while prog:
        link = bpf.bpf_program__attach(prog)
        if not link:
            sys.exit(f"attach {bpf.bpf_program__name(prog)} failed: errno {ctypes.get_errno()}")
        links.append(link)
        progs.append((bpf.bpf_program__name(prog).decode(), bpf.bpf_program__fd(prog)))
        prog = bpf.bpf_object__next_program(obj, prog)
    before = {name: stats(fd) for name, fd in progs}
    child.stdin.write(b"go\n")
    child.stdin.close()
    child.wait()
    after = {name: stats(fd) for name, fd in progs}
    # .bss starts with ring_failures: records the ring could not take void the ring programs' times
    bss_fd = bpf.bpf_map__fd(bpf.bpf_object__find_map_by_name(obj, b".bss"))
    key, bss = ctypes.c_uint32(0), (ctypes.c_uint64 * 2)()
    if bpf.bpf_map_lookup_elem(bss_fd, ctypes.byref(key), ctypes.byref(bss)) or bss[0]:
        sys.exit(f"ring buffer records lost ({bss[0]}): lower DD_COUNT")
    for link in links:
        bpf.bpf_link__destroy(link)
    bpf.bpf_object__close(obj)
    return {n: (after[n][0] - before[n][0], after[n][1] - before[n][1]) for n, _ in progs}


results = {}
for r in range(repeats):
    run = one_run()
    print(f"run {r + 1}: " + "  ".join(f"{n} {ns / cnt:.0f}" for n, (cnt, ns) in run.items() if cnt))
    for n, (cnt, ns) in run.items():
        if cnt:
            results.setdefault(n, []).append((cnt, ns / cnt))
print(f"\nmedian over {repeats} runs of dd bs=64 count={dd_count} (ns per run):")
for n, xs in results.items():
    print(f"  {n:18s} {statistics.median(v for _, v in xs):6.0f} ns/run  "
          f"(range {min(v for _, v in xs):.0f}-{max(v for _, v in xs):.0f}, "
          f"{statistics.median(c for c, _ in xs):.0f} runs)")
