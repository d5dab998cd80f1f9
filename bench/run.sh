#!/usr/bin/env bash
# Wirespan load benchmark: one command, as root, on a machine dedicated to it for the run.
#
#   sudo bench/run.sh
#
# Installs nginx, wrk and bpftool with apt-get when missing, builds the agent jar and the bench
# jar (Maven profile jmh) when missing, enables the kernel's BPF statistics for the run (and
# restores the previous setting), then runs bench/bench.py, which writes
# bench/results/<UTC timestamp>/results.md and results.json. Only 127.0.0.1 traffic.
# Everything started is stopped on exit, error or Ctrl-C; every wait is bounded.
#
# Parameters (environment), defaults in brackets:
#   DURATION_S [10]  measured seconds per load case     WARMUP_S [3]   wrk warm-up per case
#   AGENT_WARMUP_S [40]  wrk load after each agent start before it is measured (the JIT settles)
#   ROUNDS [2]       interleaved rounds                  CASES ["nginx:16:0 nginx:16:4096 nginx:256:128 netty:16:128"]
#                    server:connections:response-body-bytes (nginx /bytes/0 = `return 200`)
#   NONHTTP [1]      dd and TCP-echo workloads           DD_COUNT [2000000]  ECHO_ROUND_TRIPS [100000]
#   SWEEP [1]        open-loop rate sweep                SWEEP_RATES ["5000 10000 20000 40000 60000 80000"]
#   SWEEP_CONNECTIONS [64]  SWEEP_DURATION_S [10]  SWEEP_WARMUP_S [5]  SWEEP_MODE [queued|pipelined]
#   STARTUP_PAIRS [2]  start-up under load with/without the warm-up  STARTUP_WINDOW_S [10]  STARTUP_CONNECTIONS [16]
#   STARTUP_WARMUP [agent default]  --warmup of the runs with the warm-up
#   SOAK_S [30]      RSS soak (600 for the 10-minute soak; 0 skips)  SOAK_RATE [10000]  SOAK_CONNECTIONS [1000]
#   PROFILE_JFR [1]  JFR profile of the agent during the first case (summary in results.md)
#   SERVER_CPUS [1]  LOAD_CPUS [0]  AGENT_CPUS [0-1]     taskset CPU lists
#   OTLP_PROTOCOL [http/protobuf] (or grpc)  the agent's export protocol, to a local receiver that discards
#   AGENT_ARGS ["--exporter=otlp --otlp-protocol={otlp_protocol} --otlp-endpoint=http://127.0.0.1:{otlp_sink_port} --kubernetes=disabled --status-interval=0"]
#   AGENT_JAVA_OPTS ["-Xmx128m -XX:+UseSerialGC -XX:TrimNativeHeapInterval=5000 -XX:+ExitOnOutOfMemoryError"]
#   AGENT_MALLOC_ARENA_MAX [2]  the agent's MALLOC_ARENA_MAX (empty: glibc's default)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

if [[ $(id -u) -ne 0 ]]; then
  echo "bench/run.sh: run as root (the agent loads BPF programs; BPF statistics need sysctl)" >&2
  exit 1
fi

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v bpftool >/dev/null || need+=(bpftool)
if ((${#need[@]})); then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Debian package starts a system nginx on port 80; it is not ours to stop, and it does not
# matter to the run (our nginx has its own port).

if ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs tracefs /sys/kernel/tracing
fi

cd "$root"
# Built when missing or older than a source it is made of (a stale tool jar would take new
# settings, such as OTLP_PROTOCOL=grpc, as arguments it does not know).
stale() { [[ ! -f "$1" ]] || [[ -n "$(find "${@:2}" -newer "$1" -print -quit)" ]]; }
if stale target/wirespan-agent.jar src/main pom.xml bpf; then
  echo "building target/wirespan-agent.jar"
  mvn -B -q package -DskipTests
fi
if stale target/jmh/wirespan-bench.jar src/main src/jmh pom.xml; then
  echo "building target/jmh/wirespan-bench.jar"
  mvn -B -q -Pjmh -DskipBpf=true -Dmaven.test.skip=true package
fi

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
export RESULTS_DIR="$here/results/$stamp"
mkdir -p "$RESULTS_DIR"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
old_bpf_stats="$(sysctl -n kernel.bpf_stats_enabled)"
restore() { sysctl -qw kernel.bpf_stats_enabled="$old_bpf_stats" || true; }
trap restore EXIT
sysctl -qw kernel.bpf_stats_enabled=1

# bench.py stops its own processes on SIGINT/SIGTERM; forward them and wait for it.
python3 "$here/bench.py" &
bench_pid=$!
trap 'kill -TERM "$bench_pid" 2>/dev/null || true' INT TERM
wait "$bench_pid" || { status=$?; wait "$bench_pid" 2>/dev/null || true; exit "$status"; }
echo "results: $RESULTS_DIR/results.md"
