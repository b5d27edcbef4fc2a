// SPDX-License-Identifier: GPL-2.0
/* Operators' actions on a chunk (see chunk_admin.h). */
#include "chunk_admin.h"
#include "log.h"
#include "owner.h"
#include "provision.h"
#include "rpc.h"
#include "scheduler.h"

int meta_chunk_maintenance(struct meta *m, uint32_t cid, bool on, uint64_t expire_ms,
			   struct meta_maint_result *out, struct merr *e)
{
	struct meta_chunk *c = meta_chunk(&m->chunks, cid);
	struct meta_session *s;
	struct merr re;
	int n;

	*out = (struct meta_maint_result){ 0 };
	if (!c)
		return merr_set(e, ZBS_RPC_ENOENT, "chunk %u not found", cid);
	if (!on) {
		if (expire_ms)
			return merr_set(e, ZBS_RPC_EINVAL, "an expiry goes with maintenance on only");
		if (!meta_chunk_in_maintenance(c, m->core.wall_ns)) {
			c->maint_until_ns = 0;
			return 0;	/* off already: nothing changes */
		}
		c->maint_until_ns = 0;
		meta_chunk_store(&m->chunks, c);
		log_info("Set chunk maintenance mode: cid %u off", cid);
		meta_sched_scan_now(m);	/* its replicas count no more while it is down */
		return 0;
	}
	if (!expire_ms)
		expire_ms = META_MAINT_DEFAULT_MS;
	if (expire_ms < 1000 || expire_ms > META_MAINT_MAX_MS)
		return merr_set(e, ZBS_RPC_EINVAL, "maintenance expiry %llu ms: want 1 s to %llu s",
				(unsigned long long)expire_ms,
				(unsigned long long)(META_MAINT_MAX_MS / 1000));
	c->maint_until_ns = m->core.wall_ns + expire_ms * 1000000ULL;
	meta_chunk_store(&m->chunks, c);
	out->cmds_revoked = meta_sched_revoke_chunk(m, cid, "revoked: its chunk entered maintenance");
	s = c->session_id ? meta_session_find(&m->sessions, c->session_id) : NULL;
	if (s && s->alive && (n = meta_revoke(m, NULL, 0, s->id, &re)) > 0)
		out->leases_revoked = n;
	log_info("Set chunk maintenance mode: cid %u on for %llu s, %u lease(s) and %u recover "
		 "cmd(s) revoked", cid, (unsigned long long)(expire_ms / 1000),
		 out->leases_revoked, out->cmds_revoked);
	return 0;
}

uint32_t meta_chunk_maint_expire(struct meta *m)
{
	uint32_t n = 0;

	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = meta_chunk(&m->chunks, cid);

		if (!c || !c->maint_until_ns || meta_chunk_in_maintenance(c, m->core.wall_ns))
			continue;
		c->maint_until_ns = 0;
		meta_chunk_store(&m->chunks, c);
		log_info("chunk %u: maintenance mode expired", cid);
		n++;
	}
	if (n)
		meta_sched_scan_now(m);
	return n;
}

uint64_t meta_chunk_pids(const struct meta_chunk *c)
{
	return (uint64_t)c->thick_pids + c->thin_pids;
}

/* can every replica on cid go elsewhere? 0, or -1 with e */
static int removal_possible(struct meta *m, const struct meta_chunk *c, struct merr *e)
{
	uint32_t others = 0, most = 0;
	uint64_t free = 0, need = meta_chunk_pids(c) * ZBS_EXTENT_SIZE;
	struct meta_volume *v, *tmp;

	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		const struct meta_chunk *k = meta_chunk(&m->chunks, cid);
		uint64_t alloc;

		if (!k || cid == c->cid || !meta_chunk_takes_replicas(k, m->core.wall_ns))
			continue;
		others++;
		alloc = meta_provision_allocated(k);
		free += k->space.valid > alloc ? k->space.valid - alloc : 0;
	}
	HASH_ITER(hh_id, m->vols.by_id, v, tmp)
		if (v->replica_num > most)
			most = v->replica_num;
	if (meta_chunk_pids(c) && others < most)
		return merr_set(e, ZBS_RPC_ENOSPC, "cannot remove chunk %u: a volume keeps %u "
				"replicas and only %u other chunk(s) take new ones", c->cid, most,
				others);
	if (need > free)
		return merr_set(e, ZBS_RPC_ENOSPC, "cannot remove chunk %u: its %llu replica(s) "
				"need %llu GiB, the other chunks have %llu GiB free", c->cid,
				(unsigned long long)meta_chunk_pids(c),
				(unsigned long long)(need >> 30), (unsigned long long)(free >> 30));
	return 0;
}

int meta_chunk_remove(struct meta *m, uint32_t cid, bool cancel, struct meta_remove_result *out,
		      struct merr *e)
{
	struct meta_chunk *c = meta_chunk(&m->chunks, cid);

	*out = (struct meta_remove_result){ 0 };
	if (!c)
		return merr_set(e, ZBS_RPC_ENOENT, "chunk %u not found", cid);
	out->pids_left = meta_chunk_pids(c);
	if (cancel) {
		if (c->admin & CHUNK_ADMIN_REMOVING) {
			c->admin &= ~CHUNK_ADMIN_REMOVING;
			meta_chunk_store(&m->chunks, c);
			log_info("Cancel remove chunk %u: %llu pid(s) stay on it", cid,
				 (unsigned long long)out->pids_left);
		}
		return 0;
	}
	out->removing = true;
	if (c->admin & CHUNK_ADMIN_REMOVING)
		return 0;	/* again: its progress */
	if (removal_possible(m, c, e))
		return -1;
	c->admin |= CHUNK_ADMIN_REMOVING;
	meta_chunk_store(&m->chunks, c);
	log_info("Remove chunk %u: migrate its %llu pid(s) off", cid,
		 (unsigned long long)out->pids_left);
	meta_sched_scan_now(m);		/* its pids wait for their migrate */
	return 0;
}

uint32_t meta_chunk_forget_removed(struct meta *m)
{
	uint32_t n = 0;

	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = meta_chunk(&m->chunks, cid);

		if (!c || !(c->admin & CHUNK_ADMIN_REMOVING) || meta_chunk_pids(c) ||
		    c->status == CHUNK_HEALTHY || c->session_id)
			continue;
		if (m->sched && (m->sched->slots.by_cid[cid].cmds ||
				 m->sched->slots.by_cid[cid].tx_pids))
			continue;
		log_info("[REMOVE CHUNK] chunk %u (%s) drained and stopped: forgotten", cid, c->uuid);
		meta_chunk_forget(&m->chunks, cid);
		n++;
	}
	return n;
}
