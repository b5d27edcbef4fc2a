// SPDX-License-Identifier: GPL-2.0
/* Chunk sessions as operations (see keepalive.h). */
#include <string.h>

#include "balance.h"
#include "chunk_admin.h"
#include "keepalive.h"
#include "log.h"
#include "owner.h"
#include "provision.h"
#include "rpc.h"
#include "scheduler.h"

/*
 * Releasing a lease writes its pextent: a session that owned a million would
 * hold the loop for a second. Its leases are free at once (their owner is
 * not alive: the next lease request takes them), and written back a slice
 * at a time by the tick (meta_reap_sessions).
 */
static void session_drop(struct meta *m, struct meta_session *s, const char *why)
{
	uint32_t owned = s->leases;
	uint64_t sid = s->id;

	log_info("[%s] session %llu cid %u, %u lease(s) released", why,
		 (unsigned long long)s->id, s->cid, owned);
	if (owned <= META_RELEASE_SLICE) {
		meta_release_session_leases(m, s, owned);
		meta_session_remove(&m->sessions, &m->chunks, s);
	} else {
		meta_session_retire(&m->sessions, &m->chunks, s);
	}
	/* its recover cmds are void; its chunk's replicas stop counting */
	meta_sched_session_ended(m, sid);
}

uint32_t meta_reap_sessions(struct meta *m, uint32_t budget)
{
	uint32_t done = 0;
	struct meta_session *s;

	while (done < budget && (s = TAILQ_FIRST(&m->sessions.dying))) {
		done += meta_release_session_leases(m, s, budget - done);
		if (!s->owned_first)
			meta_session_remove(&m->sessions, &m->chunks, s);
	}
	return done;
}

int meta_session_create(struct meta *m, uint32_t cid, const char *uuid,
			uint64_t caps, struct meta_session **out, struct merr *e)
{
	struct meta_chunk *c = meta_chunk(&m->chunks, cid);
	struct meta_session *s;

	if (!c)
		return merr_set(e, ZBS_RPC_ENOENT, "chunk %u not registered", cid);
	if (!uuid || strcmp(uuid, c->uuid) != 0)
		return merr_set(e, ZBS_RPC_EINVAL, "uuid '%s' does not match chunk %u (%s)",
				uuid ? uuid : "", cid, c->uuid);
	/* a chunk has one session: a new one ends the old, leases do not carry over */
	if (c->session_id && (s = meta_session_find(&m->sessions, c->session_id)))
		session_drop(m, s, "SESSION REPLACED");
	c->caps = caps;
	s = meta_session_new(&m->sessions, &m->chunks, c);
	log_info("ACCESS SESSION CREATED session %llu cid %u", (unsigned long long)s->id, cid);
	*out = s;
	return 0;
}

uint64_t meta_cluster_caps(struct meta *m)
{
	return meta_sessions_caps(&m->sessions, &m->chunks);
}

int meta_keepalive(struct meta *m, uint64_t sid, const struct meta_space *space,
		   const struct meta_report *report, uint64_t caps, struct meta_session **out,
		   struct merr *e)
{
	struct meta_keepalive_in in = { .space = space, .report = report, .caps = caps,
					 .failslow_unknown = true };

	return meta_keepalive_in(m, sid, &in, out, e);
}

int meta_keepalive_in(struct meta *m, uint64_t sid, const struct meta_keepalive_in *in,
		      struct meta_session **out, struct merr *e)
{
	struct meta_session *s = meta_session_get(&m->sessions, sid, e);
	const struct meta_space *space = in->space;
	const struct meta_report *report = in->report;
	uint64_t caps = in->caps;
	struct meta_chunk *c;

	if (!s)
		return -1;
	if (space && (space->valid > space->total || space->used > space->total))
		return merr_set(e, ZBS_RPC_EINVAL, "space report: valid/used exceed total");
	c = meta_chunk(&m->chunks, s->cid);
	meta_session_extend(&m->sessions, s);
	s->dirty = true;
	if (space)
		meta_chunk_set_space(c, space);
	if (c->caps != caps) {
		c->caps = caps;
		c->dirty = true;
	}
	if (!in->failslow_unknown)
		meta_chunk_set_failslow(c, in->failslow);
	if (report)
		meta_data_report(m, s, report);
	*out = s;
	return 0;
}

/*
 * A keepalive acknowledges nothing that must survive a crash: the new expiry
 * and space figures are written by the next tick, every keepalive of the
 * interval in one commit, not one commit (an fsync) each. A restart reads
 * an expiry at most a tick old: the session is reused if it had that much
 * left.
 */
void meta_flush_keepalives(struct meta *m)
{
	for (uint32_t i = 0; i < m->sessions.n; i++)
		if (m->sessions.all[i]->dirty)
			meta_session_store(&m->sessions, m->sessions.all[i]);
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++)
		if (m->chunks.by_cid[cid].dirty)
			meta_chunk_store(&m->chunks, &m->chunks.by_cid[cid]);
}

int meta_session_leave(struct meta *m, uint64_t sid, struct merr *e)
{
	struct meta_session *s = meta_session_get(&m->sessions, sid, e);

	if (!s)
		return -1;
	session_drop(m, s, "SESSION LEFT");
	return 0;
}

/*
 * A loop that was away (a long operation, the process stopped, a slow disk)
 * must not expire the sessions whose keepalives wait unread in the sockets:
 * libuv runs due timers before it polls, so the first tick after a stall
 * would see every session run out. Time the loop could not observe is not
 * held against the sessions: when a tick comes later than one interval past
 * its due time, every session's expiry moves by the lateness, and the
 * keepalives read next renew them as usual. A chunk that really died expires
 * that much later, never earlier, which is the safe side of a lease. The
 * lateness is measured from the start of the previous tick, so a tick that
 * itself ran long counts too.
 */
static void sessions_stalled(struct meta *m, uint64_t stall_ns)
{
	log_warn("the loop was away for %llu ms: session expiry moved by as much",
		 (unsigned long long)(stall_ns / 1000000));
	for (uint32_t i = 0; i < m->sessions.n; i++) {
		struct meta_session *s = m->sessions.all[i];

		s->expire_ns += stall_ns;
		s->expire_wall_ns += stall_ns;
		meta_session_store(&m->sessions, s);
	}
}

int meta_tick(struct meta *m, uint64_t tick_ns)
{
	struct meta_core *core = &m->core;
	int n;

	if (core->last_tick_ns && core->now_ns - core->last_tick_ns > 2 * tick_ns)
		sessions_stalled(m, core->now_ns - core->last_tick_ns - tick_ns);
	core->last_tick_ns = core->now_ns;
	meta_flush_keepalives(m);
	n = meta_expire_sessions(m);
	/* a slice per tick keeps the loop responsive with millions of pextents */
	meta_reap_sessions(m, META_RELEASE_SLICE);
	meta_reap_volumes(m, META_DELETE_SLICE);
	meta_scan_pextents(m, 65536);
	meta_chunk_maint_expire(m);
	meta_sched_tick(m);
	meta_chunk_forget_removed(m);
	meta_balance_tick(m);
	return n;
}

int meta_expire_sessions(struct meta *m)
{
	int n = 0;

	for (uint32_t i = 0; i < m->sessions.n;) {
		struct meta_session *s = m->sessions.all[i];
		if (s->expire_ns <= m->core.now_ns) {
			session_drop(m, s, "ACCESS SESSION EXPIRED");
			n++;
			continue;	/* slot i now holds another session */
		}
		i++;
	}
	return n;
}
