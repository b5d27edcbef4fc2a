// SPDX-License-Identifier: GPL-2.0
/* Lease owners: release and revocation (see owner.h). */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "owner.h"
#include "rpc.h"

void meta_pext_release_owner(struct meta *m, uint64_t pid, bool notify)
{
	struct meta_pext *p = meta_pext(&m->pexts, pid);
	struct meta_session *s;

	if (!p || !p->owner)
		return;
	s = meta_session_find(&m->sessions, p->owner);
	if (s && s->alive && notify) {
		struct meta_cmd c = { .type = CMD_REVOKE_PID, .pid = pid, .epoch = p->epoch };
		meta_session_queue(s, &c);
	}
	log_debug("Release owner : pid: %llu session: %llu", (unsigned long long)pid,
		  (unsigned long long)p->owner);
	meta_pext_set_owner(&m->pexts, pid, NULL);
	p->flags &= ~PEXT_REVOKING;
	meta_pext_store(&m->pexts, pid);
}

void meta_pext_grant_owner(struct meta *m, uint64_t pid, struct meta_session *s)
{
	struct meta_pext *p = meta_pext(&m->pexts, pid);

	meta_pext_set_owner(&m->pexts, pid, s);
	p->lease_epoch++;
	p->gen_seen_s = meta_now_s(m);	/* the new owner's writes start now */
	meta_pext_store(&m->pexts, pid);
	log_debug("AllocOwner pid %llu session %llu cid %u lease_epoch %llu",
		  (unsigned long long)pid, (unsigned long long)s->id, s->cid,
		  (unsigned long long)p->lease_epoch);
}

static bool acks_revokes(struct meta *m, const struct meta_session *s)
{
	return (m->chunks.by_cid[s->cid].caps & CAP_REVOKE_ACK) != 0;
}

/* mark pid as being revoked from its owner; false if the owner cannot
 * acknowledge (then it was released at once, with a one-time notice) */
static bool mark_revoking(struct meta *m, uint64_t pid, bool notify_old)
{
	struct meta_pext *p = meta_pext(&m->pexts, pid);
	struct meta_session *s = p && p->owner ? meta_session_find(&m->sessions, p->owner) : NULL;

	if (!p || !p->owner)
		return false;
	if (!s || !s->alive || !acks_revokes(m, s)) {
		meta_pext_release_owner(m, pid, notify_old && s && s->alive);
		return false;
	}
	if (!(p->flags & PEXT_REVOKING)) {
		p->flags |= PEXT_REVOKING;
		meta_pext_store(&m->pexts, pid);
		log_info("[REVOKE LEASE] pid %llu session %llu: waiting for its acknowledgement",
			 (unsigned long long)pid, (unsigned long long)s->id);
	}
	return true;
}

void meta_pext_revoke_owner(struct meta *m, uint64_t pid)
{
	struct meta_pext *p = meta_pext(&m->pexts, pid);
	uint64_t owner = p ? p->owner : 0;

	if (mark_revoking(m, pid, true)) {
		struct meta_cmd c = { .type = CMD_REVOKE_PID, .pid = pid, .epoch = p->epoch };
		meta_session_revoke_pending(meta_session_find(&m->sessions, owner), &c);
	}
}

static bool revoked_by(const struct meta_pext *p, uint64_t sid)
{
	return p && p->owner == sid && (p->flags & PEXT_REVOKING);
}

/* release pid if s is its owner being revoked; 1 if it was */
static uint32_t release_revoked(struct meta *m, struct meta_session *s, uint64_t pid)
{
	if (!revoked_by(meta_pext(&m->pexts, pid), s->id))
		return 0;
	meta_pext_release_owner(m, pid, false);
	return 1;
}

int meta_revoke_acked(struct meta *m, struct meta_session *s, uint64_t id)
{
	struct meta_cmd c;
	uint32_t n = 0;

	if (meta_session_revoke_take(s, id, &c))
		return -1;	/* acknowledged before (a re-sent ack), or not ours */
	if (c.type == CMD_REVOKE_PID) {
		n += release_revoked(m, s, c.pid);
	} else if (c.type == CMD_REVOKE_VOLUME) {
		struct merr e;
		struct meta_volume *v = meta_volume_find(&m->vols, c.volume_id, &e);
		for (uint32_t k = 0; v && k < v->nvext; k++)
			n += release_revoked(m, s, v->vtable[k]);
	} else {
		for (uint64_t pid = s->owned_first, next; pid; pid = next) {
			next = meta_pext(&m->pexts, pid)->owned_next;	/* pid may leave */
			n += release_revoked(m, s, pid);
		}
	}
	log_info("[REVOKE ACKED] session %llu command %llu (type %u pid %llu volume '%s'): "
		 "%u lease(s) released", (unsigned long long)s->id, (unsigned long long)id, c.type,
		 (unsigned long long)c.pid, c.volume_id, n);
	return 0;
}

/* (the loader already cleared the flag where the owner's session ended) */
void meta_revokes_reload(struct meta *m)
{
	for (uint32_t i = 0; i < m->sessions.n; i++) {
		struct meta_session *s = m->sessions.all[i];

		for (uint64_t pid = s->owned_first; pid;) {
			struct meta_pext *p = meta_pext(&m->pexts, pid);
			if (p->flags & PEXT_REVOKING) {
				struct meta_cmd c = { .type = CMD_REVOKE_PID, .pid = pid,
						      .epoch = p->epoch };
				meta_session_revoke_pending(s, &c);
			}
			pid = p->owned_next;
		}
	}
}

uint32_t meta_release_session_leases(struct meta *m, struct meta_session *s, uint32_t max)
{
	uint32_t n = 0;

	while (s->owned_first && n < max) {
		meta_pext_release_owner(m, s->owned_first, false);
		n++;
	}
	return n;
}

static int revoke_volume(struct meta *m, struct meta_volume *v)
{
	struct meta_cmd c = { .type = CMD_REVOKE_VOLUME };
	int n = 0;

	snprintf(c.volume_id, sizeof(c.volume_id), "%s", v->id);
	for (uint32_t i = 0; i < v->nvext; i++) {
		struct meta_pext *p = meta_pext(&m->pexts, v->vtable[i]);
		uint64_t owner = p ? p->owner : 0;

		if (!owner)
			continue;
		n++;
		if (mark_revoking(m, v->vtable[i], false))
			meta_session_revoke_pending(meta_session_find(&m->sessions, owner), &c);
	}
	/* the others drop what they cached once (nothing to wait for) */
	for (uint32_t i = 0; i < m->sessions.n; i++) {
		struct meta_session *s = m->sessions.all[i];

		if (s->alive && !meta_session_revoke_is_pending(s, &c))
			meta_session_queue(s, &c);
	}
	log_info("[REVOKE LEASE] vtable %s: %d owner(s) revoked", v->id, n);
	return n;
}

static int revoke_session(struct meta *m, uint64_t sid, struct merr *e)
{
	struct meta_session *s = meta_session_get(&m->sessions, sid, e);
	struct meta_cmd c = { .type = CMD_REVOKE_ALL };
	int n = 0;

	if (!s)
		return -1;
	if (!acks_revokes(m, s)) {
		n = meta_release_session_leases(m, s, UINT32_MAX);
		meta_session_queue(s, &c);
		return n;
	}
	for (uint64_t pid = s->owned_first, next; pid; pid = next) {
		next = meta_pext(&m->pexts, pid)->owned_next;
		mark_revoking(m, pid, false);	/* stays owned: s acknowledges */
		n++;
	}
	meta_session_revoke_pending(s, &c);
	return n;
}

int meta_revoke(struct meta *m, struct meta_volume *v, uint64_t pid, uint64_t sid,
		struct merr *e)
{
	if (v)
		return revoke_volume(m, v);
	if (pid) {
		struct meta_pext *p = meta_pext(&m->pexts, pid);
		if (!p)
			return merr_set(e, ZBS_RPC_ENOENT, "pid %llu not found",
					(unsigned long long)pid);
		if (!p->owner)
			return 0;
		meta_pext_revoke_owner(m, pid);
		return 1;
	}
	if (sid)
		return revoke_session(m, sid, e);
	return merr_set(e, ZBS_RPC_EINVAL, "revoke needs a volume, a pid or a session");
}
