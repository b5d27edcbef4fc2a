/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Operators' actions on a chunk (SPEC 5.10): maintenance mode and removal. The marks
 * live in the chunk's record (chunk.h); placement (provision.c), the
 * recovery scheduler (scheduler.c) and rebalance (balance.c) read them.
 *
 * Maintenance mode, for a chunk about to go down for a while (an upgrade,
 * a reboot):
 *  - entering it revokes the leases its session owns (SPEC 5.10) and the
 *    recover/migrate cmds with it as src or dst (it is about to go away);
 *    its kernel drains the IO on those extents and gives them back. It
 *    does not stop the node's own IO: an agent that asks again gets a
 *    lease as before (refusing would fail the IO of a volume still
 *    attached there; move those first, as the product's upgrade flow does);
 *  - while on, it takes no new replica: placement, recover and migrate
 *    dst pass it over, and it owns no new recover cmd;
 *  - its replicas keep counting toward redundancy while it is down: their
 *    recovery elsewhere waits until the maintenance ends (off, or expired);
 *    then a scan starts at once.
 * It expires by itself (default META_MAINT_DEFAULT_MS, 1 h; at most
 * META_MAINT_MAX_MS) so a forgotten maintenance does not leave data under
 * its redundancy for good. On again while on sets a new expiry.
 *
 * Removal, for a chunk leaving the cluster for good:
 *  - refused when it cannot complete: fewer other chunks taking replicas
 *    than the most replicas a volume wants, or less free space on them
 *    than an extent for each replica on it;
 *  - marked removing (persisted): it takes no new replica, and the
 *    recovery scheduler migrates every replica off it (replace = it, dst
 *    chosen as a recover's, within the cmd slots); a migrate adds the dst
 *    before it drops the replaced replica, so redundancy never goes below
 *    expected during the drain. A pextent that needs a recover gets the
 *    recover first (its replica on the chunk counts meanwhile);
 *  - progress: the replicas left on it (its thick and thin pids);
 *  - when none is left, no cmd involves it and its session has ended
 *    (its zbs-chunkd stopped: a running one would register again at once
 *    as a new chunk), it is forgotten: out of the table and the store.
 *    Its cid is not handed out again (cids are never reused).
 *  - cancel: it takes replicas again; the migrates running finish (they
 *    are sound moves), no new one is made.
 */
#ifndef ZBS_META_CHUNK_ADMIN_H
#define ZBS_META_CHUNK_ADMIN_H

#include "meta.h"

#define META_MAINT_DEFAULT_MS	(3600ULL * 1000)		/* 1 h */
#define META_MAINT_MAX_MS	(7ULL * 24 * 3600 * 1000)	/* a week */

struct meta_maint_result {
	uint32_t leases_revoked, cmds_revoked;
};

/* maintenance mode of chunk cid on (for expire_ms, 0 = the default) or off;
 * 0, or -1 with e (unknown cid, expiry out of range) */
int meta_chunk_maintenance(struct meta *m, uint32_t cid, bool on, uint64_t expire_ms,
			   struct meta_maint_result *out, struct merr *e);
/* the loop: maintenances that ran out end (logged, persisted, a recover
 * scan started); returns how many */
uint32_t meta_chunk_maint_expire(struct meta *m);

struct meta_remove_result {
	bool removing;		/* being removed (false after a cancel) */
	uint64_t pids_left;	/* replicas still on it */
};

/* zbsctl chunk remove CID [--cancel]: mark cid removing (again: its
 * progress), or cancel; 0, or -1 with e (unknown cid, cannot complete) */
int meta_chunk_remove(struct meta *m, uint32_t cid, bool cancel, struct meta_remove_result *out,
		      struct merr *e);
/* replicas on chunk c (its thick and thin pids) */
uint64_t meta_chunk_pids(const struct meta_chunk *c);
/* the loop: removing chunks drained and stopped are forgotten; returns how
 * many */
uint32_t meta_chunk_forget_removed(struct meta *m);

#endif
