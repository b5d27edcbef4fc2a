// SPDX-License-Identifier: GPL-2.0
/* The topology table (see topo.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"
#include "topo.h"

_Static_assert(sizeof(struct meta_topo) == 88, "topo record: new field, new version");

static struct meta_topo *topo_add(struct meta_topos *t, uint64_t id, uint32_t type,
				  uint64_t parent, const char *name)
{
	struct meta_topo *o;

	t->objs = meta_grow(t->objs, &t->cap, t->n + 1, sizeof(*t->objs));
	o = &t->objs[t->n++];
	memset(o, 0, sizeof(*o));
	o->id = id;
	o->type = type;
	o->parent = parent;
	snprintf(o->name, sizeof(o->name), "%s", name);
	return o;
}

void meta_topos_init(struct meta_topos *t, struct meta_core *core)
{
	memset(t, 0, sizeof(*t));
	t->core = core;
	if (core->next_topo <= TOPO_DEFAULT_BRICK)
		core->next_topo = TOPO_DEFAULT_BRICK + 1;
	topo_add(t, TOPO_DEFAULT_ZONE, TOPO_ZONE, 0, "default");
	topo_add(t, TOPO_DEFAULT_RACK, TOPO_RACK, TOPO_DEFAULT_ZONE, "default");
	topo_add(t, TOPO_DEFAULT_BRICK, TOPO_BRICK, TOPO_DEFAULT_RACK, "default");
}

void meta_topos_free(struct meta_topos *t)
{
	free(t->objs);
	memset(t, 0, sizeof(*t));
}

struct meta_topo *meta_topo_find(struct meta_topos *t, uint64_t id)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->objs[i].id == id)
			return &t->objs[i];
	return NULL;
}

static const char *topo_type_name(uint32_t type)
{
	static const char *const n[] = { "none", "zone", "rack", "brick", "node" };
	return type < 5 ? n[type] : "?";
}

/* parent type a child of type t needs (0 = the root) */
static int check_parent(struct meta_topos *t, uint32_t type, uint64_t parent, struct merr *e)
{
	struct meta_topo *p;

	if (type == TOPO_ZONE) {
		if (parent)
			return merr_set(e, ZBS_RPC_EINVAL, "a zone's parent is the root (0), not %llu",
					(unsigned long long)parent);
		return 0;
	}
	p = meta_topo_find(t, parent);
	if (!p)
		return merr_set(e, ZBS_RPC_ENOENT, "topology object %llu not found",
				(unsigned long long)parent);
	if (p->type != type - 1)
		return merr_set(e, ZBS_RPC_EINVAL, "a %s's parent must be a %s; %llu is a %s",
				topo_type_name(type), topo_type_name(type - 1),
				(unsigned long long)parent, topo_type_name(p->type));
	return 0;
}

static void topo_store(struct meta_topos *t, const struct meta_topo *o)
{
	struct meta_rec r;

	if (!t->core->store)
		return;
	meta_rec_begin(&r, REC_TOPO);
	meta_rec_u64(&r, o->id);
	meta_rec_u32(&r, o->type);
	meta_rec_u32(&r, o->pad);
	meta_rec_u64(&r, o->parent);
	meta_rec_mem(&r, o->name, sizeof(o->name));
	meta_store_put_id(t->core->store, REC_TOPO, o->id, &r);
}

int meta_topo_create(struct meta_topos *t, uint32_t type, const char *name,
		     uint64_t parent, struct meta_topo **out, struct merr *e)
{
	if (type < TOPO_ZONE || type > TOPO_BRICK)
		return merr_set(e, ZBS_RPC_EINVAL, "topology type %u: want zone, rack or brick "
				"(nodes come with chunk registration)", type);
	if (!meta_valid_name(name))
		return merr_set(e, ZBS_RPC_EINVAL, "bad name '%s': 1-%d of [A-Za-z0-9._-]",
				name ? name : "", META_NAME_MAX);
	if (check_parent(t, type, parent, e))
		return -1;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->objs[i].parent == parent && strcmp(t->objs[i].name, name) == 0)
			return merr_set(e, ZBS_RPC_EEXIST, "%s '%s' already exists under %llu",
					topo_type_name(t->objs[i].type), name,
					(unsigned long long)parent);
	*out = topo_add(t, t->core->next_topo++, type, parent, name);
	meta_core_store_counters(t->core);
	topo_store(t, *out);
	return 0;
}

int meta_topo_move(struct meta_topos *t, struct meta_chunks *chunks, uint32_t cid, uint64_t id,
		   uint64_t parent, struct merr *e)
{
	if (cid) {
		struct meta_chunk *c = meta_chunk(chunks, cid);
		if (!c)
			return merr_set(e, ZBS_RPC_ENOENT, "chunk %u not found", cid);
		if (check_parent(t, TOPO_NODE, parent, e))
			return -1;
		c->topo_id = parent;
		meta_chunk_store(chunks, c);
		log_info("[UPDATE TOPO OBJ] chunk %u new_parent_id %llu", cid,
			 (unsigned long long)parent);
		return 0;
	}
	struct meta_topo *o = meta_topo_find(t, id);
	if (!o)
		return merr_set(e, ZBS_RPC_ENOENT, "topology object %llu not found",
				(unsigned long long)id);
	if (check_parent(t, o->type, parent, e))
		return -1;
	o->parent = parent;
	topo_store(t, o);
	log_info("[UPDATE TOPO OBJ] %llu new_parent_id %llu", (unsigned long long)id,
		 (unsigned long long)parent);
	return 0;
}

static int load_row(void *arg, const uint8_t *key, size_t klen, struct meta_rec_rd *rd,
		    char *why, size_t len)
{
	struct meta_topos *t = arg;
	struct meta_topo o, *old;

	(void)klen;
	o.id = meta_rd_u64(rd);
	o.type = meta_rd_u32(rd);
	o.pad = meta_rd_u32(rd);
	o.parent = meta_rd_u64(rd);
	meta_rd_mem(rd, o.name, sizeof(o.name));
	if (o.id != meta_key_get_be64(key)) {
		snprintf(why, len, "record of topo %" PRIu64, o.id);
		return -1;
	}
	old = meta_topo_find(t, o.id);
	if (old)
		*old = o;
	else
		*topo_add(t, o.id, o.type, o.parent, "") = o;
	return 0;
}

int meta_topos_load(struct meta_topos *t, char *err, size_t len)
{
	return meta_store_scan(t->core->store, REC_TOPO, load_row, t, err, len);
}
