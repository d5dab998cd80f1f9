/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Indexes of the per-CPU "losses" array: what the kernel side could not
 * deliver, and the counts that explain what it chose not to. Mirrored by dev.wirespan.capture.KernelLossCounters (checked by
 * CaptureEventLayoutTest): change both together.
 */
#ifndef WIRESPAN_LOSSES_H
#define WIRESPAN_LOSSES_H

#define WS_LOSS_RINGBUF_FULL       0 /* bpf_ringbuf_output failed: event dropped */
/*
 * a connection or pending-syscall insert failed (conns is an LRU map: it evicts
 * instead, and user space counts the evictions it detects under the same cause)
 */
#define WS_LOSS_MAP_FULL           1
#define WS_LOSS_COPY_TRUNCATED     2 /* events whose syscall moved more than was captured */
#define WS_LOSS_EVENTS_EMITTED     3 /* events written to the ring buffer (cross-check) */
/* connections of other processes ignored because their peer is the agent itself */
#define WS_LOSS_SELF_CONNS_IGNORED 4
/* exchanges not reported because the ring was crowded when they began (see shed_call) */
#define WS_LOSS_EXCHANGES_SHED     5
#define WS_LOSS_COUNT              6

#endif /* WIRESPAN_LOSSES_H */
