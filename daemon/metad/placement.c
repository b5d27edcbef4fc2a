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

/* ---- allocation ---- */

static bool better(const struct meta_place_cand *a, const struct meta_place_cand *b)
{
	if (a->free != b->free)
		return a->free > b->free;
	return a->cid < b->cid;
}

int meta_place(const struct meta_place_cand *cands, size_t ncands, uint32_t n,
	      uint32_t prefer_cid, uint64_t need, uint32_t *out, uint32_t *eligible)
{
	uint32_t got = 0, ok = 0;

	for (size_t i = 0; i < ncands; i++)
		if (cands[i].healthy && cands[i].cid && cands[i].free >= need)
			ok++;
	if (eligible)
		*eligible = ok;
	if (n == 0 || ok < n)
		return -1;

	if (prefer_cid) {
		for (size_t i = 0; i < ncands; i++) {
			const struct meta_place_cand *c = &cands[i];
			if (c->cid == prefer_cid && c->healthy && c->free >= need) {
				out[got++] = c->cid;
				break;
			}
		}
	}
	/* selection of the best remaining n - got: n is at most 4 */
	while (got < n) {
		const struct meta_place_cand *best = NULL;
		for (size_t i = 0; i < ncands; i++) {
			const struct meta_place_cand *c = &cands[i];
			bool taken = false;
			if (!c->healthy || !c->cid || c->free < need)
				continue;
			for (uint32_t j = 0; j < got; j++)
				taken |= out[j] == c->cid;
			if (!taken && (!best || better(c, best)))
				best = c;
		}
		if (!best)
			return -1;	/* duplicate cids in the input */
		out[got++] = best->cid;
	}
	return (int)n;
}
