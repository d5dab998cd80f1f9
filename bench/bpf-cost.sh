#!/usr/bin/env bash
# BPF run time per program of the kernel capture, per workload (root).
#
# Loads the capture alone (bench/BpfCostHarness.java: attaches every program and drains the ring
# buffer, nothing else), turns on BPF run-time statistics, and for each workload prints each
# program's run count and mean run time (run_time_ns / run_cnt deltas over the workload):
#   dd    dd if=/dev/zero of=/dev/null bs=64: read/write on fds that are not sockets
#   http  wrk -t1 -c16 against nginx `return 200` on 127.0.0.1 (one worker, as in bench/run.sh)
# Each workload runs REPEATS times; the last table gives each program's median over the repeats.
# Other load on the machine inflates run times (tracepoint
# programs are preemptible here): compare before/after on the same quiet machine.
#
# Environment: REPEATS [3]  DD_COUNT [2000000]  WRK_S [10]  PORT [18089]  JAR [target/wirespan-agent.jar]
#              BUILD [1] (mvn package first)  WORKLOADS ["dd http"]  KEEP [] (non-empty: keep the run dir)
#              PROGRAMS [auto] (the build of the programs: auto, kfunc or portable)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-3}
DD_COUNT=${DD_COUNT:-2000000}
WRK_S=${WRK_S:-10}
PORT=${PORT:-18089}
JAR=${JAR:-target/wirespan-agent.jar}
BUILD=${BUILD:-1}
WORKLOADS=${WORKLOADS:-"dd http"}
PROGRAMS=${PROGRAMS:-auto}

[ "$(id -u)" = 0 ] || { echo "bpf-cost.sh: needs root" >&2; exit 1; }
for tool in wrk nginx python3 taskset; do
  command -v "$tool" >/dev/null || { echo "bpf-cost.sh: $tool missing (apt-get install $tool)" >&2; exit 1; }
done
if [ "$BUILD" = 1 ]; then
  mvn -B -q -o package -DskipTests
fi

RUN_DIR=$(mktemp -d /tmp/wirespan-bpf-cost.XXXXXX)
HARNESS_PID=""
NGINX_PID=""
STATS_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
  [ -n "$HARNESS_PID" ] && { exec 3>&- ; wait "$HARNESS_PID" 2>/dev/null || true; }
  [ -n "$STATS_PID" ] && { exec 4>&- ; wait "$STATS_PID" 2>/dev/null || true; }
  [ -n "${KEEP:-}" ] || rm -rf "$RUN_DIR"
}
trap cleanup EXIT

# The capture, fed from a FIFO whose closing ends it; on CPU 0 with wrk, away from nginx.
mkfifo "$RUN_DIR/in"
taskset -c 0 java -Dprograms="$PROGRAMS" -cp "$JAR" bench/BpfCostHarness.java <"$RUN_DIR/in" >"$RUN_DIR/harness.out" 2>&1 &
HARNESS_PID=$!
exec 3>"$RUN_DIR/in"
for _ in $(seq 1 300); do
  grep -q '^ready' "$RUN_DIR/harness.out" 2>/dev/null && break
  kill -0 "$HARNESS_PID" 2>/dev/null || { cat "$RUN_DIR/harness.out" >&2; exit 1; }
  sleep 0.1
done
grep -q '^ready' "$RUN_DIR/harness.out" || { echo "capture did not start" >&2; cat "$RUN_DIR/harness.out" >&2; exit 1; }
grep '^ready' "$RUN_DIR/harness.out"
# The JVM that holds the programs' fds (the background job's pid may be a shell around it).
JAVA_PID=$(sed -n 's/^ready pid \([0-9]*\).*/\1/p' "$RUN_DIR/harness.out")
# Run-time statistics on for as long as a BPF_ENABLE_STATS fd is open (rather than the
# kernel.bpf_stats_enabled sysctl, which another job on the machine may switch off meanwhile);
# closing it (at exit) restores the previous state.
mkfifo "$RUN_DIR/stats"
python3 - "$RUN_DIR/stats" 3>&- <<'PY' &
import ctypes, sys
SYS_BPF, BPF_ENABLE_STATS, BPF_STATS_RUN_TIME = 321, 32, 0  # x86-64
attr = (ctypes.c_uint32 * 30)(BPF_STATS_RUN_TIME)
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(SYS_BPF, BPF_ENABLE_STATS, ctypes.byref(attr), ctypes.sizeof(attr))
if fd < 0:
    sys.exit(f"BPF_ENABLE_STATS failed: errno {ctypes.get_errno()}")
print("stats on", flush=True)
open(sys.argv[1]).read()  # until the script closes its end
PY
STATS_PID=$!
exec 4>"$RUN_DIR/stats"
sleep 0.5
kill -0 "$STATS_PID" || { echo "cannot enable BPF run-time statistics" >&2; exit 1; }

# One line per program of the harness: "name run_cnt run_time_ns" (fdinfo of its BPF prog fds).
snapshot() {
  python3 - "$JAVA_PID" <<'PY'
import os, sys, subprocess, json
pid = sys.argv[1]
ids = {}
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        info = open(f"/proc/{pid}/fdinfo/{fd}").read()
    except OSError:
        continue
    fields = dict(l.split(":\t", 1) for l in info.splitlines() if ":\t" in l)
    if "prog_id" in fields and "run_cnt" in fields:  # a program (a link names its prog_id too)
        ids[int(fields["prog_id"])] = (int(fields.get("run_cnt", 0)), int(fields.get("run_time_ns", 0)))
names = {p["id"]: p.get("name", "?") for p in json.loads(subprocess.check_output(["bpftool", "-j", "prog", "show"]))}
for pid_, (cnt, ns) in sorted(ids.items()):
    print(names.get(pid_, str(pid_)), cnt, ns)
PY
}

# Prints per-program deltas between two snapshots, for programs that ran; appends them to $3.
delta() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import sys
def load(p):
    return {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(p) if l.strip()}
a, b, out, label = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(out, "a") as f:
    for name in sorted(b):
        cnt = b[name][0] - a.get(name, (0, 0))[0]
        ns = b[name][1] - a.get(name, (0, 0))[1]
        if cnt > 0:
            print(f"  {name:18s} {cnt:>10d} runs {ns / cnt:8.0f} ns/run")
            f.write(f"{label} {name} {cnt} {ns}\n")
PY
}

start_nginx() {
  mkdir -p "$RUN_DIR/www" "$RUN_DIR/nginx-tmp"
  sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@PORT@|$PORT|g" bench/nginx.conf.template >"$RUN_DIR/nginx.conf"
  taskset -c 1 nginx -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" &
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/bytes/0" && return 0
    sleep 0.1
  done
  echo "nginx did not start" >&2; exit 1
}

RESULTS="$RUN_DIR/results"
: >"$RESULTS"
for w in $WORKLOADS; do
  [ "$w" = http ] && start_nginx
  for r in $(seq 1 "$REPEATS"); do
    snapshot >"$RUN_DIR/before"
    case "$w" in
      dd) taskset -c 1 dd if=/dev/zero of=/dev/null bs=64 count="$DD_COUNT" status=none ;;
      http) taskset -c 0 wrk -t1 -c16 -d"${WRK_S}s" "http://127.0.0.1:$PORT/bytes/0" | grep -E 'Requests/sec' ;;
      *) echo "unknown workload $w" >&2; exit 1 ;;
    esac
    snapshot >"$RUN_DIR/after"
    echo "$w run $r:"
    delta "$RUN_DIR/before" "$RUN_DIR/after" "$RESULTS" "$w"
  done
  if [ "$w" = http ]; then kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""; fi
done

echo
echo "median over $REPEATS runs (ns per run; programs with fewer than 1000 runs per repeat left out):"
python3 - "$RESULTS" "$REPEATS" <<'PY'
import sys, statistics, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    w, name, cnt, ns = line.split()
    runs[(w, name)].append((int(cnt), int(ns)))
for (w, name), xs in sorted(runs.items()):
    if statistics.median(c for c, _ in xs) < 1000:
        continue
    print(f"  {w:5s} {name:18s} {statistics.median(ns / c for c, ns in xs):7.0f} ns/run   {statistics.median(c for c, _ in xs):>10.0f} runs")
PY
exec 3>&-
wait "$HARNESS_PID" || true
HARNESS_PID=""
tail -n 1 "$RUN_DIR/harness.out"
