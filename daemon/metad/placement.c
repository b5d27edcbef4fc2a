// SPDX-License-Identifier: GPL-2.0
/* Replica placement policy (see placement.h). */
#include "placement.h"

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
