/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Data protocol client (uapi/linux/zbs_wire.h) for daemons and tools: one
 * TCP connection to a chunk, pipelined requests, replies matched by id.
 *
 * A struct zbs_dc is used by one thread at a time. Two styles:
 *  - asynchronous: fill a struct zbs_dc_op, zbs_dc_submit() it (many may be
 *    outstanding), zbs_dc_complete() returns whichever finished next.
 *    Submitted requests are queued and sent together (one sendmsg) at the
 *    latest when the caller waits, or by zbs_dc_push();
 *  - synchronous helpers (zbs_dc_read/write/sync/...) that wait for their
 *    own reply (replies to other outstanding ops are kept for
 *    zbs_dc_complete()).
 * Functions return a wire status (ZBS_ST_OK = 0, or > 0 from the server) or
 * a negative errno for transport failures (the connection is then unusable).
 */
#ifndef ZBS_DATA_CLIENT_H
#define ZBS_DATA_CLIENT_H

#include <stdint.h>

#include "wire.h"

struct zbs_dc;

struct zbs_dc_op {
	struct zbs_req req;	/* in (req.id is assigned by zbs_dc_submit) */
	void *buf;		/* WRITE/RECOVER_WRITE: data (req.length bytes);
				 * READ: destination (req.length bytes);
				 * GET_BLOCK_MAP: ZBS_WIRE_BLOCK_MAP_BYTES */
	struct zbs_reply reply;	/* out */
	void *priv;		/* the caller's */
	struct zbs_dc_op *next_;	/* internal */
	struct zbs_wire_req wire_;	/* internal: encoded header until sent */
};

int zbs_dc_connect(const char *host, uint16_t port, struct zbs_dc **out);
/* Connect giving up after ms (-ETIMEDOUT), then zbs_dc_set_timeout(ms). */
int zbs_dc_connect_timeout(const char *host, uint16_t port, unsigned ms, struct zbs_dc **out);
void zbs_dc_close(struct zbs_dc *dc);
/* Fail sends and waits that make no progress for ms milliseconds with
 * -ETIMEDOUT (0: wait forever, the default). The connection is then unusable. */
int zbs_dc_set_timeout(struct zbs_dc *dc, unsigned ms);
unsigned zbs_dc_inflight(const struct zbs_dc *dc);
/*
 * For callers that wait on several connections with poll(): the socket, and
 * whether zbs_dc_complete() has received bytes (a reply, or part of one)
 * that poll() on the socket would not report. A readable socket or a
 * buffered connection with requests in flight: zbs_dc_complete() returns
 * without waiting for the server (at most for the rest of a reply).
 */
int zbs_dc_fd(const struct zbs_dc *dc);
int zbs_dc_buffered(const struct zbs_dc *dc);

/* Queue op (sent by the next wait or push); it and its buffer must stay
 * valid until zbs_dc_complete() returns it. 0 or -errno. */
int zbs_dc_submit(struct zbs_dc *dc, struct zbs_dc_op *op);
/* Send every queued request now. 0 or -errno. */
int zbs_dc_push(struct zbs_dc *dc);
/* Wait for the next reply; *done = its op. 0 or -errno (-EPROTO: bad reply). */
int zbs_dc_complete(struct zbs_dc *dc, struct zbs_dc_op **done);
/* Submit op and wait for its reply; returns op->reply.status or -errno. */
int zbs_dc_call(struct zbs_dc *dc, struct zbs_dc_op *op);

/* Synchronous helpers; rep may be NULL. */
int zbs_dc_read(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
		uint64_t off, uint32_t len, void *buf, struct zbs_reply *rep);
int zbs_dc_write(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
		 uint64_t gen, uint64_t off, uint32_t len, const void *buf, uint32_t flags,
		 struct zbs_reply *rep);
/* WRITE_ZEROES: [off, off+len) reads as zeros afterwards; flags ZBS_WF_FUA. */
int zbs_dc_write_zeroes(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
			uint64_t gen, uint64_t off, uint32_t len, uint32_t flags,
			struct zbs_reply *rep);
int zbs_dc_sync(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
		uint32_t flags, struct zbs_reply *rep);
int zbs_dc_block_map(struct zbs_dc *dc, uint64_t pid, uint64_t epoch,
		     uint8_t map[ZBS_WIRE_BLOCK_MAP_BYTES], struct zbs_reply *rep);
/* the blocks written with gen >= since (ZBS_BF_SINCE; ZBS_ST_UNTRACKED when
 * the chunk did not track that far back) */
int zbs_dc_block_map_since(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t since,
			   uint8_t map[ZBS_WIRE_BLOCK_MAP_BYTES], struct zbs_reply *rep);
/* FLUSH, GET_INFO, DELETE, RECOVER_BEGIN, RECOVER_END (gen = new gen). */
int zbs_dc_simple(struct zbs_dc *dc, uint16_t opcode, uint64_t pid, uint64_t epoch,
		  uint64_t lease_epoch, uint64_t gen, struct zbs_reply *rep);
int zbs_dc_recover_write(struct zbs_dc *dc, uint64_t pid, uint64_t epoch,
			 uint64_t lease_epoch, uint64_t off, uint32_t len, const void *buf,
			 uint32_t flags, struct zbs_reply *rep);

#endif
