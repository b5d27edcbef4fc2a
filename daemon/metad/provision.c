// SPDX-License-Identifier: GPL-2.0
/* Provisioning: volumes and pextent allocation (see provision.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "owner.h"
#include "placement.h"
#include "provision.h"
#include "rpc.h"
#include "util.h"

struct meta_place_path meta_provision_path(struct meta *m, const struct meta_chunk *c)
{
	struct meta_place_path p = { 0 };
	uint64_t id = c->topo_id;

	for (int up = 0; id && up < TOPO_NODE; up++) {
		struct meta_topo *o = meta_topo_find(&m->topos, id);
		if (!o)
			break;
		if (o->type == TOPO_ZONE)
			p.zone = o->id;
		else if (o->type == TOPO_RACK)
			p.rack = o->id;
		else if (o->type == TOPO_BRICK)
			p.brick = o->id;
		id = o->parent;
	}
	return p;	/* node 0: each chunk is a node of its own */
}

/*
 * Placement candidates from the chunk and topology tables; returns how
 * many. `settled`: as if every chunk had just reported, without the
 * full-extent charge of its new thin pextents (SPEC 7.1 "new thin", pending
 * until the next report).
 */
void meta_provision_space(const struct meta_chunk *c, bool settled, struct meta_place_space *sp)
{
	*sp = (struct meta_place_space){
		.valid = c->space.valid,
		.thin_used = c->space.thin_used,
		.new_thin_pids = settled ? 0 : c->new_thin_pids,
		.thick_pids = c->thick_pids,
		.thin_rx_pids = c->rx_pids,	/* an extent each, thin or thick */
	};
}

uint64_t meta_provision_allocated(const struct meta_chunk *c)
{
	struct meta_place_space sp;

	meta_provision_space(c, false, &sp);
	return meta_place_allocated(&sp);
}

static size_t candidates(struct meta *m, struct meta_place_chunk *out, bool settled)
{
	size_t n = 0;

	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = &m->chunks.by_cid[cid];
		struct meta_place_space sp;

		if (!c->cid)
			continue;
		meta_provision_space(c, settled, &sp);
		out[n] = (struct meta_place_chunk){
			.cid = cid,
			/* maintenance, removing: no new replica (chunk_admin.h) */
			.healthy = meta_chunk_takes_replicas(c, m->core.wall_ns),
			.failslow = c->failslow,
			.topo = meta_provision_path(m, c),
			.valid = sp.valid,
			.allocated = meta_place_allocated(&sp),
		};
		n++;
	}
	return n;
}

static uint64_t free_of(const struct meta_place_chunk *c)
{
	return c->valid > c->allocated ? c->valid - c->allocated : 0;
}

/* "cid 1: 12 GiB free, cid 2: 0 B free, cid 3: not healthy" for ENOSPC */
static void describe_chunks(const struct meta_place_chunk *cands, size_t n, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && at < len; i++) {
		char sz[32];
		int k;

		zbs_format_size(free_of(&cands[i]), sz, sizeof(sz));
		k = snprintf(buf + at, len - at, "%scid %u: %s%s", i ? ", " : "", cands[i].cid,
			     cands[i].healthy ? sz : "not healthy", cands[i].healthy ? " free" : "");
		if (k < 0)
			break;
		at += (size_t)k;
	}
}

/*
 * An even volume's replicas per chunk into cands[].vol_replicas (SPEC 6.8,
 * placement.h). Counted from its vtable at each allocation: O(its
 * vextents), only for even volumes (templates and much-cloned images,
 * written once), so no per-volume counters to keep in step with every
 * recovery and migrate.
 */
static void count_vol_replicas(struct meta *m, const struct meta_volume *v,
			       struct meta_place_chunk *cands, size_t n)
{
	uint32_t by_cid[META_MAX_CID + 1] = { 0 };

	if (!(v->flags & META_VOL_EVEN))
		return;
	for (uint32_t i = 0; i < v->nvext; i++) {
		struct meta_pext *p = v->vtable[i] ? meta_pext(&m->pexts, v->vtable[i]) : NULL;
		int k = p ? loc_count(p->location) : 0;

		for (int s = 0; s < k; s++)
			by_cid[loc_get(p->location, s)]++;
	}
	for (size_t j = 0; j < n; j++)
		cands[j].vol_replicas = by_cid[cands[j].cid];
}

/* the prefer local v's new pextents follow: none for an even volume */
static uint32_t prefer_of(const struct meta_volume *v, uint32_t prefer)
{
	return v->flags & META_VOL_EVEN ? 0 : prefer;
}

/* one new pextent of replica_num replicas on cands (charged as placed
 * there, a replica of its volume more on each) */
static int place_one_even(struct meta_place_chunk *cands, size_t n, uint32_t replica_num,
			  uint32_t prefer, bool even, uint32_t *out, uint32_t *eligible)
{
	struct meta_place_req r = { .n = replica_num, .prefer_cid = prefer,
				    .need = ZBS_EXTENT_SIZE, .even = even };
	struct meta_place_info info;
	int ret = meta_place(cands, n, &r, NULL, out, &info);

	if (eligible)
		*eligible = info.eligible;
	if (ret < 0)
		return -1;
	for (uint32_t i = 0; i < replica_num; i++)
		for (size_t j = 0; j < n; j++)
			if (cands[j].cid == out[i]) {
				cands[j].allocated += ZBS_EXTENT_SIZE;
				cands[j].vol_replicas++;
			}
	return 0;
}

static int place_one(struct meta_place_chunk *cands, size_t n, uint32_t replica_num,
		     uint32_t prefer, uint32_t *out, uint32_t *eligible)
{
	return place_one_even(cands, n, replica_num, prefer, false, out, eligible);
}

/*
 * Placement of `count` new pextents of replica_num replicas on `cands`,
 * each taking 256 MiB on its chunks; 0, or -1 with *eligible (may be NULL)
 * for the one that did not fit.
 */
static int place_all(struct meta_place_chunk *cands, size_t n, uint64_t count, uint32_t replica_num,
		     uint32_t prefer, uint32_t *eligible)
{
	uint32_t out[ZBS_LOC_SLOTS];

	for (uint64_t i = 0; i < count; i++)
		if (place_one(cands, n, replica_num, prefer, out, eligible))
			return -1;
	return 0;
}

/*
 * Do `count` pextents fit whatever the policy picks? They do when
 * replica_num chunks can each take all of them: before each one those
 * still have an extent free, so meta_place finds replica_num chunks.
 */
static bool fits_anyway(const struct meta_place_chunk *cands, size_t n, uint64_t count,
			uint32_t replica_num)
{
	uint32_t roomy = 0;

	for (size_t i = 0; i < n; i++)
		roomy += cands[i].healthy && free_of(&cands[i]) / ZBS_EXTENT_SIZE >= count;
	return roomy >= replica_num;
}

/*
 * Can `count` new pextents be placed (no change)? When they cannot only
 * because of pending new-thin charges (SPEC 7.1: a full extent per new thin
 * pextent until the chunk's next report), the figures are not current yet:
 * EAGAIN, the caller asks again (chunks report soon after creating
 * replicas). Otherwise the space is really missing: ENOSPC naming every
 * chunk and whether it has room.
 */
static int check_space(struct meta *m, uint64_t count, uint32_t replica_num,
		       uint32_t prefer, struct merr *e)
{
	struct meta_place_chunk cands[META_MAX_CID], settled[META_MAX_CID];
	size_t n = candidates(m, cands, false);
	uint32_t eligible = 0;
	char who[160];

	if (replica_num && replica_num <= ZBS_LOC_SLOTS && fits_anyway(cands, n, count, replica_num))
		return 0;	/* a big thick volume is not placed twice */
	if (!place_all(cands, n, count, replica_num, prefer, &eligible))
		return 0;
	candidates(m, settled, true);
	if (!place_all(settled, n, count, replica_num, prefer, NULL)) {
		log_debug("[PLACE] %u replicas wait for space reports of new thin extents",
			  replica_num);
		return merr_set(e, ZBS_RPC_EAGAIN, "cannot place %u replicas until the chunks "
				"report the real usage of their new thin extents: retry",
				replica_num);
	}
	candidates(m, cands, false);
	describe_chunks(cands, n, who, sizeof(who));
	return merr_set(e, ZBS_RPC_ENOSPC, "not enough space: %llu extent(s) of %u replicas need %u "
			"chunks with 256 MiB free each, %u have it (%s)", (unsigned long long)count,
			replica_num, replica_num, eligible, who);
}

int meta_pext_alloc(struct meta *m, struct meta_volume *v, uint32_t vno,
		    uint32_t prefer_cid, uint64_t *pidp, struct merr *e)
{
	struct meta_place_chunk cands[META_MAX_CID];
	size_t n = candidates(m, cands, false);
	uint32_t out[ZBS_LOC_SLOTS], loc = 0;
	bool even = v->flags & META_VOL_EVEN;
	uint64_t pid;

	prefer_cid = prefer_of(v, prefer_cid);
	count_vol_replicas(m, v, cands, n);
	if (place_one_even(cands, n, v->replica_num, prefer_cid, even, out, NULL))
		return check_space(m, 1, v->replica_num, prefer_cid, e);	/* why */
	for (uint32_t r = 0; r < v->replica_num; r++)
		loc = loc_add(loc, out[r]);
	pid = meta_pext_new(&m->pexts, loc, v->thin, v->replica_num, prefer_cid, v->idx, vno);
	meta_volume_set_vext(&m->vols, v, vno, pid);
	log_debug("[ALLOC PEXTENT] volume %s vextent %u pid %llu loc 0x%x", v->name, vno,
		  (unsigned long long)pid, loc);
	*pidp = pid;
	return 0;
}

int meta_volume_validate(struct meta *m, const struct meta_volume_spec *s, struct merr *e)
{
	if (meta_volume_check_spec(&m->vols, &m->chunks, s, e))
		return -1;
	if (!s->thin) {
		uint64_t n = (s->size + ZBS_EXTENT_SIZE - 1) / ZBS_EXTENT_SIZE;
		if (check_space(m, n, s->replica_num, s->even ? 0 : s->prefer_cid, e))
			return -1;
	}
	return 0;
}

/*
 * Allocate v's vextents [from, to): the candidates are built once and
 * charged as the pextents are placed (as place_all does). 0, or -1 with e
 * when one cannot be placed (those before it stay).
 */
static int alloc_range(struct meta *m, struct meta_volume *v, uint32_t from, uint32_t to,
		       struct merr *e)
{
	struct meta_place_chunk cands[META_MAX_CID];
	size_t n = candidates(m, cands, false);
	uint32_t out[ZBS_LOC_SLOTS], prefer = prefer_of(v, v->prefer_cid);
	bool even = v->flags & META_VOL_EVEN;

	count_vol_replicas(m, v, cands, n);
	for (uint32_t vno = from; vno < to; vno++) {
		uint32_t loc = 0;
		uint64_t pid;

		if (place_one_even(cands, n, v->replica_num, prefer, even, out, NULL))
			return check_space(m, 1, v->replica_num, prefer, e);
		for (uint32_t r = 0; r < v->replica_num; r++)
			loc = loc_add(loc, out[r]);
		pid = meta_pext_new(&m->pexts, loc, v->thin, v->replica_num, prefer, v->idx, vno);
		meta_volume_set_vext(&m->vols, v, vno, pid);
	}
	return 0;
}

static void created(struct meta_volume *v)
{
	log_info("volume %s created: id %s size %llu replica %u %s", v->name, v->id,
		 (unsigned long long)v->size, v->replica_num, v->thin ? "thin" : "thick");
}

int meta_volume_create(struct meta *m, const struct meta_volume_spec *s,
		       struct meta_volume **out, struct merr *e)
{
	struct meta_volume *v;
	bool sliced = !s->thin &&
		      (s->size + ZBS_EXTENT_SIZE - 1) / ZBS_EXTENT_SIZE > META_CREATE_SLICE;

	if (meta_volume_validate(m, s, e))
		return -1;
	v = meta_volume_add(&m->vols, s, sliced);
	*out = v;
	if (sliced) {
		log_info("volume %s: creating, %u thick extents to allocate", v->name, v->nvext);
		return META_CREATE_PENDING;
	}
	/* thick: reserve every extent now (validated above, cannot fail) */
	if (!v->thin && alloc_range(m, v, 0, v->nvext, e))
		abort();
	created(v);
	return 0;
}

int meta_volume_create_step(struct meta *m, struct meta_volume *v, uint32_t budget,
			    struct merr *e)
{
	uint32_t to = v->nvext - v->fill_next > budget ? v->fill_next + budget : v->nvext;

	if (alloc_range(m, v, v->fill_next, to, e)) {
		/* space went to others meanwhile: undo, say why */
		log_warn("volume %s: creation failed at extent %u of %u: %s", v->name,
			 v->fill_next, v->nvext, e->msg);
		for (uint32_t i = 0; i < v->nvext; i++)
			if (v->vtable[i])
				meta_pext_free(&m->pexts, v->vtable[i]);
		meta_volume_remove(&m->vols, v);
		return -1;
	}
	v->fill_next = to;
	if (to < v->nvext)
		return 1;
	v->creating = false;
	meta_volume_store(&m->vols, v);
	created(v);
	return 0;
}

int meta_volume_resize(struct meta *m, struct meta_volume *v, uint64_t size, struct merr *e)
{
	uint32_t nvext = (size + ZBS_EXTENT_SIZE - 1) / ZBS_EXTENT_SIZE, old = v->nvext;
	uint64_t pid;

	if (size % ZBS_SECTOR_SIZE)
		return merr_set(e, ZBS_RPC_EINVAL, "size %llu is not a multiple of the sector "
				"size (512)", (unsigned long long)size);
	if (size < v->size)
		return merr_set(e, ZBS_RPC_EINVAL, "volume '%s': shrinking (%llu < %llu) is not "
				"supported", v->name, (unsigned long long)size,
				(unsigned long long)v->size);
	if (size > (uint64_t)META_MAX_VEXTENTS * ZBS_EXTENT_SIZE)
		return merr_set(e, ZBS_RPC_EINVAL, "size %llu exceeds the maximum (1 PiB)",
				(unsigned long long)size);
	if (!v->thin && check_space(m, nvext - old, v->replica_num, prefer_of(v, v->prefer_cid), e))
		return -1;
	meta_volume_grow(v, nvext);
	for (uint32_t i = old; !v->thin && i < nvext; i++)
		if (meta_pext_alloc(m, v, i, v->prefer_cid, &pid, e))
			abort();
	v->size = size;
	meta_volume_store(&m->vols, v);
	log_info("volume %s resized to %llu", v->name, (unsigned long long)size);
	return 0;
}

/* free up to budget of v's pextents, from its end; true when none is left */
static bool free_pextents(struct meta *m, struct meta_volume *v, uint32_t *budget)
{
	while (v->nvext && *budget) {
		uint32_t vno = v->nvext - 1;
		if (v->vtable[vno]) {
			meta_pext_free(&m->pexts, v->vtable[vno]);	/* GC'd on chunks via reports */
			meta_volume_set_vext(&m->vols, v, vno, 0);
			(*budget)--;
		}
		v->nvext--;
	}
	return v->nvext == 0;
}

int meta_volume_delete(struct meta *m, struct meta_volume *v, struct merr *e)
{
	uint32_t budget = META_DELETE_SLICE;

	meta_revoke(m, v, 0, 0, e);
	log_info("volume %s (%s) deleted: %u pextent(s) to free", v->name, v->id, v->allocated);
	if (v->allocated <= META_DELETE_SLICE) {
		free_pextents(m, v, &budget);
		meta_volume_remove(&m->vols, v);
	} else {
		meta_volume_detach(&m->vols, v);	/* the rest in the tick */
	}
	return 0;
}

uint32_t meta_reap_volumes(struct meta *m, uint32_t budget)
{
	uint32_t start = budget;
	struct meta_volume *v;

	while (budget && (v = TAILQ_FIRST(&m->vols.deleting))) {
		if (!free_pextents(m, v, &budget))
			break;
		log_info("volume %s (%s): its pextents are freed", v->name, v->id);
		meta_volume_remove(&m->vols, v);
	}
	return start - budget;
}
