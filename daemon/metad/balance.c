// SPDX-License-Identifier: GPL-2.0
/* The cluster's load and the rebalance plan (see balance.h). */
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "location.h"
#include "log.h"
#include "provision.h"
#include "rpc.h"
#include "scheduler.h"

static uint32_t permille(uint64_t a, uint64_t b)
{
	unsigned __int128 r;

	if (!b)
		return a ? 10000 : 0;
	r = (unsigned __int128)a * 1000 / b;
	return r > 10000 ? 10000 : (uint32_t)r;
}

void meta_cluster_load(struct meta *m, struct meta_cluster_load *out)
{
	static const struct meta_load_thresholds t = META_LOAD_THRESHOLDS_DEFAULT;

	memset(out, 0, sizeof(*out));
	out->t = t;
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = meta_chunk(&m->chunks, cid);
		struct meta_chunk_load *l;
		struct meta_place_space sp;

		if (!c)
			continue;
		l = &out->chunks[out->n++];
		meta_provision_space(c, false, &sp);
		meta_place_space_split(&sp, &l->split);
		l->cid = cid;
		l->healthy = c->status == CHUNK_HEALTHY;
		l->failslow = c->failslow;
		l->topo = meta_provision_path(m, c);
		/* a failslow chunk's space is not valid space (SPEC 4.7 rule 5):
		 * valid 0, its ratio and level those of a full chunk */
		l->valid = c->failslow ? 0 : c->space.valid;
		l->used = c->space.used;
		l->ratio_permille = permille(l->split.allocated, l->valid);
		l->level = meta_load_level(l->split.allocated, l->valid, true, &t);
		if (l->healthy) {
			out->valid += l->valid;
			out->allocated += l->split.allocated;
		}
	}
	out->ratio_permille = permille(out->allocated, out->valid);
	out->level = meta_load_level(out->allocated, out->valid, false, &t);
}

size_t meta_balance_chunks(struct meta *m, struct meta_rebal_chunk *out)
{
	size_t n = 0;

	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = meta_chunk(&m->chunks, cid);
		struct meta_place_space sp;

		if (!c)
			continue;
		meta_provision_space(c, false, &sp);
		out[n++] = (struct meta_rebal_chunk){
			.pc = {
				.cid = cid,
				/* maintenance, removing: no dst (chunk_admin.h) */
				.healthy = meta_chunk_takes_replicas(c, m->core.wall_ns),
				.failslow = c->failslow,
				.topo = meta_provision_path(m, c),
				.valid = sp.valid,
				.allocated = meta_place_allocated(&sp),
			},
			.used = c->space.used,
			.slots = m->sched ? meta_recover_slots_avail(&m->sched->slots, cid) :
					    META_RECOVER_SLOTS_DEFAULT,
			.cmds = m->sched ? m->sched->slots.by_cid[cid].cmds : 0,
		};
	}
	return n;
}

struct meta_plan {
	struct meta_rebal_planner *pl;
	uint64_t cursor;		/* next pid to look at; 0 = all seen */
	uint64_t scanned;
	uint32_t before[META_MAX_CID + 1];
	bool fed;
};

struct meta_plan *meta_plan_start(struct meta *m, uint32_t max)
{
	struct meta_plan *p = calloc(1, sizeof(*p));
	struct meta_rebal_chunk c[META_MAX_CID];
	size_t nc;

	if (!p)
		return NULL;
	nc = meta_balance_chunks(m, c);
	for (size_t i = 0; i < nc; i++)
		p->before[c[i].pc.cid] = permille(c[i].pc.allocated, c[i].pc.valid);
	p->pl = meta_rebal_planner_new(c, nc, NULL, max ? max : META_PLAN_DEFAULT_MOVES);
	if (!p->pl) {
		free(p);
		return NULL;
	}
	p->cursor = meta_pext_next(&m->pexts, 1);
	return p;
}

/* a pextent as rebalance sees it */
static void describe(struct meta *m, uint64_t pid, const struct meta_pext *x,
		     struct meta_rebal_pext *r)
{
	struct meta_session *o = x->owner ? meta_session_find(&m->sessions, x->owner) : NULL;
	struct meta_volume *v = meta_volume_at(&m->vols, x->vol);
	uint64_t origin = 0, origin_epoch = 0;

	meta_pext_origin(&m->pexts, pid, &origin, &origin_epoch);
	*r = (struct meta_rebal_pext){
		.pid = pid,
		.location = x->location,
		.alive_location = x->alive_location,
		.expected = x->expected,
		.owner = o && o->alive ? o->cid : 0,
		.prefer_cid = x->preferred_cid,
		.thick = !(x->flags & PEXT_THIN),
		.has_origin = origin != 0,
		.has_cmd = meta_sched_has_cmd(m, pid),
		.even = v && (v->flags & META_VOL_EVEN),
		.vol = x->vol + 1,	/* 0 is "none" there */
	};
}

bool meta_plan_step(struct meta *m, struct meta_plan *p)
{
	if (!p->fed) {
		uint32_t n = 0;

		/* pids may come and go between slices: the cursor only moves on */
		while (p->cursor && n++ < META_PLAN_SLICE_PEXTS) {
			struct meta_pext *x = meta_pext(&m->pexts, p->cursor);
			struct meta_rebal_pext r;

			if (x) {
				describe(m, p->cursor, x, &r);
				meta_rebal_planner_add(p->pl, &r);
				p->scanned++;
			}
			p->cursor = meta_pext_next(&m->pexts, p->cursor + 1);
		}
		if (p->cursor)
			return false;
		p->fed = true;
		return false;
	}
	return meta_rebal_planner_step(p->pl, META_PLAN_SLICE_STEPS);
}

const struct meta_rebal_move *meta_plan_moves(const struct meta_plan *p, size_t *n,
					      struct meta_rebal_plan *info)
{
	return meta_rebal_planner_moves(p->pl, n, info);
}

uint64_t meta_plan_scanned(const struct meta_plan *p)
{
	return p->scanned;
}

uint32_t meta_plan_ratio_before(const struct meta_plan *p, uint32_t cid)
{
	return cid <= META_MAX_CID ? p->before[cid] : 0;
}

void meta_plan_free(struct meta_plan *p)
{
	if (!p)
		return;
	meta_rebal_planner_free(p->pl);
	free(p);
}

/* ---- rebalance feeding the scheduler ---- */

int meta_balance_init(struct meta *m)
{
	struct meta_balance *b = calloc(1, sizeof(*b));
	uint32_t iv = m->core.cfg.rebalance_interval_ms;

	if (!b)
		return -1;
	/* the first plan after the chunks had time to report (as the
	 * scheduler's quiet start): two session leases, or the interval if
	 * shorter */
	b->next_plan_ms = meta_sched_now_ms(m) +
			  (iv && iv < 2ULL * m->core.cfg.session_lease_ms ?
			   iv : 2ULL * m->core.cfg.session_lease_ms);
	b->tokens_ms = meta_sched_now_ms(m);
	m->balance = b;
	return 0;
}

void meta_balance_free(struct meta *m)
{
	struct meta_balance *b = m->balance;

	if (!b)
		return;
	meta_plan_free(b->plan);
	free(b->q);
	free(b);
	m->balance = NULL;
}

size_t meta_balance_queue(struct meta *m, const struct meta_rebal_move *mv, size_t n,
			  uint32_t per_hour)
{
	struct meta_balance *b = m->balance;
	struct meta_rebal_move *q;

	if (!b)
		return 0;
	q = n ? malloc(n * sizeof(*q)) : NULL;
	if (n && !q) {
		log_err("rebalance: out of memory: %zu moves not queued", n);
		return 0;
	}
	if (n)
		memcpy(q, mv, n * sizeof(*q));
	free(b->q);
	b->q = q;
	b->head = 0;
	b->n = n;
	b->per_hour = per_hour ? per_hour :
		      m->core.cfg.rebalance_moves_per_hour ? m->core.cfg.rebalance_moves_per_hour :
		      META_REBALANCE_MOVES_PER_HOUR;
	if (b->head < b->n)
		log_info("rebalance: %zu move(s) queued for the scheduler, at most %u an hour", n,
			 b->per_hour);
	return n;
}

/* hand queued moves to the scheduler as the token bucket allows */
static void hand_out(struct meta *m, struct meta_balance *b, uint64_t now)
{
	uint64_t cap = (uint64_t)b->per_hour * 1000 / 60;

	if (cap < 1000)
		cap = 1000;		/* at least one move */
	if (now > b->tokens_ms) {
		/* per_hour moves an hour: per_hour / 3600 thousandths a ms */
		b->tokens += (now - b->tokens_ms) * b->per_hour / 3600;
		if (b->tokens > cap)
			b->tokens = cap;
		b->tokens_ms = now;
	}
	while (b->head < b->n && b->tokens >= 1000) {
		const struct meta_rebal_move *mv = &b->q[b->head];
		struct meta_sched_cmd *c;
		struct merr e = { 0 };

		if (meta_sched_migrate(m, mv->pid, mv->src, mv->dst, mv->replace, &c, &e) == 0) {
			log_info("Migrate for %s: pid %llu src %u dst %u replace %u",
				 meta_rebal_why_name(mv->why), (unsigned long long)mv->pid, mv->src,
				 mv->dst, mv->replace);
			b->applied++;
			b->tokens -= 1000;
		} else if (e.status == ZBS_RPC_EAGAIN) {
			break;		/* not now: the next tick */
		} else {
			log_info("rebalance: move of pid %llu (%s) dropped: %s",
				 (unsigned long long)mv->pid, meta_rebal_why_name(mv->why), e.msg);
			b->dropped++;
		}
		b->head++;
	}
	if (b->head == b->n && b->q) {
		free(b->q);
		b->q = NULL;
		b->head = b->n = 0;
	}
}

void meta_balance_tick(struct meta *m)
{
	struct meta_balance *b = m->balance;
	uint32_t iv = m->core.cfg.rebalance_interval_ms;
	uint64_t now;

	if (!b || !m->sched)
		return;
	now = meta_sched_now_ms(m);
	if (iv && !b->plan && now >= b->next_plan_ms) {
		b->plan = meta_plan_start(m, 0);
		if (!b->plan)
			b->next_plan_ms = now + iv;	/* out of memory: later */
	}
	if (b->plan && meta_plan_step(m, b->plan)) {
		struct meta_rebal_plan info;
		size_t n;
		const struct meta_rebal_move *mv = meta_plan_moves(b->plan, &n, &info);

		log_info("rebalance plan: level %s, %llu pextents, %zu move(s) (%u localize, "
			 "%u topology, %u capacity)%s", meta_load_level_name(info.level),
			 (unsigned long long)meta_plan_scanned(b->plan), n, info.localize,
			 info.topology, info.capacity, info.truncated ? ", truncated" : "");
		meta_balance_queue(m, mv, n, 0);
		meta_plan_free(b->plan);
		b->plan = NULL;
		b->next_plan_ms = now + iv;
	}
	hand_out(m, b, now);
}
