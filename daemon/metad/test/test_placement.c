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

struct place_case {
	const char *name;
	struct meta_place_cand c[8];
	int nc;
	uint32_t n, prefer;
	int ret;
	uint32_t want[4];
	uint32_t eligible;
};

static const struct place_case cases[] = {
	{ "most free first", { { 1, true, 10 * G }, { 2, true, 30 * G }, { 3, true, 20 * G } }, 3,
	  3, 0, 3, { 2, 3, 1 }, 3 },
	{ "prefer-local first", { { 1, true, 10 * G }, { 2, true, 30 * G }, { 3, true, 20 * G } }, 3,
	  2, 1, 2, { 1, 2 }, 3 },
	{ "unhealthy preferred skipped", { { 1, false, 90 * G }, { 2, true, 30 * G }, { 3, true, 20 * G } }, 3,
	  2, 1, 2, { 2, 3 }, 2 },
	{ "preferred without space skipped", { { 1, true, E - 1 }, { 2, true, 30 * G }, { 3, true, 20 * G } }, 3,
	  1, 1, 1, { 2 }, 2 },
	{ "ties by lower cid", { { 4, true, G }, { 2, true, G }, { 3, true, G } }, 3,
	  2, 0, 2, { 2, 3 }, 3 },
	{ "unhealthy never chosen", { { 1, false, 90 * G }, { 2, true, G }, { 3, true, G } }, 3,
	  2, 0, 2, { 2, 3 }, 2 },
	{ "too few healthy", { { 1, false, 90 * G }, { 2, true, G }, { 3, false, G } }, 3,
	  2, 0, -1, { 0 }, 1 },
	{ "too few with space", { { 1, true, E }, { 2, true, E - 1 }, { 3, true, 0 } }, 3,
	  2, 0, -1, { 0 }, 1 },
	{ "exactly one extent free is enough", { { 1, true, E } }, 1, 1, 0, 1, { 1 }, 1 },
	{ "zero replicas refused", { { 1, true, G } }, 1, 0, 0, -1, { 0 }, 1 },
	{ "prefer unknown cid ignored", { { 1, true, G }, { 2, true, 2 * G } }, 2,
	  2, 9, 2, { 2, 1 }, 2 },
	{ "cid 0 is never a chunk", { { 0, true, 99 * G }, { 2, true, G } }, 2,
	  1, 0, 1, { 2 }, 1 },
};

static void test_place_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct place_case *t = &cases[i];
		uint32_t out[4] = { 0 }, eligible = 99;
		int ret = meta_place(t->c, t->nc, t->n, t->prefer, E, out, &eligible);
		print_message("case: %s\n", t->name);
		assert_int_equal(ret, t->ret);
		assert_int_equal(eligible, t->eligible);
		for (int k = 0; ret > 0 && k < ret; k++)
			assert_int_equal(out[k], t->want[k]);
	}
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
		cmocka_unit_test(test_location),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
