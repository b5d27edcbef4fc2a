/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pextent table: every physical extent by pid (pids come from core's
 * counter and are never reused), its location, generation, owner and the
 * liveness of its replicas.
 *
 * The table is a directory of pages of META_PEXT_PAGE pextents: a page
 * exists while it holds a live pextent, so memory follows the pextents that
 * exist, not the highest pid ever handed out, and growing never copies the
 * table. Pointers into a page stay valid while its pextents live.
 *
 * The invariants kept here: a replica on a chunk is charged to that chunk's
 * space counters for as long as it is in the location (meta_chunk_charge,
 * nowhere else); p->owner is the session whose owned list holds the pid.
 */
#ifndef ZBS_META_PEXTENT_H
#define ZBS_META_PEXTENT_H

#include <uthash.h>

#include "chunk.h"
#include "core.h"
#include "session.h"

/* PEXT_REVOKING: the owner was asked to give the lease back; no one else
 * gets it until the owner acknowledges or its session ends */
enum { PEXT_USED = 1, PEXT_EVER_EXIST = 2, PEXT_THIN = 4, PEXT_REVOKING = 8 };

/*
 * In memory. The record (META_PEXT_REC_LEN bytes) also has the origin (the
 * pextent a clone reads through, SPEC 1.8): rare, so it lives in a side
 * table (meta_pext_origin), not in every pextent.
 */
struct meta_pext {
	uint64_t epoch, meta_gen, lease_epoch;
	uint64_t owner;			/* session id, 0 = none */
	uint32_t location;		/* packed cids, slot 0 = low byte */
	uint32_t vol, vextent_no;	/* back reference: the volume's slot */
	uint8_t expected, preferred_cid, flags, pad;
	uint32_t alive_location;
	uint32_t last_access_s;		/* for idle owner release */
	uint32_t seen_s[ZBS_LOC_SLOTS];	/* last data report per slot */
	uint64_t gen_seen;		/* highest gen a current replica reported */
	uint32_t gen_seen_s;		/* ... when (or the last change of owner) */
	/* the owner's list of pids (0 = none); changed only by
	 * meta_pext_set_owner */
	uint64_t owned_prev, owned_next;
};

/*
 * A gen the extent can have: at most what its replicas reported, plus the
 * writes it can have taken since (an extent takes far fewer than
 * PEXT_GEN_RATE_MAX writes a second) and a margin. A removal with a gen
 * beyond it is refused: one wrong gen would make every replica stale.
 */
#define PEXT_GEN_RATE_MAX	1000000ULL
#define PEXT_GEN_SLACK_S	30ULL

#define META_PEXT_PAGE_SHIFT	14
#define META_PEXT_PAGE		(1ULL << META_PEXT_PAGE_SHIFT)

/* a pextent's origin, for those that have one */
struct meta_pext_origin {
	uint64_t pid;
	uint64_t origin_pid, origin_epoch;
	UT_hash_handle hh;
};

struct meta_pexts {
	struct meta_core *core;
	struct meta_pext_origin *origins;	/* by pid */
	struct meta_chunks *chunks;
	struct meta_sessions *sessions;
	struct meta_pext **pages;	/* by pid >> META_PEXT_PAGE_SHIFT, NULL = none live */
	uint32_t *page_live;		/* live pextents per page */
	uint64_t npages;		/* directory length */
	uint64_t npext;			/* highest pid + 1 */
	uint64_t live;			/* pextents in use */
	uint64_t scan_cursor;		/* next pid of the sliced scan */
};

void meta_pexts_init(struct meta_pexts *t, struct meta_core *core, struct meta_chunks *chunks,
		     struct meta_sessions *sessions);
void meta_pexts_free(struct meta_pexts *t);

/* the pextent pid in use, or NULL */
static inline struct meta_pext *meta_pext(const struct meta_pexts *t, uint64_t pid)
{
	struct meta_pext *page;

	if (!pid || pid >= t->npext || !(page = t->pages[pid >> META_PEXT_PAGE_SHIFT]))
		return NULL;
	page += pid & (META_PEXT_PAGE - 1);
	return page->flags & PEXT_USED ? page : NULL;
}

/* a new pextent (pid and epoch from the counters) on the chunks of loc,
 * charged to them, persisted; returns its pid */
uint64_t meta_pext_new(struct meta_pexts *t, uint32_t loc, bool thin, uint32_t expected,
		       uint32_t preferred_cid, uint32_t vol, uint32_t vno);
/* delete pid: off its chunks' counters and its owner's list, unpersisted */
void meta_pext_free(struct meta_pexts *t, uint64_t pid);
void meta_pext_store(struct meta_pexts *t, uint64_t pid);
/*
 * Make s (NULL: no one) the owner of pid in memory: off its old owner's
 * list, onto s's, both lease counts kept. Every change of p->owner goes
 * through here so "the pids of session S" costs what S owns, not a walk of
 * the table. The caller persists the pextent.
 */
void meta_pext_set_owner(struct meta_pexts *t, uint64_t pid, struct meta_session *s);
/* take cid out of pid's location (and alive location), uncharged; the
 * remaining slots keep their last-seen times. The caller persists. */
void meta_pext_remove_cid(struct meta_pexts *t, uint64_t pid, uint32_t cid);
/* dst takes replace's slot in pid's location (replace 0: appended, SPEC
 * 1.6), charged to dst (as a fresh replica) and replace uncharged; dst is
 * alive, seen now. The caller checked the slots and persists. */
void meta_pext_replace_cid(struct meta_pexts *t, uint64_t pid, uint32_t replace, uint32_t dst);
/* pid's origin (0, 0 = none) */
void meta_pext_origin(const struct meta_pexts *t, uint64_t pid, uint64_t *origin_pid,
		      uint64_t *origin_epoch);
/* the next pid in use at or after pid, 0 if none (skips absent pages) */
uint64_t meta_pext_next(const struct meta_pexts *t, uint64_t pid);

/* load: rows (in the read transaction), charged to their chunks; then,
 * after it and the sessions, owners onto their sessions' lists (revoke
 * marks of ended sessions cleared) */
int meta_pexts_load(struct meta_pexts *t, char *err, size_t len);
void meta_pexts_link_owners(struct meta_pexts *t);

#endif
