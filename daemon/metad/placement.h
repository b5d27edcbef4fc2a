/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Placement model (SPEC 6, 7.1): pure functions over plain structs. Nothing
 * here reads the tables, the store or the clock, and nothing is logged: the
 * caller describes the chunks (topology path, space, health), gets a choice
 * and applies it. Three parts:
 *
 *   topology distance   how far apart two chunks are in the tree
 *                       zone > rack > brick > node > chunk
 *   space and load      a chunk's allocated space (SPEC 7.1), its ratio
 *                       allocated / valid, and the load levels of a chunk
 *                       and of the cluster (SPEC 6.2)
 *   allocation          the replicas of a new pextent
 *
 * Rebalance and migrate planning (SPEC 6.4-6.9) are not here yet.
 *
 * Choices where SPEC is silent or where we depart from the product:
 *  - Missing topology levels. A chunk's path names its zone, rack, brick and
 *    node; 0 is a missing level. **A node that misses a level is its own
 *    failure domain at that level**: a rack-less node is a rack of its own,
 *    never in the same rack as anyone else (the product put it at distance
 *    0 from racked nodes, SPEC 6.9, and so never moved data off it). The
 *    chunks of one node share its missing levels (they are one domain). A
 *    chunk with node 0 is a node of its own (our chunk table has no node
 *    objects: one chunk per node).
 *  - Levels: ratio < 0.5 low, < 0.6 medium, < 0.9 high, else very high; a
 *    chunk at 0.95 or more is super high. 0.5 is where the notes saw the
 *    rules change (the cluster passed 0.5 at the first sink; the prefer
 *    chunk at [0.5, 0.6] in step 2 of the 3-node scenario got "local
 *    priority + topology safety + capacity"), 0.6 is where step 3 dropped
 *    local priority (cid 4 at 0.617), 0.9 and 0.95 are the notes' figures.
 *    Ratios are compared in exact integer arithmetic, thresholds are in
 *    permille; a chunk with no valid space is super high.
 *
 * Allocation is still the first policy: n distinct healthy chunks with at
 * least `need` bytes free; the preferred (local) chunk first when it
 * qualifies, then by most free space, ties by lower cid.
 */
#ifndef ZBS_PLACEMENT_H
#define ZBS_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- topology distance ---- */

/* Where a chunk is: the ids of its zone, rack, brick and node; 0 = missing. */
struct meta_place_path {
	uint64_t zone, rack, brick, node;
};

/*
 * The distance between two chunks: the highest level at which they are in
 * different domains. Greater is safer for two replicas.
 */
enum meta_place_dist {
	META_DIST_SAME = 0,	/* the same chunk (cid) */
	META_DIST_NODE = 1,	/* other chunks of one node */
	META_DIST_BRICK = 2,	/* one brick, other nodes */
	META_DIST_RACK = 3,	/* one rack, other bricks */
	META_DIST_ZONE = 4,	/* one zone, other racks */
	META_DIST_FAR = 5,	/* other zones */
};

/*
 * Top down, the first level where a and b differ. At each level a missing
 * id (0) stands for the chunk's node (its node id, else its cid): two
 * chunks share a level when both name the same id there, or both miss it
 * and are on one node.
 */
enum meta_place_dist meta_place_distance(uint32_t cid_a, const struct meta_place_path *a,
					 uint32_t cid_b, const struct meta_place_path *b);

/* ---- space (SPEC 7.1) ---- */

/* A chunk's space as reported and as meta charged it since. */
struct meta_place_space {
	uint64_t valid;			/* reported; without slow or isolated disks (4.7) */
	uint64_t thin_used;		/* thin segments in the last report (bytes) */
	uint32_t new_thin_pids;		/* thin pextents created since that report */
	uint32_t thick_pids;		/* thick pextents with a replica here */
	uint32_t thin_reserve_pids;	/* reserved for allocations in flight */
	uint32_t thick_reserve_pids;
	uint32_t thin_rx_pids;		/* as a recover/migrate dst (0 when none runs) */
	uint32_t thick_rx_pids;
};

/* allocated split by kind, bytes; an extent (256 MiB) per pid counted */
struct meta_place_alloc {
	uint64_t thin;			/* thin_used */
	uint64_t new_thin;
	uint64_t thick;
	uint64_t reserve;		/* thin and thick */
	uint64_t rx;			/* thin and thick */
	uint64_t allocated;		/* the sum */
};

/*
 * allocated = thin (last report) + new thin + thick + reserve + rx, SPEC
 * 7.1's refined form: thin = report + new thin + thin reserve + thin rx,
 * thick = pid set + thick reserve + thick rx, 256 MiB a pid.
 */
void meta_place_space_split(const struct meta_place_space *s, struct meta_place_alloc *out);
uint64_t meta_place_allocated(const struct meta_place_space *s);

/* ---- load levels (SPEC 6.2) ---- */

enum meta_load_level {
	META_LOAD_LOW = 0,
	META_LOAD_MEDIUM,
	META_LOAD_HIGH,
	META_LOAD_VERY_HIGH,
	META_LOAD_SUPER_HIGH,	/* a chunk only */
};

/* Where each level starts, permille of allocated / valid. */
struct meta_load_thresholds {
	uint32_t medium, high, very_high, super_high;
};
#define META_LOAD_THRESHOLDS_DEFAULT { 500, 600, 900, 950 }

/* "low", "medium", ... */
const char *meta_load_level_name(enum meta_load_level l);
/* thresholds rising strictly, super high at most 1000: usable */
bool meta_load_thresholds_valid(const struct meta_load_thresholds *t);
/*
 * The level of allocated over valid. A chunk (chunk true) may be super
 * high; the cluster stops at very high. valid 0: super high (very high).
 */
enum meta_load_level meta_load_level(uint64_t allocated, uint64_t valid, bool chunk,
				     const struct meta_load_thresholds *t);

/* ---- allocation ---- */

struct meta_place_cand {
	uint32_t cid;
	bool healthy;
	uint64_t free;		/* bytes still allocatable */
};

/*
 * Fill out[0..n-1] with the chosen cids. Returns n, or -1 when fewer than n
 * chunks qualify (*eligible then says how many did; it may be NULL).
 */
int meta_place(const struct meta_place_cand *cands, size_t ncands, uint32_t n,
	      uint32_t prefer_cid, uint64_t need, uint32_t *out, uint32_t *eligible);

#endif
