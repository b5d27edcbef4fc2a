/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zbs-metad state: chunks, topology, sessions, volumes, vtables, pextents.
 *
 * One event-loop thread owns all of it (no locks). The state functions in
 * cluster.c, volume.c and lease.c validate a request completely before they
 * change anything, then change memory and queue the change in the store's
 * open transaction (store.c); the server commits that transaction before it
 * sends any reply (group commit, once per loop iteration). Time comes from
 * m->now_ns (monotonic) and m->wall_ns, set by the caller, so tests drive
 * the clock themselves. With m->store == NULL nothing is persisted (tests).
 */
#ifndef ZBS_META_H
#define ZBS_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#include "location.h"

#define ZBS_EXTENT_SIZE		(256ULL << 20)
#define ZBS_SECTOR_SIZE		512ULL
#define META_MAX_CID		255		/* 8-bit cids in a location */
#define META_MAX_VEXTENTS	(1U << 22)	/* 1 PiB volumes */
#define META_NAME_MAX		63

enum { CHUNK_INIT = 0, CHUNK_HEALTHY = 1, CHUNK_SESSION_EXPIRED = 2 };
enum { TOPO_ZONE = 1, TOPO_RACK = 2, TOPO_BRICK = 3, TOPO_NODE = 4 };
enum { CMD_REVOKE_VOLUME = 1, CMD_REVOKE_PID = 2, CMD_REVOKE_ALL = 3, CMD_GC_DELETE = 4 };
enum { CAP_DATA_REPORT = 1, CAP_REVOKE = 2, CAP_GC = 4, CAP_REVOKE_ACK = 8 };
#define META_CAPS (CAP_DATA_REPORT | CAP_REVOKE | CAP_GC | CAP_REVOKE_ACK)

/* default topology objects every cluster has */
#define TOPO_DEFAULT_ZONE	1
#define TOPO_DEFAULT_RACK	2
#define TOPO_DEFAULT_BRICK	3

/* An error as a value: an RPC status and a message naming the object. */
struct merr {
	int status;			/* enum zbs_rpc_status */
	char msg[256];
	uint64_t owner_session;
	uint32_t owner_cid;
};
int merr_set(struct merr *e, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct meta_space {
	uint64_t total, valid, used, thin_used;
};

/* Persisted as raw bytes: keep fixed-size, no pointers. */
struct meta_chunk {
	uint32_t cid;			/* 0: free slot */
	uint32_t status;
	char uuid[40];
	char data_ip[48];
	char rpc_ip[48];
	uint16_t data_port, rpc_port;
	uint32_t pad;
	uint64_t topo_id;
	uint64_t registered_ns;
	struct meta_space space;
	uint64_t session_id;
	uint64_t caps;
	/* in memory only (recomputed at load) */
	uint32_t thick_pids, thin_pids, new_thin_pids;
};

struct meta_topo {
	uint64_t id;
	uint32_t type;
	uint32_t pad;
	uint64_t parent;
	char name[64];
};

struct meta_cmd {
	uint32_t type;
	uint64_t pid, epoch;
	char volume_id[40];
	uint64_t id;			/* revokes: acknowledged by this id */
};

struct meta_session {
	uint64_t id;
	uint32_t cid;
	uint32_t alive;
	uint64_t expire_wall_ns;	/* persisted */
	/* in memory */
	uint64_t expire_ns;		/* monotonic */
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
	uint32_t nrevokes, caprevokes;
	struct meta_cmd *revokes;
	uint64_t next_cmd_id;
	UT_hash_handle hh;		/* meta.session_by_id */
};

struct meta_volume {
	char id[40];
	char name[META_NAME_MAX + 1];
	uint64_t size;
	uint32_t replica_num, stripe_num, stripe_size, prefer_cid;
	uint32_t thin, nvext;
	uint64_t iops, bps, iops_burst, bps_burst;
	uint64_t created_ns;
	/* ^ persisted up to here */
	uint32_t idx;			/* slot in meta.vols */
	uint32_t allocated;		/* pextents in the vtable */
	uint64_t *vtable;		/* vextent_no -> pid (0 = none) */
	UT_hash_handle hh_id, hh_name;	/* meta.vol_by_id, meta.vol_by_name */
};
#define META_VOLUME_PERSIST_LEN offsetof(struct meta_volume, idx)

/* PEXT_REVOKING: the owner was asked to give the lease back; no one else
 * gets it until the owner acknowledges or its session ends */
enum { PEXT_USED = 1, PEXT_EVER_EXIST = 2, PEXT_THIN = 4, PEXT_REVOKING = 8 };

/* One pextent; the table is a vector indexed by pid (pids are never reused). */
struct meta_pext {
	uint64_t epoch, meta_gen, lease_epoch;
	uint64_t origin_pid, origin_epoch;
	uint64_t owner;			/* session id, 0 = none */
	uint32_t location;		/* packed cids, slot 0 = low byte */
	uint32_t vol, vextent_no;	/* back reference: meta.vols slot */
	uint8_t expected, preferred_cid, flags, pad;
	/* ^ persisted up to here */
	uint32_t alive_location;
	uint32_t last_access_s;		/* for idle owner release */
	uint32_t seen_s[ZBS_LOC_SLOTS];	/* last data report per slot */
	uint64_t gen_seen;		/* highest gen a current replica reported */
	uint32_t gen_seen_s;		/* ... when (or the last change of owner) */
	/* the owner's list of pids (0 = none): pids, not pointers, as the
	 * table moves when it grows; changed only by meta_pext_set_owner */
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
#define META_PEXT_PERSIST_LEN offsetof(struct meta_pext, alive_location)

struct meta_config {
	uint32_t session_lease_ms;	/* 10 s */
	uint32_t keepalive_ms;		/* advised to chunks: lease / 4 */
	uint32_t alive_grace_ms;	/* 10 min */
	uint32_t idle_release_ms;	/* 1 h */
};

struct meta_store;

struct meta {
	struct meta_config cfg;
	struct meta_store *store;
	uint64_t now_ns, wall_ns;
	uint64_t start_ns;
	uint64_t next_cid, next_pid, next_epoch, next_session, next_topo;
	struct meta_chunk chunks[META_MAX_CID + 1];	/* by cid */
	struct meta_topo *topo;
	uint32_t ntopo, captopo;
	/* the arrays are for iteration; lookups go through the hashes */
	struct meta_session **sessions;
	uint32_t nsessions, capsessions;
	struct meta_session *session_by_id;
	struct meta_volume **vols;	/* by slot, NULL = free */
	uint32_t nvols, capvols;
	struct meta_volume *vol_by_id, *vol_by_name;
	struct meta_pext *pext;		/* by pid */
	uint64_t npext, cappext;	/* npext = highest pid + 1 */
	uint64_t live_pext;
	uint64_t scan_cursor;		/* next pid of the sliced scan */
	uint64_t last_tick_ns;		/* meta_tick: when the last one began */
};

/* seconds since start, for the compact per-pextent timestamps */
static inline uint32_t meta_now_s(const struct meta *m)
{
	return (uint32_t)((m->now_ns - m->start_ns) / 1000000000ULL);
}

int meta_init(struct meta *m, const struct meta_config *cfg);
void meta_free(struct meta *m);
void meta_set_clock(struct meta *m, uint64_t now_ns, uint64_t wall_ns);

/* ---- cluster.c: chunks, topology, sessions ---------------------------- */
int meta_register_chunk(struct meta *m, const char *uuid, const char *data_addr,
			const char *rpc_addr, struct meta_chunk **out, struct merr *e);
struct meta_chunk *meta_chunk(struct meta *m, uint32_t cid);
int meta_topo_create(struct meta *m, uint32_t type, const char *name,
		     uint64_t parent, struct meta_topo **out, struct merr *e);
struct meta_topo *meta_topo_find(struct meta *m, uint64_t id);
int meta_topo_move(struct meta *m, uint32_t cid, uint64_t id, uint64_t parent,
		   struct merr *e);
int meta_session_create(struct meta *m, uint32_t cid, const char *uuid,
			uint64_t caps, struct meta_session **out, struct merr *e);
struct meta_session *meta_session_find(struct meta *m, uint64_t id);
/* alive session or error ESESSION */
struct meta_session *meta_session_get(struct meta *m, uint64_t id, struct merr *e);
struct meta_replica_report { uint64_t pid, epoch, gen; };
int meta_keepalive(struct meta *m, uint64_t sid, const struct meta_space *space,
		   const struct meta_replica_report *reps, size_t nreps,
		   bool has_report, uint64_t caps, struct meta_session **out,
		   struct merr *e);
int meta_session_leave(struct meta *m, uint64_t sid, struct merr *e);
/* Expire sessions past their lease; returns how many expired. */
int meta_expire_sessions(struct meta *m);
/*
 * The server's periodic work, due every tick_ns: give sessions back the time
 * the loop was away (see cluster.c), expire sessions, scan a slice of
 * pextents. Returns the sessions expired.
 */
int meta_tick(struct meta *m, uint64_t tick_ns);
/* queue c for s's next keepalive reply unless the same command (type, pid,
 * epoch, volume) is queued already */
void meta_session_queue(struct meta *m, struct meta_session *s, const struct meta_cmd *c);
/* the queued commands went out: empty the queue (the only way to) */
void meta_session_cmds_sent(struct meta_session *s);
/* a revoke s must acknowledge: sent with every keepalive reply until then
 * (at most META_REVOKES_PER_REPLY in one reply) */
#define META_REVOKES_PER_REPLY 1024
void meta_session_revoke_pending(struct meta_session *s, const struct meta_cmd *c);
uint64_t meta_cluster_caps(const struct meta *m);
/* allocated space of a chunk per SPEC 7.1 (thin report + new thin + thick) */
uint64_t meta_chunk_allocated(const struct meta_chunk *c);

/* names of volumes and topology objects: 1-63 of [A-Za-z0-9._-], no leading '-' */
bool meta_valid_name(const char *s);
/* for store_load: add a session / a volume (its persisted fields) */
struct meta_session *meta_session_add(struct meta *m, uint64_t id, uint32_t cid);
struct meta_volume *meta_volume_load(struct meta *m, const struct meta_volume *rec);

/* ---- volume.c ---------------------------------------------------------- */
struct meta_volume_spec {
	const char *name;
	uint64_t size;
	uint32_t replica_num, stripe_num, stripe_size, prefer_cid;
	bool thin;
	uint64_t iops, bps, iops_burst, bps_burst;
};
int meta_volume_validate(struct meta *m, const struct meta_volume_spec *s, struct merr *e);
int meta_volume_create(struct meta *m, const struct meta_volume_spec *s,
		       struct meta_volume **out, struct merr *e);
struct meta_volume *meta_volume_find(struct meta *m, const char *name_or_id, struct merr *e);
struct meta_volume *meta_volume_by_id(struct meta *m, const char *id);
struct meta_volume *meta_volume_by_name(struct meta *m, const char *name);
int meta_volume_resize(struct meta *m, struct meta_volume *v, uint64_t size, struct merr *e);
int meta_volume_delete(struct meta *m, struct meta_volume *v, struct merr *e);
/* allocate a pextent for v[vno], placing its replicas (prefer_cid first) */
int meta_pext_alloc(struct meta *m, struct meta_volume *v, uint32_t vno,
		    uint32_t prefer_cid, uint64_t *pid, struct merr *e);
static inline struct meta_pext *meta_pext(struct meta *m, uint64_t pid)
{
	return pid && pid < m->npext && (m->pext[pid].flags & PEXT_USED) ? &m->pext[pid] : NULL;
}

/* ---- lease.c ----------------------------------------------------------- */
enum { LEASE_READ = 0, LEASE_WRITE = 1 };
int meta_get_vextent_lease(struct meta *m, struct meta_volume *v, uint32_t vno,
			   int mode, uint64_t sid, uint64_t *pid, struct merr *e);
int meta_release_lease(struct meta *m, uint64_t pid, uint64_t sid, struct merr *e);
int meta_remove_replica(struct meta *m, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
			uint32_t cid, uint64_t gen, uint64_t sid, struct merr *e);
int meta_set_existence(struct meta *m, uint64_t pid, uint64_t epoch, uint64_t sid,
		       struct merr *e);
/* revoke: by volume (v), pid or session; returns owners released or -1 */
int meta_revoke(struct meta *m, struct meta_volume *v, uint64_t pid, uint64_t sid,
		struct merr *e);
/*
 * Make s (NULL: no one) the owner of pid in memory: off its old owner's
 * list, onto s's, both lease counts kept. Every change of p->owner goes
 * through here so "the pids of session S" costs what S owns, not a walk of
 * the table. The caller persists the pextent.
 */
void meta_pext_set_owner(struct meta *m, uint64_t pid, struct meta_session *s);
/* release the owner of p (persisted); queue a revoke to it if notify */
void meta_pext_release_owner(struct meta *m, uint64_t pid, bool notify);
/* Ask the owner to give pid's lease back (ARCHITECTURE 4a): released when
 * it acknowledges (meta_revoke_acked) or its session ends; at once, with a
 * one-time notice, for a chunk that cannot acknowledge. */
void meta_pext_revoke_owner(struct meta *m, uint64_t pid);
/* The chunk of session s acknowledged revoke command id; 0, or -1 if unknown. */
int meta_revoke_acked(struct meta *m, struct meta_session *s, uint64_t id);
/* After a load: re-send the revokes that were pending (PEXT_REVOKING). */
void meta_revokes_reload(struct meta *m);
/* release all owners of session sid (expiry/leave) */
uint32_t meta_release_session_leases(struct meta *m, uint64_t sid);
/*
 * Idle owner release and alive_location grace over the next `budget`
 * pextents (a slice: the scan resumes where the last one stopped and wraps
 * around); returns owners released.
 */
uint32_t meta_scan_pextents(struct meta *m, uint64_t budget);
/* data report of cid: update alive slots; queue GC deletes for dead pids */
void meta_data_report(struct meta *m, struct meta_session *s,
		      const struct meta_replica_report *reps, size_t n);

/* ---- store.c: LMDB ------------------------------------------------------ */
int store_open(struct meta_store **out, const char *dir, char *err, size_t errlen);
void store_close(struct meta_store *s);
int store_load(struct meta_store *s, struct meta *m);
/* queue puts/deletes in the open write transaction (opened on demand) */
void store_counters(struct meta *m);
void store_chunk(struct meta *m, const struct meta_chunk *c);
void store_topo(struct meta *m, const struct meta_topo *t);
void store_session(struct meta *m, const struct meta_session *s);
void store_session_del(struct meta *m, uint64_t id);
void store_volume(struct meta *m, const struct meta_volume *v);
void store_volume_del(struct meta *m, const struct meta_volume *v);
void store_vtable(struct meta *m, const struct meta_volume *v, uint32_t vno);
void store_pext(struct meta *m, uint64_t pid);
void store_pext_del(struct meta *m, uint64_t pid);
/* commit the open transaction (if any); aborts the process on failure */
void store_commit(struct meta_store *s);
bool store_dirty(const struct meta_store *s);

#endif
