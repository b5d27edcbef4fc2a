// SPDX-License-Identifier: GPL-2.0
/* The recover cmd executor: see chunk_recover.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunk_agent.h"
#include "chunk_recover.h"
#include "data_client.h"
#include "recover_gate.h"	/* RECOVER_GATE_NICE */
#include "log.h"
#include "meta.pb-c.h"
#include "net.h"
#include "rpc.h"
#include "util.h"

#define DONE_RING	4096	/* ids of the cmds ended lately (meta's resends) */
#define SLEEP_SLICE_NS	100000000ULL	/* a throttled copy looks at aborts this often */

struct job {
	struct chunk_session_recover cmd;
	_Atomic uint64_t copied, total;
	struct job *next;		/* queue, or the running list */
};

struct chunk_recover {
	struct chunk_recover_config cfg;
	struct chunk_recover_ops ops;
	char meta_addr[256];

	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;
	struct job *qhead, **qtail;
	size_t qlen;
	struct job *running;
	unsigned nrunning, limit;
	pthread_t threads[CHUNK_RECOVER_MAX_CONCURRENCY];
	unsigned nthreads;
	uint64_t done_ids[DONE_RING];
	unsigned done_pos;
	_Atomic bool stopping;
	_Atomic(struct chunk_session *) ms;

	pthread_mutex_t tb_lock;	/* the shared bandwidth limit */
	_Atomic uint64_t bps;
	uint64_t tb_next_ns;		/* when the next byte may go */
};

/* ---- the cmd -------------------------------------------------------------- */

static bool addr_ok(const char *addr)
{
	char host[64];
	uint16_t port;

	return addr[0] && zbs_parse_hostport(addr, NULL, 0, 0, host, sizeof(host), &port) == 0 &&
	       port && host[0];
}

int chunk_recover_validate(const struct chunk_session_recover *c, char *why, size_t len)
{
	const char *bad = NULL;

	if (!c->present)
		bad = "no recover fields in the cmd";
	else if (!c->pid)
		bad = "pid 0";
	else if (!c->epoch)
		bad = "epoch 0";
	else if (!c->lease_epoch)
		bad = "lease_epoch 0 (the cmd runs under the owner's lease)";
	else if (!c->src_cid || !c->dst_cid)
		bad = "src or dst cid 0";
	else if (c->src_cid == c->dst_cid)
		bad = "src and dst are the same chunk";
	else if (c->replace_cid == c->dst_cid)
		bad = "dst replaces itself";
	else if (!addr_ok(c->src_addr))
		bad = "bad src address (ip:port)";
	else if (!addr_ok(c->dst_addr))
		bad = "bad dst address (ip:port)";
	else if (!strcmp(c->src_addr, c->dst_addr))
		bad = "src and dst have the same address";
	if (!bad)
		return 0;
	snprintf(why, len, "invalid recover cmd: %s", bad);
	return -EINVAL;
}

static bool stopping(struct chunk_recover *r)
{
	return atomic_load(&r->stopping);
}

/* Why the cmd must stop now, or false. */
static bool aborted(struct chunk_recover *r, const struct job *j, char *why, size_t len)
{
	if (stopping(r)) {
		snprintf(why, len, "the chunk is stopping");
		return true;
	}
	return r->cfg.agent && chunk_agent_target_aborted(r->cfg.agent, j->cmd.pid, why, len);
}

/* Wait until `bytes` may be copied under the shared limit; false: aborted. */
static bool throttle(struct chunk_recover *r, const struct job *j, uint64_t bytes, char *why,
		     size_t len)
{
	uint64_t bps, now = zbs_now_ns(), at;

	pthread_mutex_lock(&r->tb_lock);
	bps = atomic_load(&r->bps);
	if (!bps) {
		pthread_mutex_unlock(&r->tb_lock);
		return true;
	}
	at = r->tb_next_ns > now ? r->tb_next_ns : now;
	r->tb_next_ns = at + bytes * 1000000000ULL / bps;
	pthread_mutex_unlock(&r->tb_lock);
	while ((now = zbs_now_ns()) < at) {
		uint64_t d = at - now < SLEEP_SLICE_NS ? at - now : SLEEP_SLICE_NS;
		struct timespec ts = { (time_t)(d / 1000000000ULL), (long)(d % 1000000000ULL) };

		if (aborted(r, j, why, len))
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

/* One data request; 0, or -1 with the reason in why. */
static int data_req(struct zbs_dc *dc, const char *who, const struct chunk_session_recover *c,
		    uint16_t opcode, uint32_t flags, uint64_t gen, uint64_t off, uint32_t len,
		    void *buf, struct zbs_reply *rep, char *why, size_t wlen)
{
	struct zbs_dc_op op = { 0 };
	int rc;

	op.req.opcode = opcode;
	op.req.flags = flags;
	op.req.pid = c->pid;
	op.req.epoch = c->epoch;
	op.req.lease_epoch = c->lease_epoch;
	op.req.gen = gen;
	op.req.offset = off;
	op.req.length = len;
	op.buf = buf;
	rc = zbs_dc_call(dc, &op);
	if (rep)
		*rep = op.reply;
	if (!rc)
		return 0;
	snprintf(why, wlen, "%s %s at %llu: %s", zbs_wire_op_str(opcode), who,
		 (unsigned long long)off, rc < 0 ? strerror(-rc) : zbs_wire_status_str((uint32_t)rc));
	return -1;
}

static int connect_to(const char *addr, const char *who, uint32_t ms, struct zbs_dc **dc,
		      char *why, size_t len)
{
	char host[64];
	uint16_t port;
	int rc;

	if (zbs_parse_hostport(addr, NULL, 0, 0, host, sizeof(host), &port) < 0)
		rc = -EINVAL;
	else
		rc = zbs_dc_connect_timeout(host, port, ms, dc);
	if (!rc)
		return 0;
	*dc = NULL;
	snprintf(why, len, "connect to %s %s: %s", who, addr, strerror(-rc));
	return -1;
}

/* src's replica as it must be to copy from: normal, gen >= meta_gen */
static int src_usable(const struct chunk_session_recover *c, const struct zbs_reply *rep,
		      char *why, size_t len)
{
	if (rep->state != ZBS_RSTATE_NORMAL) {
		snprintf(why, len, "src replica is not normal (state %u)", rep->state);
		return -1;
	}
	if (rep->gen < c->meta_gen) {
		snprintf(why, len, "src gen %llu < meta_gen %llu", (unsigned long long)rep->gen,
			 (unsigned long long)c->meta_gen);
		return -1;
	}
	return 0;
}

/*
 * The copy proper: the blocks set in map, in segments of up to
 * COPY_SEG_BYTES of contiguous blocks, COPY_SLOTS of them in flight: a
 * READ from src, then its RECOVER_WRITE to dst, on the two connections at
 * once, so neither chunk waits for the other (one block read then written
 * at a time copied at a quarter of a raw copy's rate). On a failure the
 * caller closes both connections: ops still queued are dropped with them.
 * 512 KiB x 8 (with two lanes, 8 MiB of buffers per cmd): about 0.75 of a
 * raw copy in make bench-recovery, where 1 MiB x 4 made about 0.6-0.68,
 * 1 MiB x 8 about 0.77 with twice the memory, 256 KiB x 16 about 0.66;
 * and a client IO queued behind a copy's request on the disk waits for
 * half as much.
 */
#define COPY_SEG_BYTES	(ZBS_WIRE_MAX_IO / 2)
#define COPY_SLOTS	8

struct copy_slot {
	struct zbs_dc_op op;
	void *buf;
};

/* the next segment from block *b: its first block and length, false if none */
static bool next_seg(const uint8_t *map, unsigned *b, unsigned *first, uint32_t *bytes)
{
	unsigned n = 0;

	while (*b < ZBS_BLOCKS_PER_EXTENT && !(map[*b / 8] & (1U << (*b % 8))))
		(*b)++;
	if (*b >= ZBS_BLOCKS_PER_EXTENT)
		return false;
	*first = *b;
	while (*b < ZBS_BLOCKS_PER_EXTENT && (map[*b / 8] & (1U << (*b % 8))) &&
	       (n + 1) * ZBS_BLOCK_SIZE <= COPY_SEG_BYTES) {
		(*b)++;
		n++;
	}
	*bytes = n * ZBS_BLOCK_SIZE;
	return true;
}

static void copy_op(struct copy_slot *s, const struct chunk_session_recover *c, uint16_t opcode,
		    uint64_t off, uint32_t bytes)
{
	memset(&s->op, 0, sizeof(s->op));
	s->op.req.opcode = opcode;
	s->op.req.pid = c->pid;
	s->op.req.epoch = c->epoch;
	s->op.req.lease_epoch = c->lease_epoch;
	s->op.req.offset = off;
	s->op.req.length = bytes;
	s->op.buf = s->buf;
	s->op.priv = s;
}

/* a reply's failure as the reason, or 0. rc < 0: the connection failed
 * and zbs_dc_complete returned no op (op is not set then). */
static int copy_failed(int rc, const struct zbs_dc_op *op, const char *who, char *why,
		       size_t len)
{
	if (rc < 0) {
		snprintf(why, len, "%s: %s", who, strerror(-rc));
		return -1;
	}
	if (op->reply.status == ZBS_ST_OK)
		return 0;
	snprintf(why, len, "%s %s at %llu: %s", zbs_wire_op_str(op->req.opcode), who,
		 (unsigned long long)op->req.offset, zbs_wire_status_str(op->reply.status));
	return -1;
}

static int copy_pipelined(struct chunk_recover *r, struct job *j, struct zbs_dc *src,
			  struct zbs_dc *dst, const uint8_t *map, char *why, size_t len)
{
	const struct chunk_session_recover *c = &j->cmd;
	struct copy_slot slots[COPY_SLOTS], *freel[COPY_SLOTS];
	unsigned nfree = 0, reads = 0, writes = 0, b = 0, first;
	uint32_t bytes;
	bool more = true;
	int rc = 0;

	for (unsigned i = 0; i < COPY_SLOTS; i++) {
		if (posix_memalign(&slots[i].buf, 4096, COPY_SEG_BYTES)) {
			snprintf(why, len, "out of memory");
			for (unsigned k = 0; k < i; k++)
				free(slots[k].buf);
			return -1;
		}
		freel[nfree++] = &slots[i];
	}
	while (!rc) {
		struct zbs_dc_op *op = NULL;

		/* every free slot reads the next segment */
		while (nfree && more && !rc) {
			more = next_seg(map, &b, &first, &bytes);
			if (!more)
				break;
			if (aborted(r, j, why, len) || !throttle(r, j, bytes, why, len)) {
				rc = -1;
				break;
			}
			copy_op(freel[--nfree], c, ZBS_OP_READ, (uint64_t)first * ZBS_BLOCK_SIZE,
				bytes);
			freel[nfree]->op.req.flags = ZBS_DF_RECOVERY;	/* paced by src */
			rc = zbs_dc_submit(src, &freel[nfree]->op);
			if (rc) {
				snprintf(why, len, "READ src: %s", strerror(-rc));
				break;
			}
			reads++;
		}
		if (rc)
			break;
		if (reads) {
			if ((rc = zbs_dc_push(src)) < 0) {
				snprintf(why, len, "READ src: %s", strerror(-rc));
				break;
			}
			/* a read done: its bytes go to dst at once */
			rc = zbs_dc_complete(src, &op);
			if (copy_failed(rc, op, "src", why, len)) {
				rc = -1;
				break;
			}
			reads--;
			copy_op(op->priv, c, ZBS_OP_RECOVER_WRITE, op->req.offset, op->req.length);
			if ((rc = zbs_dc_submit(dst, op)) < 0 || (rc = zbs_dc_push(dst)) < 0) {
				snprintf(why, len, "RECOVER_WRITE dst: %s", strerror(-rc));
				break;
			}
			writes++;
			continue;
		}
		if (!writes)
			break;		/* all copied */
		rc = zbs_dc_complete(dst, &op);
		if (copy_failed(rc, op, "dst", why, len)) {
			rc = -1;
			break;
		}
		writes--;
		atomic_fetch_add(&j->copied, op->req.length);
		freel[nfree++] = op->priv;
	}
	/* on a failure ops may still be queued on the connections: replies
	 * are read only by zbs_dc_complete/call in this thread, and the
	 * caller's next step is closing both (run_cmd), so nothing reads into
	 * these buffers or ops after they are gone */
	for (unsigned i = 0; i < COPY_SLOTS; i++)
		free(slots[i].buf);
	return rc ? -1 : 0;
}

/*
 * A second lane: a chunk serves each connection on one thread, so the copy
 * runs on two connection pairs at once, every other segment's group of
 * blocks on each (one pair pipelined reached about half a raw copy's rate;
 * four pairs did no better than two).
 */
#define COPY_LANES	2

struct lane {
	struct chunk_recover *r;
	struct job *j;
	struct zbs_dc *src, *dst;
	uint8_t map[ZBS_WIRE_BLOCK_MAP_BYTES];
	char why[160];
	int rc;
};

static void *lane_main(void *arg)
{
	struct lane *l = arg;

	if (l->r->cfg.nice)
		(void)zbs_thread_nice(RECOVER_GATE_NICE);
	l->rc = copy_pipelined(l->r, l->j, l->src, l->dst, l->map, l->why, sizeof(l->why));
	return NULL;
}

static int copy_lanes(struct chunk_recover *r, struct job *j, struct zbs_dc *src,
		      struct zbs_dc *dst, const uint8_t *map, char *why, size_t len)
{
	const struct chunk_session_recover *c = &j->cmd;
	uint32_t ms = r->cfg.io_timeout_ms;
	struct lane *l = calloc(1, sizeof(*l));
	uint8_t mine[ZBS_WIRE_BLOCK_MAP_BYTES];
	pthread_t th;
	int rc;

	if (!l || connect_to(c->src_addr, "src", ms, &l->src, l->why, sizeof(l->why)) ||
	    connect_to(c->dst_addr, "dst", ms, &l->dst, l->why, sizeof(l->why))) {
		if (l) {	/* one lane will do */
			zbs_dc_close(l->src);
			free(l);
		}
		return copy_pipelined(r, j, src, dst, map, why, len);
	}
	l->r = r;
	l->j = j;
	memset(mine, 0, sizeof(mine));
	for (unsigned b = 0; b < ZBS_BLOCKS_PER_EXTENT; b++) {
		uint8_t bit = (uint8_t)(1U << (b % 8));

		if (!(map[b / 8] & bit))
			continue;
		if ((b * ZBS_BLOCK_SIZE / COPY_SEG_BYTES) % COPY_LANES)
			l->map[b / 8] |= bit;
		else
			mine[b / 8] |= bit;
	}
	if (pthread_create(&th, NULL, lane_main, l)) {
		zbs_dc_close(l->src);
		zbs_dc_close(l->dst);
		free(l);
		return copy_pipelined(r, j, src, dst, map, why, len);
	}
	rc = copy_pipelined(r, j, src, dst, mine, why, len);
	pthread_join(th, NULL);
	if (!rc && l->rc) {
		snprintf(why, len, "%s", l->why);
		rc = -1;
	}
	zbs_dc_close(l->src);
	zbs_dc_close(l->dst);
	free(l);
	return rc;
}

/* Copy src's allocated blocks to dst (step 3 of chunk_recover.h). */
static int copy_blocks(struct chunk_recover *r, struct job *j, struct zbs_dc *src,
		       struct zbs_dc *dst, char *why, size_t len)
{
	const struct chunk_session_recover *c = &j->cmd;
	uint8_t map[ZBS_WIRE_BLOCK_MAP_BYTES];
	struct zbs_reply rep;
	uint64_t total = 0;
	int rc = -1;

	if (data_req(src, "src", c, ZBS_OP_SYNC, 0, 0, 0, 0, NULL, &rep, why, len) ||
	    src_usable(c, &rep, why, len))
		return -1;
	/* agile: only what dst missed since its gen (src tracked it) */
	rc = c->agile ? zbs_dc_block_map_since(src, c->pid, c->epoch, c->since_gen, map, &rep)
		      : zbs_dc_block_map(src, c->pid, c->epoch, map, &rep);
	if (rc) {
		snprintf(why, len, "GET_BLOCK_MAP%s src: %s", c->agile ? " since gen" : "",
			 rc < 0 ? strerror(-rc) : zbs_wire_status_str((uint32_t)rc));
		return -1;
	}
	for (unsigned b = 0; b < ZBS_BLOCKS_PER_EXTENT; b++)
		if (map[b / 8] & (1U << (b % 8)))
			total += ZBS_BLOCK_SIZE;
	atomic_store(&j->total, total);
	return copy_lanes(r, j, src, dst, map, why, len);
}

/*
 * Run one cmd to its end; res says how it ended. The agent steps only with
 * an agent; *target tells the caller a target is still registered.
 */
static void run_cmd(struct chunk_recover *r, struct job *j, struct chunk_recover_result *res)
{
	const struct chunk_session_recover *c = &j->cmd;
	struct chunk_agent *agent = r->cfg.agent;
	uint32_t ms = r->cfg.io_timeout_ms;
	struct zbs_dc *src = NULL, *dst = NULL;
	char *why = res->error;
	size_t wl = sizeof(res->error);
	struct zbs_reply rep;
	bool target = false;
	int rc;

	if (chunk_recover_validate(c, why, wl))
		goto out;
	if (connect_to(c->dst_addr, "dst", ms, &dst, why, wl) ||
	    connect_to(c->src_addr, "src", ms, &src, why, wl))
		goto out;
	/* 1: dst becomes a recovering replica */
	if (data_req(dst, "dst", c, ZBS_OP_RECOVER_BEGIN,
		     (c->thick ? ZBS_SF_THICK : 0) | (c->agile ? ZBS_RF_AGILE : 0),
		     c->agile ? c->since_gen : 0, 0, 0, NULL, NULL, why, wl))
		goto out;
	/* 2: every write from now on reaches dst too */
	if (agent) {
		rc = chunk_agent_target_add(agent, c->pid, c->epoch, c->lease_epoch, c->dst_cid,
					    c->dst_addr);
		if (rc) {
			snprintf(why, wl, "recovering target: %s",
				 rc == -EEXIST ? "the pid has one already" : strerror(-rc));
			goto out;
		}
		target = true;
		rc = chunk_agent_drain(agent, c->pid);
		if (rc) {
			snprintf(why, wl, "the kernel's IO of the pid did not drain: %s",
				 strerror(-rc));
			goto out;
		}
	}
	/* 3: the copy */
	if (copy_blocks(r, j, src, dst, why, wl))
		goto out;
	/* 4: no write in flight, none to come until the target goes */
	if (agent) {
		chunk_agent_target_finish(agent, c->pid);
		rc = chunk_agent_drain(agent, c->pid);
		if (rc) {
			snprintf(why, wl, "the kernel's IO of the pid did not drain: %s",
				 strerror(-rc));
			goto out;
		}
	}
	if (aborted(r, j, why, wl))
		goto out;
	if (data_req(src, "src", c, ZBS_OP_GET_INFO, 0, 0, 0, 0, NULL, &rep, why, wl) ||
	    src_usable(c, &rep, why, wl))
		goto out;
	res->gen = rep.gen;
	if (data_req(dst, "dst", c, ZBS_OP_RECOVER_END, 0, res->gen, 0, 0, NULL, NULL, why, wl))
		goto out;
	/* a failure report of dst that came after the drain still wins */
	if (agent && !chunk_agent_target_commit(agent, c->pid)) {
		aborted(r, j, why, wl);
		goto out;
	}
	res->ok = true;
	why[0] = 0;
out:
	res->bytes_copied = atomic_load(&j->copied);
	zbs_dc_close(src);
	zbs_dc_close(dst);
	if (target && !res->ok) {
		/* the kernel stops writing to dst before meta hears of it */
		chunk_agent_target_del(agent, c->pid);
		rc = chunk_agent_drain(agent, c->pid);
		if (rc)
			log_warn("recover cmd %llu pid %llu: drain after the abort: %s",
				 (unsigned long long)c->id, (unsigned long long)c->pid,
				 strerror(-rc));
	}
}

/* ---- the end: ReplaceReplica ---------------------------------------------- */

/* ReplaceReplica over rpc (one reconnect on a transport error). */
static void replace_replica(struct chunk_recover *r, struct zbs_rpc_client *rpc,
			    const struct chunk_session_recover *c,
			    const struct chunk_recover_result *res)
{
	Zbs__ReplaceReplicaRequest req = ZBS__REPLACE_REPLICA_REQUEST__INIT;
	struct zbs_rpc_error err = { .msg = "" };
	int rc = -ENOTCONN;

	struct chunk_session *ms = atomic_load(&r->ms);

	req.session_id = ms ? chunk_session_id(ms) : 0;
	req.cmd_id = c->id;
	req.pid = c->pid;
	req.epoch = c->epoch;
	req.lease_epoch = c->lease_epoch;
	req.src_cid = c->src_cid;
	req.dst_cid = c->dst_cid;
	req.replace_cid = c->replace_cid;
	req.gen = res->gen;
	req.ok = res->ok;
	req.error = (char *)res->error;
	req.bytes_copied = res->bytes_copied;
	for (int attempt = 0; attempt < 2 && rc < 0; attempt++) {
		if (rpc->fd < 0 &&
		    zbs_rpc_connect(rpc, r->meta_addr, (int)r->cfg.rpc_timeout_ms, &err))
			continue;
		rc = zbs_rpc_call(rpc, ZBS_M_REPLACE_REPLICA, &req.base, &zbs__empty__descriptor,
				  NULL, &err);
	}
	if (rc)
		log_warn("recover cmd %llu pid %llu: ReplaceReplica (%s): %s",
			 (unsigned long long)c->id, (unsigned long long)c->pid,
			 res->ok ? "ok" : "failed", err.msg);
}

static void finish(struct chunk_recover *r, struct zbs_rpc_client *rpc,
		   const struct chunk_session_recover *c, const struct chunk_recover_result *res)
{
	if (res->ok)
		log_info("[%s RECOVER END] cmd %llu pid %llu src %u dst %u replace %u gen %llu "
			 "copied %llu", c->agile ? "AGILE" : "NORMAL", (unsigned long long)c->id,
			 (unsigned long long)c->pid, c->src_cid, c->dst_cid, c->replace_cid,
			 (unsigned long long)res->gen, (unsigned long long)res->bytes_copied);
	else
		log_warn("[RECOVER FAILED] cmd %llu pid %llu src %u dst %u: %s",
			 (unsigned long long)c->id, (unsigned long long)c->pid, c->src_cid,
			 c->dst_cid, res->error);
	if (r->ops.done)
		r->ops.done(r->ops.arg, c, res);
	else
		replace_replica(r, rpc, c, res);
	/* the target goes only after meta heard: maps of the pid wait until
	 * meta's location has dst */
	if (r->cfg.agent && res->ok)
		chunk_agent_target_del(r->cfg.agent, c->pid);
}

/* ---- queue and workers ---------------------------------------------------- */

static bool __known(struct chunk_recover *r, uint64_t id)
{
	for (struct job *j = r->qhead; j; j = j->next)
		if (j->cmd.id == id)
			return true;
	for (struct job *j = r->running; j; j = j->next)
		if (j->cmd.id == id)
			return true;
	for (unsigned i = 0; i < DONE_RING; i++)
		if (r->done_ids[i] == id)
			return true;
	return false;
}

static void __unlink_running(struct chunk_recover *r, struct job *j)
{
	for (struct job **pp = &r->running; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

static void *worker(void *arg)
{
	struct chunk_recover *r = arg;
	struct zbs_rpc_client rpc = { .fd = -1 };

	if (r->cfg.nice)
		(void)zbs_thread_nice(RECOVER_GATE_NICE);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct chunk_recover_result res;
		struct job *j;

		while (!stopping(r) && (!r->qhead || r->nrunning >= r->limit))
			pthread_cond_wait(&r->cond, &r->lock);
		if (stopping(r))
			break;
		j = r->qhead;
		r->qhead = j->next;
		if (!r->qhead)
			r->qtail = &r->qhead;
		r->qlen--;
		j->next = r->running;
		r->running = j;
		r->nrunning++;
		pthread_mutex_unlock(&r->lock);

		memset(&res, 0, sizeof(res));
		log_info("[RECOVER] cmd %llu pid %llu epoch %llu lease_epoch %llu src %u (%s) "
			 "dst %u (%s) replace %u%s", (unsigned long long)j->cmd.id,
			 (unsigned long long)j->cmd.pid, (unsigned long long)j->cmd.epoch,
			 (unsigned long long)j->cmd.lease_epoch, j->cmd.src_cid, j->cmd.src_addr,
			 j->cmd.dst_cid, j->cmd.dst_addr, j->cmd.replace_cid,
			 j->cmd.is_migrate ? " migrate" : "");
		run_cmd(r, j, &res);
		finish(r, &rpc, &j->cmd, &res);

		pthread_mutex_lock(&r->lock);
		__unlink_running(r, j);
		r->nrunning--;
		r->done_ids[r->done_pos++ % DONE_RING] = j->cmd.id;
		pthread_cond_broadcast(&r->cond);	/* a slot is free */
		free(j);
	}
	pthread_mutex_unlock(&r->lock);
	zbs_rpc_close(&rpc);
	return NULL;
}

/* enough workers for what is queued, within the limit */
static void __spawn(struct chunk_recover *r)
{
	size_t want = r->nrunning + r->qlen;

	if (stopping(r))
		return;		/* joined: no new thread */
	if (want > r->limit)
		want = r->limit;
	while (r->nthreads < want && r->nthreads < CHUNK_RECOVER_MAX_CONCURRENCY) {
		if (pthread_create(&r->threads[r->nthreads], NULL, worker, r)) {
			log_warn("recover: cannot start a worker; %u run cmds", r->nthreads);
			break;
		}
		r->nthreads++;
	}
}

int chunk_recover_submit(struct chunk_recover *r, const struct chunk_session_recover *cmd)
{
	struct job *j;

	pthread_mutex_lock(&r->lock);
	if (stopping(r) || __known(r, cmd->id)) {
		int rc = stopping(r) ? -ESHUTDOWN : -EEXIST;

		pthread_mutex_unlock(&r->lock);
		return rc;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		pthread_mutex_unlock(&r->lock);
		log_err("recover cmd %llu: out of memory: not run", (unsigned long long)cmd->id);
		return -ENOMEM;
	}
	j->cmd = *cmd;
	*r->qtail = j;
	r->qtail = &j->next;
	r->qlen++;
	__spawn(r);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void chunk_recover_attach(struct chunk_recover *r, struct chunk_session *ms)
{
	atomic_store(&r->ms, ms);
}

void chunk_recover_set_limits(struct chunk_recover *r, unsigned concurrency, uint64_t bps)
{
	if (!concurrency)
		concurrency = CHUNK_RECOVER_CONCURRENCY;
	if (concurrency > CHUNK_RECOVER_MAX_CONCURRENCY)
		concurrency = CHUNK_RECOVER_MAX_CONCURRENCY;
	atomic_store(&r->bps, bps);
	pthread_mutex_lock(&r->lock);
	if (r->limit != concurrency) {
		log_info("recover: %u cmds at once (was %u)", concurrency, r->limit);
		r->limit = concurrency;
		__spawn(r);
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
}

size_t chunk_recover_progress(struct chunk_recover *r, struct chunk_session_recover_progress *out,
			      size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (struct job *j = r->running; j && n < max; j = j->next)
		out[n++] = (struct chunk_session_recover_progress){
			.cmd_id = j->cmd.id, .bytes_copied = atomic_load(&j->copied),
			.bytes_total = atomic_load(&j->total) };
	pthread_mutex_unlock(&r->lock);
	return n;
}

struct chunk_recover *chunk_recover_start(const struct chunk_recover_config *cfg,
					  const struct chunk_recover_ops *ops)
{
	struct chunk_recover *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cfg = *cfg;
	if (ops)
		r->ops = *ops;
	snprintf(r->meta_addr, sizeof(r->meta_addr), "%s", cfg->meta_addr ? cfg->meta_addr : "");
	r->cfg.meta_addr = r->meta_addr;
	if (!r->cfg.io_timeout_ms)
		r->cfg.io_timeout_ms = 9000;	/* remote_chunk_io_timeout_ms, SPEC 5.5 */
	if (!r->cfg.rpc_timeout_ms)
		r->cfg.rpc_timeout_ms = 3000;
	atomic_store(&r->ms, cfg->session);
	r->qtail = &r->qhead;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	pthread_mutex_init(&r->tb_lock, NULL);
	r->limit = CHUNK_RECOVER_CONCURRENCY;
	chunk_recover_set_limits(r, cfg->concurrency, cfg->bps);
	return r;
}

void chunk_recover_shutdown(struct chunk_recover *r)
{
	struct zbs_rpc_client rpc = { .fd = -1 };
	struct chunk_recover_result res = { .error = "the chunk is stopping" };
	struct job *q;
	unsigned n;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	atomic_store(&r->stopping, true);
	pthread_cond_broadcast(&r->cond);
	n = r->nthreads;
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(r->threads[i], NULL);
	/* the queued ones end too: meta retries them without waiting for
	 * their timeout */
	pthread_mutex_lock(&r->lock);
	r->nthreads = 0;	/* joined (a second shutdown joins none) */
	q = r->qhead;
	r->qhead = NULL;
	r->qtail = &r->qhead;
	r->qlen = 0;
	pthread_mutex_unlock(&r->lock);
	while (q) {
		struct job *j = q;

		q = j->next;
		finish(r, &rpc, &j->cmd, &res);
		free(j);
	}
	zbs_rpc_close(&rpc);
}

void chunk_recover_stop(struct chunk_recover *r)
{
	if (!r)
		return;
	chunk_recover_shutdown(r);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->tb_lock);
	free(r);
}

/* ---- chunk_session_ops ---------------------------------------------------- */

void chunk_recover_session_cmd(void *arg, const struct chunk_session_recover *cmd)
{
	int rc = chunk_recover_submit(arg, cmd);

	if (rc && rc != -EEXIST)
		log_warn("recover cmd %llu pid %llu not queued: %s", (unsigned long long)cmd->id,
			 (unsigned long long)cmd->pid, strerror(-rc));
}

size_t chunk_recover_session_progress(void *arg, struct chunk_session_recover_progress *out,
				      size_t max)
{
	return chunk_recover_progress(arg, out, max);
}

void chunk_recover_session_limits(void *arg, uint32_t concurrency, uint64_t bps)
{
	chunk_recover_set_limits(arg, concurrency, bps);
}
