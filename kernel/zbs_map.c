// SPDX-License-Identifier: GPL-2.0
/*
 * Extent-map cache of a device: one struct zbs_ext per vextent touched,
 * holding the current map (lease) and the commands parked while there is
 * none. A miss sends one map request per vextent to the agent, however many
 * commands wait; the per-device tick re-sends requests that got no answer
 * and fails commands past their IO deadline.
 *
 * A map is used only while it has not expired and the agent's session
 * holds (zbs_genl_session_valid()); otherwise it is dropped on the spot
 * and the command parks for a new one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>

#include "zbs_internal.h"

unsigned int zbs_map_retry_ms = 3000;
ZBS_PARAM_RANGE(map_retry_ms, zbs_map_retry_ms, 100, 600000);
MODULE_PARM_DESC(map_retry_ms, "Re-send an unanswered map request after this, and ask again at most this long after the agent said -EAGAIN, 100-600000 (default 3000)");

DECLARE_WAIT_QUEUE_HEAD(zbs_drain_wait);	/* an extent's inflight reached 0 */

/* Live objects, checked at module exit: a leak is a warning (tests fail). */
atomic_t zbs_live_maps = ATOMIC_INIT(0);
atomic_t zbs_live_exts = ATOMIC_INIT(0);
static atomic64_t zbs_next_req_id = ATOMIC64_INIT(0);
static atomic64_t zbs_revoke_seq = ATOMIC64_INIT(0);

static void zbs_map_release(struct kref *ref)
{
	struct zbs_map *map = container_of(ref, struct zbs_map, ref);
	int i;

	/* every chunk the map names, also one a failed parse left past nr */
	for (i = 0; i < ZBS_MAX_REPLICAS; i++)
		if (map->rep[i].chunk)
			zbs_chunk_put(map->rep[i].chunk);
	kfree(map);
	atomic_dec(&zbs_live_maps);
}

void zbs_map_put(struct zbs_map *map)
{
	if (map)
		kref_put(&map->ref, zbs_map_release);
}

struct zbs_map *zbs_map_alloc(gfp_t gfp)
{
	struct zbs_map *map = kzalloc(sizeof(*map), gfp);

	if (map) {
		kref_init(&map->ref);
		atomic_inc(&zbs_live_maps);
	}
	return map;
}

/* Send the extent's unsent reports; false when none is pending any more. */
static bool zbs_ext_send_reports(struct zbs_ext *ext)
{
	struct zbs_report_msg msg[ZBS_MAX_REPLICAS + 1];
	struct zbs_report *r;
	int n = 0, i;
	bool pending;

	spin_lock(&ext->lock);
	list_for_each_entry(r, &ext->reports, node) {
		if (r->sent)
			continue;
		if (n == ARRAY_SIZE(msg))
			break;		/* the rest on the next pass */
		msg[n] = (struct zbs_report_msg){
			.id = r->id, .pid = r->map->pid, .epoch = r->map->epoch,
			.lease_epoch = r->map->lease_epoch, .gen = r->gen, .err = r->err,
			.cid = r->idx >= 0 ? r->map->rep[r->idx].cid : 0, .cmd = r->cmd,
		};
		r->sent = jiffies ?: 1;
		n++;
	}
	pending = !list_empty(&ext->reports);
	spin_unlock(&ext->lock);

	for (i = 0; i < n; i++) {
		if (!zbs_genl_report(ext->dev, ext->vext, &msg[i]))
			continue;
		/* no agent: send it again to the next one (the tick, a register) */
		spin_lock(&ext->lock);
		list_for_each_entry(r, &ext->reports, node)
			if (r->id == msg[i].id)
				r->sent = 0;
		spin_unlock(&ext->lock);
	}
	return pending;
}

static void zbs_ext_upcall_work(struct work_struct *work)
{
	struct zbs_ext *ext = container_of(work, struct zbs_ext, upcall_work);
	u64 req_id;
	bool write;

	/* reports first: the agent must act on them before it syncs a new map */
	if (zbs_ext_send_reports(ext))
		return;		/* the last REPORT_ACK queues this work again */

	spin_lock(&ext->lock);
	/* Not while IO issued under an older map is in flight: the agent's
	 * generation sync must see every replica at rest. The last command
	 * to drain queues this work again. */
	req_id = ext->req_sent || ext->inflight || !list_empty(&ext->reports) ? 0 : ext->req_id;
	write = ext->req_write;
	spin_unlock(&ext->lock);
	if (!req_id)
		return;

	if (zbs_genl_map_request(ext->dev, ext->vext, req_id, write))
		return;		/* no agent: the tick tries again */

	spin_lock(&ext->lock);
	if (ext->req_id == req_id)
		ext->req_sent = jiffies ?: 1;
	spin_unlock(&ext->lock);
}

void __zbs_ext_report(struct zbs_ext *ext, struct zbs_map *map, u8 cmd, int idx, u64 gen,
		      int err)
{
	struct zbs_report *r = idx >= 0 ? &map->fail_rep[idx] : &map->exist_rep;

	lockdep_assert_held(&ext->lock);
	r->map = map;
	kref_get(&map->ref);
	r->id = atomic64_inc_return(&zbs_next_req_id);
	r->sent = 0;
	r->gen = gen;
	r->err = err;
	r->idx = idx;
	r->cmd = cmd;
	list_add_tail(&r->node, &ext->reports);
	atomic_inc(&ext->dev->nr_reports);
}

bool __zbs_ext_ackwait(struct zbs_ext *ext, struct zbs_cmd *cmd)
{
	lockdep_assert_held(&ext->lock);
	if (list_empty(&ext->reports))
		return false;
	list_add_tail(&cmd->park, &ext->ackwait);
	atomic_inc(&ext->dev->nr_reports);
	return true;
}

/*
 * The agent answered report `req_id`. 0: done; -ESTALE: the lease moved on
 * (the report's map is dropped and the waiting writes are retried under a
 * new map); anything else: send it again later. When the last report is
 * answered, the waiting writes complete and the map request goes out.
 */
int zbs_map_report_ack(struct zbs_dev *dev, u64 vext, u64 req_id, int err)
{
	struct zbs_ext *ext = xa_load(&dev->exts, vext);
	struct zbs_report *r, *found = NULL;
	struct zbs_map *map = NULL;
	struct zbs_cmd *cmd, *tmp;
	LIST_HEAD(done);
	bool reissue = false;

	if (!ext)
		return -ENOENT;
	if (zbs_test_hooks)
		zbs_fault_delay(&zbs_fault_slot_delay_ms);	/* test: DEL_DEV meanwhile */
	spin_lock(&ext->lock);
	list_for_each_entry(r, &ext->reports, node) {
		if (r->id == req_id) {
			found = r;
			break;
		}
	}
	if (!found) {
		spin_unlock(&ext->lock);
		return 0;		/* answered before (a duplicate) */
	}
	if (err && err != -ESTALE) {
		found->sent = 0;	/* the tick sends it again */
		spin_unlock(&ext->lock);
		return 0;
	}
	if (err == -ESTALE) {
		ext->reissue = true;
		__zbs_ext_drop_map(ext, found->map);
	}
	list_del_init(&found->node);
	atomic_dec(&dev->nr_reports);
	map = found->map;
	found->map = NULL;
	if (list_empty(&ext->reports)) {
		list_for_each_entry(cmd, &ext->ackwait, park)
			atomic_dec(&dev->nr_reports);
		list_splice_init(&ext->ackwait, &done);
		reissue = ext->reissue;
		ext->reissue = false;
	}
	spin_unlock(&ext->lock);
	zbs_map_put(map);

	list_for_each_entry_safe(cmd, tmp, &done, park) {
		list_del_init(&cmd->park);
		zbs_cmd_report_done(cmd, !reissue);
	}
	queue_work(zbs_wq, &ext->upcall_work);	/* a deferred map request */
	return 0;
}

struct zbs_ext *zbs_ext_get(struct zbs_dev *dev, u64 vext, gfp_t gfp)
{
	struct zbs_ext *ext, *old;

	ext = xa_load(&dev->exts, vext);
	if (ext)
		return ext;
	ext = kzalloc(sizeof(*ext), gfp);
	if (!ext)
		return NULL;
	atomic_inc(&zbs_live_exts);
	ext->dev = dev;
	ext->vext = vext;
	spin_lock_init(&ext->lock);
	INIT_LIST_HEAD(&ext->parked);
	INIT_LIST_HEAD(&ext->reports);
	INIT_LIST_HEAD(&ext->ackwait);
	INIT_WORK(&ext->upcall_work, zbs_ext_upcall_work);
	old = xa_cmpxchg(&dev->exts, vext, NULL, ext, gfp);
	if (old) {
		kfree(ext);
		atomic_dec(&zbs_live_exts);
		return xa_is_err(old) ? NULL : old;
	}
	return ext;
}

/* Ask the agent for this extent's map, once (ext->lock held). */
static void __zbs_ext_want_map(struct zbs_ext *ext, bool write)
{
	if (write && ext->req_id && !ext->req_write) {
		/* a read request is out; ask again for a write lease */
		ext->req_id = 0;
	}
	if (ext->req_id)
		return;
	ext->req_id = atomic64_inc_return(&zbs_next_req_id);
	ext->req_sent = 0;
	ext->req_again = false;
	ext->req_write = write;
	queue_work(zbs_wq, &ext->upcall_work);
}

void __zbs_ext_park(struct zbs_ext *ext, struct zbs_cmd *cmd)
{
	lockdep_assert_held(&ext->lock);
	list_add_tail(&cmd->park, &ext->parked);
	atomic_inc(&ext->dev->nr_parked);
	/* write zeroes asks for a read lease: it allocates nothing on meta,
	 * and a never-written extent (-ENODATA) needs no zeroing */
	__zbs_ext_want_map(ext, cmd->op == ZBS_OP_WRITE);
}

void __zbs_ext_drop_map(struct zbs_ext *ext, struct zbs_map *map)
{
	lockdep_assert_held(&ext->lock);
	if (!map || ext->map != map)
		return;
	ext->map = NULL;
	atomic_dec(&ext->dev->nr_maps);
	zbs_map_put(map);	/* the slot's reference; callers hold their own */
}

struct zbs_map *__zbs_ext_map(struct zbs_ext *ext)
{
	struct zbs_map *map = ext->map;

	lockdep_assert_held(&ext->lock);
	if (map && (time_after_eq(jiffies, map->expires) || !zbs_genl_session_valid())) {
		__zbs_ext_drop_map(ext, map);
		map = NULL;
	}
	return map;
}

/* Take every parked command off an extent (ext->lock held). */
static void __zbs_ext_unpark_all(struct zbs_ext *ext, struct list_head *out)
{
	struct zbs_cmd *cmd;

	list_for_each_entry(cmd, &ext->parked, park)
		atomic_dec(&ext->dev->nr_parked);
	list_splice_init(&ext->parked, out);
}

/* Complete a read of a never-written extent: it reads as zeros. */
static void zbs_cmd_zero_fill(struct zbs_cmd *cmd)
{
	struct req_iterator iter;
	struct bio_vec bvec;

	rq_for_each_segment(bvec, cmd->rq, iter)
		memzero_bvec(&bvec);
	zbs_cmd_end(cmd, BLK_STS_OK);
}

/*
 * The agent answered map request `req_id`. On success `map` becomes the
 * extent's map and the parked commands go; -ENODATA means the extent was
 * never written (reads are zeros, and so is a range to zero: done; writes
 * ask again for a write lease);
 * -EAGAIN leaves them parked for a later request; any other error fails
 * them. Returns -ESTALE for an answer nobody waits for.
 */
int zbs_map_reply(struct zbs_dev *dev, u64 vext, u64 req_id, int err,
		  struct zbs_map *map)
{
	struct zbs_ext *ext = xa_load(&dev->exts, vext);
	struct zbs_map *old = NULL;
	struct zbs_cmd *cmd, *tmp;
	LIST_HEAD(list);
	blk_status_t st;

	if (!ext)
		goto stale;
	if (zbs_test_hooks)
		zbs_fault_delay(&zbs_fault_slot_delay_ms);	/* test: DEL_DEV meanwhile */
	spin_lock(&ext->lock);
	if (!req_id || ext->req_id != req_id) {
		spin_unlock(&ext->lock);
		goto stale;
	}
	ext->req_id = 0;
	ext->req_sent = 0;
	if (err == -EAGAIN) {
		unsigned long max = msecs_to_jiffies(zbs_map_retry_ms);

		/* keep them parked; the tick asks again after the backoff (a
		 * target finishing takes a moment, not map_retry_ms) */
		ext->req_id = atomic64_inc_return(&zbs_next_req_id);
		ext->req_sent = jiffies ?: 1;
		ext->req_backoff = ext->req_backoff ? 2 * ext->req_backoff :
				   msecs_to_jiffies(ZBS_MAP_AGAIN_MS);
		if (ext->req_backoff > max)
			ext->req_backoff = max;
		ext->req_again = true;
		spin_unlock(&ext->lock);
		zbs_map_put(map);
		return 0;
	}
	ext->req_again = false;
	ext->req_backoff = 0;
	if (!err) {
		old = ext->map;
		if (!old)
			atomic_inc(&dev->nr_maps);
		ext->map = map;
		ext->pid = map->pid;
		map = NULL;
	}
	__zbs_ext_unpark_all(ext, &list);
	spin_unlock(&ext->lock);
	zbs_map_put(old);
	zbs_map_put(map);

	list_for_each_entry_safe(cmd, tmp, &list, park) {
		list_del_init(&cmd->park);
		if (!err) {
			zbs_cmd_issue(cmd);
		} else if (err == -ENODATA && cmd->op == ZBS_OP_READ) {
			zbs_cmd_zero_fill(cmd);
		} else if (err == -ENODATA && cmd->op == ZBS_OP_WRITE_ZEROES) {
			zbs_cmd_zeroes_next(cmd);	/* reads as zeros already */
		} else if (err == -ENODATA) {
			spin_lock(&ext->lock);
			__zbs_ext_park(ext, cmd);
			spin_unlock(&ext->lock);
		} else {
			st = errno_to_blk_status(err);
			zbs_cmd_end(cmd, st == BLK_STS_OK ? BLK_STS_IOERR : st);
		}
	}
	return 0;
stale:
	zbs_map_put(map);
	return -ESTALE;
}

/*
 * Drop the maps of a device (all, or those of `pid`) and wait until the IO
 * issued under them has drained, at most `timeout` jiffies.
 */
int zbs_map_revoke(struct zbs_dev *dev, bool all, u64 pid, unsigned long timeout)
{
	u64 seq = atomic64_inc_return(&zbs_revoke_seq);
	struct zbs_ext *ext;
	unsigned long idx;
	long left = timeout ?: 1;

	xa_for_each(&dev->exts, idx, ext) {
		struct zbs_map *map;

		spin_lock(&ext->lock);
		map = ext->map;
		/* IO issued under an older map of the pid (dropped on expiry or
		 * a fence) is still the pid's IO: wait for it too */
		if (all || (ext->pid == pid && (map || ext->inflight))) {
			__zbs_ext_drop_map(ext, map);
			ext->revoke_seq = seq;
		}
		spin_unlock(&ext->lock);
	}
	/* IO issued under the dropped maps drains before we answer */
	xa_for_each(&dev->exts, idx, ext) {
		if (zbs_test_hooks)
			zbs_fault_delay(&zbs_fault_slot_delay_ms);	/* test: DEL_DEV meanwhile */
		if (READ_ONCE(ext->revoke_seq) != seq)
			continue;
		left = wait_event_timeout(zbs_drain_wait, READ_ONCE(ext->inflight) == 0, left);
		if (!left)
			return -ETIMEDOUT;
	}
	return 0;
}

/* A new agent registered: re-send every pending report, then every wanted
 * map request, to it. */
void zbs_map_resend_all(void)
{
	struct zbs_dev *dev;
	u32 id = 0;

	while ((dev = zbs_dev_get_next(&id))) {
		struct zbs_ext *ext;
		unsigned long idx;

		xa_for_each(&dev->exts, idx, ext) {
			struct zbs_report *r;
			bool again = false;

			if (zbs_test_hooks)
				zbs_fault_delay(&zbs_fault_slot_delay_ms);	/* test: DEL_DEV meanwhile */
			spin_lock(&ext->lock);
			/* the old agent may have died with them: all again */
			list_for_each_entry(r, &ext->reports, node) {
				r->sent = 0;
				again = true;
			}
			if (ext->req_id) {
				ext->req_sent = 0;
				again = true;
			}
			spin_unlock(&ext->lock);
			if (again)
				queue_work(zbs_wq, &ext->upcall_work);
		}
		zbs_dev_put(dev);
		id++;
	}
}

/* Periodic: re-send unanswered requests, fail commands past deadline. */
void zbs_map_tick(struct zbs_dev *dev)
{
	unsigned long retry = msecs_to_jiffies(zbs_map_retry_ms);
	struct zbs_ext *ext;
	unsigned long idx;

	/* about once a second, expired maps are dropped: the chunks they name
	 * may have no other user. (A map outlives an agent's restart: the
	 * next agent may still vouch for it, __zbs_ext_map decides at use.) */
	if (atomic_read(&dev->nr_maps) && time_after_eq(jiffies, dev->sweep_at)) {
		dev->sweep_at = jiffies + HZ;
		xa_for_each(&dev->exts, idx, ext) {
			spin_lock(&ext->lock);
			if (ext->map && time_after_eq(jiffies, ext->map->expires))
				__zbs_ext_drop_map(ext, ext->map);
			spin_unlock(&ext->lock);
		}
	}
	if (!atomic_read(&dev->nr_parked) && !atomic_read(&dev->nr_reports))
		return;
	xa_for_each(&dev->exts, idx, ext) {
		struct zbs_cmd *cmd, *tmp;
		struct zbs_report *r;
		LIST_HEAD(expired);
		LIST_HEAD(unacked);
		bool resend = false;

		spin_lock(&ext->lock);
		list_for_each_entry_safe(cmd, tmp, &ext->parked, park) {
			if (time_after_eq(jiffies, cmd->deadline)) {
				list_move_tail(&cmd->park, &expired);
				atomic_dec(&dev->nr_parked);
			}
		}
		/* writes whose reports were not answered within the IO timeout
		 * fail: they are not acknowledged */
		list_for_each_entry_safe(cmd, tmp, &ext->ackwait, park) {
			if (time_after_eq(jiffies, cmd->deadline)) {
				list_move_tail(&cmd->park, &unacked);
				atomic_dec(&dev->nr_reports);
			}
		}
		list_for_each_entry(r, &ext->reports, node) {
			if (!r->sent || time_after_eq(jiffies, r->sent + retry)) {
				r->sent = 0;
				resend = true;
			}
		}
		if (resend)
			queue_work(zbs_wq, &ext->upcall_work);
		if (!list_empty(&ext->parked) && ext->req_id &&
		    (!ext->req_sent ||
		     time_after_eq(jiffies, ext->req_sent +
				   (ext->req_again ? ext->req_backoff : retry)))) {
			/* a new id: an answer to the old one is ignored; an
			 * unanswered one is re-sent after map_retry_ms */
			ext->req_id = atomic64_inc_return(&zbs_next_req_id);
			ext->req_sent = 0;
			ext->req_again = false;
			queue_work(zbs_wq, &ext->upcall_work);
		}
		if (list_empty(&ext->parked))
			ext->req_id = 0;
		spin_unlock(&ext->lock);

		list_for_each_entry_safe(cmd, tmp, &expired, park) {
			list_del_init(&cmd->park);
			zbs_dev_warn_ratelimited(dev, "vextent %llu: no usable map within the IO timeout\n",
					    ext->vext);
			/* its last attempt found no replica: ENOLINK; never
			 * got a map (agent, meta): ETIMEDOUT */
			zbs_cmd_end(cmd, cmd->transport ? BLK_STS_TRANSPORT : BLK_STS_TIMEOUT);
		}
		list_for_each_entry_safe(cmd, tmp, &unacked, park) {
			list_del_init(&cmd->park);
			zbs_dev_warn_ratelimited(dev, "vextent %llu: a failed replica was not removed by meta within the IO timeout\n",
					    ext->vext);
			zbs_map_put(cmd->map);
			cmd->map = NULL;
			zbs_cmd_end(cmd, BLK_STS_TIMEOUT);
		}
	}
}

void zbs_map_shutdown(struct zbs_dev *dev)
{
	struct zbs_ext *ext;
	unsigned long idx;
	unsigned int bit;

	xa_for_each(&dev->exts, idx, ext) {
		struct zbs_report *r, *tmp;

		cancel_work_sync(&ext->upcall_work);
		spin_lock(&ext->lock);
		WARN_ON_ONCE(!list_empty(&ext->parked) || ext->inflight ||
			     !list_empty(&ext->ackwait));
		__zbs_ext_drop_map(ext, ext->map);
		ext->req_id = 0;
		/* reports nobody waits for any more: meta's scan and the next
		 * owner's sync find those replicas */
		list_for_each_entry_safe(r, tmp, &ext->reports, node) {
			struct zbs_map *map = r->map;	/* r lives in it */

			list_del_init(&r->node);
			atomic_dec(&dev->nr_reports);
			r->map = NULL;
			zbs_map_put(map);
		}
		spin_unlock(&ext->lock);
	}
	/* writes never flushed: the chunks lose this user */
	for_each_set_bit(bit, dev->dirty_chunks, ZBS_MAX_CHUNKS) {
		struct zbs_chunk *c = zbs_chunk_by_idx(bit);

		if (!WARN_ON_ONCE(!c))
			zbs_chunk_put(c);
	}
	bitmap_zero(dev->dirty_chunks, ZBS_MAX_CHUNKS);
}

void zbs_map_free_slots(struct zbs_dev *dev)
{
	struct zbs_ext *ext;
	unsigned long idx;

	xa_for_each(&dev->exts, idx, ext) {
		WARN_ON_ONCE(ext->map || !list_empty(&ext->reports) ||
			     work_pending(&ext->upcall_work));
		xa_erase(&dev->exts, idx);
		kfree(ext);
		atomic_dec(&zbs_live_exts);
	}
	xa_destroy(&dev->exts);
}
