/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of zbs.ko (events/zbs in tracefs): a request accepted and
 * ended, and a replica dropped from a map after a failed write.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM zbs

#if !defined(_ZBS_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _ZBS_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(zbs_rq_start,
	TP_PROTO(u32 dev, u16 op, u64 sector, u32 bytes),
	TP_ARGS(dev, op, sector, bytes),
	TP_STRUCT__entry(
		__field(u32, dev)
		__field(u16, op)
		__field(u64, sector)
		__field(u32, bytes)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->op = op;
		__entry->sector = sector;
		__entry->bytes = bytes;
	),
	TP_printk("zbs%u op %u sector %llu bytes %u", __entry->dev, __entry->op,
		  __entry->sector, __entry->bytes)
);

TRACE_EVENT(zbs_rq_end,
	TP_PROTO(u32 dev, u16 op, u64 sector, u32 bytes, int err),
	TP_ARGS(dev, op, sector, bytes, err),
	TP_STRUCT__entry(
		__field(u32, dev)
		__field(u16, op)
		__field(u64, sector)
		__field(u32, bytes)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->op = op;
		__entry->sector = sector;
		__entry->bytes = bytes;
		__entry->err = err;
	),
	TP_printk("zbs%u op %u sector %llu bytes %u err %d", __entry->dev, __entry->op,
		  __entry->sector, __entry->bytes, __entry->err)
);

TRACE_EVENT(zbs_replica_failed,
	TP_PROTO(u32 dev, u64 vext, u64 pid, u32 cid, u64 gen, int err),
	TP_ARGS(dev, vext, pid, cid, gen, err),
	TP_STRUCT__entry(
		__field(u32, dev)
		__field(u64, vext)
		__field(u64, pid)
		__field(u32, cid)
		__field(u64, gen)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->vext = vext;
		__entry->pid = pid;
		__entry->cid = cid;
		__entry->gen = gen;
		__entry->err = err;
	),
	TP_printk("zbs%u vext %llu pid %llu cid %u gen %llu err %d", __entry->dev,
		  __entry->vext, __entry->pid, __entry->cid, __entry->gen, __entry->err)
);

#endif /* _ZBS_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE zbs_trace
#include <trace/define_trace.h>
