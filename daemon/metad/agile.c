// SPDX-License-Identifier: GPL-2.0
/* Agile recovery: the dropped replicas meta remembers. See agile.h. */
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "agile.h"
#include "log.h"
#include "meta.h"
#include "pextent.h"

#define AGILE_MAX	4	/* dropped replicas kept per pid */

struct agile_rep {
	uint32_t cid;
	bool seen;		/* its chunk reported it since the drop */
	bool dead;		/* not a candidate any more */
	uint64_t drop_gen, seen_gen;
	uint64_t drop_ms;
};

struct meta_agile_pid {
	uint64_t pid, epoch;
	uint32_t n;
	struct agile_rep r[AGILE_MAX];
	UT_hash_handle hh;
};

static uint64_t now_ms(const struct meta *m)
{
	return m->core.now_ns / 1000000ULL;
}

static struct meta_agile_pid *find(const struct meta *m, uint64_t pid)
{
	struct meta_agile_pid *a = NULL;

	HASH_FIND(hh, m->agile, &pid, sizeof(pid), a);
	return a;
}

static void drop_pid(struct meta *m, struct meta_agile_pid *a)
{
	HASH_DEL(m->agile, a);
	free(a);
}

static struct agile_rep *rep_of(struct meta_agile_pid *a, uint32_t cid)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (a->r[i].cid == cid)
			return &a->r[i];
	return NULL;
}

void meta_agile_dropped(struct meta *m, uint64_t pid, uint64_t epoch, uint32_t cid,
			uint64_t gen)
{
	struct meta_agile_pid *a;
	struct agile_rep *r;

	if (!m->sched)
		return;		/* no recovery: nothing to catch up */
	a = find(m, pid);
	if (a && a->epoch != epoch) {
		drop_pid(m, a);
		a = NULL;
	}
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			abort();
		a->pid = pid;
		a->epoch = epoch;
		HASH_ADD(hh, m->agile, pid, sizeof(a->pid), a);
	}
	r = rep_of(a, cid);
	if (!r) {
		if (a->n == AGILE_MAX) {	/* the oldest goes */
			memmove(&a->r[0], &a->r[1], sizeof(a->r[0]) * (AGILE_MAX - 1));
			a->n--;
		}
		r = &a->r[a->n++];
	}
	*r = (struct agile_rep){ .cid = cid, .drop_gen = gen, .drop_ms = now_ms(m) };
}

/* pid has its redundancy: replicas outside its location are garbage */
static bool complete(const struct meta_pext *p)
{
	return loc_count(p->alive_location) >= (int)p->expected;
}

enum meta_agile_seen meta_agile_seen(struct meta *m, uint32_t cid, uint64_t pid, uint64_t epoch,
				     uint64_t gen, bool has_cmd)
{
	const struct meta_pext *p = meta_pext(&m->pexts, pid);
	struct meta_agile_pid *a = find(m, pid);
	struct agile_rep *r;

	if (!p || p->epoch != epoch || loc_contains(p->location, cid))
		return META_AGILE_SEEN_NOTHING;
	if (has_cmd)
		return META_AGILE_SEEN_NOTHING;	/* maybe its dst: never garbage now */
	if (complete(p)) {
		if (a && (r = rep_of(a, cid)))
			r->dead = true;
		return META_AGILE_SEEN_GARBAGE;
	}
	if (!a || a->epoch != epoch || !(r = rep_of(a, cid)) || r->dead)
		return META_AGILE_SEEN_NOTHING;	/* recovery decides (a full copy) */
	if (r->seen && r->seen_gen == gen)
		return META_AGILE_SEEN_NOTHING;
	r->seen = true;
	r->seen_gen = gen;
	if (gen > r->drop_gen) {
		/* it took writes the kept replicas did not */
		r->dead = true;
		log_info("pid %llu: cid %u is back at gen %llu, above the gen %llu it was dropped "
			 "at: a full recovery", (unsigned long long)pid, cid,
			 (unsigned long long)gen, (unsigned long long)r->drop_gen);
	} else {
		log_info("pid %llu: cid %u is back at gen %llu (dropped at %llu): an agile "
			 "recovery can catch it up", (unsigned long long)pid, cid,
			 (unsigned long long)gen, (unsigned long long)r->drop_gen);
		return META_AGILE_SEEN_BACK;
	}
	return META_AGILE_SEEN_NOTHING;
}

static const struct meta_recover_chunk *chunk_of(const struct meta_recover_chunk *c, size_t n,
						 uint32_t cid)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].cid == cid)
			return &c[i];
	return NULL;
}

/* a current replica to read from: the owner's, else one not failslow */
static uint32_t pick_src(const struct meta_recover_pext *rp, const struct meta_recover_chunk *c,
			 size_t n)
{
	uint32_t any = 0;

	if (rp->owner && loc_contains(rp->alive_location, rp->owner))
		return rp->owner;
	for (int i = 0; i < loc_count(rp->alive_location); i++) {
		uint32_t cid = loc_get(rp->alive_location, i);
		const struct meta_recover_chunk *k = chunk_of(c, n, cid);

		if (!k || !k->healthy)
			continue;
		if (!k->failslow)
			return cid;
		if (!any)
			any = cid;
	}
	return any;
}

enum meta_agile_plan meta_agile_plan(struct meta *m, const struct meta_recover_pext *rp,
				     const struct meta_recover_chunk *c, size_t n,
				     struct meta_recover_req *req, uint64_t *since)
{
	struct meta_agile_pid *a = find(m, rp->pid);
	uint64_t now = now_ms(m);
	bool wait = false;

	if (!a)
		return META_AGILE_NONE;
	if (a->epoch != rp->epoch || loc_count(rp->location) >= (int)rp->expected) {
		drop_pid(m, a);
		return META_AGILE_NONE;
	}
	for (uint32_t i = 0; i < a->n; i++) {
		struct agile_rep *r = &a->r[i];
		const struct meta_recover_chunk *k = chunk_of(c, n, r->cid);
		uint32_t src;

		if (r->dead || loc_contains(rp->location, r->cid))
			continue;
		if (!r->seen) {
			/* a chunk in maintenance is expected back: its replicas
			 * wait for it as long as the maintenance lasts */
			if (now < r->drop_ms + m->core.cfg.agile_wait_ms || (k && k->maintenance))
				wait = true;
			continue;
		}
		if (k && k->healthy && k->maintenance) {
			wait = true;	/* back, caught up once maintenance ends */
			continue;
		}
		if (!k || !k->healthy || k->failslow || k->removing)
			continue;
		src = pick_src(rp, c, n);
		if (!src)
			return META_AGILE_NONE;
		*req = (struct meta_recover_req){ .src = src, .dst = r->cid };
		*since = r->seen_gen;
		return META_AGILE_CMD;
	}
	return wait ? META_AGILE_WAIT : META_AGILE_NONE;
}

void meta_agile_ended(struct meta *m, uint64_t pid, uint32_t dst, bool ok)
{
	struct meta_agile_pid *a = find(m, pid);
	const struct meta_pext *p = meta_pext(&m->pexts, pid);
	struct agile_rep *r;

	if (!a)
		return;
	r = rep_of(a, dst);
	if (r && ok)
		*r = a->r[--a->n];	/* it is in the location again */
	else if (r)
		r->dead = true;
	if (!a->n || !p || p->epoch != a->epoch || complete(p))
		drop_pid(m, a);
}

uint32_t meta_agile_count(const struct meta *m)
{
	return HASH_COUNT(m->agile);
}

void meta_agile_free(struct meta *m)
{
	struct meta_agile_pid *a, *t;

	HASH_ITER(hh, m->agile, a, t) {
		HASH_DEL(m->agile, a);
		free(a);
	}
}
