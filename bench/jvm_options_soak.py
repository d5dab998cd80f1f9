#!/usr/bin/env python3
"""Memory soak of the agent under several JVM option sets, one agent after the other (as root).

    sudo python3 bench/jvm_options_soak.py "before:-Xmx300m" "after:MALLOC_ARENA_MAX=2 -Xmx128m -XX:+UseSerialGC"

Each argument is label:options; options may start with NAME=value environment variables for the
agent process. Uses bench.py's servers and helpers (same environment variables: SOAK_S [60],
SOAK_RATE [10000], SOAK_CONNECTIONS [1000], ports, AGENT_JAR, BENCH_JAR; RSS_WARM_S [20]: the RSS
sample reported as "warm"). Per option set: the agent started and warmed up as in bench.py, an
OpenLoopLoad soak against nginx /bytes/128, RSS every 5 s, agent CPU per exported span over the
soak, then /proc/<pid>/smaps (largest mappings), thread names and `jcmd VM.native_memory summary`
(when the options enable -XX:NativeMemoryTracking). BPF run time is counted only when
kernel.bpf_stats_enabled=1 (bench/run.sh sets it). Writes mem.json into RESULTS_DIR (default
bench/results/<UTC timestamp>-jvm).
"""
import json, os, re, signal, subprocess, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("RESULTS_DIR", os.path.join(HERE, "results", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-jvm"))
os.makedirs(os.environ["RESULTS_DIR"], exist_ok=True)
import bench as B

SOAK_S = int(os.environ.get("SOAK_S", "60"))
RATE = int(os.environ.get("SOAK_RATE", "10000"))
CONNS = int(os.environ.get("SOAK_CONNECTIONS", "1000"))
WARM_S = int(os.environ.get("RSS_WARM_S", "20"))

def smaps_summary(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            p = line.split()
            if len(p) >= 2 and p[1].isdigit():
                out[p[0].rstrip(":")] = int(p[1])
    # biggest mappings by Rss
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                cur = {"range": parts[0], "perm": parts[1], "name": parts[5] if len(parts) > 5 else "", "rss": 0}
                a, b = parts[0].split("-"); cur["size_kib"] = (int(b, 16) - int(a, 16)) // 1024
                maps.append(cur)
            elif line.startswith("Rss:") and cur is not None:
                cur["rss"] = int(line.split()[1])
    maps.sort(key=lambda m: -m["rss"])
    out["top"] = maps[:25]
    return out

def threads(pid):
    names = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            n = open(f"/proc/{pid}/task/{t}/comm").read().strip()
        except OSError:
            continue
        n = re.sub(r"\d+", "#", n)
        names[n] = names.get(n, 0) + 1
    return names

def one(label, spec):
    env_extra = {}
    opts = []
    for tok in spec.split():
        if re.match(r"^[A-Z_]+=", tok):
            k, v = tok.split("=", 1); env_extra[k] = v
        else:
            opts.append(tok)
    saved = dict(os.environ)
    os.environ.update(env_extra)
    B.CONFIG["agent_java_opts"] = " ".join(opts)
    B.log(f"{label}: {spec}  (uptime {open('/proc/loadavg').read().split()[:3]})")
    agent = B.start_agent()
    os.environ.clear(); os.environ.update(saved)
    pid = B.agent_jvm_pid(agent)
    samples = []
    try:
        w = B.AgentWindow(agent); w.begin()
        load = subprocess.Popen(["taskset", "-c", B.CONFIG["load_cpus"], "java", "-Xmx512m", "-cp", B.BENCH_JAR,
             "dev.wirespan.bench.OpenLoopLoad", str(B.CONFIG["nginx_port"]), "/bytes/128", str(CONNS), str(RATE), str(SOAK_S), "5"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        load.bench_name = "soak-load"; B.started.append(load)
        t0 = time.monotonic()
        while load.poll() is None and time.monotonic() - t0 < SOAK_S + 180:
            samples.append((round(time.monotonic() - t0), B.rss_kib(pid) // 1024))
            time.sleep(5)
        out = load.communicate(timeout=60)[0]; B.started.remove(load)
        lr = json.loads(out.strip().splitlines()[-1])
        win = w.end()
        nmt = B.run(["jcmd", str(pid), "VM.native_memory", "summary"], 60, check=False).stdout
        heap = B.heap_used_kib(pid)
        sm = smaps_summary(pid)
        th = threads(pid)
    finally:
        B.stop(agent)
    warm = [r for t, r in samples if t >= WARM_S]
    res = {"label": label, "spec": spec, "samples": samples, "rss_warm": warm[0] if warm else None,
           "rss_max": max(r for _, r in samples), "load": lr, "cpu_ns_per_span": win["agent_cpu_ns_per_span"],
           "all_in_ns_per_span": win["all_in_ns_per_span"], "spans": win["spans_exported"],
           "losses": win["losses_excluding_copy_truncated"], "agent_cpu_s": win["agent_cpu_s"], "heap": heap,
           "smaps": sm, "threads": th, "nmt": nmt, "loadavg": open("/proc/loadavg").read().split()[:3]}
    B.log(f"{label}: RSS warm {res['rss_warm']} max {res['rss_max']} MiB, cpu {res['cpu_ns_per_span']:.0f} ns/span, "
          f"achieved {lr.get('achieved_rps', 0):.0f} req/s, spans {win['spans_exported']:.0f}, losses {res['losses']:.0f}, threads {sum(th.values())}")
    return res

def main():
    specs = [a.split(":", 1) for a in sys.argv[1:]]
    B.start_nginx()
    B.start_otlp_sink()
    results = []
    B.CONFIG["agent_malloc_arena_max"] = ""  # each option set says its own
    try:
        for label, spec in specs:
            results.append(one(label, spec))
            json.dump(results, open(os.path.join(B.RESULTS, "mem.json"), "w"), indent=1)
    finally:
        B.stop_all()
    print(B.RESULTS)

def on_signal(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    main()
