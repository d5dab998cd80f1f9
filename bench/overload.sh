#!/usr/bin/env bash
# The agent under sustained overload (root): what it still delivers when it gets less CPU than its
# traffic needs, as under a pod's CPU limit on a busy node.
#
# nginx (one worker, core 1) answers a 128-byte static file to wrk (core 0, CONNS connections,
# DUR seconds, closed loop: nginx at saturation); the agent runs on both cores in a cgroup whose
# CPU quota is QUOTA_PCT % of one core, exporting OTLP/HTTP to the bench's receiver. After wrk
# stops, the agent drains what its ring buffer holds. Per run it prints the requests completed,
# the exchanges the agent decoded complete (both sides of each request are traced, so a complete
# capture is 2 per request), the broken ones (ended without their whole response, and the stream
# losses that break them), every loss counter, and the agent's CPU seconds.
#
# Each jar of JARS runs in turn, ROUNDS times, interleaved (jar A, jar B, jar A, ...): give two to
# compare builds, e.g. one built from an older commit (git worktree add /tmp/before <commit>).
#
# Environment: JARS [target/wirespan-agent.jar]  ROUNDS [2]  QUOTA_PCT [25]  CONNS [16]  DUR [20]
#              PORT [18091]  OTLP_PORT [14328]  BUILD [1] (mvn package first, when JARS is unset)
# Needs cgroup v1 (cpu controller at /sys/fs/cgroup/cpu) or v2 (cpu.max).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
QUOTA_PCT=${QUOTA_PCT:-25}
CONNS=${CONNS:-16}
DUR=${DUR:-20}
PORT=${PORT:-18091}
OTLP_PORT=${OTLP_PORT:-14328}
ADMIN_PORT=19471
TICKS=$(getconf CLK_TCK)

[ "$(id -u)" = 0 ] || { echo "overload.sh: needs root" >&2; exit 1; }
for tool in wrk nginx python3 taskset curl; do
  command -v "$tool" >/dev/null || { echo "overload.sh: $tool missing (apt-get install $tool)" >&2; exit 1; }
done
if [ -z "${JARS:-}" ]; then
  JARS=target/wirespan-agent.jar
  [ "${BUILD:-1}" = 1 ] && mvn -B -q -o package -DskipTests
fi
BENCH_JAR=target/jmh/wirespan-bench.jar
[ -f "$BENCH_JAR" ] || mvn -B -q -o -Pjmh -DskipBpf=true -Dmaven.test.skip=true package
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing

RUN_DIR=$(mktemp -d /tmp/wirespan-overload.XXXXXX)
NGINX_PID=""
SINK_PID=""
AGENT_PID=""
CGROUP=""
cleanup() {
  for p in $AGENT_PID $SINK_PID $NGINX_PID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [ -n "$CGROUP" ] && rmdir "$CGROUP" 2>/dev/null || true
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
if [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
  CGROUP=/sys/fs/cgroup/cpu/wirespan-overload
  mkdir -p "$CGROUP"
  echo 100000 >"$CGROUP/cpu.cfs_period_us"
  echo $((QUOTA_PCT * 1000)) >"$CGROUP/cpu.cfs_quota_us"
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
  grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
  CGROUP=/sys/fs/cgroup/wirespan-overload
  mkdir -p "$CGROUP"
  echo "$((QUOTA_PCT * 1000)) 100000" >"$CGROUP/cpu.max"
else
  echo "overload.sh: no cgroup CPU controller found (cgroup v1 cpu or v2 cpu.max)" >&2
  exit 1
fi

mkdir -p "$RUN_DIR/www/bytes" "$RUN_DIR/nginx-tmp"
head -c 128 /dev/zero | tr '\0' x >"$RUN_DIR/www/bytes/128"
sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@PORT@|$PORT|g" bench/nginx.conf.template >"$RUN_DIR/nginx.conf"
taskset -c 1 nginx -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" &
NGINX_PID=$!
taskset -c 1 java -Xmx256m -cp "$BENCH_JAR" dev.wirespan.bench.BenchHttpServer "$OTLP_PORT" 86400 \
  >"$RUN_DIR/sink.log" 2>&1 &
SINK_PID=$!
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/bytes/128" && break
  sleep 0.1
done

metrics() { curl -s --max-time 30 "http://127.0.0.1:$ADMIN_PORT/metrics"; }
# Sum of the samples whose name and labels start with $2, in metrics text $1.
total() { awk -v p="$2" 'index($0, p) == 1 {s += $NF} END {printf "%d", s + 0}' <<<"$1"; }

run() {
  local jar=$1 label=$2
  MALLOC_ARENA_MAX=2 taskset -c 0-1 java -Xmx128m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -jar "$jar" --admin-address=127.0.0.1:$ADMIN_PORT --exporter=otlp --otlp-protocol=http/protobuf \
    --otlp-endpoint=http://127.0.0.1:$OTLP_PORT --kubernetes=disabled --status-interval=0 \
    >"$RUN_DIR/agent.log" 2>&1 &
  AGENT_PID=$!
  echo "$AGENT_PID" >"$CGROUP/cgroup.procs"
  for _ in $(seq 1 240); do
    curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz" && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$RUN_DIR/agent.log" >&2; exit 1; }
    sleep 0.5
  done
  local m0 m1 c0 c1 requests
  m0=$(metrics)
  c0=$(awk '{print $14 + $15}' "/proc/$AGENT_PID/stat")
  requests=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$PORT/bytes/128" |
    awk '/requests in/ {print $1}')
  for _ in $(seq 1 60); do # the agent drains its ring buffer
    [ "$(metrics | awk '/^wirespan_ring_buffer_used_bytes/ {printf "%d", $2}')" = 0 ] && break
    sleep 1
  done
  sleep 2
  m1=$(metrics)
  c1=$(awk '{print $14 + $15}' "/proc/$AGENT_PID/stat")
  kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=""
  d() { echo $(($(total "$m1" "$1") - $(total "$m0" "$1"))); }
  local complete broken losses
  complete=$(d 'wirespan_exchanges_total{outcome="complete"}')
  broken=$(($(d 'wirespan_exchanges_total') - complete))
  losses=$(awk '/^wirespan_lost_total/ {print $1}' <<<"$m1" | while read -r k; do
    v=$(d "$k")
    if [ "$v" != 0 ]; then
      echo -n " $(sed -E 's/.*stage="([^"]*)",cause="([^"]*)".*/\1\/\2/' <<<"$k") $v,"
    fi
  done)
  python3 - "$label" "$requests" "$complete" "$broken" "$c0" "$c1" "$TICKS" "$losses" <<'PY'
import sys
label, req, complete, broken, c0, c1, ticks, losses = sys.argv[1:]
req, complete, broken = int(req), int(complete), int(broken)
cpu = (int(c1) - int(c0)) / int(ticks)
print(f"| {label} | {req:,} | {complete:,} | {complete / max(2 * req, 1):.3f} | {broken:,} |"
      f" {cpu:.1f} | {complete / max(cpu, 0.01):,.0f} | {losses.strip().rstrip(',') or 'none'} |")
PY
}

echo "nginx on core 1, wrk -c$CONNS on core 0 for ${DUR}s, agent capped at $QUOTA_PCT % of a core"
echo
echo "| agent | requests | complete exchanges | share of sides captured | broken exchanges | agent CPU s | complete per CPU s | losses |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
  for jar in $JARS; do
    run "$jar" "$(basename "$jar") #$r"
  done
done
