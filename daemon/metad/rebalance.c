// SPDX-License-Identifier: GPL-2.0
/* Rebalance policy (see rebalance.h). */
#include <stdlib.h>
#include <string.h>

#include "location.h"
#include "rebalance.h"

typedef unsigned __int128 u128;

#define NPAIRS	(ZBS_LOC_SLOTS * (ZBS_LOC_SLOTS - 1) / 2)

const char *meta_rebal_why_name(enum meta_rebal_why w)
{
	switch (w) {
	case META_REBAL_LOCALIZE: return "localize";
	case META_REBAL_TOPOLOGY: return "topology";
	case META_REBAL_CAPACITY: return "capacity";
	}
	return "?";
}

const char *meta_rebal_skip_name(enum meta_rebal_skip s)
{
	static const char *const n[] = {
		[META_REBAL_MOVE] = "move",
		[META_REBAL_UNSETTLED] = "unsettled",
		[META_REBAL_NO_PREFER] = "no prefer local",
		[META_REBAL_PREFER_DOWN] = "prefer local down",
		[META_REBAL_IN_PLACE] = "in place",
		[META_REBAL_NO_DST] = "no dst",
		[META_REBAL_NO_REPLACE] = "no replace",
		[META_REBAL_BUSY] = "busy",
		[META_REBAL_NO_SPACE] = "no space",
	};
	return (unsigned)s <= META_REBAL_NO_SPACE ? n[s] : "?";
}

/* the chunks by cid, and the plain array placement wants */
struct view {
	struct meta_rebal_chunk *by_cid[META_MAX_CID + 1];
	struct meta_place_chunk pc[META_MAX_CID];
	size_t npc;
};

static void view_init(struct view *v, const struct meta_rebal_chunk *c, size_t nc)
{
	memset(v->by_cid, 0, sizeof(v->by_cid));
	v->npc = 0;
	for (size_t i = 0; i < nc; i++) {
		uint32_t cid = c[i].pc.cid;

		if (!cid || cid > META_MAX_CID || v->by_cid[cid])
			continue;
		v->by_cid[cid] = (struct meta_rebal_chunk *)&c[i];
		v->pc[v->npc++] = c[i].pc;
	}
}

static const struct meta_rebal_chunk *chunk(const struct view *v, uint32_t cid)
{
	return cid && cid <= META_MAX_CID ? v->by_cid[cid] : NULL;
}

static bool settled(const struct meta_rebal_pext *p)
{
	int n = loc_count(p->location);

	if (p->has_cmd || p->temporary || !n || (uint32_t)n != p->expected)
		return false;
	for (int i = 0; i < n; i++)
		if (!loc_contains(p->alive_location, loc_get(p->location, i)))
			return false;
	return true;
}

static enum meta_place_dist dist(const struct view *v, uint32_t a, uint32_t b)
{
	const struct meta_rebal_chunk *ca = chunk(v, a), *cb = chunk(v, b);
	static const struct meta_place_path none;

	return meta_place_distance(a, ca ? &ca->pc.topo : &none, b, cb ? &cb->pc.topo : &none);
}

static bool same_zone(const struct view *v, uint32_t a, uint32_t b)
{
	return dist(v, a, b) < META_DIST_FAR;
}

/* ---- safety: pair distances sorted ascending ---- */

struct safety {
	uint8_t n;
	uint8_t d[NPAIRS];
};

static void safety_of(const struct view *v, const uint32_t *cids, int n, struct safety *s)
{
	s->n = 0;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			uint8_t d = (uint8_t)dist(v, cids[i], cids[j]);
			int k = s->n++;

			while (k > 0 && s->d[k - 1] > d) {
				s->d[k] = s->d[k - 1];
				k--;
			}
			s->d[k] = d;
		}
}

static int safety_cmp(const struct safety *a, const struct safety *b)
{
	for (int i = 0; i < a->n && i < b->n; i++)
		if (a->d[i] != b->d[i])
			return a->d[i] < b->d[i] ? -1 : 1;
	return (a->n > b->n) - (a->n < b->n);
}

/* the safety of p's replicas with `replace` swapped for `dst` */
static void safety_with(const struct view *v, uint32_t loc, uint32_t replace, uint32_t dst,
			struct safety *s)
{
	uint32_t cids[ZBS_LOC_SLOTS];
	int n = loc_count(loc);

	for (int i = 0; i < n; i++) {
		uint32_t c = loc_get(loc, i);
		cids[i] = c == replace ? dst : c;
	}
	safety_of(v, cids, n, s);
}

/* ---- chunk tests ---- */

static bool fits(const struct meta_rebal_chunk *c)
{
	return c->pc.healthy && c->pc.valid >= c->pc.allocated &&
	       c->pc.valid - c->pc.allocated >= ZBS_EXTENT_SIZE;
}

static bool idle_enough(const struct meta_rebal_chunk *c)
{
	return c->slots > 0 && c->cmds <= META_REBAL_MAX_CMDS;
}

/* a/b < c/d exactly (b, d > 0) */
static bool ratio_below(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return (u128)a * d < (u128)c * b;
}

/* would taking an extent bring it to super high? */
static bool super_after(const struct meta_rebal_chunk *c, const struct meta_load_thresholds *t)
{
	return meta_load_level(c->pc.allocated + ZBS_EXTENT_SIZE, c->pc.valid, true, t) ==
	       META_LOAD_SUPER_HIGH;
}

/* src for a move to dst replacing replace (6.4 GetRepairCid 4): replace
 * itself unless it is failslow or in another zone than dst; then an alive
 * replica in dst's zone that is not failslow; failing that replace if it is
 * not failslow, else any replica that is not */
static uint32_t pick_src(const struct view *v, const struct meta_rebal_pext *p, uint32_t replace,
			 uint32_t dst)
{
	const struct meta_rebal_chunk *r = chunk(v, replace);
	bool r_ok = r && r->pc.healthy && !r->pc.failslow;
	int n = loc_count(p->location);

	if (r_ok && same_zone(v, replace, dst))
		return replace;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++) {
			uint32_t c = loc_get(p->location, i);
			const struct meta_rebal_chunk *x = chunk(v, c);

			if (!x || !x->pc.healthy || x->pc.failslow)
				continue;
			if (pass == 0 && same_zone(v, c, dst))
				return c;
			if (pass == 1 && (r_ok || c != replace))
				return r_ok ? replace : c;
		}
	return replace;
}

static enum meta_rebal_skip busy(const struct view *v, uint32_t src, uint32_t dst)
{
	const struct meta_rebal_chunk *s = chunk(v, src), *d = chunk(v, dst);

	return s && d && idle_enough(s) && idle_enough(d) ? META_REBAL_MOVE : META_REBAL_BUSY;
}

/* ---- localization (SPEC 6.4) ---- */

static enum meta_rebal_skip localize(const struct view *v, const struct meta_rebal_pext *p,
				     struct meta_rebal_move *m)
{
	const struct meta_rebal_chunk *pref, *x;
	uint32_t exp[ZBS_LOC_SLOTS], dst = 0, replace = 0, src;
	int n = loc_count(p->location), ne;
	bool in_exp[META_MAX_CID + 1] = { false }, all_in = true, space_short = false;

	if (!settled(p))
		return META_REBAL_UNSETTLED;
	if (!p->prefer_cid || p->even)
		return META_REBAL_NO_PREFER;
	pref = chunk(v, p->prefer_cid);
	if (!pref || !pref->pc.healthy)
		return META_REBAL_PREFER_DOWN;			/* rule 1 */
	ne = meta_place_localized(v->pc, v->npc, p->prefer_cid, p->expected, exp);
	if (ne < 0)
		return META_REBAL_NO_DST;
	for (int i = 0; i < ne; i++)
		in_exp[exp[i]] = true;
	for (int i = 0; i < n; i++)
		all_in &= in_exp[loc_get(p->location, i)];
	if (all_in)
		return META_REBAL_IN_PLACE;			/* GetRepairCid 1 */

	/* dst: prefer local, else the expected set in order */
	if (!loc_contains(p->location, p->prefer_cid) && !pref->pc.failslow) {
		if (fits(pref))
			dst = p->prefer_cid;
		else
			space_short = true;
	}
	for (int i = 0; !dst && i < ne; i++) {
		if (loc_contains(p->location, exp[i]) || !(x = chunk(v, exp[i])) || x->pc.failslow)
			continue;
		if (fits(x))
			dst = exp[i];
		else
			space_short = true;
	}
	/* replace: outside the expected set, not the owner; failslow first,
	 * else the last in location order */
	for (int i = 0; i < n; i++) {
		uint32_t c = loc_get(p->location, i);

		if (in_exp[c] || c == p->owner)
			continue;
		x = chunk(v, c);
		if (x && x->pc.failslow) {
			replace = c;
			break;
		}
		replace = c;
	}
	if (!dst)
		return space_short ? META_REBAL_NO_SPACE : META_REBAL_NO_DST;	/* rules 3, 5 */
	if (!replace)
		return META_REBAL_NO_REPLACE;			/* rule 3 */
	src = pick_src(v, p, replace, dst);
	if (busy(v, src, dst))
		return META_REBAL_BUSY;				/* rule 4 */
	*m = (struct meta_rebal_move){ p->pid, src, dst, replace, META_REBAL_LOCALIZE };
	return META_REBAL_MOVE;
}

/* ---- topology (SPEC 6.5a) ---- */

static enum meta_rebal_skip topology(const struct view *v, const struct meta_rebal_pext *p,
				     const struct meta_load_thresholds *t,
				     struct meta_rebal_move *m)
{
	struct {
		uint32_t cid;
		uint8_t near;
		bool failslow;
		const struct meta_rebal_chunk *c;
	} r[ZBS_LOC_SLOTS];
	int n = loc_count(p->location);
	uint32_t replace = 0, dst = 0, src;
	struct safety cur, best = { 0 }, s;
	const struct meta_rebal_chunk *bestc = NULL, *pref;

	if (!settled(p))
		return META_REBAL_UNSETTLED;
	if (n < 2)
		return META_REBAL_IN_PLACE;
	for (int i = 0; i < n; i++) {
		r[i].cid = loc_get(p->location, i);
		r[i].c = chunk(v, r[i].cid);
		r[i].failslow = r[i].c && r[i].c->pc.failslow;
		r[i].near = META_DIST_FAR;
		for (int j = 0; j < n; j++) {
			uint8_t d = (uint8_t)dist(v, r[i].cid, loc_get(p->location, j));
			if (j != i && d < r[i].near)
				r[i].near = d;
		}
	}
	/* insertion sort: nearest first, failslow first, higher ratio first */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0; j--) {
			typeof(r[0]) a = r[j - 1], b = r[j], tmp;
			bool swap = b.near < a.near ||
				    (b.near == a.near && b.failslow && !a.failslow) ||
				    (b.near == a.near && b.failslow == a.failslow && a.c && b.c &&
				     a.c->pc.valid && b.c->pc.valid &&
				     ratio_below(a.c->pc.allocated, a.c->pc.valid,
						 b.c->pc.allocated, b.c->pc.valid));
			if (!swap)
				break;
			tmp = r[j - 1];
			r[j - 1] = r[j];
			r[j] = tmp;
		}
	for (int i = 0; i < n && !replace; i++)
		if (r[i].cid != p->prefer_cid && r[i].cid != p->owner && r[i].c &&
		    idle_enough(r[i].c))
			replace = r[i].cid;
	if (!replace && p->owner && loc_contains(p->location, p->owner))
		replace = p->owner;
	if (!replace)
		return META_REBAL_NO_REPLACE;

	safety_with(v, p->location, 0, 0, &cur);
	if (cur.d[0] == META_DIST_FAR)
		return META_REBAL_IN_PLACE;	/* every pair in other zones already */
	pref = chunk(v, p->prefer_cid);
	if (pref && !loc_contains(p->location, p->prefer_cid) && !pref->pc.failslow &&
	    fits(pref) && idle_enough(pref) && !super_after(pref, t)) {
		safety_with(v, p->location, replace, p->prefer_cid, &s);
		if (safety_cmp(&s, &cur) > 0)
			dst = p->prefer_cid;
	}
	for (uint32_t cid = 1; !dst && cid <= META_MAX_CID; cid++) {
		const struct meta_rebal_chunk *x = chunk(v, cid);

		if (!x || loc_contains(p->location, cid) || x->pc.failslow || !fits(x) ||
		    !idle_enough(x) || super_after(x, t))
			continue;
		safety_with(v, p->location, replace, cid, &s);
		if (safety_cmp(&s, &cur) <= 0)
			continue;
		if (!bestc || safety_cmp(&s, &best) > 0 ||
		    (safety_cmp(&s, &best) == 0 &&
		     ratio_below(x->pc.allocated, x->pc.valid, bestc->pc.allocated,
				 bestc->pc.valid))) {
			bestc = x;
			best = s;
		}
	}
	if (!dst && bestc)
		dst = bestc->pc.cid;
	if (!dst)
		return META_REBAL_IN_PLACE;	/* as safe as the chunks allow */
	src = pick_src(v, p, replace, dst);
	if (busy(v, src, dst))
		return META_REBAL_BUSY;
	*m = (struct meta_rebal_move){ p->pid, src, dst, replace, META_REBAL_TOPOLOGY };
	return META_REBAL_MOVE;
}

enum meta_rebal_skip meta_rebal_localize(const struct meta_rebal_pext *p,
					 const struct meta_rebal_chunk *c, size_t nc,
					 struct meta_rebal_move *m)
{
	static __thread struct view v;

	view_init(&v, c, nc);
	return localize(&v, p, m);
}

enum meta_rebal_skip meta_rebal_topology(const struct meta_rebal_pext *p,
					 const struct meta_rebal_chunk *c, size_t nc,
					 struct meta_rebal_move *m)
{
	static __thread struct view v;

	view_init(&v, c, nc);
	return topology(&v, p, NULL, m);
}

/* ---- the plan ---- */

static void charge(struct view *v, const struct meta_rebal_move *m, struct meta_rebal_plan *info)
{
	struct meta_rebal_chunk *d = v->by_cid[m->dst], *r = v->by_cid[m->replace];
	struct meta_rebal_chunk *s = v->by_cid[m->src];

	d->pc.allocated += ZBS_EXTENT_SIZE;
	d->cmds++;
	if (d->slots)
		d->slots--;
	if (s) {
		s->cmds++;
		if (s->slots)
			s->slots--;
	}
	if (r)
		r->pc.allocated = r->pc.allocated > ZBS_EXTENT_SIZE ?
				  r->pc.allocated - ZBS_EXTENT_SIZE : 0;
	info->in_bytes[m->dst] += ZBS_EXTENT_SIZE;
	info->out_bytes[m->replace] += ZBS_EXTENT_SIZE;
	/* keep the placement copy in step */
	for (size_t i = 0; i < v->npc; i++) {
		if (v->pc[i].cid == m->dst)
			v->pc[i].allocated = d->pc.allocated;
		if (r && v->pc[i].cid == m->replace)
			v->pc[i].allocated = r->pc.allocated;
	}
}

/* move class of a pextent: thick, thin without origin, thin with origin */
static int klass(const struct meta_rebal_pext *p)
{
	return p->thick ? 0 : p->has_origin ? 2 : 1;
}

struct capa {
	uint32_t *list[META_MAX_CID + 1][3];	/* pextent indices with a replica there */
	uint32_t len[META_MAX_CID + 1][3];
	uint32_t next[META_MAX_CID + 1][3];
};

static void capa_free(struct capa *k)
{
	for (int c = 0; c <= META_MAX_CID; c++)
		for (int j = 0; j < 3; j++)
			free(k->list[c][j]);
	free(k);
}

static struct capa *capa_build(const struct meta_rebal_pext *p, size_t np)
{
	struct capa *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < np; i++) {
			int n = loc_count(p[i].location), j = klass(&p[i]);

			for (int s = 0; s < n; s++) {
				uint32_t c = loc_get(p[i].location, s);

				if (pass)
					k->list[c][j][k->len[c][j]++] = (uint32_t)i;
				else
					k->len[c][j]++;
			}
		}
		if (pass)
			break;
		for (int c = 0; c <= META_MAX_CID; c++)
			for (int j = 0; j < 3; j++) {
				if (k->len[c][j] &&
				    !(k->list[c][j] = malloc(k->len[c][j] * sizeof(uint32_t)))) {
					capa_free(k);
					return NULL;
				}
				k->len[c][j] = 0;
			}
	}
	return k;
}

/* is chunk c overloaded: its ratio above the cluster's (A/V) by the margin? */
static bool overloaded(const struct meta_rebal_chunk *c, uint64_t A, uint64_t V)
{
	/* alloc/valid > A/V + m/1000  <=>  1000 alloc V > valid (1000 A + m V) */
	return c->pc.healthy && c->pc.valid &&
	       (u128)1000 * c->pc.allocated * V >
	       (u128)c->pc.valid * ((u128)1000 * A + (u128)META_REBAL_MARGIN * V);
}

/* the best dst for moving p's replica off src, or 0 */
static uint32_t capacity_dst(const struct view *v, const struct meta_rebal_pext *p,
			     const struct meta_rebal_chunk *src, bool very_high,
			     const struct meta_load_thresholds *t)
{
	const struct meta_rebal_chunk *best = NULL;
	struct safety cur, s;

	safety_with(v, p->location, 0, 0, &cur);
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		const struct meta_rebal_chunk *x = chunk(v, cid);

		if (!x || loc_contains(p->location, cid) || x->pc.failslow || !fits(x) ||
		    !idle_enough(x) || super_after(x, t))
			continue;
		if (!very_high && (u128)x->used * 1000 > (u128)x->pc.valid * META_REBAL_USED_MAX)
			continue;				/* SPEC 6.6 */
		/* after the move dst is not above src (no ping-pong) */
		if (src->pc.allocated < ZBS_EXTENT_SIZE ||
		    ratio_below(src->pc.allocated - ZBS_EXTENT_SIZE, src->pc.valid,
				x->pc.allocated + ZBS_EXTENT_SIZE, x->pc.valid))
			continue;
		if (best && !ratio_below(x->pc.allocated, x->pc.valid, best->pc.allocated,
					 best->pc.valid))
			continue;
		safety_with(v, p->location, src->pc.cid, cid, &s);
		if (safety_cmp(&s, &cur) < 0)
			continue;				/* never less safe */
		best = x;
	}
	return best ? best->pc.cid : 0;
}

static size_t capacity(struct view *v, const struct meta_rebal_pext *p, size_t np,
		       uint8_t *moved, bool very_high, const struct meta_load_thresholds *t,
		       struct meta_rebal_move *out, size_t n, size_t max,
		       struct meta_rebal_plan *info)
{
	struct capa *k = capa_build(p, np);
	bool done[META_MAX_CID + 1] = { false };

	if (!k) {
		info->truncated = true;
		return n;
	}
	while (n < max) {
		struct meta_rebal_chunk *src = NULL;
		uint64_t A = 0, V = 0;
		bool found = false;

		for (size_t i = 0; i < v->npc; i++)
			if (v->pc[i].healthy) {
				A += v->pc[i].allocated;
				V += v->pc[i].valid;
			}
		if (!V)
			break;
		/* the most loaded chunk still overloaded */
		for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
			struct meta_rebal_chunk *x = v->by_cid[cid];

			if (!x || done[cid] || !overloaded(x, A, V))
				continue;
			if (!src || ratio_below(src->pc.allocated, src->pc.valid, x->pc.allocated,
						x->pc.valid))
				src = x;
		}
		if (!src)
			break;
		for (int j = 0; j < 3 && !found; j++) {
			uint32_t cid = src->pc.cid;

			while (k->next[cid][j] < k->len[cid][j] && !found) {
				uint32_t i = k->list[cid][j][k->next[cid][j]++];
				const struct meta_rebal_pext *q = &p[i];
				uint32_t dst, from;

				if (moved[i] || !settled(q))
					continue;
				dst = capacity_dst(v, q, src, very_high, t);
				if (!dst)
					continue;
				from = pick_src(v, q, cid, dst);
				if (busy(v, from, dst))
					continue;
				out[n] = (struct meta_rebal_move){ q->pid, from, dst, cid,
								   META_REBAL_CAPACITY };
				charge(v, &out[n], info);
				moved[i] = 1;
				info->capacity++;
				n++;
				found = true;
			}
		}
		if (!found)
			done[src->pc.cid] = true;	/* nothing more moves off it */
	}
	if (n >= max)
		info->truncated = true;
	capa_free(k);
	return n;
}

/* capacity rebalance runs when the cluster is above low or a chunk is high */
static bool wants_capacity(const struct view *v, enum meta_load_level cluster,
			   const struct meta_load_thresholds *t)
{
	if (cluster != META_LOAD_LOW)
		return true;
	for (size_t i = 0; i < v->npc; i++)
		if (v->pc[i].healthy &&
		    meta_load_level(v->pc[i].allocated, v->pc[i].valid, true, t) >= META_LOAD_HIGH)
			return true;
	return false;
}

size_t meta_rebal_plan(const struct meta_rebal_pext *p, size_t np, struct meta_rebal_chunk *c,
		       size_t nc, const struct meta_load_thresholds *t, struct meta_rebal_move *out,
		       size_t max, struct meta_rebal_plan *info)
{
	static const struct meta_load_thresholds defaults = META_LOAD_THRESHOLDS_DEFAULT;
	struct view *v = malloc(sizeof(*v));
	uint8_t *moved = calloc(np ? np : 1, 1);
	size_t n = 0;

	memset(info, 0, sizeof(*info));
	if (!t)
		t = &defaults;
	if (!v || !moved) {
		info->truncated = true;
		goto out;
	}
	view_init(v, c, nc);
	info->level = meta_place_cluster_level(v->pc, v->npc, t);
	for (size_t i = 0; i < np && n < max; i++) {
		const struct meta_rebal_chunk *pref = chunk(v, p[i].prefer_cid);
		enum meta_load_level l = info->level;
		bool low;

		if (pref && !p[i].even) {
			enum meta_load_level pl = meta_load_level(pref->pc.allocated,
								  pref->pc.valid, true, t);
			if (pl > l)
				l = pl;
		}
		low = l == META_LOAD_LOW;
		if ((low ? localize(v, &p[i], &out[n]) : topology(v, &p[i], t, &out[n])) !=
		    META_REBAL_MOVE)
			continue;
		charge(v, &out[n], info);
		moved[i] = 1;
		if (low)
			info->localize++;
		else
			info->topology++;
		n++;
	}
	if (n >= max && np)
		info->truncated = true;
	if (wants_capacity(v, info->level, t) &&
	    (!info->topology || info->level >= META_LOAD_VERY_HIGH))
		n = capacity(v, p, np, moved, info->level >= META_LOAD_VERY_HIGH, t, out, n, max,
			     info);
out:
	free(v);
	free(moved);
	return n;
}
