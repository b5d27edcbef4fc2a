// SPDX-License-Identifier: GPL-2.0
/* Rebalance policy (see rebalance.h). */
#include <stdlib.h>
#include <string.h>

#include "location.h"
#include "rebalance.h"

typedef unsigned __int128 u128;

const char *meta_rebal_why_name(enum meta_rebal_why w)
{
	switch (w) {
	case META_REBAL_LOCALIZE: return "localize";
	case META_REBAL_TOPOLOGY: return "topology";
	case META_REBAL_CAPACITY: return "capacity";
	case META_REBAL_EVEN: return "even";
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
	/* expected sets by prefer local and size, computed once per view:
	 * exp_n -2 not yet, -1 none */
	int8_t exp_n[META_MAX_CID + 1][ZBS_LOC_SLOTS + 1];
	uint32_t exp[META_MAX_CID + 1][ZBS_LOC_SLOTS + 1][ZBS_LOC_SLOTS];
	/* chunks grouped by topology path (all four ids equal): members of a
	 * group are at one distance from any chunk outside it and from each
	 * other; gmember[gstart[g] .. gstart[g + 1]) in cid order */
	uint32_t ngroups;
	uint16_t gstart[META_MAX_CID + 1];
	uint8_t gmember[META_MAX_CID];
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
	memset(v->exp_n, -2, sizeof(v->exp_n));
	/* the groups, in order of their lowest cid */
	{
		bool placed[META_MAX_CID + 1] = { false };
		uint32_t k = 0;

		v->ngroups = 0;
		for (uint32_t a = 1; a <= META_MAX_CID; a++) {
			const struct meta_place_path *pa;

			if (!v->by_cid[a] || placed[a])
				continue;
			pa = &v->by_cid[a]->pc.topo;
			v->gstart[v->ngroups++] = (uint16_t)k;
			for (uint32_t b = a; b <= META_MAX_CID; b++) {
				const struct meta_place_path *pb;

				if (!v->by_cid[b] || placed[b])
					continue;
				pb = &v->by_cid[b]->pc.topo;
				if (pa->zone == pb->zone && pa->rack == pb->rack &&
				    pa->brick == pb->brick && pa->node == pb->node) {
					placed[b] = true;
					v->gmember[k++] = (uint8_t)b;
				}
			}
		}
		v->gstart[v->ngroups] = (uint16_t)k;
	}
}

/* the expected set of n replicas for prefer (cached), its size or -1 */
static int expected_set(struct view *v, uint32_t prefer, uint32_t n, const uint32_t **out)
{
	int8_t *k;

	if (!prefer || prefer > META_MAX_CID || !n || n > ZBS_LOC_SLOTS)
		return -1;
	k = &v->exp_n[prefer][n];
	if (*k == -2)
		*k = (int8_t)meta_place_localized(v->pc, v->npc, prefer, n, v->exp[prefer][n]);
	*out = v->exp[prefer][n];
	return *k;
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

/* ---- safety: pair distances sorted ascending (placement.h) ---- */

_Static_assert(ZBS_LOC_SLOTS <= META_PLACE_MAX_REPLICAS, "a location fits a safety");

static void safety_of(const struct view *v, const uint32_t *cids, int n,
		      struct meta_place_safety *s)
{
	s->n = 0;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			meta_place_safety_add(s, dist(v, cids[i], cids[j]));
}

/* the safety of p's replicas with `replace` swapped for `dst` */
static void safety_with(const struct view *v, uint32_t loc, uint32_t replace, uint32_t dst,
			struct meta_place_safety *s)
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

static enum meta_rebal_skip localize(struct view *v, const struct meta_rebal_pext *p,
				     struct meta_rebal_move *m)
{
	const struct meta_rebal_chunk *pref, *x;
	const uint32_t *exp;
	uint32_t dst = 0, replace = 0, src;
	int n = loc_count(p->location), ne;
	bool in_exp[META_MAX_CID + 1] = { false }, all_in = true, space_short = false;

	if (!settled(p))
		return META_REBAL_UNSETTLED;
	if (!p->prefer_cid || p->even)
		return META_REBAL_NO_PREFER;
	pref = chunk(v, p->prefer_cid);
	if (!pref || !pref->pc.healthy)
		return META_REBAL_PREFER_DOWN;			/* rule 1 */
	ne = expected_set(v, p->prefer_cid, p->expected, &exp);
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
	struct meta_place_safety cur, best = { 0 }, s;
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
		if (meta_place_safety_cmp(&s, &cur) > 0)
			dst = p->prefer_cid;
	}
	/* chunks of one topology path are alike for the safety: one
	 * safety per group, for its best member */
	for (uint32_t g = 0; !dst && g < v->ngroups; g++) {
		const struct meta_rebal_chunk *x = NULL;

		for (uint32_t k = v->gstart[g]; k < v->gstart[g + 1]; k++) {
			const struct meta_rebal_chunk *y = v->by_cid[v->gmember[k]];

			if (loc_contains(p->location, y->pc.cid) || y->pc.failslow || !fits(y) ||
			    !idle_enough(y) || super_after(y, t))
				continue;
			if (!x || ratio_below(y->pc.allocated, y->pc.valid, x->pc.allocated,
					      x->pc.valid))
				x = y;
		}
		if (!x)
			continue;
		safety_with(v, p->location, replace, x->pc.cid, &s);
		if (meta_place_safety_cmp(&s, &cur) <= 0)
			continue;
		if (!bestc || meta_place_safety_cmp(&s, &best) > 0 ||
		    (meta_place_safety_cmp(&s, &best) == 0 &&
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
	struct meta_place_safety cur, s;

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
		if (meta_place_safety_cmp(&s, &cur) < 0)
			continue;				/* never less safe */
		best = x;
	}
	return best ? best->pc.cid : 0;
}

/* a pextent kept for capacity rebalance: settled and not moved yet */
struct kept {
	uint64_t pid;
	uint32_t location;
};

/* even distribution: a pextent of an even volume */
struct even_pext {
	uint64_t pid;
	uint32_t location;	/* as it will be after this plan's moves */
	uint32_t vol;
	uint32_t kept;		/* index in kept, UINT32_MAX: not kept */
	bool movable;		/* settled and not moved by this plan */
};

/* an even volume: its replicas per chunk, its pextents evp[first, first + n) */
struct even_vol {
	uint32_t vol;
	uint32_t cnt[META_MAX_CID + 1];
	uint32_t first, n;
	bool src_done[META_MAX_CID + 1];	/* nothing more moves off it */
};

struct meta_rebal_planner {
	struct view v;
	struct meta_rebal_chunk chunks[META_MAX_CID];
	struct meta_load_thresholds t;
	struct meta_rebal_plan info;
	struct meta_rebal_move *out;
	size_t n, max;
	/* capacity: the kept pextents by chunk and class (indices into kept) */
	struct kept *kept;
	uint8_t *moved;
	uint32_t nkept, capkept;
	uint32_t *list[META_MAX_CID + 1][3];
	uint32_t len[META_MAX_CID + 1][3], cap[META_MAX_CID + 1][3];
	uint32_t next[META_MAX_CID + 1][3];
	bool done_cid[META_MAX_CID + 1];
	bool capacity_off, finished;
	/* even distribution */
	struct even_pext *evp;
	uint32_t nevp, capevp;
	struct even_vol *ev;
	uint32_t nev, capev, ev_cur;
	bool even_sorted, even_done;
};

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

struct meta_rebal_planner *meta_rebal_planner_new(const struct meta_rebal_chunk *c, size_t nc,
						  const struct meta_load_thresholds *t, size_t max)
{
	static const struct meta_load_thresholds defaults = META_LOAD_THRESHOLDS_DEFAULT;
	struct meta_rebal_planner *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return NULL;
	if (nc > META_MAX_CID)
		nc = META_MAX_CID;
	memcpy(pl->chunks, c, nc * sizeof(*c));
	pl->t = t ? *t : defaults;
	pl->max = max;
	pl->out = calloc(max ? max : 1, sizeof(*pl->out));
	if (!pl->out) {
		free(pl);
		return NULL;
	}
	view_init(&pl->v, pl->chunks, nc);
	pl->info.level = meta_place_cluster_level(pl->v.pc, pl->v.npc, &pl->t);
	pl->capacity_off = !wants_capacity(&pl->v, pl->info.level, &pl->t);
	return pl;
}

void meta_rebal_planner_free(struct meta_rebal_planner *pl)
{
	if (!pl)
		return;
	for (int c = 0; c <= META_MAX_CID; c++)
		for (int j = 0; j < 3; j++)
			free(pl->list[c][j]);
	free(pl->kept);
	free(pl->moved);
	free(pl->evp);
	free(pl->ev);
	free(pl->out);
	free(pl);
}

/* the location after move m */
static uint32_t loc_after(uint32_t loc, const struct meta_rebal_move *m)
{
	uint32_t out = 0;

	for (int i = 0; i < loc_count(loc); i++) {
		uint32_t c = loc_get(loc, i);
		out = loc_add(out, c == m->replace ? m->dst : c);
	}
	return out;
}

/* note a pextent of an even volume (m: the move this plan made for it, or
 * NULL; kept: its index in kept or UINT32_MAX); -1 when out of memory */
static int even_note(struct meta_rebal_planner *pl, const struct meta_rebal_pext *p,
		     const struct meta_rebal_move *m, uint32_t kept)
{
	uint32_t loc = m ? loc_after(p->location, m) : p->location, i;
	struct even_vol *ev = NULL;

	for (i = pl->nev; i > 0; i--)		/* few even volumes */
		if (pl->ev[i - 1].vol == p->vol) {
			ev = &pl->ev[i - 1];
			break;
		}
	if (!ev) {
		if (pl->nev == pl->capev) {
			uint32_t cap = pl->capev ? pl->capev * 2 : 4;
			struct even_vol *x = realloc(pl->ev, cap * sizeof(*x));

			if (!x)
				return -1;
			pl->ev = x;
			pl->capev = cap;
		}
		ev = &pl->ev[pl->nev++];
		memset(ev, 0, sizeof(*ev));
		ev->vol = p->vol;
	}
	if (pl->nevp == pl->capevp) {
		uint32_t cap = pl->capevp ? pl->capevp * 2 : 256;
		struct even_pext *x = realloc(pl->evp, cap * sizeof(*x));

		if (!x)
			return -1;
		pl->evp = x;
		pl->capevp = cap;
	}
	pl->evp[pl->nevp++] = (struct even_pext){ .pid = p->pid, .location = loc,
						  .vol = p->vol, .kept = kept,
						  .movable = !m && settled(p) };
	for (int s = 0; s < loc_count(loc); s++)
		ev->cnt[loc_get(loc, s)]++;
	return 0;
}

static int keep(struct meta_rebal_planner *pl, const struct meta_rebal_pext *p)
{
	int n = loc_count(p->location), j = klass(p);

	if (pl->nkept == pl->capkept) {
		uint32_t cap = pl->capkept ? pl->capkept * 2 : 1024;
		struct kept *k = realloc(pl->kept, cap * sizeof(*k));
		uint8_t *mv = k ? realloc(pl->moved, cap) : NULL;

		if (k)
			pl->kept = k;
		if (!mv)
			return -1;
		pl->moved = mv;
		pl->capkept = cap;
	}
	for (int s = 0; s < n; s++) {
		uint32_t c = loc_get(p->location, s);

		if (pl->len[c][j] == pl->cap[c][j]) {
			uint32_t cap = pl->cap[c][j] ? pl->cap[c][j] * 2 : 256;
			uint32_t *l = realloc(pl->list[c][j], cap * sizeof(*l));

			if (!l)
				return -1;
			pl->list[c][j] = l;
			pl->cap[c][j] = cap;
		}
		pl->list[c][j][pl->len[c][j]++] = pl->nkept;
	}
	pl->kept[pl->nkept] = (struct kept){ .pid = p->pid, .location = p->location };
	pl->moved[pl->nkept++] = 0;
	return 0;
}

int meta_rebal_planner_add(struct meta_rebal_planner *pl, const struct meta_rebal_pext *p)
{
	struct view *v = &pl->v;
	const struct meta_rebal_chunk *pref = chunk(v, p->prefer_cid);
	enum meta_load_level l = pl->info.level;
	struct meta_rebal_move m;
	enum meta_rebal_skip s;
	bool low;

	if (pl->n >= pl->max) {
		pl->info.truncated = true;
		return 0;
	}
	if (pref && !p->even) {
		enum meta_load_level x = meta_load_level(pref->pc.allocated, pref->pc.valid, true,
							 &pl->t);
		if (x > l)
			l = x;
	}
	/* low load: localization, which places topology-safe; a pextent
	 * with nothing to localize to gets topology repair at any load */
	low = l == META_LOAD_LOW && p->prefer_cid && !p->even;
	s = low ? localize(v, p, &m) : topology(v, p, &pl->t, &m);
	if (s == META_REBAL_MOVE) {
		pl->out[pl->n++] = m;
		charge(v, &m, &pl->info);
		if (low)
			pl->info.localize++;
		else
			pl->info.topology++;
		return p->even && p->vol ? even_note(pl, p, &m, UINT32_MAX) : 0;
	}
	if (pl->capacity_off || !settled(p))
		return p->even && p->vol ? even_note(pl, p, NULL, UINT32_MAX) : 0;
	if (keep(pl, p))
		return -1;
	return p->even && p->vol ? even_note(pl, p, NULL, pl->nkept - 1) : 0;
}

/* ---- even distribution (SPEC 6.8) ---- */

static bool even_eligible(const struct meta_rebal_chunk *x)
{
	return x && x->pc.healthy && !x->pc.failslow;
}

static int even_cmp(const void *a, const void *b)
{
	const struct even_pext *x = a, *y = b;

	if (x->vol != y->vol)
		return x->vol < y->vol ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* pextents grouped by volume (pid order within), once all are added */
static void even_sort(struct meta_rebal_planner *pl)
{
	if (pl->nevp)
		qsort(pl->evp, pl->nevp, sizeof(*pl->evp), even_cmp);
	for (uint32_t i = 0, j; i < pl->nevp; i = j) {
		struct even_vol *ev = NULL;

		for (j = i; j < pl->nevp && pl->evp[j].vol == pl->evp[i].vol; j++)
			;
		for (uint32_t k = 0; k < pl->nev && !ev; k++)
			if (pl->ev[k].vol == pl->evp[i].vol)
				ev = &pl->ev[k];
		ev->first = i;
		ev->n = j - i;
	}
	pl->even_sorted = true;
}

/* the dst for e's replica on src, or 0 (see rebalance.h) */
static uint32_t even_dst(const struct meta_rebal_planner *pl, const struct even_vol *ev,
			 const struct even_pext *e, uint32_t src, uint32_t lo, uint32_t hi)
{
	const struct view *v = &pl->v;
	bool very_high = pl->info.level >= META_LOAD_VERY_HIGH;
	const struct meta_rebal_chunk *best = NULL;
	struct meta_place_safety cur, s;

	safety_with(v, e->location, 0, 0, &cur);
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		const struct meta_rebal_chunk *x = chunk(v, cid);

		if (!even_eligible(x) || loc_contains(e->location, cid) ||
		    ev->cnt[cid] + 2 > ev->cnt[src] || (ev->cnt[src] <= hi && ev->cnt[cid] >= lo))
			continue;
		if (!fits(x) || !idle_enough(x) || super_after(x, &pl->t))
			continue;
		if (!very_high && (u128)x->used * 1000 > (u128)x->pc.valid * META_REBAL_USED_MAX)
			continue;				/* SPEC 6.6 */
		if (best && (ev->cnt[cid] > ev->cnt[best->pc.cid] ||
			     (ev->cnt[cid] == ev->cnt[best->pc.cid] &&
			      !ratio_below(x->pc.allocated, x->pc.valid, best->pc.allocated,
					   best->pc.valid))))
			continue;
		safety_with(v, e->location, src, cid, &s);
		if (meta_place_safety_cmp(&s, &cur) < 0)
			continue;				/* never less safe */
		best = x;
	}
	return best ? best->pc.cid : 0;
}

/* one step: one move of an even volume's replica, or one chunk found to
 * have nothing to give; false when every even volume is as even as it gets */
static bool even_step(struct meta_rebal_planner *pl)
{
	struct view *v = &pl->v;

	if (!pl->even_sorted)
		even_sort(pl);
	for (; pl->ev_cur < pl->nev; pl->ev_cur++) {
		struct even_vol *ev = &pl->ev[pl->ev_cur];
		uint32_t n = 0, total = 0, minc = UINT32_MAX, src = 0, lo, hi;

		for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
			if (!even_eligible(chunk(v, cid)))
				continue;
			n++;
			total += ev->cnt[cid];
			if (ev->cnt[cid] < minc)
				minc = ev->cnt[cid];
			if (!ev->src_done[cid] && (!src || ev->cnt[cid] > ev->cnt[src]))
				src = cid;
		}
		if (!n || !src)
			continue;
		hi = (total + n - 1) / n + 1;
		lo = total / n ? total / n - 1 : 0;
		if (ev->cnt[src] <= hi && minc >= lo)
			continue;			/* even enough */
		if (pl->n >= pl->max) {
			pl->info.truncated = true;
			return false;
		}
		for (uint32_t i = ev->first; i < ev->first + ev->n; i++) {
			struct even_pext *e = &pl->evp[i];
			struct meta_rebal_pext q = {
				.pid = e->pid, .location = e->location,
				.alive_location = e->location,
				.expected = (uint32_t)loc_count(e->location),
			};
			struct meta_rebal_move *m = &pl->out[pl->n];
			uint32_t dst, from;

			if (!e->movable || !loc_contains(e->location, src))
				continue;
			dst = even_dst(pl, ev, e, src, lo, hi);
			if (!dst)
				continue;
			from = pick_src(v, &q, src, dst);
			if (busy(v, from, dst))
				continue;
			*m = (struct meta_rebal_move){ e->pid, from, dst, src, META_REBAL_EVEN };
			charge(v, m, &pl->info);
			pl->n++;
			pl->info.even++;
			ev->cnt[src]--;
			ev->cnt[dst]++;
			e->location = loc_after(e->location, m);
			e->movable = false;
			if (e->kept != UINT32_MAX)
				pl->moved[e->kept] = 1;		/* not for capacity */
			return true;
		}
		ev->src_done[src] = true;
		return true;
	}
	return false;
}

/* one step of capacity rebalance: look at one candidate pextent; false
 * when there is nothing more to do */
static bool capacity_step(struct meta_rebal_planner *pl)
{
	struct view *v = &pl->v;
	bool very_high = pl->info.level >= META_LOAD_VERY_HIGH;
	struct meta_rebal_chunk *src = NULL;
	uint64_t A = 0, V = 0;
	uint32_t cid;

	if (pl->n >= pl->max) {
		pl->info.truncated = true;
		return false;
	}
	for (size_t i = 0; i < v->npc; i++)
		if (v->pc[i].healthy) {
			A += v->pc[i].allocated;
			V += meta_place_load_valid(&v->pc[i]);	/* as the cluster level */
		}
	if (!V)
		return false;
	/* the most loaded chunk still overloaded */
	for (cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_rebal_chunk *x = v->by_cid[cid];

		if (!x || pl->done_cid[cid] || !overloaded(x, A, V))
			continue;
		if (!src || ratio_below(src->pc.allocated, src->pc.valid, x->pc.allocated,
					x->pc.valid))
			src = x;
	}
	if (!src)
		return false;
	cid = src->pc.cid;
	for (int j = 0; j < 3; j++) {
		while (pl->next[cid][j] < pl->len[cid][j]) {
			uint32_t i = pl->list[cid][j][pl->next[cid][j]++];
			struct meta_rebal_pext q = {
				.pid = pl->kept[i].pid, .location = pl->kept[i].location,
				.alive_location = pl->kept[i].location,
				.expected = (uint32_t)loc_count(pl->kept[i].location),
			};
			uint32_t dst, from;

			if (pl->moved[i])
				continue;
			dst = capacity_dst(v, &q, src, very_high, &pl->t);
			if (!dst)
				return true;		/* one looked at: next step */
			from = pick_src(v, &q, cid, dst);
			if (busy(v, from, dst))
				return true;
			pl->out[pl->n] = (struct meta_rebal_move){ q.pid, from, dst, cid,
								   META_REBAL_CAPACITY };
			charge(v, &pl->out[pl->n], &pl->info);
			pl->n++;
			pl->moved[i] = 1;
			pl->info.capacity++;
			return true;
		}
	}
	pl->done_cid[cid] = true;	/* nothing more moves off it */
	return true;
}

bool meta_rebal_planner_step(struct meta_rebal_planner *pl, uint32_t budget)
{
	if (pl->finished)
		return true;
	while (!pl->even_done && budget) {
		budget--;
		if (!even_step(pl))
			pl->even_done = true;
	}
	if (!pl->even_done)
		return false;
	if (pl->capacity_off ||
	    (pl->info.topology && pl->info.level < META_LOAD_VERY_HIGH)) {
		pl->finished = true;
		return true;
	}
	while (budget--)
		if (!capacity_step(pl)) {
			pl->finished = true;
			return true;
		}
	return false;
}

const struct meta_rebal_move *meta_rebal_planner_moves(const struct meta_rebal_planner *pl,
						       size_t *n, struct meta_rebal_plan *info)
{
	*n = pl->n;
	if (info)
		*info = pl->info;
	return pl->out;
}

size_t meta_rebal_plan(const struct meta_rebal_pext *p, size_t np, struct meta_rebal_chunk *c,
		       size_t nc, const struct meta_load_thresholds *t, struct meta_rebal_move *out,
		       size_t max, struct meta_rebal_plan *info)
{
	struct meta_rebal_planner *pl = meta_rebal_planner_new(c, nc, t, max);
	const struct meta_rebal_move *m;
	size_t n = 0;

	memset(info, 0, sizeof(*info));
	if (!pl) {
		info->truncated = true;
		return 0;
	}
	for (size_t i = 0; i < np; i++)
		if (meta_rebal_planner_add(pl, &p[i]))
			info->truncated = true;
	while (!meta_rebal_planner_step(pl, 1024))
		;
	m = meta_rebal_planner_moves(pl, &n, info);
	memcpy(out, m, n * sizeof(*m));
	/* the chunks as charged */
	for (size_t i = 0; i < nc; i++) {
		const struct meta_rebal_chunk *x = chunk(&pl->v, c[i].pc.cid);
		if (x)
			c[i] = *x;
	}
	meta_rebal_planner_free(pl);
	return n;
}
