/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps of the capture programs. Sizes given here are defaults: the agent sets
 * events, conns and scratch from its settings before load
 * (dev.wirespan.capture.KernelCapture).
 */
#ifndef WIRESPAN_MAPS_H
#define WIRESPAN_MAPS_H

#include "wirespan_event.h"
#include "wirespan_losses.h"

/* ws_conn.state: what the connection's first payloads said about its protocol */
#define WS_PROTO_UNDECIDED 0
#define WS_PROTO_HTTP      1
#define WS_PROTO_NOT_HTTP  2 /* no payload events any more */

/* One tracked TCP connection, keyed by (tgid << 32 | fd). */
struct ws_conn {
	__u64 file;      /* struct file * at tracking time: another one means the fd was reused */
	__u64 conn_id;
	__u64 offset[2]; /* running stream offsets, indexed by WS_DIR_* */
	__u64 cgroup_id; /* the process's cgroup when tracking started (see track) */
	__u8  role;
	__u8  family;
	__u8  state;     /* WS_PROTO_* */
	__u8  probes;    /* non-HTTP payloads seen while undecided */
	__u16 local_port;
	__u16 remote_port;
	__u8  local_addr[16];
	__u8  remote_addr[16];
	char  comm[WS_COMM_LEN]; /* the process's name when tracking started (see process_comm) */
	/* Exchange shedding (see shed_call in wirespan.bpf.c). */
	__u8  request_dir; /* the WS_DIR_* that carries requests; WS_DIR_UNKNOWN: see first_word */
	__u8  last_dir;    /* 1 + the WS_DIR_* of the last call that moved bytes; 0: none yet */
	__u8  shedding;    /* the current exchange is not reported */
	__u8  first_dir;   /* the direction of the first HTTP bytes (role unknown) */
	/* per WS_DIR_*, WS_UNREPORTED_* bits (a byte each: a reader and a writer thread may race) */
	__u8  unreported[2];
	__u8  _pad[2];
	__u32 first_len;   /* how many of them were copied, up to 8 of which are first_word */
	__u64 first_word;
};

/* ws_conn.request_dir of a connection whose role is unknown, until it is worked out. */
#define WS_DIR_UNKNOWN 0xff
/* ws_conn.request_dir when it cannot be told ("H" begins both HEAD and HTTP/): never shed. */
#define WS_DIR_NEVER   0xfe

/*
 * ws_conn.unreported[dir]: bytes the direction moved since its last reported
 * event that were shed, or dropped on a full ring.
 */
#define WS_UNREPORTED_SHED    0x1
#define WS_UNREPORTED_DROPPED 0x2

/* ws_pending.kind: how sys_exit finds the bytes the call moved */
#define WS_CALL_FLAT     1 /* buf + count: read, write, recvfrom, sendto */
#define WS_CALL_VECTOR   2 /* iovec array + count: readv, writev, recvmsg, sendmsg */
#define WS_CALL_SENDFILE 3 /* length only */
#define WS_CALL_CONNECT  4 /* no bytes: track the socket if connect() started */
#define WS_CALL_SHED     5 /* bytes of a shed exchange: only counted in the stream offset */

/*
 * Arguments of a syscall in flight, in the calling thread's task-local storage
 * (one syscall per thread). The slot outlives the call, so valid says whether
 * sys_enter filled it for the call now exiting.
 */
struct ws_pending {
	__u64 buf;   /* user buffer, or user iovec array */
	__u64 count; /* buffer bytes, or iovec segments */
	__s32 fd;
	__u8  kind;  /* WS_CALL_* */
	__u8  direction;
	__u8  valid; /* set at sys_enter, cleared at sys_exit */
	__u8  shed_starts; /* kind WS_CALL_SHED: the call begins the shed exchange */
};

/* A TCP endpoint: address (IPv4 v4-mapped) and port in host order. */
struct ws_endpoint {
	__u8  addr[16];
	__u16 port;
	__u16 _pad; /* zero: the whole struct is a hash key */
};

/* Sockets of the agent's own process remembered at once (LRU: the least recently used goes). */
#define WS_SELF_ENDPOINT_ENTRIES 4096

/* Events to user space, consumed through mmap by RingBufferReader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/*
 * Every TCP socket that moved bytes (HTTP or not: a non-HTTP one is remembered as
 * such). LRU rather than a plain hash: entries of processes that exit without
 * close() must not fill it for good. When full, the least recently used entry is
 * evicted without a close event; if that connection moves bytes again it is
 * tracked anew (new conn_id, role unknown, offsets from 0), and user space, which
 * knows its pid, fd and addresses, counts it as kernel/map_full and joins the two.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct ws_conn);
} conns SEC(".maps");

/*
 * Task-local storage (kernel 5.11+) rather than a hash keyed by pid_tgid: no
 * hashing, no bucket lock and no delete per call, and the slot is freed with
 * its thread. Such maps must have max_entries 0 and no preallocation.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ws_pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WS_LOSS_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

/*
 * What this CPU last learnt of the ring's unread bytes, and what it wrote since
 * it asked (see ring_view in wirespan.bpf.c). Per CPU: a shared counter would
 * bounce between CPUs on every event.
 */
struct ws_ring_view {
	__u64 unqueried; /* bytes this CPU wrote since it last asked */
	__u64 unread;    /* the answer then (the ring's size after a failed write) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ws_ring_view);
} ring_views SEC(".maps");

/*
 * Local endpoints of the agent's own TCP sockets -> the struct sock * that has
 * it. A connection of another process whose remote endpoint is one of them is
 * the other end of the agent's own traffic (same node: no NAT in between), e.g.
 * a local OpenTelemetry Collector reading the agent's exports: it is ignored,
 * or tracing it would feed spans back into the exports.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WS_SELF_ENDPOINT_ENTRIES);
	__type(key, struct ws_endpoint);
	__type(value, __u64);
} self_endpoints SEC(".maps");

/*
 * Where an event is built before bpf_ringbuf_output, one slot per CPU (tracepoint
 * programs do not nest on a CPU). A plain array indexed by CPU rather than a
 * per-CPU array because a slot is larger than the per-CPU value limit (32 KiB):
 * the payload area is twice WS_MAX_PAYLOAD so that the verifier can bound each
 * iovec segment's copy (offset < WS_MAX_PAYLOAD, length <= WS_MAX_PAYLOAD)
 * without relating the two. The agent sets max_entries to the possible CPUs.
 */
struct ws_scratch {
	__u64 words[(WS_EVENT_HEADER_SIZE + 2 * WS_MAX_PAYLOAD) / 8]; /* a struct ws_event */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct ws_scratch);
} scratch SEC(".maps");

#endif /* WIRESPAN_MAPS_H */
