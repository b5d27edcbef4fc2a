/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cluster's load and the rebalance plan, from the tables: the
 * operations behind `zbsctl cluster load` and `zbsctl migrate plan`. The
 * policy is placement.h and rebalance.h; this module describes the chunks
 * and pextents to it. A plan runs in slices (meta_plan_step) so meta's
 * loop never stops for long, whatever the number of pextents.
 */
#ifndef ZBS_META_BALANCE_H
#define ZBS_META_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "placement.h"
#include "rebalance.h"

#define META_PLAN_SLICE_PEXTS	4096	/* pextents a slice looks at */
#define META_PLAN_SLICE_STEPS	512	/* capacity candidates a slice looks at */
#define META_PLAN_MAX_MOVES	100000	/* the most a plan may ask for */
#define META_PLAN_DEFAULT_MOVES	10000

struct meta_chunk_load {
	uint32_t cid;
	bool healthy, failslow;
	struct meta_place_path topo;
	uint64_t valid, used;
	struct meta_place_alloc split;	/* allocated, by kind */
	uint32_t ratio_permille;	/* allocated / valid, capped at 10000 */
	enum meta_load_level level;
};

struct meta_cluster_load {
	uint64_t valid, allocated;	/* of the healthy chunks */
	uint32_t ratio_permille;
	enum meta_load_level level;
	struct meta_load_thresholds t;
	size_t n;
	struct meta_chunk_load chunks[META_MAX_CID];
};

/* every registered chunk, in cid order, and the cluster */
void meta_cluster_load(struct meta *m, struct meta_cluster_load *out);

/* the chunks as rebalance sees them (out has room for META_MAX_CID) */
size_t meta_balance_chunks(struct meta *m, struct meta_rebal_chunk *out);

struct meta_plan;
/* a plan of at most max moves (0: the default); NULL when out of memory */
struct meta_plan *meta_plan_start(struct meta *m, uint32_t max);
/* one slice; true when the plan is complete */
bool meta_plan_step(struct meta *m, struct meta_plan *p);
const struct meta_rebal_move *meta_plan_moves(const struct meta_plan *p, size_t *n,
					      struct meta_rebal_plan *info);
uint64_t meta_plan_scanned(const struct meta_plan *p);
/* load ratio of cid before the plan, permille (0: unknown cid) */
uint32_t meta_plan_ratio_before(const struct meta_plan *p, uint32_t cid);
void meta_plan_free(struct meta_plan *p);

/*
 * Rebalance feeding the recovery scheduler (SPEC 5.2's migrate queue): a
 * plan every cfg.rebalance_interval_ms, computed a slice per tick; its
 * moves queued (they replace what the last plan left) and handed to
 * meta_sched_migrate at most cfg.rebalance_moves_per_hour (a token bucket
 * that holds a minute's worth). A move the scheduler cannot take now (no
 * slot, no owner, a GC on its way) waits for the next tick; one it refuses
 * (the pextent changed meanwhile) is dropped: the next plan looks again.
 * `zbsctl migrate plan --apply` queues its plan the same way.
 */
#define META_REBALANCE_INTERVAL_MS	3600000U
#define META_REBALANCE_MOVES_PER_HOUR	600U

struct meta_balance {
	struct meta_plan *plan;		/* the periodic plan being computed */
	uint64_t next_plan_ms;
	struct meta_rebal_move *q;	/* moves to hand out: q[head .. n) */
	size_t head, n;
	uint32_t per_hour;		/* of the queued moves */
	uint64_t tokens;		/* thousandths of a move */
	uint64_t tokens_ms;		/* when last refilled */
	uint64_t applied, dropped;	/* since start */
};

/* make m->balance (after meta_sched_init); 0 or -1 */
int meta_balance_init(struct meta *m);
void meta_balance_free(struct meta *m);
/* the loop's periodic work: a slice of the periodic plan, then moves out */
void meta_balance_tick(struct meta *m);
/* queue moves (replacing the queue) at per_hour (0: the configured rate);
 * returns how many were queued */
size_t meta_balance_queue(struct meta *m, const struct meta_rebal_move *mv, size_t n,
			  uint32_t per_hour);

#endif
