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

#include "recover_gate.h"
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

/* No ceiling (meta's budget unlimited, no max_bps): slow start while
 * clients do IO (16 MiB/s, x2 per calm interval); unlimited once the limit
 * does not bind (at least 64 MiB/s and above 2x what was copied); the
 * first cut halves the copy rate measured over the interval, then +8 per
 * interval, and a limit below 64 MiB/s stays even when the copy is slower. */
static void test_unlimited(void **state)
{
	/* bytes: copied at the tick, counted in the interval after it */
	static const struct step s[] = {
		{ 0, 1000, 4 * MIB, 16 },	/* a copy starts, clients: slow */
		{ IV, 1000, 8 * MIB, 32 },	/* seen 16: x2 */
		{ IV, 1000, 16 * MIB, 64 },	/* seen 32 */
		{ IV, 1000, 2 * MIB, 128 },	/* seen 64: binds */
		{ IV, 1000, 20 * MIB, 0 },	/* seen 8 < 128 / 2: unlimited */
		{ IV, 3000, 2 * MIB, 40 },	/* seen 80: 40 */
		{ IV, 1000, 2 * MIB, 48 },	/* seen 8: + 8 (< 64, kept) */
		{ IV, 1000, 2 * MIB, 56 },
		{ IV, 1000, 2 * MIB, 64 },
		{ IV, 1000, 0, 0 },		/* 64, seen 8: unlimited */
		{ 4 * IV, 0, 0, 0 },		/* idle; starts without clients */
		{ IV, 0, 0, 0 },
		{ IV, 1000, 0, 16 },		/* clients arrive: slow start */
		{ IV, 1000, 0, 32 },
		{ IV, 0, 0, 64 },		/* they leave: nothing to hold */
		{ IV, 0, 0, 0 },
		{ IV, 3000, 0, 8 },		/* they arrive suffering: from 16 */
		{ 4 * IV, 1000, 0, 16 },	/* idle; starts with clients */
		{ IV, 3000, 0, 8 },		/* cut: slow start ends */
		{ IV, 1000, 0, 16 },		/* held from cuts, raised: + 8 */
		{ IV, 1000, 0, 24 },
	};
	struct recover_pace p;

	recover_pace_init(&p, NULL, fake_lat, NULL);
	run(&p, s, sizeof(s) / sizeof(s[0]));
	assert_int_equal(p.cuts, 3);
}

/*
 * A client IO while the copy runs unlimited for want of clients: slow start
 * at once, not at the next decision; once (the flag clears); not when the
 * copy stopped (no tick for 2 intervals), nor under a ceiling, nor while
 * the rate is limited already.
 */
static void test_client_io_arrival(void **state)
{
	struct recover_pace p;
	uint64_t now = 1000 * MS;

	(void)state;
	recover_pace_init(&p, NULL, fake_lat, NULL);
	assert_false(recover_pace_client_io(&p, now));		/* no copy yet */
	cur_lat = 0;
	assert_int_equal(recover_pace_tick(&p, now, MIB), 0);	/* no clients: unlimited */
	assert_int_equal(recover_pace_tick(&p, now + 10 * MS, MIB), 0);
	assert_true(recover_pace_client_io(&p, now + 20 * MS));
	assert_int_equal(p.rate, RECOVER_PACE_START_BPS);
	assert_false(recover_pace_client_io(&p, now + 21 * MS));	/* once */
	cur_lat = 100 * US;
	assert_int_equal(recover_pace_tick(&p, now + 30 * MS, MIB), RECOVER_PACE_START_BPS);
	/* the interval restarted at the arrival: no decision before it ends */
	calls = 0;
	assert_int_equal(recover_pace_tick(&p, now + 20 * MS + IV * MS - MS, MIB),
			 RECOVER_PACE_START_BPS);
	assert_int_equal(calls, 0);
	assert_int_equal(recover_pace_tick(&p, now + 20 * MS + IV * MS, MIB),
			 2 * RECOVER_PACE_START_BPS);		/* calm: x2 */

	/* the copy stopped: a client IO 2 intervals after its last tick is
	 * no arrival (the next copy's first tick decides) */
	recover_pace_init(&p, NULL, fake_lat, NULL);
	cur_lat = 0;
	recover_pace_tick(&p, now, MIB);
	assert_false(recover_pace_client_io(&p, now + 2 * IV * MS));
	assert_int_equal(p.rate, 0);

	/* meta's budget binds: the copy was never unlimited */
	recover_pace_init(&p, NULL, fake_lat, NULL);
	recover_pace_set_ceiling(&p, 100 * MIB);
	recover_pace_tick(&p, now, MIB);
	assert_false(recover_pace_client_io(&p, now + MS));
	assert_int_equal(p.rate, 100 * MIB);

	/* clients were there when it started: slow start already */
	recover_pace_init(&p, NULL, fake_lat, NULL);
	cur_lat = 100 * US;
	assert_int_equal(recover_pace_tick(&p, now, MIB), RECOVER_PACE_START_BPS);
	assert_false(recover_pace_client_io(&p, now + MS));
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
	/* samples while no copy runs: 1/8 of the way, either way */
	recover_pace_idle(&p, 100 * US);
	assert_int_equal(p.baseline_ns, 800 * US);
	recover_pace_idle(&p, 1600 * US);
	assert_int_equal(p.baseline_ns, 900 * US);
	recover_pace_idle(&p, 0);			/* no client IO: nothing */
	assert_int_equal(p.baseline_ns, 900 * US);
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

/*
 * The chunk's brake (recover_gate.c) on a simulated copy: one stream of
 * 1 MiB recovery requests, each served 1 ms after the gate lets it go
 * (the chunk could copy 1000 MiB/s), and client IO every 10 ms at the
 * latency of the phase. Returns the MiB let through in the phase's last
 * second; *waited: whether any request of the phase waited.
 */
static uint64_t gate_phase(struct recover_gate *g, uint64_t *now, uint64_t secs, uint64_t lat_us,
			   bool *waited)
{
	uint64_t end = *now + secs * 1000 * MS, next_client = *now, last = 0;

	*waited = false;
	while (*now < end) {
		uint64_t d;

		while (next_client <= *now) {
			recover_gate_client(g, next_client, lat_us * US);
			next_client += 10 * MS;
		}
		d = recover_gate_delay(g, *now, MIB);
		assert_true(d <= RECOVER_GATE_MAX_WAIT_NS);
		if (d)
			*waited = true;
		*now += d + MS;
		if (*now > end - 1000 * MS)
			last++;
	}
	return last;
}

/* Clients at their baseline: the copy is never held; they suffer (10x):
 * it is cut down to the floor; they recover: it grows back (AIMD). */
static void test_gate_backs_off(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS, mib, rate, cuts;
	bool waited;

	(void)state;
	recover_gate_init(&g, true, NULL);
	for (uint64_t t = now - 1000 * MS; t < now; t += 10 * MS)
		recover_gate_client(&g, t, 100 * US);	/* the baseline: 100 us */
	mib = gate_phase(&g, &now, 3, 100, &waited);
	recover_gate_stat(&g, &rate, &cuts);
	assert_int_equal(rate, 0);		/* out of slow start: unlimited */
	assert_int_equal(cuts, 0);
	assert_true(mib > 500);
	mib = gate_phase(&g, &now, 5, 1000, &waited);
	assert_true(waited);
	recover_gate_stat(&g, &rate, &cuts);
	assert_int_equal(rate, RECOVER_PACE_FLOOR_BPS);
	assert_true(cuts >= 5);
	assert_true(mib <= RECOVER_PACE_FLOOR_BPS / MIB + 1);
	mib = gate_phase(&g, &now, 5, 100, &waited);
	recover_gate_stat(&g, &rate, &cuts);
	assert_true(rate == 0 || rate > 50 * MIB);	/* +8 MiB/s per 250 ms */
	assert_true(mib > 40);
	recover_gate_destroy(&g);
}

/*
 * The clients' tail: during the copy 1 client IO in 16 takes 6x its time
 * (queued behind the copy's IO), the others as before. Their average rises
 * by a third (below the 1.5x of congestion), their p95 by 6x: the gate
 * holds the copy back.
 */
static void test_gate_tail(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS, rate, cuts, next_client, end;
	unsigned k = 0;

	(void)state;
	recover_gate_init(&g, true, NULL);
	for (uint64_t t = now - 1000 * MS; t < now; t += MS)
		recover_gate_client(&g, t, 100 * US);	/* the baseline: 100 us */
	next_client = now;
	end = now + 3000 * MS;
	while (now < end) {
		while (next_client <= now) {
			recover_gate_client(&g, next_client, ++k % 16 ? 100 * US : 600 * US);
			next_client += MS;
		}
		now += recover_gate_delay(&g, now, MIB) + MS;
	}
	assert_true(chunk_iostat_avg_ns(&g.client, now) < 150 * US);
	recover_gate_stat(&g, &rate, &cuts);
	assert_true(cuts >= 3);
	assert_true(rate && rate <= 64 * MIB);
	recover_gate_destroy(&g);
}

/* One interval from now of 1 MiB copy requests, each served 1 ms after the
 * gate lets it go, and client IO every 10 ms at 100 us: the MiB let through. */
static uint64_t gate_one_interval(struct recover_gate *g, uint64_t now)
{
	uint64_t end = now + IV * MS, next_client = now, mib = 0;

	while (now < end) {
		while (next_client <= now) {
			recover_gate_client(g, next_client, 100 * US);
			next_client += 10 * MS;
		}
		now += recover_gate_delay(g, now, MIB) + MS;
		mib++;
	}
	return mib;
}

/* A copy that starts while clients do IO starts at 16 MiB/s and doubles
 * while they do not suffer: its first interval lets through 1/4 s of
 * 16 MiB/s (and the request that opens it), not what the chunk can copy. */
static void test_gate_slow_start(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS, rate;

	(void)state;
	recover_gate_init(&g, true, NULL);
	for (uint64_t t = now - 1000 * MS; t < now; t += 10 * MS)
		recover_gate_client(&g, t, 100 * US);
	assert_in_range(gate_one_interval(&g, now), 4, 6);
	recover_gate_stat(&g, &rate, NULL);
	assert_int_equal(rate, RECOVER_PACE_START_BPS);
	recover_gate_destroy(&g);
}

/*
 * A copy runs unlimited on an idle chunk, then clients arrive: from their
 * first IO the copy is held to slow start's 16 MiB/s. In the quarter second
 * after it, about 4 MiB go (1 MiB requests), not the 250 MiB the chunk
 * could copy before the next decision.
 */
static void test_gate_clients_arrive(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS, rate;

	(void)state;
	recover_gate_init(&g, true, NULL);
	for (uint64_t end = now + 100 * MS; now < end; now += MS)	/* no clients: unlimited */
		assert_int_equal(recover_gate_delay(&g, now, MIB), 0);
	assert_in_range(gate_one_interval(&g, now), 4, 6);
	recover_gate_stat(&g, &rate, NULL);
	assert_int_equal(rate, RECOVER_PACE_START_BPS);
	recover_gate_destroy(&g);
}

/*
 * The baseline follows the clients while no copy runs: they were at
 * 100 us, their load grows to 400 us for 10 s with no recovery, then a copy
 * starts. It is not blamed for the 400 us (no cut), while 4x above that
 * still is.
 */
static void test_gate_clients_return(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS, rate, cuts;
	bool waited;

	(void)state;
	recover_gate_init(&g, true, NULL);
	gate_phase(&g, &now, 2, 100, &waited);		/* a first copy */
	for (uint64_t end = now + 10000 * MS; now < end; now += MS)
		recover_gate_client(&g, now, 400 * US);	/* no copy, more load */
	assert_true(g.pace.baseline_ns >= 350 * US);
	gate_phase(&g, &now, 3, 400, &waited);
	recover_gate_stat(&g, &rate, &cuts);
	assert_int_equal(cuts, 0);
	assert_int_equal(rate, 0);
	gate_phase(&g, &now, 2, 1600, &waited);
	recover_gate_stat(&g, &rate, &cuts);
	assert_true(cuts >= 1);
	recover_gate_destroy(&g);
}

/* No client IO at all: nothing to protect, the copy goes as it comes. */
static void test_gate_no_clients(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS;

	(void)state;
	recover_gate_init(&g, true, NULL);
	for (int i = 0; i < 5000; i++, now += MS)
		assert_int_equal(recover_gate_delay(&g, now, MIB), 0);
	recover_gate_destroy(&g);
}

/* zbs-chunkd --no-recover-pace: never held, whatever the clients see;
 * turned on later, it brakes. */
static void test_gate_off(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS;
	bool waited;

	(void)state;
	recover_gate_init(&g, false, NULL);
	gate_phase(&g, &now, 1, 100, &waited);
	gate_phase(&g, &now, 3, 5000, &waited);
	assert_false(waited);
	recover_gate_set(&g, true);
	gate_phase(&g, &now, 1, 100, &waited);
	gate_phase(&g, &now, 3, 5000, &waited);
	assert_true(waited);
	recover_gate_destroy(&g);
}

/* Many copies queued at once at the floor: none waits beyond the bound
 * (the executor's request timeout is 9 s), and the first waits nothing. */
static void test_gate_wait_bounded(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS, rate;
	bool waited;

	(void)state;
	recover_gate_init(&g, true, NULL);
	gate_phase(&g, &now, 1, 100, &waited);
	gate_phase(&g, &now, 5, 2000, &waited);
	recover_gate_stat(&g, &rate, NULL);
	assert_int_equal(rate, RECOVER_PACE_FLOOR_BPS);
	now += 3000 * MS;		/* the bucket is empty again */
	recover_gate_client(&g, now, 2000 * US);
	assert_int_equal(recover_gate_delay(&g, now, MIB), 0);
	/* a new copy: slow start, 1 MiB at 16 MiB/s */
	assert_int_equal(recover_gate_delay(&g, now, MIB), 1000 * MS / 16);
	for (int i = 0; i < 64; i++)
		assert_true(recover_gate_delay(&g, now, MIB) <= RECOVER_GATE_MAX_WAIT_NS);
	assert_int_equal(recover_gate_delay(&g, now, MIB), RECOVER_GATE_MAX_WAIT_NS);
	recover_gate_destroy(&g);
}

/* Connection threads read the clock before they race to the gate's lock: a
 * `now` older than the last one is taken as the last one, not as a long
 * idle time (which would mix the congested latency into the baseline). */
static void test_gate_time_back(void **state)
{
	struct recover_gate g;
	uint64_t now = 10000 * MS, base;

	(void)state;
	recover_gate_init(&g, true, NULL);
	for (uint64_t t = now - 1000 * MS; t < now; t += 10 * MS)
		recover_gate_client(&g, t, 100 * US);
	recover_gate_delay(&g, now, MIB);		/* idle: the baseline */
	base = g.pace.baseline_ns;			/* 100 us within a slot */
	assert_true(base >= 100 * US && base <= 113 * US);
	for (uint64_t t = now; t < now + 100 * MS; t += 10 * MS)
		recover_gate_client(&g, t, 1000 * US);
	recover_gate_delay(&g, now + 100 * MS, MIB);
	recover_gate_delay(&g, now + 50 * MS, MIB);	/* read earlier, locked later */
	assert_int_equal(g.pace.baseline_ns, base);
	recover_gate_destroy(&g);
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
		cmocka_unit_test(test_client_io_arrival),
		cmocka_unit_test(test_max_bps),
		cmocka_unit_test(test_idle_is_baseline),
		cmocka_unit_test(test_first_sample_baseline),
		cmocka_unit_test(test_latency_calls),
		cmocka_unit_test(test_ceiling_changes),
		cmocka_unit_test(test_gate_backs_off),
		cmocka_unit_test(test_gate_tail),
		cmocka_unit_test(test_gate_slow_start),
		cmocka_unit_test(test_gate_clients_arrive),
		cmocka_unit_test(test_gate_clients_return),
		cmocka_unit_test(test_gate_no_clients),
		cmocka_unit_test(test_gate_off),
		cmocka_unit_test(test_gate_wait_bounded),
		cmocka_unit_test(test_gate_time_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
