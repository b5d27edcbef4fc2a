// SPDX-License-Identifier: GPL-2.0
/* The access agent's meta-facing core: see chunk_agent.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "chunk_agent.h"
#include "data_client.h"
#include "location.h"
#include "log.h"
#include "meta.pb-c.h"
#include "net.h"
#include "rpc.h"
#include "util.h"

#define CONN_DCS	16	/* cached data connections per worker */
#define CACHE_BUCKETS	1024
#define KEY_LOCKS	64
#define PARKED_MAX	64	/* map requests waiting for a target's end */

/* make_map's codes that never reach the kernel */
#define MAP_REMAKE	(-EINTR)	/* a revoke or target change meanwhile */
#define MAP_FINISHING	(-EINPROGRESS)	/* out->pid's target is finishing */

struct job {
	struct chunk_agent_req req;
	bool revoke;			/* a relay job: type/volume/pid below */
	int rv_type;
	char rv_volume[CHUNK_AGENT_VOLUME_ID_LEN];
	uint64_t rv_pid;
	uint64_t rv_id;			/* meta waits for its acknowledgement */
	struct job *next;
};

struct done {
	struct chunk_agent_result res;
	struct done *next;
};

struct lease_ent {
	struct chunk_agent_lease l;
	struct lease_ent *next;
};

/* a recovering target (chunk_agent_target_add) */
struct target {
	uint64_t pid, epoch, lease_epoch;
	uint32_t cid, addr4;		/* addr4: network byte order */
	uint16_t port;
	char volume_id[CHUNK_AGENT_VOLUME_ID_LEN];	/* "" until a map names it */
	bool finishing, aborted;
	bool committed;			/* dst is being given to meta (ok) */
	char why[160];
	struct job *parked;		/* map requests of pid waiting for its end,
					 * oldest first, one per extent */
	unsigned nparked;
	struct target *next;
};

struct chunk_agent {
	struct chunk_agent_config cfg;
	struct chunk_agent_ops ops;
	char meta_addr[256];
	_Atomic(struct chunk_session *) ms;

	pthread_mutex_t qlock;		/* the job queue */
	pthread_cond_t qcond;
	struct job *qhead, **qtail;
	unsigned qlen;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;

	pthread_mutex_t dlock;		/* finished requests */
	struct done *dhead, **dtail;
	int efd;

	pthread_mutex_t clock;		/* lease cache */
	struct lease_ent *cache[CACHE_BUCKETS];
	size_t ncache;
	atomic_uint_fast64_t revoke_seq;

	/* one (volume, vextent) is handled by one worker at a time */
	pthread_mutex_t keylock[KEY_LOCKS];

	pthread_mutex_t tlock;		/* recovering targets; held by the sender
					 * of map answers (chunk_agent_answer_lock) */
	struct target *targets;
};

struct dconn {
	char host[64];
	uint16_t port;
	struct zbs_dc *dc;
	uint64_t used;
};

struct chunk_agent_conn {
	struct chunk_agent *a;
	struct zbs_rpc_client rpc;
	struct dconn dcs[CONN_DCS];
	uint64_t tick;
};

/* ---- lease cache ------------------------------------------------------ */

static unsigned bucket(uint64_t pid)
{
	return (unsigned)((pid * 0x9e3779b97f4a7c15ULL) >> 54) % CACHE_BUCKETS;
}

static void cache_put(struct chunk_agent *a, const struct chunk_agent_lease *l)
{
	struct lease_ent **pp, *e;

	pthread_mutex_lock(&a->clock);
	for (pp = &a->cache[bucket(l->pid)]; *pp; pp = &(*pp)->next)
		if ((*pp)->l.pid == l->pid)
			break;
	e = *pp;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (e) {
			*pp = e;
			a->ncache++;
		}
	}
	if (e)
		e->l = *l;
	pthread_mutex_unlock(&a->clock);
}

/* drop entries matching a revoke; returns how many */
static size_t cache_drop(struct chunk_agent *a, int type, const char *volume_id, uint64_t pid)
{
	size_t n = 0;

	pthread_mutex_lock(&a->clock);
	for (unsigned b = 0; b < CACHE_BUCKETS; b++) {
		struct lease_ent **pp = &a->cache[b];
		while (*pp) {
			struct lease_ent *e = *pp;
			bool match = type == CHUNK_SESSION_REVOKE_ALL ||
				     (type == CHUNK_SESSION_REVOKE_PID && e->l.pid == pid) ||
				     (type == CHUNK_SESSION_REVOKE_VOLUME &&
				      !strcmp(e->l.volume_id, volume_id));
			if (match) {
				*pp = e->next;
				free(e);
				n++;
			} else {
				pp = &e->next;
			}
		}
	}
	a->ncache -= n;
	pthread_mutex_unlock(&a->clock);
	return n;
}

size_t chunk_agent_lease_count(struct chunk_agent *a)
{
	size_t n;

	pthread_mutex_lock(&a->clock);
	n = a->ncache;
	pthread_mutex_unlock(&a->clock);
	return n;
}

int chunk_agent_lease_get(struct chunk_agent *a, uint64_t pid, struct chunk_agent_lease *out)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&a->clock);
	for (struct lease_ent *e = a->cache[bucket(pid)]; e; e = e->next) {
		if (e->l.pid == pid) {
			*out = e->l;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&a->clock);
	return rc;
}

/* ---- connections ------------------------------------------------------ */

struct chunk_agent_conn *chunk_agent_conn_new(struct chunk_agent *a)
{
	struct chunk_agent_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->a = a;
	c->rpc.fd = -1;
	return c;
}

static void dconn_drop(struct dconn *d)
{
	zbs_dc_close(d->dc);
	d->dc = NULL;
	d->host[0] = 0;
	d->port = 0;
}

void chunk_agent_conn_free(struct chunk_agent_conn *c)
{
	if (!c)
		return;
	zbs_rpc_close(&c->rpc);
	for (int i = 0; i < CONN_DCS; i++)
		dconn_drop(&c->dcs[i]);
	free(c);
}

/* meta call with one reconnect on a transport error; returns like zbs_rpc_call */
static int meta_call(struct chunk_agent_conn *c, uint16_t method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp,
		     struct zbs_rpc_error *err)
{
	int rc = -ENOTCONN;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->rpc.fd < 0) {
			rc = zbs_rpc_connect(&c->rpc, c->a->meta_addr, (int)c->a->cfg.rpc_timeout_ms,
					     err);
			if (rc)
				return rc;
		}
		rc = zbs_rpc_call(&c->rpc, method, req, desc, resp, err);
		if (rc >= 0)
			return rc;
	}
	return rc;
}

/* a data connection to host:port, cached; *fresh says it was just made */
static struct dconn *dconn_get(struct chunk_agent_conn *c, const char *host, uint16_t port,
			       bool *fresh, int *err)
{
	struct dconn *d = NULL, *lru = &c->dcs[0];

	for (int i = 0; i < CONN_DCS; i++) {
		struct dconn *x = &c->dcs[i];
		if (x->dc && x->port == port && !strcmp(x->host, host)) {
			d = x;
			break;
		}
		if (!x->dc || (lru->dc && x->used < lru->used))
			lru = x;
	}
	*fresh = false;
	if (!d) {
		d = lru;
		dconn_drop(d);
		*err = zbs_dc_connect_timeout(host, port, c->a->cfg.data_timeout_ms, &d->dc);
		if (*err) {
			d->dc = NULL;
			return NULL;
		}
		snprintf(d->host, sizeof(d->host), "%s", host);
		d->port = port;
		*fresh = true;
	}
	d->used = ++c->tick;
	return d;
}

/* ---- the map ---------------------------------------------------------- */

static int rpc_errno(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case ZBS_RPC_ENOENT:
		return -ENOENT;
	case ZBS_RPC_EINVAL:
		return -EINVAL;
	case ZBS_RPC_ENOSPC:
		return -ENOSPC;
	case ZBS_RPC_ESTALE:
		return -ESTALE;
	case ZBS_RPC_EOWNED:		/* a live session owns it: wait for it */
	case ZBS_RPC_ESESSION:		/* our session is being re-created */
	case ZBS_RPC_ENOTOWNER:		/* our lease was revoked meanwhile */
	case ZBS_RPC_EAGAIN:		/* e.g. space figures pending at meta */
		return -EAGAIN;
	default:
		return rc < 0 ? -EAGAIN : -EIO;	/* meta unreachable: later */
	}
}

/*
 * The answer to a kernel report from meta's status: 0 done; -ESTALE when
 * meta refuses because the lease moved on (another owner or lease_epoch,
 * our session gone) or the report no longer fits the extent; -EAGAIN when
 * meta cannot answer now (the kernel sends the report again).
 */
static int report_errno(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case ZBS_RPC_ENOTOWNER:
	case ZBS_RPC_ESESSION:
	case ZBS_RPC_ESTALE:
	case ZBS_RPC_EINVAL:
	case ZBS_RPC_ENOENT:
		return -ESTALE;
	default:
		return -EAGAIN;
	}
}

struct rep_sync {
	const Zbs__LeaseChunk *ch;
	uint32_t cid;
	struct dconn *d;
	struct zbs_dc_op op;
	bool sent, fresh;
	bool create;		/* SYNC with ZBS_SF_CREATE */
	int st;			/* wire status, or -errno */
	uint64_t gen;
};

/* SYNC every replica in parallel; failures on reused connections are retried
 * once on a new one (the chunk may have restarted since). */
static void sync_all(struct chunk_agent_conn *c, const Zbs__Lease *l, struct rep_sync *r, int n)
{
	for (int round = 0; round < 2; round++) {
		bool any = false;

		for (int i = 0; i < n; i++) {
			int err = 0;

			if (round == 1 && !(r[i].st < 0 && r[i].d == NULL && !r[i].fresh))
				continue;
			if (!r[i].ch || !r[i].ch->data_ip || !r[i].ch->data_port) {
				r[i].st = -EHOSTUNREACH;
				r[i].fresh = true;
				continue;
			}
			r[i].d = dconn_get(c, r[i].ch->data_ip, (uint16_t)r[i].ch->data_port,
					   &r[i].fresh, &err);
			if (!r[i].d) {
				r[i].st = err;
				r[i].fresh = true;
				continue;
			}
			memset(&r[i].op, 0, sizeof(r[i].op));
			r[i].op.req.opcode = ZBS_OP_SYNC;
			r[i].op.req.pid = l->pid;
			r[i].op.req.epoch = l->epoch;
			r[i].op.req.lease_epoch = l->lease_epoch;
			r[i].op.req.flags = (l->thin ? 0 : ZBS_SF_THICK) |
					    (r[i].create ? ZBS_SF_CREATE : 0);
			err = zbs_dc_submit(r[i].d->dc, &r[i].op);
			if (!err)
				err = zbs_dc_push(r[i].d->dc);
			if (err) {
				r[i].st = err;
				dconn_drop(r[i].d);
				r[i].d = NULL;
				continue;
			}
			r[i].sent = true;
			any = true;
		}
		for (int i = 0; any && i < n; i++) {
			struct zbs_dc_op *done;
			int err;

			if (!r[i].sent)
				continue;
			r[i].sent = false;
			err = zbs_dc_complete(r[i].d->dc, &done);
			if (!err && done != &r[i].op)
				err = -EPROTO;	/* nothing else is in flight on it */
			if (err) {
				r[i].st = err;
				dconn_drop(r[i].d);
				r[i].d = NULL;
				continue;
			}
			r[i].st = (int)r[i].op.reply.status;
			r[i].gen = r[i].op.reply.gen;
			if (!r[i].st && r[i].op.reply.state != ZBS_RSTATE_NORMAL)
				r[i].st = r[i].op.reply.state == ZBS_RSTATE_ERROR ? ZBS_ST_IO
										  : ZBS_ST_RECOVERING;
		}
	}
}

/*
 * Replicas that answered "no such replica" are created only when the extent
 * was never written: meta says so (ever_exist false) and no replica has a
 * gen above 0 (the existence report may lag the first write). Otherwise a
 * missing replica stays missing and is removed like a failed one: a fresh
 * gen 0 would be "lowest" and win the sync over the replicas with the data.
 */
static void sync_create_missing(struct chunk_agent_conn *c, const Zbs__Lease *l,
				struct rep_sync *r, int n)
{
	struct rep_sync m[ZBS_LOC_SLOTS];
	int idx[ZBS_LOC_SLOTS], k = 0;

	if (l->ever_exist)
		return;
	for (int i = 0; i < n; i++)
		if (!r[i].st && r[i].gen > 0)
			return;
	for (int i = 0; i < n; i++) {
		if (r[i].st != ZBS_ST_NOENT)
			continue;
		m[k] = r[i];
		m[k].st = -ENOTCONN;
		m[k].d = NULL;
		m[k].fresh = m[k].sent = false;
		m[k].create = true;
		idx[k++] = i;
	}
	if (!k)
		return;
	sync_all(c, l, m, k);
	for (int j = 0; j < k; j++)
		r[idx[j]] = m[j];
}

/* do the usable replicas (ok, gen >= meta_gen) disagree on gen? */
static bool diverged(const struct rep_sync *r, int n, uint64_t meta_gen)
{
	bool seen = false;
	uint64_t g = 0;

	for (int i = 0; i < n; i++) {
		if (r[i].st || r[i].gen < meta_gen)
			continue;
		if (seen && r[i].gen != g)
			return true;
		seen = true;
		g = r[i].gen;
	}
	return false;
}

static bool same_sync(const struct rep_sync *a, const struct rep_sync *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i].st != b[i].st || a[i].gen != b[i].gen)
			return false;
	return true;
}

/*
 * A pid asked for again may still have writes of the previous map in
 * flight (the kernel drops a map on expiry or a fenced reply without
 * waiting for them): replicas then differ only until those complete. SYNC
 * again until two rounds agree or settle_ms passed, so such a replica is
 * not removed for a write that was merely in flight.
 */
static void sync_settle(struct chunk_agent_conn *c, const Zbs__Lease *l, struct rep_sync *r, int n)
{
	uint64_t end = zbs_now_ns() + (uint64_t)c->a->cfg.settle_ms * 1000000;
	struct rep_sync prev[ZBS_LOC_SLOTS];

	while (diverged(r, n, l->meta_gen) && zbs_now_ns() < end) {
		memcpy(prev, r, sizeof(prev[0]) * n);
		usleep(100000);
		for (int i = 0; i < n; i++) {
			r[i].st = -ENOTCONN;
			r[i].gen = 0;
			r[i].d = NULL;
			r[i].fresh = r[i].sent = false;
		}
		sync_all(c, l, r, n);
		if (same_sync(prev, r, n))
			break;
	}
}

/*
 * Ask meta to remove replica cid of pid under our lease (lease_epoch),
 * raising meta_gen to gen. 0 once it is out of the location (also when an
 * earlier try removed it), else as report_errno().
 */
static int remove_replica(struct chunk_agent_conn *c, uint64_t sid, uint64_t pid, uint64_t epoch,
			  uint64_t lease_epoch, uint32_t cid, uint64_t gen, const char *why)
{
	Zbs__RemoveReplicaRequest req = ZBS__REMOVE_REPLICA_REQUEST__INIT;
	struct zbs_rpc_error err = { .msg = "" };
	int rc;

	req.pid = pid;
	req.epoch = epoch;
	req.lease_epoch = lease_epoch;
	req.cid = cid;
	req.gen = gen;
	req.session_id = sid;
	rc = meta_call(c, ZBS_M_REMOVE_REPLICA, &req.base, &zbs__empty__descriptor, NULL, &err);
	if (rc == ZBS_RPC_ENOENT && strstr(err.msg, "not in its location"))
		rc = 0;		/* already removed (a retried call) */
	if (rc)
		log_warn("agent: RemoveReplica pid %llu cid %u gen %llu (%s): %s",
			 (unsigned long long)pid, cid, (unsigned long long)gen, why, err.msg);
	else
		log_info("agent: removed replica pid %llu cid %u gen %llu: %s",
			 (unsigned long long)pid, cid, (unsigned long long)gen, why);
	return report_errno(rc);
}

/* ---- recovering targets ----------------------------------------------- */

static struct target *__target_find(struct chunk_agent *a, uint64_t pid)
{
	struct target *t;

	for (t = a->targets; t; t = t->next)
		if (t->pid == pid)
			return t;
	return NULL;
}

static void __target_abort(struct target *t, const char *why)
{
	if (t->aborted)
		return;
	t->aborted = true;
	snprintf(t->why, sizeof(t->why), "%s", why);
	log_info("agent: recovering target pid %llu cid %u aborted: %s",
		 (unsigned long long)t->pid, t->cid, why);
}

static bool has_recovering(const struct chunk_agent_map *m)
{
	for (unsigned i = 0; i < m->nr; i++)
		if (m->rep[i].flags & CHUNK_AGENT_RF_RECOVERING)
			return true;
	return false;
}

/* Add pid's recovering target to the map being answered: 0, or
 * MAP_FINISHING while it is finishing. */
static int target_append(struct chunk_agent *a, const char *volume, struct chunk_agent_map *m)
{
	struct target *t;
	int rc = 0;

	pthread_mutex_lock(&a->tlock);
	t = __target_find(a, m->pid);
	if (!t)
		goto out;
	snprintf(t->volume_id, sizeof(t->volume_id), "%s", volume);
	if (t->finishing) {
		rc = MAP_FINISHING;	/* the copy ends: made again after it */
		goto out;
	}
	if (!t->aborted && m->lease_epoch > t->lease_epoch) {
		char why[96];

		snprintf(why, sizeof(why), "the lease moved on (lease_epoch %llu > %llu)",
			 (unsigned long long)m->lease_epoch, (unsigned long long)t->lease_epoch);
		__target_abort(t, why);
	}
	if (t->aborted || m->lease_epoch != t->lease_epoch)
		goto out;
	if (m->nr >= CHUNK_AGENT_MAX_REPLICAS) {
		__target_abort(t, "no room for it in the map");
		goto out;
	}
	m->rep[m->nr++] = (struct chunk_agent_replica){ .cid = t->cid, .addr4 = t->addr4,
							 .port = t->port,
							 .flags = CHUNK_AGENT_RF_RECOVERING };
out:
	pthread_mutex_unlock(&a->tlock);
	return rc;
}

bool chunk_agent_map_current(struct chunk_agent *a, const struct chunk_agent_map *m)
{
	struct target *t = __target_find(a, m->pid);	/* tlock held by the caller */

	if (!t)
		return !has_recovering(m);
	if (t->finishing)
		return false;
	if (t->aborted || m->lease_epoch != t->lease_epoch)
		return !has_recovering(m);
	return has_recovering(m);
}

void chunk_agent_answer_lock(struct chunk_agent *a)
{
	pthread_mutex_lock(&a->tlock);
}

void chunk_agent_answer_unlock(struct chunk_agent *a)
{
	pthread_mutex_unlock(&a->tlock);
}

int chunk_agent_target_add(struct chunk_agent *a, uint64_t pid, uint64_t epoch,
			   uint64_t lease_epoch, uint32_t cid, const char *addr)
{
	char host[64];
	uint16_t port;
	struct in_addr in;
	struct target *t;
	int rc = 0;

	if (zbs_parse_hostport(addr, NULL, 0, 0, host, sizeof(host), &port) < 0 || !port ||
	    inet_pton(AF_INET, host, &in) != 1)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->pid = pid;
	t->epoch = epoch;
	t->lease_epoch = lease_epoch;
	t->cid = cid;
	t->addr4 = in.s_addr;
	t->port = port;
	pthread_mutex_lock(&a->tlock);
	if (__target_find(a, pid)) {
		rc = -EEXIST;
	} else {
		struct chunk_agent_lease l;

		/* its volume, for volume revokes (a later map sets it too) */
		if (!chunk_agent_lease_get(a, pid, &l))
			snprintf(t->volume_id, sizeof(t->volume_id), "%s", l.volume_id);
		t->next = a->targets;
		a->targets = t;
		t = NULL;
	}
	pthread_mutex_unlock(&a->tlock);
	free(t);
	return rc;
}

void chunk_agent_target_finish(struct chunk_agent *a, uint64_t pid)
{
	struct target *t;

	atomic_fetch_add(&a->revoke_seq, 1);	/* maps in the making are asked again */
	pthread_mutex_lock(&a->tlock);
	t = __target_find(a, pid);
	if (t)
		t->finishing = true;
	pthread_mutex_unlock(&a->tlock);
}

static int enqueue(struct chunk_agent *a, struct job *j, bool bounded);

/* the map requests parked on a finishing target are made again */
static void requeue_parked(struct chunk_agent *a, struct job *j)
{
	while (j) {
		struct job *next = j->next;

		enqueue(a, j, false);	/* frees it when stopping */
		j = next;
	}
}

void chunk_agent_target_del(struct chunk_agent *a, uint64_t pid)
{
	struct target **pp, *t = NULL;

	/*
	 * A map being made now may hold the location meta had before the
	 * target's end (before ReplaceReplica put dst in it): with no target
	 * left to compare it with, only this tells it is stale. It is answered
	 * -EAGAIN and asked again (get_map's revoke_seq check).
	 */
	atomic_fetch_add(&a->revoke_seq, 1);
	pthread_mutex_lock(&a->tlock);
	for (pp = &a->targets; *pp; pp = &(*pp)->next) {
		if ((*pp)->pid == pid) {
			t = *pp;
			*pp = t->next;
			break;
		}
	}
	pthread_mutex_unlock(&a->tlock);
	if (t)
		requeue_parked(a, t->parked);
	free(t);
}

bool chunk_agent_target_aborted(struct chunk_agent *a, uint64_t pid, char *why, size_t len)
{
	struct target *t;
	bool ab = false;

	pthread_mutex_lock(&a->tlock);
	t = __target_find(a, pid);
	if (t && t->aborted) {
		ab = true;
		if (why && len)
			snprintf(why, len, "%s", t->why);
	}
	pthread_mutex_unlock(&a->tlock);
	return ab;
}

void chunk_agent_target_abort(struct chunk_agent *a, uint64_t pid, const char *why)
{
	struct target *t;

	pthread_mutex_lock(&a->tlock);
	t = __target_find(a, pid);
	if (t)
		__target_abort(t, why);
	pthread_mutex_unlock(&a->tlock);
}

/* A revoke covering a target's pid aborts it: the lease may move on. */
static void targets_revoked(struct chunk_agent *a, int type, const char *volume_id, uint64_t pid)
{
	pthread_mutex_lock(&a->tlock);
	for (struct target *t = a->targets; t; t = t->next) {
		struct chunk_agent_lease l;
		bool match = type == CHUNK_SESSION_REVOKE_ALL ||
			     (type == CHUNK_SESSION_REVOKE_PID && t->pid == pid);

		if (type == CHUNK_SESSION_REVOKE_VOLUME)
			match = !strcmp(t->volume_id, volume_id) ||
				(!chunk_agent_lease_get(a, t->pid, &l) &&
				 !strcmp(l.volume_id, volume_id));
		if (match)
			__target_abort(t, type == CHUNK_SESSION_REVOKE_ALL ? "every lease revoked" :
					  type == CHUNK_SESSION_REVOKE_PID ? "the pid's lease revoked" :
					  "the volume's leases revoked");
	}
	pthread_mutex_unlock(&a->tlock);
}

/*
 * The kernel reported the recovering target of pid failed: abort it (0:
 * the report is answered, dst never becomes a replica). A write waiting
 * for this answer is not in flight for a drain, so the report may come
 * after the copy's last drain: once the target is committed (dst is being
 * given to meta) the answer is -EAGAIN, the kernel sends the report again,
 * and after the target is gone it removes dst through meta like any
 * replica (I1). 1: not the target.
 */
static int target_failed(struct chunk_agent *a, uint64_t pid, uint32_t cid, uint64_t gen)
{
	struct target *t;
	int rc = 1;

	pthread_mutex_lock(&a->tlock);
	t = __target_find(a, pid);
	if (t && t->cid == cid) {
		char why[96];

		snprintf(why, sizeof(why), "a write to it failed in the kernel (gen %llu)",
			 (unsigned long long)gen);
		if (t->committed) {
			rc = -EAGAIN;
		} else {
			__target_abort(t, why);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&a->tlock);
	return rc;
}

bool chunk_agent_target_commit(struct chunk_agent *a, uint64_t pid)
{
	struct target *t;
	bool ok = false;

	pthread_mutex_lock(&a->tlock);
	t = __target_find(a, pid);
	if (t && !t->aborted) {
		t->committed = true;
		ok = true;
	}
	pthread_mutex_unlock(&a->tlock);
	return ok;
}

int chunk_agent_drain(struct chunk_agent *a, uint64_t pid)
{
	int rc = a->ops.drain ? a->ops.drain(a->ops.arg, pid) : 0;

	return rc == -ENOENT || rc == -ENODEV ? 0 : rc;	/* no map: nothing to drain */
}

static struct chunk_session *session(struct chunk_agent *a)
{
	return atomic_load(&a->ms);
}

/* chunk_agent_get_map(), and MAP_REMAKE, MAP_FINISHING (out->pid set) */
static int make_map(struct chunk_agent_conn *c, const char *volume, uint64_t vextent, bool write,
		    struct chunk_agent_map *out)
{
	struct chunk_agent *a = c->a;
	struct chunk_session *ms = session(a);
	Zbs__GetVExtentLeaseRequest req = ZBS__GET_VEXTENT_LEASE_REQUEST__INIT;
	Zbs__GetVExtentLeaseResponse *resp = NULL;
	struct zbs_rpc_error err = { .msg = "" };
	struct rep_sync r[ZBS_LOC_SLOTS];
	uint64_t sid, seq, low = UINT64_MAX;
	uint32_t mycid, left;
	struct chunk_agent_lease old;
	const Zbs__Lease *l;
	bool remapped;
	int n, rc, good = 0, unreachable = 0;

	memset(out, 0, sizeof(*out));
	if (!ms || !(sid = chunk_session_id(ms)))
		return -EAGAIN;		/* no session yet */
	if (vextent > UINT32_MAX)
		return -EINVAL;
	mycid = chunk_session_cid(ms);
	seq = atomic_load(&a->revoke_seq);

	req.volume = (char *)volume;
	req.vextent_no = (uint32_t)vextent;
	req.mode = write ? ZBS__LEASE_MODE__LEASE_WRITE : ZBS__LEASE_MODE__LEASE_READ;
	req.session_id = sid;
	rc = meta_call(c, ZBS_M_GET_VEXTENT_LEASE, &req.base,
		       &zbs__get_vextent_lease_response__descriptor, (ProtobufCMessage **)&resp,
		       &err);
	if (rc) {
		log_debug("agent: lease %s/%llu: %s", volume, (unsigned long long)vextent, err.msg);
		return rpc_errno(rc);
	}
	l = resp->lease;
	if (!l || !l->pid) {
		rc = write ? -EIO : -ENODATA;	/* meta allocates on write */
		goto out;
	}

	/* a pid mapped before (the kernel asks again: expiry, ESTALE, gen
	 * mismatch): let the IO issued under the old map drain first */
	remapped = chunk_agent_lease_get(a, l->pid, &old) == 0;
	if (a->ops.drain) {
		if (remapped) {
			int e = a->ops.drain(a->ops.arg, l->pid);

			if (e) {
				log_warn("agent: pid %llu: IO under the old map did not drain: %s",
					 (unsigned long long)l->pid, strerror(-e));
				rc = -EAGAIN;
				goto out;
			}
		}
	}

	/* generation sync (ARCHITECTURE.md 4a) */
	n = loc_count(l->location);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < n; i++) {
		r[i].cid = loc_get(l->location, i);
		r[i].ch = i < (int)l->n_chunks && l->chunks[i]->cid == r[i].cid ? l->chunks[i] : NULL;
		r[i].st = -ENOTCONN;
	}
	sync_all(c, l, r, n);
	if (remapped)
		sync_settle(c, l, r, n);
	sync_create_missing(c, l, r, n);
	for (int i = 0; i < n; i++) {
		if (r[i].st == ZBS_ST_STALE) {
			/* a newer owner recorded its lease_epoch: not ours any more */
			log_info("agent: pid %llu lease_epoch %llu fenced by cid %u",
				 (unsigned long long)l->pid, (unsigned long long)l->lease_epoch,
				 r[i].cid);
			rc = -EAGAIN;
			goto out;
		}
		if (r[i].st == -EBUSY) {
			/* at its connection limit: healthy, ask again later */
			log_warn("agent: pid %llu: cid %u is at its connection limit (busy): "
				 "map deferred", (unsigned long long)l->pid, r[i].cid);
			rc = -EAGAIN;
			goto out;
		}
		if (r[i].st < 0)
			unreachable++;
		if (!r[i].st && r[i].gen >= l->meta_gen) {
			good++;
			if (r[i].gen < low)
				low = r[i].gen;
		}
	}
	if (!good) {
		log_warn("agent: pid %llu: no usable replica (%d unreachable of %d)",
			 (unsigned long long)l->pid, unreachable, n);
		rc = unreachable ? -EAGAIN : -EIO;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		char why[96];

		if (!r[i].st && r[i].gen == low)
			continue;
		if (r[i].st < 0)
			snprintf(why, sizeof(why), "unreachable: %s", strerror(-r[i].st));
		else if (r[i].st)
			snprintf(why, sizeof(why), "SYNC: %s", zbs_wire_status_str(r[i].st));
		else if (r[i].gen < l->meta_gen)
			snprintf(why, sizeof(why), "stale gen %llu < meta_gen %llu",
				 (unsigned long long)r[i].gen, (unsigned long long)l->meta_gen);
		else
			snprintf(why, sizeof(why), "gen %llu differs from %llu",
				 (unsigned long long)r[i].gen, (unsigned long long)low);
		/* a replica left out of the map must be out of meta's location
		 * first, or writes acknowledged without it would break I1 */
		if (remove_replica(c, sid, l->pid, l->epoch, l->lease_epoch, r[i].cid, low, why)) {
			rc = -EAGAIN;	/* not the owner any more, or meta away */
			goto out;
		}
		r[i].st = -ECANCELED;	/* not in the answer */
	}

	out->pid = l->pid;
	out->epoch = l->epoch;
	out->lease_epoch = l->lease_epoch;
	out->gen = low;
	out->ever_exist = l->ever_exist;
	for (int i = 0; i < n; i++) {
		struct chunk_agent_replica *x;
		struct in_addr in;

		if (r[i].st || r[i].gen != low)
			continue;
		if (inet_pton(AF_INET, r[i].ch->data_ip, &in) != 1) {
			log_warn("agent: cid %u data address %s is not IPv4", r[i].cid,
				 r[i].ch->data_ip);
			continue;
		}
		x = &out->rep[out->nr++];
		x->cid = r[i].cid;
		x->addr4 = in.s_addr;
		x->port = (uint16_t)r[i].ch->data_port;
		x->flags = r[i].cid == mycid ? CHUNK_AGENT_RF_LOCAL : 0;
	}
	if (!out->nr) {
		rc = -EIO;
		goto out;
	}
	rc = target_append(a, volume, out);
	if (rc)
		goto out;
	/* answer only under a live lease no revoke touched meanwhile */
	left = chunk_session_lease_left_ms(ms);
	if (!left || chunk_session_id(ms) != sid) {
		rc = -EAGAIN;
		goto out;
	}
	if (atomic_load(&a->revoke_seq) != seq) {
		rc = MAP_REMAKE;
		goto out;
	}
	/* the kernel also stops at the end of the session (SESSION pushes) and
	 * on revokes; the map's own expiry only bounds a forgotten one */
	out->expiry_ms = a->cfg.map_expiry_ms;
	{
		struct chunk_agent_lease le = { .vextent = vextent, .pid = l->pid, .epoch = l->epoch,
						.lease_epoch = l->lease_epoch, .gen = low };
		snprintf(le.volume_id, sizeof(le.volume_id), "%s", volume);
		cache_put(a, &le);
	}
	rc = 0;
out:
	zbs__get_vextent_lease_response__free_unpacked(resp, NULL);
	if (rc) {
		uint64_t pid = out->pid;

		memset(out, 0, sizeof(*out));
		if (rc == MAP_FINISHING)
			out->pid = pid;
	}
	return rc;
}

int chunk_agent_get_map(struct chunk_agent_conn *c, const char *volume, uint64_t vextent,
			bool write, struct chunk_agent_map *out)
{
	int rc = make_map(c, volume, vextent, write, out);

	if (rc == MAP_REMAKE || rc == MAP_FINISHING) {
		memset(out, 0, sizeof(*out));
		rc = -EAGAIN;
	}
	return rc;
}

int chunk_agent_replica_failed(struct chunk_agent_conn *c, uint64_t pid, uint64_t epoch,
			       uint64_t lease_epoch, uint32_t cid, uint64_t gen)
{
	struct chunk_session *ms = session(c->a);
	uint64_t sid = ms ? chunk_session_id(ms) : 0;
	int rc;

	/* a recovering target is not in meta's location: nothing to remove */
	rc = target_failed(c->a, pid, cid, gen);
	if (rc <= 0)
		return rc;
	if (!sid)
		return -EAGAIN;
	return remove_replica(c, sid, pid, epoch, lease_epoch, cid, gen,
			      "reported failed by the kernel");
}

int chunk_agent_existence(struct chunk_agent_conn *c, uint64_t pid, uint64_t epoch)
{
	struct chunk_session *ms = session(c->a);
	Zbs__PidSessionRequest req = ZBS__PID_SESSION_REQUEST__INIT;
	struct zbs_rpc_error err = { .msg = "" };
	int rc;

	req.session_id = ms ? chunk_session_id(ms) : 0;
	if (!req.session_id)
		return -EAGAIN;
	req.pid = pid;
	req.epoch = epoch;
	rc = meta_call(c, ZBS_M_SET_PEXTENT_EXISTENCE, &req.base, &zbs__empty__descriptor, NULL,
		       &err);
	if (rc)
		log_warn("agent: SetPExtentExistence pid %llu: %s", (unsigned long long)pid,
			 err.msg);
	return report_errno(rc);
}

/* ---- queue and workers ------------------------------------------------ */

static void push_done(struct chunk_agent *a, const struct chunk_agent_req *req, int err,
		      const struct chunk_agent_map *map)
{
	struct done *d = calloc(1, sizeof(*d));
	uint64_t one = 1;

	if (!d) {
		log_err("agent: out of memory: the answer to request %llu is lost",
			(unsigned long long)req->req_id);
		return;
	}
	d->res.req = *req;
	d->res.err = err;
	if (map && !err)
		d->res.map = *map;
	pthread_mutex_lock(&a->dlock);
	*a->dtail = d;
	a->dtail = &d->next;
	pthread_mutex_unlock(&a->dlock);
	if (write(a->efd, &one, sizeof(one)) < 0)
		log_warn("agent: eventfd: %m");
}

size_t chunk_agent_reap(struct chunk_agent *a, struct chunk_agent_result *out, size_t max)
{
	size_t n = 0;
	uint64_t v;

	pthread_mutex_lock(&a->dlock);
	while (n < max && a->dhead) {
		struct done *d = a->dhead;
		a->dhead = d->next;
		if (!a->dhead)
			a->dtail = &a->dhead;
		out[n++] = d->res;
		free(d);
	}
	/* re-arm: drain the counter, signal again if more are left */
	if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("agent: eventfd: %m");
	if (a->dhead) {
		v = 1;
		if (write(a->efd, &v, sizeof(v)) < 0)
			log_warn("agent: eventfd: %m");
	}
	pthread_mutex_unlock(&a->dlock);
	return n;
}

int chunk_agent_fd(const struct chunk_agent *a)
{
	return a->efd;
}

static unsigned key_of(const struct chunk_agent_req *r)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = r->volume_id; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	h ^= r->vextent * 0x9e3779b97f4a7c15ULL;
	return (unsigned)(h >> 40) % KEY_LOCKS;
}

/*
 * A map request of a pid whose target is finishing waits on the target
 * (made again when chunk_agent_target_del() ends it) rather than being
 * answered -EAGAIN: the kernel would ask again only after its backoff
 * (100 ms or more), its IO on the extent parked all that time. true: j
 * is the target's now (or queued again: the target ended meanwhile).
 */
static bool park(struct chunk_agent *a, struct job *j, uint64_t pid)
{
	struct job **pp, *old = NULL;
	struct target *t;
	bool parked = false, gone;

	if (!pid)
		return false;
	pthread_mutex_lock(&a->tlock);
	t = __target_find(a, pid);
	gone = !t || !t->finishing;
	if (t && t->finishing) {
		/* in arrival order; a request of the same extent asked again
		 * (the kernel's re-send after map_retry_ms) replaces the old
		 * one, whose answer the kernel would ignore */
		for (pp = &t->parked; *pp; pp = &(*pp)->next) {
			if ((*pp)->req.dev_id == j->req.dev_id &&
			    (*pp)->req.vextent == j->req.vextent &&
			    !strcmp((*pp)->req.volume_id, j->req.volume_id)) {
				old = *pp;
				j->next = old->next;
				*pp = j;
				parked = true;
				break;
			}
		}
		if (!parked && t->nparked < PARKED_MAX) {
			j->next = NULL;
			*pp = j;
			t->nparked++;
			parked = true;
		}
	}
	pthread_mutex_unlock(&a->tlock);
	free(old);
	if (!parked && gone) {
		enqueue(a, j, false);
		return true;
	}
	return parked;
}

/* true: j was kept (parked or queued again), not to be freed */
static bool run_job(struct chunk_agent *a, struct chunk_agent_conn *c, struct job *j)
{
	struct chunk_agent_map map = { 0 };
	unsigned k;
	int err;

	if (j->revoke) {
		int rc = a->ops.revoke ? a->ops.revoke(a->ops.arg, j->rv_type, j->rv_volume,
						       j->rv_pid) : 0;
		if (j->rv_id)
			chunk_session_revoke_done(session(a), j->rv_id, rc == 0);
		return false;
	}
	k = key_of(&j->req);
	pthread_mutex_lock(&a->keylock[k]);
	switch (j->req.type) {
	case CHUNK_AREQ_MAP:
		for (unsigned i = 0;; i++) {
			err = make_map(c, j->req.volume_id, j->req.vextent, j->req.write, &map);
			if (err != MAP_REMAKE || i >= CHUNK_AGENT_REMAKES)
				break;
		}
		if (err == MAP_FINISHING) {
			pthread_mutex_unlock(&a->keylock[k]);
			if (park(a, j, map.pid))
				return true;
			push_done(a, &j->req, -EAGAIN, NULL);
			return false;
		}
		if (err == MAP_REMAKE)
			err = -EAGAIN;
		break;
	case CHUNK_AREQ_REPLICA_FAILED:
		err = chunk_agent_replica_failed(c, j->req.pid, j->req.epoch, j->req.lease_epoch,
						 j->req.cid, j->req.gen);
		break;
	case CHUNK_AREQ_EXISTENCE:
		err = chunk_agent_existence(c, j->req.pid, j->req.epoch);
		break;
	default:
		err = -EINVAL;
	}
	pthread_mutex_unlock(&a->keylock[k]);
	push_done(a, &j->req, err, &map);
	return false;
}

static void *worker(void *arg)
{
	struct chunk_agent *a = arg;
	struct chunk_agent_conn *c = chunk_agent_conn_new(a);

	if (!c) {
		log_err("agent: worker: out of memory");
		return NULL;
	}
	for (;;) {
		struct job *j;

		pthread_mutex_lock(&a->qlock);
		while (!a->qhead && !a->stopping)
			pthread_cond_wait(&a->qcond, &a->qlock);
		if (a->stopping) {
			pthread_mutex_unlock(&a->qlock);
			break;
		}
		j = a->qhead;
		a->qhead = j->next;
		if (!a->qhead)
			a->qtail = &a->qhead;
		a->qlen--;
		pthread_mutex_unlock(&a->qlock);
		if (!run_job(a, c, j))
			free(j);
	}
	chunk_agent_conn_free(c);
	return NULL;
}

static int enqueue(struct chunk_agent *a, struct job *j, bool bounded)
{
	pthread_mutex_lock(&a->qlock);
	if (a->stopping || (bounded && a->qlen >= a->cfg.max_queue)) {
		int rc = a->stopping ? -ESHUTDOWN : -EBUSY;
		pthread_mutex_unlock(&a->qlock);
		free(j);
		return rc;
	}
	j->next = NULL;
	*a->qtail = j;
	a->qtail = &j->next;
	a->qlen++;
	pthread_cond_signal(&a->qcond);
	pthread_mutex_unlock(&a->qlock);
	return 0;
}

int chunk_agent_submit(struct chunk_agent *a, const struct chunk_agent_req *req)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->req = *req;
	j->req.volume_id[sizeof(j->req.volume_id) - 1] = 0;
	return enqueue(a, j, true);
}

void chunk_agent_revoke_hook(void *arg, int type, const char *volume_id, uint64_t pid,
			     uint64_t id)
{
	struct chunk_agent *a = arg;
	struct job *j;
	size_t n;

	atomic_fetch_add(&a->revoke_seq, 1);
	targets_revoked(a, type, volume_id ? volume_id : "", pid);
	n = cache_drop(a, type, volume_id ? volume_id : "", pid);
	log_info("agent: revoke type %d volume '%s' pid %llu: %zu cached lease(s) dropped", type,
		 volume_id ? volume_id : "", (unsigned long long)pid, n);
	j = calloc(1, sizeof(*j));
	if (!j) {
		log_err("agent: out of memory: revoke not relayed");
		chunk_session_revoke_done(session(a), id, false);	/* meta asks again */
		return;
	}
	j->revoke = true;
	j->rv_type = type;
	snprintf(j->rv_volume, sizeof(j->rv_volume), "%s", volume_id ? volume_id : "");
	j->rv_pid = pid;
	j->rv_id = id;
	if (enqueue(a, j, false))	/* stopping: the session ends with us */
		chunk_session_revoke_done(session(a), id, false);	/* never refused for a full queue */
}

struct chunk_agent *chunk_agent_start(const struct chunk_agent_config *cfg,
				      const struct chunk_agent_ops *ops)
{
	struct chunk_agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->cfg = *cfg;
	if (ops)
		a->ops = *ops;
	snprintf(a->meta_addr, sizeof(a->meta_addr), "%s", cfg->meta_addr ? cfg->meta_addr : "");
	a->cfg.meta_addr = a->meta_addr;
	if (!a->cfg.workers)
		a->cfg.workers = 8;
	if (!a->cfg.rpc_timeout_ms)
		a->cfg.rpc_timeout_ms = 3000;
	if (!a->cfg.data_timeout_ms)
		a->cfg.data_timeout_ms = 3000;
	if (!a->cfg.max_queue)
		a->cfg.max_queue = 65536;
	if (!a->cfg.map_expiry_ms)
		a->cfg.map_expiry_ms = 60000;
	if (!a->cfg.settle_ms)
		a->cfg.settle_ms = 2000;
	a->qtail = &a->qhead;
	a->dtail = &a->dhead;
	pthread_mutex_init(&a->qlock, NULL);
	pthread_cond_init(&a->qcond, NULL);
	pthread_mutex_init(&a->dlock, NULL);
	pthread_mutex_init(&a->clock, NULL);
	pthread_mutex_init(&a->tlock, NULL);
	for (int i = 0; i < KEY_LOCKS; i++)
		pthread_mutex_init(&a->keylock[i], NULL);
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	a->threads = calloc(a->cfg.workers, sizeof(*a->threads));
	if (a->efd < 0 || !a->threads) {
		log_err("agent: cannot start: %m");
		goto fail;
	}
	for (unsigned i = 0; i < a->cfg.workers; i++) {
		if (pthread_create(&a->threads[i], NULL, worker, a)) {
			log_err("agent: cannot start worker %u", i);
			goto fail;
		}
		a->nthreads++;
	}
	return a;
fail:
	chunk_agent_stop(a);
	return NULL;
}

void chunk_agent_set_session(struct chunk_agent *a, struct chunk_session *ms)
{
	atomic_store(&a->ms, ms);
}

void chunk_agent_shutdown(struct chunk_agent *a)
{
	pthread_mutex_lock(&a->qlock);
	a->stopping = true;
	pthread_cond_broadcast(&a->qcond);
	pthread_mutex_unlock(&a->qlock);
	for (unsigned i = 0; i < a->nthreads; i++)
		pthread_join(a->threads[i], NULL);
	a->nthreads = 0;
	atomic_store(&a->ms, NULL);
}

void chunk_agent_stop(struct chunk_agent *a)
{
	if (!a)
		return;
	chunk_agent_shutdown(a);
	while (a->qhead) {
		struct job *j = a->qhead;
		a->qhead = j->next;
		free(j);
	}
	while (a->dhead) {
		struct done *d = a->dhead;
		a->dhead = d->next;
		free(d);
	}
	cache_drop(a, CHUNK_SESSION_REVOKE_ALL, "", 0);
	while (a->targets) {
		struct target *t = a->targets;
		a->targets = t->next;
		while (t->parked) {
			struct job *j = t->parked;
			t->parked = j->next;
			free(j);
		}
		free(t);
	}
	if (a->efd >= 0)
		close(a->efd);
	free(a->threads);
	pthread_mutex_destroy(&a->qlock);
	pthread_cond_destroy(&a->qcond);
	pthread_mutex_destroy(&a->dlock);
	pthread_mutex_destroy(&a->clock);
	pthread_mutex_destroy(&a->tlock);
	for (int i = 0; i < KEY_LOCKS; i++)
		pthread_mutex_destroy(&a->keylock[i]);
	free(a);
}
