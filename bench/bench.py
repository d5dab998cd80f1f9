#!/usr/bin/env python3
"""Load benchmark of the Wirespan agent on this machine; started by bench/run.sh (read it first).

Runs, interleaved so that machine drift cancels out:
  * load cases (nginx or the Netty server, driven by wrk over loopback) without and with the agent;
  * non-HTTP workloads (dd to /dev/null, a binary TCP echo) with the agent, for the kernel-side
    cost on fds that are not traced HTTP connections;
  * an open-loop rate sweep (OpenLoopLoad) without and with the agent;
  * an RSS soak at a fixed rate over many connections.
Writes results.json and results.md into the results directory. Every wait is bounded; every
process started here is stopped on exit, error or Ctrl-C.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


CONFIG = {
    "duration_s": env_int("DURATION_S", 10),
    "warmup_s": env_int("WARMUP_S", 3),
    # A fresh agent JVM spends its first 20-30 s under load compiling (the C2 compiler thread at
    # 30-40 % of a core, measured per thread on this machine); after that the JIT is quiet. A node
    # agent runs for days, so the windows measure it past that: the warm-up's own cost is reported
    # apart (the soak's first samples, per thread group).
    "agent_warmup_s": env_int("AGENT_WARMUP_S", 40),
    "rounds": env_int("ROUNDS", 2),
    # server:connections:responseBodyBytes; nginx answers /bytes/0 with `return 200`.
    "cases": os.environ.get("CASES", "nginx:16:0 nginx:16:4096 nginx:256:128 netty:16:128").split(),
    "nonhttp": env_int("NONHTTP", 1),
    "dd_count": env_int("DD_COUNT", 2_000_000),
    "echo_round_trips": env_int("ECHO_ROUND_TRIPS", 100_000),
    "sweep": env_int("SWEEP", 1),
    "sweep_rates": [int(r) for r in os.environ.get("SWEEP_RATES", "5000 10000 20000 40000 60000 80000").split()],
    "sweep_mode": os.environ.get("SWEEP_MODE", "queued"),
    "sweep_connections": env_int("SWEEP_CONNECTIONS", 64),
    "sweep_duration_s": env_int("SWEEP_DURATION_S", 10),
    "sweep_warmup_s": env_int("SWEEP_WARMUP_S", 5),
    # Start-up under load: the agent started while wrk already drives nginx, with its pipeline
    # warm-up (the default) and without (--warmup=0), interleaved; losses in the first seconds.
    "startup_pairs": env_int("STARTUP_PAIRS", 2),
    "startup_window_s": env_int("STARTUP_WINDOW_S", 10),
    "startup_connections": env_int("STARTUP_CONNECTIONS", 16),
    # --warmup of the runs with the warm-up (empty: the agent's default).
    "startup_warmup": os.environ.get("STARTUP_WARMUP", ""),
    "soak_s": env_int("SOAK_S", 30),
    "soak_rate": env_int("SOAK_RATE", 10000),
    "soak_connections": env_int("SOAK_CONNECTIONS", 1000),
    "profile_jfr": env_int("PROFILE_JFR", 1),
    "server_cpus": os.environ.get("SERVER_CPUS", "1"),
    "load_cpus": os.environ.get("LOAD_CPUS", "0"),
    "agent_cpus": os.environ.get("AGENT_CPUS", "0-1"),
    "nginx_port": env_int("NGINX_PORT", 18080),
    "netty_port": env_int("NETTY_PORT", 18081),
    "admin_port": env_int("ADMIN_PORT", 19464),
    "otlp_sink_port": env_int("OTLP_SINK_PORT", 14318),
    "otlp_grpc_sink_port": env_int("OTLP_GRPC_SINK_PORT", 14317),
    # OTLP_PROTOCOL picks the agent's export protocol (http/protobuf, or grpc: the agent's
    # default); {otlp_sink_port} in AGENT_ARGS is the local receiver of that protocol, which
    # discards what it gets (bench.py starts it: OTLP_SINK_PORT for HTTP, OTLP_GRPC_SINK_PORT).
    "otlp_protocol": os.environ.get("OTLP_PROTOCOL", "http/protobuf"),
    "agent_args": os.environ.get(
        "AGENT_ARGS",
        "--exporter=otlp --otlp-protocol={otlp_protocol} --otlp-endpoint=http://127.0.0.1:{otlp_sink_port}"
        " --kubernetes=disabled --status-interval=0"),
    # The agent's memory defaults (bin/dev, the image, the chart: docs/deployment.md, "Memory"):
    # the chart's heap ceiling (50 % of its 256 MiB limit), Serial GC, native heap trimming.
    "agent_java_opts": os.environ.get(
        "AGENT_JAVA_OPTS",
        "-Xmx128m -XX:+UseSerialGC -XX:TrimNativeHeapInterval=5000 -XX:+ExitOnOutOfMemoryError"),
    # glibc malloc arenas of the agent process (MALLOC_ARENA_MAX; empty: glibc's default).
    "agent_malloc_arena_max": os.environ.get("AGENT_MALLOC_ARENA_MAX", "2"),
}
AGENT_JAR = os.environ.get("AGENT_JAR", os.path.join(ROOT, "target", "wirespan-agent.jar"))
BENCH_JAR = os.environ.get("BENCH_JAR", os.path.join(ROOT, "target", "jmh", "wirespan-bench.jar"))
RESULTS = os.environ.get("RESULTS_DIR", "")
CLK_TCK = os.sysconf("SC_CLK_TCK")
AGENT_READY_TIMEOUT_S = 90
AGENT_STOP_TIMEOUT_S = 30
DRAIN_TIMEOUT_S = 20
DRAIN_STABLE_S = 1.0
DRAIN_NOISE_EVENTS = 100
DATA_SYSCALLS = ["read", "readv", "recvfrom", "recvmsg", "write", "writev", "sendto", "sendmsg", "sendfile64"]

started = []  # Popen objects to stop on exit


def log(msg):
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def start(cmd, name, cpus=None, env=None, stdout=None):
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    out = stdout or open(os.path.join(RESULTS, f"{name}.log"), "ab")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    p.bench_name = name
    started.append(p)
    return p


def stop(p, timeout=AGENT_STOP_TIMEOUT_S):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{p.bench_name} did not stop in {timeout} s: killing it")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)
    if p in started:
        started.remove(p)


def stop_all():
    for p in list(reversed(started)):
        stop(p)


def run(cmd, timeout, cpus=None, check=True):
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


# ---------------------------------------------------------------- servers

def start_nginx():
    run_dir = os.path.join(RESULTS, "nginx")
    os.makedirs(os.path.join(run_dir, "www", "bytes"), exist_ok=True)
    os.makedirs(os.path.join(run_dir, "nginx-tmp"), exist_ok=True)
    sizes = {int(c.split(":")[2]) for c in CONFIG["cases"]} | {128}
    for size in sizes:
        if size > 0:
            with open(os.path.join(run_dir, "www", "bytes", str(size)), "wb") as f:
                f.write(b"x" * size)
    with open(os.path.join(HERE, "nginx.conf.template")) as f:
        conf = f.read().replace("@RUN_DIR@", run_dir).replace("@PORT@", str(CONFIG["nginx_port"]))
    conf_path = os.path.join(run_dir, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    p = start(["nginx", "-c", conf_path, "-p", run_dir], "nginx", cpus=CONFIG["server_cpus"])
    url = f"http://127.0.0.1:{CONFIG['nginx_port']}/bytes/128"
    wait_for(lambda: http_get(url)[0] == 200, 20, "nginx")
    return p


def agent_args():
    """AGENT_ARGS with the OTLP protocol and the port of its local receiver filled in."""
    grpc = CONFIG["otlp_protocol"] == "grpc"
    port = CONFIG["otlp_grpc_sink_port"] if grpc else CONFIG["otlp_sink_port"]
    return CONFIG["agent_args"].format(otlp_protocol=CONFIG["otlp_protocol"], otlp_sink_port=port)


def start_otlp_sink():
    """The agent's OTLP receiver: answers every export with success, discards it. For gRPC it
    listens on the gRPC port as well (bound before the HTTP port, which the readiness check asks)."""
    port = CONFIG["otlp_sink_port"]
    cmd = ["java", "-Xmx128m", "-cp", BENCH_JAR, "dev.wirespan.bench.BenchHttpServer", str(port), "86400"]
    grpc = CONFIG["otlp_protocol"] == "grpc"
    if grpc:
        cmd.append(str(CONFIG["otlp_grpc_sink_port"]))
    p = start(cmd, "otlp-sink", cpus=CONFIG["server_cpus"])
    wait_for(lambda: http_get(f"http://127.0.0.1:{port}/bytes/0")[0] == 200, 60, "the OTLP sink")
    if grpc:
        wait_for(lambda: tcp_open(CONFIG["otlp_grpc_sink_port"]), 10, "the OTLP/gRPC sink")
    return p


def tcp_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def start_netty():
    p = start(["java", "-Xmx256m", "-cp", BENCH_JAR, "dev.wirespan.bench.BenchHttpServer",
               str(CONFIG["netty_port"]), "86400"], "netty-server", cpus=CONFIG["server_cpus"])
    url = f"http://127.0.0.1:{CONFIG['netty_port']}/bytes/128"
    wait_for(lambda: http_get(url)[0] == 200, 60, "the Netty server")
    # JIT warm-up: this machine needs tens of seconds before a fresh JVM runs at speed.
    run(["wrk", "-t1", "-c16", "-d15s", url], 60, cpus=CONFIG["load_cpus"])
    return p


def server_port(server):
    return CONFIG["nginx_port"] if server == "nginx" else CONFIG["netty_port"]


# ---------------------------------------------------------------- agent and its measurements

def start_agent(jfr_file=None, extra_args=(), load_warmup=True):
    env = dict(os.environ)
    if CONFIG["agent_malloc_arena_max"]:
        env["MALLOC_ARENA_MAX"] = CONFIG["agent_malloc_arena_max"]
    if jfr_file:
        env["JAVA_TOOL_OPTIONS"] = f"-XX:StartFlightRecording=filename={jfr_file},settings=profile"
    cmd = ["java"] + CONFIG["agent_java_opts"].split() + [
        "-jar", AGENT_JAR, f"--admin-address=127.0.0.1:{CONFIG['admin_port']}"]
    cmd += agent_args().split() + list(extra_args)
    t0 = time.monotonic()
    p = start(cmd, "agent", cpus=CONFIG["agent_cpus"], env=env)
    wait_for(lambda: p.poll() is None and http_get(admin_url("/readyz"))[0] == 200,
             AGENT_READY_TIMEOUT_S, "the agent to be ready")
    if p.poll() is not None:
        raise RuntimeError("the agent exited; see agent.log")
    p.ready_after_s = time.monotonic() - t0
    if load_warmup and CONFIG["agent_warmup_s"] > 0:
        wrk(f"http://127.0.0.1:{CONFIG['nginx_port']}/bytes/128", 16, CONFIG["agent_warmup_s"])
    # What the start and the warm-up cost, per thread group (the JIT's share is mostly here).
    p.warmup_cpu_s_by_thread_group = cpu_by_thread_group(agent_jvm_pid(p))
    return p


def admin_url(path):
    return f"http://127.0.0.1:{CONFIG['admin_port']}{path}"


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')


def scrape():
    # An agent that has fallen behind its traffic can take seconds to answer.
    _, text = http_get(admin_url("/metrics"), timeout=30)
    m = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        g = METRIC_LINE.match(line.strip())
        if g:
            m[g.group(1) + (g.group(2) or "")] = float(g.group(3))
    return m


def total(metrics, name):
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


# Thread groups of the agent's JVM, by thread name prefix (/proc/<pid>/task/<tid>/comm, 15 chars).
THREAD_GROUPS = [
    ("capture", ("wirespan-captur",)),
    ("export", ("wirespan-span-e", "jdkhttp-", "HttpClient-", "okhttp-", "OkHttp")),
    ("jit", ("C1 CompilerThre", "C2 CompilerThre", "Sweeper thread")),
    ("gc", ("VM Thread", "GC Thread", "G1 ", "VM Periodic")),
]


def thread_group(name):
    for group, prefixes in THREAD_GROUPS:
        if name.startswith(prefixes):
            return group
    return "other"


def cpu_by_thread_group(pid):
    """CPU seconds of the agent's live threads so far, per thread group."""
    out = {}
    task = f"/proc/{pid}/task"
    for tid in os.listdir(task):
        try:
            with open(f"{task}/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"{task}/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        g = thread_group(name)
        out[g] = out.get(g, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def group_delta(before, after):
    """Per-group CPU over a window (threads that ended in it are missing from both sides' sums)."""
    return {g: max(0.0, after.get(g, 0.0) - before.get(g, 0.0)) for g in after}


def agent_jvm_pid(p):
    """The java process (taskset execs it, so it is the Popen's pid)."""
    return p.pid


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def heap_used_kib(pid):
    r = run(["jcmd", str(pid), "GC.heap_info"], 60, check=False)
    m = re.search(r"total (\d+)K, used (\d+)K", r.stdout)
    return {"heap_committed_kib": int(m.group(1)), "heap_used_kib": int(m.group(2))} if m else {}


def memory(pid):
    """RSS, and the heap's live data after the last collection from the agent's own gauge. Not
    jcmd: attaching to the agent's JVM set its JIT recompiling for seconds (measured: about 2 CPU-s
    of compiler time right after a `jcmd GC.heap_info`), inside the window that followed."""
    d = {"rss_kib": rss_kib(pid)}
    after_gc = total(scrape(), "wirespan_jvm_heap_after_gc_bytes")
    d["heap_after_gc_kib"] = after_gc / 1024 if after_gc else None
    return d


def heap_mib(mem):
    """Heap MiB of a memory() result (older results: jcmd's heap used)."""
    kib = mem.get("heap_after_gc_kib", mem.get("heap_used_kib"))
    return kib / 1024 if kib is not None else None


def agent_prog_ids(agent_pid):
    """Ids of the BPF programs the agent holds (prog and link fds name them in their fdinfo)."""
    ids = set()
    fdinfo = f"/proc/{agent_pid}/fdinfo"
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def bpf_programs(agent_pid):
    """Per-program run_time_ns/run_cnt of the agent's programs (kernel.bpf_stats_enabled=1)."""
    ids = agent_prog_ids(agent_pid)
    r = run(["bpftool", "-j", "prog", "show"], 30)
    progs = {}
    for prog in json.loads(r.stdout):
        if prog["id"] in ids:
            progs[f"{prog.get('name', '?')}#{prog['id']}"] = (
                prog.get("run_time_ns", 0), prog.get("run_cnt", 0))
    return progs


def bpf_delta(before, after):
    d = {}
    for k, (t1, c1) in after.items():
        t0, c0 = before.get(k, (0, 0))
        if c1 - c0 > 0:
            d[k] = {"run_time_ns": t1 - t0, "run_cnt": c1 - c0, "ns_per_run": (t1 - t0) / (c1 - c0)}
    return d


def per_syscall_ns(bpf, syscalls=DATA_SYSCALLS):
    """BPF time (enter + exit programs) per completed syscall, over the given syscalls."""
    time_ns, calls = 0, 0
    for name, v in bpf.items():
        short = name.split("#")[0]
        if short in {"enter_" + s for s in syscalls}:
            time_ns += v["run_time_ns"]
        elif short in {"exit_" + s for s in syscalls}:
            time_ns += v["run_time_ns"]
            calls += v["run_cnt"]
    return (time_ns / calls if calls else None), calls


class AgentWindow:
    """Deltas of the agent's counters, CPU and BPF statistics over a measured window."""

    def __init__(self, agent):
        self.agent = agent
        self.pid = agent_jvm_pid(agent)

    def begin(self):
        wait_drained()
        self.m0 = scrape()
        self.b0 = bpf_programs(self.pid)
        self.c0 = proc_cpu_seconds(self.pid)
        self.g0 = cpu_by_thread_group(self.pid)

    def end(self):
        wait_drained()
        m1 = scrape()
        b1 = bpf_programs(self.pid)
        c1 = proc_cpu_seconds(self.pid)
        g1 = cpu_by_thread_group(self.pid)
        delta = {k: m1[k] - self.m0.get(k, 0) for k in m1}
        bpf = bpf_delta(self.b0, b1)
        spans = total(delta, "wirespan_spans_exported_total")
        bpf_ns = sum(v["run_time_ns"] for v in bpf.values())
        cpu_ns = (c1 - self.c0) * 1e9
        ns_syscall, syscalls = per_syscall_ns(bpf)
        return {
            "spans_exported": spans,
            "events": total(delta, "wirespan_events_total"),
            "exchanges": {k: v for k, v in delta.items() if k.startswith("wirespan_exchanges_total")},
            "losses": {k: v for k, v in delta.items() if k.startswith("wirespan_lost_total")},
            "losses_total": total(delta, "wirespan_lost_total"),
            # Bytes past the capture cap that were not copied: counted by the agent as a kernel
            # loss, but framing follows the real length, so no exchange is lost by it.
            "losses_excluding_copy_truncated": total(delta, "wirespan_lost_total") - sum(
                v for k, v in delta.items()
                if k.startswith("wirespan_lost_total") and 'cause="copy_truncated"' in k),
            "pipeline_errors": total(delta, "wirespan_pipeline_errors_total"),
            "agent_cpu_s": c1 - self.c0,
            "agent_cpu_s_by_thread_group": group_delta(self.g0, g1),
            "bpf_run_time_s": bpf_ns / 1e9,
            "agent_cpu_ns_per_span": cpu_ns / spans if spans else None,
            "bpf_ns_per_span": bpf_ns / spans if spans else None,
            "all_in_ns_per_span": (cpu_ns + bpf_ns) / spans if spans else None,
            "bpf_ns_per_data_syscall": ns_syscall,
            "data_syscalls": syscalls,
            "bpf_programs": bpf,
        }


def wait_drained():
    """Until the ring buffer and the span queue are empty and the event count stops moving (the
    metrics scrapes themselves, and other processes on the host, add a trickle of events)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        m = scrape()
        events = total(m, "wirespan_events_total")
        busy = total(m, "wirespan_ring_buffer_used_bytes") > 0 or total(m, "wirespan_span_queue_size") > 0
        if busy or last is None or events - last > DRAIN_NOISE_EVENTS:
            stable_since = time.monotonic()
        elif time.monotonic() - stable_since >= DRAIN_STABLE_S:
            return
        last = events
        time.sleep(0.25)
    log("warning: agent did not drain within the timeout")


# ---------------------------------------------------------------- load tools

def wrk(url, connections, seconds):
    r = run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
             os.path.join(HERE, "wrk-report.lua"), url], seconds + 60, cpus=CONFIG["load_cpus"])
    for line in r.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            d = json.loads(line[len("WRK_JSON "):])
            d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
            return d
    raise RuntimeError("no WRK_JSON line in wrk output: " + r.stdout[-1000:])


def open_loop(port, connections, rate, seconds, warmup):
    r = run(["java", "-Xmx512m", "-cp", BENCH_JAR, "dev.wirespan.bench.OpenLoopLoad", str(port),
             "/bytes/128", str(connections), str(rate), str(seconds), str(warmup), CONFIG["sweep_mode"]],
            seconds + warmup + 120, cpus=CONFIG["load_cpus"])
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- phases

def load_case(case, with_agent, jfr_file=None):
    server, conns, body = case.split(":")
    url = f"http://127.0.0.1:{server_port(server)}/bytes/{body}"
    res = {"case": case, "agent": with_agent}
    agent = None
    try:
        if with_agent:
            agent = start_agent(jfr_file)
        wrk(url, int(conns), CONFIG["warmup_s"])
        if agent:
            window = AgentWindow(agent)
            res["agent_warmup_cpu_s_by_thread_group"] = agent.warmup_cpu_s_by_thread_group
            res["memory_after_warmup"] = memory(window.pid)
            window.begin()
        res["wrk"] = wrk(url, int(conns), CONFIG["duration_s"])
        if agent:
            res["agent_window"] = window.end()
            res["memory_end"] = memory(window.pid)
            expected = 2 * res["wrk"]["requests"]
            res["completeness"] = res["agent_window"]["spans_exported"] / expected if expected else None
    finally:
        if agent:
            stop(agent)
    return res


def dd_run():
    t = time.monotonic()
    run(["dd", "if=/dev/zero", "of=/dev/null", "bs=64", f"count={CONFIG['dd_count']}"], 600,
        cpus=CONFIG["load_cpus"])
    return time.monotonic() - t


def echo_run():
    t = time.monotonic()
    run([sys.executable, os.path.join(HERE, "tcp_echo.py"), str(CONFIG["echo_round_trips"])], 600,
        cpus=CONFIG["load_cpus"])
    return time.monotonic() - t


def nonhttp_phase():
    """Kernel-side cost on fds that are not traced HTTP connections; wall time with/without."""
    out = {}
    for name, fn, syscalls_per_unit, units in [
        ("dd_dev_zero_to_null_64B", dd_run, 2, CONFIG["dd_count"]),
        ("tcp_binary_echo_64B", echo_run, 4, CONFIG["echo_round_trips"]),
    ]:
        without = fn()
        agent = start_agent()
        try:
            window = AgentWindow(agent)
            window.begin()
            with_s = fn()
            w = window.end()
        finally:
            stop(agent)
        without2 = fn()
        base = (without + without2) / 2
        ns_syscall, calls = per_syscall_ns(w["bpf_programs"])
        out[name] = {
            "syscalls": syscalls_per_unit * units,
            "wall_s_without": [without, without2],
            "wall_s_with": with_s,
            "wall_ns_added_per_syscall": (with_s - base) * 1e9 / (syscalls_per_unit * units),
            "bpf_ns_per_syscall": ns_syscall,
            "bpf_counted_syscalls": calls,
            "spans_exported": w["spans_exported"],
            "events": w["events"],
            "bpf_programs": w["bpf_programs"],
        }
        log(f"  {name}: bpf {fmt(ns_syscall)} ns/syscall, wall +{fmt(out[name]['wall_ns_added_per_syscall'])} ns/syscall")
    return out


def sweep_phase():
    """Every rate without the agent, then every rate with one agent started and warmed up once
    (a running node agent, not one fresh JVM per rate compiling through the window); each
    with-agent window starts and ends drained, so a rate the agent cannot keep up with does not
    spill into the next."""
    out = []
    port = CONFIG["nginx_port"]
    c, d, w = CONFIG["sweep_connections"], CONFIG["sweep_duration_s"], CONFIG["sweep_warmup_s"]
    for rate in CONFIG["sweep_rates"]:
        out.append({"rate": rate, "without": open_loop(port, c, rate, d, w)})
    agent = start_agent()
    try:
        # The warm-up was wrk's closed loop; the agent's JIT has to see this load's shape too
        # (more connections, open loop) before it is measured.
        open_loop(port, c, CONFIG["sweep_rates"][0], CONFIG["sweep_warmup_s"] + 20, 0)
        for row in out:
            window = AgentWindow(agent)
            window.begin()
            row["with"] = open_loop(port, c, row["rate"], d, w)
            row["agent_window"] = window.end()
            expected = 2 * row["with"]["completed"]
            row["completeness"] = row["agent_window"]["spans_exported"] / expected if expected else None
            log(f"  sweep {row['rate']}/s: p99 {row['without']['latency_us']['p99']} -> {row['with']['latency_us']['p99']} us,"
                f" losses {row['agent_window']['losses_total']:.0f}, completeness {fmt(row['completeness'], 4)}")
    finally:
        stop(agent)
    return out


def startup_run(warmup_arg):
    """Starts the agent while wrk drives nginx; what it lost in its first seconds after ready."""
    window = CONFIG["startup_window_s"]
    url = f"http://127.0.0.1:{CONFIG['nginx_port']}/bytes/128"
    load = start(["wrk", "-t1", f"-c{CONFIG['startup_connections']}",
                  f"-d{AGENT_READY_TIMEOUT_S + window + 30}s", url], "startup-wrk", cpus=CONFIG["load_cpus"])
    try:
        time.sleep(2)  # wrk at full rate before the agent starts
        agent = start_agent(extra_args=[warmup_arg] if warmup_arg else [], load_warmup=False)
        per_second = []  # cumulative losses (excl. copy_truncated) at each second after ready
        try:
            for _ in range(window):
                time.sleep(1)
                m = scrape()
                per_second.append(sum(v for k, v in m.items() if k.startswith("wirespan_lost_total")
                                      and 'cause="copy_truncated"' not in k))
        finally:
            stop(agent)
    finally:
        stop(load)
    losses = {k: v for k, v in m.items() if k.startswith("wirespan_lost_total") and v}
    return {"warmup": warmup_arg or "default", "ready_after_s": round(agent.ready_after_s, 1),
            "window_s": window, "spans_exported": total(m, "wirespan_spans_exported_total"),
            "cumulative_losses_by_second": per_second,
            "losses": losses,
            "losses_excluding_copy_truncated": sum(
                v for k, v in losses.items() if 'cause="copy_truncated"' not in k)}


LOSS_SERIES = re.compile(r'stage="([^"]*)",cause="([^"]*)"')


def loss_name(series):
    """stage/cause of a wirespan_lost_total series."""
    m = LOSS_SERIES.search(series)
    return f"{m.group(1)}/{m.group(2)}" if m else series


def startup_phase():
    runs = []
    for i in range(CONFIG["startup_pairs"]):
        warm = f"--warmup={CONFIG['startup_warmup']}" if CONFIG["startup_warmup"] else None
        order = [warm, "--warmup=0"] if i % 2 == 0 else ["--warmup=0", warm]
        for arg in order:
            r = startup_run(arg)
            runs.append(r)
            log(f"start-up under load, warm-up {r['warmup']}: ready after {r['ready_after_s']} s,"
                f" {r['losses_excluding_copy_truncated']:.0f} lost in the first {r['window_s']} s")
    return runs


def soak_phase():
    agent = start_agent()
    pid = agent_jvm_pid(agent)
    samples = []
    try:
        window = AgentWindow(agent)
        window.begin()
        load = subprocess.Popen(
            ["taskset", "-c", CONFIG["load_cpus"], "java", "-Xmx512m", "-cp", BENCH_JAR,
             "dev.wirespan.bench.OpenLoopLoad", str(CONFIG["nginx_port"]), "/bytes/128",
             str(CONFIG["soak_connections"]), str(CONFIG["soak_rate"]), str(CONFIG["soak_s"]), "5"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        load.bench_name = "soak-load"
        started.append(load)
        t0 = time.monotonic()
        interval = max(2, CONFIG["soak_s"] // 20)
        while load.poll() is None and time.monotonic() - t0 < CONFIG["soak_s"] + 180:
            samples.append({"t_s": round(time.monotonic() - t0, 1), "rss_kib": rss_kib(pid),
                            "cpu_s_by_thread_group": cpu_by_thread_group(pid)})
            time.sleep(interval)
        out_text = load.communicate(timeout=60)[0]
        started.remove(load)
        load_result = json.loads(out_text.strip().splitlines()[-1])
        w = window.end()
        mem = memory(pid)
    finally:
        stop(agent)
    expected = 2 * load_result["completed"]
    return {"load": load_result, "rss_samples": samples, "memory_end": mem, "agent_window": w,
            "completeness": w["spans_exported"] / expected if expected else None}


# ---------------------------------------------------------------- JFR summary

def summarise_jfr(path, top=25):
    r = run(["jfr", "print", "--events", "jdk.ExecutionSample", path], 300, check=False)
    top_frames, wirespan_frames, samples = {}, {}, 0
    for block in r.stdout.split("jdk.ExecutionSample")[1:]:
        frames = re.findall(r"^\s+([\w$.<>]+\(.*?\))\s+line:", block, re.M)
        if not frames:
            continue
        samples += 1
        f0 = frames[0].split("(")[0]
        top_frames[f0] = top_frames.get(f0, 0) + 1
        first_own = next((f.split("(")[0] for f in frames if f.startswith("dev.wirespan")), None)
        if first_own:
            wirespan_frames[first_own] = wirespan_frames.get(first_own, 0) + 1
    def ranked(d):
        return [(k, v, v / samples) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]
    # Continuous recompilation (deoptimisation loops) shows as many jdk.Deoptimization events.
    d = run(["jfr", "print", "--events", "jdk.Deoptimization", path], 300, check=False).stdout
    deopts = {}
    for block in d.split("jdk.Deoptimization")[1:]:
        method = re.search(r'method = (.*)', block)
        reason = re.search(r'reason = "?([\w_-]+)', block)
        key = f"{method.group(1).strip() if method else '?'} ({reason.group(1) if reason else '?'})"
        deopts[key] = deopts.get(key, 0) + 1
    summary = run(["jfr", "summary", path], 120, check=False).stdout
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(jdk\.\w+)\s+(\d+)", summary, re.M)}
    return {"samples": samples, "top_frames": ranked(top_frames), "first_wirespan_frame": ranked(wirespan_frames),
            "deoptimizations": counts.get("jdk.Deoptimization", 0), "compilations": counts.get("jdk.Compilation", 0),
            "top_deoptimized": sorted(deopts.items(), key=lambda kv: -kv[1])[:10]}


# ---------------------------------------------------------------- report

def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def machine():
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": os.uname().release,
        "cpu": model,
        "cpus": os.cpu_count(),
        "java": run(["java", "-version"], 30).stderr.splitlines()[0],
        "nginx": run(["nginx", "-v"], 30).stderr.strip(),
        "wrk": run(["wrk", "-v"], 30, check=False).stdout.splitlines()[0] if True else "",
        "pinning": {"server": CONFIG["server_cpus"], "load_generator": CONFIG["load_cpus"],
                    "agent": CONFIG["agent_cpus"]},
    }


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def rng(xs, digits=1):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    lo, hi = min(xs), max(xs)
    return fmt(lo, digits) if abs(hi - lo) < 10 ** -digits else f"{fmt(lo, digits)}–{fmt(hi, digits)}"


def report(results):
    m = results["machine"]
    L = [f"# Wirespan load benchmark, {m['date_utc']}", "",
         f"Machine: {m['cpu']}, {m['cpus']} CPUs, kernel {m['kernel']}; {m['java']}; {m['nginx']}; {m['wrk']}.",
         f"Cores: server on CPU {m['pinning']['server']}, load generator on CPU {m['pinning']['load_generator']},"
         f" agent on CPUs {m['pinning']['agent']}: load generator, server and agent SHARE these cores,"
         " so the agent's CPU is taken from the server and the load generator.",
         f"Export: OTLP {results['config'].get('otlp_protocol', 'http/protobuf')} to a local receiver that discards it"
         " (unless AGENT_ARGS says otherwise).",
         f"Settings: {json.dumps(results['config'])}", "",
         "## Load cases (wrk, closed loop; ranges over rounds)", "",
         "| case | req/s without | req/s with | ratio | p50 µs without → with | p99 µs without → with |"
         " completeness | losses (excl. copy_truncated) | agent CPU ns/span | BPF ns/span | all-in ns/span | BPF ns/data syscall |"
         " RSS MiB warm → end | heap after GC MiB warm → end |",
         "|" + "---|" * 14]
    for case in CONFIG["cases"]:
        rows = [r for r in results["load"] if r["case"] == case]
        wo = [r for r in rows if not r["agent"]]
        wi = [r for r in rows if r["agent"]]
        rps_wo = [r["wrk"]["rps"] for r in wo]
        rps_wi = [r["wrk"]["rps"] for r in wi]
        ratio = median(rps_wi) / median(rps_wo) if rps_wo and rps_wi else None
        aw = [r["agent_window"] for r in wi]
        L.append("| " + " | ".join([
            case, rng(rps_wo, 0), rng(rps_wi, 0), fmt(ratio, 3),
            f"{rng([r['wrk']['latency_us']['p50'] for r in wo])} → {rng([r['wrk']['latency_us']['p50'] for r in wi])}",
            f"{rng([r['wrk']['latency_us']['p99'] for r in wo])} → {rng([r['wrk']['latency_us']['p99'] for r in wi])}",
            rng([r["completeness"] for r in wi], 4),
            f'{rng([a["losses_total"] for a in aw], 0)} ({rng([a["losses_excluding_copy_truncated"] for a in aw], 0)})',
            rng([a["agent_cpu_ns_per_span"] for a in aw], 0),
            rng([a["bpf_ns_per_span"] for a in aw], 0),
            rng([a["all_in_ns_per_span"] for a in aw], 0),
            rng([a["bpf_ns_per_data_syscall"] for a in aw], 0),
            f"{rng([r['memory_after_warmup']['rss_kib'] / 1024 for r in wi], 0)} → {rng([r['memory_end']['rss_kib'] / 1024 for r in wi], 0)}",
            f"{rng([heap_mib(r['memory_after_warmup']) for r in wi], 0)} → {rng([heap_mib(r['memory_end']) for r in wi], 0)}",
        ]) + " |")
    L += ["", "Completeness = spans exported / (2 × requests wrk completed) (nginx SERVER + wrk CLIENT span per request).", ""]
    groups = [g for g, _ in THREAD_GROUPS] + ["other"]
    L += [f"Agent process CPU per exported span by thread group (ns/span, measured windows), and the CPU seconds"
          f" each group spent from the agent's start through its {CONFIG['agent_warmup_s']}-s warm-up:", "",
          "| case | " + " | ".join(f"{g} ns/span" for g in groups) + " | " + " | ".join(f"{g} s in warm-up" for g in groups) + " |",
          "|" + "---|" * (1 + 2 * len(groups))]
    for case in CONFIG["cases"]:
        wi = [r for r in results["load"] if r["case"] == case and r["agent"]]
        per_span = [rng([1e9 * r["agent_window"]["agent_cpu_s_by_thread_group"].get(g, 0) / r["agent_window"]["spans_exported"]
                         for r in wi if r["agent_window"]["spans_exported"]], 0) for g in groups]
        warm = [rng([r.get("agent_warmup_cpu_s_by_thread_group", {}).get(g, 0) for r in wi], 1) for g in groups]
        L.append(f"| {case} | " + " | ".join(per_span) + " | " + " | ".join(warm) + " |")
    L.append("")
    losses = {}
    for r in results["load"]:
        if r["agent"]:
            for k, v in r["agent_window"]["losses"].items():
                losses.setdefault(k, []).append(v)
    L.append("Loss counters over the measured windows (all runs): " +
             (", ".join(f"`{k}` {rng(v, 0)}" for k, v in sorted(losses.items())) or "none exported") + ".")
    L += ["", "### BPF programs (first case, last round with the agent)", "",
          "| program | runs | ns/run |", "|---|---|---|"]
    first = [r for r in results["load"] if r["agent"] and r["case"] == CONFIG["cases"][0]]
    if first:
        for k, v in sorted(first[-1]["agent_window"]["bpf_programs"].items(), key=lambda kv: -kv[1]["run_time_ns"]):
            L.append(f"| {k} | {v['run_cnt']:,} | {v['ns_per_run']:.0f} |")
    if results.get("nonhttp"):
        L += ["", "## Non-HTTP workloads with the agent attached", "",
              "| workload | syscalls | BPF ns/syscall (enter+exit) | wall ns added/syscall (with − without) | agent events | spans |",
              "|---|---|---|---|---|---|"]
        for k, v in results["nonhttp"].items():
            L.append(f"| {k} | {v['syscalls']:,} | {fmt(v['bpf_ns_per_syscall'])} | {fmt(v['wall_ns_added_per_syscall'])} | {v['events']:.0f} | {v['spans_exported']:.0f} |")
    if results.get("sweep"):
        L += ["", f"## Open-loop sweep (nginx /bytes/128, {CONFIG['sweep_connections']} connections, OpenLoopLoad, {CONFIG['sweep_mode']})", "",
              "Latency from each request's due time (includes queueing and the generator's own lateness)."
              " Queued: a request due while every connection waits for a response waits for the first free one"
              " (as wrk2 and client pools do); pipelined: it is written behind the unanswered one.", "",
              "| offered req/s | achieved without / with | p50 µs without → with | p99 µs without → with |"
              " p99.9 µs without → with | requests that waited / were pipelined (with) | losses (excl. copy_truncated) | completeness | agent CPU % of a core |", "|" + "---|" * 9]
        best = None
        for r in results["sweep"]:
            wo, wi, a = r["without"], r["with"], r["agent_window"]
            ok = a["losses_excluding_copy_truncated"] == 0 and (r["completeness"] or 0) >= 0.999 and wi["missing"] == 0
            if ok:
                best = r["rate"]
            L.append(f"| {r['rate']:,} | {wo['achieved_rps']:,.0f} / {wi['achieved_rps']:,.0f} |"
                     f" {wo['latency_us']['p50']} → {wi['latency_us']['p50']} |"
                     f" {wo['latency_us']['p99']} → {wi['latency_us']['p99']} |"
                     f" {wo['latency_us']['p99_9']} → {wi['latency_us']['p99_9']} |"
                     f" {wi.get('waited_for_connection', 0):,} / {wi.get('pipelined', 0):,} |"
                     f" {a['losses_total']:.0f} ({a['losses_excluding_copy_truncated']:.0f}) | {fmt(r['completeness'], 4)} |"
                     f" {100 * a['agent_cpu_s'] / (CONFIG['sweep_duration_s'] + CONFIG['sweep_warmup_s']):.0f} |")
        L += ["", f"Highest offered rate with zero losses and complete capture: {fmt(best)} req/s."]
    if results.get("startup"):
        L += ["", f"## Start-up under load (nginx /bytes/128, wrk -c{CONFIG['startup_connections']} running before the agent starts)", "",
              "Losses counted in the first seconds after the agent is ready; `--warmup=0` skips the"
              " pipeline warm-up, so the capture thread starts with cold (interpreted) code.", "",
              "| warm-up | ready after s | window s | spans exported | losses excl. copy_truncated | by cause |",
              "|---|---|---|---|---|---|"]
        for r in results["startup"]:
            causes = ", ".join(f"{loss_name(k)} {v:,.0f}"
                               for k, v in sorted(r["losses"].items(), key=lambda kv: -kv[1]))
            L.append(f"| {r['warmup']} | {r['ready_after_s']} | {r['window_s']} | {r['spans_exported']:,.0f} |"
                     f" {r['losses_excluding_copy_truncated']:,.0f} | {causes or 'none'} |")
    if results.get("soak"):
        s = results["soak"]
        rss = [x["rss_kib"] / 1024 for x in s["rss_samples"] if x["rss_kib"]]
        L += ["", f"## Soak: {CONFIG['soak_rate']:,} req/s over {CONFIG['soak_connections']:,} connections for {CONFIG['soak_s']} s", "",
              f"RSS MiB: first {fmt(rss[0] if rss else None, 0)}, min {fmt(min(rss) if rss else None, 0)},"
              f" max {fmt(max(rss) if rss else None, 0)}, last {fmt(rss[-1] if rss else None, 0)};"
              f" heap after GC at the end {fmt(heap_mib(s['memory_end']), 0)} MiB;"
              f" achieved {s['load']['achieved_rps']:,.0f} req/s; losses {s['agent_window']['losses_total']:.0f}"
              f" ({s['agent_window']['losses_excluding_copy_truncated']:.0f} excluding copy_truncated);"
              f" completeness {fmt(s['completeness'], 4)};"
              f" agent CPU {fmt(s['agent_window']['agent_cpu_ns_per_span'], 0)} ns/span"
              f" (all-in {fmt(s['agent_window']['all_in_ns_per_span'], 0)});"
              f" JVM options `{CONFIG['agent_java_opts']}`, MALLOC_ARENA_MAX={CONFIG.get('agent_malloc_arena_max') or 'unset'}."]
        timed = [x for x in s["rss_samples"] if x.get("cpu_s_by_thread_group")]
        if len(timed) >= 2:
            groups = [g for g, _ in THREAD_GROUPS] + ["other"]
            L += ["", "Agent CPU over the soak, % of one core per sampling interval by thread group, and RSS:", "",
                  "| from s | to s | " + " | ".join(groups) + " | RSS MiB |", "|" + "---|" * (3 + len(groups))]
            for a, b in zip(timed, timed[1:]):
                dt = b["t_s"] - a["t_s"]
                if dt <= 0:
                    continue
                d = group_delta(a["cpu_s_by_thread_group"], b["cpu_s_by_thread_group"])
                L.append(f"| {a['t_s']:.0f} | {b['t_s']:.0f} | " + " | ".join(f"{100 * d.get(g, 0) / dt:.1f}" for g in groups)
                         + f" | {b['rss_kib'] / 1024:.0f} |")
    if results.get("jfr"):
        j = results["jfr"]
        L += ["", f"## Agent hotspots (JFR execution samples, {j['samples']} samples, case {CONFIG['cases'][0]})", "",
              "| top frame | share |", "|---|---|"]
        L += [f"| `{k}` | {p:.1%} |" for k, _, p in j["top_frames"][:15]]
        L += ["", "| innermost dev.wirespan frame | share |", "|---|---|"]
        L += [f"| `{k}` | {p:.1%} |" for k, _, p in j["first_wirespan_frame"][:15]]
        L += ["", f"JIT during the recording: {j['compilations']} compilations, {j['deoptimizations']} deoptimizations;"
              " most deoptimized: " + "; ".join(f"`{k}` ×{v}" for k, v in j["top_deoptimized"][:5])]
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main

def main():
    if CONFIG["otlp_protocol"] not in ("grpc", "http/protobuf"):
        sys.exit(f"OTLP_PROTOCOL must be grpc or http/protobuf, not {CONFIG['otlp_protocol']!r}")
    results = {"config": CONFIG, "machine": machine(), "load": []}
    save = lambda: json.dump(results, open(os.path.join(RESULTS, "results.json"), "w"), indent=1)
    servers = {c.split(":")[0] for c in CONFIG["cases"]}
    log("starting nginx" + (" and the Netty server (with JIT warm-up)" if "netty" in servers else ""))
    start_nginx()
    if "{otlp_sink_port}" in CONFIG["agent_args"]:
        start_otlp_sink()
    if "netty" in servers:
        start_netty()
    jfr_file = os.path.join(RESULTS, "agent.jfr") if CONFIG["profile_jfr"] else None
    for rnd in range(CONFIG["rounds"]):
        for i, case in enumerate(CONFIG["cases"]):
            order = [False, True] if (rnd + i) % 2 == 0 else [True, False]
            for with_agent in order:
                jfr = jfr_file if with_agent and rnd == 0 and i == 0 else None
                r = load_case(case, with_agent, jfr)
                r["round"] = rnd
                results["load"].append(r)
                extra = ""
                if with_agent:
                    a = r["agent_window"]
                    extra = (f", completeness {fmt(r['completeness'], 4)}, losses {a['losses_total']:.0f},"
                             f" all-in {fmt(a['all_in_ns_per_span'], 0)} ns/span")
                log(f"round {rnd} {case} {'with' if with_agent else 'without'}: {r['wrk']['rps']:,.0f} req/s,"
                    f" p99 {r['wrk']['latency_us']['p99']} us{extra}")
                save()
    if jfr_file and os.path.exists(jfr_file):
        results["jfr"] = summarise_jfr(jfr_file)
    if CONFIG["nonhttp"]:
        log("non-HTTP workloads")
        results["nonhttp"] = nonhttp_phase()
        save()
    if CONFIG["sweep"]:
        log("open-loop sweep")
        results["sweep"] = sweep_phase()
        save()
    if CONFIG["startup_pairs"] > 0:
        log("start-up under load, with and without the pipeline warm-up")
        results["startup"] = startup_phase()
        save()
    if CONFIG["soak_s"] > 0:
        log(f"soak {CONFIG['soak_s']} s")
        results["soak"] = soak_phase()
        save()
    save()
    with open(os.path.join(RESULTS, "results.md"), "w") as f:
        f.write(report(results))
    log(f"wrote {RESULTS}/results.md and results.json")


def rewrite_report(results_json):
    """Regenerates results.md from a results.json (older runs lack the newer fields)."""
    results = json.load(open(results_json))
    CONFIG.update(results["config"])
    for w in [r.get("agent_window") for r in results.get("load", []) + results.get("sweep", [])] + [
            results.get("soak", {}).get("agent_window")]:
        if w is not None and "losses_excluding_copy_truncated" not in w:
            w["losses_excluding_copy_truncated"] = w["losses_total"] - sum(
                v for k, v in w["losses"].items() if 'cause="copy_truncated"' in k)
    with open(os.path.join(os.path.dirname(results_json), "results.md"), "w") as f:
        f.write(report(results))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--report":
    rewrite_report(sys.argv[2])
    sys.exit(0)

if __name__ == "__main__":
    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted: stopping everything started")
        sys.exit(130)
    finally:
        stop_all()
