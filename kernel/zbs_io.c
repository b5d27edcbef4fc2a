// SPDX-License-Identifier: GPL-2.0
/*
 * The IO path: a read or write request is one piece of one extent (the
 * queue limits keep it inside a stripe unit), routed by the extent's map.
 *
 * Writes go to every live replica of the map in parallel, each leg
 * carrying the next gen; the request completes when every leg answered.
 *  - some legs ok: the failed replicas are dropped from the map and
 *    reported to the agent; the request (and every write of the extent
 *    completing after it) succeeds once the agent answered that meta
 *    removed them, or is retried under a new map if the lease moved on
 *    (ARCHITECTURE.md 4 step 4, zbs_map.c);
 *  - a leg fenced (STALE, EPOCH): the map is dropped and the request asks
 *    for a new one;
 *  - a leg to a recovering target (ZBS_RF_RECOVERING) never counts as
 *    ok: it is not in meta's location yet; its failure is reported;
 *  - no leg ok: nothing is removed, the map is dropped and the request
 *    retries under a new map until the device's IO timeout; but when a
 *    chunk refused it for lack of space (NOSPC, before taking the gen) the
 *    request fails at once with BLK_STS_NOSPC: a capacity condition.
 * Reads go to one replica, the local one first, then the others in order.
 * Flushes go to every chunk written since the previous flush.
 *
 * Discard and write zeroes (both zero the range: a discarded range reads as
 * zeros) may span many stripe units and extents; the block layer does not
 * split them at stripe units, so the driver does: one WRITE_ZEROES per
 * extent and stripe group (zbs_layout_col_range), sent one after another,
 * each exactly like a write (every live replica, next gen, same failure
 * rules, IO timeout per range). A range of a never-written extent (the
 * agent answers -ENODATA to the read lease it asks for) needs nothing.
 *
 * Legs of reads and writes live in the request PDU (no allocation in the
 * IO path); flush legs, one per chunk, come from a mempool in a worker, in
 * batches: a flush waits for the pool only while it holds no leg, so the
 * legs out (which complete by themselves) always refill it.
 *
 * Timeouts (two layers, like nbd: per op from blk-mq's .timeout, per
 * connection in zbs_conn.c). A slow op or a busy chunk is not a failed
 * replica; only a leg out of retries is (for a write: dropped and reported).
 *  - Every leg sent has a deadline of op_timeout_ms (default 3000), plus
 *    ZBS_ZEROES_MS_PER_MIB ms per MiB for a WRITE_ZEROES (a whole extent:
 *    3 + 10.2 s). When it passes without a reply, the op is retried: it
 *    gets the same deadline again, ZBS_OP_TRIES attempts in all (the leg's
 *    budget: 4 x 3 s = 12 s for a small op). The retry does not re-send:
 *    TCP delivered the request and the chunk answers every request it read,
 *    in order behind what it is doing; a second copy of a write would only
 *    be refused as a duplicate gen (zbs_wire.h). Out of attempts, the leg
 *    fails with -ETIMEDOUT (a write drops that replica; a read tries the
 *    next one), and the connection stays up while the chunk answers others.
 *  - The connection is closed (every leg on it fails) only when the chunk
 *    is unresponsive: a leg on it is out of its budget and nothing at all
 *    was received on it for conn_timeout_ms (default 10000). So a chunk that
 *    answers nothing loses its replicas after max(budget, conn_timeout_ms),
 *    plus up to a second of timer slack: 12-13 s by default.
 *  - A reply with status BUSY (the chunk is overloaded; it changed
 *    nothing) is sent again after 50, 100, 200, 400, 800 and 1000 ms
 *    (ZBS_BUSY_RETRIES, 2.55 s in all); a 7th BUSY fails the leg. While
 *    legs wait for that, the connection sends nothing else, and a write of
 *    the same connection refused meanwhile with GEN because the replica is
 *    behind it (the BUSY one is missing) is retried the same way.
 * blk-mq's timer runs per request; its handler walks the request's legs
 * and is re-armed for the next leg deadline (whole seconds: blk-mq rounds).
 * The request as a whole still ends by the device's IO timeout (retries
 * under new maps) once its legs answered or failed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/mempool.h>
#include <linux/slab.h>

#include "zbs_internal.h"

#define CREATE_TRACE_POINTS
#include "zbs_trace.h"

#define ZBS_RETRY_DELAY		(HZ / 10)
#define ZBS_ZEROES_MS_PER_MIB	40	/* a WRITE_ZEROES' deadline: >= 25 MiB/s */

unsigned int zbs_op_timeout_ms = 3000;
ZBS_PARAM_RANGE(op_timeout_ms, zbs_op_timeout_ms, 100, 3600000);
MODULE_PARM_DESC(op_timeout_ms, "One attempt of one op on one chunk, 100-3600000 (default 3000; a WRITE_ZEROES gets 40 ms more per MiB); an op fails after 4 attempts");

static struct kmem_cache *zbs_leg_cache;
static mempool_t *zbs_leg_pool;

/* Ops that go to every replica with the next gen. */
static bool zbs_op_writes(u16 op)
{
	return op == ZBS_OP_WRITE || op == ZBS_OP_WRITE_ZEROES;
}

void zbs_cmd_end(struct zbs_cmd *cmd, blk_status_t st)
{
	struct zbs_dev *dev = cmd->dev;

	if (st != BLK_STS_OK)
		zbs_dev_err_ratelimited(dev, "%s of %u bytes at sector %llu failed (%d)\n",
				   cmd->op == ZBS_OP_READ ? "read" :
				   cmd->op == ZBS_OP_WRITE ? "write" :
				   cmd->op == ZBS_OP_WRITE_ZEROES ? "discard/write-zeroes" : "flush",
				   blk_rq_bytes(cmd->rq), blk_rq_pos(cmd->rq),
				   blk_status_to_errno(st));
	trace_zbs_rq_end(dev->id, cmd->op, blk_rq_pos(cmd->rq), blk_rq_bytes(cmd->rq),
			 blk_status_to_errno(st));
	blk_mq_end_request(cmd->rq, st);
	atomic64_dec(&dev->inflight);
}

/* One attempt of a leg's op: op_timeout_ms, longer for a long WRITE_ZEROES. */
unsigned long zbs_leg_attempt(const struct zbs_leg *leg)
{
	unsigned long ms = READ_ONCE(zbs_op_timeout_ms);

	if (le16_to_cpu(leg->req.opcode) == ZBS_OP_WRITE_ZEROES)
		ms += (unsigned long)(le32_to_cpu(leg->req.length) >> 20) * ZBS_ZEROES_MS_PER_MIB;
	return msecs_to_jiffies(ms);
}

/* The wait before sending a leg again after its tries-th BUSY (0-based). */
unsigned long zbs_busy_backoff(unsigned int tries)
{
	return msecs_to_jiffies(min(50U << min(tries, 5U), 1000U));
}

/*
 * blk-mq's .timeout: every leg of the current attempt still waiting for its
 * reply is checked against its deadline (zbs_leg_check_timeout), then the
 * timer is set for the next deadline. The request itself is never ended
 * here: a leg that fails is completed like any other, and the request ends
 * from its worker. Flush legs are left to the connection's liveness check.
 */
enum blk_eh_timer_return zbs_cmd_timeout(struct request *rq)
{
	struct zbs_cmd *cmd = blk_mq_rq_to_pdu(rq);
	unsigned long now = jiffies;
	unsigned long next = now + msecs_to_jiffies(READ_ONCE(zbs_op_timeout_ms));
	unsigned int i, n;

	/* only while legs are out: they hold their map, the map its chunks
	 * (a chunk is freed a grace period after its last use, zbs_chunk_reap) */
	rcu_read_lock();
	if (READ_ONCE(cmd->op) != ZBS_OP_FLUSH && atomic_read_acquire(&cmd->pending) > 0) {
		n = min_t(unsigned int, READ_ONCE(cmd->nr_legs), ZBS_MAX_REPLICAS);
		for (i = 0; i < n; i++)
			zbs_leg_check_timeout(&cmd->legs[i], now, &next);
	}
	rcu_read_unlock();
	rq->timeout = max_t(unsigned long, next - now, HZ / 10);
	return BLK_EH_RESET_TIMER;
}

static void zbs_leg_init(struct zbs_leg *leg, struct zbs_cmd *cmd, u16 op,
			 struct zbs_map *map)
{
	struct zbs_wire_req *r = &leg->req;

	memset(r, 0, sizeof(*r));
	r->magic = cpu_to_le32(ZBS_WIRE_REQ_MAGIC);
	r->version = cpu_to_le16(ZBS_WIRE_VERSION);
	r->opcode = cpu_to_le16(op);
	if (map) {
		r->pid = cpu_to_le64(map->pid);
		r->epoch = cpu_to_le64(map->epoch);
		r->lease_epoch = cpu_to_le64(map->lease_epoch);
	}
	leg->cmd = cmd;
	leg->conn = NULL;	/* until submitted (zbs_cmd_timeout) */
	leg->status = 0;
	leg->reply_gen = 0;
	leg->busy_since = 0;
	leg->tries = 0;
	leg->busy_tries = 0;
	atomic_set(&leg->xmit, ZBS_XMIT_IDLE);
	INIT_LIST_HEAD(&leg->node);
}

/* Replica slot to read from on attempt `tried`: local first, then in order. */
static int zbs_read_pick(struct zbs_map *map, unsigned int tried)
{
	unsigned int n = 0;
	int pass, i;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < map->nr; i++) {
			bool local = map->rep[i].flags & ZBS_RF_LOCAL;

			if ((pass == 0) != local)
				continue;
			if (test_bit(i, &map->failed) ||
			    (map->rep[i].flags & ZBS_RF_RECOVERING))
				continue;
			if (n++ == tried)
				return i;
		}
	}
	return -1;
}

static struct zbs_conn *zbs_pick_conn(struct zbs_chunk *c, u64 pid)
{
	/* one connection per (chunk, pid): writes stay in gen order */
	return &c->conns[pid % c->nr_conns];
}

/* Route a read or write(-zeroes) under its extent's map, or park it for one. */
void zbs_cmd_issue(struct zbs_cmd *cmd)
{
	struct zbs_ext *ext = cmd->ext;
	struct zbs_map *map;
	int n = 0, i;

	spin_lock(&ext->lock);
	map = __zbs_ext_map(ext);
	if (!map)
		goto park;

	if (zbs_op_writes(cmd->op)) {
		int counted = 0;

		for (i = 0; i < map->nr; i++) {
			struct zbs_leg *leg = &cmd->legs[n];

			if (test_bit(i, &map->failed))
				continue;
			zbs_leg_init(leg, cmd, cmd->op, map);
			leg->rep_idx = i;
			leg->chunk = map->rep[i].chunk;
			if (!(map->rep[i].flags & ZBS_RF_RECOVERING))
				counted++;
			n++;
		}
		if (!counted)
			goto drop;	/* a recovering target alone holds nothing */
		cmd->gen = map->next_gen++;
		for (i = 0; i < n; i++) {
			struct zbs_wire_req *r = &cmd->legs[i].req;

			r->gen = cpu_to_le64(cmd->gen);
			r->offset = cpu_to_le64(cmd->off);
			r->length = cpu_to_le32(cmd->len);
			r->flags = cpu_to_le32(cmd->fua ? ZBS_WF_FUA : 0);
		}
	} else {
		i = zbs_read_pick(map, cmd->tried);
		if (i < 0)
			goto drop;	/* every replica failed this read */
		zbs_leg_init(&cmd->legs[0], cmd, ZBS_OP_READ, map);
		cmd->legs[0].rep_idx = i;
		cmd->legs[0].chunk = map->rep[i].chunk;
		cmd->legs[0].req.offset = cpu_to_le64(cmd->off);
		cmd->legs[0].req.length = cpu_to_le32(cmd->len);
		n = 1;
	}

	kref_get(&map->ref);
	cmd->map = map;
	cmd->map_bad = false;
	ext->inflight++;
	atomic_set(&cmd->ok, 0);
	cmd->nr_legs = n;
	atomic_set_release(&cmd->pending, n);	/* legs set up: zbs_cmd_timeout */
	/* under ext->lock: legs of this pid enter each connection in gen order */
	for (i = 0; i < n; i++)
		zbs_leg_submit(&cmd->legs[i], zbs_pick_conn(cmd->legs[i].chunk, map->pid));
	spin_unlock(&ext->lock);
	return;

drop:
	__zbs_ext_drop_map(ext, map);
park:
	cmd->tried = 0;
	__zbs_ext_park(ext, cmd);
	spin_unlock(&ext->lock);
}

/* A wire status (>= 0) or a negative errno, as a negative errno. */
int zbs_wire_errno(int st)
{
	static const int map[] = {
		[ZBS_ST_OK] = 0,		[ZBS_ST_INVAL] = -EINVAL,
		[ZBS_ST_BADOP] = -EOPNOTSUPP,	[ZBS_ST_PROTO] = -EPROTO,
		[ZBS_ST_NOENT] = -ENOENT,	[ZBS_ST_EPOCH] = -EXDEV,
		[ZBS_ST_STALE] = -ESTALE,	[ZBS_ST_GEN] = -EBADE,
		[ZBS_ST_IO] = -EIO,		[ZBS_ST_NOSPC] = -ENOSPC,
		[ZBS_ST_RECOVERING] = -EBUSY,	[ZBS_ST_BUSY] = -EBUSY,
		[ZBS_ST_UNTRACKED] = -ENODATA,
	};

	if (st < 0)
		return st;
	return st < ARRAY_SIZE(map) ? map[st] : -EIO;
}

static bool zbs_st_fenced(int st)
{
	return st == ZBS_ST_STALE || st == ZBS_ST_EPOCH;
}

static void zbs_cmd_retry_work(struct work_struct *work)
{
	struct zbs_cmd *cmd = container_of(to_delayed_work(work), struct zbs_cmd, dwork);

	zbs_cmd_issue(cmd);
}

/* ---- discard / write zeroes ------------------------------------------ */

/*
 * Move the cursor to the next range of the request: the next column of the
 * current stripe group that the request reaches, else the next group.
 * Sets off/len/dz_vext; false when the request is done.
 */
static bool zbs_zeroes_advance(struct zbs_cmd *cmd)
{
	const struct zbs_ioc_dev_config *cfg = &cmd->dev->cfg;
	u64 group_bytes = (u64)cfg->stripe_num * ZBS_EXTENT_SIZE;

	while (cmd->dz_left) {
		u64 rem, step;

		while (cmd->dz_col < cfg->stripe_num) {
			u64 vext, eoff, len;

			len = zbs_layout_col_range(cfg->stripe_num, cfg->stripe_size,
						   cmd->dz_pos, cmd->dz_left, cmd->dz_col++,
						   &vext, &eoff);
			if (len) {
				cmd->dz_vext = vext;
				cmd->off = eoff;
				cmd->len = len;		/* <= ZBS_EXTENT_SIZE */
				return true;
			}
		}
		div64_u64_rem(cmd->dz_pos, group_bytes, &rem);
		step = min(group_bytes - rem, cmd->dz_left);
		cmd->dz_pos += step;
		cmd->dz_left -= step;
		cmd->dz_col = 0;
	}
	return false;
}

static void zbs_zeroes_start_work(struct work_struct *work);

/* Issue the current range (worker context): its extent slot may need memory. */
static void zbs_zeroes_start(struct zbs_cmd *cmd)
{
	struct zbs_dev *dev = cmd->dev;
	struct zbs_ext *ext = zbs_ext_get(dev, cmd->dz_vext, GFP_NOIO);

	if (!ext) {
		if (time_after_eq(jiffies, cmd->deadline) || READ_ONCE(dev->dying)) {
			zbs_cmd_end(cmd, BLK_STS_IOERR);
			return;
		}
		INIT_DELAYED_WORK(&cmd->dwork, zbs_zeroes_start_work);
		queue_delayed_work(zbs_wq, &cmd->dwork, ZBS_RETRY_DELAY);
		return;
	}
	cmd->ext = ext;
	cmd->tried = 0;
	zbs_cmd_issue(cmd);
}

static void zbs_zeroes_start_work(struct work_struct *work)
{
	zbs_zeroes_start(container_of(to_delayed_work(work), struct zbs_cmd, dwork));
}

/* The current range is done (worker context): the next one, or the end. */
static void zbs_zeroes_next(struct zbs_cmd *cmd)
{
	if (!zbs_zeroes_advance(cmd)) {
		zbs_cmd_end(cmd, BLK_STS_OK);
		return;
	}
	if (READ_ONCE(cmd->dev->dying)) {
		zbs_cmd_end(cmd, BLK_STS_IOERR);
		return;
	}
	cmd->deadline = jiffies + cmd->dev->io_timeout;		/* per range */
	zbs_zeroes_start(cmd);
}

static void zbs_zeroes_next_work(struct work_struct *work)
{
	zbs_zeroes_next(container_of(to_delayed_work(work), struct zbs_cmd, dwork));
}

/* The current range needs nothing (never-written extent): go on from a worker. */
void zbs_cmd_zeroes_next(struct zbs_cmd *cmd)
{
	INIT_DELAYED_WORK(&cmd->dwork, zbs_zeroes_next_work);
	queue_delayed_work(zbs_wq, &cmd->dwork, 0);
}

/*
 * What follows the legs of a read or write (process context, no locks):
 * the next range of a write zeroes, the end, or another attempt.
 */
static void zbs_cmd_next(struct zbs_cmd *cmd, bool ok, bool map_bad, bool nospc)
{
	struct zbs_dev *dev = cmd->dev;

	if (ok && cmd->op == ZBS_OP_WRITE_ZEROES) {
		zbs_zeroes_next(cmd);
	} else if (ok) {
		zbs_cmd_end(cmd, BLK_STS_OK);
	} else if (nospc && zbs_op_writes(cmd->op)) {
		/* out of space is a capacity condition, not a replica fault:
		 * the chunks refused before taking the gen, nothing to remove */
		zbs_cmd_end(cmd, BLK_STS_NOSPC);
	} else if (time_before(jiffies, cmd->deadline) && !READ_ONCE(dev->dying)) {
		INIT_DELAYED_WORK(&cmd->dwork, zbs_cmd_retry_work);
		if (map_bad)
			cmd->tried = 0;
		/* a read tries its next replica at once; anything else backs off */
		queue_delayed_work(zbs_wq, &cmd->dwork,
				   cmd->op == ZBS_OP_READ && !map_bad ? 0 : ZBS_RETRY_DELAY);
	} else {
		/* no replica could be reached: a transport error (ENOLINK), not
		 * one a chunk reported (EIO) */
		zbs_cmd_end(cmd, cmd->transport ? BLK_STS_TRANSPORT : BLK_STS_IOERR);
	}
}

void zbs_cmd_report_done(struct zbs_cmd *cmd, bool ok)
{
	zbs_map_put(cmd->map);
	cmd->map = NULL;
	/* not ok: a removal was refused because the lease moved on; the
	 * write was not acknowledged, so it is sent again under a new map */
	zbs_cmd_next(cmd, ok, !ok, false);
}

/*
 * Every leg of a read or write answered: decide (process context, no locks).
 * A write that some replicas took and others failed drops the failed ones
 * from the map and reports them; it (and every write after it on the
 * extent) is acknowledged only once the agent answered those reports:
 * meta removed the replicas for this lease (ARCHITECTURE.md 4a, I1).
 */
static void zbs_cmd_done(struct zbs_cmd *cmd)
{
	struct zbs_ext *ext = cmd->ext;
	struct zbs_map *map = cmd->map;
	struct zbs_dev *dev = cmd->dev;
	int ok = atomic_read(&cmd->ok);
	bool map_bad = false, drained, nospc = false, wait = false, send = false;
	int i;

	cmd->transport = !ok && cmd->nr_legs;
	for (i = 0; i < cmd->nr_legs; i++) {
		if (zbs_st_fenced(cmd->legs[i].status))
			map_bad = true;
		if (cmd->legs[i].status == ZBS_ST_NOSPC)
			nospc = true;
		if (!zbs_leg_transport_err(cmd->legs[i].status))
			cmd->transport = false;
	}
	if (zbs_op_writes(cmd->op) && !ok)
		map_bad = true;		/* total failure: nothing removed, ask again */
	if (cmd->op == ZBS_OP_READ && !ok && !map_bad)
		cmd->tried++;		/* next replica under the same map */
	if (cmd->op == ZBS_OP_READ && ok)	/* where reads are served from */
		atomic64_add(cmd->len, map->rep[cmd->legs[0].rep_idx].flags & ZBS_RF_LOCAL ?
				       &dev->read_local : &dev->read_remote);

	spin_lock(&ext->lock);
	if (zbs_op_writes(cmd->op) && ok) {
		/* partial failure: drop and report the replicas that failed */
		for (i = 0; i < cmd->nr_legs; i++) {
			struct zbs_leg *leg = &cmd->legs[i];

			if (leg->status == ZBS_ST_OK || test_and_set_bit(leg->rep_idx, &map->failed))
				continue;
			zbs_dev_warn_ratelimited(dev, "pid %llu: replica on cid %u failed (%d), dropped at gen %llu\n",
					    map->pid, map->rep[leg->rep_idx].cid,
					    zbs_wire_errno(leg->status), cmd->gen + 1);
			trace_zbs_replica_failed(dev->id, ext->vext, map->pid,
						 map->rep[leg->rep_idx].cid, cmd->gen + 1,
						 zbs_wire_errno(leg->status));
			__zbs_ext_report(ext, map, ZBS_CMD_REPLICA_FAILED, leg->rep_idx,
					 cmd->gen + 1, zbs_wire_errno(leg->status));
			send = true;
		}
		if (!map->ever_exist) {
			map->ever_exist = true;
			__zbs_ext_report(ext, map, ZBS_CMD_EXISTENCE, -1, cmd->gen + 1, 0);
			send = true;
		}
	}
	if (map_bad)
		__zbs_ext_drop_map(ext, map);
	drained = --ext->inflight == 0;
	if (drained && ext->req_id && !ext->req_sent)
		send = true;		/* a map request deferred until now */
	if (zbs_op_writes(cmd->op) && ok)
		wait = __zbs_ext_ackwait(ext, cmd);	/* keeps its map reference */
	spin_unlock(&ext->lock);
	if (send)
		queue_work(zbs_wq, &ext->upcall_work);
	if (drained)
		wake_up(&zbs_drain_wait);
	if (wait)
		return;
	zbs_map_put(map);
	cmd->map = NULL;
	zbs_cmd_next(cmd, ok, map_bad, nospc);
}

static void zbs_cmd_done_work(struct work_struct *work)
{
	zbs_cmd_done(container_of(to_delayed_work(work), struct zbs_cmd, dwork));
}

/* ---- flush ----------------------------------------------------------- */

/* A chunk failed a flush: its replicas in this device's maps may have lost
 * acknowledged writes, so they leave the maps (and meta's location). */
static bool zbs_flush_chunk_failed(struct zbs_dev *dev, struct zbs_chunk *c, int err)
{
	struct zbs_ext *ext;
	unsigned long idx;
	bool lost = false;

	xa_for_each(&dev->exts, idx, ext) {
		struct zbs_map *map;
		int i, live = 0, hit = -1;

		spin_lock(&ext->lock);
		map = ext->map;
		if (map) {
			for (i = 0; i < map->nr; i++) {
				if (map->rep[i].chunk == c && !test_bit(i, &map->failed))
					hit = i;
				else if (!test_bit(i, &map->failed) &&
					 !(map->rep[i].flags & ZBS_RF_RECOVERING))
					live++;
			}
			if (hit >= 0) {
				set_bit(hit, &map->failed);
				__zbs_ext_report(ext, map, ZBS_CMD_REPLICA_FAILED, hit,
						 map->next_gen, err);
			}
		}
		spin_unlock(&ext->lock);
		if (hit < 0)
			continue;
		if (!live)
			lost = true;
		queue_work(zbs_wq, &ext->upcall_work);
	}
	return lost;
}

static void zbs_flush_done_work(struct work_struct *work);

/*
 * Send the next batch of a flush's legs, or end it when no chunk is left
 * (worker context). The first leg of a batch may wait for the pool: the
 * flush holds no leg then, and every leg taken from the pool is out and
 * completes on its own. The others are taken only if free at once.
 */
static void zbs_flush_next(struct zbs_cmd *cmd)
{
	unsigned int bit, n = 0;

	for_each_set_bit(bit, cmd->flush_chunks, ZBS_MAX_CHUNKS) {
		struct zbs_leg *leg;

		if (n == ZBS_FLUSH_BATCH)
			break;
		leg = mempool_alloc(zbs_leg_pool, n ? GFP_NOWAIT : GFP_NOIO);
		if (!leg)
			break;
		zbs_leg_init(leg, cmd, ZBS_OP_FLUSH, NULL);
		leg->chunk = zbs_chunk_by_idx(bit);	/* the bit's use moves to the leg */
		__clear_bit(bit, cmd->flush_chunks);
		cmd->flush_legs[n++] = leg;
	}
	if (!n) {
		zbs_cmd_end(cmd, cmd->flush_lost ? BLK_STS_IOERR : BLK_STS_OK);
		return;
	}
	cmd->nr_flush_legs = n;
	INIT_DELAYED_WORK(&cmd->dwork, zbs_flush_done_work);
	atomic_set(&cmd->pending, n);
	for (bit = 0; bit < n; bit++) {
		struct zbs_leg *leg = cmd->flush_legs[bit];

		zbs_leg_submit(leg, &leg->chunk->conns[0]);
	}
}

/* A batch of flush legs answered: note failures, then the next batch. */
static void zbs_flush_done_work(struct work_struct *work)
{
	struct zbs_cmd *cmd = container_of(to_delayed_work(work), struct zbs_cmd, dwork);
	struct zbs_dev *dev = cmd->dev;
	u32 i;

	for (i = 0; i < cmd->nr_flush_legs; i++) {
		struct zbs_leg *leg = cmd->flush_legs[i];

		if (leg->status != ZBS_ST_OK) {
			zbs_dev_warn_ratelimited(dev, "flush failed on chunk %pI4:%u (%d)\n",
					    &leg->chunk->addr, leg->chunk->port,
					    leg->status);
			if (zbs_flush_chunk_failed(dev, leg->chunk, zbs_wire_errno(leg->status)))
				cmd->flush_lost = true;
		}
		zbs_chunk_put(leg->chunk);
		mempool_free(leg, zbs_leg_pool);
		cmd->flush_legs[i] = NULL;
	}
	cmd->nr_flush_legs = 0;
	zbs_flush_next(cmd);
}

static void zbs_flush_work(struct work_struct *work)
{
	struct zbs_cmd *cmd = container_of(to_delayed_work(work), struct zbs_cmd, dwork);
	struct zbs_dev *dev = cmd->dev;

	spin_lock(&dev->dirty_lock);
	bitmap_copy(cmd->flush_chunks, dev->dirty_chunks, ZBS_MAX_CHUNKS);
	bitmap_zero(dev->dirty_chunks, ZBS_MAX_CHUNKS);
	spin_unlock(&dev->dirty_lock);
	cmd->flush_lost = false;
	cmd->nr_flush_legs = 0;
	zbs_flush_next(cmd);
}

/*
 * A write leg to a recovering target (ARCHITECTURE.md 4a, "Recovery with
 * live writes"): it must take the write, but it is not in meta's location,
 * so it never counts toward the write's success; a write that only it took
 * is a total failure. Its failure is reported like any replica's.
 */
static bool zbs_leg_recovering(const struct zbs_leg *leg)
{
	const struct zbs_cmd *cmd = leg->cmd;

	return zbs_op_writes(cmd->op) && cmd->map &&
	       (cmd->map->rep[leg->rep_idx].flags & ZBS_RF_RECOVERING);
}

/* A leg answered or failed (rx/tx thread, no locks held). */
void zbs_leg_done(struct zbs_leg *leg)
{
	struct zbs_cmd *cmd = leg->cmd;

	/* never while its data is being sent: the request could end first */
	WARN_ON_ONCE(atomic_read(&leg->xmit) == ZBS_XMIT_SENDING);
	if (leg->status == ZBS_ST_OK) {
		if (!zbs_leg_recovering(leg))
			atomic_inc(&cmd->ok);
		if (zbs_op_writes(cmd->op)) {
			/* the map (cmd->map) keeps the chunk in use until then */
			spin_lock(&cmd->dev->dirty_lock);
			if (!__test_and_set_bit(leg->chunk->idx, cmd->dev->dirty_chunks))
				zbs_chunk_hold(leg->chunk);
			spin_unlock(&cmd->dev->dirty_lock);
		}
	}
	if (!atomic_dec_and_test(&cmd->pending))
		return;
	/*
	 * The common case, every leg of a read or a (not first) write ok,
	 * completes here in the rx thread: no workqueue hop. Failures, a
	 * first write (it sends an existence event) and write zeroes (the
	 * next range may allocate) take the worker.
	 */
	if ((cmd->op == ZBS_OP_READ || cmd->op == ZBS_OP_WRITE) &&
	    atomic_read(&cmd->ok) == cmd->nr_legs &&
	    (cmd->op == ZBS_OP_READ || READ_ONCE(cmd->map->ever_exist))) {
		zbs_cmd_done(cmd);
		return;
	}
	if (cmd->op != ZBS_OP_FLUSH)
		INIT_DELAYED_WORK(&cmd->dwork, zbs_cmd_done_work);
	queue_delayed_work(zbs_wq, &cmd->dwork, 0);
}

blk_status_t zbs_queue_rq(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct zbs_dev *dev = hctx->queue->queuedata;
	struct zbs_cmd *cmd = blk_mq_rq_to_pdu(rq);
	u64 off, vext, eoff;

	if (READ_ONCE(dev->dying))
		return BLK_STS_IOERR;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		cmd->op = ZBS_OP_READ;
		break;
	case REQ_OP_WRITE:
		cmd->op = ZBS_OP_WRITE;
		break;
	case REQ_OP_FLUSH:
		cmd->op = ZBS_OP_FLUSH;
		break;
	case REQ_OP_DISCARD:		/* zeroes too: see the limits in zbs_dev.c */
	case REQ_OP_WRITE_ZEROES:
		cmd->op = ZBS_OP_WRITE_ZEROES;
		break;
	default:
		return BLK_STS_NOTSUPP;
	}
	/*
	 * A read-only mapping never writes, whatever reached the queue: on
	 * this kernel a write bio to a read-only disk is only warned about
	 * (bio_check_ro), and a write would ask for a write lease and fence
	 * the volume's real owner. Nothing was written, so a flush is done.
	 */
	if (dev->cfg.flags & ZBS_DEV_F_READONLY && cmd->op != ZBS_OP_READ) {
		if (cmd->op == ZBS_OP_FLUSH) {
			blk_mq_start_request(rq);
			blk_mq_end_request(rq, BLK_STS_OK);
			return BLK_STS_OK;
		}
		zbs_dev_warn_ratelimited(dev, "write to a read-only mapping refused (sector %llu)\n",
					 (unsigned long long)blk_rq_pos(rq));
		return BLK_STS_IOERR;
	}
	trace_zbs_rq_start(dev->id, cmd->op, blk_rq_pos(rq), blk_rq_bytes(rq));
	cmd->rq = rq;
	cmd->dev = dev;
	cmd->map = NULL;
	cmd->fua = rq->cmd_flags & REQ_FUA;
	cmd->transport = false;
	cmd->tried = 0;
	cmd->len = 0;
	cmd->nr_legs = 0;	/* legs are set up by zbs_leg_init when issued */
	INIT_LIST_HEAD(&cmd->park);

	if (cmd->op == ZBS_OP_WRITE_ZEROES) {
		/* the first range now, the others as each one completes */
		cmd->dz_pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
		cmd->dz_left = blk_rq_bytes(rq);
		cmd->dz_col = 0;
		if (WARN_ON_ONCE(!cmd->dz_left || !zbs_zeroes_advance(cmd)))
			return BLK_STS_IOERR;
		cmd->ext = zbs_ext_get(dev, cmd->dz_vext, GFP_NOWAIT);
		if (!cmd->ext)
			return BLK_STS_RESOURCE;
	} else if (cmd->op != ZBS_OP_FLUSH) {
		off = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
		cmd->len = blk_rq_bytes(rq);
		if (WARN_ON_ONCE(!cmd->len || cmd->len > ZBS_MAX_IO_BYTES ||
				 zbs_layout_piece_len(dev->cfg.stripe_size, off,
						      cmd->len) != cmd->len))
			return BLK_STS_IOERR;
		zbs_layout_map(dev->cfg.stripe_num, dev->cfg.stripe_size, off,
			       &vext, &eoff);
		cmd->off = eoff;
		cmd->ext = zbs_ext_get(dev, vext, GFP_NOWAIT);
		if (!cmd->ext)
			return BLK_STS_RESOURCE;
	}

	/* the first look at its legs' deadlines (zbs_cmd_timeout) */
	rq->timeout = msecs_to_jiffies(READ_ONCE(zbs_op_timeout_ms));
	blk_mq_start_request(rq);
	atomic64_inc(&dev->inflight);
	cmd->deadline = jiffies + dev->io_timeout;
	if (cmd->op == ZBS_OP_FLUSH) {
		INIT_DELAYED_WORK(&cmd->dwork, zbs_flush_work);
		queue_delayed_work(zbs_wq, &cmd->dwork, 0);
	} else {
		zbs_cmd_issue(cmd);
	}
	return BLK_STS_OK;
}

#define ZBS_LEG_POOL_MIN	64

/* The pool's allocator; with the leg_pool_only hook set, as if memory were
 * short: only the pool's reserve is left. */
static void *zbs_leg_pool_alloc(gfp_t gfp, void *data)
{
	if (zbs_test_hooks && atomic_read(&zbs_fault_leg_pool_only))
		return NULL;
	return kmem_cache_alloc(zbs_leg_cache, gfp);
}

/* Test hook: n > 0: flush legs only from a reserve of n; 0: back to normal. */
int zbs_io_test_leg_pool(unsigned int n)
{
	if (n > ZBS_LEG_POOL_MIN)
		return -EINVAL;
	if (!n) {
		atomic_set(&zbs_fault_leg_pool_only, 0);
		return mempool_resize(zbs_leg_pool, ZBS_LEG_POOL_MIN);
	}
	atomic_set(&zbs_fault_leg_pool_only, n);
	return mempool_resize(zbs_leg_pool, n);
}

int zbs_io_setup(void)
{
	zbs_leg_cache = KMEM_CACHE(zbs_leg, 0);
	if (!zbs_leg_cache)
		return -ENOMEM;
	zbs_leg_pool = mempool_create(ZBS_LEG_POOL_MIN, zbs_leg_pool_alloc, mempool_free_slab,
				      zbs_leg_cache);
	if (!zbs_leg_pool) {
		kmem_cache_destroy(zbs_leg_cache);
		return -ENOMEM;
	}
	return 0;
}

void zbs_io_release(void)
{
	mempool_destroy(zbs_leg_pool);
	kmem_cache_destroy(zbs_leg_cache);
}
