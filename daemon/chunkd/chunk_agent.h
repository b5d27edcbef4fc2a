/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The access agent's meta-facing core (ARCHITECTURE.md 4, 4a), independent
 * of netlink: what zbs-chunkd does when the kernel asks for the map of a
 * vextent, reports a failed replica or the first write of a pid, and what
 * it relays when meta revokes leases.
 *
 * Map of (volume, vextent, write):
 *   1. GetVExtentLease from meta with the chunk's live session (a read of a
 *      never-allocated vextent answers -ENODATA and allocates nothing; a
 *      write allocates, and meta makes this session the owner, raising
 *      lease_epoch when the owner changes);
 *   2. generation sync: SYNC every replica in location with the lease's
 *      lease_epoch (all in parallel, bounded by data_timeout_ms), drop the
 *      replicas below meta_gen, keep those with the lowest gen among the
 *      rest, RemoveReplica(pid, cid, gen) the others and the unreachable
 *      ones through meta;
 *   3. answer with the kept replicas (location order, data addresses, LOCAL
 *      for this chunk's own cid), the gen to write at, and map_expiry_ms
 *      (the kernel uses a map only while the session pushed with SESSION
 *      holds, and drops it on revokes, which cover owner changes; the
 *      chunks fence a stale owner whatever happens).
 *   A pid asked for again is first drained (ops.drain) and, when its
 *   replicas differ, synced again until they are stable (settle_ms), so
 *   a write still in flight does not get a replica removed.
 * Errors (negative errnos, as the kernel takes them): -ENODATA (never
 * written, read only), -EAGAIN (try later: no session yet, another live
 * session owns the pid, meta or every replica unreachable, a revoke
 * arrived meanwhile, fenced by a newer owner), -ENOENT (no such volume),
 * -EINVAL (vextent out of range), -ENOSPC (cannot place replicas), -EIO
 * (every reachable replica is stale).
 *
 * Threads: requests are queued with chunk_agent_submit() and run by a small
 * worker pool (each worker has its own meta connection and data
 * connections, every call bounded by the configured timeouts), so the
 * netlink thread never waits on meta or a chunk. Results are queued too:
 * chunk_agent_fd() becomes readable and chunk_agent_reap() hands them to the
 * caller's thread (the netlink socket is used from one thread).
 *
 * Revokes: pass chunk_agent_revoke_hook() as the meta session's revoke op.
 * The agent drops its lease cache entries, has the workers make maps
 * still being built again (-EAGAIN after CHUNK_AGENT_REMAKES tries), and
 * calls ops.revoke from a worker thread (relaying to the kernel blocks
 * until IO drained, so it must not run on the session's thread).
 */
#ifndef ZBS_CHUNKD_CHUNK_AGENT_H
#define ZBS_CHUNKD_CHUNK_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk_session.h"

#define CHUNK_AGENT_MAX_REPLICAS	4	/* ZBS_MAX_REPLICAS of zbs_genl.h */
#define CHUNK_AGENT_VOLUME_ID_LEN	40	/* ZBS_VOLUME_ID_LEN of zbs.h */
#define CHUNK_AGENT_RF_LOCAL	1U	/* ZBS_RF_LOCAL */
#define CHUNK_AGENT_RF_RECOVERING 2U	/* ZBS_RF_RECOVERING: writes only, never counted */

/* Same shape as struct zbs_kagent_replica / zbs_kagent_map. */
struct chunk_agent_replica {
	uint32_t cid;
	uint32_t addr4;		/* IPv4, network byte order */
	uint16_t port;		/* host byte order */
	uint32_t flags;		/* CHUNK_AGENT_RF_* */
};

struct chunk_agent_map {
	uint64_t pid, epoch, lease_epoch, gen;
	bool ever_exist;
	uint32_t expiry_ms;	/* >= 1; the kernel also needs the session */
	unsigned nr;		/* >= 1 */
	struct chunk_agent_replica rep[CHUNK_AGENT_MAX_REPLICAS];
};

enum chunk_agent_req_type {
	CHUNK_AREQ_MAP = 1,		/* volume_id, vextent, write */
	CHUNK_AREQ_REPLICA_FAILED,	/* pid, epoch, cid, gen (err: the replica's) */
	CHUNK_AREQ_EXISTENCE,		/* pid, epoch */
};

/* A request, as the kernel sends it (dev_id, req_id are only carried). */
struct chunk_agent_req {
	int type;
	uint32_t dev_id;
	char volume_id[CHUNK_AGENT_VOLUME_ID_LEN];
	uint64_t vextent, req_id;
	bool write;
	uint64_t pid, epoch, lease_epoch, gen;
	uint32_t cid;
	int32_t err;
	uint8_t remade;		/* MAP: times made again for a target change */
};

/* A finished request: err 0 or a negative errno; map valid for MAP with err 0. */
struct chunk_agent_result {
	struct chunk_agent_req req;
	int err;
	struct chunk_agent_map map;
};

struct chunk_agent_config {
	const char *meta_addr;		/* HOST:PORT of zbs-metad */
	unsigned workers;		/* default 8 */
	uint32_t rpc_timeout_ms;	/* each meta call, default 3000 */
	uint32_t data_timeout_ms;	/* connect + SYNC of a replica, default 3000 */
	unsigned max_queue;		/* queued requests before -EBUSY, default 65536 */
	uint32_t map_expiry_ms;		/* a map's own expiry, default 60000 */
	uint32_t settle_ms;		/* re-SYNC of a re-asked pid whose replicas
					 * differ, until stable; default 2000 */
};

struct chunk_agent_ops {
	/* Relay a revoke to the kernel (type CHUNK_SESSION_REVOKE_*; volume_id "" or
	 * pid 0 when not part of it). Called from a worker thread; may block
	 * until the kernel drained. 0: done (meta is told, when it asked);
	 * else meta sends the revoke again. Optional. */
	int (*revoke)(void *arg, int type, const char *volume_id, uint64_t pid);
	/* Wait until the kernel's IO issued under earlier maps of pid drained
	 * (a kernel REVOKE of the pid). Called before a pid this agent mapped
	 * before is synced again, so in-flight writes cannot make replicas
	 * look divergent. From a worker thread; may block. Optional. */
	int (*drain)(void *arg, uint64_t pid);
	void *arg;
};

struct chunk_agent;

/* Start the worker pool. The session may be attached later (requests then
 * answer -EAGAIN). NULL on error (logged). */
struct chunk_agent *chunk_agent_start(const struct chunk_agent_config *cfg,
				      const struct chunk_agent_ops *ops);
void chunk_agent_set_session(struct chunk_agent *a, struct chunk_session *ms);
/*
 * Stop in this order: chunk_agent_shutdown() (joins the workers, which use
 * the session; later submits and revokes are refused), then
 * chunk_session_stop() (whose thread calls the revoke hook), then
 * chunk_agent_stop() (frees; it shuts down first if that was not done).
 */
void chunk_agent_shutdown(struct chunk_agent *a);
void chunk_agent_stop(struct chunk_agent *a);

/* Queue a request; 0, or -EBUSY when the queue is full, -ESHUTDOWN. */
int chunk_agent_submit(struct chunk_agent *a, const struct chunk_agent_req *req);
/* An eventfd, readable while results are waiting. */
int chunk_agent_fd(const struct chunk_agent *a);
/* Take up to max finished requests; returns how many. Never blocks. */
size_t chunk_agent_reap(struct chunk_agent *a, struct chunk_agent_result *out, size_t max);

/* For chunk_session_ops.revoke: arg is the struct chunk_agent. */
void chunk_agent_revoke_hook(void *arg, int type, const char *volume_id, uint64_t pid,
			     uint64_t id);

/* Leases held (cache entries): count, and one by pid (0 or -ENOENT). */
struct chunk_agent_lease {
	char volume_id[CHUNK_AGENT_VOLUME_ID_LEN];
	uint64_t vextent, pid, epoch, lease_epoch, gen;
};
size_t chunk_agent_lease_count(struct chunk_agent *a);
int chunk_agent_lease_get(struct chunk_agent *a, uint64_t pid, struct chunk_agent_lease *out);

/*
 * The synchronous core, on connections owned by the caller (the workers
 * use these; so can tests). A conn is used by one thread at a time.
 */
struct chunk_agent_conn;
struct chunk_agent_conn *chunk_agent_conn_new(struct chunk_agent *a);
void chunk_agent_conn_free(struct chunk_agent_conn *c);
int chunk_agent_get_map(struct chunk_agent_conn *c, const char *volume, uint64_t vextent,
			bool write, struct chunk_agent_map *out);
/*
 * RemoveReplica(pid, cid, gen) under lease_epoch for a replica the kernel
 * dropped: 0 removed (or already out), -ESTALE the lease moved on, -EAGAIN
 * meta cannot answer now. The kernel's writes wait for this answer.
 */
int chunk_agent_replica_failed(struct chunk_agent_conn *c, uint64_t pid, uint64_t epoch,
			       uint64_t lease_epoch, uint32_t cid, uint64_t gen);
/* SetPExtentExistence after the first successful write (errors as above). */
int chunk_agent_existence(struct chunk_agent_conn *c, uint64_t pid, uint64_t epoch);

/*
 * Recovering targets (chunk_recover.h, ARCHITECTURE.md 4a "Recovery with
 * live writes"): while a recover cmd of pid copies to dst, every map of pid
 * the agent answers carries dst as an extra replica with
 * CHUNK_AGENT_RF_RECOVERING (the kernel writes to it, never reads from it,
 * never counts it toward a write's success). One target per pid.
 *  - a map is answered with the target only under the target's own
 *    lease_epoch; a map of a newer lease_epoch aborts the target;
 *  - a finishing target holds the map requests of pid (so the copy can
 *    drain the pid and end it): they wait in the agent and are made again
 *    when chunk_agent_target_del() ends it, answered then, not -EAGAIN
 *    (the kernel would ask again only after a backoff of 100 ms or more,
 *    its writes on the extent parked meanwhile); more than 64 waiting on
 *    one target are answered -EAGAIN; chunk_agent_get_map() itself, which
 *    cannot wait, answers -EAGAIN;
 *  - the target is aborted (chunk_agent_target_aborted() says why) by a
 *    revoke covering pid (its volume, all, the session lost) and by the
 *    kernel reporting dst failed: that report is acknowledged at once
 *    without RemoveReplica (dst is not in meta's location);
 *  - a map answer prepared under another state of the pid's target is
 *    not sent (chunk_agent_map_current()): the request is made again (at
 *    most CHUNK_AGENT_REMAKES times, then -EAGAIN), so once
 *    chunk_agent_target_add() (or _finish, _del) returned and the pid was
 *    drained, no map of the kernel is older than the change. A map whose
 *    making a revoke or target change overlapped is made again the same
 *    way by the worker.
 * add: 0, -EEXIST (pid has one), -EINVAL (addr not IPv4 ip:port), -ENOMEM.
 */
int chunk_agent_target_add(struct chunk_agent *a, uint64_t pid, uint64_t epoch,
			   uint64_t lease_epoch, uint32_t cid, const char *addr);
void chunk_agent_target_finish(struct chunk_agent *a, uint64_t pid);
void chunk_agent_target_del(struct chunk_agent *a, uint64_t pid);
/* true when the target of pid was aborted; why (may be NULL) gets the reason */
bool chunk_agent_target_aborted(struct chunk_agent *a, uint64_t pid, char *why, size_t len);
/*
 * After RECOVER_END, before ReplaceReplica(ok): false when the target was
 * aborted meanwhile (the cmd must fail); true, and from now on a failure
 * report of dst is answered -EAGAIN until the target is gone (then it is
 * removed through meta like any replica's).
 */
bool chunk_agent_target_commit(struct chunk_agent *a, uint64_t pid);
/* Mark it aborted (the first reason is kept). */
void chunk_agent_target_abort(struct chunk_agent *a, uint64_t pid, const char *why);
/* Drain the kernel's IO under the maps of pid (ops.drain); a pid with no
 * map is drained at once. 0 or -errno. */
int chunk_agent_drain(struct chunk_agent *a, uint64_t pid);
/*
 * The sender of map answers: between _answer_lock() and _answer_unlock()
 * no target changes; chunk_agent_map_current() says whether map still
 * matches its pid's target (else submit the request again with remade
 * incremented while it is below CHUNK_AGENT_REMAKES, answer -EAGAIN when
 * it is not).
 */
#define CHUNK_AGENT_REMAKES	2
void chunk_agent_answer_lock(struct chunk_agent *a);
void chunk_agent_answer_unlock(struct chunk_agent *a);
bool chunk_agent_map_current(struct chunk_agent *a, const struct chunk_agent_map *map);

#endif
