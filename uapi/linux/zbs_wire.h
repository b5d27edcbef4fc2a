/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ZBS data protocol: kernel -> zbs-chunkd and zbs-chunkd -> zbs-chunkd,
 * over TCP (default data port 10201). ARCHITECTURE.md sections 4, 4a, 5.
 *
 * Framing
 * -------
 * A connection carries a stream of requests from the client and a stream of
 * replies from the server. Every request is a 64-byte struct zbs_wire_req,
 * followed by `length` bytes of payload for the opcodes that carry data
 * (ZBS_OP_WRITE, ZBS_OP_RECOVER_WRITE). Every reply is a 64-byte struct
 * zbs_wire_reply followed by its `length` bytes of payload (READ data,
 * GET_BLOCK_MAP bitmap); a reply with a non-zero status has no payload.
 * All integers are little-endian; the headers have no implicit padding.
 *
 * Requests are pipelined: a client may have any number of requests
 * outstanding on one connection (the server reads ahead). Replies may come
 * in any order; the client matches them by `id`, which the server copies
 * from the request untouched (the client may put a generation cookie in it).
 * Ordering that matters (writes of one pid in gen order) is the client's:
 * the server accepts WRITEs in the order they arrive on a connection. On one
 * connection, requests whose ranges of a replica overlap (one of them a
 * write) take effect in arrival order, and every opcode other than READ
 * and WRITE runs after all earlier requests of the connection completed
 * (so a FLUSH covers every write sent before it on its connection).
 *
 * Errors
 * ------
 * A request that can be framed (good magic and version, payload length
 * within ZBS_WIRE_MAX_IO) but is invalid gets a reply with a non-zero
 * status and changes nothing; the connection stays usable. A request that
 * cannot be framed (bad magic, bad version, data payload longer than
 * ZBS_WIRE_MAX_IO) gets a ZBS_ST_PROTO reply when possible and the server
 * closes the connection. A connection that closes in the middle of a frame
 * has no effect: a write is applied only once its whole payload arrived.
 * Unknown opcodes never carry a payload: they get ZBS_ST_BADOP. A server at
 * its connection limit sends one reply with id 0, opcode 0 and status
 * ZBS_ST_BUSY on a new connection and closes it: the chunk is healthy, the
 * client retries later (it is not a replica failure). It reads and drops
 * what the client sends meanwhile until the client closes (at most 2 s),
 * so the close is a FIN, not a reset. A reply with status
 * ZBS_ST_BUSY to a request means the server did not execute it (it is
 * overloaded): the client may send it again later.
 *
 * Replicas and the rules the server enforces (ARCHITECTURE.md 4a)
 * ----------------------------------------------------------------
 * A replica is named by `pid` and belongs to one incarnation `epoch`; a
 * request whose epoch differs from the stored replica's gets ZBS_ST_EPOCH.
 * Each replica persists:
 *   gen          number of writes applied, in order (0 when created);
 *   lease_epoch  the highest lease_epoch recorded by SYNC/RECOVER_BEGIN;
 *   state        ZBS_RSTATE_*;
 *   allocated 256 KiB blocks (the block map).
 * Rules, checked in this order (first failure wins):
 *   - offset/length must lie inside the 256 MiB extent, be multiples of
 *     512 bytes, length > 0 and <= ZBS_WIRE_MAX_IO (WRITE_ZEROES: any
 *     length up to the end of the extent) (ZBS_ST_INVAL);
 *   - unknown flag bits, non-zero fields an opcode does not use where the
 *     opcode says "must be 0" (ZBS_ST_INVAL);
 *   - the replica must exist (ZBS_ST_NOENT) except for RECOVER_BEGIN, and
 *     SYNC with ZBS_SF_CREATE, which create it, with the request's epoch
 *     (ZBS_ST_EPOCH);
 *   - fencing: READ, WRITE, WRITE_ZEROES, SYNC, RECOVER_* with a
 *     lease_epoch lower than the replica's recorded one get ZBS_ST_STALE
 *     (the ESTALE of the design). READ with lease_epoch 0 is an unfenced
 *     read, used by recovery and tools; it is never sent by the kernel;
 *   - a replica in ZBS_RSTATE_ERROR (a local IO error happened) refuses
 *     data requests with ZBS_ST_IO; a recovering replica refuses READ with
 *     ZBS_ST_RECOVERING (its data is incomplete);
 *   - WRITE and WRITE_ZEROES to a normal replica must carry gen == the
 *     replica's next expected gen (its gen plus the writes already
 *     accepted and not yet completed); anything else gets ZBS_ST_GEN and
 *     changes nothing. The persisted gen advances only over contiguously
 *     completed writes.
 *     Pipelined writes may complete out of order: a reply's `gen` is the
 *     replica's contiguous gen when the reply was made, so it is at least
 *     this write's gen + 1 only once every earlier write completed.
 * Durability: a WRITE reply means the data was written (O_DIRECT: it may
 * still sit in the device's volatile cache, like a disk with a write
 * cache) and survives a crash of the chunk process; with ZBS_WF_FUA the
 * data and the new gen are on stable storage before the reply. A FLUSH
 * reply means every write acknowledged before the FLUSH was received is
 * on stable storage.
 *
 * Opcodes
 * -------
 * READ          offset, length -> `length` bytes of data (a never-written
 *               range reads as zeros). With ZBS_DF_RECOVERY it is a
 *               recovery copy's read: the chunk may hold it back while its
 *               client IO suffers (recovery pacing, as it does every
 *               RECOVER_WRITE), and it is not client IO in its statistics.
 * WRITE         offset, length, gen, flags ZBS_WF_FUA; payload = data.
 * WRITE_ZEROES  offset, length, gen, flags ZBS_WF_FUA; no payload. Makes
 *               [offset, offset+length) read as zeros (the chunk punches a
 *               hole in the replica file, or writes zeros where it cannot).
 *               length may be up to the whole extent (not bounded by
 *               ZBS_WIRE_MAX_IO). Otherwise exactly a WRITE: same fencing,
 *               gen check and gen increment, same handling of a recovering
 *               replica (marks the sectors dirty), counts for FLUSH and FUA.
 *               It is not a READ/WRITE for the ordering rule: it runs after
 *               the connection's earlier requests completed.
 * FLUSH         make every acknowledged write durable (all replicas).
 *               pid/offset/length are ignored (must be 0).
 * SYNC          generation sync. With ZBS_SF_CREATE a missing replica is
 *               created (gen 0, flag ZBS_SF_THICK preallocates all 256 MiB);
 *               without it a missing replica is ZBS_ST_NOENT, never a
 *               fresh gen 0: only an extent meta knows was never written
 *               may be created (ARCHITECTURE.md 4a). Records
 *               lease_epoch if it is higher than the stored one (durably),
 *               reply with gen, epoch, lease_epoch, state, alloc_blocks.
 * GET_INFO      stat of a replica: same reply fields as SYNC, no change.
 * (6)           retired: DELETE was here, and anyone who could connect could
 *               remove a replica by guessing pid and epoch. Replicas are
 *               deleted only inside the chunk, by the GC meta commands over
 *               the chunk's session; opcode 6 gets ZBS_ST_BADOP.
 * GET_BLOCK_MAP reply payload = ZBS_WIRE_BLOCK_MAP_BYTES bytes, bit i (byte
 *               i/8, bit i%8) set when 256 KiB block i was ever written.
 *               With ZBS_BF_SINCE: set when block i took a WRITE or
 *               WRITE_ZEROES with gen >= the request's gen (the writes a
 *               replica at that gen misses: agile recovery). The chunk
 *               tracks this in memory from the replica's gen when it was
 *               loaded or last finished a recovery; a gen before that gets
 *               ZBS_ST_UNTRACKED (recover it in full).
 * RECOVER_BEGIN make (or create) the replica a recovery destination: state
 *               ZBS_RSTATE_RECOVERING, records lease_epoch, clears its
 *               foreground-dirty map. Without ZBS_RF_AGILE an existing
 *               replica is emptied first (the copy starts from scratch:
 *               an older copy's blocks never survive it). With ZBS_RF_AGILE
 *               the replica must
 *               exist at exactly the request's gen with no write in flight
 *               (else ZBS_ST_NOENT / ZBS_ST_GEN) and keeps its data: only
 *               the blocks written since that gen are copied. From then on a WRITE to it is applied
 *               without the gen check and marks its 512-byte sectors dirty
 *               (finer than the 4 KiB granule of ARCHITECTURE.md 4a, so
 *               a partial write never hides older data from the copy).
 * RECOVER_WRITE payload copied from the source replica; sectors marked
 *               dirty by foreground writes since RECOVER_BEGIN are skipped
 *               (never overwritten). Only on a recovering replica.
 * RECOVER_END   finish: data made durable, gen set to the request's gen,
 *               state back to ZBS_RSTATE_NORMAL, dirty map dropped.
 * A recovering replica found at chunk restart has lost its dirty map; it
 * refuses RECOVER_WRITE/END with ZBS_ST_RECOVERING until the next
 * RECOVER_BEGIN (recovery restarts from scratch).
 */
#ifndef _UAPI_LINUX_ZBS_WIRE_H
#define _UAPI_LINUX_ZBS_WIRE_H

#include <linux/types.h>
#include <linux/zbs_layout.h>

#define ZBS_WIRE_REQ_MAGIC	0x5152425aU	/* "ZBRQ" little-endian */
#define ZBS_WIRE_REPLY_MAGIC	0x5052425aU	/* "ZBRP" little-endian */
#define ZBS_WIRE_VERSION	1
#define ZBS_WIRE_DEFAULT_PORT	10201
#define ZBS_WIRE_MAX_IO		(1U << 20)	/* largest READ/WRITE payload */
#define ZBS_WIRE_BLOCK_MAP_BYTES (ZBS_BLOCKS_PER_EXTENT / 8)

enum zbs_wire_op {
	ZBS_OP_READ		= 1,
	ZBS_OP_WRITE		= 2,
	ZBS_OP_FLUSH		= 3,
	ZBS_OP_SYNC		= 4,
	ZBS_OP_GET_INFO		= 5,
	/* 6: retired (DELETE); never reuse */
	ZBS_OP_GET_BLOCK_MAP	= 7,
	ZBS_OP_RECOVER_BEGIN	= 8,
	ZBS_OP_RECOVER_WRITE	= 9,
	ZBS_OP_RECOVER_END	= 10,
	ZBS_OP_WRITE_ZEROES	= 11,
	ZBS_OP_MAX		= 11,
};

/* Request flags (bits of zbs_wire_req.flags); others must be zero. */
#define ZBS_WF_FUA		(1U << 0)	/* WRITE, WRITE_ZEROES, RECOVER_WRITE */
#define ZBS_SF_THICK		(1U << 1)	/* SYNC, RECOVER_BEGIN: preallocate at creation */
#define ZBS_SF_CREATE		(1U << 2)	/* SYNC: create the replica if missing */
#define ZBS_BF_SINCE		(1U << 3)	/* GET_BLOCK_MAP: blocks written since gen */
#define ZBS_RF_AGILE		(1U << 4)	/* RECOVER_BEGIN: keep data, at gen */
#define ZBS_DF_RECOVERY		(1U << 5)	/* READ: a recovery copy's (paced) */
#define ZBS_WF_ALL		(ZBS_WF_FUA | ZBS_SF_THICK | ZBS_SF_CREATE | ZBS_BF_SINCE | \
				 ZBS_RF_AGILE | ZBS_DF_RECOVERY)

/* Reply status. */
enum zbs_wire_status {
	ZBS_ST_OK		= 0,
	ZBS_ST_INVAL		= 1,	/* bad offset/length/flags/field */
	ZBS_ST_BADOP		= 2,	/* unknown opcode */
	ZBS_ST_PROTO		= 3,	/* bad magic/version/frame: connection closes */
	ZBS_ST_NOENT		= 4,	/* no such replica */
	ZBS_ST_EPOCH		= 5,	/* replica exists with another epoch */
	ZBS_ST_STALE		= 6,	/* lease_epoch older than the recorded one (ESTALE) */
	ZBS_ST_GEN		= 7,	/* gen is not the next expected gen */
	ZBS_ST_IO		= 8,	/* local IO error */
	ZBS_ST_NOSPC		= 9,	/* out of space */
	ZBS_ST_RECOVERING	= 10,	/* replica state forbids this op */
	ZBS_ST_BUSY		= 11,	/* server overloaded / too many connections */
	ZBS_ST_UNTRACKED	= 12,	/* GET_BLOCK_MAP since a gen it did not track */
	ZBS_ST_MAX		= 12,
};

/* Replica state, reported in zbs_wire_reply.state. */
enum zbs_replica_state {
	ZBS_RSTATE_NORMAL	= 0,
	ZBS_RSTATE_RECOVERING	= 1,
	ZBS_RSTATE_ERROR	= 2,
};

struct zbs_wire_req {
	__le32	magic;		/* ZBS_WIRE_REQ_MAGIC */
	__le16	version;	/* ZBS_WIRE_VERSION */
	__le16	opcode;		/* enum zbs_wire_op */
	__le32	flags;		/* ZBS_WF_* */
	__le32	length;		/* bytes: to read, or of payload that follows */
	__le64	id;		/* echoed in the reply */
	__le64	pid;
	__le64	epoch;
	__le64	lease_epoch;
	__le64	gen;		/* WRITE(_ZEROES): expected gen; RECOVER_END: new gen;
				 * GET_BLOCK_MAP (ZBS_BF_SINCE), RECOVER_BEGIN
				 * (ZBS_RF_AGILE): the dst replica's gen */
	__le64	offset;		/* byte offset inside the 256 MiB extent */
};

struct zbs_wire_reply {
	__le32	magic;		/* ZBS_WIRE_REPLY_MAGIC */
	__le16	version;	/* ZBS_WIRE_VERSION */
	__le16	opcode;		/* the request's opcode */
	__le32	status;		/* enum zbs_wire_status */
	__le32	length;		/* bytes of payload that follow (0 on error) */
	__le64	id;		/* the request's id */
	__le64	gen;		/* replica gen (after a WRITE: after it) */
	__le64	epoch;		/* replica epoch */
	__le64	lease_epoch;	/* replica's recorded lease_epoch */
	__le32	state;		/* enum zbs_replica_state */
	__le32	alloc_blocks;	/* allocated 256 KiB blocks */
	__le64	reserved;	/* zero */
};

/* Does opcode `op` carry `length` bytes of payload after the request? */
static inline int zbs_wire_op_has_payload(__u16 op)
{
	return op == ZBS_OP_WRITE || op == ZBS_OP_RECOVER_WRITE;
}

#endif /* _UAPI_LINUX_ZBS_WIRE_H */
