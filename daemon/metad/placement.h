/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Replica placement: a pure function over plain structs (no meta state), so
 * the policy is tested with a table and later policies (topology distance,
 * load levels, SPEC 6) replace it without touching the server.
 *
 * Current policy: n distinct healthy chunks with at least `need` bytes free;
 * the preferred (local) chunk first when it qualifies, then by most free
 * space, ties by lower cid.
 */
#ifndef ZBS_PLACEMENT_H
#define ZBS_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct meta_place_cand {
	uint32_t cid;
	bool healthy;
	uint64_t free;		/* bytes still allocatable */
};

/*
 * Fill out[0..n-1] with the chosen cids. Returns n, or -1 when fewer than n
 * chunks qualify (*eligible then says how many did; it may be NULL).
 */
int meta_place(const struct meta_place_cand *cands, size_t ncands, uint32_t n,
	      uint32_t prefer_cid, uint64_t need, uint32_t *out, uint32_t *eligible);

#endif
