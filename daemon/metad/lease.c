// SPDX-License-Identifier: GPL-2.0
/*
 * Meta state: vextent leases (single owner per pid, lease_epoch as the
 * fencing token), replica removal, existence, revocation, idle release,
 * and alive_location from data reports.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "meta.h"
#include "rpc.h"

void meta_pext_set_owner(struct meta *m, uint64_t pid, struct meta_session *s)
{
	struct meta_pext *p = &m->pext[pid];
	struct meta_session *o = p->owner ? meta_session_find(m, p->owner) : NULL;

	if (s && o == s)
		return;
	if (o) {
		if (p->owned_prev)
			m->pext[p->owned_prev].owned_next = p->owned_next;
		else
			o->owned_first = p->owned_next;
		if (p->owned_next)
			m->pext[p->owned_next].owned_prev = p->owned_prev;
		else
			o->owned_last = p->owned_prev;
		o->leases--;
	}
	p->owned_prev = p->owned_next = 0;
	p->owner = 0;
	if (!s)
		return;
	p->owned_prev = s->owned_last;	/* appended: a list in order of taking */
	if (s->owned_last)
		m->pext[s->owned_last].owned_next = pid;
	else
		s->owned_first = pid;
	s->owned_last = pid;
	s->leases++;
	p->owner = s->id;
}

void meta_pext_release_owner(struct meta *m, uint64_t pid, bool notify)
{
	struct meta_pext *p = meta_pext(m, pid);
	struct meta_session *s;

	if (!p || !p->owner)
		return;
	s = meta_session_find(m, p->owner);
	if (s && notify) {
		struct meta_cmd c = { .type = CMD_REVOKE_PID, .pid = pid, .epoch = p->epoch };
		meta_session_queue(m, s, &c);
	}
	log_debug("Release owner : pid: %llu session: %llu", (unsigned long long)pid,
		  (unsigned long long)p->owner);
	meta_pext_set_owner(m, pid, NULL);
	p->flags &= ~PEXT_REVOKING;
	store_pext(m, pid);
}

static bool acks_revokes(const struct meta *m, const struct meta_session *s)
{
	const struct meta_chunk *c = &m->chunks[s->cid];

	return (c->caps & CAP_REVOKE_ACK) != 0;
}

/* mark pid as being revoked from its owner; false if the owner cannot
 * acknowledge (then it was released at once, with a one-time notice) */
static bool mark_revoking(struct meta *m, uint64_t pid, bool notify_old)
{
	struct meta_pext *p = meta_pext(m, pid);
	struct meta_session *s = p && p->owner ? meta_session_find(m, p->owner) : NULL;

	if (!p || !p->owner)
		return false;
	if (!s || !acks_revokes(m, s)) {
		meta_pext_release_owner(m, pid, notify_old);
		return false;
	}
	if (!(p->flags & PEXT_REVOKING)) {
		p->flags |= PEXT_REVOKING;
		store_pext(m, pid);
		log_info("[REVOKE LEASE] pid %llu session %llu: waiting for its acknowledgement",
			 (unsigned long long)pid, (unsigned long long)s->id);
	}
	return true;
}

void meta_pext_revoke_owner(struct meta *m, uint64_t pid)
{
	struct meta_pext *p = meta_pext(m, pid);
	uint64_t owner = p ? p->owner : 0;

	if (mark_revoking(m, pid, true)) {
		struct meta_cmd c = { .type = CMD_REVOKE_PID, .pid = pid, .epoch = p->epoch };
		meta_session_revoke_pending(meta_session_find(m, owner), &c);
	}
}

static bool revoked_by(const struct meta_pext *p, uint64_t sid)
{
	return p && p->owner == sid && (p->flags & PEXT_REVOKING);
}

int meta_revoke_acked(struct meta *m, struct meta_session *s, uint64_t id)
{
	struct meta_cmd c;
	uint32_t i, n = 0;

	for (i = 0; i < s->nrevokes; i++)
		if (s->revokes[i].id == id)
			break;
	if (i == s->nrevokes)
		return -1;	/* acknowledged before (a re-sent ack), or not ours */
	c = s->revokes[i];
	s->revokes[i] = s->revokes[--s->nrevokes];
	if (c.type == CMD_REVOKE_PID) {
		if (revoked_by(meta_pext(m, c.pid), s->id)) {
			meta_pext_release_owner(m, c.pid, false);
			n++;
		}
	} else if (c.type == CMD_REVOKE_VOLUME) {
		struct merr e;
		struct meta_volume *v = meta_volume_find(m, c.volume_id, &e);
		for (uint32_t k = 0; v && k < v->nvext; k++) {
			if (revoked_by(meta_pext(m, v->vtable[k]), s->id)) {
				meta_pext_release_owner(m, v->vtable[k], false);
				n++;
			}
		}
	} else {
		for (uint64_t pid = s->owned_first, next; pid; pid = next) {
			next = m->pext[pid].owned_next;		/* pid may leave the list */
			if (revoked_by(meta_pext(m, pid), s->id)) {
				meta_pext_release_owner(m, pid, false);
				n++;
			}
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
	for (uint32_t i = 0; i < m->nsessions; i++) {
		struct meta_session *s = m->sessions[i];

		for (uint64_t pid = s->owned_first; pid; pid = m->pext[pid].owned_next) {
			struct meta_pext *p = &m->pext[pid];
			if (!(p->flags & PEXT_REVOKING))
				continue;
			struct meta_cmd c = { .type = CMD_REVOKE_PID, .pid = pid, .epoch = p->epoch };
			meta_session_revoke_pending(s, &c);
		}
	}
}

uint32_t meta_release_session_leases(struct meta *m, uint64_t sid)
{
	struct meta_session *s = meta_session_find(m, sid);
	uint32_t n = 0;

	while (s && s->owned_first) {
		meta_pext_release_owner(m, s->owned_first, false);
		n++;
	}
	return n;
}

int meta_get_vextent_lease(struct meta *m, struct meta_volume *v, uint32_t vno,
			   int mode, uint64_t sid, uint64_t *pidp, struct merr *e)
{
	struct meta_session *s = meta_session_get(m, sid, e);
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
	p = &m->pext[pid];
	if (p->owner && p->owner != sid) {
		struct meta_session *o = meta_session_find(m, p->owner);
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
	if (p->owner != sid) {
		meta_pext_set_owner(m, pid, s);
		p->lease_epoch++;
		p->gen_seen_s = meta_now_s(m);	/* the new owner's writes start now */
		store_pext(m, pid);
		log_debug("AllocOwner pid %llu session %llu cid %u lease_epoch %llu",
			  (unsigned long long)pid, (unsigned long long)sid, s->cid,
			  (unsigned long long)p->lease_epoch);
	}
	p->last_access_s = meta_now_s(m);
	*pidp = pid;
	return 0;
}

static struct meta_pext *owned(struct meta *m, uint64_t pid, uint64_t epoch, uint64_t sid,
			       bool check_epoch, struct merr *e)
{
	struct meta_pext *p = meta_pext(m, pid);

	if (!meta_session_get(m, sid, e))
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
	uint32_t seen[ZBS_LOC_SLOTS] = { 0 };
	int slot, j = 0;

	if (!p)
		return -1;
	/* only under the owner's current lease (ARCHITECTURE.md 4a): a write
	 * issued under an older one must not shrink the location now */
	if (lease_epoch != p->lease_epoch)
		return merr_set(e, ZBS_RPC_ESTALE, "pid %llu: lease_epoch %llu is not the current %llu",
				(unsigned long long)pid, (unsigned long long)lease_epoch,
				(unsigned long long)p->lease_epoch);
	slot = loc_slot_of(p->location, cid);
	if (slot < 0)
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
	for (int i = 0; i < ZBS_LOC_SLOTS; i++)
		if (i != slot)
			seen[j++] = p->seen_s[i];
	memcpy(p->seen_s, seen, sizeof(seen));
	p->meta_gen = gen;
	p->location = loc_remove(p->location, cid);
	p->alive_location = loc_remove(p->alive_location, cid);
	struct meta_chunk *c = meta_chunk(m, cid);
	if (c) {
		if (p->flags & PEXT_THIN) {
			if (c->thin_pids)
				c->thin_pids--;
		} else if (c->thick_pids) {
			c->thick_pids--;
		}
	}
	store_pext(m, pid);
	log_info("[REMOVE REPLICA] pid %llu cid %u gen %llu -> loc 0x%x", (unsigned long long)pid,
		 cid, (unsigned long long)gen, p->location);
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
		store_pext(m, pid);
		log_info("[SET PEXTENT EXISTENCE] pid %llu epoch %llu", (unsigned long long)pid,
			 (unsigned long long)epoch);
	}
	return 0;
}

int meta_revoke(struct meta *m, struct meta_volume *v, uint64_t pid, uint64_t sid,
		struct merr *e)
{
	int n = 0;

	if (v) {
		struct meta_cmd c = { .type = CMD_REVOKE_VOLUME };
		snprintf(c.volume_id, sizeof(c.volume_id), "%s", v->id);
		for (uint32_t i = 0; i < v->nvext; i++) {
			struct meta_pext *p = meta_pext(m, v->vtable[i]);
			uint64_t owner = p ? p->owner : 0;

			if (!owner)
				continue;
			n++;
			if (mark_revoking(m, v->vtable[i], false))
				meta_session_revoke_pending(meta_session_find(m, owner), &c);
		}
		/* the others drop what they cached once (nothing to wait for) */
		for (uint32_t i = 0; i < m->nsessions; i++) {
			struct meta_session *s = m->sessions[i];
			bool pending = false;

			for (uint32_t k = 0; k < s->nrevokes; k++)
				if (s->revokes[k].type == CMD_REVOKE_VOLUME &&
				    !strcmp(s->revokes[k].volume_id, c.volume_id))
					pending = true;
			if (s->alive && !pending)
				meta_session_queue(m, s, &c);
		}
		log_info("[REVOKE LEASE] vtable %s: %d owner(s) revoked", v->id, n);
		return n;
	}
	if (pid) {
		struct meta_pext *p = meta_pext(m, pid);
		if (!p)
			return merr_set(e, ZBS_RPC_ENOENT, "pid %llu not found",
					(unsigned long long)pid);
		if (p->owner) {
			meta_pext_revoke_owner(m, pid);
			n++;
		}
		return n;
	}
	if (sid) {
		struct meta_session *s = meta_session_get(m, sid, e);
		struct meta_cmd c = { .type = CMD_REVOKE_ALL };
		if (!s)
			return -1;
		if (!acks_revokes(m, s)) {
			n = meta_release_session_leases(m, sid);
			meta_session_queue(m, s, &c);
			return n;
		}
		for (uint64_t p = s->owned_first, next; p; p = next) {
			next = m->pext[p].owned_next;
			mark_revoking(m, p, false);	/* stays owned: s acknowledges */
			n++;
		}
		meta_session_revoke_pending(s, &c);
		return n;
	}
	return merr_set(e, ZBS_RPC_EINVAL, "revoke needs a volume, a pid or a session");
}

static uint32_t alive_with(const struct meta_pext *p, int slot)
{
	uint32_t out = 0;

	for (int i = 0; i < loc_count(p->location); i++) {
		uint32_t c = loc_get(p->location, i);
		if (i == slot || loc_contains(p->alive_location, c))
			out = loc_add(out, c);
	}
	return out;
}

void meta_data_report(struct meta *m, struct meta_session *s,
		      const struct meta_replica_report *reps, size_t n)
{
	uint32_t now = meta_now_s(m);

	for (size_t i = 0; i < n; i++) {
		const struct meta_replica_report *r = &reps[i];
		struct meta_pext *p;
		int slot;

		if (!r->pid || r->pid >= m->next_pid)
			continue;	/* not one of ours: leave it alone */
		p = meta_pext(m, r->pid);
		if (!p || r->epoch < p->epoch) {
			/* deleted pid (or an older incarnation): garbage */
			struct meta_cmd c = { .type = CMD_GC_DELETE, .pid = r->pid, .epoch = r->epoch };
			meta_session_queue(m, s, &c);
			log_debug("[MARK GC PIDS] %llu:%llu on cid %u", (unsigned long long)r->pid,
				  (unsigned long long)r->epoch, s->cid);
			continue;
		}
		if (r->epoch != p->epoch)
			continue;
		slot = loc_slot_of(p->location, s->cid);
		if (slot < 0)
			continue;	/* not in location: recovery decides later */
		if (r->gen < p->meta_gen) {
			log_debug("[IGNORE SMALL GEN] wrong gen: %llu expected gen: %llu pid %llu cid %u",
				  (unsigned long long)r->gen, (unsigned long long)p->meta_gen,
				  (unsigned long long)r->pid, s->cid);
			p->alive_location = loc_remove(p->alive_location, s->cid);
			continue;
		}
		p->seen_s[slot] = now;
		p->alive_location = alive_with(p, slot);
		if (r->gen >= p->gen_seen) {
			p->gen_seen = r->gen;
			p->gen_seen_s = now;
		}
	}
}

uint32_t meta_scan_pextents(struct meta *m, uint64_t budget)
{
	uint32_t now = meta_now_s(m), released = 0;
	uint64_t pid = m->scan_cursor;
	uint32_t idle_s = m->cfg.idle_release_ms / 1000, grace_s = m->cfg.alive_grace_ms / 1000;

	if (!idle_s)
		idle_s = 1;
	if (!grace_s)
		grace_s = 1;
	if (budget > m->npext)
		budget = m->npext;
	for (; budget; budget--, pid++) {
		if (pid >= m->npext || pid == 0)
			pid = 1;	/* wrap around */
		if (pid >= m->npext)
			break;
		struct meta_pext *p = &m->pext[pid];
		if (!(p->flags & PEXT_USED))
			continue;
		if (p->owner && !(p->flags & PEXT_REVOKING) && now - p->last_access_s >= idle_s) {
			meta_pext_revoke_owner(m, pid);
			released++;
		}
		for (int i = 0; i < loc_count(p->location); i++) {
			uint32_t c = loc_get(p->location, i);
			if (loc_contains(p->alive_location, c) && now - p->seen_s[i] >= grace_s)
				p->alive_location = loc_remove(p->alive_location, c);
		}
	}
	m->scan_cursor = pid;
	return released;
}
