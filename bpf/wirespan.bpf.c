// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel capture stage: follows the TCP connections of every process through
 * the syscall tracepoints and writes what they send and receive (the first
 * capture_bytes of each call and, of a longer call, its last tail_bytes) into
 * the "events" ring buffer, as struct ws_event.
 *
 * Per call: sys_enter decides whether the fd is a tracked TCP socket (anything
 * that is not a socket leaves after a few reads of the fd table, before any map
 * lookup) and stashes the arguments; sys_exit takes them back, advances the direction's stream
 * offset by the return value and copies the bytes from user memory.
 * Connections whose first payload is not HTTP/1.x stop producing events.
 *
 * The agent's own process (self_tgid) produces no events, and neither does the
 * other end of its connections on this node: the local endpoints of its TCP
 * sockets are kept in self_endpoints (from connect(), or from its first write
 * on a socket connected earlier), and a connection of another process whose
 * remote endpoint is one of them never becomes HTTP (unless it connected and
 * spoke first: a client of the agent).
 */
#include <linux/bpf.h>
#include "wirespan_kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "wirespan_event.h"
#include "wirespan_losses.h"
#include "wirespan_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Settings, written by the agent into .rodata before load. */
const volatile __u32 self_tgid = 0;        /* the agent's own process: not traced; 0 = none */
const volatile __u32 capture_bytes = 4096; /* payload bytes copied per call, <= WS_MAX_PAYLOAD */
/* last bytes also copied of a call that moved more than capture_bytes, <= WS_MAX_TAIL; 0 = none */
const volatile __u32 tail_bytes = 64;
const volatile __u64 wakeup_bytes = 65536; /* wake the reader once this much is unread; 0 = every event */
/* unread ring bytes from which exchanges that begin are shed (see shed_call); 0 = never */
const volatile __u64 shed_bytes = 0;

/* Source of connection ids (fetch-and-add, so ids are unique across CPUs). */
__u64 next_conn_id = 0;

/* Largest iovec array walked per call: later segments are not captured. */
#define WS_MAX_IOV_SEGMENTS 16
/*
 * The ring's unread count is asked each time a CPU wrote this fraction of
 * wakeup_bytes (or of shed_bytes, if smaller).
 */
#define WS_RING_QUERY_FRACTION 16
/* Non-HTTP payloads after which a connection first seen mid-stream is given up. */
#define WS_UNKNOWN_ROLE_PROBES 4

/* Keeps clang from folding a bound check the verifier needs to see. */
#define ws_barrier_var(var) asm volatile("" : "+r"(var))

static __always_inline void count_loss(__u32 index)
{
	__u64 *counter = bpf_map_lookup_elem(&losses, &index);

	if (counter)
		*counter += 1;
}

static __always_inline __u64 conn_key(__u32 tgid, __s32 fd)
{
	return ((__u64)tgid << 32) | (__u32)fd;
}

static __always_inline bool is_self(__u32 tgid)
{
	return self_tgid != 0 && tgid == self_tgid;
}

/*
 * The fd walk, in two builds (bpf/Makefile), the agent loading the first the
 * running kernel accepts (dev.wirespan.capture.KernelCapture):
 *   WS_KFUNC_FD_WALK (kernel 6.2+): the kernel objects behind a pointer read
 *     from memory are cast with the bpf_rdonly_cast kfunc and read with plain
 *     JIT-ed loads (fault-safe, like the probe reads, but no helper call each);
 *   portable (5.12+): such objects are read with one bpf_probe_read_kernel per
 *     field. Both reach task->files->fdt with plain loads, through the task's
 *     BTF pointer (bpf_get_current_task_btf, 5.11+).
 */
#ifdef WS_KFUNC_FD_WALK
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
/* A pointer read from kernel memory, as the kernel type it points to. */
#define ws_kernel_ptr(ptr, type) ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))
#define ws_read(ptr, field) ((ptr)->field)
#else
#define ws_kernel_ptr(ptr, type) ((type *)(ptr))
#define ws_read(ptr, field) BPF_CORE_READ(ptr, field)
#endif

/* The struct file behind fd in task's process, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, __s32 fd)
{
	struct fdtable *fdt = task->files->fdt; /* NULL files (a kernel thread) reads as NULL */
	struct file **fds;
	struct file *file = NULL;

	if (!fdt || (__u32)fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
#ifdef WS_KFUNC_FD_WALK
	/*
	 * The slot's offset depends on fd, and loads through a cast pointer need a
	 * constant one: the slot itself is cast, as a struct whose first member is
	 * a pointer, and that member loaded.
	 */
	file = (struct file *)ws_kernel_ptr(&fds[fd], struct list_head)->next;
#else
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
#endif
	if (!file)
		return NULL;
	return ws_kernel_ptr(file, struct file);
}

/* Whether file is a socket of any kind: the one check every read and write pays. */
static __always_inline bool is_socket(struct file *file)
{
#ifdef WS_KFUNC_FD_WALK
	return (file->f_inode->i_mode & S_IFMT) == S_IFSOCK;
#else
	return (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) == S_IFSOCK;
#endif
}

/* The sock behind socket file when it is an IPv4/IPv6 TCP socket, else NULL. */
static __always_inline struct sock *tcp_sock_of(struct file *file)
{
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	sock = ws_kernel_ptr(ws_read(file, private_data), struct socket);
	if (!sock || ws_read(sock, file) != file)
		return NULL;
	sk = ws_read(sock, sk);
	if (!sk || ws_read(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	family = ws_read(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

/* The TCP sock behind fd in the current process, or NULL. */
static __always_inline struct sock *fd_tcp_sock(__s32 fd, struct file **file_out)
{
	struct file *file = fd_file(bpf_get_current_task_btf(), fd);

	if (!file || !is_socket(file))
		return NULL;
	*file_out = file;
	return tcp_sock_of(file);
}

static __always_inline void v4_mapped(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

static __always_inline bool is_v4_mapped(const __u8 *a)
{
	__u64 head;
	__u32 mid;

	__builtin_memcpy(&head, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return head == 0 && mid == bpf_htonl(0x0000ffff);
}

/* Addresses and ports of sk into c; family AF_INET also for IPv4 on a dual-stack socket. */
static __always_inline void read_tuple(struct sock *sk, struct ws_conn *c)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	c->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		v4_mapped(c->local_addr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		v4_mapped(c->remote_addr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
		c->family = WS_AF_INET;
		return;
	}
	bpf_core_read(c->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	bpf_core_read(c->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	c->family = is_v4_mapped(c->local_addr) && is_v4_mapped(c->remote_addr) ? WS_AF_INET
										  : WS_AF_INET6;
}

/* The local endpoint of sk, in the form other sockets see it as their remote one. */
static __always_inline void local_endpoint(struct sock *sk, struct ws_endpoint *ep)
{
	ep->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET)
		v4_mapped(ep->addr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
	else /* a dual-stack socket talking IPv4 holds its address v4-mapped here */
		bpf_core_read(ep->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
}

/*
 * Remembers the local endpoint of the agent's TCP socket sk (when it has one).
 * Called on every write of the agent, so it updates the map only when the
 * endpoint is not already known for this very socket: once per connection.
 */
static __always_inline void remember_self_socket(struct sock *sk)
{
	struct ws_endpoint ep = {};
	__u64 owner, *known;

	local_endpoint(sk, &ep);
	if (ep.port == 0)
		return; /* neither bound nor connected: nobody can be talking to it */
	owner = (__u64)sk;
	known = bpf_map_lookup_elem(&self_endpoints, &ep);
	if (known && *known == owner)
		return;
	if (bpf_map_update_elem(&self_endpoints, &ep, &owner, BPF_ANY))
		count_loss(WS_LOSS_MAP_FULL);
}

/* Forgets the agent's socket fd as it is closed (unless another socket took its endpoint since). */
static __always_inline void forget_self_socket(__s32 fd)
{
	struct ws_endpoint ep = {};
	struct file *file;
	struct sock *sk = fd_tcp_sock(fd, &file);
	__u64 *known;

	if (!sk)
		return;
	local_endpoint(sk, &ep);
	known = bpf_map_lookup_elem(&self_endpoints, &ep);
	if (known && *known == (__u64)sk)
		bpf_map_delete_elem(&self_endpoints, &ep);
}

/* Whether c's peer is a socket of the agent's own process. */
static __always_inline bool talks_to_self(const struct ws_conn *c)
{
	struct ws_endpoint ep = {};

	if (!self_tgid)
		return false;
	__builtin_memcpy(ep.addr, c->remote_addr, 16);
	ep.port = c->remote_port;
	return bpf_map_lookup_elem(&self_endpoints, &ep) != NULL;
}

static __always_inline struct ws_event *scratch_event(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&scratch, &cpu);
}

static __always_inline struct ws_ring_view *ring_view(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ring_views, &zero);
}

/*
 * Bytes a CPU writes between two looks at the ring's unread count: asking
 * reads the reader's consumer position, a cache line the reader writes on
 * another CPU, and asking on every event cost more than the rest of the ring
 * buffer work (bench/README.md). 0: nothing needs the count.
 */
static __always_inline __u64 query_interval(void)
{
	__u64 every = wakeup_bytes;

	if (shed_bytes && (!every || shed_bytes < every))
		every = shed_bytes;
	return every / WS_RING_QUERY_FRACTION;
}

/*
 * Accounts a record of size bytes about to be written; returns the wake-up
 * flag for it: wake the reader once wakeup_bytes are unread. The ring is asked
 * only once this CPU has written another query_interval() bytes since it last
 * asked, so the wake-up comes at most that much per CPU late, and the answer
 * is kept for shed_call.
 */
static __always_inline __u64 wakeup_flags(__u32 size)
{
	struct ws_ring_view *view;
	__u64 every = query_interval();

	if (!every)
		return 0; /* wakeup_bytes 0: the kernel's default, wake when the reader has caught up */
	view = ring_view();
	if (!view)
		return 0;
	view->unqueried += size;
	if (view->unqueried < every)
		return wakeup_bytes ? BPF_RB_NO_WAKEUP : 0;
	view->unqueried = 0;
	view->unread = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (!wakeup_bytes)
		return 0;
	return view->unread + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/*
 * Whether the ring holds shed_bytes unread. This CPU's last answer is trusted
 * while it is below (it is at most query_interval() of this CPU's writes old);
 * at or above, the ring is asked again, so that shedding stops as soon as the
 * reader has caught up even though a shedding CPU writes little.
 */
static __always_inline bool ring_crowded(void)
{
	struct ws_ring_view *view;

	if (!shed_bytes)
		return false;
	view = ring_view();
	if (!view || view->unread < shed_bytes)
		return false;
	view->unqueried = 0;
	view->unread = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	return view->unread >= shed_bytes;
}

/* After a write to the ring failed: it is full, as far as this CPU knows. */
static __always_inline void ring_was_full(void)
{
	struct ws_ring_view *view = ring_view();

	if (view)
		view->unread = ~0ULL;
}

/*
 * The process's name: the comm of its main thread, as /proc/<pid>/comm shows it
 * (a thread's own comm is often its thread name, e.g. in a JVM). Recorded in
 * every event because the process may exit before user space reads the event,
 * and /proc then knows nothing. Read once per connection, when tracking starts
 * (two kernel reads per event saved): a process renamed later (exec keeping the
 * fd, prctl) keeps the name it had then on that connection.
 */
static __always_inline void process_comm(char *dst)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	__builtin_memset(dst, 0, WS_COMM_LEN); /* the _str read does not pad after the NUL */
	if (leader && bpf_probe_read_kernel_str(dst, WS_COMM_LEN, &leader->comm) > 0)
		return;
	if (bpf_get_current_comm(dst, WS_COMM_LEN))
		__builtin_memset(dst, 0, WS_COMM_LEN);
}

/*
 * Fills everything but payload-related fields from the connection and the
 * calling thread (task: bpf_get_current_task_btf()).
 */
static __always_inline void fill_header(struct ws_event *e, const struct ws_conn *c, __u8 type,
					 __s32 fd, struct task_struct *task)
{
	e->type = type;
	e->role = c->role;
	e->family = c->family;
	e->flags = 0;
	e->local_port = c->local_port;
	e->remote_port = c->remote_port;
	e->tail_captured = 0;
	e->pid = task->tgid;
	e->tid = task->pid;
	e->fd = fd;
	e->_pad1 = 0;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->conn_id = c->conn_id;
	e->cgroup_id = c->cgroup_id;
	__builtin_memcpy(e->local_addr, c->local_addr, 16);
	__builtin_memcpy(e->remote_addr, c->remote_addr, 16);
	__builtin_memcpy(e->comm, c->comm, WS_COMM_LEN);
}

/* Writes e with captured payload bytes into the ring; false if it was dropped (counted). */
static __always_inline bool submit(struct ws_event *e, __u32 captured)
{
	__u32 size;

	ws_barrier_var(captured);
	if (captured > WS_MAX_PAYLOAD + WS_MAX_TAIL)
		captured = WS_MAX_PAYLOAD + WS_MAX_TAIL;
	size = WS_EVENT_HEADER_SIZE + captured;
	if (bpf_ringbuf_output(&events, e, size, wakeup_flags(size))) {
		count_loss(WS_LOSS_RINGBUF_FULL);
		ring_was_full();
		return false;
	}
	count_loss(WS_LOSS_EVENTS_EMITTED);
	return true;
}

static __always_inline void emit_close(const struct ws_conn *c, __s32 fd)
{
	struct ws_event *e = scratch_event();

	if (!e)
		return;
	fill_header(e, c, WS_EVENT_CLOSE, fd, bpf_get_current_task_btf());
	e->direction = WS_DIR_EGRESS;
	e->captured = 0;
	e->offset = 0;
	e->len = 0;
	submit(e, 0);
}

/*
 * Starts tracking fd as a new connection (replacing whatever entry the fd had:
 * a close that was never seen). Returns the map's entry, or NULL.
 */
static __always_inline struct ws_conn *track(__u64 key, __s32 fd, struct file *file,
					     struct sock *sk, __u8 role)
{
	struct ws_conn *old = bpf_map_lookup_elem(&conns, &key);
	struct ws_conn c = {};

	if (old && old->state == WS_PROTO_HTTP)
		emit_close(old, fd);
	c.file = (__u64)file;
	c.role = role;
	c.request_dir = role == WS_ROLE_CLIENT   ? WS_DIR_EGRESS
			: role == WS_ROLE_SERVER ? WS_DIR_INGRESS
						 : WS_DIR_UNKNOWN;
	c.conn_id = __sync_fetch_and_add(&next_conn_id, 1) + 1;
	read_tuple(sk, &c);
	process_comm(c.comm);
	/*
	 * Like the name, read once per connection rather than per event. A process
	 * is moved to another cgroup only by an administrator's write to
	 * cgroup.procs (a container's processes stay in its cgroup for life, and
	 * the cgroup is what names the pod): events after such a move keep the
	 * cgroup the connection started in.
	 */
	c.cgroup_id = bpf_get_current_cgroup_id();
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY)) {
		count_loss(WS_LOSS_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &key);
}

/*
 * The tracked connection behind socket file fd of process tgid, starting to
 * track it (role unknown: opened before the agent ran) when it is a TCP socket
 * not seen yet. NULL otherwise.
 */
static __always_inline struct ws_conn *conn_of(__u32 tgid, __s32 fd, struct file *file)
{
	__u64 key = conn_key(tgid, fd);
	struct ws_conn *c = bpf_map_lookup_elem(&conns, &key);
	struct sock *sk;

	if (c && c->file == (__u64)file)
		return c;
	sk = tcp_sock_of(file);
	if (!sk) {
		if (c) {
			/* fd reused for another kind of socket: the tracked connection ended */
			if (c->state == WS_PROTO_HTTP)
				emit_close(c, fd);
			bpf_map_delete_elem(&conns, &key);
		}
		return NULL;
	}
	return track(key, fd, file, sk, WS_ROLE_UNKNOWN);
}

/*
 * The tracked connection of the calling process's fd whose calls are to be
 * captured, or NULL. Every read and write of every process comes here, so the
 * order matters: fds that are not sockets (files, pipes, ...) leave after the
 * fd walk, before any map lookup. A tracked connection whose fd was reused for
 * one without a close() being seen (dup2, ...) keeps its conns entry until
 * that fd is closed (enter_close ends it by key) or becomes a socket again.
 */
static __always_inline struct ws_conn *traced_conn(__s32 fd, __u8 direction)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *file;
	struct ws_conn *c;
	__u32 tgid;

	if (fd < 0)
		return NULL;
	file = fd_file(task, fd);
	if (!file || !is_socket(file))
		return NULL;
	tgid = task->tgid;
	if (is_self(tgid)) {
		struct sock *sk;

		if (direction == WS_DIR_EGRESS && (sk = tcp_sock_of(file)))
			remember_self_socket(sk);
		return NULL;
	}
	c = conn_of(tgid, fd, file);
	if (!c || c->state == WS_PROTO_NOT_HTTP)
		return NULL;
	return c;
}

/* The calling thread's pending-syscall slot, created on its first traced call. */
static __always_inline struct ws_pending *pending_slot(void)
{
	struct ws_pending *p = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0,
						    BPF_LOCAL_STORAGE_GET_F_CREATE);

	/* creating the slot allocates: out of memory (or charge limit) loses the call */
	if (!p)
		count_loss(WS_LOSS_MAP_FULL);
	return p;
}

/* Takes the arguments sys_enter stashed for the syscall of task (the calling thread), if any. */
static __always_inline bool take_pending(struct task_struct *task, struct ws_pending *out)
{
	struct ws_pending *p;

	/*
	 * A thread that never had a traced call has no task storage at all: one
	 * plain load answers for it (most exits, e.g. of file reads) instead of
	 * the helper call.
	 */
	if (!task->bpf_storage)
		return false;
	p = bpf_task_storage_get(&pending, task, 0, 0);
	if (!p || !p->valid)
		return false;
	*out = *p;
	p->valid = 0;
	return true;
}

/* Stashes the arguments of the calling thread's syscall for its sys_exit. */
static __always_inline int stash(__s32 fd, __u64 buf, __u64 count, __u8 kind, __u8 direction,
				 __u8 shed_starts)
{
	struct ws_pending *p = pending_slot();

	if (!p)
		return 0;
	p->buf = buf;
	p->count = count;
	p->fd = fd;
	p->kind = kind;
	p->direction = direction;
	p->shed_starts = shed_starts;
	p->valid = 1;
	return 0;
}

/* Little-endian word of the first min(len, 8) bytes of a token. */
static __always_inline __u64 token_word(const char *token, __u32 len)
{
	__u64 word = 0;

	for (__u32 i = 0; i < 8 && i < len; i++)
		word |= (__u64)(__u8)token[i] << (8 * i);
	return word;
}

/*
 * The direction that carries requests on a connection whose role is unknown
 * (opened before the capture started), from its first HTTP bytes: a status
 * line is an answer; anything else (a method, or bytes too few to tell) is
 * taken for a request.
 */
static __always_inline __u8 request_direction_of_first_bytes(const struct ws_conn *c)
{
	const __u64 five = (1ULL << 40) - 1;

	if (c->first_len < 5 && (c->first_word & 0xff) == 'H')
		return WS_DIR_NEVER; /* "H" to "HTTP" also begin HEAD: cannot tell */
	if (c->first_len >= 5 && ((c->first_word ^ token_word("HTTP/", 5)) & five) == 0)
		return (c->first_dir & 1) ^ 1;
	return c->first_dir & 1;
}

/*
 * Exchange shedding. When the reader falls behind (a burst, a start under
 * load, too little CPU), the ring fills and bpf_ringbuf_output drops whatever
 * record comes next: pieces of many exchanges, each then broken by a gap in
 * its stream. Instead, while the ring holds shed_bytes unread, exchanges that
 * begin are not reported at all (their bytes are not even copied), and those
 * under way go on in the room left: fewer exchanges, each whole, counted once
 * per exchange and side (WS_LOSS_EXCHANGES_SHED).
 *
 * As far as calls tell, an exchange begins with a call that moves bytes on the
 * request direction after one that moved bytes on the other direction.
 * Decided there, it holds until the next such call: a request and its answer
 * go or stay together. (A request body sent after a 100 Continue looks like a
 * beginning too: shed there, the exchange is broken, which user space sees as
 * a gap, as it would a dropped record, and one more shed is counted.)
 *
 * Decided at sys_enter, so that sys_exit, whose copy loops make it by far the
 * verifier's largest program, does not branch on it: a shed call is stashed as
 * WS_CALL_SHED, and sys_exit only counts its bytes in the stream offset. What
 * the decision changes in the connection is stored by sys_exit, and only for a
 * call that moved bytes: a read that finds nothing yet (EAGAIN) or the peer's
 * close (0) decides nothing.
 *
 * Returns whether the call is to be shed; *starts: whether it begins the exchange.
 */
static __always_inline bool shed_call(struct ws_conn *c, __u8 direction, __u8 *starts)
{
	__u8 dir = direction & 1;

	*starts = 0;
	if (c->state != WS_PROTO_HTTP)
		return false; /* its first HTTP bytes are reported: they tell the protocol */
	if (c->request_dir == WS_DIR_UNKNOWN)
		c->request_dir = request_direction_of_first_bytes(c);
	if (dir != c->request_dir || c->last_dir == dir + 1)
		return c->shedding; /* the exchange goes on */
	*starts = 1;
	return ring_crowded();
}

static __always_inline int on_enter(__s32 fd, __u64 buf, __u64 count, __u8 kind, __u8 direction)
{
	struct ws_conn *c = traced_conn(fd, direction);
	__u8 starts;

	if (!c)
		return 0;
	if (shed_call(c, direction, &starts))
		return stash(fd, 0, 0, WS_CALL_SHED, direction, starts);
	return stash(fd, buf, count, kind, direction, 0);
}

static __always_inline int on_enter_msg(__s32 fd, __u64 msg_ptr, __u8 direction)
{
	struct user_msghdr msg;
	struct ws_conn *c = traced_conn(fd, direction);
	__u8 starts;

	if (!c)
		return 0;
	if (shed_call(c, direction, &starts))
		return stash(fd, 0, 0, WS_CALL_SHED, direction, starts);
	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)msg_ptr))
		return 0;
	return stash(fd, (__u64)msg.msg_iov, msg.msg_iovlen, WS_CALL_VECTOR, direction, 0);
}

/* Copies up to want bytes of a flat user buffer; returns the bytes copied. */
static __always_inline __u32 copy_flat(__u8 *dst, __u64 src, __u32 want)
{
	ws_barrier_var(want);
	if (want > WS_MAX_PAYLOAD)
		want = WS_MAX_PAYLOAD;
	if (bpf_probe_read_user(dst, want, (void *)src))
		return 0;
	return want;
}

/* Copies up to want bytes from the segments of a user iovec array, in order. */
static __always_inline __u32 copy_vector(__u8 *dst, __u64 iov_ptr, __u64 segments, __u32 want)
{
	const struct iovec *iov = (const struct iovec *)iov_ptr;
	__u32 copied = 0;

	for (int i = 0; i < WS_MAX_IOV_SEGMENTS; i++) {
		struct iovec seg;
		__u32 offset, len;

		if (i >= segments || copied >= want)
			break;
		if (bpf_probe_read_user(&seg, sizeof(seg), &iov[i]))
			break;
		len = seg.iov_len < want - copied ? seg.iov_len : want - copied;
		/* copied < want <= WS_MAX_PAYLOAD: the masks keep values, bound them for the verifier */
		offset = copied & (WS_MAX_PAYLOAD - 1);
		ws_barrier_var(len);
		if (len > WS_MAX_PAYLOAD)
			len = WS_MAX_PAYLOAD;
		if (bpf_probe_read_user(dst + offset, len, seg.iov_base))
			break;
		copied += len;
	}
	return copied;
}

/*
 * Copies bytes [from, from + want) of a flat user buffer to dst (want <= WS_MAX_TAIL);
 * returns the bytes copied.
 */
static __always_inline __u32 copy_flat_tail(__u8 *dst, __u64 src, __u64 from, __u32 want)
{
	ws_barrier_var(want);
	if (want > WS_MAX_TAIL)
		want = WS_MAX_TAIL;
	if (bpf_probe_read_user(dst, want, (void *)(src + from)))
		return 0;
	return want;
}

/*
 * Copies bytes [from, from + want) of the data held by a user iovec array (in
 * segment order) to dst (want <= WS_MAX_TAIL); returns the bytes copied. The
 * segments are walked from the first, adding up their lengths, to find where
 * the range starts: it may span several segments (a chunk's data, its CRLF and
 * the next chunk header are often separate buffers of one writev). Like the
 * head, only the first WS_MAX_IOV_SEGMENTS segments are looked at: a tail in a
 * later one is not captured (0).
 */
static __always_inline __u32 copy_vector_tail(__u8 *dst, __u64 iov_ptr, __u64 segments,
					       __u64 from, __u32 want)
{
	const struct iovec *iov = (const struct iovec *)iov_ptr;
	__u64 seg_start = 0; /* stream position of the segment's first byte */
	__u32 copied = 0;

	if (want > WS_MAX_TAIL)
		want = WS_MAX_TAIL;
	for (int i = 0; i < WS_MAX_IOV_SEGMENTS; i++) {
		struct iovec seg;
		__u64 seg_end, skip, avail;
		__u32 offset, len;

		if (i >= segments || copied >= want)
			break;
		if (bpf_probe_read_user(&seg, sizeof(seg), &iov[i]))
			break;
		seg_end = seg_start + seg.iov_len;
		if (seg_end > from + copied) {
			/* this segment holds the next wanted byte: from + copied >= seg_start */
			skip = from + copied - seg_start;
			avail = seg.iov_len - skip;
			len = avail < want - copied ? (__u32)avail : want - copied;
			/* copied < want <= WS_MAX_TAIL: the bounds keep values, state them for the verifier */
			offset = copied & (WS_MAX_TAIL - 1);
			ws_barrier_var(len);
			if (len > WS_MAX_TAIL)
				len = WS_MAX_TAIL;
			if (bpf_probe_read_user(dst + offset, len, seg.iov_base + skip))
				break;
			copied += len;
		}
		seg_start = seg_end;
	}
	return copied;
}

/*
 * Whether the n (>= 1) captured bytes starting with word begin an HTTP/1.x
 * message: a request method and a space, or a status line "HTTP/1.". A payload
 * shorter than a token counts when it is a prefix of it (a short read).
 */
static __always_inline bool starts_http(__u64 word, __u32 n)
{
#define WS_TOKEN(s)                                                                      \
	do {                                                                               \
		const __u32 len = sizeof(s) - 1;                                           \
		__u32 k = n < len ? n : len;                                               \
		__u64 mask = k >= 8 ? ~0ULL : ((1ULL << (8 * k)) - 1);                     \
		if (((word ^ token_word(s, len)) & mask) == 0)                             \
			return true;                                                       \
	} while (0)
	WS_TOKEN("GET ");
	WS_TOKEN("POST ");
	WS_TOKEN("PUT ");
	WS_TOKEN("HEAD ");
	WS_TOKEN("DELETE ");
	WS_TOKEN("PATCH ");
	WS_TOKEN("OPTIONS ");
	WS_TOKEN("CONNECT ");
	WS_TOKEN("TRACE ");
	WS_TOKEN("HTTP/1.");
#undef WS_TOKEN
	return false;
}

static __always_inline int on_exit(long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ws_pending p;
	struct ws_conn *c;
	struct ws_event *e;
	__u64 key, offset, word, tail_from;
	__u32 want, captured = 0, tail = 0;
	__u8 dir, unreported, dropped;

	if (!take_pending(task, &p))
		return 0;
	if (ret <= 0)
		return 0;
	key = conn_key(task->tgid, p.fd);
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		/*
		 * Evicted from the full LRU map while the call was in the kernel
		 * (typically a read blocked on an idle keep-alive connection): the
		 * bytes it moved are still in its buffer, so the fd is tracked again
		 * here rather than losing them. Like every re-tracked connection it
		 * gets a new id whose offsets start at 0; user space joins it to the
		 * connection it knew (see ConnectionTracker).
		 */
		struct file *file = fd_file(task, p.fd);

		if (!file || !is_socket(file))
			return 0;
		c = conn_of(task->tgid, p.fd, file);
		if (!c)
			return 0;
	}
	dir = p.direction & 1;
	offset = __sync_fetch_and_add(&c->offset[dir], ret);
	if (c->state == WS_PROTO_NOT_HTTP)
		return 0;
	if (p.kind == WS_CALL_SHED) {
		if (p.shed_starts)
			count_loss(WS_LOSS_EXCHANGES_SHED);
		c->shedding = 1;
		c->last_dir = dir + 1;
		c->unreported[dir] |= WS_UNREPORTED_SHED;
		return 0;
	}
	/* reported: the exchange it belongs to is not shed (stores only: see shed_call) */
	c->shedding = 0;
	c->last_dir = dir + 1;
	e = scratch_event();
	if (!e)
		return 0;

	if (p.kind == WS_CALL_SENDFILE) {
		/* file bytes, never the start of a message: only counted on HTTP connections */
		if (c->state != WS_PROTO_HTTP)
			return 0;
	} else {
		want = (__u64)ret < capture_bytes ? (__u32)ret : capture_bytes;
		if (p.kind == WS_CALL_FLAT)
			captured = copy_flat(e->payload, p.buf, want);
		else
			captured = copy_vector(e->payload, p.buf, p.count, want);
		if (c->state == WS_PROTO_UNDECIDED) {
			if (captured == 0)
				return 0; /* nothing to judge by */
			__builtin_memcpy(&word, e->payload, 8);
			if (starts_http(word, captured)) {
				/*
				 * The other end of the agent's own traffic (e.g. a collector
				 * reading the agent's exports). Judged here, on the first HTTP
				 * payload, rather than when the connection was tracked: by now
				 * the agent has recorded its endpoint (its connect() returned and
				 * it wrote what this reads, or this answers it), while an
				 * accept() can return before the agent's connect() does, and a
				 * connection opened before the capture is tracked before the
				 * agent's first write. A process that connected and speaks first
				 * is a client of the agent and stays traced: whether the agent
				 * has answered by the time its write returns is a race.
				 */
				if ((p.direction == WS_DIR_INGRESS || c->role != WS_ROLE_CLIENT) &&
				    talks_to_self(c)) {
					c->state = WS_PROTO_NOT_HTTP;
					count_loss(WS_LOSS_SELF_CONNS_IGNORED);
					return 0;
				}
				c->state = WS_PROTO_HTTP;
				/* for shed_call; stored only: this program is the verifier's largest */
				c->first_dir = dir;
				c->first_len = captured;
				c->first_word = word;
			} else {
				c->probes++;
				if (c->role != WS_ROLE_UNKNOWN || c->probes >= WS_UNKNOWN_ROLE_PROBES)
					c->state = WS_PROTO_NOT_HTTP;
				return 0;
			}
		}
		/*
		 * The tail: the last tail_bytes moved, not overlapping the head. Only
		 * after a whole head, so that the bytes between them are exactly
		 * len - captured.
		 */
		if (tail_bytes && (__u64)ret > capture_bytes && captured == want) {
			tail_from = (__u64)ret >= (__u64)capture_bytes + tail_bytes
					    ? (__u64)ret - tail_bytes
					    : capture_bytes;
			/* captured == capture_bytes <= WS_MAX_PAYLOAD: stated for the verifier */
			ws_barrier_var(captured);
			if (captured <= WS_MAX_PAYLOAD) {
				if (p.kind == WS_CALL_FLAT)
					tail = copy_flat_tail(e->payload + captured, p.buf, tail_from,
							      (__u32)((__u64)ret - tail_from));
				else
					tail = copy_vector_tail(e->payload + captured, p.buf, p.count,
								tail_from, (__u32)((__u64)ret - tail_from));
			}
		}
	}

	fill_header(e, c, WS_EVENT_DATA, p.fd, task);
	e->direction = p.direction;
	e->flags = p.kind == WS_CALL_SENDFILE ? WS_FLAG_SENDFILE : 0;
	/* shed and none dropped since the direction's last event; without a branch, like below */
	unreported = c->unreported[dir];
	e->flags |= (unreported & ~(unreported >> 1) & WS_UNREPORTED_SHED) << 1;
	e->captured = captured + tail;
	e->tail_captured = tail;
	e->offset = offset;
	e->len = ret;
	if (p.kind != WS_CALL_SENDFILE && (__u64)ret > captured + tail)
		count_loss(WS_LOSS_COPY_TRUNCATED);
	dropped = !submit(e, captured + tail);
	c->unreported[dir] = dropped * WS_UNREPORTED_DROPPED;
	return 0;
}

/* ---- read family ---- */

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_CALL_FLAT, WS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_CALL_VECTOR, WS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_CALL_FLAT, WS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter_msg(ctx->args[0], ctx->args[1], WS_DIR_INGRESS);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

/* ---- write family ---- */

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_CALL_FLAT, WS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_CALL_VECTOR, WS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], WS_CALL_FLAT, WS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter_msg(ctx->args[0], ctx->args[1], WS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{
	/* sendfile(out_fd, in_fd, offset, count): the socket is out_fd */
	return on_enter(ctx->args[0], 0, ctx->args[3], WS_CALL_SENDFILE, WS_DIR_EGRESS);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile64(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

/* ---- connection lifecycle ---- */

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__s32 fd = ctx->args[0];
	struct file *file;

	if (fd < 0 || !fd_tcp_sock(fd, &file))
		return 0;
	return stash(fd, 0, 0, WS_CALL_CONNECT, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct ws_pending p;
	struct file *file;
	struct sock *sk;
	__s32 fd;

	if (!take_pending(task, &p))
		return 0;
	fd = p.fd;
	/* a non-blocking connect returns -EINPROGRESS with the tuple already chosen */
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS)
		return 0;
	sk = fd_tcp_sock(fd, &file);
	if (!sk)
		return 0;
	if (is_self(task->tgid))
		remember_self_socket(sk);
	else
		track(conn_key(task->tgid, fd), fd, file, sk, WS_ROLE_CLIENT);
	return 0;
}

static __always_inline int on_accept_exit(long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__s32 fd = ret;
	struct file *file;
	struct sock *sk;

	if (ret < 0 || is_self(tgid))
		return 0;
	sk = fd_tcp_sock(fd, &file);
	if (sk)
		track(conn_key(tgid, fd), fd, file, sk, WS_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__s32 fd = ctx->args[0];
	__u64 key;
	struct ws_conn *c;

	if (fd < 0)
		return 0;
	if (is_self(tgid)) {
		forget_self_socket(fd);
		return 0;
	}
	key = conn_key(tgid, fd);
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return 0;
	/* only connections that produced HTTP events have state in user space to end */
	if (c->state == WS_PROTO_HTTP)
		emit_close(c, fd);
	bpf_map_delete_elem(&conns, &key);
	return 0;
}
