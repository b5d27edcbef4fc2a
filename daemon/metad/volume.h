/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The volume table: volumes by slot, indexed by id and by name, each with
 * its vtable (vextent_no -> pid). Pextents point back at their volume's
 * slot. Allocating pextents for a volume is provision.c's.
 */
#ifndef ZBS_META_VOLUME_H
#define ZBS_META_VOLUME_H

#include <sys/queue.h>
#include <uthash.h>

#include "chunk.h"
#include "core.h"
#include "pextent.h"

#define META_VOLUME_READERS	8	/* hosts a volume's reads are kept for */

struct meta_volume {
	char id[40];
	char name[META_NAME_MAX + 1];
	uint64_t size;
	uint32_t replica_num, stripe_num, stripe_size, prefer_cid;
	uint32_t thin, nvext;
	uint64_t iops, bps, iops_burst, bps_burst;
	uint64_t created_ns;
	uint32_t flags;			/* META_VOL_* (record version 2; 0 in version 1) */
	uint32_t flags_pad;		/* 0 */
	/* ^ persisted up to here */
	uint32_t idx;			/* slot in meta_volumes.slots */
	uint32_t allocated;		/* pextents in the vtable */
	uint64_t *vtable;		/* vextent_no -> pid (0 = none) */
	UT_hash_handle hh_id, hh_name;	/* meta_volumes.by_id, .by_name */
	bool deleting;			/* detached: its pextents go in slices */
	bool creating;			/* thick, its pextents being allocated in
					 * slices: not found, not persisted yet */
	uint32_t fill_next;		/* ... the next vextent to allocate */
	TAILQ_ENTRY(meta_volume) deleting_link;
	/* reads since attach, as the hosts it is attached on report them
	 * (keepalives of their sessions; in memory) */
	struct meta_volume_reads {
		uint64_t sid;		/* 0: free */
		uint64_t local, remote;
	} reads[META_VOLUME_READERS];
};
TAILQ_HEAD(meta_volume_list, meta_volume);
/*
 * even: its pextents are spread evenly, not localized (SPEC 6.8): placement
 * ignores prefer local for them and gives each chunk about as many of its
 * replicas (placement.h), rebalance moves them back when they drift
 * (rebalance.h).
 */
enum { META_VOL_EVEN = 1 };
#define META_VOLUME_PERSIST_LEN offsetof(struct meta_volume, idx)

struct meta_volume_spec {
	const char *name;
	uint64_t size;
	uint32_t replica_num, stripe_num, stripe_size, prefer_cid;
	bool thin;
	bool even;			/* META_VOL_EVEN */
	uint64_t iops, bps, iops_burst, bps_burst;
};

struct meta_volumes {
	struct meta_core *core;
	struct meta_volume **slots;	/* NULL = free */
	uint32_t n, cap;
	struct meta_volume *by_id, *by_name;
	/* deleted volumes whose pextents are still being freed: out of the
	 * indices and the store, holding their slot until the last is gone */
	struct meta_volume_list deleting;
	/* vtable rows the load found without their volume (key, pid) */
	struct meta_dangling { uint8_t key[44]; uint64_t pid; } *dangling;
	uint32_t ndangling, capdangling;
};

void meta_volumes_init(struct meta_volumes *t, struct meta_core *core);
void meta_volumes_free(struct meta_volumes *t);
struct meta_volume *meta_volume_by_id(struct meta_volumes *t, const char *id);
struct meta_volume *meta_volume_by_name(struct meta_volumes *t, const char *name);
/* by id or name, or ENOENT (EAGAIN while it is being created) */
struct meta_volume *meta_volume_find(struct meta_volumes *t, const char *name_or_id,
				     struct merr *e);
/* the volume in slot idx (a pextent's back reference), or NULL */
struct meta_volume *meta_volume_at(struct meta_volumes *t, uint32_t idx);
/* everything about a new volume but its space (provision.c checks that) */
int meta_volume_check_spec(struct meta_volumes *t, struct meta_chunks *chunks,
			   const struct meta_volume_spec *s, struct merr *e);
/* a new volume from a checked spec: id made, indexed, persisted unless it
 * is `creating` (then meta_volume_store when it is done), no extents */
struct meta_volume *meta_volume_add(struct meta_volumes *t, const struct meta_volume_spec *s,
				    bool creating);
void meta_volume_store(struct meta_volumes *t, const struct meta_volume *v);
/* v[vno] = pid (0 = none), persisted */
void meta_volume_set_vext(struct meta_volumes *t, struct meta_volume *v, uint32_t vno,
			  uint64_t pid);
/* v grows to nvext vextents (the new ones empty); not persisted */
void meta_volume_grow(struct meta_volume *v, uint32_t nvext);
/* out of the table and the store with its vtable rows, freed; its pextents
 * must be gone */
void meta_volume_remove(struct meta_volumes *t, struct meta_volume *v);
/* out of the indices and the store (its name is free), onto `deleting`;
 * meta_volume_remove ends it once its pextents are gone */
void meta_volume_detach(struct meta_volumes *t, struct meta_volume *v);

/* load: volumes, then vtable rows (back references set in pexts) */
int meta_volumes_load(struct meta_volumes *t, char *err, size_t len);
int meta_volumes_load_vtable(struct meta_volumes *t, struct meta_pexts *pexts, char *err,
			     size_t len);
/* after the load: delete the vtable rows of volumes that are gone and free
 * every pextent no volume holds (a delete cut short by a restart) */
void meta_volumes_load_orphans(struct meta_volumes *t, struct meta_pexts *pexts);

/* session sid reports v's reads (counters since its attach) */
void meta_volume_note_reads(struct meta_volume *v, struct meta_sessions *ss, uint64_t sid,
			    uint64_t local, uint64_t remote);
/* the sum over the sessions still alive that reported v's reads */
void meta_volume_reads(const struct meta_volume *v, struct meta_sessions *ss, uint64_t *local,
		       uint64_t *remote);

#endif
