// SPDX-License-Identifier: GPL-2.0
/* Placement model and location packing: tables of cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core.h"
#include "location.h"
#include "placement.h"

#define G (1ULL << 30)
#define E ZBS_EXTENT_SIZE
#define KiB 1024ULL

/* ---- topology distance ---- */

struct dist_case {
	const char *name;
	uint32_t ca;
	struct meta_place_path a;
	uint32_t cb;
	struct meta_place_path b;
	enum meta_place_dist want;
};

/* paths are { zone, rack, brick, node } */
static const struct dist_case dist_cases[] = {
	{ "one chunk", 1, { 1, 2, 3, 0 }, 1, { 1, 2, 3, 0 }, META_DIST_SAME },
	{ "two chunks of one node", 1, { 1, 2, 3, 7 }, 2, { 1, 2, 3, 7 }, META_DIST_NODE },
	{ "one brick, other nodes", 1, { 1, 2, 3, 7 }, 2, { 1, 2, 3, 8 }, META_DIST_BRICK },
	{ "node 0: each chunk a node of its own", 1, { 1, 2, 3, 0 }, 2, { 1, 2, 3, 0 },
	  META_DIST_BRICK },
	{ "node 0 of cid 5 is not node id 5", 5, { 1, 2, 3, 0 }, 6, { 1, 2, 3, 5 },
	  META_DIST_BRICK },
	{ "one rack, other bricks", 1, { 1, 2, 3, 0 }, 2, { 1, 2, 4, 0 }, META_DIST_RACK },
	{ "one zone, other racks", 1, { 1, 2, 3, 0 }, 2, { 1, 5, 6, 0 }, META_DIST_ZONE },
	{ "other zones", 1, { 1, 2, 3, 0 }, 2, { 9, 5, 6, 0 }, META_DIST_FAR },
	/* SPEC 6.9: the product put a rack-less node at 0 from racked ones */
	{ "rack-less node is a rack of its own", 5, { 1, 0, 0, 0 }, 1, { 1, 2, 3, 0 },
	  META_DIST_ZONE },
	{ "... either way round", 1, { 1, 2, 3, 0 }, 5, { 1, 0, 0, 0 }, META_DIST_ZONE },
	{ "two rack-less nodes: two racks", 5, { 1, 0, 0, 0 }, 6, { 1, 0, 0, 0 },
	  META_DIST_ZONE },
	{ "two rack-less nodes, same brick id: still two racks", 5, { 1, 0, 3, 0 }, 6,
	  { 1, 0, 3, 0 }, META_DIST_ZONE },
	{ "chunks of one rack-less node share its missing levels", 5, { 1, 0, 0, 9 }, 6,
	  { 1, 0, 0, 9 }, META_DIST_NODE },
	{ "brick-less node in a rack: a brick of its own", 5, { 1, 2, 0, 0 }, 1, { 1, 2, 3, 0 },
	  META_DIST_RACK },
	{ "zone-less node is a zone of its own", 5, { 0, 2, 3, 0 }, 1, { 1, 2, 3, 0 },
	  META_DIST_FAR },
	{ "two zone-less nodes: two zones", 5, { 0, 0, 0, 0 }, 6, { 0, 0, 0, 0 }, META_DIST_FAR },
	{ "chunks of one node with nothing above it", 5, { 0, 0, 0, 9 }, 6, { 0, 0, 0, 9 },
	  META_DIST_NODE },
	{ "top down: other zones whatever the ids below", 1, { 1, 2, 3, 7 }, 2, { 9, 2, 3, 7 },
	  META_DIST_FAR },
};

static void test_distance(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dist_cases) / sizeof(dist_cases[0]); i++) {
		const struct dist_case *t = &dist_cases[i];
		print_message("case: %s\n", t->name);
		assert_int_equal(meta_place_distance(t->ca, &t->a, t->cb, &t->b), t->want);
		assert_int_equal(meta_place_distance(t->cb, &t->b, t->ca, &t->a), t->want);
	}
}

/* ---- space ---- */

static void test_space(void **state)
{
	struct meta_place_alloc a;
	(void)state;

	/* SPEC 7.1 evidence, perf layer: 181066496 KiB = 95607552 + (8, 2097152)
	 * + (318, 83361792) */
	struct meta_place_space perf = { .valid = 400 * G, .thin_used = 95607552 * KiB,
					 .new_thin_pids = 8, .thin_rx_pids = 318 };
	meta_place_space_split(&perf, &a);
	assert_int_equal(a.thin, 95607552 * KiB);
	assert_int_equal(a.new_thin, 2097152 * KiB);
	assert_int_equal(a.rx, 83361792 * KiB);
	assert_int_equal(a.thick + a.reserve, 0);
	assert_int_equal(a.allocated, 181066496 * KiB);
	assert_int_equal(meta_place_allocated(&perf), 181066496 * KiB);
	/* its ratio 0.431697 is low */
	assert_int_equal(meta_load_level(a.allocated, perf.valid, true, NULL), META_LOAD_LOW);

	/* cap (derived): 2360320 KiB = 1024 + 9 x 262144 */
	struct meta_place_space cap = { .thin_used = 1024 * KiB, .new_thin_pids = 9 };
	assert_int_equal(meta_place_allocated(&cap), 2360320 * KiB);

	/* the first perf alloc: 263168 KiB = 1024 used + one new thin pid */
	struct meta_place_space first = { .thin_used = 1024 * KiB, .new_thin_pids = 1 };
	assert_int_equal(meta_place_allocated(&first), 263168 * KiB);

	/* refined form: reserve and rx are an extent a pid, thin and thick */
	struct meta_place_space all = { .valid = 100 * G, .thin_used = 3 * KiB, .new_thin_pids = 1,
					.thick_pids = 2, .thin_reserve_pids = 3,
					.thick_reserve_pids = 4, .thin_rx_pids = 5,
					.thick_rx_pids = 6 };
	meta_place_space_split(&all, &a);
	assert_int_equal(a.thin, 3 * KiB);
	assert_int_equal(a.new_thin, E);
	assert_int_equal(a.thick, 2 * E);
	assert_int_equal(a.reserve, 7 * E);
	assert_int_equal(a.rx, 11 * E);
	assert_int_equal(a.allocated, 3 * KiB + 21 * E);

	/* a report settles new thin: nothing charged beyond the report */
	struct meta_place_space settled = { .thin_used = 5 * G };
	assert_int_equal(meta_place_allocated(&settled), 5 * G);
}

/* ---- load levels ---- */

struct level_case {
	const char *name;
	uint64_t alloc, valid;
	bool chunk;
	enum meta_load_level want;
};

static const struct level_case level_cases[] = {
	{ "empty", 0, 1000, true, META_LOAD_LOW },
	{ "just below 0.5", 499, 1000, true, META_LOAD_LOW },
	{ "0.5 is medium", 500, 1000, true, META_LOAD_MEDIUM },
	{ "just below 0.6", 599, 1000, true, META_LOAD_MEDIUM },
	{ "0.6 is high", 600, 1000, true, META_LOAD_HIGH },
	{ "3/5 exactly is high", 3 * E, 5 * E, true, META_LOAD_HIGH },
	{ "just below 0.9", 899, 1000, false, META_LOAD_HIGH },
	{ "0.9 is very high", 900, 1000, false, META_LOAD_VERY_HIGH },
	{ "a chunk just below 0.95", 949, 1000, true, META_LOAD_VERY_HIGH },
	{ "a chunk at 0.95 is super high", 950, 1000, true, META_LOAD_SUPER_HIGH },
	{ "the cluster stops at very high", 999, 1000, false, META_LOAD_VERY_HIGH },
	{ "a chunk over full", 1100, 1000, true, META_LOAD_SUPER_HIGH },
	{ "a chunk with no valid space", 0, 0, true, META_LOAD_SUPER_HIGH },
	{ "a cluster with no valid space", 0, 0, false, META_LOAD_VERY_HIGH },
	{ "exact at any size: 2^62 / 2^63", 1ULL << 62, 1ULL << 63, true, META_LOAD_MEDIUM },
	{ "exact at any size: 2^62 - 1 / 2^63", (1ULL << 62) - 1, 1ULL << 63, true,
	  META_LOAD_LOW },
	/* SPEC 6.2 samples */
	{ "cid 3 at 16:49:46 (0.616978)", 616978, 1000000, true, META_LOAD_HIGH },
	{ "cid 1 at 16:49:46 (0.332331)", 332331, 1000000, true, META_LOAD_LOW },
};

static void test_levels(void **state)
{
	const struct meta_load_thresholds def = META_LOAD_THRESHOLDS_DEFAULT;
	const struct meta_load_thresholds mine = { 100, 200, 300, 400 };
	(void)state;

	for (size_t i = 0; i < sizeof(level_cases) / sizeof(level_cases[0]); i++) {
		const struct level_case *t = &level_cases[i];
		print_message("case: %s\n", t->name);
		assert_int_equal(meta_load_level(t->alloc, t->valid, t->chunk, NULL), t->want);
		assert_int_equal(meta_load_level(t->alloc, t->valid, t->chunk, &def), t->want);
	}
	/* configurable */
	assert_int_equal(meta_load_level(150, 1000, true, &mine), META_LOAD_MEDIUM);
	assert_int_equal(meta_load_level(250, 1000, true, &mine), META_LOAD_HIGH);
	assert_int_equal(meta_load_level(350, 1000, true, &mine), META_LOAD_VERY_HIGH);
	assert_int_equal(meta_load_level(400, 1000, true, &mine), META_LOAD_SUPER_HIGH);
	assert_true(meta_load_thresholds_valid(&def));
	assert_true(meta_load_thresholds_valid(&mine));
	assert_false(meta_load_thresholds_valid(&(struct meta_load_thresholds){ 600, 500, 900, 950 }));
	assert_false(meta_load_thresholds_valid(&(struct meta_load_thresholds){ 500, 600, 950, 950 }));
	assert_false(meta_load_thresholds_valid(&(struct meta_load_thresholds){ 500, 600, 900, 1001 }));
	assert_false(meta_load_thresholds_valid(&(struct meta_load_thresholds){ 0, 600, 900, 950 }));
	assert_string_equal(meta_load_level_name(META_LOAD_VERY_HIGH), "very high");
	assert_string_equal(meta_load_level_name(META_LOAD_SUPER_HIGH), "super high");
}

/* ---- allocation ---- */

/* a chunk in a table: space in extents */
struct ch {
	uint32_t cid;
	uint64_t zone, rack, brick, node;
	uint32_t valid, alloc;
	int flags;
};
enum { DOWN = 1, SLOW = 2 };

/* chunk i (cid i) of 100 extents in zone 1, rack r, brick b, with a allocated */
#define C(i, r, b, a) { i, 1, r, b, 0, 100, a, 0 }

static size_t mkchunks(const struct ch *in, size_t n, struct meta_place_chunk *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (struct meta_place_chunk){
			.cid = in[i].cid,
			.healthy = !(in[i].flags & DOWN),
			.failslow = in[i].flags & SLOW,
			.topo = { in[i].zone, in[i].rack, in[i].brick, in[i].node },
			.valid = in[i].valid * E,
			.allocated = in[i].alloc * E,
		};
	return n;
}

struct place_case {
	const char *name;
	struct ch c[8];
	int nc;
	uint32_t n, prefer;
	int ret;
	uint32_t want[4];
	enum meta_load_level level;
	uint32_t eligible;
	bool stretched;
};

#define L_LOW META_LOAD_LOW
#define L_MED META_LOAD_MEDIUM
#define L_HIGH META_LOAD_HIGH
#define L_VHIGH META_LOAD_VERY_HIGH

static const struct place_case place_cases[] = {
	/* -- the level and its rules (SPEC 6.2's table) -- */
	{ "low: prefer local, then going down from it, space aside",
	  { C(1, 1, 1, 40), C(2, 1, 1, 40), C(3, 1, 1, 10), C(4, 1, 1, 0), C(5, 1, 1, 0) }, 5,
	  3, 3, 3, { 3, 2, 1 }, L_LOW, 5, false },
	{ "low: going down wraps to the highest cid",
	  { C(1, 1, 1, 0), C(2, 1, 1, 0), C(3, 1, 1, 0), C(4, 1, 1, 0), C(5, 1, 1, 0) }, 5,
	  3, 1, 3, { 1, 5, 4 }, L_LOW, 5, false },
	/* 3 chunks of 400 GiB (1600 extents), prefer local 4 (SPEC 6.2 table) */
	{ "6.2 step 1: both low, full locality: [4, 3]",
	  { { 1, 1, 1, 1, 0, 1600, 0, 0 }, { 3, 1, 1, 1, 0, 1600, 480, 0 },
	    { 4, 1, 1, 1, 0, 1600, 480, 0 } }, 3,
	  2, 4, 2, { 4, 3 }, L_LOW, 3, false },
	{ "6.2 step 2: cid 4 at 0.55, medium: local priority + capacity: [4, 1]",
	  { { 1, 1, 1, 1, 0, 1600, 80, 0 }, { 3, 1, 1, 1, 0, 1600, 880, 0 },
	    { 4, 1, 1, 1, 0, 1600, 880, 0 } }, 3,
	  2, 4, 2, { 4, 1 }, L_MED, 3, false },
	{ "6.2 step 3: cid 4 at 0.62, high: capacity only: [1, 3]",
	  { { 1, 1, 1, 1, 0, 1600, 240, 0 }, { 3, 1, 1, 1, 0, 1600, 880, 0 },
	    { 4, 1, 1, 1, 0, 1600, 992, 0 } }, 3,
	  2, 4, 2, { 1, 3 }, L_HIGH, 3, false },
	{ "medium: prefer local, then the lowest ratio",
	  { C(1, 1, 1, 55), C(2, 1, 1, 56), C(3, 1, 1, 55), C(4, 1, 1, 52), C(5, 1, 1, 50) }, 5,
	  3, 3, 3, { 3, 5, 4 }, L_MED, 5, false },
	{ "high: prefer local is not first",
	  { C(1, 1, 1, 70), C(2, 1, 1, 70), C(3, 1, 1, 70), C(4, 1, 1, 65), C(5, 1, 1, 60) }, 5,
	  2, 3, 2, { 5, 4 }, L_HIGH, 5, false },
	{ "the cluster's level rules over a low prefer local",
	  { C(1, 1, 1, 30), C(2, 1, 1, 20), C(3, 1, 1, 85), C(4, 1, 1, 85), C(5, 1, 1, 85) }, 5,
	  2, 1, 2, { 2, 1 }, L_HIGH, 5, false },
	{ "a medium prefer local rules over a low cluster",
	  { C(1, 1, 1, 55), C(2, 1, 1, 0), C(3, 1, 1, 0), C(4, 1, 1, 10), C(5, 1, 1, 0) }, 5,
	  2, 1, 2, { 1, 2 }, L_MED, 5, false },
	{ "very high allocates as high",
	  { C(1, 1, 1, 92), C(2, 1, 1, 91), C(3, 1, 1, 90), C(4, 1, 1, 93), C(5, 1, 1, 93) }, 5,
	  2, 1, 2, { 3, 2 }, L_VHIGH, 5, false },
	{ "no prefer local: topology and capacity at low load",
	  { C(1, 1, 1, 30), C(2, 1, 1, 20), C(3, 1, 1, 10) }, 3,
	  2, 0, 2, { 3, 2 }, L_HIGH, 3, false },
	{ "prefer unknown cid ignored",
	  { C(1, 1, 1, 30), C(2, 1, 1, 20), C(3, 1, 1, 10) }, 3,
	  2, 9, 2, { 3, 2 }, L_HIGH, 3, false },

	/* -- who can take a replica -- */
	{ "unhealthy never chosen, even preferred",
	  { { 1, 1, 1, 1, 0, 100, 0, DOWN }, C(2, 1, 1, 0), C(3, 1, 1, 0) }, 3,
	  2, 1, 2, { 3, 2 }, L_LOW, 2, false },
	{ "preferred without space skipped",
	  { { 1, 1, 1, 1, 0, 100, 100, 0 }, C(2, 1, 1, 0), C(3, 1, 1, 0) }, 3,
	  1, 1, 1, { 2 }, L_VHIGH, 2, false },
	{ "too few healthy",
	  { { 1, 1, 1, 1, 0, 100, 0, DOWN }, C(2, 1, 1, 0), { 3, 1, 1, 1, 0, 100, 0, DOWN } }, 3,
	  2, 0, -1, { 0 }, L_HIGH, 1, false },
	{ "too few with space",
	  { C(1, 1, 1, 99), C(2, 1, 1, 100), { 3, 1, 1, 1, 0, 0, 0, 0 } }, 3,
	  2, 0, -1, { 0 }, L_HIGH, 1, false },
	{ "over-allocated chunk has no space", { C(1, 1, 1, 101), C(2, 1, 1, 0) }, 2,
	  2, 0, -1, { 0 }, L_HIGH, 1, false },
	{ "exactly one extent free is enough", { { 1, 1, 1, 1, 0, 1, 0, 0 } }, 1,
	  1, 0, 1, { 1 }, L_HIGH, 1, false },
	{ "zero replicas refused", { C(1, 1, 1, 0) }, 1, 0, 0, -1, { 0 }, L_HIGH, 1, false },
	{ "five replicas refused",
	  { C(1, 1, 1, 0), C(2, 1, 1, 0), C(3, 1, 1, 0), C(4, 1, 1, 0), C(5, 1, 1, 0) }, 5,
	  5, 0, -1, { 0 }, L_HIGH, 5, false },
	{ "cid 0 is never a chunk", { C(0, 1, 1, 0), C(2, 1, 1, 50) }, 2,
	  1, 0, 1, { 2 }, L_HIGH, 1, false },

	/* -- topology safety -- */
	{ "high: never two replicas in one rack when racks allow",
	  { C(1, 1, 1, 10), C(2, 1, 1, 10), C(3, 1, 1, 10), C(4, 2, 2, 60), C(5, 3, 3, 70) }, 5,
	  3, 0, 3, { 1, 4, 5 }, L_HIGH, 5, false },
	{ "medium: prefer local, then another rack before more space",
	  { C(1, 1, 1, 55), C(2, 1, 1, 0), C(3, 2, 2, 40) }, 3,
	  2, 1, 2, { 1, 3 }, L_MED, 3, false },
	{ "low: the locality chain goes to other racks first",
	  { C(1, 1, 1, 0), C(2, 1, 1, 0), C(3, 1, 1, 0), C(4, 2, 2, 0), C(5, 3, 3, 0) }, 5,
	  3, 2, 3, { 2, 5, 4 }, L_LOW, 5, false },
	{ "other bricks before capacity",
	  { C(1, 1, 1, 10), C(2, 1, 1, 0), C(3, 1, 2, 40) }, 3,
	  2, 0, 2, { 2, 3 }, L_HIGH, 3, false },
	{ "two racks, three replicas: the third in another brick",
	  { C(1, 1, 1, 30), C(2, 1, 2, 40), C(3, 2, 3, 10), C(4, 2, 3, 20) }, 4,
	  3, 0, 3, { 3, 1, 2 }, L_HIGH, 4, false },
	/* SPEC 6.9's topology: cids 1-4 rack 1, 6-7 rack 2, cid 5 in no rack */
	{ "6.9: the rack-less cid 5 is a third rack",
	  { C(1, 1, 1, 50), C(2, 1, 1, 60), C(3, 1, 1, 60), C(4, 1, 1, 60),
	    { 5, 1, 0, 0, 0, 100, 90, 0 }, C(6, 2, 2, 67), C(7, 2, 2, 67) }, 7,
	  3, 0, 3, { 1, 6, 5 }, L_HIGH, 7, false },
	{ "6.9: at 96% cid 5 takes nothing while others can",
	  { C(1, 1, 1, 50), C(2, 1, 1, 60), C(3, 1, 1, 60), C(4, 1, 1, 60),
	    { 5, 1, 0, 0, 0, 100, 96, 0 }, C(6, 2, 2, 67), C(7, 2, 2, 67) }, 7,
	  3, 0, 3, { 1, 6, 2 }, L_HIGH, 7, false },

	/* -- stretched: two zones (SPEC 6.3) -- */
	{ "stretched, medium: 2 in prefer local's zone first, 1 in the other",
	  { { 1, 1, 1, 1, 0, 100, 55, 0 }, { 2, 1, 2, 2, 0, 100, 58, 0 },
	    { 3, 1, 3, 3, 0, 100, 58, 0 }, { 4, 2, 4, 4, 0, 100, 50, 0 },
	    { 5, 2, 5, 5, 0, 100, 50, 0 }, { 6, 2, 6, 6, 0, 100, 50, 0 } }, 6,
	  3, 1, 3, { 1, 2, 4 }, L_MED, 6, true },
	{ "stretched, high: the first replica's zone takes two",
	  { { 1, 1, 1, 1, 0, 100, 70, 0 }, { 2, 1, 2, 2, 0, 100, 70, 0 },
	    { 3, 1, 3, 3, 0, 100, 70, 0 }, { 4, 2, 4, 4, 0, 100, 75, 0 },
	    { 5, 2, 5, 5, 0, 100, 60, 0 }, { 6, 2, 6, 6, 0, 100, 65, 0 } }, 6,
	  3, 0, 3, { 5, 6, 1 }, L_HIGH, 6, true },
	{ "stretched, two replicas: one in each zone",
	  { { 1, 1, 1, 1, 0, 100, 70, 0 }, { 2, 1, 2, 2, 0, 100, 60, 0 },
	    { 3, 2, 3, 3, 0, 100, 75, 0 }, { 4, 2, 4, 4, 0, 100, 80, 0 } }, 4,
	  2, 1, 2, { 2, 3 }, L_HIGH, 4, true },
	{ "stretched, one replica, no prefer local: the lowest ratio in either zone",
	  { { 1, 1, 1, 1, 0, 100, 70, 0 }, { 2, 2, 2, 2, 0, 100, 60, 0 } }, 2,
	  1, 0, 1, { 2 }, L_HIGH, 2, true },
	{ "stretched, low: not told apart, the locality chain",
	  { { 1, 1, 1, 1, 0, 100, 0, 0 }, { 2, 1, 2, 2, 0, 100, 0, 0 },
	    { 3, 1, 3, 3, 0, 100, 0, 0 }, { 4, 2, 4, 4, 0, 100, 0, 0 },
	    { 5, 2, 5, 5, 0, 100, 0, 0 }, { 6, 2, 6, 6, 0, 100, 0, 0 } }, 6,
	  3, 1, 3, { 1, 6, 5 }, L_LOW, 6, true },
	{ "stretched: a zone short of chunks, the other takes the rest",
	  { { 1, 1, 1, 1, 0, 100, 55, 0 }, { 2, 1, 2, 2, 0, 100, 0, DOWN },
	    { 4, 2, 4, 4, 0, 100, 58, 0 }, { 5, 2, 5, 5, 0, 100, 59, 0 } }, 4,
	  3, 1, 3, { 1, 4, 5 }, L_MED, 3, true },
	{ "three zones: not stretched, one replica a zone",
	  { { 1, 1, 1, 1, 0, 100, 70, 0 }, { 2, 1, 2, 2, 0, 100, 60, 0 },
	    { 3, 2, 3, 3, 0, 100, 75, 0 }, { 4, 3, 4, 4, 0, 100, 80, 0 } }, 4,
	  3, 0, 3, { 2, 3, 4 }, L_HIGH, 4, false },

	/* -- failslow (SPEC 4.7) and super high -- */
	{ "low: a failslow prefer local is not chosen",
	  { C(1, 1, 1, 0), C(2, 1, 1, 0), { 3, 1, 1, 1, 0, 100, 0, SLOW }, C(4, 1, 1, 0) }, 4,
	  2, 3, 2, { 2, 1 }, L_LOW, 4, false },
	{ "low: the chain of a prefer local that cannot take one still starts there",
	  { C(1, 1, 1, 0), C(2, 2, 2, 0), { 3, 1, 2, 2, 0, 100, 0, DOWN }, C(4, 3, 3, 0) }, 4,
	  2, 3, 2, { 1, 4 }, L_LOW, 3, false },
	{ "high: failslow loses to the same rack and more load",
	  { C(1, 1, 1, 50), C(2, 1, 1, 80), { 3, 1, 2, 2, 0, 100, 0, SLOW } }, 3,
	  2, 0, 2, { 1, 2 }, L_HIGH, 3, false },
	{ "failslow chosen when nothing else will do",
	  { { 1, 1, 1, 1, 0, 100, 0, SLOW }, C(2, 1, 1, 50), C(3, 1, 1, 60) }, 3,
	  3, 0, 3, { 2, 3, 1 }, L_HIGH, 3, false },
	{ "low: the chain skips a partner it would push to super high",
	  { C(1, 1, 1, 0), C(2, 1, 1, 94), C(3, 1, 1, 0), C(4, 1, 1, 0) }, 4,
	  2, 3, 2, { 3, 1 }, L_LOW, 4, false },
	{ "a partner it would not push there is kept",
	  { C(1, 1, 1, 0), C(2, 1, 1, 93), C(3, 1, 1, 0), C(4, 1, 1, 0) }, 4,
	  2, 3, 2, { 3, 2 }, L_LOW, 4, false },
	{ "failslow weighs more than super high",
	  { C(1, 1, 1, 0), C(2, 1, 1, 97), { 3, 1, 1, 1, 0, 100, 0, SLOW } }, 3,
	  2, 0, 2, { 1, 2 }, L_HIGH, 3, false },

	/* -- ties -- */
	{ "high: equal ratios, most free bytes first",
	  { C(1, 1, 1, 50), { 2, 1, 1, 1, 0, 200, 100, 0 }, { 3, 1, 1, 1, 0, 50, 25, 0 } }, 3,
	  3, 0, 3, { 2, 1, 3 }, L_HIGH, 3, false },
	{ "high: all equal, lower cid first",
	  { C(4, 1, 1, 0), C(2, 1, 1, 0), C(3, 1, 1, 0) }, 3,
	  2, 0, 2, { 2, 3 }, L_HIGH, 3, false },
	{ "ratios compared exactly: 333/1000 below 1000/3000",
	  { { 1, 1, 1, 1, 0, 3000, 1000, 0 }, { 2, 1, 1, 1, 0, 1000, 333, 0 } }, 2,
	  1, 0, 1, { 2 }, L_HIGH, 2, false },
	{ "repeated cids refused", { C(1, 1, 1, 0), C(1, 1, 1, 0), C(2, 1, 1, 0) }, 3,
	  1, 0, -1, { 0 }, L_HIGH, 3, false },
};

static void test_place_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(place_cases) / sizeof(place_cases[0]); i++) {
		const struct place_case *t = &place_cases[i];
		struct meta_place_chunk c[8];
		size_t nc = mkchunks(t->c, t->nc, c);
		struct meta_place_req r = { .n = t->n, .prefer_cid = t->prefer, .need = E };
		struct meta_place_info info;
		uint32_t out[4] = { 0 };
		int ret;

		print_message("case: %s\n", t->name);
		ret = meta_place(c, nc, &r, NULL, out, &info);
		assert_int_equal(ret, t->ret);
		assert_int_equal(info.eligible, t->eligible);
		if (ret < 0)
			continue;
		for (int k = 0; k < ret; k++)
			assert_int_equal(out[k], t->want[k]);
		assert_int_equal(info.level, t->level);
		assert_int_equal(info.stretched, t->stretched);
	}
}

static void test_cluster_level(void **state)
{
	struct ch in[] = { C(1, 1, 1, 40), C(2, 1, 1, 60), { 3, 1, 1, 1, 0, 1000, 0, DOWN } };
	struct meta_place_chunk c[3];
	(void)state;

	/* (40 + 60) / 200: the down chunk's space does not count */
	mkchunks(in, 3, c);
	assert_int_equal(meta_place_cluster_level(c, 3, NULL), META_LOAD_MEDIUM);
	c[0].allocated = 39 * E;
	assert_int_equal(meta_place_cluster_level(c, 3, NULL), META_LOAD_LOW);
	c[1].allocated = 160 * E;	/* over the top: very high, not super */
	assert_int_equal(meta_place_cluster_level(c, 3, NULL), META_LOAD_VERY_HIGH);

	/* a failslow chunk's space is not valid space (SPEC 4.7 rule 5); its
	 * allocated still counts: (20 + 30) / 100 (not / 200) is medium */
	c[0].allocated = 20 * E;
	c[1].allocated = 30 * E;
	assert_int_equal(meta_place_cluster_level(c, 3, NULL), META_LOAD_LOW);
	c[0].failslow = true;
	assert_int_equal(meta_place_load_valid(&c[0]), 0);
	assert_int_equal(meta_place_load_valid(&c[1]), c[1].valid);
	assert_int_equal(meta_place_cluster_level(c, 3, NULL), META_LOAD_MEDIUM);
}

/* place one pextent and charge its chunks an extent each */
static void place_charge(struct meta_place_chunk *c, size_t nc, uint32_t n, uint32_t prefer,
			 uint32_t *out, struct meta_place_info *info)
{
	struct meta_place_req r = { .n = n, .prefer_cid = prefer, .need = E };

	assert_int_equal(meta_place(c, nc, &r, NULL, out, info), (int)n);
	for (uint32_t k = 0; k < n; k++)
		for (size_t i = 0; i < nc; i++)
			if (c[i].cid == out[k])
				c[i].allocated += E;
}


/* place count pextents of an even volume (n replicas each), counting its
 * replicas per chunk in vol_replicas as provision.c does */
static void place_even(struct meta_place_chunk *c, size_t nc, uint32_t count, uint32_t n,
		       uint32_t prefer)
{
	struct meta_place_req r = { .n = n, .prefer_cid = prefer, .need = E, .even = true };
	struct meta_place_info info;
	uint32_t out[4];

	for (uint32_t p = 0; p < count; p++) {
		assert_int_equal(meta_place(c, nc, &r, NULL, out, &info), (int)n);
		assert_int_equal(info.level, META_LOAD_HIGH);	/* prefer local ignored */
		for (uint32_t k = 0; k < n; k++)
			for (size_t i = 0; i < nc; i++)
				if (c[i].cid == out[k]) {
					c[i].allocated += E;
					c[i].vol_replicas++;
				}
	}
}

/* SPEC 6.8: an even volume's replicas spread evenly, topology first */
static void test_even(void **state)
{
	/* 8 chunks, each its own node, unequal load (prefer local 3 is the
	 * emptiest: a localized volume would crowd it) */
	struct ch flat[] = { C(1, 0, 0, 30), C(2, 0, 0, 20), C(3, 0, 0, 0), C(4, 0, 0, 25),
			     C(5, 0, 0, 5), C(6, 0, 0, 10), C(7, 0, 0, 28), C(8, 0, 0, 15) };
	/* two racks of 4 */
	struct ch racks[] = { C(1, 1, 1, 30), C(2, 1, 2, 20), C(3, 1, 3, 0), C(4, 1, 4, 25),
			      C(5, 2, 5, 5), C(6, 2, 6, 10), C(7, 2, 7, 28), C(8, 2, 8, 15) };
	/* racks of 3 and 5: each pextent has a replica in each rack */
	struct ch uneven[] = { C(1, 1, 1, 0), C(2, 1, 2, 0), C(3, 1, 3, 0), C(4, 2, 4, 0),
			       C(5, 2, 5, 0), C(6, 2, 6, 0), C(7, 2, 7, 0), C(8, 2, 8, 0) };
	struct meta_place_chunk c[8];
	uint32_t sum = 0;
	(void)state;

	/* 64 pextents x 2 replicas on 8 chunks: 16 each, +-1 */
	mkchunks(flat, 8, c);
	place_even(c, 8, 64, 2, 3);
	for (int i = 0; i < 8; i++) {
		assert_in_range(c[i].vol_replicas, 15, 17);
		sum += c[i].vol_replicas;
	}
	assert_int_equal(sum, 128);
	/* and after 3 more, still within one of each other */
	place_even(c, 8, 3, 3, 0);
	for (int i = 0; i < 8; i++)
		assert_in_range(c[i].vol_replicas, 16, 18);

	mkchunks(racks, 8, c);
	place_even(c, 8, 64, 2, 1);
	for (int i = 0; i < 8; i++)
		assert_in_range(c[i].vol_replicas, 15, 17);

	/* topology first: rack 1's 3 chunks take 64 replicas, rack 2's 5 the
	 * other 64 (21-22 and 12-13 each) */
	mkchunks(uneven, 8, c);
	place_even(c, 8, 64, 2, 0);
	for (int i = 0; i < 3; i++)
		assert_in_range(c[i].vol_replicas, 21, 22);
	for (int i = 3; i < 8; i++)
		assert_in_range(c[i].vol_replicas, 12, 13);

	/* a failslow chunk still comes last (SPEC 4.7) */
	mkchunks(flat, 8, c);
	c[4].failslow = true;
	place_even(c, 8, 64, 2, 0);
	assert_int_equal(c[4].vol_replicas, 0);
	for (int i = 0; i < 8; i++)
		if (i != 4)
			assert_in_range(c[i].vol_replicas, 18, 19);
}

/* low: every pextent of a prefer local lands on the same set (SPEC 6.3) */
static void test_low_stable(void **state)
{
	struct ch in[] = { C(1, 1, 1, 0), C(2, 1, 1, 0), C(3, 2, 2, 0), C(4, 2, 2, 0),
			   C(5, 3, 3, 0), C(6, 3, 3, 0) };
	struct meta_place_chunk c[6];
	struct meta_place_info info;
	uint32_t out[3];
	(void)state;

	mkchunks(in, 6, c);
	for (int i = 0; i < 40; i++) {
		place_charge(c, 6, 3, 4, out, &info);
		assert_int_equal(info.level, META_LOAD_LOW);
		/* 4, then going down: 2 is the first of another rack, then rack 3's 6 */
		assert_int_equal(out[0], 4);
		assert_int_equal(out[1], 2);
		assert_int_equal(out[2], 6);
	}
	/* a prefer local of another rack gets other partners */
	place_charge(c, 6, 3, 5, out, &info);
	assert_int_equal(out[0], 5);
	assert_int_equal(out[1], 4);
	assert_int_equal(out[2], 2);
}

/*
 * SPEC 6.2 step 4, scaled: cid 1 at 0.5 (it took the migrates of step 3),
 * cids 3 and 4 at 0.62, prefer local 4 (high). cid 1 is always chosen until
 * its ratio meets theirs; the other replica alternates between 3 and 4.
 */
static void test_scenario_step4(void **state)
{
	struct ch in[] = { { 1, 1, 1, 1, 0, 1600, 800, 0 }, { 3, 1, 1, 1, 0, 1600, 992, 0 },
			   { 4, 1, 1, 1, 0, 1600, 992, 0 } };
	struct meta_place_chunk c[3];
	struct meta_place_info info;
	uint32_t out[2], last = 4, rounds = 0;
	(void)state;

	mkchunks(in, 3, c);
	while (c[0].allocated < c[1].allocated) {
		place_charge(c, 3, 2, 4, out, &info);
		assert_int_equal(info.level, META_LOAD_HIGH);
		assert_int_equal(out[0], 1);
		assert_true(out[1] == 3 || out[1] == 4);
		assert_int_not_equal(out[1], last);	/* [1,3], [1,4], [1,3], ... */
		last = out[1];
		rounds++;
	}
	/* two rounds close the gap by an extent: all three meet at 1184 */
	assert_int_equal(rounds, 2 * (992 - 800));
	for (int i = 0; i < 3; i++)
		assert_int_equal(c[i].allocated, 1184 * E);
}

/* ---- location packing ---- */

static void test_location(void **state)
{
	char buf[32];
	(void)state;

	/* samples from SPEC 1.6 */
	assert_int_equal(loc_add(loc_add(loc_add(0, 4), 2), 1), 66052);
	assert_int_equal(loc_add(loc_add(loc_add(0, 2), 4), 1), 66562);
	assert_int_equal(loc_add(0x0201 & 0xff, 2), 513);
	assert_int_equal(loc_replace(328196, 5, 1), 66052);	/* replace keeps the slot */
	assert_int_equal(loc_count(262402), 3);
	assert_int_equal(loc_get(262402, 0), 2);
	assert_int_equal(loc_get(262402, 2), 4);
	assert_true(loc_contains(66052, 2));
	assert_false(loc_contains(66052, 5));
	assert_false(loc_contains(66052, 0));
	assert_int_equal(loc_remove(66052, 2), 0x0104);	/* [4 1] */
	assert_int_equal(loc_add(66052, 2), 66052);		/* no duplicates */
	assert_int_equal(loc_add(0x04030201, 5), 0x04030201);	/* full */
	assert_string_equal(loc_format(66052, buf, sizeof(buf)), "[4 2 1]");
	assert_string_equal(loc_format(0, buf, sizeof(buf)), "[]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_space),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_place_table),
		cmocka_unit_test(test_cluster_level),
		cmocka_unit_test(test_low_stable),
		cmocka_unit_test(test_even),
		cmocka_unit_test(test_scenario_step4),
		cmocka_unit_test(test_location),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
