// SPDX-License-Identifier: GPL-2.0
/* The recovery scheduler (see scheduler.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "owner.h"
#include "provision.h"
#include "rpc.h"
#include "agile.h"
#include "scheduler.h"

const struct meta_sched_config meta_sched_defaults = {
	.slots = META_RECOVER_SLOTS_DEFAULT,
	.concurrency = 32,
	.bps = 0,
	.timeout_ms = META_RECOVER_TIMEOUT_MS,
	.scan_interval_ms = 60000,
};

/* the chunks as recovery sees them, built once per use */
struct view {
	struct meta_recover_chunk c[META_MAX_CID];
	size_t n;
	bool healthy[META_MAX_CID + 1];
};

static const char *const end_names[] = {
	[META_RECOVER_DONE] = "DONE", [META_RECOVER_FAILED] = "FAILED",
	[META_RECOVER_REVOKED] = "REVOKED", [META_RECOVER_TIMEDOUT] = "TIMEDOUT",
};

uint64_t meta_sched_now_ms(const struct meta *m)
{
	return m->core.now_ns / 1000000ULL;
}

static struct meta_session *session_of_chunk(struct meta *m, uint32_t cid)
{
	struct meta_chunk *c = meta_chunk(&m->chunks, cid);
	struct meta_session *s;

	if (!c || c->status != CHUNK_HEALTHY || !c->session_id)
		return NULL;
	s = meta_session_find(&m->sessions, c->session_id);
	return s && s->alive ? s : NULL;
}

/* the chunk table shows the rx the slots hold on cid (SPEC 7.1 counts it
 * in a chunk's allocated space) */
static void sync_rx(struct meta *m, uint32_t cid)
{
	struct meta_chunk *k = meta_chunk(&m->chunks, cid);

	if (k)
		k->rx_pids = m->sched->slots.by_cid[cid].rx_pids;
}

static uint64_t failed_hold_ms(const struct meta *m)
{
	uint32_t h = m->sched->cfg.failed_hold_ms;

	return h ? h : m->core.cfg.session_lease_ms;
}

void meta_sched_chunk_failed(struct meta *m, uint32_t cid)
{
	const struct meta_chunk *k = meta_chunk(&m->chunks, cid);
	uint64_t now = meta_sched_now_ms(m);

	if (!m->sched || !k)
		return;
	if (!meta_sched_chunk_failing(m, cid))
		log_info("chunk %u: a replica on it failed; no recover dst for %llu ms or until "
			 "it has a new session", cid, (unsigned long long)failed_hold_ms(m));
	m->sched->chunk_failed[cid].at_ms = now ? now : 1;
	m->sched->chunk_failed[cid].sid = k->session_id;
}

bool meta_sched_chunk_failing(struct meta *m, uint32_t cid)
{
	const struct meta_chunk *k = meta_chunk(&m->chunks, cid);
	struct meta_sched *sc = m->sched;

	if (!sc || !k || !sc->chunk_failed[cid].at_ms)
		return false;
	if (k->session_id != sc->chunk_failed[cid].sid ||
	    meta_sched_now_ms(m) >= sc->chunk_failed[cid].at_ms + failed_hold_ms(m)) {
		sc->chunk_failed[cid].at_ms = 0;	/* a new session, or the hold is over */
		return false;
	}
	return true;
}

static void build_view(struct meta *m, struct view *v)
{
	v->n = 0;
	memset(v->healthy, 0, sizeof(v->healthy));
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		const struct meta_chunk *k = &m->chunks.by_cid[cid];
		uint64_t alloc;

		if (!k->cid)
			continue;
		/* the slots hold the rx of running cmds (meta_recover_dst_free) */
		alloc = meta_provision_allocated(k) - (uint64_t)k->rx_pids * ZBS_EXTENT_SIZE;
		v->healthy[cid] = session_of_chunk(m, cid) != NULL;
		v->c[v->n++] = (struct meta_recover_chunk){
			.cid = cid,
			.healthy = v->healthy[cid],
			.free = k->space.valid > alloc ? k->space.valid - alloc : 0,
			.cannot_own = !(k->caps & CAP_RECOVER),
			.failslow = k->failslow,
			.topo = meta_provision_path(m, k),
			.failing = meta_sched_chunk_failing(m, cid),
			.maintenance = meta_chunk_in_maintenance(k, m->core.wall_ns),
			.removing = k->admin & CHUNK_ADMIN_REMOVING,
		};
	}
}

/* p as recovery sees it: a replica is current while its chunk is healthy */
static void pext_view(struct meta *m, const struct view *v, uint64_t pid,
		      const struct meta_pext *p, struct meta_recover_pext *rp)
{
	struct meta_session *o = p->owner ? meta_session_find(&m->sessions, p->owner) : NULL;
	uint32_t alive = 0;

	for (int i = 0; i < loc_count(p->location); i++) {
		uint32_t cid = loc_get(p->location, i);
		if (loc_contains(p->alive_location, cid) && v->healthy[cid])
			alive = loc_add(alive, cid);
	}
	*rp = (struct meta_recover_pext){
		.pid = pid, .epoch = p->epoch, .location = p->location, .alive_location = alive,
		.expected = p->expected, .owner = o && o->alive ? o->cid : 0,
		.prefer_cid = p->preferred_cid,
	};
}

static int current_count(const struct meta_recover_pext *rp)
{
	return loc_count(rp->alive_location);
}

/* ---- cmds ---- */

static struct meta_sched_cmd *cmd_by_pid(struct meta_sched *sc, uint64_t pid)
{
	struct meta_sched_cmd *c;

	HASH_FIND(hh_pid, sc->by_pid, &pid, sizeof(pid), c);
	return c;
}

bool meta_sched_has_cmd(const struct meta *m, uint64_t pid)
{
	return m->sched && cmd_by_pid(m->sched, pid);
}

static struct meta_sched_cmd *cmd_by_id(struct meta_sched *sc, uint64_t id)
{
	struct meta_sched_cmd *c;

	HASH_FIND(hh, sc->by_id, &id, sizeof(id), c);
	return c;
}

static struct meta_sched_owner *owner_of(struct meta_sched *sc, uint64_t sid, bool make)
{
	struct meta_sched_owner *o;

	HASH_FIND(hh, sc->owners, &sid, sizeof(sid), o);
	if (o || !make)
		return o;
	o = calloc(1, sizeof(*o));
	if (!o)
		abort();
	o->sid = sid;
	TAILQ_INIT(&o->cmds);
	HASH_ADD(hh, sc->owners, sid, sizeof(o->sid), o);
	return o;
}

void meta_sched_wait_pid(struct meta *m, uint64_t pid, uint64_t not_before_ms)
{
	struct meta_sched *sc = m->sched;
	struct meta_sched_wait *w;

	if (!sc || cmd_by_pid(sc, pid))
		return;
	HASH_FIND(hh, sc->waiting, &pid, sizeof(pid), w);
	if (w)
		return;		/* waiting already (maybe backing off) */
	w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	w->pid = pid;
	w->not_before_ms = not_before_ms;
	HASH_ADD(hh, sc->waiting, pid, sizeof(w->pid), w);
}

static void queue_gc(struct meta *m, uint32_t cid, uint64_t pid, uint64_t epoch, const char *what)
{
	struct meta_session *s = session_of_chunk(m, cid);
	struct meta_cmd c = { .type = CMD_GC_DELETE, .pid = pid, .epoch = epoch };

	if (!s) {
		log_warn("[MARK GC PIDS] %llu:%llu on cid %u (%s): its session is not alive, "
			 "left there", (unsigned long long)pid, (unsigned long long)epoch, cid, what);
		return;
	}
	meta_session_queue(s, &c);
	log_info("[MARK GC PIDS] %llu:%llu on cid %u (%s)", (unsigned long long)pid,
		 (unsigned long long)epoch, cid, what);
}

/* is a GC of pid still queued for cid's chunk? A cmd must not write there
 * before it went out (it would delete the new replica) */
static bool gc_pending(struct meta *m, uint32_t cid, uint64_t pid, uint64_t epoch)
{
	struct meta_session *s = session_of_chunk(m, cid);
	struct meta_cmd c = { .type = CMD_GC_DELETE, .pid = pid, .epoch = epoch };

	return s && meta_session_queued(s, &c);
}

/* the owner the cmd was given, unless it moved on or did IO since */
static void give_back_owner(struct meta *m, const struct meta_sched_cmd *c,
			    const struct meta_pext *p, const char *why)
{
	if (!p || p->owner != c->sid || p->lease_epoch != c->lease_epoch ||
	    p->last_access_s != c->grant_access_s)
		return;
	log_info("Release owner : pid: %llu session: %llu (%s)", (unsigned long long)c->rc.pid,
		 (unsigned long long)c->sid, why);
	meta_pext_revoke_owner(m, c->rc.pid);
}

/* the cmd ends: slots back, the undo when it did not succeed, freed */
static void release(struct meta *m, struct meta_sched_cmd *c, enum meta_recover_end how,
		    const char *why)
{
	struct meta_sched *sc = m->sched;
	struct meta_pext *p = meta_pext(&m->pexts, c->rc.pid);
	struct meta_sched_owner *o = owner_of(sc, c->sid, false);
	struct meta_recover_undo u;
	uint64_t pid = c->rc.pid;

	meta_recover_release(&sc->slots, &c->rc, how, &u);
	sync_rx(m, c->rc.dst);
	meta_agile_ended(m, pid, c->rc.dst, how == META_RECOVER_DONE);
	if (how == META_RECOVER_DONE) {
		sc->done++;
		/* a lease given for the cmd alone goes back, so whoever uses the
		 * pid next (a kernel's agent) does not find it owned */
		if (c->rc.owner_new)
			give_back_owner(m, c, p, "its recover cmd is done");
	} else {
		uint32_t gc = u.gc_dst ? u.gc_dst : (c->sent ? c->rc.dst : 0);

		sc->failed++;
		log_warn("[RECOVER %s] cmd %llu pid %llu src %u dst %u replace %u owner %u: %s",
			 end_names[how], (unsigned long long)c->id, (unsigned long long)pid,
			 c->rc.src, c->rc.dst, c->rc.replace, c->rc.owner, why);
		if (u.release_owner)
			give_back_owner(m, c, p, "its recover cmd ended");
		if (gc && p && p->epoch == c->rc.epoch && !loc_contains(p->location, gc))
			queue_gc(m, gc, pid, c->rc.epoch, "partial recover dst");
	}
	TAILQ_REMOVE(&sc->cmds, c, link);
	if (o) {
		TAILQ_REMOVE(&o->cmds, c, owner_link);
		if (!--o->n) {
			HASH_DEL(sc->owners, o);
			free(o);
		}
	}
	HASH_DELETE(hh, sc->by_id, c);
	HASH_DELETE(hh_pid, sc->by_pid, c);
	sc->ncmds--;
	free(c);
	/* reissued by a later try, not at once */
	if (how != META_RECOVER_DONE && p)
		meta_sched_wait_pid(m, pid, meta_sched_now_ms(m) + META_SCHED_BACKOFF_MS);
}

/* why c can no longer run, or NULL */
static const char *void_reason(struct meta *m, const struct meta_sched_cmd *c)
{
	const struct meta_pext *p = meta_pext(&m->pexts, c->rc.pid);
	const struct meta_session *s = meta_session_find(&m->sessions, c->sid);

	if (!p || p->epoch != c->rc.epoch)
		return "its pextent is gone";
	if (!s || !s->alive)
		return "its owner's session ended";
	if (p->owner != c->sid || p->lease_epoch != c->lease_epoch)
		return "its lease moved to another owner";
	if (p->flags & PEXT_REVOKING)
		return "its lease is being revoked";
	return NULL;
}

/* a cmd the policy made: give the owner the lease if it is new, keep it */
static struct meta_sched_cmd *start(struct meta *m, const struct meta_recover_cmd *rc,
				    const char *how)
{
	struct meta_sched *sc = m->sched;
	struct meta_pext *p = meta_pext(&m->pexts, rc->pid);
	struct meta_session *s = session_of_chunk(m, rc->owner);
	struct meta_sched_owner *o;
	struct meta_sched_cmd *c;
	struct meta_recover_cmd undo = *rc;
	struct meta_recover_undo u;

	if (rc->owner_new && !s) {
		/* the policy saw its chunk healthy: cannot happen; give it back */
		log_err("pid %llu: owner %u has no live session; cmd dropped",
			(unsigned long long)rc->pid, rc->owner);
		meta_recover_release(&sc->slots, &undo, META_RECOVER_REVOKED, &u);
		sync_rx(m, undo.dst);
		return NULL;
	}
	if (rc->owner_new) {
		if (p->owner)	/* its session is not alive: the lease is free */
			meta_pext_release_owner(m, rc->pid, false);
		meta_pext_grant_owner(m, rc->pid, s);
		p->last_access_s = meta_now_s(m);	/* not idle: it is being used */
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->rc = *rc;
	c->id = sc->next_id++;
	c->sid = rc->owner_new ? s->id : p->owner;
	c->lease_epoch = p->lease_epoch;
	c->meta_gen = p->meta_gen;
	c->grant_access_s = p->last_access_s;
	c->thick = !(p->flags & PEXT_THIN);
	TAILQ_INSERT_TAIL(&sc->cmds, c, link);
	o = owner_of(sc, c->sid, true);
	TAILQ_INSERT_TAIL(&o->cmds, c, owner_link);
	o->n++;
	HASH_ADD(hh, sc->by_id, id, sizeof(c->id), c);
	HASH_ADD(hh_pid, sc->by_pid, rc.pid, sizeof(c->rc.pid), c);
	sc->ncmds++;
	log_info("%s for pid: %llu src: %u dst: %u replace: %u owner: %u (cmd %llu, session %llu%s)",
		 how, (unsigned long long)rc->pid, rc->src, rc->dst, rc->replace, rc->owner,
		 (unsigned long long)c->id, (unsigned long long)c->sid,
		 rc->owner_new ? ", owner allocated for it" : "");
	return c;
}

enum { ISSUED, DROP, RETRY };

/*
 * The chunk of p's location its replica should move off, 0 = none: the
 * first being removed, else the first failslow one (SPEC 4.7 rule 2: the
 * product marks its extents abnormal so they are recovered; here they are
 * migrated, a copy first, so redundancy never drops). *slow tells which.
 */
static uint32_t drain_cid(struct meta *m, const struct meta_pext *p, bool *slow)
{
	uint32_t failslow = 0;

	for (int i = 0; i < loc_count(p->location); i++) {
		const struct meta_chunk *k = meta_chunk(&m->chunks, loc_get(p->location, i));
		if (k && (k->admin & CHUNK_ADMIN_REMOVING)) {
			*slow = false;
			return k->cid;
		}
		if (k && k->failslow && !failslow)
			failslow = k->cid;
	}
	*slow = failslow != 0;
	return failslow;
}

/* try a cmd for pid */
static int issue(struct meta *m, const struct view *v, uint64_t pid)
{
	struct meta_sched *sc = m->sched;
	const struct meta_pext *p = meta_pext(&m->pexts, pid);
	struct meta_recover_pext rp;
	struct meta_recover_req req;
	struct meta_recover_cmd rc;
	struct meta_recover_err err;
	struct meta_sched_cmd *c;
	uint64_t since = 0;
	uint32_t drain = 0;
	bool agile = false, slow = false;

	if (!p || cmd_by_pid(sc, pid))
		return DROP;
	if (p->flags & PEXT_REVOKING)
		return RETRY;	/* its owner gives it back first */
	pext_view(m, v, pid, p, &rp);
	switch (meta_recover_is_dead(&rp) ? META_AGILE_NONE :
		meta_agile_plan(m, &rp, v->c, v->n, &req, &since)) {
	case META_AGILE_WAIT:
		return RETRY;	/* a dropped replica's chunk may come back */
	case META_AGILE_CMD:
		agile = true;
		break;
	case META_AGILE_NONE:
		if (!meta_recover_plan(&rp, v->c, v->n, &sc->slots, &req, &err))
			break;
		if (err.code != META_RECOVER_ENOTNEEDED || !(drain = drain_cid(m, p, &slow)))
			return err.code == META_RECOVER_ENOTNEEDED ||
			       err.code == META_RECOVER_EDEAD ? DROP : RETRY;
		/* whole, with a replica on a chunk being removed or failslow:
		 * migrate it off. A failslow one that cannot move now waits for
		 * the next scan, not a retry every second */
		if (meta_recover_plan_drain(&rp, v->c, v->n, &sc->slots, drain, &req, &err)) {
			log_debug("pid %llu waits to leave chunk %u: %s (%s)",
				  (unsigned long long)pid, drain,
				  meta_recover_error_name(err.code), err.msg);
			return err.code == META_RECOVER_EDEAD || slow ? DROP : RETRY;
		}
		break;
	}
	if (gc_pending(m, req.dst, pid, p->epoch))
		return RETRY;	/* the last try's leftovers go first */
	if (meta_recover_add(&sc->slots, &rp, v->c, v->n, false, &req, meta_sched_now_ms(m), &rc,
			     &err)) {
		log_debug("pid %llu waits: %s (%s)", (unsigned long long)pid,
			  meta_recover_error_name(err.code), err.msg);
		if (agile)	/* the next try is a full one */
			meta_agile_ended(m, pid, req.dst, false);
		return slow ? DROP : RETRY;
	}
	sync_rx(m, rc.dst);
	if (drain)
		log_info("Migrate for %s chunk %u: pid %llu", slow ? "failslow" : "removing", drain,
			 (unsigned long long)pid);
	c = start(m, &rc, agile ? "add agile recover cmd" : "add recover cmd");
	if (!c)
		return RETRY;
	c->agile = agile;
	c->since_gen = since;
	if (agile)
		log_info("pid %llu: cmd %llu catches cid %u up from gen %llu", (unsigned long long)pid,
			 (unsigned long long)c->id, rc.dst, (unsigned long long)since);
	return ISSUED;
}

/* ---- the periodic work ---- */

static void scan_end(struct meta_sched *sc, uint64_t now)
{
	sc->scanning = false;
	sc->stats = sc->counting;
	sc->last_scan_ms = now ? now : 1;
	sc->next_scan_ms = sc->again ? now : now + sc->cfg.scan_interval_ms;
	sc->again = false;
	log_info("recover scan done: %llu need recover, %llu dead, %llu at risk, %u cmd(s)",
		 (unsigned long long)sc->stats.need_recover, (unsigned long long)sc->stats.dead,
		 (unsigned long long)sc->stats.at_risk, sc->ncmds);
}

static void scan_slice(struct meta *m, const struct view *v, uint64_t now)
{
	struct meta_sched *sc = m->sched;
	uint64_t pid = sc->scan_pid;

	for (uint32_t n = 0; n < META_SCHED_SLICE; n++, pid++) {
		struct meta_recover_pext rp;
		const struct meta_pext *p;
		bool slow;

		pid = meta_pext_next(&m->pexts, pid);
		if (!pid) {
			scan_end(sc, now);
			return;
		}
		p = meta_pext(&m->pexts, pid);
		pext_view(m, v, pid, p, &rp);
		if (meta_recover_is_dead(&rp)) {
			sc->counting.dead++;
			continue;
		}
		if (current_count(&rp) == 1 && rp.expected > 1)
			sc->counting.at_risk++;
		if (meta_recover_needed(&rp, v->c, v->n)) {
			sc->counting.need_recover++;
			meta_sched_wait_pid(m, pid, 0);
		} else if (drain_cid(m, p, &slow)) {
			meta_sched_wait_pid(m, pid, 0);	/* to migrate off it */
		}
	}
	sc->scan_pid = pid;
}

static void work_waiting(struct meta *m, const struct view *v, uint64_t now)
{
	struct meta_sched *sc = m->sched;
	uint32_t visit = HASH_COUNT(sc->waiting), tried = 0;
	struct meta_sched_wait *w, *next;

	if (visit > META_SCHED_SLICE)
		visit = META_SCHED_SLICE;
	for (w = sc->waiting; w && visit && tried < META_SCHED_ISSUE; w = next, visit--) {
		next = w->hh.next;
		HASH_DEL(sc->waiting, w);
		if (w->not_before_ms <= now) {
			tried++;
			if (issue(m, v, w->pid) != RETRY) {
				free(w);
				continue;
			}
			w->not_before_ms = now + META_SCHED_RETRY_MS;
		}
		HASH_ADD(hh, sc->waiting, pid, sizeof(w->pid), w);	/* to the back */
	}
}

void meta_sched_tick(struct meta *m)
{
	struct meta_sched *sc = m->sched;
	struct meta_sched_cmd *c, *next;
	uint64_t now = meta_sched_now_ms(m);
	static struct view v;	/* one loop thread */

	if (!sc)
		return;
	for (c = TAILQ_FIRST(&sc->cmds); c; c = next) {
		const char *why = void_reason(m, c);
		char msg[64];

		next = TAILQ_NEXT(c, link);
		if (why) {
			release(m, c, META_RECOVER_REVOKED, why);
		} else if (meta_recover_timed_out(&c->rc, now, sc->cfg.timeout_ms)) {
			snprintf(msg, sizeof(msg), "timed out after %u ms%s", sc->cfg.timeout_ms,
				 c->acked ? "" : " (never delivered)");
			release(m, c, META_RECOVER_TIMEDOUT, msg);
		}
	}
	if (now - sc->rate_from_ms >= META_SCHED_RATE_MS) {
		sc->rate_bps = sc->rate_bytes * 1000 / (now - sc->rate_from_ms);
		sc->rate_bytes = 0;
		sc->rate_from_ms = now;
	}
	if (!sc->scanning && now >= sc->next_scan_ms)
		meta_sched_scan_now(m);
	build_view(m, &v);
	if (sc->scanning)
		scan_slice(m, &v, now);
	work_waiting(m, &v, now);
}

void meta_sched_scan_now(struct meta *m)
{
	struct meta_sched *sc = m->sched;

	if (!sc)
		return;
	if (sc->scanning) {
		sc->again = true;	/* another once this one is through */
		return;
	}
	if (meta_sched_now_ms(m) < sc->quiet_until_ms) {
		sc->next_scan_ms = sc->quiet_until_ms;	/* the chunks are coming back */
		return;
	}
	sc->scanning = true;
	sc->scan_pid = 1;
	memset(&sc->counting, 0, sizeof(sc->counting));
}

/* ---- the owner's side ---- */

void meta_sched_session_ended(struct meta *m, uint64_t sid)
{
	struct meta_sched *sc = m->sched;
	struct meta_sched_owner *o;

	if (!sc)
		return;
	while ((o = owner_of(sc, sid, false)))
		release(m, TAILQ_FIRST(&o->cmds), META_RECOVER_REVOKED,
			"its owner's session ended");
	meta_sched_scan_now(m);
}

void meta_sched_acked(struct meta *m, const struct meta_session *s, uint64_t id)
{
	struct meta_sched_cmd *c = m->sched ? cmd_by_id(m->sched, id) : NULL;

	if (!c || c->sid != s->id || c->acked)
		return;
	c->acked = true;
	meta_recover_delivered(&c->rc, meta_sched_now_ms(m));
	log_info("recover cmd %llu pid %llu delivered to session %llu", (unsigned long long)id,
		 (unsigned long long)c->rc.pid, (unsigned long long)s->id);
}

void meta_sched_progress(struct meta *m, const struct meta_session *s, uint64_t id,
			 uint64_t copied, uint64_t total)
{
	struct meta_sched_cmd *c = m->sched ? cmd_by_id(m->sched, id) : NULL;

	if (!c || c->sid != s->id)
		return;
	if (copied > c->bytes_copied)
		m->sched->rate_bytes += copied - c->bytes_copied;
	c->bytes_copied = copied;
	c->bytes_total = total;
}

uint32_t meta_sched_to_send(struct meta *m, const struct meta_session *s,
			    struct meta_sched_cmd **out, uint32_t max)
{
	struct meta_sched_owner *o = m->sched ? owner_of(m->sched, s->id, false) : NULL;
	struct meta_sched_cmd *c, *next;
	uint32_t n = 0;
	char loc[32];

	for (c = o ? TAILQ_FIRST(&o->cmds) : NULL; c && n < max; c = next) {
		const char *why = void_reason(m, c);

		next = TAILQ_NEXT(c, owner_link);
		if (c->acked)
			continue;
		if (why) {
			bool last = o->n == 1;
			release(m, c, META_RECOVER_REVOKED, why);
			if (last)
				break;	/* o is gone with it */
			continue;
		}
		if (!c->sent) {
			c->sent = true;
			log_info("[RECOVER] cmd %llu pid %llu epoch %llu lease_epoch %llu src_chunk %u "
				 "dst_chunk %u replace_chunk %u is_migrate %d owner %u session %llu "
				 "active_location %s", (unsigned long long)c->id,
				 (unsigned long long)c->rc.pid, (unsigned long long)c->rc.epoch,
				 (unsigned long long)c->lease_epoch, c->rc.src, c->rc.dst,
				 c->rc.replace, c->rc.is_migrate, c->rc.owner,
				 (unsigned long long)c->sid,
				 loc_format(c->rc.active_location, loc, sizeof(loc)));
		}
		out[n++] = c;
	}
	return n;
}

/* refuse r from the owner of c: c ends FAILED */
__attribute__((format(printf, 5, 6)))
static int refuse(struct meta *m, struct meta_sched_cmd *c, struct merr *e, int status,
		  const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	merr_set(e, status, "[REPLACE REPLICA] cmd %llu pid %llu refused: %s",
		 (unsigned long long)c->id, (unsigned long long)c->rc.pid, why);
	log_warn("%s", e->msg);
	release(m, c, META_RECOVER_FAILED, why);
	return -1;
}

int meta_sched_replace(struct meta *m, const struct meta_sched_replace *r, struct merr *e)
{
	struct meta_sched *sc = m->sched;
	struct meta_sched_cmd *c;
	struct meta_pext *p;
	char loc[32];

	if (!meta_session_get(&m->sessions, r->sid, e))
		return -1;
	c = sc ? cmd_by_id(sc, r->cmd_id) : NULL;
	if (!c)
		return merr_set(e, ZBS_RPC_ENOENT, "no live recover cmd %llu (it ended, or meta "
				"restarted since)", (unsigned long long)r->cmd_id);
	if (c->sid != r->sid)
		return merr_set(e, ZBS_RPC_ENOTOWNER, "recover cmd %llu is owned by session %llu, "
				"not %llu", (unsigned long long)r->cmd_id,
				(unsigned long long)c->sid, (unsigned long long)r->sid);
	if (r->pid != c->rc.pid || r->dst != c->rc.dst || r->replace != c->rc.replace)
		return refuse(m, c, e, ZBS_RPC_EINVAL, "pid %llu dst %u replace %u is not the cmd's "
			      "(pid %llu dst %u replace %u)", (unsigned long long)r->pid, r->dst,
			      r->replace, (unsigned long long)c->rc.pid, c->rc.dst, c->rc.replace);
	p = meta_pext(&m->pexts, r->pid);
	if (!p || p->epoch != r->epoch || p->epoch != c->rc.epoch)
		return refuse(m, c, e, ZBS_RPC_ESTALE, "epoch %llu is not the pextent's",
			      (unsigned long long)r->epoch);
	if (r->lease_epoch != p->lease_epoch || p->owner != c->sid)
		return refuse(m, c, e, ZBS_RPC_ESTALE, "lease_epoch %llu is not the current %llu",
			      (unsigned long long)r->lease_epoch,
			      (unsigned long long)p->lease_epoch);
	if (!r->ok) {
		log_warn("[REPLACE REPLICA] cmd %llu pid %llu: the owner failed it: %s",
			 (unsigned long long)c->id, (unsigned long long)c->rc.pid,
			 r->error && r->error[0] ? r->error : "(no reason given)");
		release(m, c, META_RECOVER_FAILED, "failed on its owner");
		return 0;
	}
	if (r->gen < p->meta_gen)
		return refuse(m, c, e, ZBS_RPC_ESTALE, "gen %llu is below meta_gen %llu",
			      (unsigned long long)r->gen, (unsigned long long)p->meta_gen);
	if (loc_contains(p->location, c->rc.dst))
		return refuse(m, c, e, ZBS_RPC_EINVAL, "dst %u is in its location %s already",
			      c->rc.dst, loc_format(p->location, loc, sizeof(loc)));
	if (c->rc.replace && !loc_contains(p->location, c->rc.replace))
		return refuse(m, c, e, ZBS_RPC_ESTALE, "replace %u left its location %s",
			      c->rc.replace, loc_format(p->location, loc, sizeof(loc)));
	if (!c->rc.replace && loc_count(p->location) >= ZBS_LOC_SLOTS)
		return refuse(m, c, e, ZBS_RPC_EINVAL, "its location %s is full",
			      loc_format(p->location, loc, sizeof(loc)));
	meta_pext_replace_cid(&m->pexts, r->pid, c->rc.replace, c->rc.dst);
	if (r->gen > p->gen_seen) {
		p->gen_seen = r->gen;
		p->gen_seen_s = meta_now_s(m);
	}
	meta_pext_store(&m->pexts, r->pid);
	log_info("[REPLACE REPLICA] cmd %llu pid %llu src %u dst %u replace %u gen %llu -> loc %s "
		 "(%s, copied %llu)", (unsigned long long)c->id, (unsigned long long)r->pid,
		 c->rc.src, c->rc.dst, c->rc.replace, (unsigned long long)r->gen,
		 loc_format(p->location, loc, sizeof(loc)), c->agile ? "agile" : "full",
		 (unsigned long long)r->bytes_copied);
	if (r->bytes_copied > c->bytes_copied)
		sc->rate_bytes += r->bytes_copied - c->bytes_copied;
	/* the replaced replica is garbage now */
	if (c->rc.replace)
		queue_gc(m, c->rc.replace, r->pid, p->epoch, "replaced");
	release(m, c, META_RECOVER_DONE, "done");
	return 0;
}

/* ---- operators ---- */

/* is chunk cid at or under topology object id? */
static bool under(struct meta *m, uint32_t cid, uint64_t id)
{
	const struct meta_chunk *k = meta_chunk(&m->chunks, cid);
	uint64_t t = k ? k->topo_id : 0;

	for (int depth = 0; t && depth < 16; depth++) {
		const struct meta_topo *o = meta_topo_find(&m->topos, t);
		if (t == id)
			return true;
		t = o ? o->parent : 0;
	}
	return false;
}

static bool topo_involves(struct meta *m, const struct meta_sched_cmd *c, uint32_t cid,
			  uint64_t id)
{
	if (cid)
		return meta_recover_involves(&c->rc, cid);
	return under(m, c->rc.src, id) || under(m, c->rc.slot_src, id) || under(m, c->rc.dst, id);
}

static uint32_t revoke_where(struct meta *m, uint32_t cid, uint64_t id, const char *why)
{
	struct meta_sched *sc = m->sched;
	struct meta_sched_cmd *c, *next;
	uint32_t n = 0;

	if (!sc)
		return 0;
	for (c = TAILQ_FIRST(&sc->cmds); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (topo_involves(m, c, cid, id)) {
			release(m, c, META_RECOVER_REVOKED, why);
			n++;
		}
	}
	if (n)
		log_info("[REVOKE RECOVER CMDS] %u cmd(s): %s", n, why);
	return n;
}

uint32_t meta_sched_revoke_chunk(struct meta *m, uint32_t cid, const char *why)
{
	return cid ? revoke_where(m, cid, 0, why) : 0;
}

uint32_t meta_sched_topo_changed(struct meta *m, uint32_t cid, uint64_t id)
{
	char why[64];

	if (cid)
		snprintf(why, sizeof(why), "revoked: the topology of chunk %u changed", cid);
	else
		snprintf(why, sizeof(why), "revoked: topology object %llu moved",
			 (unsigned long long)id);
	return revoke_where(m, cid, id, why);
}

static int migrate_status(enum meta_recover_error code)
{
	switch (code) {
	case META_RECOVER_EDUPLICATE:
		return ZBS_RPC_EEXIST;
	case META_RECOVER_ENOSPACE:
		return ZBS_RPC_ENOSPC;
	case META_RECOVER_ENOSLOT:
	case META_RECOVER_ENOOWNER:
		return ZBS_RPC_EAGAIN;
	default:
		return ZBS_RPC_EINVAL;
	}
}

int meta_sched_migrate(struct meta *m, uint64_t pid, uint32_t src, uint32_t dst,
		       uint32_t replace, struct meta_sched_cmd **out, struct merr *e)
{
	struct meta_sched *sc = m->sched;
	const struct meta_pext *p = meta_pext(&m->pexts, pid);
	struct meta_recover_pext rp;
	struct meta_recover_cmd rc;
	struct meta_recover_err err;
	static struct view v;

	if (!sc)
		return merr_set(e, ZBS_RPC_EUNSUPP, "this metad runs no recovery scheduler");
	if (!p)
		return merr_set(e, ZBS_RPC_ENOENT, "pid %llu not found", (unsigned long long)pid);
	if (!src || !dst || !replace)
		return merr_set(e, ZBS_RPC_EINVAL, "a migrate needs src, dst and replace chunks");
	if (p->flags & PEXT_REVOKING)
		return merr_set(e, ZBS_RPC_EAGAIN, "pid %llu: its lease is being revoked; try again",
				(unsigned long long)pid);
	if (gc_pending(m, dst, pid, p->epoch))
		return merr_set(e, ZBS_RPC_EAGAIN, "pid %llu: a GC of its replica on dst %u is "
				"still on its way; try again", (unsigned long long)pid, dst);
	build_view(m, &v);
	pext_view(m, &v, pid, p, &rp);
	if (meta_recover_migrate(&sc->slots, &rp, v.c, v.n, cmd_by_pid(sc, pid) != NULL, src, dst,
				 replace, meta_sched_now_ms(m), &rc, &err))
		return merr_set(e, migrate_status(err.code), "migrate refused (%s): %s",
				meta_recover_error_name(err.code), err.msg);
	sync_rx(m, rc.dst);
	*out = start(m, &rc, "add recover cmd by rpc");
	if (!*out)
		return merr_set(e, ZBS_RPC_EAGAIN, "pid %llu: its owner %u went away; try again",
				(unsigned long long)pid, rc.owner);
	return 0;
}

void meta_sched_status(struct meta *m, struct meta_sched_status *st)
{
	struct meta_sched *sc = m->sched;
	const struct meta_sched_cmd *c;
	uint64_t now = meta_sched_now_ms(m);

	memset(st, 0, sizeof(*st));
	if (!sc)
		return;
	st->stats = sc->stats;
	TAILQ_FOREACH(c, &sc->cmds, link) {
		uint64_t total = c->bytes_total ? c->bytes_total : ZBS_EXTENT_SIZE;
		if (c->acked)
			st->running++;
		else
			st->waiting++;
		st->bytes_left += total > c->bytes_copied ? total - c->bytes_copied : 0;
	}
	if (sc->stats.need_recover > sc->ncmds)
		st->bytes_left += (sc->stats.need_recover - sc->ncmds) * ZBS_EXTENT_SIZE;
	st->rate_bps = sc->rate_bps;
	st->eta_ms = st->rate_bps && st->bytes_left ? st->bytes_left * 1000 / st->rate_bps : 0;
	st->done = sc->done;
	st->failed = sc->failed;
	st->last_scan_ago_ms = sc->last_scan_ms ? now - sc->last_scan_ms : 0;
}

/* ---- config ---- */

static void config_store(struct meta *m)
{
	const struct meta_sched_config *c = &m->sched->cfg;
	struct meta_rec r;

	if (!m->core.store)
		return;
	meta_rec_begin(&r, REC_RECOVER);
	meta_rec_u32(&r, c->slots);
	meta_rec_u32(&r, c->concurrency);
	meta_rec_u64(&r, c->bps);
	meta_rec_u32(&r, c->timeout_ms);
	meta_rec_u32(&r, c->scan_interval_ms);
	meta_store_put(m->core.store, REC_RECOVER, "config", 6, &r);
}

static int config_check(const struct meta_sched_config *c, struct merr *e)
{
	if (c->slots < 1 || c->slots > META_SCHED_SLOTS_MAX)
		return merr_set(e, ZBS_RPC_EINVAL, "slots %u: want 1..%u cmds per chunk", c->slots,
				META_SCHED_SLOTS_MAX);
	if (c->concurrency < 1 || c->concurrency > META_SCHED_CONCURRENCY_MAX)
		return merr_set(e, ZBS_RPC_EINVAL, "concurrency %u: want 1..%u cmds at once",
				c->concurrency, META_SCHED_CONCURRENCY_MAX);
	if (c->timeout_ms < META_SCHED_TIMEOUT_MIN_MS)
		return merr_set(e, ZBS_RPC_EINVAL, "timeout_ms %u: want at least %u", c->timeout_ms,
				META_SCHED_TIMEOUT_MIN_MS);
	if (c->scan_interval_ms < META_SCHED_SCAN_MIN_MS)
		return merr_set(e, ZBS_RPC_EINVAL, "scan_interval_ms %u: want at least %u",
				c->scan_interval_ms, META_SCHED_SCAN_MIN_MS);
	return 0;
}

static void config_apply(struct meta *m, const struct meta_sched_config *c)
{
	struct meta_sched *sc = m->sched;
	uint64_t now = meta_sched_now_ms(m);

	sc->cfg = *c;
	sc->slots.max = c->slots;	/* the next reservation on */
	if (sc->next_scan_ms > now + c->scan_interval_ms)
		sc->next_scan_ms = now + c->scan_interval_ms;
}

int meta_sched_set(struct meta *m, const struct meta_sched_config *in, struct merr *e)
{
	struct meta_sched_config c;

	if (!m->sched)
		return merr_set(e, ZBS_RPC_EUNSUPP, "this metad runs no recovery scheduler");
	c = m->sched->cfg;
	if (in->slots)
		c.slots = in->slots;
	if (in->concurrency)
		c.concurrency = in->concurrency;
	if (in->bps)
		c.bps = in->bps == UINT64_MAX ? 0 : in->bps;
	if (in->timeout_ms)
		c.timeout_ms = in->timeout_ms;
	if (in->scan_interval_ms)
		c.scan_interval_ms = in->scan_interval_ms;
	if (config_check(&c, e))
		return -1;
	config_apply(m, &c);
	config_store(m);
	log_info("Set recover config: slots %u concurrency %u bps %llu timeout_ms %u "
		 "scan_interval_ms %u", c.slots, c.concurrency, (unsigned long long)c.bps,
		 c.timeout_ms, c.scan_interval_ms);
	return 0;
}

/* the stored config, if any: 1 read, 0 none, -1 */
static int config_load(struct meta *m, struct meta_sched_config *c, char *err, size_t len)
{
	struct meta_rec_rd rd;
	int rc;

	if (!m->core.store)
		return 0;
	if (meta_store_read_begin(m->core.store, err, len))
		return -1;
	rc = meta_store_get_one(m->core.store, REC_RECOVER, &rd, err, len);
	if (rc == 1) {
		c->slots = meta_rd_u32(&rd);
		c->concurrency = meta_rd_u32(&rd);
		c->bps = meta_rd_u64(&rd);
		c->timeout_ms = meta_rd_u32(&rd);
		c->scan_interval_ms = meta_rd_u32(&rd);
	}
	meta_store_read_end(m->core.store);
	return rc;
}

int meta_sched_init(struct meta *m, const struct meta_sched_config *cfg)
{
	struct meta_sched_config c = cfg ? *cfg : meta_sched_defaults;
	struct meta_sched *sc;
	struct merr e;
	char err[256];
	int rc = config_load(m, &c, err, sizeof(err));

	if (rc < 0) {
		log_err("store: %s; refusing to start", err);
		return -1;
	}
	if (config_check(&c, &e)) {
		log_err("recover config%s: %s", rc ? " in the store" : "", e.msg);
		return -1;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		abort();
	m->sched = sc;
	TAILQ_INIT(&sc->cmds);
	meta_recover_slots_init(&sc->slots, c.slots);
	/* ids from the wall clock: a restarted metad does not reuse an id a
	 * chunk may still hold */
	sc->next_id = m->core.wall_ns / 1000 ? m->core.wall_ns / 1000 : 1;
	sc->rate_from_ms = meta_sched_now_ms(m);
	config_apply(m, &c);
	/* a chunk that was alive before the start has a lease to come back
	 * in: the first scan waits for that, so a restart of metad is not
	 * taken for the loss of every chunk not reconnected yet */
	sc->quiet_until_ms = meta_sched_now_ms(m) + 2ULL * m->core.cfg.session_lease_ms;
	sc->next_scan_ms = sc->quiet_until_ms;
	log_info("recover config%s: slots %u concurrency %u bps %llu timeout_ms %u "
		 "scan_interval_ms %u", rc ? " (stored)" : "", c.slots, c.concurrency,
		 (unsigned long long)c.bps, c.timeout_ms, c.scan_interval_ms);
	return 0;
}

void meta_sched_free(struct meta *m)
{
	struct meta_sched *sc = m->sched;
	struct meta_sched_cmd *c;
	struct meta_sched_owner *o, *ot;
	struct meta_sched_wait *w, *wt;

	if (!sc)
		return;
	HASH_CLEAR(hh, sc->by_id);
	HASH_CLEAR(hh_pid, sc->by_pid);
	while ((c = TAILQ_FIRST(&sc->cmds))) {
		TAILQ_REMOVE(&sc->cmds, c, link);
		free(c);
	}
	HASH_ITER(hh, sc->owners, o, ot) {
		HASH_DEL(sc->owners, o);
		free(o);
	}
	HASH_ITER(hh, sc->waiting, w, wt) {
		HASH_DEL(sc->waiting, w);
		free(w);
	}
	meta_agile_free(m);
	free(sc);
	m->sched = NULL;
}
