/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The session table: one session per chunk at a time (ids from core's
 * counter), its lease on life, and what goes out with its keepalive
 * replies: one-time commands (each at most once in the queue) and the
 * revokes the chunk must acknowledge. The pids a session owns form a list
 * kept by the pextent table (owned_first/last, leases).
 */
#ifndef ZBS_META_SESSION_H
#define ZBS_META_SESSION_H

#include <sys/queue.h>
#include <uthash.h>

#include "chunk.h"
#include "core.h"

struct meta_cmd {
	uint32_t type;
	uint64_t pid, epoch;
	char volume_id[40];
	uint64_t id;			/* revokes: acknowledged by this id */
};

/* a revoke waiting for its acknowledgement */
struct meta_revoke {
	struct meta_cmd cmd;
	TAILQ_ENTRY(meta_revoke) link;	/* in order of asking */
	UT_hash_handle hh_id;		/* by cmd.id */
	UT_hash_handle hh_key;		/* by what it revokes (type, pid, volume) */
	char key[64];
};
TAILQ_HEAD(meta_revoke_list, meta_revoke);

struct meta_session {
	uint64_t id;
	uint32_t cid;
	uint32_t alive;
	uint64_t expire_wall_ns;	/* persisted */
	/* in memory */
	uint64_t expire_ns;		/* monotonic */
	bool dirty;			/* expiry moved, written by the next tick */
	uint64_t report_seq;		/* the data report applied last (0: none) */
	bool report_delta;		/* ... a delta */
	uint64_t report_entries;	/* ... of this many replicas and removals */
	uint32_t leases;		/* pextents owned: the length of the list */
	uint64_t owned_first, owned_last; /* the pids it owns, linked (0 = none) */
	uint32_t ncmds, capcmds;
	struct meta_cmd *cmds;		/* sent once, with the next keepalive reply */
	/* open-addressing set over cmds (index + 1, 0 = empty), for O(1)
	 * duplicate detection; emptied with cmds by meta_session_cmds_sent */
	uint32_t *cmd_slots;
	uint32_t capslots;		/* a power of two, > 2 * ncmds */
	/* revokes of this session's leases: sent with every keepalive reply
	 * until the chunk acknowledges them (its kernel drained the IO) */
	struct meta_revoke_list revokes;
	struct meta_revoke *revoke_by_id, *revoke_by_key;
	uint32_t nrevokes;
	uint64_t next_cmd_id;
	UT_hash_handle hh;		/* meta_sessions.by_id */
	TAILQ_ENTRY(meta_session) dying_link;	/* ended, leases still to release */
};
TAILQ_HEAD(meta_session_list, meta_session);

struct meta_sessions {
	struct meta_core *core;
	/* the array is for iteration; lookups go through the hash */
	struct meta_session **all;
	uint32_t n, cap;
	struct meta_session *by_id;
	/* ended sessions whose leases are released a slice at a time (the
	 * pids are free meanwhile: their owner is not alive); still found by
	 * id, in neither `all` nor the store */
	struct meta_session_list dying;
	/* read by meta_sessions_load, then reused or dropped */
	struct meta_session *loaded;
	uint32_t nloaded;
};

void meta_sessions_init(struct meta_sessions *t, struct meta_core *core);
void meta_sessions_free(struct meta_sessions *t);
struct meta_session *meta_session_find(struct meta_sessions *t, uint64_t id);
/* alive session or error ESESSION */
struct meta_session *meta_session_get(struct meta_sessions *t, uint64_t id, struct merr *e);
/* a new session of chunk c (its old one must be gone): extended, persisted */
struct meta_session *meta_session_new(struct meta_sessions *t, struct meta_chunks *chunks,
				      struct meta_chunk *c);
/* its lease starts again now */
void meta_session_extend(struct meta_sessions *t, struct meta_session *s);
void meta_session_store(struct meta_sessions *t, const struct meta_session *s);
/* out of the table and the store, freed; it must own nothing any more */
void meta_session_remove(struct meta_sessions *t, struct meta_chunks *chunks,
			 struct meta_session *s);

/* s ended but owns pids still: not alive, out of `all` and the store, onto
 * `dying` until the owner operations released them (meta_session_remove) */
void meta_session_retire(struct meta_sessions *t, struct meta_chunks *chunks,
			 struct meta_session *s);

/* queue c for s's next keepalive reply unless the same command (type, pid,
 * epoch, volume) is queued already */
void meta_session_queue(struct meta_session *s, const struct meta_cmd *c);
/* the queued commands went out: empty the queue (the only way to) */
void meta_session_cmds_sent(struct meta_session *s);
/* a revoke s must acknowledge: sent with every keepalive reply until then
 * (at most META_REVOKES_PER_REPLY in one reply); a revoke of the same thing
 * pending already is not added again */
#define META_REVOKES_PER_REPLY 1024
void meta_session_revoke_pending(struct meta_session *s, const struct meta_cmd *c);
/* is a revoke of the same thing (type, pid, volume) as c pending? */
bool meta_session_revoke_is_pending(struct meta_session *s, const struct meta_cmd *c);
/* take the pending revoke id out: 0 and *c, or -1 if there is none */
int meta_session_revoke_take(struct meta_session *s, uint64_t id, struct meta_cmd *c);

/* capabilities every alive session's chunk has */
uint64_t meta_sessions_caps(const struct meta_sessions *t, const struct meta_chunks *chunks);

/* load: read the rows (in the store's read transaction), then, after it,
 * reuse the unexpired sessions of their chunks (SPEC 2.1) and drop others */
int meta_sessions_load(struct meta_sessions *t, char *err, size_t len);
void meta_sessions_reuse(struct meta_sessions *t, struct meta_chunks *chunks);

#endif
