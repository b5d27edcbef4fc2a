// SPDX-License-Identifier: GPL-2.0
/* Rebalance policy: the SPEC's scenarios and tables of cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core.h"
#include "location.h"
#include "rebalance.h"

#define E ZBS_EXTENT_SIZE

static uint32_t L(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t l = 0;

	l = loc_add(l, a);
	if (b)
		l = loc_add(l, b);
	if (c)
		l = loc_add(l, c);
	return l;
}

/* a healthy chunk with `valid` and `alloc` extents, room for cmds */
static struct meta_rebal_chunk CH(uint32_t cid, uint64_t rack, uint64_t valid, uint64_t alloc)
{
	struct meta_rebal_chunk c = {
		.pc = { .cid = cid, .healthy = true, .topo = { .zone = 1, .rack = rack,
							       .brick = rack },
			.valid = valid * E, .allocated = alloc * E },
		.used = alloc * E / 2,
		.slots = 128,
	};
	return c;
}

static struct meta_rebal_pext PX(uint64_t pid, uint32_t loc, uint32_t prefer)
{
	struct meta_rebal_pext p = {
		.pid = pid, .location = loc, .alive_location = loc,
		.expected = (uint32_t)loc_count(loc), .owner = prefer, .prefer_cid = prefer,
	};
	return p;
}

/* ---- SPEC 6.4: the notes' 8-pid observation ---- */

/*
 * Five chunks with no topology objects, low load; pid i's prefer local and
 * owner is its first replica. The product made 3 moves (pid 5: src 5 dst 3
 * replace 2, pid 7: src 3 dst 4 replace 5, pid 8: src 4 dst 5 replace 1)
 * and the notes call it strange. Ours: the expected set of a prefer local
 * is the low-load chain new pextents get (chain going down from prefer
 * local among chunks all equally far apart): 5 -> {5,4,3}, 1 -> {1,5,4},
 * 3 -> {3,2,1}, 4 -> {4,3,2}. No pid sits on its expected set, so each
 * gets one move towards it, and identical pids get identical moves (the
 * set does not depend on space, so it is stable).
 */
static void test_spec_8pids(void **state)
{
	struct meta_rebal_chunk c[5];
	static const uint32_t locs[8][3] = {
		{ 5, 1, 2 }, { 1, 3, 4 }, { 3, 2, 5 }, { 4, 2, 1 },
		{ 5, 1, 2 }, { 1, 3, 4 }, { 3, 2, 5 }, { 4, 2, 1 },
	};
	/* src, dst, replace */
	static const uint32_t want[4][3] = { { 2, 4, 2 }, { 3, 5, 3 }, { 5, 1, 5 }, { 1, 3, 1 } };
	struct meta_rebal_pext p[8];
	struct meta_rebal_move m[16];
	struct meta_rebal_plan info;
	size_t n;

	(void)state;
	for (uint32_t i = 0; i < 5; i++) {
		c[i] = CH(i + 1, 0, 100, 10);
		memset(&c[i].pc.topo, 0, sizeof(c[i].pc.topo));
	}
	for (int i = 0; i < 8; i++)
		p[i] = PX((uint64_t)i + 1, L(locs[i][0], locs[i][1], locs[i][2]), locs[i][0]);
	for (int i = 0; i < 8; i++) {
		struct meta_rebal_move one;

		assert_int_equal(meta_rebal_localize(&p[i], c, 5, &one), META_REBAL_MOVE);
		assert_int_equal(one.src, want[i % 4][0]);
		assert_int_equal(one.dst, want[i % 4][1]);
		assert_int_equal(one.replace, want[i % 4][2]);
	}
	n = meta_rebal_plan(p, 8, c, 5, NULL, m, 16, &info);
	assert_int_equal(info.level, META_LOAD_LOW);
	assert_int_equal(n, 8);
	assert_int_equal(info.localize, 8);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(m[i].pid, i + 1);
		assert_int_equal(m[i].dst, want[i % 4][1]);
		assert_int_equal(m[i].why, META_REBAL_LOCALIZE);
	}
	/* a pid on its expected set stays */
	p[0].location = p[0].alive_location = L(5, 4, 3);
	assert_int_equal(meta_rebal_localize(&p[0], c, 5, &m[0]), META_REBAL_IN_PLACE);
}

/* ---- SPEC 6.4: the "no migrate" rules ---- */

static void test_localize_rules(void **state)
{
	struct meta_rebal_chunk c[5], k[5];
	struct meta_rebal_pext p, q;
	struct meta_rebal_move m;

	(void)state;
	for (uint32_t i = 0; i < 5; i++) {
		c[i] = CH(i + 1, 0, 100, 10);
		memset(&c[i].pc.topo, 0, sizeof(c[i].pc.topo));
	}
	p = PX(1, L(5, 1, 2), 5);

	memcpy(k, c, sizeof(k));
	k[4].pc.healthy = false;
	assert_int_equal(meta_rebal_localize(&p, k, 5, &m), META_REBAL_PREFER_DOWN);

	q = p;
	q.temporary = true;
	assert_int_equal(meta_rebal_localize(&q, c, 5, &m), META_REBAL_UNSETTLED);
	q = p;
	q.has_cmd = true;
	assert_int_equal(meta_rebal_localize(&q, c, 5, &m), META_REBAL_UNSETTLED);
	q = p;
	q.alive_location = L(5, 1, 0);	/* needs a recover first */
	assert_int_equal(meta_rebal_localize(&q, c, 5, &m), META_REBAL_UNSETTLED);
	q = p;
	q.even = true;
	assert_int_equal(meta_rebal_localize(&q, c, 5, &m), META_REBAL_NO_PREFER);

	memcpy(k, c, sizeof(k));
	k[3].cmds = META_REBAL_MAX_CMDS + 1;	/* dst 4 is busy */
	assert_int_equal(meta_rebal_localize(&p, k, 5, &m), META_REBAL_BUSY);
	memcpy(k, c, sizeof(k));
	k[1].slots = 0;				/* src 2 has no slot */
	assert_int_equal(meta_rebal_localize(&p, k, 5, &m), META_REBAL_BUSY);

	/* dst 4 full: the next of the expected set, 3 */
	memcpy(k, c, sizeof(k));
	k[3].pc.allocated = k[3].pc.valid;
	assert_int_equal(meta_rebal_localize(&p, k, 5, &m), META_REBAL_MOVE);
	assert_int_equal(m.dst, 3);
	/* 4 and 3 full: super high, so the expected set is {5, 2, 1} now (no
	 * chunk is pushed to super high): in place */
	k[2].pc.allocated = k[2].pc.valid;
	assert_int_equal(meta_rebal_localize(&p, k, 5, &m), META_REBAL_IN_PLACE);
	/* 1 to 4 all full: the set is {5, 4, 3} again and no dst has room
	 * (rule 5, on the dst) */
	k[0].pc.allocated = k[0].pc.valid;
	k[1].pc.allocated = k[1].pc.valid;
	assert_int_equal(meta_rebal_localize(&p, k, 5, &m), META_REBAL_NO_SPACE);

	/* replace: not the owner; the only outsider is the owner: none */
	q = PX(1, L(5, 4, 1), 5);
	q.owner = 1;
	assert_int_equal(meta_rebal_localize(&q, c, 5, &m), META_REBAL_NO_REPLACE);
	/* a failslow outsider is replaced first, read from another replica */
	q = PX(1, L(5, 1, 2), 5);
	memcpy(k, c, sizeof(k));
	k[0].pc.failslow = true;
	assert_int_equal(meta_rebal_localize(&q, k, 5, &m), META_REBAL_MOVE);
	assert_int_equal(m.replace, 1);
	assert_int_not_equal(m.src, 1);
	/* prefer local without a replica is the dst */
	q = PX(1, L(1, 2, 0), 5);
	assert_int_equal(meta_rebal_localize(&q, c, 5, &m), META_REBAL_MOVE);
	assert_int_equal(m.dst, 5);
	assert_int_equal(m.replace, 2);		/* the last outsider in order */
}

/* ---- SPEC 6.9: seven chunks, two racks, cid 5 rack-less at 96% ---- */

/*
 * The product generated no migrate: the rack-less cid 5 was at distance 0
 * from everyone, and it stayed at 96%. Ours: cid 5 is a rack of its own,
 * so every pid (one replica in rack0, one on 5, 6 or 7) is already as safe
 * as one zone allows; the cluster is high (0.657), so capacity rebalance
 * runs and moves replicas off cid 5 to 6 and 7 (rack0 would put both
 * replicas in one rack) until 5, 6 and 7 are level, never less safe.
 */
static void test_spec_7chunks_2racks(void **state)
{
	struct meta_rebal_chunk c[7];
	struct meta_rebal_pext p[230];
	struct meta_rebal_move m[300];
	struct meta_rebal_plan info;
	uint32_t cnt[8] = { 0 };
	size_t n;

	(void)state;
	for (uint32_t i = 0; i < 7; i++) {
		uint32_t cid = i + 1;
		c[i] = CH(cid, cid <= 4 ? 10 : 20, 100, 0);
	}
	c[4].pc.topo.rack = c[4].pc.topo.brick = 0;	/* cid 5: no rack, no brick */
	for (int i = 0; i < 230; i++) {
		uint32_t a = i < 50 ? 1 : i < 110 ? 2 : i < 170 ? 3 : 4;
		uint32_t b = i < 96 ? 5 : i < 163 ? 6 : 7;

		p[i] = PX((uint64_t)i + 1, L(a, b, 0), 0);
		p[i].thick = true;
		cnt[a]++;
		cnt[b]++;
	}
	for (int i = 0; i < 7; i++)
		c[i].pc.allocated = cnt[i + 1] * E;
	assert_int_equal(cnt[5], 96);

	n = meta_rebal_plan(p, 230, c, 7, NULL, m, 300, &info);
	assert_int_equal(info.level, META_LOAD_HIGH);
	assert_int_equal(info.topology, 0);	/* already as safe as can be */
	assert_true(n > 0);
	assert_int_equal(info.capacity, n);
	for (size_t i = 0; i < n; i++) {
		uint32_t other = loc_get(p[m[i].pid - 1].location, 0);

		assert_int_equal(m[i].replace, 5);
		assert_true(m[i].dst == 6 || m[i].dst == 7);
		assert_true(other <= 4);	/* the pair stays rack-apart */
		cnt[5]--;
		cnt[m[i].dst]++;
	}
	printf("# 6.9: %zu moves off cid 5, now 5:%u 6:%u 7:%u of 100\n", n, cnt[5], cnt[6],
	       cnt[7]);
	/* cid 5 is no longer overloaded, and 5, 6, 7 end level (within one) */
	assert_int_equal(c[4].pc.allocated, (uint64_t)cnt[5] * E);
	assert_true(cnt[5] <= 78);
	assert_true(cnt[6] <= cnt[5] && cnt[7] <= cnt[5]);
	assert_true(cnt[5] - cnt[6] <= 1 && cnt[5] - cnt[7] <= 1);
	assert_int_equal(info.out_bytes[5], (uint64_t)n * E);
}

/* ---- SPEC 6.5a: topology repair ---- */

static void test_topology_repair(void **state)
{
	struct meta_rebal_chunk c[6];
	struct meta_rebal_pext p;
	struct meta_rebal_move m;

	(void)state;
	/* racks 10: cids 1, 2; 20: 3, 4; 30: 5, 6 (6 fuller than 5) */
	for (uint32_t i = 0; i < 6; i++)
		c[i] = CH(i + 1, 10 * (i / 2 + 1), 100, 55);
	c[5].pc.allocated = 70 * E;
	c[0].pc.topo.brick = 11;	/* 1 and 2: one rack, two bricks */

	/* 2 replicas in rack 10: one goes to rack 30's lower chunk (5), not the owner's */
	p = PX(7, L(1, 2, 0), 0);
	p.owner = 1;
	assert_int_equal(meta_rebal_topology(&p, c, 6, &m), META_REBAL_MOVE);
	assert_int_equal(m.replace, 2);
	assert_int_equal(m.src, 2);
	assert_true(m.dst == 3 || m.dst == 5);
	/* prefer local in another rack is the dst when it makes it safer */
	p.prefer_cid = 6;
	assert_int_equal(meta_rebal_topology(&p, c, 6, &m), META_REBAL_MOVE);
	assert_int_equal(m.dst, 6);
	/* rack-apart already: in place */
	p = PX(8, L(1, 3, 0), 0);
	assert_int_equal(meta_rebal_topology(&p, c, 6, &m), META_REBAL_IN_PLACE);
	/* three replicas, two in rack 20: the third rack takes one */
	p = PX(9, L(1, 3, 4), 1);
	assert_int_equal(meta_rebal_topology(&p, c, 6, &m), META_REBAL_MOVE);
	assert_true(m.replace == 3 || m.replace == 4);
	assert_int_equal(m.dst, 5);
	/* a failslow replica of the close pair is replaced first */
	c[3].pc.failslow = true;
	assert_int_equal(meta_rebal_topology(&p, c, 6, &m), META_REBAL_MOVE);
	assert_int_equal(m.replace, 4);
	assert_int_not_equal(m.src, 4);		/* not read from the failslow one */
	c[3].pc.failslow = false;
	/* chunk 2 (rack 10, another brick than 1) splits the same-brick pair
	 * 3, 4: better */
	c[4].pc.healthy = false;
	c[5].pc.allocated = c[5].pc.valid;
	assert_int_equal(meta_rebal_topology(&p, c, 6, &m), META_REBAL_MOVE);
	assert_int_equal(m.dst, 2);
	/* a plan at low load: no prefer local, so topology repair */
	{
		struct meta_rebal_chunk k[6];
		struct meta_rebal_move mv[4];
		struct meta_rebal_plan info;
		struct meta_rebal_pext q = PX(10, L(3, 4, 0), 0);

		for (int i = 0; i < 6; i++)
			k[i] = CH((uint32_t)i + 1, 10 * (uint32_t)(i / 2 + 1), 100, 10);
		assert_int_equal(meta_rebal_plan(&q, 1, k, 6, NULL, mv, 4, &info), 1);
		assert_int_equal(info.level, META_LOAD_LOW);
		assert_int_equal(info.topology, 1);
		assert_true(mv[0].dst != 3 && mv[0].dst != 4);
		q.prefer_cid = 3;	/* with one, localization at low load */
		for (int i = 0; i < 6; i++)
			k[i] = CH((uint32_t)i + 1, 10 * (uint32_t)(i / 2 + 1), 100, 10);
		meta_rebal_plan(&q, 1, k, 6, NULL, mv, 4, &info);
		assert_int_equal(info.topology, 0);
		assert_int_equal(info.localize, 1);
	}
	/* 1 and 2 in one brick too, no other chunk can take it: in place */
	c[0].pc.topo.brick = 10;
	c[5].pc.allocated = c[5].pc.valid;
	assert_int_equal(meta_rebal_topology(&p, c, 6, &m), META_REBAL_IN_PLACE);
}

/* ---- SPEC 6.5b and 6.6: what capacity rebalance moves first, and where not ---- */

static void test_capacity_order_and_filter(void **state)
{
	struct meta_rebal_chunk c[3], k[3];
	struct meta_rebal_pext p[3];
	struct meta_rebal_move m[8];
	struct meta_rebal_plan info;
	size_t n;

	(void)state;
	/* three racks; chunk 1 at 90 of 100, 2 at 40, 3 at 70: cluster 0.67 */
	c[0] = CH(1, 10, 100, 90);
	c[1] = CH(2, 20, 100, 40);
	c[2] = CH(3, 30, 100, 70);
	/* single-replica pextents on chunk 1: thin with origin, thin, thick */
	p[0] = PX(1, L(1, 0, 0), 0);
	p[0].has_origin = true;
	p[1] = PX(2, L(1, 0, 0), 0);
	p[2] = PX(3, L(1, 0, 0), 0);
	p[2].thick = true;
	memcpy(k, c, sizeof(k));
	n = meta_rebal_plan(p, 3, k, 3, NULL, m, 8, &info);
	assert_int_equal(info.level, META_LOAD_HIGH);
	assert_int_equal(n, 3);
	assert_int_equal(m[0].pid, 3);		/* thick first */
	assert_int_equal(m[1].pid, 2);		/* then thin without origin */
	assert_int_equal(m[2].pid, 1);		/* then thin with origin */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(m[i].replace, 1);
		assert_int_equal(m[i].dst, 2);	/* the lowest ratio */
	}
	/* 6.6: chunk 2 used above 95%: not a dst while the cluster is not very high */
	memcpy(k, c, sizeof(k));
	k[1].used = 96 * E;
	n = meta_rebal_plan(p, 3, k, 3, NULL, m, 8, &info);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(m[i].dst, 3);
	/* the cap */
	memcpy(k, c, sizeof(k));
	n = meta_rebal_plan(p, 3, k, 3, NULL, m, 1, &info);
	assert_int_equal(n, 1);
	assert_true(info.truncated);
	/* balanced: no move */
	c[0] = CH(1, 10, 100, 60);
	c[1] = CH(2, 20, 100, 60);
	c[2] = CH(3, 30, 100, 62);
	n = meta_rebal_plan(p, 3, c, 3, NULL, m, 8, &info);
	assert_int_equal(n, 0);
}


/* ---- SPEC 6.2: the 3-node 400 GiB scenario, scaled to extents ---- */

/*
 * Chunks 1, 3 and 4 with 400 GiB valid (1600 extents) each; prefer local 4;
 * a 2-replica thin volume written in full, each new pextent charged an
 * extent on each replica's chunk (7.1 new thin). The table's four steps:
 *   1 low (cid 4 below 0.5):      [4, 3], full locality
 *   2 medium (cid 4 in 0.5-0.6):  [4, 1], local priority + most capacity;
 *                                 cid 1 ends the step near 0.1
 *   3 high (cid 4 at 0.6):        {1, 3}, capacity only, until cid 3
 *                                 reaches 0.6 (cid 1 then near 0.2), and a
 *                                 capacity migrate to dst 1 is planned
 *   4 high:                       [1, 3] / [1, 4] alternating
 * as the notes' table has them (its step 3 migrate has replace 3; ours
 * replaces the most loaded chunk, 4, first, then 3).
 */
static void test_spec_3nodes(void **state)
{
	enum { N = 2000 };
	struct meta_place_chunk c[3] = {
		{ .cid = 1, .healthy = true, .valid = 1600 * E },
		{ .cid = 3, .healthy = true, .valid = 1600 * E },
		{ .cid = 4, .healthy = true, .valid = 1600 * E },
	};
	static struct meta_rebal_pext p[N];
	struct meta_rebal_chunk rc[3];
	struct meta_rebal_move m[64];
	struct meta_rebal_plan plan;
	struct meta_place_req r = { .n = 2, .prefer_cid = 4, .need = E };
	int step = 1, prev_other = 0, planned = 0;
	uint32_t seen_steps = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		struct meta_place_info info;
		uint32_t out[2], a, b;
		uint64_t r1 = c[0].allocated, r3 = c[1].allocated, r4 = c[2].allocated;

		if (step == 1 && r4 >= 800 * E)
			step = 2;
		if (step == 2 && r4 >= 960 * E)
			step = 3;
		if (step == 3 && r3 >= 960 * E)
			step = 4;
		if (step == 4 && r1 >= r3 && r1 >= r4)
			break;			/* level: the table ends here */
		seen_steps |= 1U << step;
		assert_int_equal(meta_place(c, 3, &r, NULL, out, &info), 2);
		a = out[0] < out[1] ? out[0] : out[1];
		b = out[0] < out[1] ? out[1] : out[0];
		switch (step) {
		case 1:
			assert_int_equal(info.level, META_LOAD_LOW);
			assert_int_equal(out[0], 4);
			assert_int_equal(out[1], 3);
			break;
		case 2:
			assert_int_equal(info.level, META_LOAD_MEDIUM);
			assert_int_equal(out[0], 4);
			assert_int_equal(out[1], 1);
			break;
		case 3:
			assert_int_equal(info.level, META_LOAD_HIGH);
			assert_int_equal(a, 1);
			assert_int_equal(b, 3);
			if (!planned++) {
				/* cid 1 near 0.1: a capacity move into it */
				size_t n;

				assert_true(r1 >= 150 * E && r1 <= 170 * E);
				for (int j = 0; j < 3; j++)
					rc[j] = (struct meta_rebal_chunk){ .pc = c[j], .slots = 128 };
				n = meta_rebal_plan(p, (size_t)i, rc, 3, NULL, m, 64, &plan);
				assert_true(n > 0);
				assert_int_equal(plan.capacity, n);
				for (size_t k = 0; k < n; k++) {
					assert_int_equal(m[k].dst, 1);
					assert_true(m[k].replace == 3 || m[k].replace == 4);
				}
				assert_int_equal(m[0].replace, 4);
			}
			break;
		case 4:
			assert_int_equal(a, 1);
			assert_true(b == 3 || b == 4);
			if (prev_other && r3 == r4 + E)
				assert_int_equal(b, 4);
			assert_int_not_equal(b, prev_other);	/* alternating */
			prev_other = (int)b;
			if (prev_other == 3)
				assert_true(r1 >= 300 * E);	/* cid 1 near 0.2 at the switch */
			break;
		}
		for (int j = 0; j < 2; j++)
			for (int k = 0; k < 3; k++)
				if (c[k].cid == out[j])
					c[k].allocated += E;
		p[i] = PX((uint64_t)i + 1, L(out[0], out[1], 0), 4);
	}
	assert_int_equal(seen_steps, 0x1e);	/* steps 1 to 4 all walked */
}


/* ---- SPEC 6.8: even distribution ---- */

/* an even volume's pextent (volume 7) */
static struct meta_rebal_pext EV(uint64_t pid, uint32_t loc)
{
	struct meta_rebal_pext p = PX(pid, loc, 0);

	p.owner = 0;
	p.even = true;
	p.vol = 7;
	p.thick = true;
	return p;
}

/* the replicas of p[] per chunk once the moves are made; every move is an
 * even move of a pextent moved once, from a replica to a chunk without one */
static void apply_even(struct meta_rebal_pext *p, size_t np, const struct meta_rebal_move *m,
		       size_t nm, uint32_t cnt[9])
{
	memset(cnt, 0, 9 * sizeof(uint32_t));
	for (size_t i = 0; i < nm; i++) {
		struct meta_rebal_pext *x = NULL;
		uint32_t loc = 0;

		assert_int_equal(m[i].why, META_REBAL_EVEN);
		for (size_t j = 0; j < np; j++)
			if (p[j].pid == m[i].pid)
				x = &p[j];
		assert_non_null(x);
		assert_true(loc_contains(x->location, m[i].replace));
		assert_true(loc_contains(x->location, m[i].src));
		assert_false(loc_contains(x->location, m[i].dst));
		for (int k = 0; k < loc_count(x->location); k++) {
			uint32_t c = loc_get(x->location, k);
			loc = loc_add(loc, c == m[i].replace ? m[i].dst : c);
		}
		x->location = x->alive_location = loc;
		x->has_cmd = true;	/* marks it moved: at most once */
		for (size_t j = 0; j < i; j++)
			assert_true(m[j].pid != m[i].pid);
	}
	for (size_t j = 0; j < np; j++)
		for (int k = 0; k < loc_count(p[j].location); k++)
			cnt[loc_get(p[j].location, k)]++;
}

static void test_even(void **state)
{
	struct meta_rebal_chunk c[8], k[8];
	struct meta_rebal_pext p[64];
	struct meta_rebal_move m[128];
	struct meta_rebal_plan info;
	uint32_t cnt[9];
	size_t n;
	(void)state;

	/* 8 chunks, each its own node (no racks), low load; an even volume's
	 * 64 pextents x 2 replicas all on chunks 1-4: each gets to 16 +- 1 */
	for (int i = 0; i < 8; i++)
		c[i] = CH((uint32_t)i + 1, 0, 1000, 100);
	for (int i = 0; i < 64; i++)
		p[i] = EV((uint64_t)i + 1, i < 32 ? L(1, 2, 0) : L(3, 4, 0));
	memcpy(k, c, sizeof(k));
	n = meta_rebal_plan(p, 64, k, 8, NULL, m, 128, &info);
	assert_int_equal(info.level, META_LOAD_LOW);
	assert_int_equal(info.even, n);
	assert_in_range(n, 60, 64);
	apply_even(p, 64, m, n, cnt);
	for (int i = 1; i <= 8; i++)
		assert_in_range(cnt[i], 15, 17);
	/* the plan once more: nothing left to do */
	for (int i = 0; i < 64; i++)
		p[i].has_cmd = false;
	memcpy(k, c, sizeof(k));
	assert_int_equal(meta_rebal_plan(p, 64, k, 8, NULL, m, 128, &info), 0);

	/* the same skew on a volume not marked even: no even move */
	for (int i = 0; i < 64; i++) {
		p[i] = EV((uint64_t)i + 1, i < 32 ? L(1, 2, 0) : L(3, 4, 0));
		p[i].even = false;
	}
	memcpy(k, c, sizeof(k));
	assert_int_equal(meta_rebal_plan(p, 64, k, 8, NULL, m, 128, &info), 0);

	/* two racks (1-4, 5-8), every pextent on 1 and 5: moves stay in
	 * their rack, each pextent keeps a replica in each */
	for (int i = 0; i < 8; i++)
		c[i] = CH((uint32_t)i + 1, i < 4 ? 1 : 2, 1000, 100);
	for (int i = 0; i < 64; i++)
		p[i] = EV((uint64_t)i + 1, L(1, 5, 0));
	/* 96 moves are needed, a plan moves each of the 64 pextents at most
	 * once: a second plan finishes, a third has nothing to do */
	for (int round = 0; round < 3; round++) {
		memcpy(k, c, sizeof(k));
		n = meta_rebal_plan(p, 64, k, 8, NULL, m, 128, &info);
		assert_int_equal(info.even, n);
		if (round == 0)
			assert_int_equal(n, 64);
		if (round == 2)
			assert_int_equal(n, 0);
		apply_even(p, 64, m, n, cnt);
		for (int i = 0; i < 64; i++)
			p[i].has_cmd = false;
	}
	for (int i = 1; i <= 8; i++)
		assert_in_range(cnt[i], 15, 17);
	for (int i = 0; i < 64; i++) {
		uint32_t a = loc_get(p[i].location, 0), b = loc_get(p[i].location, 1);
		assert_true((a <= 4) != (b <= 4));
	}

	/* racks of 3 (1-3) and 5 (4-8), a replica of each pextent in each,
	 * even within each rack: topology first, no move although rack 1's
	 * chunks hold 21-22 and rack 2's 12-13 (avg 16) */
	for (int i = 0; i < 8; i++)
		c[i] = CH((uint32_t)i + 1, i < 3 ? 1 : 2, 1000, 100);
	for (int i = 0; i < 64; i++)
		p[i] = EV((uint64_t)i + 1, L((uint32_t)(i % 3) + 1, (uint32_t)(i % 5) + 4, 0));
	memcpy(k, c, sizeof(k));
	assert_int_equal(meta_rebal_plan(p, 64, k, 8, NULL, m, 128, &info), 0);

	/* a failslow or down chunk is neither counted nor a dst: chunks 7 and
	 * 8 out, the 128 replicas of pextents on 1-4 spread over 1-6
	 * (avg 21.3: 20..23) */
	for (int i = 0; i < 8; i++)
		c[i] = CH((uint32_t)i + 1, 0, 1000, 100);
	c[6].pc.failslow = true;
	c[7].pc.healthy = false;
	for (int i = 0; i < 64; i++)
		p[i] = EV((uint64_t)i + 1, i < 32 ? L(1, 2, 0) : L(3, 4, 0));
	memcpy(k, c, sizeof(k));
	n = meta_rebal_plan(p, 64, k, 8, NULL, m, 128, &info);
	apply_even(p, 64, m, n, cnt);
	assert_int_equal(cnt[7] + cnt[8], 0);
	for (int i = 1; i <= 6; i++)
		assert_in_range(cnt[i], 20, 23);

	/* max moves: truncated */
	for (int i = 0; i < 8; i++)
		c[i] = CH((uint32_t)i + 1, 0, 1000, 100);
	for (int i = 0; i < 64; i++)
		p[i] = EV((uint64_t)i + 1, i < 32 ? L(1, 2, 0) : L(3, 4, 0));
	memcpy(k, c, sizeof(k));
	assert_int_equal(meta_rebal_plan(p, 64, k, 8, NULL, m, 10, &info), 10);
	assert_true(info.truncated);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_8pids),
		cmocka_unit_test(test_localize_rules),
		cmocka_unit_test(test_spec_7chunks_2racks),
		cmocka_unit_test(test_topology_repair),
		cmocka_unit_test(test_capacity_order_and_filter),
		cmocka_unit_test(test_spec_3nodes),
		cmocka_unit_test(test_even),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
