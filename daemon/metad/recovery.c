// SPDX-License-Identifier: GPL-2.0
/* Recovery and migration policy (see recovery.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "recovery.h"

static const char *const error_names[META_RECOVER__COUNT] = {
	[META_RECOVER_OK] = "ok",
	[META_RECOVER_EDUPLICATE] = "duplicate",
	[META_RECOVER_ETMPDONE] = "temporary replica in already",
	[META_RECOVER_EDEAD] = "dead",
	[META_RECOVER_ERECOVERING] = "recovering",
	[META_RECOVER_ETEMPORARY] = "temporary replica",
	[META_RECOVER_ENOTNEEDED] = "not needed",
	[META_RECOVER_ENOTREPLICA] = "not a replica",
	[META_RECOVER_ESRCDEAD] = "src not current",
	[META_RECOVER_EDSTHAS] = "dst has the replica",
	[META_RECOVER_EDSTBAD] = "dst unusable",
	[META_RECOVER_ELOCFULL] = "location full",
	[META_RECOVER_ENOSRC] = "no src",
	[META_RECOVER_ENODST] = "no dst",
	[META_RECOVER_ENOSLOT] = "no cmd slot",
	[META_RECOVER_ENOSPACE] = "no space",
	[META_RECOVER_ENOOWNER] = "no owner",
};

const char *meta_recover_error_name(enum meta_recover_error code)
{
	return (unsigned)code < META_RECOVER__COUNT ? error_names[code] : "unknown";
}

__attribute__((format(printf, 3, 4)))
static int fail(struct meta_recover_err *e, enum meta_recover_error code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int ok(struct meta_recover_err *e)
{
	e->code = META_RECOVER_OK;
	e->msg[0] = '\0';
	return 0;
}

static const struct meta_recover_chunk *chunk_of(const struct meta_recover_chunk *c, size_t nc,
						 uint32_t cid)
{
	for (size_t i = 0; cid && i < nc; i++)
		if (c[i].cid == cid)
			return &c[i];
	return NULL;
}

static bool is_healthy(const struct meta_recover_chunk *c, size_t nc, uint32_t cid)
{
	const struct meta_recover_chunk *k = chunk_of(c, nc, cid);

	return k && k->healthy;
}

/* a current replica: in location and in alive_location */
static bool is_current(const struct meta_recover_pext *p, uint32_t cid)
{
	return loc_contains(p->location, cid) && loc_contains(p->alive_location, cid);
}

/* a readable one: current, on a healthy chunk */
static bool is_readable(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			size_t nc, uint32_t cid)
{
	return is_current(p, cid) && is_healthy(c, nc, cid);
}

static bool counts(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
		   size_t nc, uint32_t cid)
{
	const struct meta_recover_chunk *k = chunk_of(c, nc, cid);

	return is_current(p, cid) || (k && k->maintenance);
}

/* a chunk that may take a new replica, slots and space aside */
static bool can_host(const struct meta_recover_chunk *k)
{
	return k && k->cid && k->cid <= META_MAX_CID && k->healthy && !k->maintenance &&
	       !k->removing && !k->failslow;
}

bool meta_recover_is_dead(const struct meta_recover_pext *p)
{
	for (int i = 0; i < ZBS_LOC_SLOTS; i++)
		if (loc_get(p->location, i) && is_current(p, loc_get(p->location, i)))
			return false;
	return true;
}

static uint32_t counted(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			size_t nc)
{
	uint32_t n = 0;

	for (int i = 0; i < loc_count(p->location); i++)
		n += counts(p, c, nc, loc_get(p->location, i));
	return n;
}

bool meta_recover_needed(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			 size_t nc)
{
	return !meta_recover_is_dead(p) && counted(p, c, nc) < p->expected;
}

/* ---- slots ---- */

void meta_recover_slots_init(struct meta_recover_slots *s, uint32_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

uint32_t meta_recover_slots_avail(const struct meta_recover_slots *s, uint32_t cid)
{
	uint32_t used;

	if (!cid || cid > META_MAX_CID)
		return 0;
	used = s->by_cid[cid].cmds;
	return used < s->max ? s->max - used : 0;
}

uint64_t meta_recover_dst_free(const struct meta_recover_slots *s,
			       const struct meta_recover_chunk *c)
{
	uint64_t rx;

	if (!c->cid || c->cid > META_MAX_CID)
		return 0;
	rx = (uint64_t)s->by_cid[c->cid].rx_pids * META_RECOVER_RX_BYTES;
	return c->free > rx ? c->free - rx : 0;
}

static void reserve(struct meta_recover_slots *s, struct meta_recover_cmd *cmd)
{
	s->by_cid[cmd->slot_src].cmds++;
	s->by_cid[cmd->slot_src].src_pids++;
	s->by_cid[cmd->dst].cmds++;
	s->by_cid[cmd->dst].rx_pids++;
	if (cmd->replace)
		s->by_cid[cmd->replace].tx_pids++;
	cmd->reserved = true;
}

static void dec(uint32_t *v)
{
	if (*v)
		(*v)--;
}

int meta_recover_release(struct meta_recover_slots *s, struct meta_recover_cmd *cmd,
			 enum meta_recover_end how, struct meta_recover_undo *u)
{
	u->release_owner = 0;
	u->gc_dst = 0;
	if (!cmd->reserved)
		return -1;
	dec(&s->by_cid[cmd->slot_src].cmds);
	dec(&s->by_cid[cmd->slot_src].src_pids);
	dec(&s->by_cid[cmd->dst].cmds);
	dec(&s->by_cid[cmd->dst].rx_pids);
	if (cmd->replace)
		dec(&s->by_cid[cmd->replace].tx_pids);
	cmd->reserved = false;
	if (how != META_RECOVER_DONE) {
		if (cmd->owner_new)
			u->release_owner = cmd->owner;
		if (cmd->start_ms)
			u->gc_dst = cmd->dst;
	}
	return 0;
}

/* ---- choices ---- */

int meta_recover_pick_replace(const struct meta_recover_pext *p,
			      const struct meta_recover_chunk *c, size_t nc, uint32_t *replace,
			      struct meta_recover_err *e)
{
	uint32_t first = 0;
	int n = loc_count(p->location);

	for (int i = 0; i < n; i++) {
		uint32_t cid = loc_get(p->location, i);
		if (counts(p, c, nc, cid))
			continue;
		if (!is_healthy(c, nc, cid)) {
			*replace = cid;
			return ok(e);
		}
		if (!first)
			first = cid;
	}
	if (first) {
		*replace = first;
		return ok(e);
	}
	if ((uint32_t)n >= p->expected)
		return fail(e, META_RECOVER_ENOTNEEDED, "pid %llu: all %d replica(s) count",
			    (unsigned long long)p->pid, n);
	if (n >= ZBS_LOC_SLOTS)
		return fail(e, META_RECOVER_ELOCFULL, "pid %llu: location full",
			    (unsigned long long)p->pid);
	*replace = 0;
	return ok(e);
}

/* not failslow, then fewer cmds, then lower cid */
static bool src_better(const struct meta_recover_slots *s, uint32_t a, bool a_slow, uint32_t b,
		       bool b_slow)
{
	if (a_slow != b_slow)
		return !a_slow;
	if (s->by_cid[a].cmds != s->by_cid[b].cmds)
		return s->by_cid[a].cmds < s->by_cid[b].cmds;
	return a < b;
}

int meta_recover_pick_src(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			  size_t nc, const struct meta_recover_slots *s, uint32_t *src,
			  struct meta_recover_err *e)
{
	uint32_t best = 0, readable = 0;
	bool best_slow = false;
	char loc[32];

	if (p->owner && is_readable(p, c, nc, p->owner) && !chunk_of(c, nc, p->owner)->failslow &&
	    meta_recover_slots_avail(s, p->owner)) {
		*src = p->owner;
		return ok(e);
	}
	for (int i = 0; i < loc_count(p->location); i++) {
		uint32_t cid = loc_get(p->location, i);
		bool slow;
		if (!is_readable(p, c, nc, cid))
			continue;
		readable++;
		if (!meta_recover_slots_avail(s, cid))
			continue;
		slow = chunk_of(c, nc, cid)->failslow;
		if (!best || src_better(s, cid, slow, best, best_slow)) {
			best = cid;
			best_slow = slow;
		}
	}
	if (best) {
		*src = best;
		return ok(e);
	}
	loc_format(p->location, loc, sizeof(loc));
	if (readable)
		return fail(e, META_RECOVER_ENOSLOT,
			    "pid %llu: its %u current replica(s) of %s have no free cmd slot",
			    (unsigned long long)p->pid, readable, loc);
	return fail(e, META_RECOVER_ENOSRC, "pid %llu: no replica of %s is current on a healthy chunk",
		    (unsigned long long)p->pid, loc);
}

/* the safety of the replicas of p that count, but replace, with dst */
static void dst_safety(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
		       size_t nc, uint32_t replace, const struct meta_recover_chunk *dst,
		       struct meta_place_safety *out)
{
	static const struct meta_place_path none;
	uint32_t cids[META_PLACE_MAX_REPLICAS];
	struct meta_place_path paths[META_PLACE_MAX_REPLICAS];
	int n = 0;

	for (int i = 0; i < loc_count(p->location) && n < META_PLACE_MAX_REPLICAS - 1; i++) {
		uint32_t cid = loc_get(p->location, i);
		const struct meta_recover_chunk *k;
		if (cid == replace || !counts(p, c, nc, cid))
			continue;
		k = chunk_of(c, nc, cid);
		cids[n] = cid;
		paths[n++] = k ? k->topo : none;
	}
	cids[n] = dst->cid;
	paths[n++] = dst->topo;
	meta_place_safety_of(cids, paths, n, out);
}

/* is dst k (safety ks) a better choice than best (safety bs)? */
static bool dst_better(const struct meta_recover_pext *p, const struct meta_recover_chunk *k,
		       uint64_t kf, const struct meta_place_safety *ks,
		       const struct meta_recover_chunk *best, uint64_t bf,
		       const struct meta_place_safety *bs)
{
	int cmp;

	if (!best)
		return true;
	cmp = meta_place_safety_cmp(ks, bs);
	if (cmp)
		return cmp > 0;
	if ((k->cid == p->prefer_cid) != (best->cid == p->prefer_cid))
		return k->cid == p->prefer_cid;
	if (kf != bf)
		return kf > bf;
	return k->cid < best->cid;
}

static int pick_dst(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
		    size_t nc, const struct meta_recover_slots *s, uint32_t replace, uint32_t *dst,
		    struct meta_recover_err *e)
{
	const struct meta_recover_chunk *best = NULL;
	struct meta_place_safety best_safety = { 0 };
	uint64_t best_free = 0;
	uint32_t no_slot = 0, no_space = 0;

	for (size_t i = 0; i < nc; i++) {
		const struct meta_recover_chunk *k = &c[i];
		struct meta_place_safety ks;
		uint64_t f;
		bool slot;
		if (!can_host(k) || k->failing || loc_contains(p->location, k->cid))
			continue;
		f = meta_recover_dst_free(s, k);
		slot = meta_recover_slots_avail(s, k->cid) > 0;
		if (f < META_RECOVER_RX_BYTES) {
			no_space++;
			continue;
		}
		if (!slot) {
			no_slot++;
			continue;
		}
		dst_safety(p, c, nc, replace, k, &ks);
		if (dst_better(p, k, f, &ks, best, best_free, &best_safety)) {
			best = k;
			best_free = f;
			best_safety = ks;
		}
	}
	if (best) {
		*dst = best->cid;
		return ok(e);
	}
	if (no_slot)
		return fail(e, META_RECOVER_ENOSLOT,
			    "pid %llu: %u chunk(s) could take it but have no free cmd slot",
			    (unsigned long long)p->pid, no_slot);
	if (no_space)
		return fail(e, META_RECOVER_ENOSPACE,
			    "pid %llu: %u chunk(s) could take it but have no 256 MiB free after rx",
			    (unsigned long long)p->pid, no_space);
	return fail(e, META_RECOVER_ENODST,
		    "pid %llu: no healthy chunk outside its location takes new replicas",
		    (unsigned long long)p->pid);
}

int meta_recover_pick_dst(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			  size_t nc, const struct meta_recover_slots *s, uint32_t *dst,
			  struct meta_recover_err *e)
{
	return pick_dst(p, c, nc, s, 0, dst, e);
}

int meta_recover_plan(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
		      size_t nc, const struct meta_recover_slots *s, struct meta_recover_req *r,
		      struct meta_recover_err *e)
{
	struct meta_recover_req q = { 0 };

	if (meta_recover_is_dead(p))
		return fail(e, META_RECOVER_EDEAD, "pid %llu: no current replica",
			    (unsigned long long)p->pid);
	if (!meta_recover_needed(p, c, nc))
		return fail(e, META_RECOVER_ENOTNEEDED, "pid %llu: redundancy complete",
			    (unsigned long long)p->pid);
	if (meta_recover_pick_replace(p, c, nc, &q.replace, e) ||
	    meta_recover_pick_src(p, c, nc, s, &q.src, e) ||
	    pick_dst(p, c, nc, s, q.replace, &q.dst, e))
		return -1;
	*r = q;
	return ok(e);
}

int meta_recover_plan_drain(const struct meta_recover_pext *p,
			    const struct meta_recover_chunk *c, size_t nc,
			    const struct meta_recover_slots *s, uint32_t cid,
			    struct meta_recover_req *r, struct meta_recover_err *e)
{
	struct meta_recover_req q = { .replace = cid, .is_migrate = true };

	if (!cid || !loc_contains(p->location, cid))
		return fail(e, META_RECOVER_ENOTREPLICA, "pid %llu: chunk %u holds no replica of it",
			    (unsigned long long)p->pid, cid);
	if (meta_recover_is_dead(p))
		return fail(e, META_RECOVER_EDEAD, "pid %llu: no current replica",
			    (unsigned long long)p->pid);
	if (meta_recover_needed(p, c, nc))
		return fail(e, META_RECOVER_ERECOVERING, "pid %llu needs a recover first",
			    (unsigned long long)p->pid);
	if (meta_recover_pick_src(p, c, nc, s, &q.src, e) ||
	    pick_dst(p, c, nc, s, cid, &q.dst, e))
		return -1;
	*r = q;
	return ok(e);
}

/* for an owner of neither src nor dst: one holding a current replica, then lower cid */
static bool owner_better(const struct meta_recover_pext *p, uint32_t a, uint32_t b)
{
	if (is_current(p, a) != is_current(p, b))
		return is_current(p, a);
	return a < b;
}

int meta_recover_alloc_owner(const struct meta_recover_pext *p, uint32_t src, uint32_t dst,
			     const struct meta_recover_chunk *c, size_t nc,
			     struct meta_recover_owner *o, struct meta_recover_err *e)
{
	const struct meta_recover_chunk *k, *best = NULL;
	uint32_t cid = 0;
	bool fresh = true;

	if (p->owner) {
		if ((k = chunk_of(c, nc, p->owner)) && k->cannot_own)
			return fail(e, META_RECOVER_ENOOWNER,
				    "pid %llu: its owner %u does not run recover cmds",
				    (unsigned long long)p->pid, p->owner);
		cid = p->owner;
		fresh = false;
	} else if ((k = chunk_of(c, nc, src)) && k->healthy && !k->maintenance && !k->cannot_own) {
		cid = src;
	} else if ((k = chunk_of(c, nc, dst)) && k->healthy && !k->maintenance && !k->cannot_own) {
		cid = dst;
	} else {
		for (size_t i = 0; i < nc; i++) {
			k = &c[i];
			if (!k->cid || !k->healthy || k->maintenance || k->failslow || k->cannot_own)
				continue;
			if (!best || owner_better(p, k->cid, best->cid))
				best = k;
		}
		if (!best)
			return fail(e, META_RECOVER_ENOOWNER,
				    "pid %llu: no healthy chunk can own the cmd",
				    (unsigned long long)p->pid);
		cid = best->cid;
	}
	o->cid = cid;
	o->fresh = fresh;
	o->src = src;
	k = chunk_of(c, nc, cid);
	if (cid != src && cid != dst && is_current(p, cid) && k && k->healthy && !k->failslow)
		o->src = cid;
	return ok(e);
}

/* ---- cmds ---- */

static int check_slots(const struct meta_recover_slots *s, const struct meta_recover_pext *p,
		       uint32_t src, uint32_t dst, struct meta_recover_err *e)
{
	if (!meta_recover_slots_avail(s, src) || !meta_recover_slots_avail(s, dst))
		return fail(e, META_RECOVER_ENOSLOT,
			    "pid %llu: src %u or dst %u does not have enough cmd slots",
			    (unsigned long long)p->pid, src, dst);
	return 0;
}

static int check_src_current(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			     size_t nc, uint32_t src, struct meta_recover_err *e)
{
	if (!is_readable(p, c, nc, src))
		return fail(e, META_RECOVER_ESRCDEAD,
			    "pid %llu: src %u is not a current replica on a healthy chunk",
			    (unsigned long long)p->pid, src);
	return 0;
}

static int check_dst(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
		     size_t nc, uint32_t dst, struct meta_recover_err *e)
{
	char loc[32];

	if (loc_contains(p->location, dst))
		return fail(e, META_RECOVER_EDSTHAS, "pid %llu: dst %u already has the replica (%s)",
			    (unsigned long long)p->pid, dst,
			    loc_format(p->location, loc, sizeof(loc)));
	if (!can_host(chunk_of(c, nc, dst)))
		return fail(e, META_RECOVER_EDSTBAD,
			    "pid %llu: dst %u is unknown, not healthy, in maintenance, being removed or failslow",
			    (unsigned long long)p->pid, dst);
	return 0;
}

static int check_space(const struct meta_recover_slots *s, const struct meta_recover_pext *p,
		       const struct meta_recover_chunk *c, size_t nc, uint32_t dst,
		       struct meta_recover_err *e)
{
	const struct meta_recover_chunk *k = chunk_of(c, nc, dst);

	if (meta_recover_dst_free(s, k) < META_RECOVER_RX_BYTES)
		return fail(e, META_RECOVER_ENOSPACE,
			    "pid %llu: not enough space on dst %u (%u rx reserved)",
			    (unsigned long long)p->pid, dst, s->by_cid[dst].rx_pids);
	return 0;
}

/* the checks passed: owner, then the reservation and the cmd */
static int make(struct meta_recover_slots *s, const struct meta_recover_pext *p,
		const struct meta_recover_chunk *c, size_t nc, const struct meta_recover_req *r,
		uint64_t now_ms, struct meta_recover_cmd *cmd, struct meta_recover_err *e)
{
	struct meta_recover_owner o;

	if (meta_recover_alloc_owner(p, r->src, r->dst, c, nc, &o, e))
		return -1;
	*cmd = (struct meta_recover_cmd){
		.pid = p->pid,
		.epoch = p->epoch,
		.src = o.src,
		.dst = r->dst,
		.replace = r->replace,
		.slot_src = r->src,
		.owner = o.cid,
		.owner_new = o.fresh,
		.is_migrate = r->is_migrate,
		.active_location = p->alive_location,
		.tmp_epoch = r->tmp_epoch,
		.issued_ms = now_ms,
	};
	reserve(s, cmd);
	return ok(e);
}

int meta_recover_add(struct meta_recover_slots *s, const struct meta_recover_pext *p,
		     const struct meta_recover_chunk *c, size_t nc, bool has_cmd,
		     const struct meta_recover_req *r, uint64_t now_ms,
		     struct meta_recover_cmd *cmd, struct meta_recover_err *e)
{
	unsigned long long pid = p->pid;

	if (has_cmd)
		return fail(e, META_RECOVER_EDUPLICATE, "pid %llu already has a recover cmd", pid);
	if (r->tmp_epoch && r->tmp_epoch == p->tmp_epoch)
		return fail(e, META_RECOVER_ETMPDONE,
			    "pid %llu holds temporary replica epoch %llu already", pid,
			    (unsigned long long)r->tmp_epoch);
	if (!loc_contains(p->location, r->src))
		return fail(e, META_RECOVER_ENOTREPLICA, "pid %llu: src %u does not hold it", pid,
			    r->src);
	if (check_src_current(p, c, nc, r->src, e))
		return -1;
	if ((r->replace || r->is_migrate) && !loc_contains(p->location, r->replace))
		return fail(e, META_RECOVER_ENOTREPLICA, "pid %llu: replace %u does not hold it",
			    pid, r->replace);
	if (!r->replace && loc_count(p->location) >= ZBS_LOC_SLOTS)
		return fail(e, META_RECOVER_ELOCFULL, "pid %llu: no room to add a replica", pid);
	if (check_dst(p, c, nc, r->dst, e) || check_slots(s, p, r->src, r->dst, e) ||
	    check_space(s, p, c, nc, r->dst, e))
		return -1;
	return make(s, p, c, nc, r, now_ms, cmd, e);
}

int meta_recover_migrate(struct meta_recover_slots *s, const struct meta_recover_pext *p,
			 const struct meta_recover_chunk *c, size_t nc, bool has_cmd,
			 uint32_t src, uint32_t dst, uint32_t replace, uint64_t now_ms,
			 struct meta_recover_cmd *cmd, struct meta_recover_err *e)
{
	struct meta_recover_req r = { .src = src, .dst = dst, .replace = replace,
				      .is_migrate = true };
	unsigned long long pid = p->pid;

	if (has_cmd)
		return fail(e, META_RECOVER_EDUPLICATE, "pid %llu already has migrate cmd", pid);
	if (meta_recover_is_dead(p))
		return fail(e, META_RECOVER_EDEAD,
			    "pid %llu is dead, maybe can try recover from temporary replica", pid);
	if (meta_recover_needed(p, c, nc))
		return fail(e, META_RECOVER_ERECOVERING, "pid %llu is recovering", pid);
	if (p->temporary)
		return fail(e, META_RECOVER_ETEMPORARY,
			    "pid %llu is temporary replica, does not trigger migration", pid);
	if (check_slots(s, p, src, dst, e))
		return -1;
	if (!loc_contains(p->location, src) || !loc_contains(p->location, replace))
		return fail(e, META_RECOVER_ENOTREPLICA,
			    "pid %llu: src %u and replace %u must both hold it", pid, src, replace);
	if (check_src_current(p, c, nc, src, e) || check_dst(p, c, nc, dst, e) ||
	    check_space(s, p, c, nc, dst, e))
		return -1;
	return make(s, p, c, nc, &r, now_ms, cmd, e);
}

void meta_recover_delivered(struct meta_recover_cmd *cmd, uint64_t now_ms)
{
	cmd->start_ms = now_ms ? now_ms : 1;
}

bool meta_recover_timed_out(const struct meta_recover_cmd *cmd, uint64_t now_ms,
			    uint64_t timeout_ms)
{
	uint64_t from = cmd->start_ms ? cmd->start_ms : cmd->issued_ms;

	return now_ms >= from && now_ms - from >= timeout_ms;
}

bool meta_recover_involves(const struct meta_recover_cmd *cmd, uint32_t cid)
{
	return cid && (cmd->src == cid || cmd->slot_src == cid || cmd->dst == cid);
}
