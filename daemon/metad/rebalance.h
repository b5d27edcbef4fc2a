/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Rebalance policy (SPEC 6.4-6.9): which replicas to move where, as pure
 * functions over plain structs. Nothing here reads the tables, the store or
 * the clock; the caller describes the pextents and chunks and gets moves
 * (src, dst, replace), which the recovery scheduler runs as migrate cmds or
 * `zbsctl migrate plan` shows.
 *
 * Three kinds of move, by load level (placement.h). A pextent's level is
 * the higher of the cluster's and its prefer local's, as for allocation:
 *   low          localization repair (SPEC 6.4): its replicas go to the
 *                expected distribution of its prefer local
 *                (meta_place_localized, the chain new pextents get)
 *   medium/high  topology repair (SPEC 6.5a); at low load too for a
 *                pextent without prefer local or spread evenly (the
 *                product left those alone: nothing repaired a topology
 *                violation at low load)
 * Then even distribution (6.8) of the volumes marked even, at any load, and
 * capacity rebalance (6.5b), when the cluster is above low or some
 * chunk is high (the notes' step 3 of 6.2 migrated with the cluster below
 * 0.5 and the prefer chunk high), and no topology move was found or the
 * cluster is very high.
 *
 * Words: a pextent is *settled* when every replica of its location is
 * alive and it has expected_replica_num of them, it has no cmd and no
 * temporary replica; only settled pextents move (the others are recovery's).
 * Its *safety* is the list of the topology distances (placement.h) of every
 * pair of its replicas, sorted ascending; one safety is better than another
 * when it is greater compared element by element: the closest pair first.
 *
 * Choices where SPEC is silent or where we depart from the product:
 *  - Localization: the goal is the whole expected set (局部化), as new
 *    pextents are placed at low load. A move needs both a dst and a
 *    replace. The five "no migrate" rules of 6.4 are kept, the fifth on
 *    the dst (it receives the extent), not the src as the notes have it.
 *    dst: prefer local without a replica and not failslow, else the first
 *    chunk of the expected set without a replica that can take one.
 *    replace: an alive replica outside the expected set and not the lease
 *    owner, the first failslow one, else the last in location order. src:
 *    replace, unless it is failslow or in another zone than dst: then an
 *    alive replica in dst's zone that is not failslow.
 *  - Topology: a move must make the safety better. replace: the replicas
 *    closest to another first (failslow first among equals, then the
 *    higher ratio), the first neither prefer local nor owner with a free
 *    cmd slot, else the owner's replica. dst: prefer local when it makes
 *    the safety better, else the chunk giving the best safety, then the
 *    lowest ratio. Stretched clusters need nothing more: two zones and the
 *    safety order keep a copy in each zone.
 *  - Capacity: from chunks above the cluster's ratio by more than
 *    META_REBAL_MARGIN (permille) to the lowest-ratio chunk that takes the
 *    replica, moving thick replicas first, then thin without origin, then
 *    thin with origin (6.5b), while the dst after the move is not above the
 *    src after it (no ping-pong) and the safety does not get worse (a
 *    rack-less chunk is a rack of its own, placement.h, so the 6.9 case
 *    moves data off the 96% chunk to the other rack). The dst filter of
 *    6.6: not above 95% used unless the cluster is very high. Every replica
 *    is counted as an extent, as allocation does (7.1).
 *  - Even distribution (SPEC 6.8 says only that such replicas are "evenly
 *    distributed"): per even volume, over the chunks that can hold data
 *    (healthy, not failslow), avg = its replicas there / those chunks. A
 *    chunk holding more than ceil(avg) + 1 of them gives one to the chunk
 *    holding the fewest, and a chunk holding fewer than floor(avg) - 1
 *    takes one from the chunk holding the most, each move only between
 *    chunks two or more apart (so it always evens) and never less safe
 *    (topology first: two racks of unequal size keep a replica of each
 *    pextent in each rack rather than equal numbers per chunk); dst as
 *    for capacity (room, free cmd slot, not super high after it, the 6.6
 *    filter), the fewest replicas of the volume, then the lowest ratio.
 *    The result: every chunk within [floor(avg) - 1, ceil(avg) + 1] as
 *    far as topology allows. Capacity rebalance may still move an even
 *    volume's replica afterwards (space before evenness); the next plan
 *    evens it again.
 *  - A plan moves a pextent at most once, keeps the chunks' cmd slots
 *    (SPEC 5.5; at most META_REBAL_MAX_CMDS per chunk, 6.4 rule 4) and
 *    charges each move to its chunks as it goes: dst + an extent, replace
 *    - an extent, so later moves see the effect of earlier ones.
 */
#ifndef ZBS_META_REBALANCE_H
#define ZBS_META_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "placement.h"

#define META_REBAL_MAX_CMDS	200	/* cmds on a chunk beyond which it is skipped (6.4 4) */
#define META_REBAL_MARGIN	50	/* permille above the cluster ratio that is overloaded */
#define META_REBAL_USED_MAX	950	/* permille used: no dst above it (6.6) */

struct meta_rebal_chunk {
	struct meta_place_chunk pc;	/* cid, healthy, failslow, topo, valid, allocated */
	uint64_t used;			/* bytes really used (the last report) */
	uint32_t cmds;			/* recover/migrate cmds involving it */
	uint32_t slots;			/* cmd slots free on it */
};

struct meta_rebal_pext {
	uint64_t pid;
	uint32_t location, alive_location;	/* packed, location.h */
	uint32_t expected;
	uint32_t owner;			/* cid of the lease owner, 0 = none */
	uint32_t prefer_cid;		/* 0 = none */
	bool thick;
	bool has_origin;		/* a clone or snapshot shares it */
	bool temporary;			/* it has a temporary replica (SPEC 4.8) */
	bool has_cmd;			/* a recover or migrate runs for it */
	bool even;			/* its volume is spread evenly (SPEC 6.8) */
	uint32_t vol;			/* even: its volume (any id but 0, one per volume) */
};

enum meta_rebal_why {
	META_REBAL_LOCALIZE = 1,
	META_REBAL_TOPOLOGY,
	META_REBAL_CAPACITY,
	META_REBAL_EVEN,
};

struct meta_rebal_move {
	uint64_t pid;
	uint32_t src, dst, replace;
	enum meta_rebal_why why;
};

/* why a pextent got no move (tests and logs) */
enum meta_rebal_skip {
	META_REBAL_MOVE = 0,		/* it got one */
	META_REBAL_UNSETTLED,		/* not settled (see above) */
	META_REBAL_NO_PREFER,		/* no prefer local, or spread evenly */
	META_REBAL_PREFER_DOWN,		/* prefer local not healthy (6.4 1) */
	META_REBAL_IN_PLACE,		/* nothing better to do (6.4 GetRepairCid 1) */
	META_REBAL_NO_DST,		/* no chunk qualifies as dst (6.4 3) */
	META_REBAL_NO_REPLACE,		/* no replica qualifies as replace (6.4 3) */
	META_REBAL_BUSY,		/* src or dst has too many cmds (6.4 4) */
	META_REBAL_NO_SPACE,		/* dst cannot take an extent (6.4 5) */
};

const char *meta_rebal_why_name(enum meta_rebal_why w);
const char *meta_rebal_skip_name(enum meta_rebal_skip s);

/* Localization repair of one pextent (SPEC 6.4). */
enum meta_rebal_skip meta_rebal_localize(const struct meta_rebal_pext *p,
					 const struct meta_rebal_chunk *c, size_t nc,
					 struct meta_rebal_move *m);
/* Topology repair of one pextent (SPEC 6.5a). */
enum meta_rebal_skip meta_rebal_topology(const struct meta_rebal_pext *p,
					 const struct meta_rebal_chunk *c, size_t nc,
					 struct meta_rebal_move *m);

struct meta_rebal_plan {
	enum meta_load_level level;	/* the cluster's */
	uint32_t localize, topology, capacity, even;	/* moves of each kind */
	uint64_t in_bytes[META_MAX_CID + 1];	/* bytes each chunk receives */
	uint64_t out_bytes[META_MAX_CID + 1];	/* bytes each chunk gives */
	bool truncated;			/* stopped at max moves */
};

/*
 * The plan a piece at a time (meta's loop runs it in slices): new, then
 * every pextent in scan order (add: a localization or topology move at
 * once, else kept for capacity rebalance), then step until it returns true
 * (each step looks at up to `budget` pextents for capacity moves). The
 * expected sets are computed once per plan. add returns -1 when out of
 * memory (that pextent is left out).
 */
struct meta_rebal_planner;
struct meta_rebal_planner *meta_rebal_planner_new(const struct meta_rebal_chunk *c, size_t nc,
						  const struct meta_load_thresholds *t, size_t max);
int meta_rebal_planner_add(struct meta_rebal_planner *pl, const struct meta_rebal_pext *p);
bool meta_rebal_planner_step(struct meta_rebal_planner *pl, uint32_t budget);
const struct meta_rebal_move *meta_rebal_planner_moves(const struct meta_rebal_planner *pl,
						       size_t *n, struct meta_rebal_plan *info);
void meta_rebal_planner_free(struct meta_rebal_planner *pl);

/*
 * All at once: the moves rebalance would make now over pextents p[0..np-1] (the pid
 * order is the scan order) and chunks c[0..nc-1], which are updated as
 * moves are charged (copy them first to keep the originals). Up to max
 * moves into out; returns how many.
 */
size_t meta_rebal_plan(const struct meta_rebal_pext *p, size_t np, struct meta_rebal_chunk *c,
		       size_t nc, const struct meta_load_thresholds *t, struct meta_rebal_move *out,
		       size_t max, struct meta_rebal_plan *info);

#endif
