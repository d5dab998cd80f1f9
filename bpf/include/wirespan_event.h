/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Records the kernel side writes into the "events" ring buffer.
 *
 * Mirrored by dev.wirespan.capture.CaptureEvent (offsets) and checked against
 * this header by CaptureEventLayoutTest: change both together.
 * All integers are little-endian (host order on the supported architectures);
 * ports are in host order; addresses are 16 bytes, IPv4 stored v4-mapped
 * (::ffff:a.b.c.d).
 */
#ifndef WIRESPAN_EVENT_H
#define WIRESPAN_EVENT_H

/* ws_event.type */
#define WS_EVENT_DATA  1 /* bytes moved by a read- or write-family syscall */
#define WS_EVENT_CLOSE 2 /* close() of a tracked connection */

/* ws_event.direction (as seen by the traced process) */
#define WS_DIR_EGRESS  0 /* the process wrote: write, writev, sendto, sendmsg, sendfile */
#define WS_DIR_INGRESS 1 /* the process read: read, readv, recvfrom, recvmsg */

/* ws_event.role: how the connection was opened, when the kernel side saw it */
#define WS_ROLE_UNKNOWN 0 /* opened before the agent started */
#define WS_ROLE_CLIENT  1 /* connect() */
#define WS_ROLE_SERVER  2 /* accept()/accept4() */

/* ws_event.flags */
#define WS_FLAG_SENDFILE 0x1 /* len bytes sent by sendfile: no payload captured */
/*
 * The bytes this direction moved since its last event were all shed, whole
 * exchanges skipped while the ring was crowded (counted as
 * WS_LOSS_EXCHANGES_SHED): the stream offset jumps, and the bytes after the jump
 * begin an exchange as far as the kernel side can tell (a direction change).
 * Not set when an event of the direction was also dropped on a full ring.
 */
#define WS_FLAG_AFTER_SHED 0x2

/* ws_event.family: of the traffic, so WS_AF_INET also on a dual-stack IPv6 socket talking IPv4 */
#define WS_AF_INET  2
#define WS_AF_INET6 10

#define WS_MAX_PAYLOAD 16384 /* largest allowed capture cap (power of two) */
#define WS_MAX_TAIL    256   /* largest allowed tail capture (tail_bytes) */
#define WS_COMM_LEN    16    /* TASK_COMM_LEN: the task's comm, NUL-padded */

struct ws_event {
	__u8  type;
	__u8  direction;
	__u8  role;
	__u8  family;
	__u16 flags;
	__u16 local_port;
	__u16 remote_port;
	__u16 tail_captured; /* how many of the captured bytes are the tail (0 = all head) */
	__u32 captured;     /* payload bytes that follow this header: head, then tail */
	__u32 pid;          /* thread group id (the process) */
	__u32 tid;          /* thread id */
	__s32 fd;
	__u32 _pad1;
	__u64 timestamp_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 conn_id;      /* unique per connection, survives fd reuse */
	__u64 cgroup_id;    /* the process's cgroup (v2) when the connection was first seen */
	__u64 offset;       /* stream offset of the first byte of this call, per direction */
	__u64 len;          /* bytes the syscall really moved (its return value) */
	__u8  local_addr[16];
	__u8  remote_addr[16];
	char  comm[WS_COMM_LEN]; /* bpf_get_current_comm() of the thread: its process survives exit */
	/*
	 * 'captured' bytes. The head: the first min(len, cap) bytes moved. When the
	 * call moved more than cap, then the tail: its last 'tail_captured' bytes,
	 * [max(cap, len - tail_bytes), len), so that the framing at the end of a
	 * large write (a chunk's CRLF, the next chunk header, the last chunk) is
	 * seen even when the middle is not. Bytes between head and tail were not
	 * copied (their count is len - captured).
	 */
	__u8  payload[];
};

#define WS_EVENT_HEADER_SIZE 120

#endif /* WIRESPAN_EVENT_H */
