/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Lease owners: releasing them, and revoking them with acknowledgement
 * (ARCHITECTURE 4a): a revoked pid stays with its owner, marked
 * PEXT_REVOKING, until the owner's chunk acknowledges (its kernel drained
 * the IO) or its session ends; a chunk that cannot acknowledge is released
 * at once with a one-time notice.
 */
#ifndef ZBS_META_OWNER_H
#define ZBS_META_OWNER_H

#include "meta.h"

/* make s the owner of pid (it had another or none): lease_epoch raised,
 * persisted */
void meta_pext_grant_owner(struct meta *m, uint64_t pid, struct meta_session *s);
/* release the owner of pid (persisted); queue a one-time revoke to it if notify */
void meta_pext_release_owner(struct meta *m, uint64_t pid, bool notify);
/* ask the owner to give pid's lease back */
void meta_pext_revoke_owner(struct meta *m, uint64_t pid);
/* revoke: by volume (v), pid or session; returns owners revoked or -1 */
int meta_revoke(struct meta *m, struct meta_volume *v, uint64_t pid, uint64_t sid,
		struct merr *e);
/* the chunk of session s acknowledged revoke command id; 0, or -1 if unknown */
int meta_revoke_acked(struct meta *m, struct meta_session *s, uint64_t id);
/* after a load: re-send the revokes that were pending (PEXT_REVOKING) */
void meta_revokes_reload(struct meta *m);
/* release up to max leases of session s (expiry, leave); returns how many */
uint32_t meta_release_session_leases(struct meta *m, struct meta_session *s, uint32_t max);

#endif
