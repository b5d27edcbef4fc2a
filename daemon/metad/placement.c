// SPDX-License-Identifier: GPL-2.0
/* Placement model (see placement.h). */
#include "core.h"
#include "placement.h"

typedef unsigned __int128 u128;

/* ---- topology distance ---- */

/* the id standing for the chunk's own node: its node id, else its cid */
static uint64_t node_of(uint32_t cid, const struct meta_place_path *p)
{
	return p->node ? p->node : (1ULL << 63) | cid;
}

/* do a and b share the domain whose ids are ia and ib? */
static bool same(uint64_t ia, uint64_t ib, uint64_t node_a, uint64_t node_b)
{
	if (ia && ib)
		return ia == ib;
	return !ia && !ib && node_a == node_b;
}

static inline enum meta_place_dist distance(uint32_t cid_a, const struct meta_place_path *a,
					    uint32_t cid_b, const struct meta_place_path *b)
{
	uint64_t na = node_of(cid_a, a), nb = node_of(cid_b, b);

	if (cid_a == cid_b)
		return META_DIST_SAME;
	if (!same(a->zone, b->zone, na, nb))
		return META_DIST_FAR;
	if (!same(a->rack, b->rack, na, nb))
		return META_DIST_ZONE;
	if (!same(a->brick, b->brick, na, nb))
		return META_DIST_RACK;
	if (na != nb)
		return META_DIST_BRICK;
	return META_DIST_NODE;
}

enum meta_place_dist meta_place_distance(uint32_t cid_a, const struct meta_place_path *a,
					 uint32_t cid_b, const struct meta_place_path *b)
{
	return distance(cid_a, a, cid_b, b);
}

/* ---- safety ---- */

void meta_place_safety_add(struct meta_place_safety *s, enum meta_place_dist d)
{
	int k = s->n;

	if (k >= META_PLACE_MAX_PAIRS)
		return;
	s->n++;
	while (k > 0 && s->d[k - 1] > (uint8_t)d) {
		s->d[k] = s->d[k - 1];
		k--;
	}
	s->d[k] = (uint8_t)d;
}

void meta_place_safety_of(const uint32_t *cids, const struct meta_place_path *paths, int n,
			  struct meta_place_safety *s)
{
	s->n = 0;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			meta_place_safety_add(s, distance(cids[i], &paths[i], cids[j], &paths[j]));
}

int meta_place_safety_cmp(const struct meta_place_safety *a, const struct meta_place_safety *b)
{
	for (int i = 0; i < a->n && i < b->n; i++)
		if (a->d[i] != b->d[i])
			return a->d[i] < b->d[i] ? -1 : 1;
	return (a->n > b->n) - (a->n < b->n);
}

/* ---- space ---- */

void meta_place_space_split(const struct meta_place_space *s, struct meta_place_alloc *out)
{
	out->thin = s->thin_used;
	out->new_thin = (uint64_t)s->new_thin_pids * ZBS_EXTENT_SIZE;
	out->thick = (uint64_t)s->thick_pids * ZBS_EXTENT_SIZE;
	out->reserve = ((uint64_t)s->thin_reserve_pids + s->thick_reserve_pids) * ZBS_EXTENT_SIZE;
	out->rx = ((uint64_t)s->thin_rx_pids + s->thick_rx_pids) * ZBS_EXTENT_SIZE;
	out->allocated = out->thin + out->new_thin + out->thick + out->reserve + out->rx;
}

uint64_t meta_place_allocated(const struct meta_place_space *s)
{
	struct meta_place_alloc a;

	meta_place_space_split(s, &a);
	return a.allocated;
}

/* ---- load levels ---- */

static const struct meta_load_thresholds defaults = META_LOAD_THRESHOLDS_DEFAULT;

const char *meta_load_level_name(enum meta_load_level l)
{
	static const char *const n[] = { "low", "medium", "high", "very high", "super high" };
	return (unsigned)l <= META_LOAD_SUPER_HIGH ? n[l] : "?";
}

bool meta_load_thresholds_valid(const struct meta_load_thresholds *t)
{
	return t->medium > 0 && t->medium < t->high && t->high < t->very_high &&
	       t->very_high < t->super_high && t->super_high <= 1000;
}

/* allocated / valid >= permille / 1000, exactly */
static bool at_least(uint64_t allocated, uint64_t valid, uint32_t permille)
{
	return (u128)allocated * 1000 >= (u128)valid * permille;
}

enum meta_load_level meta_load_level(uint64_t allocated, uint64_t valid, bool chunk,
				     const struct meta_load_thresholds *t)
{
	enum meta_load_level top = chunk ? META_LOAD_SUPER_HIGH : META_LOAD_VERY_HIGH;

	if (!t)
		t = &defaults;
	if (!valid)
		return top;
	if (chunk && at_least(allocated, valid, t->super_high))
		return META_LOAD_SUPER_HIGH;
	if (at_least(allocated, valid, t->very_high))
		return META_LOAD_VERY_HIGH;
	if (at_least(allocated, valid, t->high))
		return META_LOAD_HIGH;
	if (at_least(allocated, valid, t->medium))
		return META_LOAD_MEDIUM;
	return META_LOAD_LOW;
}

enum meta_load_level meta_place_cluster_level(const struct meta_place_chunk *c, size_t nc,
					      const struct meta_load_thresholds *t)
{
	uint64_t alloc = 0, valid = 0;

	for (size_t i = 0; i < nc; i++) {
		if (!c[i].cid || !c[i].healthy)
			continue;
		alloc += c[i].allocated;
		valid += meta_place_load_valid(&c[i]);
	}
	return meta_load_level(alloc, valid, false, t);
}

uint64_t meta_place_load_valid(const struct meta_place_chunk *c)
{
	return c->failslow ? 0 : c->valid;
}

/* ---- allocation ---- */

/*
 * One allocation: the chunks that can take a replica, each with what does
 * not change while the replicas are picked, and its distance to the
 * nearest replica so far (updated after each pick).
 */
struct cand {
	const struct meta_place_chunk *c;
	uint64_t key;		/* what does not change: see key_of */
	uint8_t zone;		/* stretched: 0 the preferred zone, 1 the other */
	uint8_t near;		/* distance to the nearest replica (and, at low
				 * load, to prefer local) */
	uint8_t taken;
};

enum mode { MODE_LOCALITY, MODE_LOCAL_PRIORITY, MODE_SPREAD };

struct alloc {
	enum mode mode;
	bool stretched;
	bool even;		/* fewest replicas of the volume first */
	int pz;			/* stretched: the preferred zone (0 or 1), -1 not yet */
	uint32_t quota[2];	/* replicas each zone takes: n - n/2 the preferred */
	uint32_t in_zone[2];	/* replicas each zone has */
};

static bool can_take(const struct meta_place_chunk *c, uint64_t need)
{
	return c->cid && c->cid <= META_MAX_CID && c->healthy && c->valid >= c->allocated &&
	       c->valid - c->allocated >= need;
}

static bool same_zone(const struct meta_place_chunk *a, const struct meta_place_chunk *b)
{
	return distance(a->cid, &a->topo, b->cid, &b->topo) < META_DIST_FAR;
}

/* stretched: 0 in the zone being filled, 1 in the other with room, 2 in a
 * full zone */
static uint32_t zone_rank(const struct alloc *a, const struct cand *k)
{
	uint32_t z = k->zone, pz;

	if (a->pz < 0)
		return 0;	/* no zone is preferred yet: all alike */
	pz = (uint32_t)a->pz;
	if (a->in_zone[z] >= a->quota[z])
		return 2;
	/* the preferred zone is filled first, then the other */
	return (z == pz) == (a->in_zone[pz] < a->quota[pz]) ? 0 : 1;
}

/*
 * The rank of a candidate, lower first: failslow, super high (this replica
 * would bring it there), stretched zone, prefer local (low, medium),
 * topology (farther first), then at low load the cid order going down from
 * prefer local. base_key has the parts that do not change while the
 * replicas are picked.
 */
static uint64_t base_key(const struct alloc *a, const struct meta_place_chunk *c,
			 const struct meta_place_chunk *prefer, uint64_t need,
			 const struct meta_load_thresholds *t)
{
	uint64_t key = (uint64_t)c->failslow << 40 |
		       (uint64_t)at_least(c->allocated + need, c->valid, t->super_high) << 32;

	if (a->mode != MODE_SPREAD)
		key |= (uint64_t)(c != prefer) << 16;
	if (a->mode == MODE_LOCALITY)
		key |= (uint8_t)(prefer->cid - c->cid);
	return key;
}

static uint64_t key_of(const struct alloc *a, const struct cand *k)
{
	uint64_t key = k->key | (uint64_t)(META_DIST_FAR + 1 - k->near) << 8;

	if (a->stretched && a->mode != MODE_LOCALITY)
		key |= (uint64_t)zone_rank(a, k) << 24;
	return key;
}

/* ratio of a below (-1), equal to (0) or above (1) b's, exactly; no valid
 * space is the highest */
static int cmp_ratio(const struct meta_place_chunk *a, const struct meta_place_chunk *b)
{
	u128 l = (u128)a->allocated * b->valid, r = (u128)b->allocated * a->valid;

	if (!a->valid || !b->valid)
		return (int)!a->valid - (int)!b->valid;
	return l < r ? -1 : l > r;
}

/* equal keys, medium and above: lower ratio, then most free, then lower
 * cid; for an even volume fewer of its replicas before all that */
static bool better_space(const struct alloc *al, const struct meta_place_chunk *a,
			 const struct meta_place_chunk *b)
{
	int r;

	if (al->even && a->vol_replicas != b->vol_replicas)
		return a->vol_replicas < b->vol_replicas;
	r = cmp_ratio(a, b);

	if (r)
		return r < 0;
	if (a->valid - a->allocated != b->valid - b->allocated)
		return a->valid - a->allocated > b->valid - b->allocated;
	return a->cid < b->cid;
}

/* exactly two zones among the chunks (whatever their health)? z[] gets a
 * chunk of each */
static bool find_zones(const struct meta_place_chunk *c, size_t nc,
		       const struct meta_place_chunk *z[2])
{
	z[0] = z[1] = NULL;
	for (size_t i = 0; i < nc; i++) {
		if (!c[i].cid)
			continue;
		if (!z[0])
			z[0] = &c[i];
		else if (same_zone(&c[i], z[0]))
			continue;
		else if (!z[1])
			z[1] = &c[i];
		else if (!same_zone(&c[i], z[1]))
			return false;
	}
	return z[1] != NULL;
}

/* p is a replica now: the others' distance to the nearest one */
static void picked(struct cand *k, size_t nk, const struct cand *p)
{
	for (size_t i = 0; i < nk; i++) {
		uint32_t d = distance(k[i].c->cid, &k[i].c->topo, p->c->cid, &p->c->topo);
		if (d < k[i].near)
			k[i].near = (uint8_t)d;
	}
}

/* force_low: the low-load chain whatever the load (meta_place_localized) */
static int place(const struct meta_place_chunk *c, size_t nc, const struct meta_place_req *r,
		 const struct meta_load_thresholds *t, bool force_low, uint32_t *out,
		 struct meta_place_info *info)
{
	struct meta_place_info dummy;
	struct cand k[META_MAX_CID];
	struct alloc a = { .pz = -1 };
	const struct meta_place_chunk *prefer = NULL, *z[2];
	uint64_t seen[(META_MAX_CID + 1 + 63) / 64] = { 0 };
	enum meta_load_level level;
	bool repeated = false;
	size_t nk = 0;

	if (!t)
		t = &defaults;
	if (!info)
		info = &dummy;
	info->eligible = 0;
	for (size_t i = 0; i < nc; i++) {
		uint32_t cid = c[i].cid;

		if (cid && cid <= META_MAX_CID) {
			repeated |= seen[cid / 64] >> (cid % 64) & 1;
			seen[cid / 64] |= 1ULL << (cid % 64);
		}
		if (cid && cid == r->prefer_cid && !r->even)
			prefer = &c[i];		/* an even volume has none */
		info->eligible += can_take(&c[i], r->need);
	}
	info->cluster = meta_place_cluster_level(c, nc, t);
	level = info->cluster;
	if (prefer) {
		enum meta_load_level pl = meta_load_level(prefer->allocated, prefer->valid, true, t);
		if (pl > level)
			level = pl;
	}
	if (level > META_LOAD_VERY_HIGH)
		level = META_LOAD_VERY_HIGH;
	if (!prefer && level < META_LOAD_HIGH)
		level = META_LOAD_HIGH;		/* nothing to keep local */
	if (force_low) {
		if (!prefer)
			return -1;
		level = META_LOAD_LOW;
	}
	info->level = level;
	a.even = r->even;
	a.mode = level == META_LOAD_LOW ? MODE_LOCALITY :
		 level == META_LOAD_MEDIUM ? MODE_LOCAL_PRIORITY : MODE_SPREAD;
	info->stretched = a.stretched = find_zones(c, nc, z);
	a.quota[1] = r->n / 2;
	a.quota[0] = r->n - a.quota[1];
	if (a.stretched && prefer)
		a.pz = same_zone(prefer, z[0]) ? 0 : 1;
	if (a.pz == 1) {	/* index zones so that the preferred one is 0 */
		const struct meta_place_chunk *s = z[0];
		z[0] = z[1];
		z[1] = s;
		a.pz = 0;
	}
	if (r->n == 0 || r->n > ZBS_LOC_SLOTS || info->eligible < r->n || repeated)
		return -1;

	for (size_t i = 0; i < nc; i++) {
		const struct meta_place_chunk *ci = &c[i];
		struct cand *n;

		if (!can_take(ci, r->need))
			continue;
		n = &k[nk++];
		*n = (struct cand){
			.c = ci,
			.key = base_key(&a, ci, prefer, r->need, t),
			.zone = a.stretched && !same_zone(ci, z[0]),
			.near = META_DIST_FAR + 1,	/* no replica yet: all alike */
		};
		/* full locality: the chain starts at prefer local, chosen or not */
		if (a.mode == MODE_LOCALITY && ci != prefer)
			n->near = (uint8_t)distance(ci->cid, &ci->topo, prefer->cid, &prefer->topo);
	}
	for (uint32_t got = 0; got < r->n; got++) {
		struct cand *best = NULL;
		uint64_t best_key = 0;

		for (size_t i = 0; i < nk; i++) {
			uint64_t key;

			if (k[i].taken)
				continue;
			key = key_of(&a, &k[i]);
			if (!best || key < best_key ||
			    (key == best_key && a.mode != MODE_LOCALITY &&
			     better_space(&a, k[i].c, best->c))) {
				best = &k[i];
				best_key = key;
			}
		}
		best->taken = 1;
		out[got] = best->c->cid;
		a.in_zone[best->zone]++;
		if (a.stretched && a.pz < 0) {	/* no prefer local: the first replica's zone */
			a.pz = best->zone;
			if (a.pz == 1) {
				uint32_t q = a.quota[0];
				a.quota[0] = a.quota[1];
				a.quota[1] = q;
			}
		}
		if (got + 1 < r->n)
			picked(k, nk, best);
	}
	return (int)r->n;
}

int meta_place(const struct meta_place_chunk *c, size_t nc, const struct meta_place_req *r,
	       const struct meta_load_thresholds *t, uint32_t *out, struct meta_place_info *info)
{
	return place(c, nc, r, t, false, out, info);
}

int meta_place_localized(const struct meta_place_chunk *c, size_t nc, uint32_t prefer_cid,
			 uint32_t n, uint32_t *out)
{
	struct meta_place_req r = { .n = n, .prefer_cid = prefer_cid, .need = 0 };

	return place(c, nc, &r, NULL, true, out, NULL);
}
