// SPDX-License-Identifier: GPL-2.0
/* Placement policy and location packing: tables of cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "location.h"
#include "placement.h"

#define G (1ULL << 30)
#define E (256ULL << 20)

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

static void test_location(void **state)
{
	char buf[32];

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
		cmocka_unit_test(test_place_table),
		cmocka_unit_test(test_location),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
