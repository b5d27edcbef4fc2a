/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The topology table: zones, racks and bricks (ids from core's counter),
 * with the three default objects every cluster has; a chunk (a node) hangs
 * under a brick by its topo_id.
 */
#ifndef ZBS_META_TOPO_H
#define ZBS_META_TOPO_H

#include "chunk.h"
#include "core.h"

struct meta_topo {
	uint64_t id;
	uint32_t type;
	uint32_t pad;
	uint64_t parent;
	char name[64];
};

struct meta_topos {
	struct meta_core *core;
	struct meta_topo *objs;
	uint32_t n, cap;
};

void meta_topos_init(struct meta_topos *t, struct meta_core *core);
void meta_topos_free(struct meta_topos *t);
struct meta_topo *meta_topo_find(struct meta_topos *t, uint64_t id);
int meta_topo_create(struct meta_topos *t, uint32_t type, const char *name,
		     uint64_t parent, struct meta_topo **out, struct merr *e);
/* move chunk cid (a node) or object id under parent */
int meta_topo_move(struct meta_topos *t, struct meta_chunks *chunks, uint32_t cid, uint64_t id,
		   uint64_t parent, struct merr *e);
int meta_topos_load(struct meta_topos *t, char *err, size_t len);

#endif
