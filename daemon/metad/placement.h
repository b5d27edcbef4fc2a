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
 *   allocation          the replicas of a new pextent, by the level
 *                       (SPEC 6.2's table, 6.3)
 *
 * Rebalance and migrate planning (SPEC 6.4-6.9) are in rebalance.h.
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
 *  - The cluster's ratio is the sum of allocated over the sum of valid of
 *    the healthy chunks (those that can take data). SPEC words very high as
 *    "provisioned >= 90%"; we use the allocated ratio for every level, as
 *    thin overcommit would keep a provisioned ratio above 90% for good.
 *  - The level an allocation follows is the higher of the cluster's and
 *    the prefer-local chunk's: in the 3-node scenario the cluster average
 *    was still below 0.5 at steps 2 and 3 while the rules had changed with
 *    the prefer chunk's load. Very high allocates as high (SPEC's table
 *    stops at high). Without a prefer-local chunk there is nothing to keep
 *    local: every level allocates as high.
 *  - Low (局部化, full locality, SPEC 6.3 LocalizedComparator): prefer
 *    local first, then a chain where each next replica is the chunk
 *    farthest (topology) from those before it and from prefer local, ties
 *    in cid order going down from prefer local (prefer - 1, prefer - 2, ...,
 *    wrapping to the highest cid). Space does not enter the order, so the
 *    set is the same for every pextent of a prefer local while the
 *    topology and the chunks that can take a replica are unchanged; each
 *    prefer local gets other partners. (The scenario's step 1 gave [4, 3]
 *    on chunks 1, 3, 4: the order going down reproduces it.)
 *  - Medium: prefer local first, then farthest (topology), then the lowest
 *    ratio ("most remaining capacity", SPEC 6.1), then most free bytes,
 *    then lower cid. High and very high: the same without prefer local.
 *  - Stretched cluster: the chunks given, whatever their health, lie in
 *    exactly two zones (a zone-less node counts as a zone of its own). At medium and above the
 *    preferred zone (prefer local's, else the first replica's) takes
 *    n - n/2 replicas and is filled first, the other n/2: 2 + 1 for three
 *    replicas as the product does, 1 + 1 for two so that each zone holds a
 *    copy. Low load does not tell stretched clusters apart (SPEC 6.3).
 *    When a zone cannot take its share the other takes the rest.
 *  - Before all of the above, two demotions, each only "when another will
 *    do": a failslow chunk (SPEC 4.7) and a chunk this replica would bring
 *    to super high (ratio after it >= 0.95, SPEC 6.2's "never push a node
 *    there"). Failslow weighs more.
 *  - A chunk can take a replica when it is healthy and has `need` bytes
 *    free: valid - allocated, allocated as SPEC 7.1 counts it.
 *  - Even volumes (SPEC 6.8: templates, snapshots cloned many times; the
 *    notes only say their replicas are "evenly distributed rather than
 *    localized"): prefer local is ignored at every load, and after the two
 *    demotions and topology (stretched zones, farther first) the chunk
 *    holding the fewest replicas of that volume goes first, then the
 *    lowest ratio and most free bytes as at high load. So each healthy
 *    chunk ends up with about as many of its replicas (topology safety
 *    comes first: two racks of unequal size hold equal halves of each
 *    pextent's replicas, not equal numbers per chunk). The caller counts
 *    the volume's replicas per chunk (meta_place_chunk.vol_replicas).
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

/*
 * The safety of a replica set: the distances of every pair of its replicas,
 * sorted ascending. One safety is better than another when it is greater
 * compared element by element (the closest pair first), then when it has
 * more pairs. Rebalance's topology moves and recovery's dst use it.
 */
#define META_PLACE_MAX_REPLICAS	4
#define META_PLACE_MAX_PAIRS	(META_PLACE_MAX_REPLICAS * (META_PLACE_MAX_REPLICAS - 1) / 2)
struct meta_place_safety {
	uint8_t n;
	uint8_t d[META_PLACE_MAX_PAIRS];
};
/* s = {}; then one pair distance at a time, kept sorted (beyond
 * META_PLACE_MAX_PAIRS pairs are ignored) */
void meta_place_safety_add(struct meta_place_safety *s, enum meta_place_dist d);
/* the safety of n chunks (cids[i] at paths[i]); n at most 4 */
void meta_place_safety_of(const uint32_t *cids, const struct meta_place_path *paths, int n,
			  struct meta_place_safety *s);
/* < 0, 0, > 0: a less safe than, as safe as, safer than b */
int meta_place_safety_cmp(const struct meta_place_safety *a, const struct meta_place_safety *b);

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

/* A chunk as placement sees it. */
struct meta_place_chunk {
	uint32_t cid;			/* 1..255 (location.h); others never chosen */
	bool healthy;			/* CHUNK_HEALTHY */
	bool failslow;			/* slow disk (SPEC 4.7) */
	struct meta_place_path topo;
	uint64_t valid, allocated;	/* valid as reported; meta_place_allocated */
	uint32_t vol_replicas;		/* even: replicas of the volume it holds */
};

struct meta_place_req {
	uint32_t n;			/* replicas, 1..4 */
	uint32_t prefer_cid;		/* prefer local; 0 = none */
	uint64_t need;			/* bytes a replica takes: an extent */
	bool even;			/* an even volume's (prefer_cid ignored) */
};

/* what the choice followed, for logs, tests and `cluster load` */
struct meta_place_info {
	uint32_t eligible;		/* chunks that could take a replica */
	enum meta_load_level cluster;	/* the cluster's level */
	enum meta_load_level level;	/* the rules followed */
	bool stretched;
};

/*
 * A failslow chunk's space is not valid space (SPEC 4.7 rule 5, 7.2): the
 * valid space c adds to the cluster's load, 0 when it is failslow. Its
 * allocated space still counts (that data is there and will need a home),
 * so a slow disk raises the cluster's ratio as losing it would. Placement
 * itself still sees c->valid, the room the chunk has: a failslow chunk
 * takes a replica only when no other can (the first demotion above), and
 * then it must have the room.
 */
uint64_t meta_place_load_valid(const struct meta_place_chunk *c);
/*
 * The cluster's level: allocated over valid (meta_place_load_valid) of the
 * healthy chunks.
 */
enum meta_load_level meta_place_cluster_level(const struct meta_place_chunk *c, size_t nc,
					      const struct meta_load_thresholds *t);

/*
 * Choose r->n distinct chunks for the replicas of a new pextent, in order
 * (prefer local first when it is chosen), into out[0..n-1]. Returns n, or
 * -1 when fewer than n chunks can take one (or n is 0 or above 4, or cids
 * repeat). info (may be NULL) is filled either way. t NULL: the defaults.
 */
int meta_place(const struct meta_place_chunk *c, size_t nc, const struct meta_place_req *r,
	       const struct meta_load_thresholds *t, uint32_t *out, struct meta_place_info *info);

/*
 * The expected distribution of n replicas for prefer local, whatever the
 * load: the low-load chain of meta_place (SPEC 6.3 LocalizedComparator)
 * over the healthy chunks, space left out (need 0), so it is the same for
 * every pextent of that prefer local while the topology and the healthy
 * chunks are unchanged. Localization repair (rebalance.h) moves replicas
 * towards it. Returns n, or -1 (no such prefer local among the chunks, or
 * fewer than n healthy chunks).
 */
int meta_place_localized(const struct meta_place_chunk *c, size_t nc, uint32_t prefer_cid,
			 uint32_t n, uint32_t *out);

#endif
