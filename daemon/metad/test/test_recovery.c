// SPDX-License-Identifier: GPL-2.0
/* Recovery and migration policy (SPEC 5): tables of cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "recovery.h"

#define G (1ULL << 30)
#define E (256ULL << 20)
#define NC 8
/* location [a b c d] (0 = empty slot) */
#define LOC(a, b, c, d) ((uint32_t)(a) | (b) << 8 | (c) << 16 | (uint32_t)(d) << 24)

/* chunks; the unused entries of an array are zero (cid 0: never a chunk) */
#define H(id, f)	{ .cid = (id), .healthy = true, .free = (f) }
#define DOWN(id)	{ .cid = (id), .free = 100 * G }
#define MAINT(id)	{ .cid = (id), .maintenance = true, .free = 100 * G }
#define MAINTUP(id)	{ .cid = (id), .healthy = true, .maintenance = true, .free = 100 * G }
#define RM(id)		{ .cid = (id), .healthy = true, .removing = true, .free = 100 * G }
#define SLOW(id, f)	{ .cid = (id), .healthy = true, .failslow = true, .free = (f) }
/* a healthy chunk in zone 1, rack r (0 = none), brick 10 * r, node = cid */
#define HR(id, f, r)	{ .cid = (id), .healthy = true, .free = (f), \
			  .topo = { .zone = 1, .rack = (r), .brick = (r) ? 10 * (r) : 0, .node = (id) } }
#define DOWNR(id, r)	{ .cid = (id), .free = 100 * G, \
			  .topo = { .zone = 1, .rack = (r), .brick = (r) ? 10 * (r) : 0, .node = (id) } }
#define RMR(id, f, r)	{ .cid = (id), .healthy = true, .removing = true, .free = (f), \
			  .topo = { .zone = 1, .rack = (r), .brick = (r) ? 10 * (r) : 0, .node = (id) } }
#define NOREC(id, f)	{ .cid = (id), .healthy = true, .cannot_own = true, .free = (f) }

/* what the cmds in flight hold: used slots and rx per cid, and max (0 = 128) */
struct load {
	uint32_t used[NC], rx[NC], max;
};
#define NOLOAD { .max = 0 }

static void slots_from(struct meta_recover_slots *s, const struct load *l)
{
	meta_recover_slots_init(s, l->max ? l->max : META_RECOVER_SLOTS_DEFAULT);
	for (int i = 0; i < NC; i++) {
		s->by_cid[i].cmds = l->used[i];
		s->by_cid[i].rx_pids = l->rx[i];
	}
}

static struct meta_recover_pext pext(uint32_t loc, uint32_t alive, uint32_t expected,
				     uint32_t owner, uint32_t prefer)
{
	return (struct meta_recover_pext){ .pid = 3134, .epoch = 4354, .location = loc,
					   .alive_location = alive, .expected = expected,
					   .owner = owner, .prefer_cid = prefer };
}

static void want_code(const char *name, int ret, const struct meta_recover_err *e,
		      enum meta_recover_error code)
{
	if (e->code != code)
		print_message("case \"%s\": got %s (%s), want %s\n", name,
			      meta_recover_error_name(e->code), e->msg,
			      meta_recover_error_name(code));
	assert_int_equal(e->code, code);
	assert_int_equal(ret, code ? -1 : 0);
	if (code)
		assert_true(e->msg[0]);		/* every error says why */
}

/* ---- SPEC 5.11: need recover, dead ---- */

struct pred_case {
	const char *name;
	struct meta_recover_chunk c[NC];
	uint32_t loc, alive, expected;
	bool dead, need;
};

static const struct pred_case pred_cases[] = {
	{ "all current", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 3, false, false },
	{ "one not alive", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 3, false, true },
	{ "location shorter than expected", { H(1, G), H(2, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 3, false, true },
	{ "every replica dead", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), 0, 3, true, false },
	{ "alive outside the location is no replica", { H(1, G), H(4, G) },
	  LOC(1, 0, 0, 0), LOC(4, 0, 0, 0), 1, true, false },
	{ "empty location", { H(1, G) }, 0, 0, 2, true, false },
	{ "maintenance defers recovery", { H(1, G), H(2, G), MAINT(3) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 3, false, false },
	{ "only maintenance replicas left: dead", { MAINT(1), MAINT(2) },
	  LOC(1, 2, 0, 0), 0, 2, true, false },
	{ "a replica on a removing chunk counts", { H(1, G), H(2, G), RM(3) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 3, false, false },
	{ "a session ended within the grace counts", { H(1, G), H(2, G), DOWN(3) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 3, false, false },
	{ "down and out of alive: need", { H(1, G), H(2, G), DOWN(3) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 3, false, true },
	{ "more than expected", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 2, false, false },
	{ "one current of two", { H(1, G), H(2, G) },
	  LOC(1, 2, 0, 0), LOC(2, 0, 0, 0), 2, false, true },
	{ "unknown chunk of the location: not counted", { H(1, G), H(2, G) },
	  LOC(1, 2, 9, 0), LOC(1, 2, 0, 0), 3, false, true },
};

static void test_predicates(void **state)
{
	for (size_t i = 0; i < sizeof(pred_cases) / sizeof(pred_cases[0]); i++) {
		const struct pred_case *t = &pred_cases[i];
		struct meta_recover_pext p = pext(t->loc, t->alive, t->expected, 0, 0);
		print_message("case: %s\n", t->name);
		assert_int_equal(meta_recover_is_dead(&p), t->dead);
		assert_int_equal(meta_recover_needed(&p, t->c, NC), t->need);
	}
}

/* ---- the replica to replace ---- */

struct replace_case {
	const char *name;
	struct meta_recover_chunk c[NC];
	uint32_t loc, alive, expected;
	enum meta_recover_error code;
	uint32_t want;
};

static const struct replace_case replace_cases[] = {
	{ "the dead replica keeps its slot", { H(1, G), H(2, G), DOWN(3) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 3, META_RECOVER_OK, 3 },
	{ "short location: add", { H(1, G), H(2, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 3, META_RECOVER_OK, 0 },
	{ "a dead replica before an add", { H(1, G), H(2, G) },
	  LOC(1, 2, 0, 0), LOC(1, 0, 0, 0), 3, META_RECOVER_OK, 2 },
	{ "on a chunk not healthy first", { H(1, G), H(2, G), DOWN(3), H(4, G) },
	  LOC(1, 2, 4, 3), LOC(1, 0, 0, 0), 4, META_RECOVER_OK, 3 },
	{ "else in location order", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 3, 2, 0), LOC(1, 0, 0, 0), 3, META_RECOVER_OK, 3 },
	{ "both down: location order", { H(1, G), DOWN(2), DOWN(3) },
	  LOC(1, 3, 2, 0), LOC(1, 0, 0, 0), 3, META_RECOVER_OK, 3 },
	{ "maintenance replica not replaced", { H(1, G), H(2, G), MAINT(3) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 3, META_RECOVER_ENOTNEEDED, 0 },
	{ "complete", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 3, META_RECOVER_ENOTNEEDED, 0 },
	{ "add to a full location", { H(1, G), H(2, G), H(3, G), H(4, G) },
	  LOC(1, 2, 3, 4), LOC(1, 2, 3, 4), 5, META_RECOVER_ELOCFULL, 0 },
};

static void test_pick_replace(void **state)
{
	for (size_t i = 0; i < sizeof(replace_cases) / sizeof(replace_cases[0]); i++) {
		const struct replace_case *t = &replace_cases[i];
		struct meta_recover_pext p = pext(t->loc, t->alive, t->expected, 0, 0);
		struct meta_recover_err e;
		uint32_t got = 99;
		int ret = meta_recover_pick_replace(&p, t->c, NC, &got, &e);
		print_message("case: %s\n", t->name);
		want_code(t->name, ret, &e, t->code);
		if (!t->code)
			assert_int_equal(got, t->want);
	}
}

/* ---- src ---- */

struct src_case {
	const char *name;
	struct meta_recover_chunk c[NC];
	uint32_t loc, alive, owner;
	struct load load;
	enum meta_recover_error code;
	uint32_t want;
};

static const struct src_case src_cases[] = {
	{ "the owner's replica first", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 3, { .used = { 0, 9, 9, 50 } },
	  META_RECOVER_OK, 3 },
	{ "no owner: fewest cmds", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 0, { .used = { 0, 3, 1, 2 } },
	  META_RECOVER_OK, 2 },
	{ "ties by lower cid", { H(1, G), H(2, G), H(3, G) },
	  LOC(3, 1, 2, 0), LOC(3, 1, 2, 0), 0, NOLOAD, META_RECOVER_OK, 1 },
	{ "failslow owner passed over", { SLOW(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 1, { .used = { 0, 0, 4, 3 } },
	  META_RECOVER_OK, 3 },
	{ "owner without a current replica", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(2, 3, 0, 0), 1, NOLOAD, META_RECOVER_OK, 2 },
	{ "owner outside the location", { H(1, G), H(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 4, { .used = { 0, 1 } }, META_RECOVER_OK, 2 },
	{ "owner out of slots", { H(1, G), H(2, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 1, { .used = { 0, 128, 100 } },
	  META_RECOVER_OK, 2 },
	{ "a replica not alive is no src", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(2, 3, 0, 0), 0, { .used = { 0, 0, 5, 6 } },
	  META_RECOVER_OK, 2 },
	{ "alive on a chunk whose session ended is no src", { DOWN(1), H(2, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, { .used = { 0, 0, 5 } },
	  META_RECOVER_OK, 2 },
	{ "failslow after every other", { SLOW(1, G), H(2, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, { .used = { 0, 0, 100 } },
	  META_RECOVER_OK, 2 },
	{ "failslow when it is the only one", { SLOW(1, G), H(2, G), DOWN(3) },
	  LOC(1, 2, 3, 0), LOC(1, 0, 0, 0), 0, NOLOAD, META_RECOVER_OK, 1 },
	{ "current replicas out of slots", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 1, { .used = { 0, 128, 130, 0 } },
	  META_RECOVER_ENOSLOT, 0 },
	{ "slots lowered: at once", { H(1, G), H(2, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, { .used = { 0, 2, 2 }, .max = 2 },
	  META_RECOVER_ENOSLOT, 0 },
	{ "every replica dead", { H(1, G), H(2, G), H(3, G) },
	  LOC(1, 2, 3, 0), 0, 0, NOLOAD, META_RECOVER_ENOSRC, 0 },
	{ "current only on chunks down", { DOWN(1), DOWN(2), H(3, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 0, NOLOAD, META_RECOVER_ENOSRC, 0 },
};

static void test_pick_src(void **state)
{
	for (size_t i = 0; i < sizeof(src_cases) / sizeof(src_cases[0]); i++) {
		const struct src_case *t = &src_cases[i];
		struct meta_recover_pext p = pext(t->loc, t->alive, 3, t->owner, 0);
		struct meta_recover_slots s;
		struct meta_recover_err e;
		uint32_t got = 99;
		int ret;
		slots_from(&s, &t->load);
		ret = meta_recover_pick_src(&p, t->c, NC, &s, &got, &e);
		print_message("case: %s\n", t->name);
		want_code(t->name, ret, &e, t->code);
		if (!t->code)
			assert_int_equal(got, t->want);
	}
}

/* ---- dst ---- */

struct dst_case {
	const char *name;
	struct meta_recover_chunk c[NC];
	uint32_t loc, prefer;
	struct load load;
	enum meta_recover_error code;
	uint32_t want;
};

#define BASE3 H(1, 90 * G), H(2, 90 * G), DOWN(3)

static const struct dst_case dst_cases[] = {
	{ "most free", { BASE3, H(4, 10 * G), H(5, 30 * G), H(6, 20 * G) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_OK, 5 },
	{ "prefer local first", { BASE3, H(4, 10 * G), H(5, 30 * G), H(6, 20 * G) },
	  LOC(1, 2, 3, 0), 4, NOLOAD, META_RECOVER_OK, 4 },
	{ "prefer local holding a replica: not again", { BASE3, H(4, 10 * G), H(5, 30 * G) },
	  LOC(1, 2, 3, 0), 1, NOLOAD, META_RECOVER_OK, 5 },
	{ "prefer local without space", { BASE3, H(4, E - 1), H(5, 30 * G), H(6, 20 * G) },
	  LOC(1, 2, 3, 0), 4, NOLOAD, META_RECOVER_OK, 5 },
	{ "prefer local without a slot", { BASE3, H(4, G), H(5, 30 * G), H(6, 20 * G) },
	  LOC(1, 2, 3, 0), 4, { .used = { [4] = 128 } }, META_RECOVER_OK, 5 },
	{ "prefer local in maintenance", { BASE3, MAINTUP(4), H(5, 30 * G), H(6, 20 * G) },
	  LOC(1, 2, 3, 0), 4, NOLOAD, META_RECOVER_OK, 5 },
	{ "ties by lower cid", { BASE3, H(6, G), H(4, G), H(5, G) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_OK, 4 },
	{ "after the rx of running cmds", { BASE3, H(5, 30 * G), H(6, 20 * G) },
	  LOC(1, 2, 3, 0), 0, { .rx = { [5] = 60 } }, META_RECOVER_OK, 6 },
	{ "rx ties by lower cid", { BASE3, H(5, 20 * G + 4 * E), H(6, 20 * G) },
	  LOC(1, 2, 3, 0), 0, { .rx = { [5] = 4 } }, META_RECOVER_OK, 5 },
	{ "one extent free after rx is enough", { BASE3, H(4, 3 * E), H(5, E - 1) },
	  LOC(1, 2, 3, 0), 0, { .rx = { [4] = 2 } }, META_RECOVER_OK, 4 },
	{ "maintenance, removing, failslow, down: never", { BASE3, MAINTUP(4), RM(5),
	  SLOW(6, 99 * G), DOWN(7), H(8, G) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_OK, 8 },
	{ "not the chunk of a dead replica", { H(1, G), H(2, G), H(3, 99 * G), H(4, G) },
	  LOC(1, 2, 3, 0), 3, NOLOAD, META_RECOVER_OK, 4 },
	{ "no dst has space", { BASE3, H(4, E - 1), H(5, 0) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_ENOSPACE, 0 },
	{ "no space once rx is counted", { BASE3, H(4, 2 * E) },
	  LOC(1, 2, 3, 0), 0, { .rx = { [4] = 2 } }, META_RECOVER_ENOSPACE, 0 },
	{ "no slot beats no space", { BASE3, H(4, 9 * G), H(5, 0) },
	  LOC(1, 2, 3, 0), 0, { .used = { [4] = 128 } }, META_RECOVER_ENOSLOT, 0 },
	{ "nothing outside the location", { H(1, G), H(2, G), H(3, G), DOWN(4), MAINTUP(5) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_ENODST, 0 },
	{ "cid 0 is never a chunk", { BASE3, { .cid = 0, .healthy = true, .free = 99 * G } },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_ENODST, 0 },
	/* topology: racks A (1), B (2), C (3); replicas on 1 (A) and 2 (B),
	 * 3 (C) lost */
	{ "racks: the lost replica's rack, not a survivor's with more space",
	  { HR(1, G, 1), HR(2, G, 2), DOWNR(3, 3), HR(4, 90 * G, 1), HR(5, 10 * G, 3) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_OK, 5 },
	{ "racks: safety before prefer local",
	  { HR(1, G, 1), HR(2, G, 2), DOWNR(3, 3), HR(4, 90 * G, 1), HR(5, 10 * G, 3) },
	  LOC(1, 2, 3, 0), 4, NOLOAD, META_RECOVER_OK, 5 },
	{ "racks: equal safety, prefer local",
	  { HR(1, G, 1), HR(2, G, 2), DOWNR(3, 3), HR(5, 10 * G, 3), HR(6, 30 * G, 3) },
	  LOC(1, 2, 3, 0), 5, NOLOAD, META_RECOVER_OK, 5 },
	{ "racks: equal safety, most space",
	  { HR(1, G, 1), HR(2, G, 2), DOWNR(3, 3), HR(5, 10 * G, 3), HR(6, 30 * G, 3) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_OK, 6 },
	{ "racks: the safe rack without a slot, the next best",
	  { HR(1, G, 1), HR(2, G, 2), DOWNR(3, 3), HR(4, 90 * G, 1), HR(5, 10 * G, 3) },
	  LOC(1, 2, 3, 0), 0, { .used = { [5] = 128 } }, META_RECOVER_OK, 4 },
	{ "racks: a rack-less node is a failure domain of its own",
	  { HR(1, G, 1), HR(2, G, 2), DOWNR(3, 3), HR(4, 90 * G, 1), HR(7, 10 * G, 0) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_OK, 7 },
	{ "racks: rack-less or a third rack, alike: then space",
	  { HR(1, G, 1), HR(2, G, 2), DOWNR(3, 3), HR(5, 10 * G, 3), HR(7, 20 * G, 0) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_OK, 7 },
	{ "racks: the dead replica's chunk does not count against a rack",
	  { HR(1, G, 1), HR(2, G, 2), DOWNR(3, 3), HR(4, 90 * G, 2), HR(5, 10 * G, 3) },
	  LOC(1, 2, 3, 0), 0, NOLOAD, META_RECOVER_OK, 5 },
};

static void test_pick_dst(void **state)
{
	for (size_t i = 0; i < sizeof(dst_cases) / sizeof(dst_cases[0]); i++) {
		const struct dst_case *t = &dst_cases[i];
		struct meta_recover_pext p = pext(t->loc, LOC(1, 2, 0, 0), 3, 0, t->prefer);
		struct meta_recover_slots s;
		struct meta_recover_err e;
		uint32_t got = 99;
		int ret;
		slots_from(&s, &t->load);
		ret = meta_recover_pick_dst(&p, t->c, NC, &s, &got, &e);
		print_message("case: %s\n", t->name);
		want_code(t->name, ret, &e, t->code);
		if (!t->code)
			assert_int_equal(got, t->want);
	}
}

/* ---- plan: the scan's recover for a pextent ---- */

struct plan_case {
	const char *name;
	struct meta_recover_chunk c[NC];
	uint32_t loc, alive, expected, owner, prefer;
	struct load load;
	enum meta_recover_error code;
	uint32_t src, dst, replace;
};

static const struct plan_case plan_cases[] = {
	{ "a chunk died: its slot to the most free", { H(1, G), H(2, G), DOWN(3), H(4, 5 * G),
	  H(5, 9 * G) }, LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 3, 0, 0, NOLOAD,
	  META_RECOVER_OK, 1, 5, 3 },
	{ "owner's replica is the src, prefer local the dst", { H(1, G), H(2, G), DOWN(3),
	  H(4, 5 * G), H(5, 9 * G) }, LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 3, 2, 4, NOLOAD,
	  META_RECOVER_OK, 2, 4, 3 },
	{ "short location: add", { H(1, G), H(2, G) }, LOC(1, 0, 0, 0), LOC(1, 0, 0, 0), 2, 0,
	  0, NOLOAD, META_RECOVER_OK, 1, 2, 0 },
	{ "every replica dead", { DOWN(1), DOWN(2), H(4, G) }, LOC(1, 2, 0, 0), 0, 2, 0, 0,
	  NOLOAD, META_RECOVER_EDEAD, 0, 0, 0 },
	{ "complete", { H(1, G), H(2, G), H(4, G) }, LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2, 0, 0,
	  NOLOAD, META_RECOVER_ENOTNEEDED, 0, 0, 0 },
	{ "maintenance: deferred", { H(1, G), MAINT(2), H(4, G) }, LOC(1, 2, 0, 0),
	  LOC(1, 0, 0, 0), 2, 0, 0, NOLOAD, META_RECOVER_ENOTNEEDED, 0, 0, 0 },
	{ "no dst has space", { H(1, G), DOWN(2), H(4, E - 1) }, LOC(1, 2, 0, 0),
	  LOC(1, 0, 0, 0), 2, 0, 0, NOLOAD, META_RECOVER_ENOSPACE, 0, 0, 0 },
	{ "src before dst", { H(1, G), DOWN(2), H(4, E - 1) }, LOC(1, 2, 0, 0),
	  LOC(1, 0, 0, 0), 2, 0, 0, { .used = { [1] = 128 } }, META_RECOVER_ENOSLOT, 0, 0, 0 },
};

static void test_plan(void **state)
{
	for (size_t i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++) {
		const struct plan_case *t = &plan_cases[i];
		struct meta_recover_pext p = pext(t->loc, t->alive, t->expected, t->owner, t->prefer);
		struct meta_recover_slots s, before;
		struct meta_recover_req r = { .src = 0 };
		struct meta_recover_err e;
		int ret;
		slots_from(&s, &t->load);
		before = s;
		ret = meta_recover_plan(&p, t->c, NC, &s, &r, &e);
		print_message("case: %s\n", t->name);
		want_code(t->name, ret, &e, t->code);
		assert_memory_equal(&s, &before, sizeof(s));	/* a plan reserves nothing */
		if (t->code)
			continue;
		assert_int_equal(r.src, t->src);
		assert_int_equal(r.dst, t->dst);
		assert_int_equal(r.replace, t->replace);
		assert_false(r.is_migrate);
	}
}

/* ---- drain: a migrate off a chunk being removed ---- */

struct drain_case {
	const char *name;
	struct meta_recover_chunk c[NC];
	uint32_t loc, alive, expected, cid;
	struct load load;
	enum meta_recover_error code;
	uint32_t src, dst;
};

static const struct drain_case drain_cases[] = {
	{ "replace the removing chunk; dst in its rack rather than the survivor's",
	  { HR(1, G, 1), RMR(2, G, 2), HR(3, 90 * G, 1), HR(4, 10 * G, 2) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2, 2, NOLOAD, META_RECOVER_OK, 1, 4 },
	{ "the removing chunk may be the src (it is current)",
	  { HR(1, G, 1), RMR(2, G, 2), HR(3, 90 * G, 1), HR(4, 10 * G, 2) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2, 2, { .used = { [1] = 128 } },
	  META_RECOVER_OK, 2, 4 },
	{ "never onto another removing chunk", { H(1, G), RM(2), RM(3), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2, 2, NOLOAD, META_RECOVER_OK, 1, 4 },
	{ "not a replica of it", { H(1, G), RM(2), H(3, G), H(4, G) },
	  LOC(1, 3, 0, 0), LOC(1, 3, 0, 0), 2, 2, NOLOAD, META_RECOVER_ENOTREPLICA, 0, 0 },
	{ "a recover first", { H(1, G), RM(2), DOWN(3), H(4, G) },
	  LOC(1, 2, 3, 0), LOC(1, 2, 0, 0), 3, 2, NOLOAD, META_RECOVER_ERECOVERING, 0, 0 },
	{ "dead", { DOWN(1), RM(2), H(4, G) },
	  LOC(1, 2, 0, 0), 0, 2, 2, NOLOAD, META_RECOVER_EDEAD, 0, 0 },
	{ "nowhere to go", { H(1, G), RM(2), MAINTUP(3) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2, 2, NOLOAD, META_RECOVER_ENODST, 0, 0 },
};

static void test_plan_drain(void **state)
{
	for (size_t i = 0; i < sizeof(drain_cases) / sizeof(drain_cases[0]); i++) {
		const struct drain_case *t = &drain_cases[i];
		struct meta_recover_pext p = pext(t->loc, t->alive, t->expected, 0, 0);
		struct meta_recover_slots s, before;
		struct meta_recover_req r = { .src = 0 };
		struct meta_recover_err e;
		int ret;
		slots_from(&s, &t->load);
		before = s;
		ret = meta_recover_plan_drain(&p, t->c, NC, &s, t->cid, &r, &e);
		print_message("case: %s\n", t->name);
		want_code(t->name, ret, &e, t->code);
		assert_memory_equal(&s, &before, sizeof(s));
		if (t->code)
			continue;
		assert_int_equal(r.src, t->src);
		assert_int_equal(r.dst, t->dst);
		assert_int_equal(r.replace, t->cid);
		assert_true(r.is_migrate);
	}
}

/* ---- SPEC 3.4 AllocOwnerForRecover ---- */

struct owner_case {
	const char *name;
	struct meta_recover_chunk c[NC];
	uint32_t loc, alive, owner, src, dst;
	enum meta_recover_error code;
	uint32_t want;
	bool fresh;
	uint32_t want_src;
};

static const struct owner_case owner_cases[] = {
	{ "existing owner with a replica: src rewritten", { H(1, G), H(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2, 1, 4, META_RECOVER_OK, 2, false, 2 },
	{ "existing owner without a replica", { H(1, G), H(2, G), H(4, G), H(5, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 5, 1, 4, META_RECOVER_OK, 5, false, 1 },
	{ "existing owner whose replica is not alive", { H(1, G), H(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 0, 0, 0), 2, 1, 4, META_RECOVER_OK, 2, false, 1 },
	{ "existing owner failslow: kept, src not rewritten", { H(1, G), SLOW(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2, 1, 4, META_RECOVER_OK, 2, false, 1 },
	{ "existing owner is the dst", { H(1, G), H(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 4, 1, 4, META_RECOVER_OK, 4, false, 1 },
	{ "no owner: src", { H(1, G), H(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, 2, 4, META_RECOVER_OK, 2, true, 2 },
	{ "src not healthy: dst", { DOWN(1), H(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, 1, 4, META_RECOVER_OK, 4, true, 1 },
	{ "src in maintenance: dst", { MAINTUP(1), H(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, 1, 4, META_RECOVER_OK, 4, true, 1 },
	{ "src, dst down: a holder of a current replica, src rewritten",
	  { DOWN(1), H(5, G), H(3, G), DOWN(4) },
	  LOC(1, 5, 0, 0), LOC(1, 5, 0, 0), 0, 1, 4, META_RECOVER_OK, 5, true, 5 },
	{ "src, dst down: else lower cid", { DOWN(1), H(6, G), H(3, G), DOWN(4) },
	  LOC(1, 0, 0, 0), LOC(1, 0, 0, 0), 0, 1, 4, META_RECOVER_OK, 3, true, 1 },
	{ "other: never failslow or maintenance", { DOWN(1), SLOW(2, G), MAINTUP(3), DOWN(4),
	  H(7, G) }, LOC(1, 2, 3, 0), LOC(1, 2, 3, 0), 0, 1, 4, META_RECOVER_OK, 7, true, 1 },
	{ "src, dst do not run cmds: another that does", { NOREC(1, G), H(2, G), H(3, G),
	  NOREC(4, G) }, LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, 1, 4, META_RECOVER_OK, 2, true, 2 },
	{ "existing owner does not run cmds: it keeps the pid", { H(1, G), NOREC(2, G), H(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2, 1, 4, META_RECOVER_ENOOWNER, 0, false, 0 },
	{ "no chunk runs cmds", { NOREC(1, G), NOREC(2, G), NOREC(4, G) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, 1, 4, META_RECOVER_ENOOWNER, 0, false, 0 },
	{ "no chunk can own it", { DOWN(1), SLOW(2, G), MAINTUP(3), DOWN(4) },
	  LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, 1, 4, META_RECOVER_ENOOWNER, 0, false, 0 },
};

static void test_alloc_owner(void **state)
{
	for (size_t i = 0; i < sizeof(owner_cases) / sizeof(owner_cases[0]); i++) {
		const struct owner_case *t = &owner_cases[i];
		struct meta_recover_pext p = pext(t->loc, t->alive, 3, t->owner, 0);
		struct meta_recover_owner o = { 99, false, 99 };
		struct meta_recover_err e;
		int ret = meta_recover_alloc_owner(&p, t->src, t->dst, t->c, NC, &o, &e);
		print_message("case: %s\n", t->name);
		want_code(t->name, ret, &e, t->code);
		if (t->code)
			continue;
		assert_int_equal(o.cid, t->want);
		assert_int_equal(o.fresh, t->fresh);
		assert_int_equal(o.src, t->want_src);
	}
}

/* ---- SPEC 5.4 AddRecoverCmd and 5.7 AddMigrateCmd: checks in order ---- */

/* every case: chunks 1-2 healthy, 3 down, 4-5 healthy (5 nearly full), 6 in
 * maintenance (up), 7 being removed, 8 failslow */
static const struct meta_recover_chunk cmd_chunks[NC] = {
	H(1, 50 * G), H(2, 50 * G), DOWN(3), H(4, 20 * G), H(5, E), MAINTUP(6), RM(7),
	SLOW(8, 50 * G),
};

struct cmd_case {
	const char *name;
	uint32_t loc, alive, owner;
	bool has_cmd, temporary;
	uint64_t pext_tmp;
	struct meta_recover_req r;
	struct load load;
	enum meta_recover_error code;
	uint32_t src, owner_cid;	/* of the cmd made */
	bool owner_new;
};

#define DEG LOC(1, 2, 3, 0), LOC(1, 2, 0, 0)	/* 3 died */
#define REQ(s, d, r) { .src = (s), .dst = (d), .replace = (r) }
/* ... reading from the temporary replica of epoch t */
#define TMPREQ(s, d, r, t) { .src = (s), .dst = (d), .replace = (r), .tmp_epoch = (t) }

static const struct cmd_case add_cases[] = {
	{ "recover 3's replica", DEG, 0, false, false, 0, REQ(1, 4, 3), NOLOAD,
	  META_RECOVER_OK, 1, 1, true },
	{ "its owner reads it", DEG, 2, false, false, 0, REQ(1, 4, 3), NOLOAD,
	  META_RECOVER_OK, 2, 2, false },
	{ "add to a short location", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false, false, 0,
	  REQ(2, 4, 0), NOLOAD, META_RECOVER_OK, 2, 2, true },
	{ "1 duplicate before all", DEG, 0, true, false, 0, TMPREQ(9, 3, 7, 5),
	  { .used = { [1] = 128 } }, .code = META_RECOVER_EDUPLICATE },
	{ "2 temporary replica in already", DEG, 0, false, false, 5, TMPREQ(9, 3, 7, 5),
	  NOLOAD, .code = META_RECOVER_ETMPDONE },
	{ "2 another temporary epoch passes", DEG, 0, false, false, 4, TMPREQ(1, 4, 3, 5),
	  NOLOAD, META_RECOVER_OK, 1, 1, true },
	{ "3 src does not hold it", DEG, 0, false, false, 0, REQ(4, 2, 9), NOLOAD,
	  .code = META_RECOVER_ENOTREPLICA },
	{ "3 src not current", DEG, 0, false, false, 0, REQ(3, 2, 9), NOLOAD,
	  .code = META_RECOVER_ESRCDEAD },
	{ "3 src alive on a chunk down", LOC(1, 3, 0, 0), LOC(1, 3, 0, 0), 0, false, false, 0,
	  REQ(3, 4, 0), NOLOAD, .code = META_RECOVER_ESRCDEAD },
	{ "3 replace does not hold it", DEG, 0, false, false, 0, REQ(1, 2, 9), NOLOAD,
	  .code = META_RECOVER_ENOTREPLICA },
	{ "3 a migrate names replace", DEG, 0, false, false, 0,
	  { .src = 1, .dst = 4, .is_migrate = true }, NOLOAD, .code = META_RECOVER_ENOTREPLICA },
	{ "3 add to a full location", LOC(1, 2, 3, 7), LOC(1, 2, 7, 0), 0, false, false, 0,
	  REQ(1, 4, 0), NOLOAD, .code = META_RECOVER_ELOCFULL },
	{ "3 dst holds it (replace = dst)", DEG, 0, false, false, 0, REQ(1, 3, 3),
	  { .used = { [1] = 128 } }, .code = META_RECOVER_EDSTHAS },
	{ "3 dst in maintenance", DEG, 0, false, false, 0, REQ(1, 6, 3),
	  { .used = { [1] = 128 } }, .code = META_RECOVER_EDSTBAD },
	{ "3 dst being removed", DEG, 0, false, false, 0, REQ(1, 7, 3), NOLOAD,
	  .code = META_RECOVER_EDSTBAD },
	{ "3 dst failslow", DEG, 0, false, false, 0, REQ(1, 8, 3), NOLOAD,
	  .code = META_RECOVER_EDSTBAD },
	{ "3 dst unknown", DEG, 0, false, false, 0, REQ(1, 200, 3), NOLOAD,
	  .code = META_RECOVER_EDSTBAD },
	{ "4 no slot on src", DEG, 0, false, false, 0, REQ(1, 5, 3),
	  { .used = { [1] = 128 }, .rx = { [5] = 1 } }, .code = META_RECOVER_ENOSLOT },
	{ "4 no slot on dst", DEG, 0, false, false, 0, REQ(1, 5, 3),
	  { .used = { [5] = 128 }, .rx = { [5] = 1 } }, .code = META_RECOVER_ENOSLOT },
	{ "4 no space after rx", DEG, 0, false, false, 0, REQ(1, 5, 3), { .rx = { [5] = 1 } },
	  .code = META_RECOVER_ENOSPACE },
	{ "4 the last extent is enough", DEG, 0, false, false, 0, REQ(1, 5, 3), NOLOAD,
	  META_RECOVER_OK, 1, 1, true },
};

static const struct cmd_case migrate_cases[] = {
	{ "move 1 to 4", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false, false, 0, REQ(1, 4, 1),
	  NOLOAD, META_RECOVER_OK, 1, 1, true },
	{ "the owner reads; slots stay on the src named", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 2,
	  false, false, 0, REQ(1, 4, 1), NOLOAD, META_RECOVER_OK, 2, 2, false },
	{ "off a chunk being removed", LOC(1, 7, 0, 0), LOC(1, 7, 0, 0), 0, false, false, 0,
	  REQ(7, 4, 7), NOLOAD, META_RECOVER_OK, 7, 7, true },
	{ "prefer local and topology ignored", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false,
	  false, 0, REQ(2, 5, 1), NOLOAD, META_RECOVER_OK, 2, 2, true },
	{ "1 duplicate before dead", LOC(1, 2, 0, 0), 0, 0, true, true, 0, REQ(1, 4, 1),
	  NOLOAD, .code = META_RECOVER_EDUPLICATE },
	{ "3 dead before recovering", LOC(1, 2, 0, 0), 0, 0, false, true, 0, REQ(1, 4, 1),
	  NOLOAD, .code = META_RECOVER_EDEAD },
	{ "4 recovering before temporary", LOC(1, 2, 0, 0), LOC(1, 0, 0, 0), 0, false, true, 0,
	  REQ(1, 4, 1), NOLOAD, .code = META_RECOVER_ERECOVERING },
	{ "5 temporary before slots", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false, true, 0,
	  REQ(1, 4, 1), { .used = { [1] = 128 } }, .code = META_RECOVER_ETEMPORARY },
	{ "6 slots on src before membership", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false,
	  false, 0, REQ(1, 4, 9), { .used = { [1] = 128 } }, .code = META_RECOVER_ENOSLOT },
	{ "6 slots on dst", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false, false, 0,
	  REQ(1, 4, 1), { .used = { [4] = 128 } }, .code = META_RECOVER_ENOSLOT },
	{ "7 src not in location before dst", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false,
	  false, 0, REQ(4, 2, 1), NOLOAD, .code = META_RECOVER_ENOTREPLICA },
	{ "7 replace not in location", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false, false, 0,
	  REQ(1, 4, 5), NOLOAD, .code = META_RECOVER_ENOTREPLICA },
	{ "7 replace 0", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false, false, 0, REQ(1, 4, 0),
	  NOLOAD, .code = META_RECOVER_ENOTREPLICA },
	{ "7 src of maintenance, not alive", LOC(1, 2, 6, 0), LOC(1, 2, 0, 0), 0, false,
	  false, 0, REQ(6, 2, 1), NOLOAD, .code = META_RECOVER_ESRCDEAD },
	{ "8 dst has the replica before space", LOC(1, 5, 0, 0), LOC(1, 5, 0, 0), 0, false,
	  false, 0, REQ(1, 5, 1), { .rx = { [5] = 1 } }, .code = META_RECOVER_EDSTHAS },
	{ "8 dst in maintenance", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false, false, 0,
	  REQ(1, 6, 1), NOLOAD, .code = META_RECOVER_EDSTBAD },
	{ "9 not enough space", LOC(1, 2, 0, 0), LOC(1, 2, 0, 0), 0, false, false, 0,
	  REQ(1, 5, 1), { .rx = { [5] = 1 } }, .code = META_RECOVER_ENOSPACE },
};

static void run_cmd_cases(const struct cmd_case *cases, size_t n, bool migrate)
{
	for (size_t i = 0; i < n; i++) {
		const struct cmd_case *t = &cases[i];
		struct meta_recover_pext p = pext(t->loc, t->alive, 2, t->owner, 4);
		struct meta_recover_slots s, before;
		struct meta_recover_cmd cmd;
		struct meta_recover_err e;
		int ret;
		p.temporary = t->temporary;
		p.tmp_epoch = t->pext_tmp;
		if (!migrate && loc_count(t->loc) == 3)
			p.expected = 3;
		slots_from(&s, &t->load);
		before = s;
		memset(&cmd, 0xa5, sizeof(cmd));
		if (migrate)
			ret = meta_recover_migrate(&s, &p, cmd_chunks, NC, t->has_cmd, t->r.src,
						   t->r.dst, t->r.replace, 1000, &cmd, &e);
		else
			ret = meta_recover_add(&s, &p, cmd_chunks, NC, t->has_cmd, &t->r, 1000,
					       &cmd, &e);
		print_message("case: %s\n", t->name);
		want_code(t->name, ret, &e, t->code);
		if (t->code) {
			/* a refused cmd changes nothing */
			assert_memory_equal(&s, &before, sizeof(s));
			continue;
		}
		assert_int_equal(cmd.pid, 3134);
		assert_int_equal(cmd.epoch, 4354);
		assert_int_equal(cmd.src, t->src);
		assert_int_equal(cmd.slot_src, t->r.src);
		assert_int_equal(cmd.dst, t->r.dst);
		assert_int_equal(cmd.replace, t->r.replace);
		assert_int_equal(cmd.owner, t->owner_cid);
		assert_int_equal(cmd.owner_new, t->owner_new);
		assert_int_equal(cmd.is_migrate, migrate);
		assert_int_equal(cmd.active_location, t->alive);
		assert_int_equal(cmd.tmp_epoch, t->r.tmp_epoch);
		assert_int_equal(cmd.issued_ms, 1000);
		assert_int_equal(cmd.start_ms, 0);
		assert_true(cmd.reserved);
		/* slots on the src named and the dst, rx on dst, tx on replace */
		assert_int_equal(s.by_cid[t->r.src].cmds, before.by_cid[t->r.src].cmds + 1);
		assert_int_equal(s.by_cid[t->r.src].src_pids, 1);
		assert_int_equal(s.by_cid[t->r.dst].cmds, before.by_cid[t->r.dst].cmds + 1);
		assert_int_equal(s.by_cid[t->r.dst].rx_pids, before.by_cid[t->r.dst].rx_pids + 1);
		if (t->r.replace)
			assert_int_equal(s.by_cid[t->r.replace].tx_pids, 1);
		if (t->src != t->r.src)		/* the owner's rewrite takes no slot */
			assert_int_equal(s.by_cid[t->src].cmds, before.by_cid[t->src].cmds);
	}
}

static void test_add(void **state)
{
	run_cmd_cases(add_cases, sizeof(add_cases) / sizeof(add_cases[0]), false);
}

static void test_migrate(void **state)
{
	run_cmd_cases(migrate_cases, sizeof(migrate_cases) / sizeof(migrate_cases[0]), true);
}

/* ---- the end of a cmd: release ---- */

struct release_case {
	const char *name;
	enum meta_recover_end how;
	bool delivered, owner_new;
	uint32_t release_owner, gc_dst;
};

static const struct release_case release_cases[] = {
	{ "done", META_RECOVER_DONE, true, true, 0, 0 },
	{ "failed", META_RECOVER_FAILED, true, true, 1, 4 },
	{ "failed, owner was there before", META_RECOVER_FAILED, true, false, 0, 4 },
	{ "revoked before delivery", META_RECOVER_REVOKED, false, true, 1, 0 },
	{ "revoked after delivery", META_RECOVER_REVOKED, true, false, 0, 4 },
	{ "timed out", META_RECOVER_TIMEDOUT, true, true, 1, 4 },
	{ "timed out waiting for delivery", META_RECOVER_TIMEDOUT, false, false, 0, 0 },
};

static void test_release(void **state)
{
	static const struct meta_recover_chunk c[NC] = { H(1, G), H(2, G), DOWN(3), H(4, G) };

	for (size_t i = 0; i < sizeof(release_cases) / sizeof(release_cases[0]); i++) {
		const struct release_case *t = &release_cases[i];
		struct meta_recover_pext p = pext(DEG, 3, t->owner_new ? 0 : 2, 0);
		struct meta_recover_req r = REQ(1, 4, 3);
		struct meta_recover_slots s, empty;
		struct meta_recover_cmd cmd;
		struct meta_recover_undo u = { 99, 99 };
		struct meta_recover_err e;
		print_message("case: %s\n", t->name);
		meta_recover_slots_init(&s, META_RECOVER_SLOTS_DEFAULT);
		empty = s;
		assert_int_equal(meta_recover_add(&s, &p, c, NC, false, &r, 5, &cmd, &e), 0);
		assert_int_equal(cmd.owner, t->owner_new ? 1 : 2);
		if (t->delivered)
			meta_recover_delivered(&cmd, 6);
		assert_int_equal(meta_recover_release(&s, &cmd, t->how, &u), 0);
		assert_int_equal(u.release_owner, t->release_owner);
		assert_int_equal(u.gc_dst, t->gc_dst);
		assert_memory_equal(&s, &empty, sizeof(s));	/* nothing leaks */
		/* released once: a second end (a late reply) changes nothing */
		u.release_owner = u.gc_dst = 99;
		assert_int_equal(meta_recover_release(&s, &cmd, META_RECOVER_DONE, &u), -1);
		assert_int_equal(u.release_owner, 0);
		assert_int_equal(u.gc_dst, 0);
		assert_memory_equal(&s, &empty, sizeof(s));
	}
}

/* Slots are per chunk, bind src and dst (not replace), and free up as cmds end. */
static void test_slots(void **state)
{
	static const struct meta_recover_chunk c[NC] = { H(1, G), H(2, G), DOWN(3),
							 H(4, 200 * G) };
	struct meta_recover_slots s;
	struct meta_recover_cmd cmds[129];
	struct meta_recover_undo u;
	struct meta_recover_err e;
	uint32_t dst;

	meta_recover_slots_init(&s, META_RECOVER_SLOTS_DEFAULT);
	assert_int_equal(meta_recover_slots_avail(&s, 4), 128);
	assert_int_equal(meta_recover_slots_avail(&s, 0), 0);		/* no chunk */
	assert_int_equal(meta_recover_slots_avail(&s, 256), 0);
	for (int i = 0; i < 128; i++) {
		struct meta_recover_pext p = pext(DEG, 3, 0, 0);
		struct meta_recover_req r = REQ(1 + i % 2, 4, 3);
		p.pid = 100 + i;
		assert_int_equal(meta_recover_add(&s, &p, c, NC, false, &r, 0, &cmds[i], &e), 0);
	}
	assert_int_equal(s.by_cid[4].cmds, 128);
	assert_int_equal(s.by_cid[4].rx_pids, 128);
	assert_int_equal(s.by_cid[1].cmds, 64);
	assert_int_equal(s.by_cid[2].cmds, 64);
	assert_int_equal(s.by_cid[3].cmds, 0);		/* replace takes no slot */
	assert_int_equal(s.by_cid[3].tx_pids, 128);
	assert_int_equal(meta_recover_dst_free(&s, &c[3]), 200 * G - 128 * E);
	/* 4 is full: the 129th has no dst */
	{
		struct meta_recover_pext p = pext(DEG, 3, 0, 0);
		assert_int_equal(meta_recover_pick_dst(&p, c, NC, &s, &dst, &e), -1);
		assert_int_equal(e.code, META_RECOVER_ENOSLOT);
		/* one ends: its slot and its rx come back */
		assert_int_equal(meta_recover_release(&s, &cmds[7], META_RECOVER_DONE, &u), 0);
		assert_int_equal(meta_recover_pick_dst(&p, c, NC, &s, &dst, &e), 0);
		assert_int_equal(dst, 4);
		assert_int_equal(s.by_cid[4].rx_pids, 127);
		assert_int_equal(s.by_cid[3].tx_pids, 127);
		/* a lower max applies to the next reservation at once */
		s.max = 100;
		assert_int_equal(meta_recover_slots_avail(&s, 4), 0);
		assert_int_equal(meta_recover_slots_avail(&s, 1), 36);
	}
	for (int i = 0; i < 128; i++)
		meta_recover_release(&s, &cmds[i], META_RECOVER_DONE, &u);
	for (int i = 0; i <= META_MAX_CID; i++) {
		assert_int_equal(s.by_cid[i].cmds, 0);
		assert_int_equal(s.by_cid[i].rx_pids, 0);
		assert_int_equal(s.by_cid[i].tx_pids, 0);
		assert_int_equal(s.by_cid[i].src_pids, 0);
	}
}

/*
 * SPEC 11 item 8: the migrate of pid 3133 (src 5, dst 1, replace 5, owner 5:
 * the pid's owner had been released an hour before, so 5 became its owner)
 * is revoked by a topology change of chunk 5 before any keepalive carried
 * it. The product left the owner behind; here the revoke gives back the
 * slots, the rx and the owner, asks for no GC (nothing reached the chunk),
 * and a late answer for the revoked cmd changes nothing. 7 s later the same
 * migrate for pid 3134 goes through.
 */
static void test_topology_race(void **state)
{
	static const struct meta_recover_chunk c[NC] = { H(1, 30 * G), H(2, G), H(4, G),
							 H(5, G) };
	struct meta_recover_pext p3133 = pext(LOC(4, 2, 5, 0), LOC(4, 2, 5, 0), 3, 0, 4);
	struct meta_recover_pext p3134 = p3133;
	struct meta_recover_slots s, empty;
	struct meta_recover_cmd cmd, cmd2;
	struct meta_recover_undo u;
	struct meta_recover_err e;

	p3133.pid = 3133;
	meta_recover_slots_init(&s, META_RECOVER_SLOTS_DEFAULT);
	empty = s;
	assert_int_equal(meta_recover_migrate(&s, &p3133, c, NC, false, 5, 1, 5, 83771647, &cmd,
					      &e), 0);
	assert_int_equal(cmd.owner, 5);
	assert_true(cmd.owner_new);
	assert_int_equal(s.by_cid[5].cmds, 1);
	assert_int_equal(s.by_cid[1].rx_pids, 1);
	assert_int_equal(meta_recover_dst_free(&s, &c[0]), 30 * G - E);

	/* 566 ms later chunk 5 moves: its cmds are revoked, delivered or not */
	assert_true(meta_recover_involves(&cmd, 5));
	assert_true(meta_recover_involves(&cmd, 1));
	assert_false(meta_recover_involves(&cmd, 4));
	assert_false(meta_recover_involves(&cmd, 0));
	assert_int_equal(cmd.start_ms, 0);
	assert_int_equal(meta_recover_release(&s, &cmd, META_RECOVER_REVOKED, &u), 0);
	assert_int_equal(u.release_owner, 5);	/* the orphan owner, given back */
	assert_int_equal(u.gc_dst, 0);		/* nothing was sent */
	assert_memory_equal(&s, &empty, sizeof(s));
	assert_int_equal(meta_recover_release(&s, &cmd, META_RECOVER_DONE, &u), -1);
	assert_memory_equal(&s, &empty, sizeof(s));

	/* pid 3134's identical migrate, 7 s later, delivered and done */
	assert_int_equal(meta_recover_migrate(&s, &p3134, c, NC, false, 5, 1, 5, 83778647, &cmd2,
					      &e), 0);
	meta_recover_delivered(&cmd2, 83779000);
	assert_int_equal(meta_recover_release(&s, &cmd2, META_RECOVER_DONE, &u), 0);
	assert_int_equal(u.release_owner, 0);	/* done: the owner stays */
	assert_int_equal(u.gc_dst, 0);
	assert_memory_equal(&s, &empty, sizeof(s));
	/* and the location it leads to: 5's slot to 1 (SPEC 1.6) */
	assert_int_equal(loc_replace(p3134.location, cmd2.replace, cmd2.dst), 66052);
}

/* ---- timeouts, involvement ---- */

struct timeout_case {
	const char *name;
	uint64_t issued, start, now, timeout;
	bool want;
};

#define MIN (60ULL * 1000)

static const struct timeout_case timeout_cases[] = {
	{ "delivered, before", 0, 10 * MIN, 27 * MIN, META_RECOVER_TIMEOUT_MS, false },
	{ "delivered, at", 0, 10 * MIN, 28 * MIN, META_RECOVER_TIMEOUT_MS, true },
	{ "counts from delivery, not issue", 0, 10 * MIN, 20 * MIN, 18 * MIN, false },
	{ "not delivered: from issue", 5 * MIN, 0, 23 * MIN, 18 * MIN, true },
	{ "not delivered, before", 5 * MIN, 0, 22 * MIN, 18 * MIN, false },
	{ "tests use seconds", 1000, 2000, 5000, 3000, true },
	{ "clock behind start", 0, 10 * MIN, 9 * MIN, 1, false },
};

static void test_timeout(void **state)
{
	for (size_t i = 0; i < sizeof(timeout_cases) / sizeof(timeout_cases[0]); i++) {
		const struct timeout_case *t = &timeout_cases[i];
		struct meta_recover_cmd cmd = { .issued_ms = t->issued, .start_ms = t->start };
		print_message("case: %s\n", t->name);
		assert_int_equal(meta_recover_timed_out(&cmd, t->now, t->timeout), t->want);
	}
	{
		struct meta_recover_cmd cmd = { .issued_ms = 0 };
		meta_recover_delivered(&cmd, 0);	/* delivered at time 0 still counts */
		assert_true(cmd.start_ms != 0);
	}
}

static void test_involves(void **state)
{
	/* the owner rewrote src 1 to 2: both are its src; replace and owner are not */
	struct meta_recover_cmd cmd = { .src = 2, .slot_src = 1, .dst = 4, .replace = 3,
					.owner = 6 };

	assert_true(meta_recover_involves(&cmd, 1));
	assert_true(meta_recover_involves(&cmd, 2));
	assert_true(meta_recover_involves(&cmd, 4));
	assert_false(meta_recover_involves(&cmd, 3));
	assert_false(meta_recover_involves(&cmd, 6));
	assert_false(meta_recover_involves(&cmd, 0));
}

static void test_dst_free_and_names(void **state)
{
	struct meta_recover_chunk k = H(4, 3 * E);
	struct meta_recover_chunk none = H(0, 3 * E);
	struct meta_recover_slots s;

	meta_recover_slots_init(&s, 1);
	assert_int_equal(meta_recover_dst_free(&s, &k), 3 * E);
	s.by_cid[4].rx_pids = 2;
	assert_int_equal(meta_recover_dst_free(&s, &k), E);
	s.by_cid[4].rx_pids = 5;
	assert_int_equal(meta_recover_dst_free(&s, &k), 0);	/* no wrap */
	assert_int_equal(meta_recover_dst_free(&s, &none), 0);
	for (int i = 0; i < META_RECOVER__COUNT; i++) {
		assert_non_null(meta_recover_error_name(i));
		assert_string_not_equal(meta_recover_error_name(i), "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(meta_recover_error_name(i),
						meta_recover_error_name(j));
	}
	assert_string_equal(meta_recover_error_name(META_RECOVER__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_predicates),
		cmocka_unit_test(test_pick_replace),
		cmocka_unit_test(test_pick_src),
		cmocka_unit_test(test_pick_dst),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_drain),
		cmocka_unit_test(test_alloc_owner),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_topology_race),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_involves),
		cmocka_unit_test(test_dst_free_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
