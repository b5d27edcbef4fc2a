// SPDX-License-Identifier: GPL-2.0
/*
 * The recovery pacing controller (recover_pace.c), table-driven: sequences
 * of client latencies (a fake latency callback, a fake clock) and the
 * allowed copy rate after each step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "recover_blklat.h"
#include "recover_pace.h"

#define MIB (1ULL << 20)
#define MS 1000000ULL
#define US 1000ULL
#define IV (RECOVER_PACE_INTERVAL_NS / MS)	/* the default interval, ms */

struct step {
	uint64_t dt_ms;		/* since the previous step */
	uint64_t lat_us;	/* the callback's answer */
	uint64_t bytes;		/* copied at this tick */
	uint64_t want_mib;	/* allowed rate after it, MiB/s (0: unlimited) */
};

static uint64_t cur_lat;
static unsigned calls;

static uint64_t fake_lat(void *arg, uint64_t now)
{
	(void)arg;
	(void)now;
	calls++;
	return cur_lat;
}

/* Run steps from t=1 s; the first tick is the baseline sample. */
static void run(struct recover_pace *p, const struct step *s, size_t n)
{
	uint64_t now = 1000 * MS;

	for (size_t i = 0; i < n; i++) {
		uint64_t got;

		now += s[i].dt_ms * MS;
		cur_lat = s[i].lat_us * US;
		got = recover_pace_tick(p, now, s[i].bytes);
		if (got != s[i].want_mib * MIB) {
			print_error("step %zu (lat %llu us): rate %llu B/s, want %llu MiB/s\n", i,
				    (unsigned long long)s[i].lat_us, (unsigned long long)got,
				    (unsigned long long)s[i].want_mib);
			fail();
		}
	}
}

/* No callback: the ceiling (meta's budget), whatever it becomes. */
static void test_no_latency_is_ceiling(void **state)
{
	struct recover_pace p;

	recover_pace_init(&p, NULL, NULL, NULL);
	assert_int_equal(recover_pace_tick(&p, 1, 256 << 10), 0);
	recover_pace_set_ceiling(&p, 10 * MIB);
	assert_int_equal(recover_pace_tick(&p, 2, 256 << 10), 10 * MIB);
	recover_pace_set_ceiling(&p, 0);
	assert_int_equal(recover_pace_tick(&p, 3, 256 << 10), 0);
}

/* Baseline 1 ms; 2 ms (> 1.5x) halves the rate, one interval held, halves
 * again; back to 1 ms it grows by 8 MiB/s per interval to the ceiling. */
static void test_cut_hold_and_grow(void **state)
{
	static const struct step s[] = {
		{ 0, 1000, 0, 100 },	/* baseline sample */
		{ IV, 1000, 0, 100 },	/* fine, at the ceiling */
		{ IV / 2, 5000, 0, 100 },	/* within the interval: no decision */
		{ IV / 2, 2000, 0, 50 },	/* congested: cut */
		{ IV, 2000, 0, 50 },	/* held */
		{ IV, 2000, 0, 25 },	/* cut again */
		{ IV, 1400, 0, 33 },	/* 1.4x: fine, + 8 (a hold stops cuts only) */
		{ IV, 1400, 0, 41 },
		{ IV, 1000, 0, 49 },
		{ IV, 0, 0, 57 },	/* no client IO: fine */
		{ IV, 1000, 0, 65 }, { IV, 1000, 0, 73 }, { IV, 1000, 0, 81 },
		{ IV, 1000, 0, 89 }, { IV, 1000, 0, 97 },
		{ IV, 1000, 0, 100 },	/* capped at the ceiling */
		{ IV, 1000, 0, 100 },
	};
	struct recover_pace p;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 100 * MIB);
	run(&p, s, sizeof(s) / sizeof(s[0]));
	assert_int_equal(p.baseline_ns, 1000 * US);
	assert_int_equal(p.cuts, 2);
}

/* Latency stays high: halving down to the floor (4 MiB/s), never below. */
static void test_floor(void **state)
{
	static const struct step s[] = {
		{ 0, 1000, 0, 64 },
		{ IV, 9000, 0, 32 }, { IV, 9000, 0, 32 }, { IV, 9000, 0, 16 },
		{ IV, 9000, 0, 16 }, { IV, 9000, 0, 8 }, { IV, 9000, 0, 8 },
		{ IV, 9000, 0, 4 }, { IV, 9000, 0, 4 }, { IV, 9000, 0, 4 },
		{ IV, 9000, 0, 4 },
	};
	struct recover_pace p;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 64 * MIB);
	run(&p, s, sizeof(s) / sizeof(s[0]));
}

/* At the floor the baseline follows the latency (1/16 per interval): a
 * lasting 3x client load stops counting as recovery's fault. */
static void test_floor_baseline_follows(void **state)
{
	struct recover_pace p;
	uint64_t now = 1000 * MS;
	unsigned at_floor = 0, i;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 8 * MIB);
	cur_lat = 1000 * US;
	recover_pace_tick(&p, now, 0);
	cur_lat = 3000 * US;
	for (i = 0; i < 100; i++) {
		now += IV * MS;
		if (recover_pace_tick(&p, now, 0) == RECOVER_PACE_FLOOR_BPS)
			at_floor++;
		else if (at_floor)
			break;
	}
	/* 1 ms -> above 2 ms (3 ms < 1.5 x baseline): 11 intervals of 1/16 */
	assert_in_range(at_floor, 8, 14);
	assert_int_equal(recover_pace_tick(&p, now, 0), 8 * MIB);	/* 4 + 8, capped */
	assert_true(p.baseline_ns > 2000 * US);
}

/* The absolute bound cuts even below k x baseline. */
static void test_abs_bound(void **state)
{
	static const struct step s[] = {
		{ 0, 4000, 0, 40 },
		{ IV, 5500, 0, 20 },	/* < 1.5 x 4 ms, > 5 ms */
		{ IV, 4900, 0, 28 },	/* fine: + 8 */
		{ IV, 4900, 0, 36 },
	};
	struct recover_pace_cfg cfg = { .abs_ns = 5 * MS };
	struct recover_pace p;

	recover_pace_init(&p, &cfg, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 40 * MIB);
	run(&p, s, sizeof(s) / sizeof(s[0]));
}

/* No ceiling (meta's budget unlimited, no max_bps): unlimited until the
 * first cut, which halves the copy rate measured over the interval; back
 * to unlimited once the limit does not bind (above 2x what was copied). */
static void test_unlimited(void **state)
{
	/* 20 MiB per 250 ms interval = 80 MiB/s */
	static const struct step s[] = {
		{ 0, 1000, 10 * MIB, 0 },
		{ IV / 2, 1000, 10 * MIB, 0 },
		{ IV / 2, 3000, 10 * MIB, 40 },	/* 80 MiB/s seen: 40 */
		{ IV, 1000, 12 * MIB, 48 },	/* seen 40, fine: + 8 */
		{ IV, 1000, 2 * MIB, 56 },	/* seen 48 */
		{ IV, 1000, 0, 0 },		/* seen 8 < 56 / 2: unlimited */
		{ IV, 1000, 0, 0 },
	};
	struct recover_pace p;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	run(&p, s, sizeof(s) / sizeof(s[0]));
	assert_int_equal(p.cuts, 1);
}

/* max_bps is the ceiling when meta's budget is unlimited. */
static void test_max_bps(void **state)
{
	static const struct step s[] = {
		{ 0, 1000, 0, 30 }, { IV, 2000, 0, 15 }, { IV, 1000, 0, 23 },
		{ IV, 1000, 0, 30 }, { IV, 1000, 0, 30 },
	};
	struct recover_pace_cfg cfg = { .max_bps = 30 * MIB };
	struct recover_pace p;

	recover_pace_init(&p, &cfg, fake_lat, NULL);
	run(&p, s, sizeof(s) / sizeof(s[0]));
}

/* A tick after 2 idle intervals is a baseline sample, no decision; a
 * lower one takes the baseline down at once, a higher one 1/8 of the way. */
static void test_idle_is_baseline(void **state)
{
	static const struct step s[] = {
		{ 0, 2000, 0, 64 },
		{ IV, 5000, 0, 32 },
		{ 4 * IV, 800, 0, 32 },		/* idle: baseline 0.8 ms */
		{ IV, 1500, 0, 16 },		/* 1.5 ms > 1.2 ms */
		{ 4 * IV, 1600, 0, 16 },	/* idle: baseline 0.8 + 0.1 */
		{ IV, 1300, 0, 24 },		/* < 1.35 ms: fine */
	};
	struct recover_pace p;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 64 * MIB);
	run(&p, s, sizeof(s) / sizeof(s[0]));
	assert_int_equal(p.baseline_ns, 900 * US);
	recover_pace_idle(&p, 100 * US);
	assert_int_equal(p.baseline_ns, 100 * US);
}

/* A source that has no window at its first call (0): the first sample of
 * a decision is the baseline, a higher one later cuts. */
static void test_first_sample_baseline(void **state)
{
	static const struct step s[] = {
		{ 0, 0, 0, 64 },		/* no window yet */
		{ IV, 2000, 0, 64 },		/* the baseline: fine */
		{ IV, 2500, 0, 64 },		/* 1.25x */
		{ IV, 3500, 0, 32 },		/* 1.75x: cut */
	};
	struct recover_pace p;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 64 * MIB);
	run(&p, s, sizeof(s) / sizeof(s[0]));
	assert_int_equal(p.baseline_ns, 2000 * US);
}

/* The callback is asked once per decision (and on an idle tick), not per
 * block. */
static void test_latency_calls(void **state)
{
	struct recover_pace p;
	uint64_t now = 1000 * MS;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 64 * MIB);
	cur_lat = 1000 * US;
	calls = 0;
	for (int i = 0; i <= 100; i++)	/* 1 s in 10 ms ticks */
		recover_pace_tick(&p, now + i * 10 * MS, 256 << 10);
	assert_int_equal(calls, 1 + 1000 / IV);
}

/* Meta's budget changes: a lower one applies at once, a higher one lifts
 * only a rate at the old ceiling; the floor never exceeds the ceiling. */
static void test_ceiling_changes(void **state)
{
	static const struct step s[] = {
		{ 0, 1000, 0, 100 }, { IV, 3000, 0, 50 },
	};
	struct recover_pace p;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 100 * MIB);
	run(&p, s, sizeof(s) / sizeof(s[0]));
	recover_pace_set_ceiling(&p, 200 * MIB);
	assert_int_equal(p.rate, 50 * MIB);	/* still cut: AIMD raises it */
	recover_pace_set_ceiling(&p, 40 * MIB);
	assert_int_equal(p.rate, 40 * MIB);
	recover_pace_set_ceiling(&p, 2 * MIB);
	assert_int_equal(p.rate, 2 * MIB);
	cur_lat = 9000 * US;			/* congested: the floor is 2 MiB/s */
	assert_int_equal(recover_pace_tick(&p, 1500 * MS, 0), 2 * MIB);
	recover_pace_set_ceiling(&p, 0);	/* at the old ceiling: follows it */
	assert_int_equal(p.rate, 0);
}

static void put_stat(const char *dir, const char *dev, unsigned rd, unsigned rms, unsigned wr,
		     unsigned wms)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, dev);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/stat", dir, dev);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%8u 0 %8u %8u %8u 0 %8u %8u 0 0 0 0 0 0 0 0 0\n", rd, rd * 8, rms, wr, wr * 8,
		wms);
	fclose(f);
}

/* The stand-in source: this node's zbs<N> devices' (ms summed) / (ios)
 * between two calls; other devices ignored; 0 without IO or at first. */
static void test_blklat(void **state)
{
	char dir[] = "/tmp/zbs-blklat.XXXXXX";
	struct recover_blklat b = { .sys_block = dir };
	char cmd[64];

	assert_non_null(mkdtemp(dir));
	put_stat(dir, "zbs0", 100, 50, 100, 150);
	put_stat(dir, "zbs12", 0, 0, 10, 10);
	put_stat(dir, "loop0", 1000, 99999, 0, 0);
	assert_int_equal(recover_blklat_avg_ns(&b, 0), 0);		/* primes */
	assert_int_equal(recover_blklat_avg_ns(&b, 0), 0);		/* no IO */
	/* 300 ios more taking 600 ms: 2 ms each */
	put_stat(dir, "zbs0", 200, 150, 250, 550);
	put_stat(dir, "zbs12", 0, 0, 60, 110);
	put_stat(dir, "loop0", 9000, 1, 0, 0);
	assert_int_equal(recover_blklat_avg_ns(&b, 0), 2 * MS);
	/* 4 ios, 1 ms in all: 250 us */
	put_stat(dir, "zbs0", 204, 151, 250, 550);
	assert_int_equal(recover_blklat_avg_ns(&b, 0), 250 * US);
	/* zbs12 goes away: the sums drop, start again */
	snprintf(cmd, sizeof(cmd), "rm -rf %s/zbs12", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(recover_blklat_avg_ns(&b, 0), 0);
	put_stat(dir, "zbs0", 214, 181, 250, 550);
	assert_int_equal(recover_blklat_avg_ns(&b, 0), 3 * MS);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	b.primed = false;
	assert_int_equal(recover_blklat_avg_ns(&b, 0), 0);		/* no dir */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_latency_is_ceiling),
		cmocka_unit_test(test_cut_hold_and_grow),
		cmocka_unit_test(test_floor),
		cmocka_unit_test(test_floor_baseline_follows),
		cmocka_unit_test(test_abs_bound),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_max_bps),
		cmocka_unit_test(test_idle_is_baseline),
		cmocka_unit_test(test_first_sample_baseline),
		cmocka_unit_test(test_latency_calls),
		cmocka_unit_test(test_ceiling_changes),
		cmocka_unit_test(test_blklat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
