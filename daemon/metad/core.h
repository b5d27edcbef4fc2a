/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zbs-metad's core: what every table and operation shares. Constants of the
 * model, errors as values, the configuration, the clock and the id
 * counters, and the store the changes go to.
 *
 * One event-loop thread owns all meta state (no locks). Functions that
 * change state validate a request completely before they change anything,
 * then change memory and queue the change in the store's open transaction;
 * the server commits it before it sends any reply (group commit). Time is
 * core.now_ns (monotonic) and core.wall_ns, set by the caller, so tests
 * drive the clock themselves. With core.store == NULL nothing is persisted.
 */
#ifndef ZBS_META_CORE_H
#define ZBS_META_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "location.h"
#include "store.h"

#define ZBS_EXTENT_SIZE		(256ULL << 20)
#define ZBS_SECTOR_SIZE		512ULL
#define META_MAX_CID		255		/* 8-bit cids in a location */
#define META_MAX_VEXTENTS	(1U << 22)	/* 1 PiB volumes */
#define META_NAME_MAX		63

/* topology levels, and the default objects every cluster has (topo.c) */
enum { TOPO_ZONE = 1, TOPO_RACK = 2, TOPO_BRICK = 3, TOPO_NODE = 4 };
#define TOPO_DEFAULT_ZONE	1
#define TOPO_DEFAULT_RACK	2
#define TOPO_DEFAULT_BRICK	3

enum { CMD_REVOKE_VOLUME = 1, CMD_REVOKE_PID = 2, CMD_REVOKE_ALL = 3, CMD_GC_DELETE = 4,
       CMD_RECOVER = 5 };
enum { CAP_DATA_REPORT = 1, CAP_REVOKE = 2, CAP_GC = 4, CAP_REVOKE_ACK = 8,
       CAP_REPORT_DELTA = 16, CAP_RECOVER = 32 };
#define META_CAPS (CAP_DATA_REPORT | CAP_REVOKE | CAP_GC | CAP_REVOKE_ACK | CAP_REPORT_DELTA | \
		   CAP_RECOVER)

/* An error as a value: an RPC status and a message naming the object. */
struct merr {
	int status;			/* enum zbs_rpc_status */
	char msg[256];
	uint64_t owner_session;
	uint32_t owner_cid;
};
int merr_set(struct merr *e, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct meta_config {
	uint32_t session_lease_ms;	/* 10 s */
	uint32_t keepalive_ms;		/* advised to chunks: lease / 4 */
	uint32_t alive_grace_ms;	/* 10 min */
	uint32_t idle_release_ms;	/* 1 h */
	/* rebalance: a plan every rebalance_interval_ms (0: never), its moves
	 * handed to the recovery scheduler at most rebalance_moves_per_hour */
	uint32_t rebalance_interval_ms;		/* 1 h */
	uint32_t rebalance_moves_per_hour;	/* 600 */
	/* a full recovery waits this long for a dropped replica's chunk to
	 * come back (agile.h); 0 = not at all (metad: 60000) */
	uint32_t agile_wait_ms;
};

struct meta_core {
	struct meta_config cfg;
	struct meta_store *store;
	uint64_t now_ns, wall_ns;
	uint64_t start_ns;
	uint64_t last_tick_ns;		/* meta_tick: when the last one began */
	/* id counters, persisted together (the counters record) */
	uint64_t next_cid, next_pid, next_epoch, next_session, next_topo;
};

void meta_core_init(struct meta_core *c, const struct meta_config *cfg);
void meta_core_set_clock(struct meta_core *c, uint64_t now_ns, uint64_t wall_ns);
/* seconds since start, for the compact per-pextent timestamps */
static inline uint32_t meta_core_now_s(const struct meta_core *c)
{
	return (uint32_t)((c->now_ns - c->start_ns) / 1000000000ULL);
}
/* an id counter changed: persist the counters */
void meta_core_store_counters(struct meta_core *c);
/* read the counters (inside the store's read transaction); 0 or -1 */
int meta_core_load_counters(struct meta_core *c, char *err, size_t len);

/* names of volumes and topology objects: 1-63 of [A-Za-z0-9._-], no leading '-' */
bool meta_valid_name(const char *s);

/* grow an array to hold `want` elements (doubling); aborts when out of memory */
void *meta_grow(void *p, uint32_t *cap, uint32_t want, size_t elem);

#endif
