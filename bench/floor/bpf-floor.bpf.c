// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor under the capture programs' run time: programs that do one thing each
 * (nothing, one helper, one map access), attached to sys_enter_read / sys_exit_read
 * together, so that bench/bpf-floor.sh can read what the kernel's BPF statistics
 * report for each under the same dd workload. Not part of the agent.
 */
#include <linux/bpf.h>
#include "wirespan_kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FLOOR_RECORD_BYTES 128

/* Set by the loader before load: the dd process, so that other readers only cost the filter. */
const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 28);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} storage SEC(".maps");

/* [0]: ring buffer outputs that failed (the ring was full: the measurement is void) */
__u64 ring_failures = 0;
__u64 sink = 0;

SEC("tracepoint/syscalls/sys_enter_read")
int enter_empty(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int exit_empty(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int pid_tgid(void *ctx)
{
	sink = bpf_get_current_pid_tgid();
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int array_lookup(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&array, &k);

	if (v)
		*v += 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int hash_lookup(void *ctx)
{
	__u64 k = 42; /* a miss, like the lookup for an fd that is not tracked */

	sink = bpf_map_lookup_elem(&hash, &k) != NULL;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int probe_read_kernel(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	void *files = NULL;

	bpf_probe_read_kernel(&files, sizeof(files), &task->files);
	sink = (__u64)files;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int task_btf_load(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	sink = (__u64)task->files;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int task_storage_get(void *ctx)
{
	__u64 *v = bpf_task_storage_get(&storage, bpf_get_current_task_btf(), 0,
					 BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (v)
		*v += 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int ktime_get_ns(void *ctx)
{
	sink = bpf_ktime_get_ns();
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int cgroup_id(void *ctx)
{
	sink = bpf_get_current_cgroup_id();
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int ringbuf_query(void *ctx)
{
	sink = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA);
	return 0;
}

/* Only for dd, so that the ring (sized for dd's reads) is not filled by other readers. */
SEC("tracepoint/syscalls/sys_enter_read")
int ringbuf_output(void *ctx)
{
	__u64 record[FLOOR_RECORD_BYTES / 8] = {};

	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	if (bpf_ringbuf_output(&ring, record, sizeof(record), BPF_RB_NO_WAKEUP))
		__sync_fetch_and_add(&ring_failures, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int ringbuf_reserve(void *ctx)
{
	__u64 *record;

	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	record = bpf_ringbuf_reserve(&ring, FLOOR_RECORD_BYTES, 0);
	if (!record) {
		__sync_fetch_and_add(&ring_failures, 1);
		return 0;
	}
	record[0] = 1;
	bpf_ringbuf_submit(record, BPF_RB_NO_WAKEUP);
	return 0;
}

/* The comparison for the two ring buffer programs: the same pid filter alone. */
SEC("tracepoint/syscalls/sys_enter_read")
int pid_filter(void *ctx)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	sink += 1;
	return 0;
}
