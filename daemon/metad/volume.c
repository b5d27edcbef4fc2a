// SPDX-License-Identifier: GPL-2.0
/* Meta state: volumes, vtables and pextent allocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "log.h"
#include "meta.h"
#include "placement.h"
#include "rpc.h"
#include "util.h"

static uint32_t healthy_chunks(struct meta *m)
{
	uint32_t n = 0;

	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++)
		n += m->chunks[cid].cid && m->chunks[cid].status == CHUNK_HEALTHY;
	return n;
}

/*
 * Placement candidates from the chunk table; returns how many. `settled`:
 * as if every chunk had just reported, without the full-extent charge of
 * its new thin pextents (SPEC 7.1 "new thin", pending until the next report).
 */
static size_t candidates(struct meta *m, struct place_cand *out, bool settled)
{
	size_t n = 0;

	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = &m->chunks[cid];
		uint64_t alloc;
		if (!c->cid)
			continue;
		alloc = meta_chunk_allocated(c);
		if (settled)
			alloc -= (uint64_t)c->new_thin_pids * ZBS_EXTENT_SIZE;
		out[n].cid = cid;
		out[n].healthy = c->status == CHUNK_HEALTHY;
		out[n].free = c->space.valid > alloc ? c->space.valid - alloc : 0;
		n++;
	}
	return n;
}

/* "cid 1: 12 GiB free, cid 2: 0 B free, cid 3: not healthy" for ENOSPC */
static void describe_chunks(const struct place_cand *cands, size_t n, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && at < len; i++) {
		char sz[32];
		int k;

		zbs_format_size(cands[i].free, sz, sizeof(sz));
		k = snprintf(buf + at, len - at, "%scid %u: %s%s", i ? ", " : "", cands[i].cid,
			     cands[i].healthy ? sz : "not healthy", cands[i].healthy ? " free" : "");
		if (k < 0)
			break;
		at += (size_t)k;
	}
}

/*
 * Placement of `count` new pextents of replica_num replicas on `cands`,
 * each taking 256 MiB on its chunks; 0, or -1 with *eligible (may be NULL)
 * for the one that did not fit.
 */
static int place_all(struct place_cand *cands, size_t n, uint64_t count, uint32_t replica_num,
		     uint32_t prefer, uint32_t *eligible)
{
	uint32_t out[ZBS_LOC_SLOTS];

	for (uint64_t i = 0; i < count; i++) {
		if (zbs_place(cands, n, replica_num, prefer, ZBS_EXTENT_SIZE, out, eligible) < 0)
			return -1;
		for (uint32_t r = 0; r < replica_num; r++)
			for (size_t j = 0; j < n; j++)
				if (cands[j].cid == out[r])
					cands[j].free -= ZBS_EXTENT_SIZE;
	}
	return 0;
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
	struct place_cand cands[META_MAX_CID], settled[META_MAX_CID];
	size_t n = candidates(m, cands, false);
	uint32_t eligible = 0;
	char who[160];

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
	struct place_cand cands[META_MAX_CID];
	size_t n = candidates(m, cands, false);
	uint32_t out[ZBS_LOC_SLOTS], loc = 0;
	struct meta_pext *p;
	uint64_t pid;

	if (zbs_place(cands, n, v->replica_num, prefer_cid, ZBS_EXTENT_SIZE, out, NULL) < 0)
		return check_space(m, 1, v->replica_num, prefer_cid, e);	/* why */
	pid = m->next_pid++;
	if (pid >= m->cappext) {
		uint64_t cap = m->cappext ? m->cappext * 2 : 1024;
		struct meta_pext *np = realloc(m->pext, cap * sizeof(*np));
		if (!np)
			abort();
		memset(np + m->cappext, 0, (cap - m->cappext) * sizeof(*np));
		m->pext = np;
		m->cappext = cap;
	}
	if (pid >= m->npext)
		m->npext = pid + 1;
	for (uint32_t r = 0; r < v->replica_num; r++) {
		struct meta_chunk *c = &m->chunks[out[r]];
		loc = loc_add(loc, out[r]);
		if (v->thin) {
			c->thin_pids++;
			c->new_thin_pids++;
		} else {
			c->thick_pids++;
		}
	}
	p = &m->pext[pid];
	memset(p, 0, sizeof(*p));
	p->epoch = m->next_epoch++;
	p->location = loc;
	p->alive_location = loc;	/* SPEC 4.6: starts alive == loc */
	p->vol = v->idx;
	p->vextent_no = vno;
	p->expected = v->replica_num;
	p->preferred_cid = prefer_cid;
	p->flags = PEXT_USED | (v->thin ? PEXT_THIN : 0);
	p->last_access_s = meta_now_s(m);
	for (int i = 0; i < ZBS_LOC_SLOTS; i++)
		p->seen_s[i] = meta_now_s(m);
	v->vtable[vno] = pid;
	v->allocated++;
	m->live_pext++;
	store_counters(m);
	store_pext(m, pid);
	store_vtable(m, v, vno);
	log_debug("[ALLOC PEXTENT] volume %s vextent %u pid %llu loc 0x%x", v->name, vno,
		  (unsigned long long)pid, loc);
	*pidp = pid;
	return 0;
}

static void pext_free(struct meta *m, uint64_t pid)
{
	struct meta_pext *p = meta_pext(m, pid);

	if (!p)
		return;
	for (int i = 0; i < loc_count(p->location); i++) {
		struct meta_chunk *c = &m->chunks[loc_get(p->location, i)];
		if (p->flags & PEXT_THIN) {
			if (c->thin_pids)
				c->thin_pids--;
		} else if (c->thick_pids) {
			c->thick_pids--;
		}
	}
	meta_pext_set_owner(m, pid, NULL);
	memset(p, 0, sizeof(*p));
	m->live_pext--;
	store_pext_del(m, pid);
}

int meta_volume_validate(struct meta *m, const struct meta_volume_spec *s, struct merr *e)
{
	uint32_t healthy;

	if (!meta_valid_name(s->name))
		return merr_set(e, ZBS_RPC_EINVAL, "bad volume name '%s': 1-%d of [A-Za-z0-9._-], "
				"not starting with '-'", s->name ? s->name : "", META_NAME_MAX);
	if (meta_volume_by_name(m, s->name))
		return merr_set(e, ZBS_RPC_EEXIST, "volume '%s' already exists", s->name);
	if (s->size == 0)
		return merr_set(e, ZBS_RPC_EINVAL, "volume size must be > 0");
	if (s->size % ZBS_SECTOR_SIZE)
		return merr_set(e, ZBS_RPC_EINVAL, "volume size %llu is not a multiple of the "
				"sector size (512)", (unsigned long long)s->size);
	if (s->size > (uint64_t)META_MAX_VEXTENTS * ZBS_EXTENT_SIZE)
		return merr_set(e, ZBS_RPC_EINVAL, "volume size %llu exceeds the maximum (1 PiB)",
				(unsigned long long)s->size);
	if (s->replica_num < 1 || s->replica_num > 3)
		return merr_set(e, ZBS_RPC_EINVAL, "replica_num %u: want 1-3", s->replica_num);
	if (s->stripe_num < 1 || s->stripe_num > 64)
		return merr_set(e, ZBS_RPC_EINVAL, "stripe_num %u: want 1-64", s->stripe_num);
	if (s->stripe_size < 4096 || s->stripe_size > ZBS_EXTENT_SIZE ||
	    (s->stripe_size & (s->stripe_size - 1)))
		return merr_set(e, ZBS_RPC_EINVAL, "stripe_size %u: want a power of two "
				"from 4 KiB to 256 MiB", s->stripe_size);
	if (s->prefer_cid && !meta_chunk(m, s->prefer_cid))
		return merr_set(e, ZBS_RPC_ENOENT, "prefer_cid %u: no such chunk", s->prefer_cid);
	healthy = healthy_chunks(m);
	if (s->replica_num > healthy)
		return merr_set(e, ZBS_RPC_ENOSPC, "replica_num %u > %u healthy chunk(s)",
				s->replica_num, healthy);
	if (!s->thin) {
		uint64_t n = (s->size + ZBS_EXTENT_SIZE - 1) / ZBS_EXTENT_SIZE;
		if (check_space(m, n, s->replica_num, s->prefer_cid, e))
			return -1;
	}
	return 0;
}

/* v's id and name are set: index it */
static void volume_index(struct meta *m, struct meta_volume *v)
{
	HASH_ADD_KEYPTR(hh_id, m->vol_by_id, v->id, strlen(v->id), v);
	HASH_ADD_KEYPTR(hh_name, m->vol_by_name, v->name, strlen(v->name), v);
}

static struct meta_volume *volume_add(struct meta *m)
{
	struct meta_volume *v = calloc(1, sizeof(*v));
	uint32_t i;

	if (!v)
		abort();
	for (i = 0; i < m->nvols && m->vols[i]; i++)
		;
	if (i == m->nvols) {
		if (m->nvols == m->capvols) {
			m->capvols = m->capvols ? m->capvols * 2 : 8;
			m->vols = realloc(m->vols, m->capvols * sizeof(*m->vols));
			if (!m->vols)
				abort();
		}
		m->nvols++;
	}
	m->vols[i] = v;
	v->idx = i;
	return v;
}

struct meta_volume *meta_volume_load(struct meta *m, const struct meta_volume *rec)
{
	struct meta_volume *v = volume_add(m);

	memcpy(v, rec, META_VOLUME_PERSIST_LEN);
	volume_index(m, v);
	v->vtable = calloc(v->nvext ? v->nvext : 1, sizeof(uint64_t));
	if (!v->vtable)
		abort();
	return v;
}

int meta_volume_create(struct meta *m, const struct meta_volume_spec *s,
		       struct meta_volume **out, struct merr *e)
{
	struct meta_volume *v;
	uuid_t u;
	uint64_t pid;

	if (meta_volume_validate(m, s, e))
		return -1;
	v = volume_add(m);
	uuid_generate(u);
	uuid_unparse_lower(u, v->id);
	snprintf(v->name, sizeof(v->name), "%s", s->name);
	v->size = s->size;
	v->replica_num = s->replica_num;
	v->stripe_num = s->stripe_num;
	v->stripe_size = s->stripe_size;
	v->prefer_cid = s->prefer_cid;
	v->thin = s->thin;
	v->iops = s->iops;
	v->bps = s->bps;
	v->iops_burst = s->iops_burst;
	v->bps_burst = s->bps_burst;
	v->created_ns = m->wall_ns;
	volume_index(m, v);
	v->nvext = (s->size + ZBS_EXTENT_SIZE - 1) / ZBS_EXTENT_SIZE;
	v->vtable = calloc(v->nvext, sizeof(uint64_t));
	if (!v->vtable)
		abort();
	store_volume(m, v);
	/* thick: reserve every extent now (validated above, cannot fail) */
	for (uint32_t i = 0; !v->thin && i < v->nvext; i++)
		if (meta_pext_alloc(m, v, i, v->prefer_cid, &pid, e))
			abort();
	log_info("volume %s created: id %s size %llu replica %u %s", v->name, v->id,
		 (unsigned long long)v->size, v->replica_num, v->thin ? "thin" : "thick");
	*out = v;
	return 0;
}

struct meta_volume *meta_volume_by_id(struct meta *m, const char *id)
{
	struct meta_volume *v = NULL;

	if (id)
		HASH_FIND(hh_id, m->vol_by_id, id, strlen(id), v);
	return v;
}

struct meta_volume *meta_volume_by_name(struct meta *m, const char *name)
{
	struct meta_volume *v = NULL;

	if (name)
		HASH_FIND(hh_name, m->vol_by_name, name, strlen(name), v);
	return v;
}

/*
 * By id or name. A name can look like another volume's id: then, as when
 * this was a scan of the slots, the volume in the lower slot wins.
 */
struct meta_volume *meta_volume_find(struct meta *m, const char *key, struct merr *e)
{
	struct meta_volume *by_id = meta_volume_by_id(m, key);
	struct meta_volume *by_name = meta_volume_by_name(m, key);

	if (by_id && by_name)
		return by_id->idx < by_name->idx ? by_id : by_name;
	if (by_id || by_name)
		return by_id ? by_id : by_name;
	merr_set(e, ZBS_RPC_ENOENT, "volume '%s' not found", key ? key : "");
	return NULL;
}

int meta_volume_resize(struct meta *m, struct meta_volume *v, uint64_t size, struct merr *e)
{
	uint32_t nvext = (size + ZBS_EXTENT_SIZE - 1) / ZBS_EXTENT_SIZE;
	uint64_t pid, *vt;

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
	if (!v->thin && check_space(m, nvext - v->nvext, v->replica_num, v->prefer_cid, e))
		return -1;
	vt = realloc(v->vtable, (nvext ? nvext : 1) * sizeof(uint64_t));
	if (!vt)
		abort();
	memset(vt + v->nvext, 0, (nvext - v->nvext) * sizeof(uint64_t));
	v->vtable = vt;
	for (uint32_t i = v->nvext; i < nvext; i++) {
		v->nvext = i + 1;
		if (!v->thin && meta_pext_alloc(m, v, i, v->prefer_cid, &pid, e))
			abort();
	}
	v->nvext = nvext;
	v->size = size;
	store_volume(m, v);
	log_info("volume %s resized to %llu", v->name, (unsigned long long)size);
	return 0;
}

int meta_volume_delete(struct meta *m, struct meta_volume *v, struct merr *e)
{
	meta_revoke(m, v, 0, 0, e);
	for (uint32_t i = 0; i < v->nvext; i++)
		if (v->vtable[i])
			pext_free(m, v->vtable[i]);	/* GC'd on chunks via reports */
	store_volume_del(m, v);
	log_info("volume %s (%s) deleted", v->name, v->id);
	m->vols[v->idx] = NULL;
	HASH_DELETE(hh_id, m->vol_by_id, v);
	HASH_DELETE(hh_name, m->vol_by_name, v);
	free(v->vtable);
	free(v);
	return 0;
}
