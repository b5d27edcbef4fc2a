/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The recovery scheduler (SPEC 5, the product's RecoverManager and the
 * recover queues of its AccessManager): it finds the pextents that need a
 * replica, makes their cmds with the policy of recovery.h over the tables,
 * hands each to its owner's session through the keepalive replies, and
 * ends it: ReplaceReplica, a failure, a timeout or a revocation.
 *
 * Its state hangs off meta.sched (NULL: no scheduler, every hook here does
 * nothing), made by meta_sched_init after meta_load and freed by
 * meta_sched_free before meta_free. Only its config is persisted (one
 * record, REC_RECOVER): cmds live in memory, as in the product; a metad
 * that restarts forgets them, the chunks' ReplaceReplica for them are
 * refused (unknown cmd) and the next scan issues them again.
 *
 * Where pids come from (SPEC 5.2):
 *  - the waiting set: pids queued at once by RemoveReplica, pids whose cmd
 *    ended without success (after META_SCHED_BACKOFF_MS), and the pids the
 *    scan found; worked through up to META_SCHED_ISSUE per tick, a pid
 *    that cannot have a cmd yet (no slot, no owner, no space) tried again
 *    META_SCHED_RETRY_MS later;
 *  - the scan: every pextent, META_SCHED_SLICE of them per tick, every
 *    scan_interval_ms, at once on RecoverScan and when a session ends (its
 *    chunk's replicas stop counting); none in the first two session leases
 *    after the start, while the chunks reconnect.
 *  - chunk removal (chunk_admin.h): the scan also queues the whole
 *    pextents with a replica on a chunk being removed; they get a migrate
 *    off it (meta_recover_plan_drain), a recover first if they need one.
 *
 * Our choices:
 *  - a replica counts only while its chunk has a live session: a chunk
 *    whose session expired (no keepalive for session_lease_ms, 10 s) has
 *    its replicas recovered at once (the scan its expiry starts), not after
 *    the alive grace of its reports (SPEC 4.6, 10 min). A chunk back with a
 *    new session counts again; the cmds for its replicas run on (they are
 *    sound, just not needed) and replace them.
 *  - only a session whose chunk announced CAP_RECOVER owns a cmd; a pid
 *    owned by a session that does not waits (its owner keeps it until it
 *    releases it or goes idle).
 *  - an owner allocated for a cmd (the pid had none) is given the lease as
 *    any new owner (meta_pext_grant_owner); a cmd that ends without success
 *    gives it back unless the owner has used the lease for IO since.
 *  - a cmd is void (released REVOKED, with its undo) when its pextent is
 *    gone, its lease moved (owner or lease_epoch changed, or being revoked)
 *    or its owner's session ended; checked every tick and before it is sent.
 *  - a cmd ended without success after it went out has its dst GC'd
 *    (CMD_GC_DELETE on dst's session), acknowledged or not.
 *  - a chunk named as the failed replica by RemoveReplica is likely dying
 *    (its disk, its network): the scan does not make it a recover dst
 *    while it keeps the session it had then, for failed_hold_ms (default
 *    the session lease: by then a dying chunk has lost its session). A new
 *    session (the chunkd restarted) clears it at once. A manual migrate
 *    may still name it: the operator knows better.
 */
#ifndef ZBS_META_SCHEDULER_H
#define ZBS_META_SCHEDULER_H

#include <sys/queue.h>
#include <uthash.h>

#include "meta.h"
#include "recovery.h"

#define META_SCHED_SLICE	4096	/* pextents a tick's scan looks at */
#define META_SCHED_ISSUE	256	/* waiting pids a tick tries */
#define META_SCHED_BACKOFF_MS	10000	/* a pid whose cmd failed waits */
#define META_SCHED_RETRY_MS	1000	/* a pid that could not have a cmd */
#define META_SCHED_RATE_MS	10000	/* the window of the copy rate */

struct meta_sched_config {
	uint32_t slots;			/* cmd slots per chunk (SPEC 5.5) */
	uint32_t concurrency;		/* cmds a chunk runs at once */
	uint64_t bps;			/* per-chunk copy bandwidth, 0 = unlimited */
	uint32_t timeout_ms;		/* a cmd's time limit */
	uint32_t scan_interval_ms;	/* the periodic scan */
	/* not persisted (a metad option): how long a chunk with a failed
	 * replica is no recover dst; 0 = the session lease */
	uint32_t failed_hold_ms;
};
#define META_SCHED_SLOTS_MAX		100000
#define META_SCHED_CONCURRENCY_MAX	4096
#define META_SCHED_TIMEOUT_MIN_MS	1000
#define META_SCHED_SCAN_MIN_MS		1000
extern const struct meta_sched_config meta_sched_defaults;

struct meta_sched_cmd {
	struct meta_recover_cmd rc;
	uint64_t id;
	uint64_t sid;			/* the owner's session */
	uint64_t lease_epoch;		/* of the owner's lease when made */
	uint64_t meta_gen;
	uint32_t grant_access_s;	/* the lease's last access when granted */
	bool thick;
	bool agile;			/* dst catches up from since_gen (agile.h) */
	uint64_t since_gen;
	bool sent;			/* went out in a keepalive reply */
	bool acked;			/* the owner acknowledged it (delivered) */
	uint64_t bytes_copied, bytes_total;
	TAILQ_ENTRY(meta_sched_cmd) link;	/* all, oldest first */
	TAILQ_ENTRY(meta_sched_cmd) owner_link;	/* its owner's */
	UT_hash_handle hh;		/* by id */
	UT_hash_handle hh_pid;		/* by pid */
};
TAILQ_HEAD(meta_sched_cmd_list, meta_sched_cmd);

/* the cmds a session owns */
struct meta_sched_owner {
	uint64_t sid;
	struct meta_sched_cmd_list cmds;
	uint32_t n;
	UT_hash_handle hh;
};

struct meta_sched_wait {
	uint64_t pid;
	uint64_t not_before_ms;
	UT_hash_handle hh;
};

struct meta_sched_stats {
	uint64_t need_recover, dead, at_risk;
};

struct meta_sched {
	struct meta_sched_config cfg;
	struct meta_recover_slots slots;
	struct meta_sched_cmd_list cmds;
	struct meta_sched_cmd *by_id, *by_pid;
	struct meta_sched_owner *owners;
	uint32_t ncmds;
	uint64_t next_id;
	struct meta_sched_wait *waiting;	/* by pid, in order of queueing */
	/* the scan */
	bool scanning;
	bool again;			/* asked for while scanning: start over after */
	uint64_t scan_pid;		/* the next pid it looks at */
	uint64_t next_scan_ms;		/* when the next one starts */
	uint64_t last_scan_ms;		/* when the last full one ended, 0 = none */
	uint64_t quiet_until_ms;	/* no scan before (two session leases
					 * after the start: chunks reconnect) */
	struct meta_sched_stats counting, stats;	/* the one running, the last */
	/* counters since start */
	uint64_t done, failed;
	/* the copy rate */
	uint64_t rate_bytes, rate_from_ms, rate_bps;
	/* the last failure reported of a replica on each chunk (RemoveReplica)
	 * and the chunk's session then; at_ms 0 = none */
	struct { uint64_t at_ms, sid; } chunk_failed[META_MAX_CID + 1];
};

/* make m->sched: cfg (the metad options; NULL = meta_sched_defaults),
 * unless the store holds a config, which wins; 0 or -1 (logged) */
int meta_sched_init(struct meta *m, const struct meta_sched_config *cfg);
void meta_sched_free(struct meta *m);
/* milliseconds of the meta clock */
uint64_t meta_sched_now_ms(const struct meta *m);

/* the config: fields of c that are 0 are kept; validated, persisted */
int meta_sched_set(struct meta *m, const struct meta_sched_config *c, struct merr *e);
/* does pid have a recover or migrate cmd? */
bool meta_sched_has_cmd(const struct meta *m, uint64_t pid);
/* start a full scan now (RecoverScan; a session ended) */
void meta_sched_scan_now(struct meta *m);
/* a replica on chunk cid was reported failed (RemoveReplica): no recover
 * dst for a while */
void meta_sched_chunk_failed(struct meta *m, uint32_t cid);
/* is cid held back as a recover dst (meta_sched_chunk_failed)? */
bool meta_sched_chunk_failing(struct meta *m, uint32_t cid);
/* pid lost a replica (RemoveReplica): try it at the next tick */
void meta_sched_wait_pid(struct meta *m, uint64_t pid, uint64_t not_before_ms);
/* the loop's periodic work: void and time out cmds, a slice of the scan,
 * then a slice of the waiting set */
void meta_sched_tick(struct meta *m);

/* ---- the owner's side ---- */

/* session s ended: its cmds are void; a scan starts */
void meta_sched_session_ended(struct meta *m, uint64_t sid);
/* s acknowledged cmd id (KeepAliveRequest.recover_acks): delivered */
void meta_sched_acked(struct meta *m, const struct meta_session *s, uint64_t id);
/* s reported the progress of cmd id */
void meta_sched_progress(struct meta *m, const struct meta_session *s, uint64_t id,
			 uint64_t copied, uint64_t total);
/* the cmds to send in s's keepalive reply (owned by s, not acknowledged,
 * still valid), up to max; returns how many */
uint32_t meta_sched_to_send(struct meta *m, const struct meta_session *s,
			    struct meta_sched_cmd **out, uint32_t max);

struct meta_sched_replace {
	uint64_t sid, cmd_id, pid, epoch, lease_epoch, gen;
	uint32_t src, dst, replace;
	bool ok;
	const char *error;
	uint64_t bytes_copied;
};
/*
 * ReplaceReplica (the end of a cmd, from its owner). A request that does
 * not come from the owner of a live cmd with that id changes nothing;
 * from the owner, anything else than a good ok = true ends the cmd FAILED
 * (its undo done, the pid waits META_SCHED_BACKOFF_MS). 0 when the request
 * was taken (ok = false included), -1 with e.
 */
int meta_sched_replace(struct meta *m, const struct meta_sched_replace *r, struct merr *e);

/* ---- operators ---- */

/* a topology change of chunk cid (or of an object above it: id) revokes
 * every cmd with one of those chunks as src or dst (SPEC 5.6); returns how
 * many */
uint32_t meta_sched_topo_changed(struct meta *m, uint32_t cid, uint64_t id);
/* revoke every cmd with chunk cid as src or dst (why: for the log);
 * returns how many */
uint32_t meta_sched_revoke_chunk(struct meta *m, uint32_t cid, const char *why);
/* a manual migrate (SPEC 5.7) */
int meta_sched_migrate(struct meta *m, uint64_t pid, uint32_t src, uint32_t dst,
		       uint32_t replace, struct meta_sched_cmd **out, struct merr *e);

struct meta_sched_status {
	struct meta_sched_stats stats;
	uint32_t running, waiting;	/* cmds delivered, issued not yet */
	uint64_t bytes_left, rate_bps, eta_ms;
	uint64_t done, failed;
	uint64_t last_scan_ago_ms;	/* 0: none yet */
};
void meta_sched_status(struct meta *m, struct meta_sched_status *st);

#endif
