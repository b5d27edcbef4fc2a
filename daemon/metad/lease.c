// SPDX-License-Identifier: GPL-2.0
/* Vextent leases (see lease.h). */
#include <stdio.h>
#include <string.h>

#include "agile.h"
#include "lease.h"
#include "log.h"
#include "owner.h"
#include "provision.h"
#include "rpc.h"
#include "scheduler.h"

int meta_get_vextent_lease(struct meta *m, struct meta_volume *v, uint32_t vno,
			   int mode, uint64_t sid, uint64_t *pidp, struct merr *e)
{
	struct meta_session *s = meta_session_get(&m->sessions, sid, e);
	struct meta_pext *p;
	uint64_t pid;

	if (!s)
		return -1;
	if (mode != LEASE_READ && mode != LEASE_WRITE)
		return merr_set(e, ZBS_RPC_EINVAL, "lease mode %d: want read (0) or write (1)", mode);
	if (vno >= v->nvext)
		return merr_set(e, ZBS_RPC_EINVAL, "vextent_no %u out of range: volume '%s' has %u",
				vno, v->name, v->nvext);
	pid = v->vtable[vno];
	if (!pid) {
		if (mode == LEASE_READ) {
			*pidp = 0;	/* never written: reads see zeros */
			return 0;
		}
		if (meta_pext_alloc(m, v, vno, v->prefer_cid ? v->prefer_cid : s->cid, &pid, e))
			return -1;
	}
	p = meta_pext(&m->pexts, pid);
	if (p->owner && p->owner != sid) {
		struct meta_session *o = meta_session_find(&m->sessions, p->owner);
		if (o && o->alive) {
			merr_set(e, ZBS_RPC_EOWNED, "pid %llu owned by session %llu (cid %u)",
				 (unsigned long long)pid, (unsigned long long)o->id, o->cid);
			e->owner_session = o->id;
			e->owner_cid = o->cid;
			return -1;
		}
		meta_pext_release_owner(m, pid, false);
	}
	if (p->owner == sid && (p->flags & PEXT_REVOKING))
		return merr_set(e, ZBS_RPC_EAGAIN, "pid %llu is being revoked from this session: "
				"ask again once the revoke is acknowledged",
				(unsigned long long)pid);
	if (p->owner != sid)
		meta_pext_grant_owner(m, pid, s);
	p->last_access_s = meta_now_s(m);
	*pidp = pid;
	return 0;
}

static struct meta_pext *owned(struct meta *m, uint64_t pid, uint64_t epoch, uint64_t sid,
			       bool check_epoch, struct merr *e)
{
	struct meta_pext *p = meta_pext(&m->pexts, pid);

	if (!meta_session_get(&m->sessions, sid, e))
		return NULL;
	if (!p) {
		merr_set(e, ZBS_RPC_ENOENT, "pid %llu not found", (unsigned long long)pid);
		return NULL;
	}
	if (check_epoch && epoch != p->epoch) {
		merr_set(e, ZBS_RPC_ESTALE, "pid %llu: epoch %llu is not the current %llu",
			 (unsigned long long)pid, (unsigned long long)epoch,
			 (unsigned long long)p->epoch);
		return NULL;
	}
	if (p->owner != sid) {
		merr_set(e, ZBS_RPC_ENOTOWNER, "pid %llu: session %llu is not the lease owner",
			 (unsigned long long)pid, (unsigned long long)sid);
		e->owner_session = p->owner;
		return NULL;
	}
	return p;
}

int meta_release_lease(struct meta *m, uint64_t pid, uint64_t sid, struct merr *e)
{
	if (!owned(m, pid, 0, sid, false, e))
		return -1;
	meta_pext_release_owner(m, pid, false);
	return 0;
}

int meta_remove_replica(struct meta *m, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
			uint32_t cid, uint64_t gen, uint64_t sid, struct merr *e)
{
	struct meta_pext *p = owned(m, pid, epoch, sid, true, e);

	if (!p)
		return -1;
	/* only under the owner's current lease (ARCHITECTURE.md 4a): a write
	 * issued under an older one must not shrink the location now */
	if (lease_epoch != p->lease_epoch)
		return merr_set(e, ZBS_RPC_ESTALE, "pid %llu: lease_epoch %llu is not the current %llu",
				(unsigned long long)pid, (unsigned long long)lease_epoch,
				(unsigned long long)p->lease_epoch);
	if (!loc_contains(p->location, cid))
		return merr_set(e, ZBS_RPC_ENOENT, "pid %llu: cid %u is not in its location",
				(unsigned long long)pid, cid);
	if (gen < p->meta_gen)
		return merr_set(e, ZBS_RPC_ESTALE, "pid %llu: gen %llu is below meta_gen %llu",
				(unsigned long long)pid, (unsigned long long)gen,
				(unsigned long long)p->meta_gen);
	uint64_t top = (p->gen_seen > p->meta_gen ? p->gen_seen : p->meta_gen) +
		       PEXT_GEN_RATE_MAX * (meta_now_s(m) - p->gen_seen_s + PEXT_GEN_SLACK_S);
	if (gen > top)
		return merr_set(e, ZBS_RPC_EINVAL, "pid %llu: gen %llu is not one it can have "
				"(replicas reported gen %llu %u s ago)", (unsigned long long)pid,
				(unsigned long long)gen, (unsigned long long)p->gen_seen,
				meta_now_s(m) - p->gen_seen_s);
	if (loc_count(p->location) == 1)
		return merr_set(e, ZBS_RPC_EINVAL, "pid %llu: cid %u is its last replica",
				(unsigned long long)pid, cid);
	p->meta_gen = gen;
	meta_pext_remove_cid(&m->pexts, pid, cid);
	meta_pext_store(&m->pexts, pid);
	log_info("[REMOVE REPLICA] pid %llu cid %u gen %llu -> loc 0x%x", (unsigned long long)pid,
		 cid, (unsigned long long)gen, p->location);
	meta_sched_chunk_failed(m, cid);	/* not the dst of its recover */
	meta_agile_dropped(m, pid, epoch, cid, gen);
	meta_sched_wait_pid(m, pid, 0);		/* recovered at once (SPEC 5.2) */
	return 0;
}

int meta_set_existence(struct meta *m, uint64_t pid, uint64_t epoch, uint64_t sid,
		       struct merr *e)
{
	struct meta_pext *p = owned(m, pid, epoch, sid, true, e);

	if (!p)
		return -1;
	if (!(p->flags & PEXT_EVER_EXIST)) {
		p->flags |= PEXT_EVER_EXIST;
		meta_pext_store(&m->pexts, pid);
		log_info("[SET PEXTENT EXISTENCE] pid %llu epoch %llu", (unsigned long long)pid,
			 (unsigned long long)epoch);
	}
	return 0;
}
