/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Vextent leases: one owner per pid, lease_epoch as the fencing token; the
 * owner's replica removal (with its gen checks), existence, release.
 */
#ifndef ZBS_META_LEASE_H
#define ZBS_META_LEASE_H

#include "meta.h"

enum { LEASE_READ = 0, LEASE_WRITE = 1 };
int meta_get_vextent_lease(struct meta *m, struct meta_volume *v, uint32_t vno,
			   int mode, uint64_t sid, uint64_t *pid, struct merr *e);
int meta_release_lease(struct meta *m, uint64_t pid, uint64_t sid, struct merr *e);
int meta_remove_replica(struct meta *m, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
			uint32_t cid, uint64_t gen, uint64_t sid, struct merr *e);
int meta_set_existence(struct meta *m, uint64_t pid, uint64_t epoch, uint64_t sid,
		       struct merr *e);

#endif
