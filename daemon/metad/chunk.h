/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The chunk table: chunks by cid (1..255), their addresses, status, session
 * and space. The space counters (thick, thin and new thin pextents per
 * chunk, SPEC 7.1) change only through meta_chunk_charge.
 */
#ifndef ZBS_META_CHUNK_H
#define ZBS_META_CHUNK_H

#include "core.h"

enum { CHUNK_INIT = 0, CHUNK_HEALTHY = 1, CHUNK_SESSION_EXPIRED = 2 };
/* operators' marks on a chunk (persisted) */
enum { CHUNK_ADMIN_REMOVING = 1 };	/* zbsctl chunk remove: its pids migrate off */

struct meta_space {
	uint64_t total, valid, used, thin_used;
};

struct meta_chunk {
	uint32_t cid;			/* 0: free slot */
	uint32_t status;
	char uuid[40];
	char data_ip[48];
	char rpc_ip[48];
	uint16_t data_port, rpc_port;
	uint32_t pad;
	uint64_t topo_id;
	uint64_t registered_ns;
	struct meta_space space;
	uint64_t session_id;
	uint64_t caps;
	/* record version 2 (a version 1 record loads with these 0): */
	uint64_t maint_until_ns;	/* in maintenance mode until (wall clock); 0 = not */
	uint32_t admin;			/* CHUNK_ADMIN_* */
	uint32_t pad2;
	/* ^ persisted; in memory only (recomputed at load): */
	uint32_t thick_pids, thin_pids, new_thin_pids;
	uint32_t rx_pids;		/* reserved as recover/migrate dst (the scheduler's) */
	bool failslow;			/* slow disk, as its keepalive said (SPEC 4.7) */
	bool dirty;			/* a keepalive changed it: the next tick writes it */
};

struct meta_chunks {
	struct meta_core *core;
	struct meta_chunk by_cid[META_MAX_CID + 1];
};

void meta_chunks_init(struct meta_chunks *t, struct meta_core *core);
/* the registered chunk cid, or NULL */
struct meta_chunk *meta_chunk(struct meta_chunks *t, uint32_t cid);
int meta_chunk_register(struct meta_chunks *t, const char *uuid, const char *data_addr,
			const char *rpc_addr, struct meta_chunk **out, struct merr *e);
void meta_chunk_store(struct meta_chunks *t, const struct meta_chunk *c);
/* out of the table and the store: its slot is free (its cid is not handed
 * out again: next_cid only grows) */
void meta_chunk_forget(struct meta_chunks *t, uint32_t cid);
/* in maintenance mode (SPEC 5.10), not expired at wall clock wall_ns */
bool meta_chunk_in_maintenance(const struct meta_chunk *c, uint64_t wall_ns);
/* may c take a new replica (placement, recover and migrate dst)? healthy,
 * not in maintenance, not being removed */
bool meta_chunk_takes_replicas(const struct meta_chunk *c, uint64_t wall_ns);
uint32_t meta_chunk_healthy_count(const struct meta_chunks *t);
/* c's session: sid (HEALTHY) or 0 (SESSION_EXPIRED), logged, persisted */
void meta_chunk_set_session(struct meta_chunks *t, struct meta_chunk *c, uint64_t sid);
/* a space report: it includes the new thin pextents charged until now
 * (c->dirty when the figures changed) */
void meta_chunk_set_space(struct meta_chunk *c, const struct meta_space *space);
/* the failslow flag of c's keepalive (SPEC 4.7), logged when it changes;
 * in memory only: a restarted meta learns it from the next keepalive */
void meta_chunk_set_failslow(struct meta_chunk *c, bool failslow);
/*
 * One replica more (delta 1) or less (-1) of a thin or thick pextent on
 * cid; a new thin replica (fresh) also counts as a full extent until the
 * chunk's next space report.
 */
void meta_chunk_charge(struct meta_chunks *t, uint32_t cid, bool thin, bool fresh, int delta);
/* inside the store's read transaction; 0 or -1 with err */
int meta_chunks_load(struct meta_chunks *t, char *err, size_t len);

#endif
