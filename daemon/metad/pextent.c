// SPDX-License-Identifier: GPL-2.0
/* The pextent table (see pextent.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pextent.h"


void meta_pexts_init(struct meta_pexts *t, struct meta_core *core, struct meta_chunks *chunks,
		     struct meta_sessions *sessions)
{
	memset(t, 0, sizeof(*t));
	t->core = core;
	t->chunks = chunks;
	t->sessions = sessions;
}

void meta_pexts_free(struct meta_pexts *t)
{
	struct meta_pext_origin *o, *n;

	HASH_ITER(hh, t->origins, o, n) {
		HASH_DEL(t->origins, o);
		free(o);
	}
	for (uint64_t i = 0; i < t->npages; i++)
		free(t->pages[i]);
	free(t->pages);
	free(t->page_live);
	memset(t, 0, sizeof(*t));
}

/* the slot of pid, its page made to exist */
static struct meta_pext *slot(struct meta_pexts *t, uint64_t pid)
{
	uint64_t pg = pid >> META_PEXT_PAGE_SHIFT;

	if (pg >= t->npages) {
		uint64_t n = t->npages ? t->npages : 16;
		while (n <= pg)
			n *= 2;
		t->pages = realloc(t->pages, n * sizeof(*t->pages));
		t->page_live = realloc(t->page_live, n * sizeof(*t->page_live));
		if (!t->pages || !t->page_live)
			abort();
		memset(t->pages + t->npages, 0, (n - t->npages) * sizeof(*t->pages));
		memset(t->page_live + t->npages, 0, (n - t->npages) * sizeof(*t->page_live));
		t->npages = n;
	}
	if (!t->pages[pg]) {
		t->pages[pg] = calloc(META_PEXT_PAGE, sizeof(struct meta_pext));
		if (!t->pages[pg])
			abort();
	}
	if (pid >= t->npext)
		t->npext = pid + 1;
	return &t->pages[pg][pid & (META_PEXT_PAGE - 1)];
}

/* a used slot of the table (the owned lists link only used pids) */
static struct meta_pext *at(const struct meta_pexts *t, uint64_t pid)
{
	return &t->pages[pid >> META_PEXT_PAGE_SHIFT][pid & (META_PEXT_PAGE - 1)];
}

/* p (in its page) became used */
static void took(struct meta_pexts *t, uint64_t pid)
{
	t->page_live[pid >> META_PEXT_PAGE_SHIFT]++;
	t->live++;
}

uint64_t meta_pext_next(const struct meta_pexts *t, uint64_t pid)
{
	if (!pid)
		pid = 1;
	while (pid < t->npext) {
		uint64_t pg = pid >> META_PEXT_PAGE_SHIFT;
		if (!t->pages[pg]) {
			pid = (pg + 1) << META_PEXT_PAGE_SHIFT;
			continue;
		}
		if (at(t, pid)->flags & PEXT_USED)
			return pid;
		pid++;
	}
	return 0;
}

void meta_pext_origin(const struct meta_pexts *t, uint64_t pid, uint64_t *origin_pid,
		      uint64_t *origin_epoch)
{
	struct meta_pext_origin *o;

	HASH_FIND(hh, t->origins, &pid, sizeof(pid), o);
	*origin_pid = o ? o->origin_pid : 0;
	*origin_epoch = o ? o->origin_epoch : 0;
}

static void origin_set(struct meta_pexts *t, uint64_t pid, uint64_t opid, uint64_t oepoch)
{
	struct meta_pext_origin *o;

	HASH_FIND(hh, t->origins, &pid, sizeof(pid), o);
	if (o && !opid && !oepoch) {
		HASH_DEL(t->origins, o);
		free(o);
	} else if (opid || oepoch) {
		if (!o) {
			o = calloc(1, sizeof(*o));
			if (!o)
				abort();
			o->pid = pid;
			HASH_ADD(hh, t->origins, pid, sizeof(o->pid), o);
		}
		o->origin_pid = opid;
		o->origin_epoch = oepoch;
	}
}

static void charge(struct meta_pexts *t, const struct meta_pext *p, bool fresh, int delta)
{
	for (int i = 0; i < loc_count(p->location); i++)
		meta_chunk_charge(t->chunks, loc_get(p->location, i), p->flags & PEXT_THIN,
				  fresh, delta);
}

void meta_pext_store(struct meta_pexts *t, uint64_t pid)
{
	const struct meta_pext *p = at(t, pid);
	uint64_t opid, oepoch;
	struct meta_rec r;

	if (!t->core->store)
		return;
	meta_pext_origin(t, pid, &opid, &oepoch);
	meta_rec_begin(&r, REC_PEXT);
	meta_rec_u64(&r, p->epoch);
	meta_rec_u64(&r, p->meta_gen);
	meta_rec_u64(&r, p->lease_epoch);
	meta_rec_u64(&r, opid);
	meta_rec_u64(&r, oepoch);
	meta_rec_u64(&r, p->owner);
	meta_rec_u32(&r, p->location);
	meta_rec_u32(&r, p->vol);
	meta_rec_u32(&r, p->vextent_no);
	meta_rec_u8(&r, p->expected);
	meta_rec_u8(&r, p->preferred_cid);
	meta_rec_u8(&r, p->flags);
	meta_rec_u8(&r, p->pad);
	meta_store_put_id(t->core->store, REC_PEXT, pid, &r);
}

uint64_t meta_pext_new(struct meta_pexts *t, uint32_t loc, bool thin, uint32_t expected,
		       uint32_t preferred_cid, uint32_t vol, uint32_t vno)
{
	struct meta_core *core = t->core;
	uint64_t pid = core->next_pid++;
	struct meta_pext *p = slot(t, pid);
	uint32_t now = meta_core_now_s(core);

	memset(p, 0, sizeof(*p));
	p->epoch = core->next_epoch++;
	p->location = loc;
	p->alive_location = loc;	/* SPEC 4.6: starts alive == loc */
	p->vol = vol;
	p->vextent_no = vno;
	p->expected = expected;
	p->preferred_cid = preferred_cid;
	p->flags = PEXT_USED | (thin ? PEXT_THIN : 0);
	p->last_access_s = now;
	for (int i = 0; i < ZBS_LOC_SLOTS; i++)
		p->seen_s[i] = now;
	took(t, pid);
	charge(t, p, true, 1);
	meta_core_store_counters(core);
	meta_pext_store(t, pid);
	return pid;
}

void meta_pext_free(struct meta_pexts *t, uint64_t pid)
{
	struct meta_pext *p = meta_pext(t, pid);
	uint64_t pg = pid >> META_PEXT_PAGE_SHIFT;

	if (!p)
		return;
	charge(t, p, false, -1);
	meta_pext_set_owner(t, pid, NULL);
	origin_set(t, pid, 0, 0);
	memset(p, 0, sizeof(*p));
	t->live--;
	if (--t->page_live[pg] == 0) {
		free(t->pages[pg]);	/* nothing in it lives: give it back */
		t->pages[pg] = NULL;
	}
	meta_store_del_id(t->core->store, REC_PEXT, pid);
}

void meta_pext_set_owner(struct meta_pexts *t, uint64_t pid, struct meta_session *s)
{
	struct meta_pext *p = at(t, pid);
	struct meta_session *o = p->owner ? meta_session_find(t->sessions, p->owner) : NULL;

	if (s && o == s)
		return;
	if (o) {
		if (p->owned_prev)
			at(t, p->owned_prev)->owned_next = p->owned_next;
		else
			o->owned_first = p->owned_next;
		if (p->owned_next)
			at(t, p->owned_next)->owned_prev = p->owned_prev;
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
		at(t, s->owned_last)->owned_next = pid;
	else
		s->owned_first = pid;
	s->owned_last = pid;
	s->leases++;
	p->owner = s->id;
}

void meta_pext_remove_cid(struct meta_pexts *t, uint64_t pid, uint32_t cid)
{
	struct meta_pext *p = at(t, pid);
	uint32_t seen[ZBS_LOC_SLOTS] = { 0 };
	int slot_i = loc_slot_of(p->location, cid), j = 0;

	if (slot_i < 0)
		return;
	for (int i = 0; i < ZBS_LOC_SLOTS; i++)
		if (i != slot_i)
			seen[j++] = p->seen_s[i];
	memcpy(p->seen_s, seen, sizeof(seen));
	p->location = loc_remove(p->location, cid);
	p->alive_location = loc_remove(p->alive_location, cid);
	meta_chunk_charge(t->chunks, cid, p->flags & PEXT_THIN, false, -1);
}

void meta_pext_replace_cid(struct meta_pexts *t, uint64_t pid, uint32_t replace, uint32_t dst)
{
	struct meta_pext *p = at(t, pid);
	bool thin = p->flags & PEXT_THIN;
	uint32_t alive = 0;
	int slot;

	if (replace) {
		slot = loc_slot_of(p->location, replace);
		p->location = loc_replace(p->location, replace, dst);
		meta_chunk_charge(t->chunks, replace, thin, false, -1);
	} else {
		slot = loc_count(p->location);
		p->location = loc_add(p->location, dst);
	}
	p->seen_s[slot] = meta_core_now_s(t->core);
	meta_chunk_charge(t->chunks, dst, thin, true, 1);
	/* in location order, as the data reports keep it */
	for (int i = 0; i < loc_count(p->location); i++) {
		uint32_t c = loc_get(p->location, i);
		if (c == dst || loc_contains(p->alive_location, c))
			alive = loc_add(alive, c);
	}
	p->alive_location = alive;
}

static int load_row(void *arg, const uint8_t *key, size_t klen, struct meta_rec_rd *rd,
		    char *why, size_t len)
{
	struct meta_pexts *t = arg;
	uint64_t pid = meta_key_get_be64(key);
	uint32_t now = meta_core_now_s(t->core);
	uint64_t opid, oepoch;
	struct meta_pext *p;

	(void)klen;
	if (!pid) {
		snprintf(why, len, "pid 0 is not a pid");
		return -1;
	}
	p = slot(t, pid);
	p->epoch = meta_rd_u64(rd);
	p->meta_gen = meta_rd_u64(rd);
	p->lease_epoch = meta_rd_u64(rd);
	opid = meta_rd_u64(rd);
	oepoch = meta_rd_u64(rd);
	p->owner = meta_rd_u64(rd);
	p->location = meta_rd_u32(rd);
	p->vol = meta_rd_u32(rd);
	p->vextent_no = meta_rd_u32(rd);
	p->expected = meta_rd_u8(rd);
	p->preferred_cid = meta_rd_u8(rd);
	p->flags = meta_rd_u8(rd);
	p->pad = meta_rd_u8(rd);
	if (!(p->flags & PEXT_USED)) {
		snprintf(why, len, "record of an unused pextent (flags 0x%x)", p->flags);
		return -1;
	}
	origin_set(t, pid, opid, oepoch);
	p->alive_location = p->location;	/* grace starts again at load */
	p->last_access_s = now;
	for (int i = 0; i < ZBS_LOC_SLOTS; i++)
		p->seen_s[i] = now;
	took(t, pid);
	charge(t, p, false, 1);
	return 0;
}

int meta_pexts_load(struct meta_pexts *t, char *err, size_t len)
{
	return meta_store_scan(t->core->store, REC_PEXT, load_row, t, err, len);
}

void meta_pexts_link_owners(struct meta_pexts *t)
{
	for (uint64_t pid = meta_pext_next(t, 1); pid; pid = meta_pext_next(t, pid + 1)) {
		struct meta_pext *p = at(t, pid);
		struct meta_session *o;

		if (!p->owner)
			continue;
		o = meta_session_find(t->sessions, p->owner);
		p->owner = 0;	/* as read: on no list yet */
		if (o) {
			meta_pext_set_owner(t, pid, o);	/* onto its list, in pid order */
		} else {
			p->flags &= ~PEXT_REVOKING;	/* the session ended meanwhile */
			meta_pext_store(t, pid);
		}
	}
}
