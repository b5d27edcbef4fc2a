// SPDX-License-Identifier: GPL-2.0
/* The windowed latency average and the failslow judge (chunk_iostat.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "chunk_iostat.h"

#define MS	1000000ULL
#define S	(1000 * MS)

static void test_window(void **state)
{
	struct chunk_iostat s;
	uint64_t avg, n;

	(void)state;
	chunk_iostat_init(&s, 10 * S);
	assert_int_equal(chunk_iostat_window_ns(&s), 10 * S);
	assert_int_equal(chunk_iostat_avg_ns(&s, 5 * S), 0);		/* no sample */
	assert_int_equal(chunk_iostat_last_ns(&s), 0);
	chunk_iostat_add(&s, 100 * S, 10 * MS);
	chunk_iostat_add(&s, 100 * S + 1, 30 * MS);
	chunk_iostat_add(&s, 104 * S, 50 * MS);
	chunk_iostat_read(&s, 105 * S, &avg, &n);
	assert_int_equal(n, 3);
	assert_int_equal(avg, 30 * MS);
	assert_int_equal(chunk_iostat_last_ns(&s), 104 * S);
	/* 109.9 s: all within the window still */
	assert_int_equal(chunk_iostat_avg_ns(&s, 109 * S + 900 * MS), 30 * MS);
	/* 110 s: the bucket of 100 s is out, 104 s is in */
	chunk_iostat_read(&s, 110 * S, &avg, &n);
	assert_int_equal(n, 1);
	assert_int_equal(avg, 50 * MS);
	/* 114 s: nothing left */
	chunk_iostat_read(&s, 114 * S, &avg, &n);
	assert_int_equal(n, 0);
	assert_int_equal(avg, 0);
	/* a bucket's slot reused a window later starts from zero */
	chunk_iostat_add(&s, 120 * S, 2 * MS);
	chunk_iostat_read(&s, 120 * S, &avg, &n);
	assert_int_equal(n, 1);
	assert_int_equal(avg, 2 * MS);
	chunk_iostat_destroy(&s);

	/* window 0: the default */
	chunk_iostat_init(&s, 0);
	assert_int_equal(chunk_iostat_window_ns(&s), CHUNK_IOSTAT_WINDOW_NS);
	chunk_iostat_destroy(&s);
}

/* The histogram's slots: a table of latencies and their slots, and every
 * slot's range maps back to it, the ranges tiling 0 .. 2^24 us. */
static void test_hist_slots(void **state)
{
	static const struct {
		uint64_t lat_ns;
		unsigned slot;
	} rows[] = {
		{ 0, 0 }, { 999, 0 }, { 1000, 1 }, { 3999, 3 }, { 4000, 4 }, { 5000, 5 },
		{ 7999, 7 }, { 8000, 8 }, { 9999, 8 }, { 10000, 9 }, { 100000, 22 },
		{ 1000 * 1000, 35 }, { 16777215ULL * 1000, 91 }, { 16777216ULL * 1000, 92 },
		{ UINT64_MAX, 92 },
	};
	uint64_t lo, hi, prev_hi = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (chunk_iostat_slot(rows[i].lat_ns) != rows[i].slot) {
			print_error("row %zu: %llu ns in slot %u, want %u\n", i,
				    (unsigned long long)rows[i].lat_ns,
				    chunk_iostat_slot(rows[i].lat_ns), rows[i].slot);
			fail();
		}
	}
	for (unsigned slot = 0; slot < CHUNK_IOSTAT_SLOTS; slot++) {
		chunk_iostat_slot_range(slot, &lo, &hi);
		assert_int_equal(lo, prev_hi);
		assert_true(hi > lo);
		assert_int_equal(chunk_iostat_slot(lo), slot);
		assert_int_equal(chunk_iostat_slot(hi - 1), slot);
		if (slot >= 4 && slot < CHUNK_IOSTAT_SLOTS - 1)
			assert_true((hi - lo) * 4 <= lo);	/* <= 25% wide */
		prev_hi = hi;
	}
}

/* A quantile of the window: the tail an average hides, within half a slot;
 * samples leave it with their bucket. */
static void test_quantile(void **state)
{
	struct chunk_iostat s;
	uint64_t q, avg;

	(void)state;
	chunk_iostat_init(&s, 10 * S);
	assert_int_equal(chunk_iostat_quantile_ns(&s, 100 * S, 950), 0);	/* none */
	/* 94 at 100 us, 6 at 20 ms */
	for (int i = 0; i < 94; i++)
		chunk_iostat_add(&s, 100 * S + i, 100000);
	for (int i = 0; i < 6; i++)
		chunk_iostat_add(&s, 101 * S + i, 20 * MS);
	q = chunk_iostat_quantile_ns(&s, 101 * S, 500);
	assert_true(q >= 100000 * 7 / 8 && q <= 100000 * 9 / 8);
	q = chunk_iostat_quantile_ns(&s, 101 * S, 950);	/* rank 95: a slow one */
	assert_true(q >= 20 * MS * 7 / 8 && q <= 20 * MS * 9 / 8);
	q = chunk_iostat_quantile_ns(&s, 101 * S, 940);	/* rank 94: a fast one */
	assert_true(q <= 100000 * 9 / 8);
	q = chunk_iostat_quantile_ns(&s, 101 * S, 1000);
	assert_true(q >= 20 * MS * 7 / 8);
	q = chunk_iostat_quantile_ns(&s, 101 * S, 0);		/* the smallest */
	assert_true(q <= 100000 * 9 / 8);
	/* the average sits far from both: 1.29 ms */
	avg = chunk_iostat_avg_ns(&s, 101 * S);
	assert_true(avg > 1 * MS && avg < 2 * MS);
	/* 110.5 s: the bucket of 100 s left the window, the slow ones remain */
	q = chunk_iostat_quantile_ns(&s, 110 * S + 500 * MS, 500);
	assert_true(q >= 20 * MS * 7 / 8);
	/* a reused bucket starts with an empty histogram */
	chunk_iostat_add(&s, 120 * S, 100000);
	q = chunk_iostat_quantile_ns(&s, 120 * S, 1000);
	assert_true(q <= 100000 * 9 / 8);
	/* above 2^24 us: the last slot, its lower bound */
	chunk_iostat_add(&s, 120 * S, 100 * S);
	assert_int_equal(chunk_iostat_quantile_ns(&s, 120 * S, 1000), (1ULL << 24) * 1000);
	chunk_iostat_destroy(&s);
}

struct adder {
	struct chunk_iostat *s;
	uint64_t lat;
};

static void *add_many(void *arg)
{
	struct adder *a = arg;

	for (int i = 0; i < 100000; i++)
		chunk_iostat_add(a->s, 50 * S + (uint64_t)(i % 1000) * MS, a->lat);
	return NULL;
}

static void test_threads(void **state)
{
	struct chunk_iostat s;
	struct adder a[4];
	pthread_t t[4];
	uint64_t avg, n;

	(void)state;
	chunk_iostat_init(&s, 10 * S);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct adder){ &s, (uint64_t)(i + 1) * MS };
		assert_int_equal(pthread_create(&t[i], NULL, add_many, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	chunk_iostat_read(&s, 51 * S, &avg, &n);
	assert_int_equal(n, 400000);
	assert_int_equal(avg, 2500 * 1000);	/* (1 + 2 + 3 + 4) / 4 ms */
	chunk_iostat_destroy(&s);
}

/* n samples of lat each, at t */
static void burst(struct chunk_iostat *s, uint64_t t, int n, uint64_t lat)
{
	for (int i = 0; i < n; i++)
		chunk_iostat_add(s, t, lat);
}

static void test_failslow_hysteresis(void **state)
{
	struct chunk_iostat s;
	struct chunk_failslow f;
	bool changed;
	uint64_t avg;

	(void)state;
	chunk_iostat_init(&s, 10 * S);
	chunk_failslow_init(&f, 0);
	assert_int_equal(f.threshold_ns, 2 * S);	/* SPEC 4.7 */
	chunk_failslow_init(&f, 100 * MS);
	assert_false(chunk_failslow_judge(&f, &s, 1 * S, &changed, NULL));
	assert_false(changed);

	/* one slow IO is not a slow disk */
	burst(&s, 10 * S, 1, 500 * MS);
	assert_false(chunk_failslow_judge(&f, &s, 10 * S, &changed, NULL));
	/* three of them are: on */
	burst(&s, 11 * S, 2, 500 * MS);
	assert_true(chunk_failslow_judge(&f, &s, 11 * S, &changed, &avg));
	assert_true(changed);
	assert_int_equal(avg, 500 * MS);
	assert_true(chunk_failslow_judge(&f, &s, 11 * S, &changed, NULL));
	assert_false(changed);

	/* below the threshold but not below half of it: stays on */
	burst(&s, 22 * S, 10, 80 * MS);
	assert_true(chunk_failslow_judge(&f, &s, 22 * S, &changed, NULL));
	/* below half, within a window of turning on: stays on */
	chunk_iostat_destroy(&s);
	chunk_iostat_init(&s, 10 * S);
	chunk_failslow_init(&f, 100 * MS);
	burst(&s, 30 * S, 3, 200 * MS);
	assert_true(chunk_failslow_judge(&f, &s, 30 * S, &changed, NULL));
	burst(&s, 39 * S, 100, 1 * MS);
	assert_true(chunk_failslow_judge(&f, &s, 39 * S, &changed, NULL));
	/* a window later, fast IO (avg below half): off */
	assert_false(chunk_failslow_judge(&f, &s, 40 * S, &changed, &avg));
	assert_true(changed);
	assert_true(avg < 50 * MS);

	/* on again; an idle window changes nothing */
	burst(&s, 60 * S, 3, 300 * MS);
	assert_true(chunk_failslow_judge(&f, &s, 60 * S, &changed, NULL));
	assert_true(chunk_failslow_judge(&f, &s, 75 * S, &changed, NULL));	/* no sample */
	assert_true(chunk_failslow_judge(&f, &s, 100 * S, &changed, NULL));
	/* two fast samples (fewer than the minimum) change nothing either */
	burst(&s, 101 * S, 2, 1 * MS);
	assert_true(chunk_failslow_judge(&f, &s, 101 * S, &changed, NULL));
	/* six windows without a sample: off */
	assert_true(chunk_failslow_judge(&f, &s, 160 * S, &changed, NULL));
	assert_false(chunk_failslow_judge(&f, &s, 161 * S, &changed, NULL));
	assert_true(changed);
	chunk_iostat_destroy(&s);
}

/* flapping latency around the threshold does not flap the flag */
static void test_failslow_no_flap(void **state)
{
	struct chunk_iostat s;
	struct chunk_failslow f;
	int changes = 0;
	bool changed;

	(void)state;
	chunk_iostat_init(&s, 10 * S);
	chunk_failslow_init(&f, 100 * MS);
	for (uint64_t t = 1; t < 300; t++) {
		/* alternately 10% above and 10% below the threshold */
		burst(&s, t * S, 5, (t / 5) % 2 ? 110 * MS : 90 * MS);
		chunk_failslow_judge(&f, &s, t * S, &changed, NULL);
		changes += changed;
	}
	assert_int_equal(changes, 1);	/* on, and it stays */
	assert_true(f.on);
	chunk_iostat_destroy(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_hist_slots),
		cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_failslow_hysteresis),
		cmocka_unit_test(test_failslow_no_flap),
	};

	return cmocka_run_group_tests_name("iostat", tests, NULL, NULL);
}
