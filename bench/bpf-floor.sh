#!/usr/bin/env bash
# The floor under the capture programs' BPF run time on this machine (root): what the kernel's BPF
# statistics report (run_time_ns / run_cnt) for programs that do one thing each -- nothing, one
# helper call, one map access, a 128-byte ring buffer record -- attached to sys_enter_read (and
# an empty one to sys_exit_read) while `dd if=/dev/zero of=/dev/null bs=64` runs, the workload of
# bench/bpf-cost.sh's non-socket case. Shows which per-call costs no program can go below.
#
# Environment: REPEATS [5]  DD_COUNT [500000] (at most 900000: the ring buffer holds dd's records)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-5}
DD_COUNT=${DD_COUNT:-500000}
[ "$(id -u)" = 0 ] || { echo "bpf-floor.sh: needs root" >&2; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing
OUT=$(mktemp -d /tmp/wirespan-bpf-floor.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
clang -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror -I bpf/include \
  -I "/usr/include/$(uname -m)-linux-gnu" -c bench/floor/bpf-floor.bpf.c -o "$OUT/bpf-floor.bpf.o"
python3 bench/floor/bpf_floor.py "$OUT/bpf-floor.bpf.o" "$REPEATS" "$DD_COUNT"
