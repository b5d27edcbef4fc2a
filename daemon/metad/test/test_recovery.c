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
		cmocka_unit_test(test_alloc_owner),
		cmocka_unit_test(test_dst_free_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
