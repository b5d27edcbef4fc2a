/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Provisioning: volumes and the pextents behind them. Placement of new
 * pextents over the chunk and topology tables (the policy is placement.c's), the space
 * checks of SPEC 7.1, and volume create, resize and delete.
 */
#ifndef ZBS_META_PROVISION_H
#define ZBS_META_PROVISION_H

#include "meta.h"
#include "placement.h"

int meta_volume_validate(struct meta *m, const struct meta_volume_spec *s, struct merr *e);
/*
 * Create a volume: 0 when it is there (thin, or thick of at most
 * META_CREATE_SLICE extents), META_CREATE_PENDING when a bigger thick one
 * was started (*out creating: not found by clients, not persisted), or -1.
 * meta_volume_create_step allocates the next slice of a pending one: 1 more
 * to do, 0 done (persisted, found from now on), -1 failed (e set; the
 * volume and what it had are gone). A stop midway leaves pextents no volume
 * holds: the next load frees them.
 */
#define META_CREATE_SLICE 4096
#define META_CREATE_PENDING 1
int meta_volume_create(struct meta *m, const struct meta_volume_spec *s,
		       struct meta_volume **out, struct merr *e);
int meta_volume_create_step(struct meta *m, struct meta_volume *v, uint32_t budget,
			    struct merr *e);
int meta_volume_resize(struct meta *m, struct meta_volume *v, uint64_t size, struct merr *e);
/*
 * A deleted volume is gone for clients at once (its name is free); its
 * pextents are freed then, or, past META_DELETE_SLICE of them, a slice per
 * tick (meta_reap_volumes), so a big delete does not hold the loop.
 */
#define META_DELETE_SLICE 8192
int meta_volume_delete(struct meta *m, struct meta_volume *v, struct merr *e);
/* free up to budget pextents of deleted volumes; returns how many */
uint32_t meta_reap_volumes(struct meta *m, uint32_t budget);
/* allocate a pextent for v[vno], placing its replicas (prefer_cid first) */
int meta_pext_alloc(struct meta *m, struct meta_volume *v, uint32_t vno,
		    uint32_t prefer_cid, uint64_t *pid, struct merr *e);

/* chunk c's place in the topology: its brick and the brick's rack and zone
 * (a level the walk does not meet stays 0: missing; node 0) */
struct meta_place_path meta_provision_path(struct meta *m, const struct meta_chunk *c);
/*
 * c's space as placement counts it (SPEC 7.1). settled: as if c had just
 * reported, without the full-extent charge of its new thin pextents. Every
 * figure of allocated space (placement, chunk list, cluster load) comes
 * from here, rx included (the recover cmds' destinations). valid is what
 * the chunk reported, failslow or not: placement.h says how a failslow
 * chunk's valid space counts (meta_place_load_valid).
 */
void meta_provision_space(const struct meta_chunk *c, bool settled, struct meta_place_space *sp);
uint64_t meta_provision_allocated(const struct meta_chunk *c);

#endif
