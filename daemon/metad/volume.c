// SPDX-License-Identifier: GPL-2.0
/* The volume table (see volume.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "log.h"
#include "rpc.h"
#include "volume.h"

_Static_assert(META_VOLUME_PERSIST_LEN == 184, "volume record: new field, new version");

void meta_volumes_init(struct meta_volumes *t, struct meta_core *core)
{
	memset(t, 0, sizeof(*t));
	t->core = core;
	TAILQ_INIT(&t->deleting);
}

void meta_volumes_free(struct meta_volumes *t)
{
	HASH_CLEAR(hh_id, t->by_id);
	HASH_CLEAR(hh_name, t->by_name);
	for (uint32_t i = 0; i < t->n; i++) {
		if (t->slots[i]) {
			free(t->slots[i]->vtable);
			free(t->slots[i]);
		}
	}
	free(t->slots);
	free(t->dangling);
	memset(t, 0, sizeof(*t));
}

struct meta_volume *meta_volume_by_id(struct meta_volumes *t, const char *id)
{
	struct meta_volume *v = NULL;

	if (id)
		HASH_FIND(hh_id, t->by_id, id, strlen(id), v);
	return v;
}

struct meta_volume *meta_volume_by_name(struct meta_volumes *t, const char *name)
{
	struct meta_volume *v = NULL;

	if (name)
		HASH_FIND(hh_name, t->by_name, name, strlen(name), v);
	return v;
}

/*
 * By id or name. A name can look like another volume's id: then, as when
 * this was a scan of the slots, the volume in the lower slot wins.
 */
struct meta_volume *meta_volume_find(struct meta_volumes *t, const char *key, struct merr *e)
{
	struct meta_volume *by_id = meta_volume_by_id(t, key);
	struct meta_volume *by_name = meta_volume_by_name(t, key);

	struct meta_volume *v = by_id && by_name ? (by_id->idx < by_name->idx ? by_id : by_name) :
				by_id ? by_id : by_name;

	if (v && v->creating) {
		merr_set(e, ZBS_RPC_EAGAIN, "volume '%s' is being created (%u of %u extents)",
			 v->name, v->fill_next, v->nvext);
		return NULL;
	}
	if (v)
		return v;
	merr_set(e, ZBS_RPC_ENOENT, "volume '%s' not found", key ? key : "");
	return NULL;
}

struct meta_volume *meta_volume_at(struct meta_volumes *t, uint32_t idx)
{
	return idx < t->n ? t->slots[idx] : NULL;
}

int meta_volume_check_spec(struct meta_volumes *t, struct meta_chunks *chunks,
			   const struct meta_volume_spec *s, struct merr *e)
{
	uint32_t healthy;

	if (!meta_valid_name(s->name))
		return merr_set(e, ZBS_RPC_EINVAL, "bad volume name '%s': 1-%d of [A-Za-z0-9._-], "
				"not starting with '-'", s->name ? s->name : "", META_NAME_MAX);
	if (meta_volume_by_name(t, s->name))
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
	if (s->prefer_cid && !meta_chunk(chunks, s->prefer_cid))
		return merr_set(e, ZBS_RPC_ENOENT, "prefer_cid %u: no such chunk", s->prefer_cid);
	healthy = meta_chunk_healthy_count(chunks);
	if (s->replica_num > healthy)
		return merr_set(e, ZBS_RPC_ENOSPC, "replica_num %u > %u healthy chunk(s)",
				s->replica_num, healthy);
	return 0;
}

/* v's id and name are set: index it */
static void volume_index(struct meta_volumes *t, struct meta_volume *v)
{
	HASH_ADD_KEYPTR(hh_id, t->by_id, v->id, strlen(v->id), v);
	HASH_ADD_KEYPTR(hh_name, t->by_name, v->name, strlen(v->name), v);
}

/* a zeroed volume in the lowest free slot */
static struct meta_volume *volume_slot(struct meta_volumes *t)
{
	struct meta_volume *v = calloc(1, sizeof(*v));
	uint32_t i;

	if (!v)
		abort();
	for (i = 0; i < t->n && t->slots[i]; i++)
		;
	if (i == t->n) {
		t->slots = meta_grow(t->slots, &t->cap, t->n + 1, sizeof(*t->slots));
		t->n++;
	}
	t->slots[i] = v;
	v->idx = i;
	return v;
}

void meta_volume_store(struct meta_volumes *t, const struct meta_volume *v)
{
	struct meta_rec r;

	if (!t->core->store)
		return;
	meta_rec_begin(&r, REC_VOLUME);
	meta_rec_mem(&r, v->id, sizeof(v->id));
	meta_rec_mem(&r, v->name, sizeof(v->name));
	meta_rec_u64(&r, v->size);
	meta_rec_u32(&r, v->replica_num);
	meta_rec_u32(&r, v->stripe_num);
	meta_rec_u32(&r, v->stripe_size);
	meta_rec_u32(&r, v->prefer_cid);
	meta_rec_u32(&r, v->thin);
	meta_rec_u32(&r, v->nvext);
	meta_rec_u64(&r, v->iops);
	meta_rec_u64(&r, v->bps);
	meta_rec_u64(&r, v->iops_burst);
	meta_rec_u64(&r, v->bps_burst);
	meta_rec_u64(&r, v->created_ns);
	meta_rec_u32(&r, v->flags);		/* version 2 */
	meta_rec_u32(&r, 0);
	meta_store_put(t->core->store, REC_VOLUME, v->id, 36, &r);
}

static void vtable_key(uint8_t k[44], const struct meta_volume *v, uint32_t vno)
{
	memcpy(k, v->id, 36);
	meta_key_be64(k + 36, vno);
}

struct meta_volume *meta_volume_add(struct meta_volumes *t, const struct meta_volume_spec *s,
				    bool creating)
{
	struct meta_volume *v = volume_slot(t);
	uuid_t u;

	uuid_generate(u);
	uuid_unparse_lower(u, v->id);
	snprintf(v->name, sizeof(v->name), "%s", s->name);
	v->size = s->size;
	v->replica_num = s->replica_num;
	v->stripe_num = s->stripe_num;
	v->stripe_size = s->stripe_size;
	v->prefer_cid = s->prefer_cid;
	v->thin = s->thin;
	v->flags = s->even ? META_VOL_EVEN : 0;
	v->iops = s->iops;
	v->bps = s->bps;
	v->iops_burst = s->iops_burst;
	v->bps_burst = s->bps_burst;
	v->created_ns = t->core->wall_ns;
	volume_index(t, v);
	v->nvext = (s->size + ZBS_EXTENT_SIZE - 1) / ZBS_EXTENT_SIZE;
	v->vtable = calloc(v->nvext, sizeof(uint64_t));
	if (!v->vtable)
		abort();
	v->creating = creating;
	if (!creating)
		meta_volume_store(t, v);
	return v;
}

void meta_volume_set_vext(struct meta_volumes *t, struct meta_volume *v, uint32_t vno,
			  uint64_t pid)
{
	uint8_t k[44];

	if (!v->vtable[vno] != !pid)
		v->allocated += pid ? 1 : -1;
	v->vtable[vno] = pid;
	if (!t->core->store)
		return;
	vtable_key(k, v, vno);
	if (pid) {
		struct meta_rec r;
		meta_rec_begin(&r, REC_VTABLE);
		meta_rec_u64(&r, pid);
		meta_store_put(t->core->store, REC_VTABLE, k, 44, &r);
	} else {
		meta_store_del(t->core->store, REC_VTABLE, k, 44);
	}
}

void meta_volume_grow(struct meta_volume *v, uint32_t nvext)
{
	uint64_t *vt;

	if (nvext <= v->nvext)
		return;
	vt = realloc(v->vtable, nvext * sizeof(uint64_t));
	if (!vt)
		abort();
	memset(vt + v->nvext, 0, (nvext - v->nvext) * sizeof(uint64_t));
	v->vtable = vt;
	v->nvext = nvext;
}

void meta_volume_detach(struct meta_volumes *t, struct meta_volume *v)
{
	if (v->deleting)
		return;
	meta_store_del(t->core->store, REC_VOLUME, v->id, 36);
	HASH_DELETE(hh_id, t->by_id, v);
	HASH_DELETE(hh_name, t->by_name, v);
	v->deleting = true;
	TAILQ_INSERT_TAIL(&t->deleting, v, deleting_link);
}

void meta_volume_remove(struct meta_volumes *t, struct meta_volume *v)
{
	for (uint32_t i = 0; i < v->nvext; i++)
		if (v->vtable[i])
			meta_volume_set_vext(t, v, i, 0);
	if (v->deleting) {
		TAILQ_REMOVE(&t->deleting, v, deleting_link);
	} else if (v->creating) {
		HASH_DELETE(hh_id, t->by_id, v);	/* never stored */
		HASH_DELETE(hh_name, t->by_name, v);
	} else {
		meta_store_del(t->core->store, REC_VOLUME, v->id, 36);
		HASH_DELETE(hh_id, t->by_id, v);
		HASH_DELETE(hh_name, t->by_name, v);
	}
	t->slots[v->idx] = NULL;
	free(v->vtable);
	free(v);
}

static int load_row(void *arg, const uint8_t *key, size_t klen, struct meta_rec_rd *rd,
		    char *why, size_t len)
{
	struct meta_volumes *t = arg;
	struct meta_volume rec = { 0 }, *v;

	(void)klen;
	meta_rd_mem(rd, rec.id, sizeof(rec.id));
	meta_rd_mem(rd, rec.name, sizeof(rec.name));
	rec.size = meta_rd_u64(rd);
	rec.replica_num = meta_rd_u32(rd);
	rec.stripe_num = meta_rd_u32(rd);
	rec.stripe_size = meta_rd_u32(rd);
	rec.prefer_cid = meta_rd_u32(rd);
	rec.thin = meta_rd_u32(rd);
	rec.nvext = meta_rd_u32(rd);
	rec.iops = meta_rd_u64(rd);
	rec.bps = meta_rd_u64(rd);
	rec.iops_burst = meta_rd_u64(rd);
	rec.bps_burst = meta_rd_u64(rd);
	rec.created_ns = meta_rd_u64(rd);
	if (rd->ver >= 2) {
		rec.flags = meta_rd_u32(rd);
		(void)meta_rd_u32(rd);
	}
	if (memcmp(rec.id, key, 36) || rec.id[36]) {
		snprintf(why, len, "record of volume %.36s", rec.id);
		return -1;
	}
	if (rec.nvext > META_MAX_VEXTENTS) {
		snprintf(why, len, "%u vextents, more than %u", rec.nvext, META_MAX_VEXTENTS);
		return -1;
	}
	rec.name[META_NAME_MAX] = 0;
	v = volume_slot(t);
	memcpy(v, &rec, META_VOLUME_PERSIST_LEN);
	volume_index(t, v);
	v->vtable = calloc(v->nvext ? v->nvext : 1, sizeof(uint64_t));
	if (!v->vtable)
		abort();
	return 0;
}

int meta_volumes_load(struct meta_volumes *t, char *err, size_t len)
{
	return meta_store_scan(t->core->store, REC_VOLUME, load_row, t, err, len);
}

struct vtable_load {
	struct meta_volumes *t;
	struct meta_pexts *pexts;
};

static int load_vtable_row(void *arg, const uint8_t *key, size_t klen, struct meta_rec_rd *rd,
			   char *why, size_t len)
{
	struct vtable_load *l = arg;
	char id[37];
	uint32_t vno = meta_key_get_be64(key + 36);
	uint64_t pid = meta_rd_u64(rd);
	struct meta_volume *v;
	struct meta_pext *p;

	(void)klen;
	(void)why;
	(void)len;
	memcpy(id, key, 36);
	id[36] = 0;
	v = meta_volume_by_id(l->t, id);
	p = meta_pext(l->pexts, pid);
	if (!v || vno >= v->nvext || !p) {
		struct meta_volumes *t = l->t;

		t->dangling = meta_grow(t->dangling, &t->capdangling, t->ndangling + 1,
					sizeof(*t->dangling));
		memcpy(t->dangling[t->ndangling].key, key, 44);
		t->dangling[t->ndangling++].pid = pid;
		return 0;
	}
	v->vtable[vno] = pid;
	v->allocated++;
	p->vol = v->idx;
	p->vextent_no = vno;
	return 0;
}

int meta_volumes_load_vtable(struct meta_volumes *t, struct meta_pexts *pexts, char *err,
			     size_t len)
{
	struct vtable_load l = { t, pexts };

	return meta_store_scan(t->core->store, REC_VTABLE, load_vtable_row, &l, err, len);
}

/* is pid the pextent of a volume's vtable (its back reference checked)? */
static bool held(struct meta_volumes *t, const struct meta_pext *p, uint64_t pid)
{
	struct meta_volume *v = meta_volume_at(t, p->vol);

	return v && p->vextent_no < v->nvext && v->vtable[p->vextent_no] == pid;
}

void meta_volumes_load_orphans(struct meta_volumes *t, struct meta_pexts *pexts)
{
	uint64_t freed = 0;

	for (uint32_t i = 0; i < t->ndangling; i++)
		meta_store_del(t->core->store, REC_VTABLE, t->dangling[i].key, 44);
	for (uint64_t pid = meta_pext_next(pexts, 1); pid; pid = meta_pext_next(pexts, pid + 1)) {
		if (!held(t, meta_pext(pexts, pid), pid)) {
			meta_pext_free(pexts, pid);
			freed++;
		}
	}
	if (t->ndangling || freed)
		log_info("store: %u vtable row(s) of deleted volumes removed, %llu pextent(s) "
			 "no volume holds freed (a delete the last stop cut short)", t->ndangling,
			 (unsigned long long)freed);
	free(t->dangling);
	t->dangling = NULL;
	t->ndangling = t->capdangling = 0;
}

static bool reader_alive(struct meta_sessions *ss, uint64_t sid)
{
	struct meta_session *s = sid ? meta_session_find(ss, sid) : NULL;

	return s && s->alive;
}

void meta_volume_note_reads(struct meta_volume *v, struct meta_sessions *ss, uint64_t sid,
			    uint64_t local, uint64_t remote)
{
	struct meta_volume_reads *slot = NULL;

	for (int i = 0; i < META_VOLUME_READERS; i++) {
		struct meta_volume_reads *r = &v->reads[i];

		if (r->sid == sid) {
			slot = r;
			break;
		}
		if (!slot && (!r->sid || !reader_alive(ss, r->sid)))
			slot = r;	/* free, or its session is gone */
	}
	if (!slot)
		return;		/* attached on more hosts than kept */
	*slot = (struct meta_volume_reads){ sid, local, remote };
}

void meta_volume_reads(const struct meta_volume *v, struct meta_sessions *ss, uint64_t *local,
		       uint64_t *remote)
{
	*local = *remote = 0;
	for (int i = 0; i < META_VOLUME_READERS; i++)
		if (reader_alive(ss, v->reads[i].sid)) {
			*local += v->reads[i].local;
			*remote += v->reads[i].remote;
		}
}
