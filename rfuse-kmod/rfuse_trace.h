/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints for a latency breakdown of RFUSE requests:
 *   rfuse_req_queued     request published in a ring slot
 *   rfuse_waiter_sleeps  the caller's poll window ended without a reply
 *   rfuse_req_completed  the kernel took the reply (inline by the polling
 *                        caller, or by RFUSE_IOC_COMPLETE); the caller
 *                        wakes right after (fuse_request_end);
 *                        fetched_ns/replied_ns: the daemon's own
 *                        CLOCK_MONOTONIC stamps of pick-up and reply
 *                        (0: not recorded), as the "mono" trace clock
 * perf record -e 'rfuse:*' ...
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM rfuse

#if !defined(_RFUSE_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _RFUSE_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(rfuse_req_queued,
	TP_PROTO(unsigned int ring, unsigned int slot, u32 opcode, u64 unique,
		 bool polling),
	TP_ARGS(ring, slot, opcode, unique, polling),
	TP_STRUCT__entry(
		__field(unsigned int, ring)
		__field(unsigned int, slot)
		__field(u32, opcode)
		__field(u64, unique)
		__field(bool, polling)
	),
	TP_fast_assign(
		__entry->ring = ring;
		__entry->slot = slot;
		__entry->opcode = opcode;
		__entry->unique = unique;
		__entry->polling = polling;
	),
	TP_printk("ring=%u slot=%u opcode=%u unique=%llu polling=%d",
		  __entry->ring, __entry->slot, __entry->opcode,
		  __entry->unique, __entry->polling)
);

TRACE_EVENT(rfuse_waiter_sleeps,
	TP_PROTO(unsigned int ring, unsigned int slot, u64 unique),
	TP_ARGS(ring, slot, unique),
	TP_STRUCT__entry(
		__field(unsigned int, ring)
		__field(unsigned int, slot)
		__field(u64, unique)
	),
	TP_fast_assign(
		__entry->ring = ring;
		__entry->slot = slot;
		__entry->unique = unique;
	),
	TP_printk("ring=%u slot=%u unique=%llu",
		  __entry->ring, __entry->slot, __entry->unique)
);

TRACE_EVENT(rfuse_req_completed,
	TP_PROTO(unsigned int ring, unsigned int slot, u64 unique,
		 bool inline_done, int error, u64 fetched_ns, u64 replied_ns),
	TP_ARGS(ring, slot, unique, inline_done, error, fetched_ns, replied_ns),
	TP_STRUCT__entry(
		__field(unsigned int, ring)
		__field(unsigned int, slot)
		__field(u64, unique)
		__field(bool, inline_done)
		__field(int, error)
		__field(u64, fetched_ns)
		__field(u64, replied_ns)
	),
	TP_fast_assign(
		__entry->ring = ring;
		__entry->slot = slot;
		__entry->unique = unique;
		__entry->inline_done = inline_done;
		__entry->error = error;
		__entry->fetched_ns = fetched_ns;
		__entry->replied_ns = replied_ns;
	),
	TP_printk("ring=%u slot=%u unique=%llu inline=%d error=%d fetched_ns=%llu replied_ns=%llu",
		  __entry->ring, __entry->slot, __entry->unique,
		  __entry->inline_done, __entry->error,
		  __entry->fetched_ns, __entry->replied_ns)
);

#endif /* _RFUSE_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE rfuse_trace
#include <trace/define_trace.h>
