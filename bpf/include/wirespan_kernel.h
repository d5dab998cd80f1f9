/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types the capture programs read, declared for CO-RE: every
 * struct carries preserve_access_index, so clang records each field access as a
 * relocation and libbpf rewrites it against the running kernel's BTF
 * (/sys/kernel/btf/vmlinux). Only the fields used are declared; their order and
 * the absence of the others do not matter.
 */
#ifndef WIRESPAN_KERNEL_H
#define WIRESPAN_KERNEL_H

#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef unsigned short umode_t;
typedef _Bool bool;
#define true 1
#define false 0

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/* Any kernel struct whose first member is a pointer: see fd_file in wirespan.bpf.c. */
struct list_head {
	struct list_head *next;
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct sock_common {
	union {
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	union {
		struct {
			__be16 skc_dport;
			__u16 skc_num;
		};
	};
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	u16 sk_type;
	u16 sk_protocol;
};

struct socket {
	short type;
	struct file *file;
	struct sock *sk;
};

struct inode {
	umode_t i_mode;
};

struct file {
	struct inode *f_inode;
	void *private_data;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct bpf_local_storage;

struct task_struct {
	struct bpf_local_storage *bpf_storage; /* task-local storage of BPF maps, NULL if none */
	int pid;  /* the thread's id */
	int tgid; /* its process's id */
	struct files_struct *files;
	struct task_struct *group_leader;
	char comm[16];
};

#pragma clang attribute pop

/* User memory layouts of the syscall ABI (read with bpf_probe_read_user). */
struct iovec {
	void *iov_base;
	__u64 iov_len;
};

struct user_msghdr {
	void *msg_name;
	int msg_namelen;
	struct iovec *msg_iov;
	__u64 msg_iovlen;
	void *msg_control;
	__u64 msg_controllen;
	unsigned int msg_flags;
};

/*
 * Contexts of tracepoint/syscalls/sys_enter_* and sys_exit_*: the common
 * 8-byte trace entry, the syscall number (padded to 8), then the arguments or
 * the return value, each 8 bytes (see events/syscalls/<name>/format).
 */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

struct trace_event_raw_sys_enter {
	struct trace_entry ent;
	long id;
	unsigned long args[6];
};

struct trace_event_raw_sys_exit {
	struct trace_entry ent;
	long id;
	long ret;
};

#define S_IFMT   00170000
#define S_IFSOCK 0140000

#define AF_INET  2
#define AF_INET6 10

#define IPPROTO_TCP 6
#define SOCK_STREAM 1

#define EINPROGRESS 115

#endif /* WIRESPAN_KERNEL_H */
