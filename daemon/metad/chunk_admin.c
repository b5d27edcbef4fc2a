// SPDX-License-Identifier: GPL-2.0
/* Operators' actions on a chunk (see chunk_admin.h). */
#include "chunk_admin.h"
#include "log.h"
#include "owner.h"
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
