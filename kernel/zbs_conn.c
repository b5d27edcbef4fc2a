// SPDX-License-Identifier: GPL-2.0
/*
 * Chunk servers and the TCP connections to them (data protocol of
 * uapi/linux/zbs_wire.h).
 *
 * A chunk is one address:port, shared by all devices; it is created the
 * first time a map names it. Its users are the maps naming it, the devices
 * with unflushed writes on it and the flush legs sent to it; while it has
 * users its connections are kept up (reconnected every reconnect_ms). A
 * chunk nobody uses any more (the replica moved elsewhere, the devices
 * went) is not reconnected, and after chunk_idle_ms without users its
 * connections are closed and it is freed (libceph's idle OSD sessions);
 * a map naming it again meanwhile brings it back to use. Each chunk has
 * conns_per_chunk connections (module parameter, by default one per two
 * CPUs, read when the chunk is created); a connection has a tx thread (connects,
 * sends queued legs in queue order) and an rx thread (reads replies,
 * completes legs). Legs of one pid always use the same connection, so
 * writes reach a chunk in the order their gens were assigned.
 *
 * Every connect makes a new struct zbs_sock with a fresh cookie; the wire
 * request id is cookie << 32 | slot in the connection's inflight xarray, so
 * a late reply from an old socket never matches a leg of a new one. When a
 * socket fails, whoever notices first detaches it from the connection and
 * shuts it down; the legs sent on it fail with -ECONNRESET (exactly once:
 * whoever erases a leg from the xarray completes it).
 *
 * Locking: conn->lock (spinlock) protects sendq, cur and the state; it is
 * never held across a socket call. The extent lock may be held when taking
 * conn->lock (zbs_leg_submit), never the other way round.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bvec.h>
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <linux/seq_file.h>

#include "zbs_internal.h"

unsigned int zbs_conn_timeout_ms = 10000;
ZBS_PARAM_RANGE(conn_timeout_ms, zbs_conn_timeout_ms, 100, 3600000);
MODULE_PARM_DESC(conn_timeout_ms, "A connection that received nothing this long while an op on it is out of retries is closed, 100-3600000 (default 10000)");

static unsigned int zbs_conns_per_chunk;
ZBS_PARAM_RANGE(conns_per_chunk, zbs_conns_per_chunk, 0, ZBS_MAX_CONNS_PER_CHUNK);
MODULE_PARM_DESC(conns_per_chunk, "TCP connections per chunk server, 1-8; 0 (default): one per two online CPUs, at most 4 (read when a chunk is first used)");

/*
 * Each connection has its own tx and rx thread and its own thread in the
 * chunk server. More connections spread a chunk's load over more CPUs; on a
 * node with few CPUs they only split the same load into smaller batches and
 * add context switches, so the default follows the CPU count.
 */
static u32 zbs_chunk_nr_conns(void)
{
	u32 n = READ_ONCE(zbs_conns_per_chunk);

	if (!n)
		n = clamp_t(u32, num_online_cpus() / 2, 1, 4);
	return min_t(u32, n, ZBS_MAX_CONNS_PER_CHUNK);
}

static unsigned int zbs_chunk_idle_ms = 60000;
ZBS_PARAM_RANGE(chunk_idle_ms, zbs_chunk_idle_ms, 100, 24 * 3600 * 1000);
MODULE_PARM_DESC(chunk_idle_ms, "Close the connections to a chunk no map uses for this long, 100-86400000 (default 60000)");

/*
 * The chunk table: index (the bit of a device's dirty set) -> chunk. A
 * chunk leaves it only from the reaper, under the mutex, when it has no
 * users; users are added under the mutex (zbs_chunk_get) or by someone
 * who already is one (zbs_chunk_hold), so the reaper cannot race with a
 * new user. The last user's put records idle_since under the spinlock, so
 * the reaper never sees a chunk at 0 users whose put is still running.
 */
static DEFINE_MUTEX(zbs_chunks_lock);
static DEFINE_XARRAY_ALLOC(zbs_chunks);
static DEFINE_SPINLOCK(zbs_chunk_idle_lock);	/* idle_since of every chunk */
static void zbs_chunk_reap(struct work_struct *work);
static DECLARE_DELAYED_WORK(zbs_chunk_reap_work, zbs_chunk_reap);

struct zbs_sock {
	struct socket	*sock;
	refcount_t	ref;
	u32		cookie;
};

static void zbs_sock_put(struct zbs_sock *s)
{
	if (refcount_dec_and_test(&s->ref)) {
		sock_release(s->sock);
		kfree(s);
	}
}

/* Take a ref on the connection's current socket, or NULL if down. */
static struct zbs_sock *zbs_conn_sock(struct zbs_conn *conn)
{
	struct zbs_sock *s;

	spin_lock(&conn->lock);
	s = conn->cur;
	if (s)
		refcount_inc(&s->ref);
	spin_unlock(&conn->lock);
	return s;
}

static int zbs_xmit(struct socket *sock, bool send, struct iov_iter *iter, int flags)
{
	struct msghdr msg = { };
	unsigned int noreclaim = memalloc_noreclaim_save();
	int ret;

	msg.msg_iter = *iter;
	do {
		msg.msg_flags = flags | MSG_NOSIGNAL;
		if (send)
			ret = sock_sendmsg(sock, &msg);
		else
			ret = sock_recvmsg(sock, &msg, msg.msg_flags);
		if (ret <= 0) {
			if (ret == 0)
				ret = -EPIPE;
			break;
		}
	} while (msg_data_left(&msg));
	memalloc_noreclaim_restore(noreclaim);
	return ret < 0 ? ret : 0;
}

static int zbs_xmit_buf(struct socket *sock, bool send, void *buf, size_t len, int flags)
{
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct iov_iter it;

	iov_iter_kvec(&it, send ? ITER_SOURCE : ITER_DEST, &iov, 1, len);
	return zbs_xmit(sock, send, &it, flags);
}

/*
 * Send or receive the data of a request (its bio segments). A send marks
 * every segment but the last MSG_MORE, and the last with `last_flags`.
 */
static int zbs_xmit_rq(struct socket *sock, bool send, struct request *rq, int last_flags)
{
	unsigned int left = blk_rq_bytes(rq);
	struct req_iterator iter;
	struct bio_vec bvec;
	struct iov_iter it;
	int ret;

	rq_for_each_segment(bvec, rq, iter) {
		left -= bvec.bv_len;
		iov_iter_bvec(&it, send ? ITER_SOURCE : ITER_DEST, &bvec, 1, bvec.bv_len);
		ret = zbs_xmit(sock, send, &it, !send ? 0 : left ? MSG_MORE : last_flags);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Complete the leg erased from the inflight xarray by the caller. A leg the
 * tx thread is still sending (an rx error, a reply before the send ended)
 * is completed by the sender when its send ends (zbs_leg_sent): the write's
 * pages must not be freed, nor the leg sent again after a retry, while it
 * is on its way (nbd holds a per-command lock across send and receive for
 * the same reason).
 */
static void zbs_leg_complete(struct zbs_leg *leg, int status)
{
	leg->status = status;
	if (atomic_cmpxchg(&leg->xmit, ZBS_XMIT_SENDING, ZBS_XMIT_DEFERRED) == ZBS_XMIT_SENDING)
		return;
	zbs_leg_done(leg);
}

/* The tx thread is done with the leg: complete it if that was left to it. */
static void zbs_leg_sent(struct zbs_leg *leg)
{
	if (atomic_xchg(&leg->xmit, ZBS_XMIT_IDLE) == ZBS_XMIT_DEFERRED)
		zbs_leg_done(leg);
}

/*
 * Is the chunk's BUSY notice (a reply with id 0, zbs_wire.h) waiting to be
 * read on s? A send that failed because the chunk closed a refused
 * connection must not count as a replica failure.
 */
static bool zbs_sock_busy_notice(struct zbs_sock *s)
{
	struct zbs_wire_reply rep;
	struct kvec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = { .msg_flags = MSG_PEEK | MSG_DONTWAIT };

	if (kernel_recvmsg(s->sock, &msg, &iov, 1, sizeof(rep), msg.msg_flags) != sizeof(rep))
		return false;
	return le32_to_cpu(rep.magic) == ZBS_WIRE_REPLY_MAGIC && !rep.id &&
	       le32_to_cpu(rep.status) == ZBS_ST_BUSY;
}

/*
 * Detach socket `s` from its connection if it is still the current one and
 * shut it down; then fail every leg that was sent on it (or, when the chunk
 * refused the socket as BUSY, keep them to be sent again).
 */
static void zbs_conn_fail(struct zbs_conn *conn, struct zbs_sock *s, int err)
{
	struct zbs_leg *leg;
	unsigned long idx;
	bool detached = false;

	if (err != -EBUSY && err != -ESHUTDOWN && zbs_sock_busy_notice(s))
		err = -EBUSY;

	spin_lock(&conn->lock);
	if (conn->cur == s) {
		conn->cur = NULL;
		conn->down_since = jiffies ?: 1;
		if (err == -EBUSY)
			conn->busy_cookie = s->cookie;	/* with cur: see send_one */
		detached = true;
	}
	spin_unlock(&conn->lock);
	if (!detached)
		return;

	kernel_sock_shutdown(s->sock, SHUT_RDWR);
	if (err == -EBUSY) {
		/* at its connection limit: the chunk read none of it; the tx
		 * thread sends the legs again on the next socket */
		pr_info_ratelimited("chunk %pI4:%u conn %d: busy (at its connection limit), again in %u ms\n",
				    &conn->chunk->addr, conn->chunk->port, conn->idx,
				    zbs_reconnect_ms);
		WRITE_ONCE(conn->busy_until, jiffies + msecs_to_jiffies(zbs_reconnect_ms));
		wake_up(&conn->wait);
		zbs_sock_put(s);
		return;
	}
	pr_warn_ratelimited("chunk %pI4:%u conn %d: disconnected (%d)\n",
			    &conn->chunk->addr, conn->chunk->port, conn->idx, err);
	xa_for_each(&conn->inflight, idx, leg) {
		if (leg->sock_cookie != s->cookie)
			continue;
		if (xa_erase(&conn->inflight, idx) == leg)
			zbs_leg_complete(leg, -ECONNRESET);
	}
	wake_up(&conn->wait);
	zbs_sock_put(s);	/* the connection's reference */
}

static int zbs_conn_connect(struct zbs_conn *conn)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = conn->chunk->addr,
		.sin_port = htons(conn->chunk->port),
	};
	struct zbs_sock *s;
	struct socket *sock;
	int ret;

	s = kzalloc(sizeof(*s), GFP_NOIO);
	if (!s)
		return -ENOMEM;
	ret = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (ret)
		goto out_free;
	sock->sk->sk_allocation = GFP_NOIO | __GFP_MEMALLOC;
	sock->sk->sk_use_task_frag = false;
	sk_set_memalloc(sock->sk);
	tcp_sock_set_nodelay(sock->sk);
	sock->sk->sk_sndtimeo = msecs_to_jiffies(zbs_conn_timeout_ms);
	ret = kernel_connect(sock, (struct sockaddr *)&sin, sizeof(sin), 0);
	if (ret)
		goto out_release;

	s->sock = sock;
	refcount_set(&s->ref, 1);
	spin_lock(&conn->lock);
	s->cookie = ++conn->cookie;
	conn->cur = s;
	conn->down_since = 0;
	WRITE_ONCE(conn->last_rx, jiffies);
	spin_unlock(&conn->lock);
	wake_up(&conn->rx_wait);
	pr_info_ratelimited("chunk %pI4:%u conn %d: connected\n",
			    &conn->chunk->addr, conn->chunk->port, conn->idx);
	return 0;

out_release:
	sock_release(sock);
out_free:
	kfree(s);
	return ret;
}

/* Fail the legs still waiting for a reply or a BUSY retry. */
static void zbs_conn_fail_inflight(struct zbs_conn *conn, int err)
{
	struct zbs_leg *leg;
	unsigned long idx;

	xa_for_each(&conn->inflight, idx, leg)
		if (xa_erase(&conn->inflight, idx) == leg)
			zbs_leg_complete(leg, err);
}

/* Fail queued (unsent) legs: the chunk cannot be reached. */
static void zbs_conn_fail_queued(struct zbs_conn *conn, int err)
{
	LIST_HEAD(list);
	struct zbs_leg *leg, *tmp;

	spin_lock(&conn->lock);
	list_splice_init(&conn->retryq, &list);
	list_splice_tail_init(&conn->sendq, &list);
	spin_unlock(&conn->lock);
	list_for_each_entry_safe(leg, tmp, &list, node) {
		list_del_init(&leg->node);
		zbs_leg_complete(leg, err);
	}
}

/* Send one leg; `more`: another follows at once (coalesce segments). */
static void zbs_conn_send_one(struct zbs_conn *conn, struct zbs_sock *s, struct zbs_leg *leg,
			      bool more)
{
	u32 slot;
	int ret;
	bool alive, busy, is_write;

	leg->sock_cookie = s->cookie;
	leg->sent_at = jiffies;
	leg->tries = 0;
	leg->deadline = leg->sent_at + zbs_leg_attempt(leg);
	leg->expires = leg->sent_at + ZBS_OP_TRIES * zbs_leg_attempt(leg);
	/* once inserted, the rx thread can complete it: that waits for us */
	atomic_set(&leg->xmit, ZBS_XMIT_SENDING);
	ret = xa_alloc_cyclic(&conn->inflight, &slot, leg, xa_limit_32b,
			      &conn->next_id, GFP_NOIO);
	if (ret < 0) {
		atomic_set(&leg->xmit, ZBS_XMIT_IDLE);
		zbs_leg_complete(leg, -ENOMEM);
		return;
	}
	leg->req.id = cpu_to_le64((u64)s->cookie << 32 | slot);

	/* The socket may have failed since we took it: its legs are failed
	 * by zbs_conn_fail, which may have run before our insert. */
	spin_lock(&conn->lock);
	alive = conn->cur == s;
	busy = conn->busy_cookie == s->cookie;
	spin_unlock(&conn->lock);
	if (!alive) {
		/* refused as BUSY: it stays to be sent again (requeue_busy) */
		if (!busy && xa_erase(&conn->inflight, slot) == leg)
			zbs_leg_complete(leg, -ECONNRESET);
		goto out;
	}

	is_write = le16_to_cpu(leg->req.opcode) == ZBS_OP_WRITE;
	ret = zbs_xmit_buf(s->sock, true, &leg->req, sizeof(leg->req),
			   is_write || more ? MSG_MORE : 0);
	if (zbs_test_hooks && !ret)
		zbs_fault_delay(&zbs_fault_send_delay_ms);	/* test: between header and data */
	if (!ret && is_write)
		ret = zbs_xmit_rq(s->sock, true, leg->cmd->rq, more ? MSG_MORE : 0);
	if (ret)
		zbs_conn_fail(conn, s, ret);	/* fails this leg too */
out:
	zbs_leg_sent(leg);
}

/*
 * Nothing was received on the connection for conn_timeout_ms since `leg`
 * was sent: the chunk answers nothing at all, not merely this op late.
 */
static bool zbs_conn_silent(struct zbs_conn *conn, struct zbs_leg *leg, unsigned long now)
{
	unsigned long from = READ_ONCE(conn->last_rx);

	if (time_before(from, leg->sent_at))
		from = leg->sent_at;
	return time_after_eq(now, from + msecs_to_jiffies(zbs_conn_timeout_ms));
}

/*
 * The chunk is unresponsive on socket `cookie`: a leg sent on it is out of
 * its retry budget (zbs_io.c, "Timeouts") and the socket has been silent
 * for conn_timeout_ms. One slow op, or one long WRITE_ZEROES within its
 * deadline, is not enough.
 */
static bool zbs_conn_stuck(struct zbs_conn *conn, u32 cookie)
{
	unsigned long now = jiffies;
	struct zbs_leg *leg;
	unsigned long idx;
	bool stuck = false;

	rcu_read_lock();
	xa_for_each(&conn->inflight, idx, leg) {
		if (leg->sock_cookie == cookie && time_after_eq(now, leg->expires) &&
		    zbs_conn_silent(conn, leg, now)) {
			stuck = true;
			break;
		}
	}
	rcu_read_unlock();
	return stuck;
}

/*
 * blk-mq's timer (zbs_cmd_timeout) found `leg` of its request: if it waits
 * for a reply on the current socket and its attempt's deadline passed,
 * retry (another deadline) or, out of attempts, fail it alone with
 * -ETIMEDOUT; when the socket is silent as well, leave it to the tx
 * thread, which closes the socket (zbs_conn_stuck). The inflight lock
 * keeps the rx thread from completing the leg meanwhile.
 */
void zbs_leg_check_timeout(struct zbs_leg *leg, unsigned long now, unsigned long *next)
{
	struct zbs_conn *conn = READ_ONCE(leg->conn);
	u32 cookie = 0, slot;
	bool fail = false;
	u64 id;

	if (!conn)
		return;
	spin_lock(&conn->lock);
	if (conn->cur)
		cookie = conn->cur->cookie;
	spin_unlock(&conn->lock);
	id = le64_to_cpu(READ_ONCE(leg->req.id));
	slot = (u32)id;

	xa_lock(&conn->inflight);
	/* sent on the current socket, the send over, not answered yet */
	if (!cookie || xa_load(&conn->inflight, slot) != leg || leg->sock_cookie != cookie ||
	    (u32)(id >> 32) != cookie || atomic_read(&leg->xmit) != ZBS_XMIT_IDLE)
		goto out;
	if (time_before(now, leg->deadline))
		goto next;
	if (time_before(now, leg->expires)) {
		leg->tries++;
		leg->deadline = now + zbs_leg_attempt(leg);
		if (time_after(leg->deadline, leg->expires))
			leg->deadline = leg->expires;
		pr_info_ratelimited("chunk %pI4:%u conn %d: op %u unanswered for %u ms, waiting (attempt %u of %u)\n",
				    &conn->chunk->addr, conn->chunk->port, conn->idx,
				    le16_to_cpu(leg->req.opcode), jiffies_to_msecs(now - leg->sent_at),
				    leg->tries + 1, ZBS_OP_TRIES);
		goto next;
	}
	if (zbs_conn_silent(conn, leg, now)) {
		wake_up(&conn->wait);	/* the tx thread closes the socket */
		if (time_before(now + HZ, *next))
			*next = now + HZ;
		goto out;
	}
	__xa_erase(&conn->inflight, slot);
	fail = true;
	goto out;
next:
	if (time_before(leg->deadline, *next))
		*next = leg->deadline;
out:
	xa_unlock(&conn->inflight);
	if (fail) {
		pr_warn_ratelimited("chunk %pI4:%u conn %d: op %u unanswered for %u ms, out of retries\n",
				    &conn->chunk->addr, conn->chunk->port, conn->idx,
				    le16_to_cpu(leg->req.opcode), jiffies_to_msecs(now - leg->sent_at));
		zbs_leg_complete(leg, -ETIMEDOUT);
	}
}

/*
 * The chunk refused `leg` (erased from inflight by the caller) with BUSY:
 * it changed nothing, so the leg is sent again after a back-off, at most
 * ZBS_BUSY_RETRIES times. False: out of retries, complete it.
 */
static bool zbs_leg_retry_later(struct zbs_conn *conn, struct zbs_leg *leg)
{
	unsigned long now = jiffies;
	unsigned int tries = leg->busy_tries;

	if (tries >= ZBS_BUSY_RETRIES)
		return false;
	leg->busy_tries++;
	leg->retry_at = now + zbs_busy_backoff(tries);
	spin_lock(&conn->lock);
	/* keep retry_at ascending along the queue: it is taken from its head */
	if (!list_empty(&conn->retryq)) {
		struct zbs_leg *last = list_last_entry(&conn->retryq, struct zbs_leg, node);

		if (time_before(leg->retry_at, last->retry_at))
			leg->retry_at = last->retry_at;
	}
	list_add_tail(&leg->node, &conn->retryq);
	/* writes refused as GEN behind it meanwhile are retried too */
	conn->retry_until = leg->retry_at + zbs_busy_backoff(ZBS_BUSY_RETRIES);
	spin_unlock(&conn->lock);
	pr_info_ratelimited("chunk %pI4:%u conn %d: busy, op %u again in %u ms (retry %u of %u)\n",
			    &conn->chunk->addr, conn->chunk->port, conn->idx,
			    le16_to_cpu(leg->req.opcode), jiffies_to_msecs(leg->retry_at - now),
			    tries + 1, ZBS_BUSY_RETRIES);
	wake_up(&conn->wait);
	return true;
}

/* Legs refused as BUSY whose back-off ended go first (conn->lock held);
 * true while some still wait: nothing else may be sent. */
static bool __zbs_conn_take_retries(struct zbs_conn *conn)
{
	struct zbs_leg *first = list_first_entry_or_null(&conn->retryq, struct zbs_leg, node);

	if (!first)
		return false;
	if (time_before(jiffies, first->retry_at))
		return true;
	list_splice_init(&conn->retryq, &conn->sendq);	/* ahead of newer legs */
	return false;
}

/*
 * The legs sent on a socket the chunk refused as BUSY go back to the head
 * of the send queue, in the order they were sent (the chunk executed none
 * of them); a leg refused for longer than conn_timeout_ms fails: the chunk
 * is as good as unreachable. Only the tx thread sends, so none of them is
 * being sent now.
 */
static void zbs_conn_requeue_busy(struct zbs_conn *conn, u32 cookie)
{
	unsigned long idx, limit = msecs_to_jiffies(zbs_conn_timeout_ms);
	struct zbs_leg *leg;
	LIST_HEAD(list);

	xa_for_each(&conn->inflight, idx, leg) {
		if (leg->sock_cookie != cookie || xa_erase(&conn->inflight, idx) != leg)
			continue;
		if (!leg->busy_since)
			leg->busy_since = jiffies ?: 1;
		if (time_after(jiffies, leg->busy_since + limit)) {
			zbs_leg_complete(leg, -EBUSY);
			continue;
		}
		list_add_tail(&leg->node, &list);
	}
	spin_lock(&conn->lock);
	list_splice(&list, &conn->sendq);
	spin_unlock(&conn->lock);
}

static int zbs_conn_tx_thread(void *data)
{
	struct zbs_conn *conn = data;
	/* what it allocates (the reconnect's socket, TCP buffers) may be
	 * needed to write pages back to a zbs device: never reclaim through
	 * IO for it; the thread's whole life is one scope */
	unsigned int noio = memalloc_noio_save();

	while (!kthread_should_stop()) {
		struct zbs_sock *s = zbs_conn_sock(conn);
		struct zbs_leg *leg;
		long timeout;

		if (!s) {
			u32 busy;

			spin_lock(&conn->lock);
			busy = conn->busy_cookie;
			conn->busy_cookie = 0;
			spin_unlock(&conn->lock);

			if (busy)
				zbs_conn_requeue_busy(conn, busy);
			/* a new socket: what waited for a BUSY back-off goes first */
			spin_lock(&conn->lock);
			list_splice_init(&conn->retryq, &conn->sendq);
			spin_unlock(&conn->lock);
			/* not before the busy back-off ends, whatever is queued meanwhile */
			if (time_before(jiffies, READ_ONCE(conn->busy_until))) {
				wait_event_interruptible_timeout(conn->wait, kthread_should_stop(),
					max_t(long, (long)(READ_ONCE(conn->busy_until) - jiffies), 1));
				continue;
			}
			/* nobody uses the chunk: no reconnect (the reaper closes
			 * it unless a map names it again meanwhile) */
			if (!atomic_read(&conn->chunk->users) && list_empty_careful(&conn->sendq)) {
				wait_event_interruptible(conn->wait, kthread_should_stop() ||
						atomic_read(&conn->chunk->users) ||
						!list_empty_careful(&conn->sendq));
				continue;
			}
			WRITE_ONCE(conn->connects, conn->connects + 1);
			if (zbs_conn_connect(conn)) {
				zbs_conn_fail_queued(conn, -ENOTCONN);
				wait_event_interruptible_timeout(conn->wait, kthread_should_stop(),
						msecs_to_jiffies(zbs_reconnect_ms));
			}
			continue;
		}

		spin_lock(&conn->lock);
		leg = list_first_entry_or_null(&conn->retryq, struct zbs_leg, node);
		timeout = leg ? clamp_t(long, (long)(leg->retry_at - jiffies), 1, HZ) : HZ;
		spin_unlock(&conn->lock);
		wait_event_interruptible_timeout(conn->wait,
				(!list_empty_careful(&conn->sendq) &&
				 list_empty_careful(&conn->retryq)) || !READ_ONCE(conn->cur) ||
				kthread_should_stop(), timeout);

		for (;;) {
			bool more;

			spin_lock(&conn->lock);
			leg = NULL;
			if (!__zbs_conn_take_retries(conn))
				leg = list_first_entry_or_null(&conn->sendq, struct zbs_leg, node);
			if (leg)
				list_del_init(&leg->node);
			more = !list_empty(&conn->sendq);
			spin_unlock(&conn->lock);
			if (!leg)
				break;
			zbs_conn_send_one(conn, s, leg, more);
			cond_resched();
		}
		if (zbs_conn_stuck(conn, s->cookie))
			zbs_conn_fail(conn, s, -ETIMEDOUT);
		zbs_sock_put(s);
	}
	memalloc_noio_restore(noio);
	return 0;
}

/* Receive one reply on `s`; returns 0 or a negative errno (socket bad). */
static int zbs_conn_recv_one(struct zbs_conn *conn, struct zbs_sock *s, void *scratch)
{
	struct zbs_wire_reply rep;
	struct zbs_leg *leg;
	u64 id;
	u32 len, status;
	int ret;

	ret = zbs_xmit_buf(s->sock, false, &rep, sizeof(rep), MSG_WAITALL);
	if (ret)
		return ret;
	WRITE_ONCE(conn->last_rx, jiffies);	/* the chunk is alive */
	if (le32_to_cpu(rep.magic) != ZBS_WIRE_REPLY_MAGIC ||
	    le16_to_cpu(rep.version) != ZBS_WIRE_VERSION) {
		pr_err_ratelimited("chunk %pI4:%u: bad reply header\n",
				   &conn->chunk->addr, conn->chunk->port);
		return -EPROTO;
	}
	id = le64_to_cpu(rep.id);
	len = le32_to_cpu(rep.length);
	status = le32_to_cpu(rep.status);
	if (len > ZBS_WIRE_MAX_IO || (status && len))
		return -EPROTO;

	if (!id && status == ZBS_ST_BUSY)
		return -EBUSY;	/* the chunk's notice before it closes (zbs_wire.h) */
	leg = NULL;
	if ((u32)(id >> 32) == s->cookie) {
		leg = xa_load(&conn->inflight, (u32)id);
		if (leg && le64_to_cpu(leg->req.id) == id &&
		    xa_erase(&conn->inflight, (u32)id) == leg)
			;	/* ours now */
		else
			leg = NULL;
	}
	if (!leg) {
		/* unknown or already failed: drain the payload */
		while (len) {
			u32 n = min_t(u32, len, PAGE_SIZE);

			ret = zbs_xmit_buf(s->sock, false, scratch, n, MSG_WAITALL);
			if (ret)
				return ret;
			len -= n;
		}
		return 0;
	}

	/* the leg is ours now: every error path below completes it */
	if (le16_to_cpu(rep.opcode) != le16_to_cpu(leg->req.opcode) ||
	    (len && (status != ZBS_ST_OK || le16_to_cpu(leg->req.opcode) != ZBS_OP_READ ||
		     len != le32_to_cpu(leg->req.length)))) {
		pr_err_ratelimited("chunk %pI4:%u: reply does not match its request\n",
				   &conn->chunk->addr, conn->chunk->port);
		zbs_leg_complete(leg, -EPROTO);
		return -EPROTO;
	}
	if (len) {
		ret = zbs_xmit_rq(s->sock, false, leg->cmd->rq, 0);
		if (ret) {
			zbs_leg_complete(leg, ret);
			return ret;
		}
	}
	leg->reply_gen = le64_to_cpu(rep.gen);
	/*
	 * BUSY: the chunk is overloaded and did nothing; send it again later.
	 * GEN with the replica behind this write, while a BUSY write of this
	 * connection waits to be sent again: it is the one missing, so this
	 * one follows it (zbs_wire.h: the chunk accepts only the next gen).
	 */
	if ((status == ZBS_ST_BUSY ||
	     (status == ZBS_ST_GEN && leg->reply_gen <= le64_to_cpu(leg->req.gen) &&
	      time_before(jiffies, READ_ONCE(conn->retry_until)))) &&
	    zbs_leg_retry_later(conn, leg))
		return 0;
	zbs_leg_complete(leg, status);
	return 0;
}

static int zbs_conn_rx_thread(void *data)
{
	struct zbs_conn *conn = data;
	void *scratch = conn->rx_scratch;	/* never exits before kthread_stop */
	unsigned int noio = memalloc_noio_save();	/* as the tx thread */

	while (!kthread_should_stop()) {
		struct zbs_sock *s;
		int ret;

		wait_event_interruptible(conn->rx_wait,
				READ_ONCE(conn->cur) || kthread_should_stop());
		s = zbs_conn_sock(conn);
		if (!s)
			continue;
		do {
			ret = zbs_conn_recv_one(conn, s, scratch);
		} while (!ret && !kthread_should_stop());
		zbs_conn_fail(conn, s, ret);
		zbs_sock_put(s);
	}
	memalloc_noio_restore(noio);
	return 0;
}

/* Queue a leg for sending; never completes it synchronously. */
void zbs_leg_submit(struct zbs_leg *leg, struct zbs_conn *conn)
{
	leg->conn = conn;
	spin_lock(&conn->lock);
	list_add_tail(&leg->node, &conn->sendq);
	spin_unlock(&conn->lock);
	wake_up(&conn->wait);
}

static void zbs_chunk_stop(struct zbs_chunk *c)
{
	int i;

	for (i = 0; i < c->nr_conns; i++) {
		struct zbs_conn *conn = &c->conns[i];
		struct zbs_sock *s;

		if (conn->tx_thread)
			kthread_stop(conn->tx_thread);
		s = zbs_conn_sock(conn);
		if (s) {
			zbs_conn_fail(conn, s, -ESHUTDOWN);	/* unblocks rx */
			zbs_sock_put(s);
		}
		if (conn->rx_thread)
			kthread_stop(conn->rx_thread);
		zbs_conn_fail_queued(conn, -ESHUTDOWN);
		zbs_conn_fail_inflight(conn, -ESHUTDOWN);	/* kept for a BUSY retry */
		WARN_ON_ONCE(!xa_empty(&conn->inflight));
		xa_destroy(&conn->inflight);
		kfree(conn->rx_scratch);
	}
}

static struct task_struct *zbs_conn_thread(int (*fn)(void *), struct zbs_conn *conn,
					   const char *what)
{
	struct task_struct *t;

	if (zbs_test_hooks && zbs_fault_hit(&zbs_fault_thread_start))
		return NULL;	/* test hook: as if kthread_run failed */
	t = kthread_run(fn, conn, "zbs-%s/%u.%d", what, conn->chunk->idx, conn->idx);
	return IS_ERR(t) ? NULL : t;
}

static struct zbs_chunk *zbs_chunk_create(__be32 addr, u16 port)
{
	struct zbs_chunk *c = kzalloc(sizeof(*c), GFP_KERNEL);
	int i;

	if (!c)
		return NULL;
	c->addr = addr;
	c->port = port;
	atomic_set(&c->users, 1);
	INIT_LIST_HEAD(&c->reap_node);
	if (xa_alloc(&zbs_chunks, &c->idx, c, XA_LIMIT(0, ZBS_MAX_CHUNKS - 1), GFP_KERNEL)) {
		pr_err_ratelimited("too many chunk servers (%u)\n", ZBS_MAX_CHUNKS);
		kfree(c);
		return NULL;
	}
	c->nr_conns = zbs_chunk_nr_conns();
	/* every connection is whole before any thread starts: a failure
	 * below stops exactly what was started (zbs_chunk_stop) */
	for (i = 0; i < c->nr_conns; i++) {
		struct zbs_conn *conn = &c->conns[i];

		conn->chunk = c;
		conn->idx = i;
		spin_lock_init(&conn->lock);
		INIT_LIST_HEAD(&conn->sendq);
		INIT_LIST_HEAD(&conn->retryq);
		xa_init_flags(&conn->inflight, XA_FLAGS_ALLOC);
		init_waitqueue_head(&conn->wait);
		init_waitqueue_head(&conn->rx_wait);
		conn->rx_scratch = kmalloc(PAGE_SIZE, GFP_KERNEL);
		if (!conn->rx_scratch) {
			c->nr_conns = i + 1;	/* the rest is not set up */
			goto fail;
		}
	}
	for (i = 0; i < c->nr_conns; i++) {
		struct zbs_conn *conn = &c->conns[i];

		conn->rx_thread = zbs_conn_thread(zbs_conn_rx_thread, conn, "rx");
		if (!conn->rx_thread)
			goto fail;
		conn->tx_thread = zbs_conn_thread(zbs_conn_tx_thread, conn, "tx");
		if (!conn->tx_thread)
			goto fail;
	}
	return c;
fail:
	zbs_chunk_stop(c);
	xa_erase(&zbs_chunks, c->idx);
	kfree(c);
	return NULL;
}

struct zbs_chunk *zbs_chunk_get(__be32 addr, u16 port)
{
	struct zbs_chunk *c;
	unsigned long idx;
	int i;

	mutex_lock(&zbs_chunks_lock);
	xa_for_each(&zbs_chunks, idx, c) {
		if (c->addr != addr || c->port != port)
			continue;
		if (atomic_inc_return(&c->users) == 1) {
			/* in use again: its connections come back up */
			for (i = 0; i < c->nr_conns; i++)
				wake_up(&c->conns[i].wait);
		}
		goto out;
	}
	c = zbs_chunk_create(addr, port);
out:
	mutex_unlock(&zbs_chunks_lock);
	return c;
}

void zbs_chunk_put(struct zbs_chunk *c)
{
	unsigned long flags;

	if (!atomic_dec_and_lock_irqsave(&c->users, &zbs_chunk_idle_lock, flags))
		return;
	WRITE_ONCE(c->idle_since, jiffies);
	spin_unlock_irqrestore(&zbs_chunk_idle_lock, flags);
	queue_delayed_work(system_wq, &zbs_chunk_reap_work,
			   msecs_to_jiffies(READ_ONCE(zbs_chunk_idle_ms)));
}

struct zbs_chunk *zbs_chunk_by_idx(u32 idx)
{
	return xa_load(&zbs_chunks, idx);
}

/* Close and free the chunks unused for chunk_idle_ms; come back for the rest. */
static void zbs_chunk_reap(struct work_struct *work)
{
	unsigned long ttl = msecs_to_jiffies(READ_ONCE(zbs_chunk_idle_ms));
	unsigned long idx, next = 0;
	struct zbs_chunk *c, *tmp;
	LIST_HEAD(gone);

	mutex_lock(&zbs_chunks_lock);
	xa_for_each(&zbs_chunks, idx, c) {
		unsigned long since;
		bool idle;

		spin_lock_irq(&zbs_chunk_idle_lock);
		idle = !atomic_read(&c->users);
		since = c->idle_since;
		spin_unlock_irq(&zbs_chunk_idle_lock);
		if (!idle)
			continue;
		if (time_before(jiffies, since + ttl)) {
			unsigned long left = since + ttl - jiffies;

			next = next ? min(next, left) : left;
			continue;
		}
		xa_erase(&zbs_chunks, idx);
		list_add_tail(&c->reap_node, &gone);
	}
	mutex_unlock(&zbs_chunks_lock);
	/* a request's timer may still look at a leg it sent there, under RCU
	 * (zbs_cmd_timeout saw it in flight before the chunk's last use went) */
	if (!list_empty(&gone))
		synchronize_rcu();

	/* nobody can find or use them any more: stop them unlocked (a
	 * connect in progress ends within conn_timeout_ms) */
	list_for_each_entry_safe(c, tmp, &gone, reap_node) {
		pr_info("chunk %pI4:%u: no map uses it any more, connections closed\n",
			&c->addr, c->port);
		zbs_chunk_stop(c);
		kfree(c);
	}
	if (next)
		queue_delayed_work(system_wq, &zbs_chunk_reap_work, next);
}

/* Module exit: every device is gone, so every chunk is unused. */
void zbs_conn_release(void)
{
	struct zbs_chunk *c;
	unsigned long idx;

	cancel_delayed_work_sync(&zbs_chunk_reap_work);
	mutex_lock(&zbs_chunks_lock);
	xa_for_each(&zbs_chunks, idx, c) {
		WARN(atomic_read(&c->users), "zbs: chunk %pI4:%u still has %d users\n",
		     &c->addr, c->port, atomic_read(&c->users));
		xa_erase(&zbs_chunks, idx);
		zbs_chunk_stop(c);
		kfree(c);
	}
	mutex_unlock(&zbs_chunks_lock);
	xa_destroy(&zbs_chunks);
}

/* debugfs zbs/chunks: every chunk and the state of its connections */
void zbs_conn_debugfs_show(struct seq_file *m)
{
	struct zbs_chunk *c;
	unsigned long i;
	int k;

	mutex_lock(&zbs_chunks_lock);	/* none is freed meanwhile */
	xa_for_each(&zbs_chunks, i, c) {
		int users = atomic_read(&c->users);

		seq_printf(m, "chunk %u %pI4:%u conns %u users %d", c->idx, &c->addr, c->port,
			   c->nr_conns, users);
		if (!users)
			seq_printf(m, " idle for %u ms",
				   jiffies_to_msecs(jiffies - READ_ONCE(c->idle_since)));
		seq_putc(m, '\n');
		for (k = 0; k < c->nr_conns; k++) {
			struct zbs_conn *conn = &c->conns[k];
			unsigned long idx, down;
			struct zbs_leg *leg;
			u32 queued = 0, inflight = 0, retrying = 0, cookie;
			struct list_head *p;
			bool up;

			spin_lock(&conn->lock);
			up = conn->cur;
			cookie = conn->cookie;
			down = conn->down_since;
			list_for_each(p, &conn->sendq)
				queued++;
			list_for_each(p, &conn->retryq)
				retrying++;
			spin_unlock(&conn->lock);
			rcu_read_lock();
			xa_for_each(&conn->inflight, idx, leg)
				inflight++;
			rcu_read_unlock();
			if (up)
				seq_printf(m, "  conn %d up (socket %u) queued %u inflight %u connects %u retrying %u\n",
					   k, cookie, queued, inflight, READ_ONCE(conn->connects), retrying);
			else
				seq_printf(m, "  conn %d down for %u ms%s queued %u inflight %u connects %u\n",
					   k, down ? jiffies_to_msecs(jiffies - down) : 0,
					   time_before(jiffies, READ_ONCE(conn->busy_until)) ?
					   " (busy: the chunk is at its connection limit)" : "",
					   queued, inflight, READ_ONCE(conn->connects));
		}
	}
	mutex_unlock(&zbs_chunks_lock);
}
