// SPDX-License-Identifier: GPL-2.0
/*
 * Data-port server: one thread per connection, each with its own io_uring.
 * Replica files are used with O_DIRECT (the chunk does not double-cache what
 * the client's page cache holds; FUA is a RWF_DSYNC write), so READ/WRITE go
 * to the ring and up to MAX_INFLIGHT of them per connection are in flight on
 * the device at once; the socket receive is on the same ring. A request
 * that overlaps a write in flight on the same replica waits for it, so
 * overlapping requests take effect in arrival order. Every other opcode
 * runs synchronously in the thread once the connection's earlier IO has
 * completed (a FLUSH thus covers every earlier write on its connection). Replies of everything that
 * completed in one loop turn go out with one sendmsg(), after the turn's
 * metadata commit. Without io_uring (old kernel, seccomp) a connection falls
 * back to executing requests one by one (conn_loop_sync; forced with the
 * environment variable ZBS_CHUNKD_NO_URING=1, which the tests use). So does
 * a data dir without O_DIRECT (tmpfs): buffered IO is a page-cache copy that
 * io_uring would only punt to a worker thread, at the cost of two context
 * switches per request.
 */
#include <errno.h>
#include <time.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "chunk_iostat.h"
#include "recover_gate.h"
#include "chunk_server.h"
#include "chunk_store.h"
#include "util.h"
#include "wire.h"

#define HDR		((uint32_t)sizeof(struct zbs_wire_req))
#define INBUF_SIZE	(ZBS_WIRE_MAX_IO + 256 * 1024)
#define ARENA_SIZE	(2 * ZBS_WIRE_MAX_IO)
#define MAX_REPLIES	256
#define MAX_INFLIGHT	64
#define RING_ENTRIES	128
#define UD_RECV		UINT64_MAX
#define UD_PACE		(UINT64_MAX - 1)	/* the timer of a paced request */
/*
 * Slot buffers above SMALL_BUF are kept for reuse by at most KEEP_BIG slots
 * of a connection, the others freed after use. A large buffer is an mmap of
 * its own: allocated per request, it costs page faults on its first touch
 * and a TLB shootdown of every CPU at its munmap (a copy's 512 KiB
 * requests spent a third of their CPU time in those).
 */
#define SMALL_BUF	(64 * 1024)
#define KEEP_BIG	8
#define MAX_INFLIGHT_BYTES (16 * ZBS_WIRE_MAX_IO)	/* per connection */

/*
 * Test-only faults (the VM selftests; never set them in production), read
 * from the environment when the server starts:
 *   ZBS_CHUNKD_TEST_BUSY=N      the first N READ, WRITE and WRITE_ZEROES
 *                               requests are answered BUSY, not executed;
 *   ZBS_CHUNKD_TEST_DELAY_MS=N  WRITE and WRITE_ZEROES wait N ms before
 *                               they run (where a request runs in the
 *                               connection's thread: WRITE_ZEROES always,
 *                               WRITE without io_uring, as on tmpfs);
 *   ZBS_CHUNKD_TEST_ZEROES_MS_PER_MIB=M  a WRITE_ZEROES waits M ms per MiB
 *                               of its length more;
 *   ZBS_CHUNKD_TEST_CONTENTION_MS=N  a client READ, WRITE or WRITE_ZEROES
 *                               waits N ms when the chunk served recovery
 *                               IO in the last 100 ms (a disk the copy
 *                               makes slow for its clients);
 *   ZBS_CHUNKD_TEST_PACE_NS=N   with the recovery pacing on, every recovery
 *                               request is held exactly N ns (a wait
 *                               that ends before the connection loop
 *                               looks again, with N=1).
 */
static atomic_long test_busy;
static unsigned long test_delay_ms, test_zeroes_ms_per_mib, test_contention_ms, test_pace_ns;
static _Atomic uint64_t test_recovery_ns;	/* the last recovery IO (contention) */

/*
 * The latency the chunk measures (chunk_server_iostat): READ, WRITE and
 * WRITE_ZEROES, the replica IO of clients, from when the store starts it
 * to its completion, whatever the outcome (a disk that fails slowly is
 * slow). The recovery executor reads its src with READ too: those reads
 * count (they are the disk's latency as well); RECOVER_WRITE, the dst
 * side, and the control opcodes do not. The recovery pacing
 * (recover_gate.h) takes the clients' alone: not the recovery's reads.
 */
static bool is_fg_io(uint16_t op)
{
	return op == ZBS_OP_READ || op == ZBS_OP_WRITE || op == ZBS_OP_WRITE_ZEROES;
}

/* a recovery copy's IO: the recovery pacing holds it back */
static bool is_recovery_io(const struct zbs_req *req)
{
	return req->opcode == ZBS_OP_RECOVER_WRITE ||
	       (req->opcode == ZBS_OP_READ && (req->flags & ZBS_DF_RECOVERY));
}

static unsigned long test_env(const char *name)
{
	const char *v = getenv(name);

	return v ? strtoul(v, NULL, 10) : 0;
}

/* Refuse this request as BUSY (test fault)? */
static bool test_busy_take(const struct zbs_req *req)
{
	if (req->opcode != ZBS_OP_READ && req->opcode != ZBS_OP_WRITE &&
	    req->opcode != ZBS_OP_WRITE_ZEROES)
		return false;
	return atomic_load(&test_busy) > 0 && atomic_fetch_sub(&test_busy, 1) > 0;
}

static void test_delay(const struct zbs_req *req)
{
	unsigned long ms = 0;

	if (req->opcode == ZBS_OP_WRITE || req->opcode == ZBS_OP_WRITE_ZEROES)
		ms = test_delay_ms;
	if (req->opcode == ZBS_OP_WRITE_ZEROES)
		ms += test_zeroes_ms_per_mib * (req->length >> 20);
	if (ms)
		usleep((useconds_t)(ms * 1000));
}

struct chunk_conn {
	struct chunk_server *srv;
	int fd;
	pthread_t thread;
	bool done;			/* srv->lock */
	struct chunk_conn *next;	/* srv->lock */
};

struct chunk_server {
	struct chunk_store *st;
	int lfd;
	uint16_t port;
	pthread_t accept_thread;
	pthread_mutex_t lock;
	struct chunk_conn *conns;	/* lock */
	unsigned nconns;		/* lock */
	unsigned max_conns;
	bool stopping;			/* lock */
	struct chunk_iostat fg;		/* client replica IO latency (is_fg_io) */
	struct recover_gate gate;	/* recovery pacing (recover_gate.h) */
	atomic_uint inject_delay_ms;	/* test fault: chunk_server_inject_delay */
};

/* req, started lat_ns before now, is done: the latency statistics */
static void io_done(struct chunk_server *srv, const struct zbs_req *req, uint64_t now,
		    uint64_t lat_ns)
{
	if (!is_fg_io(req->opcode))
		return;
	chunk_iostat_add(&srv->fg, now, lat_ns);
	if (!is_recovery_io(req))
		recover_gate_client(&srv->gate, now, lat_ns);
}

/* the test faults of chunk_server_inject_delay and CONTENTION: wait before
 * a client IO */
static void inject_delay(struct chunk_server *srv, const struct zbs_req *req)
{
	unsigned ms = atomic_load_explicit(&srv->inject_delay_ms, memory_order_relaxed);

	if (test_contention_ms) {
		uint64_t now = zbs_now_ns();

		if (is_recovery_io(req))
			atomic_store(&test_recovery_ns, now);
		else if (is_fg_io(req->opcode) && now - atomic_load(&test_recovery_ns) < 100000000ULL)
			ms += (unsigned)test_contention_ms;
	}
	if (ms && is_fg_io(req->opcode))
		usleep((useconds_t)ms * 1000);
}

struct out_reply {
	struct zbs_wire_reply hdr;
	const void *data;
	uint32_t len;
	bool mutating;
	int slot;		/* slot to release once sent, or -1 */
};

/* One asynchronous READ/WRITE: its aligned buffer and store context. */
struct slot {
	uint8_t *buf;
	uint32_t cap;
	struct chunk_store_io io;
	uint64_t start_ns;	/* when it was submitted */
	bool busy;		/* IO in flight */
	int next_free;
};

struct chunk_conn_state {
	struct chunk_conn *c;
	struct chunk_store_batch batch;
	uint8_t *in;
	uint32_t have, pos;
	uint8_t *arena;
	uint32_t arena_used;
	struct out_reply rep[MAX_REPLIES];
	unsigned nrep;
	struct iovec iov[2 * MAX_REPLIES];
	/* io_uring mode */
	struct io_uring *ring;
	struct slot slots[MAX_INFLIGHT];
	int free_slot;
	unsigned inflight;
	uint64_t inflight_bytes;
	bool recv_posted;
	bool closing;
	bool gated;		/* the frame at pos went through the recovery pacing */
	uint64_t gated_id;	/* its id */
	uint64_t paced_until;	/* it may run from then on (io_uring mode) */
	bool timer_posted;	/* io_uring mode: a UD_PACE timer is pending */
	bool pace_held;		/* the last process_frames stopped at a paced frame */
	bool niced;		/* serves a copy's reads: recover_gate_nice_thread done */
	unsigned nbig;		/* slots holding a buffer above SMALL_BUF */
	struct __kernel_timespec timer_ts;
};

static void slot_release(struct chunk_conn_state *cs, int i)
{
	struct slot *s = &cs->slots[i];

	if (s->cap > SMALL_BUF && cs->nbig > KEEP_BIG) {
		cs->nbig--;
		free(s->buf);
		s->buf = NULL;
		s->cap = 0;
	}
	s->next_free = cs->free_slot;
	cs->free_slot = i;
}

/* a free slot for len: a large request takes a kept large buffer, a small
 * one a slot without (growing a small buffer is a heap allocation, no
 * mmap), so small requests do not use up the large buffers */
static bool slot_fits(const struct slot *s, uint32_t len)
{
	return len > SMALL_BUF ? s->cap >= len : s->cap <= SMALL_BUF;
}

/*
 * A free slot with an aligned buffer of at least len bytes, or -1: the
 * first free one that fits (slot_fits) if any, else the list's head; its
 * buffer grown when short.
 */
static int slot_get(struct chunk_conn_state *cs, uint32_t len)
{
	int i = cs->free_slot, *link = &cs->free_slot;
	struct slot *s;

	if (i < 0)
		return -1;
	for (int *l = link; *l >= 0; l = &cs->slots[*l].next_free) {
		if (slot_fits(&cs->slots[*l], len)) {
			link = l;
			i = *l;
			break;
		}
	}
	s = &cs->slots[i];
	if (s->cap < len) {
		uint32_t cap = len < 4096 ? 4096 : len;
		void *p;

		if (posix_memalign(&p, 4096, cap))
			return -1;
		cs->nbig += (cap > SMALL_BUF) - (s->cap > SMALL_BUF);
		free(s->buf);
		s->buf = p;
		s->cap = cap;
	}
	*link = s->next_free;
	return i;
}

static int send_iov(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)(n > 1024 ? 1024 : n) };
		ssize_t s = sendmsg(fd, &m, MSG_NOSIGNAL);

		if (s < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)s >= iov->iov_len) {
			s -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + s;
			iov->iov_len -= (size_t)s;
		}
	}
	return 0;
}

/* Commit the batch's metadata, then send every queued reply. */
static int flush_replies(struct chunk_conn_state *cs)
{
	int st = chunk_store_batch_commit(cs->c->srv->st, &cs->batch);
	int n = 0, rc;

	for (unsigned i = 0; i < cs->nrep; i++) {
		struct out_reply *o = &cs->rep[i];

		if (st != ZBS_ST_OK && o->mutating && o->hdr.status == 0) {
			/* not persisted: must not be acknowledged */
			o->hdr.status = htole32(ZBS_ST_IO);
			o->hdr.length = 0;
			o->len = 0;
		}
		cs->iov[n++] = (struct iovec){ &o->hdr, sizeof(o->hdr) };
		if (o->len)
			cs->iov[n++] = (struct iovec){ (void *)o->data, o->len };
	}
	rc = n ? send_iov(cs->c->fd, cs->iov, n) : 0;
	for (unsigned i = 0; i < cs->nrep; i++)
		if (cs->rep[i].slot >= 0)
			slot_release(cs, cs->rep[i].slot);
	cs->nrep = 0;
	cs->arena_used = 0;
	return rc;
}

static void queue_reply(struct chunk_conn_state *cs, const struct zbs_reply *r, const void *data,
			bool mutating)
{
	struct out_reply *o = &cs->rep[cs->nrep++];

	zbs_wire_encode_reply(r, &o->hdr);
	o->data = data;
	o->len = r->status ? 0 : r->length;
	o->mutating = mutating;
	o->slot = -1;
}

static uint32_t out_need(const struct zbs_req *r)
{
	if (r->opcode == ZBS_OP_READ)
		return r->length;
	if (r->opcode == ZBS_OP_GET_BLOCK_MAP)
		return ZBS_WIRE_BLOCK_MAP_BYTES;
	return 0;
}

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {		/* full: hand the queued ones to the kernel */
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

/*
 * Does req touch a range of the same replica that a READ/WRITE in flight on
 * this connection touches, one of them being a write? Such requests wait,
 * so overlapping requests take effect in arrival order on every replica.
 */
static bool overlaps_inflight(const struct chunk_conn_state *cs, const struct zbs_req *req)
{
	for (int i = 0; i < MAX_INFLIGHT; i++) {
		const struct slot *sl = &cs->slots[i];
		const struct zbs_req *o = &sl->io.req;

		if (!sl->busy || o->pid != req->pid)
			continue;
		if (o->opcode != ZBS_OP_WRITE && req->opcode != ZBS_OP_WRITE)
			continue;
		if (req->offset < o->offset + o->length && o->offset < req->offset + req->length)
			return true;
	}
	return false;
}

/*
 * Start an asynchronous READ/WRITE. Returns 0 when it was issued or answered
 * (rule refused it), 1 when no slot is free (retry after completions), -1 on
 * a fatal error.
 */
static int submit_io(struct chunk_conn_state *cs, const struct zbs_req *req, const uint8_t *payload)
{
	struct zbs_reply rep;
	struct io_uring_sqe *sqe;
	struct slot *sl;
	int i;

	if (cs->inflight && cs->inflight_bytes + req->length > MAX_INFLIGHT_BYTES)
		return 1;		/* bound the memory a connection pins */
	i = slot_get(cs, req->length);
	if (i < 0 && cs->nrep) {
		/* slots of completed reads/writes are freed once their replies are sent */
		if (flush_replies(cs) < 0)
			return -1;
		i = slot_get(cs, req->length);
	}
	if (i < 0)
		return cs->inflight ? 1 : -1;
	sl = &cs->slots[i];
	sl->start_ns = zbs_now_ns();
	inject_delay(cs->c->srv, req);
	if (chunk_store_io_begin(cs->c->srv->st, req, &sl->io, &rep) != ZBS_ST_OK) {
		uint64_t now = zbs_now_ns();

		/* refused (no such replica, stale...): measured as the sync path does */
		io_done(cs->c->srv, req, now, now - sl->start_ns);
		slot_release(cs, i);
		queue_reply(cs, &rep, NULL, false);
		return 0;
	}
	sqe = get_sqe(cs->ring);
	if (!sqe) {
		chunk_store_io_end(cs->c->srv->st, &cs->batch, &sl->io, sl->buf, -EIO, &rep);
		slot_release(cs, i);
		queue_reply(cs, &rep, NULL, true);
		return 0;
	}
	if (req->opcode == ZBS_OP_WRITE) {
		memcpy(sl->buf, payload, req->length);
		io_uring_prep_write(sqe, sl->io.fd, sl->buf, req->length, req->offset);
		if (req->flags & ZBS_WF_FUA) {
			sqe->rw_flags = RWF_DSYNC;
			sl->io.dsync = true;
		}
	} else {
		io_uring_prep_read(sqe, sl->io.fd, sl->buf, req->length, req->offset);
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)i);
	sl->busy = true;
	cs->inflight++;
	cs->inflight_bytes += req->length;
	return 0;
}

/* An asynchronous READ/WRITE finished: queue its reply (slot freed when sent). */
static void complete_io(struct chunk_conn_state *cs, int i, int res)
{
	struct slot *sl = &cs->slots[i];
	bool write = sl->io.req.opcode == ZBS_OP_WRITE;
	struct zbs_reply rep;
	uint64_t now;

	cs->inflight--;
	cs->inflight_bytes -= sl->io.req.length;
	sl->busy = false;
	now = zbs_now_ns();
	io_done(cs->c->srv, &sl->io.req, now, now - sl->start_ns);
	if (cs->nrep == MAX_REPLIES && flush_replies(cs) < 0)
		cs->closing = true;
	chunk_store_io_end(cs->c->srv->st, &cs->batch, &sl->io, sl->buf, res, &rep);
	queue_reply(cs, &rep, sl->buf, write);
	cs->rep[cs->nrep - 1].slot = i;
}

/*
 * A recovery copy's request waits as the recovery pacing says, once per
 * frame. 0: run it now; 1: not yet (io_uring mode: the frame stays at pos
 * and the connection loop goes on reaping completions, sending replies
 * and receiving until cs->paced_until, so the copy's earlier requests are
 * answered meanwhile); -1: the connection must close. Without io_uring
 * every earlier request was answered already: the replies are sent, then
 * the thread waits, woken early only by the peer hanging up.
 */
static int pace(struct chunk_conn_state *cs, const struct zbs_req *req)
{
	uint64_t ns, now;

	if (!is_recovery_io(req))
		return 0;
	/*
	 * A connection serving the copy's reads yields the CPU to clients.
	 * Not one taking its RECOVER_WRITEs: they hold what the replica's
	 * client writes need too (the file's inode lock while the bytes go
	 * in, the store's LMDB writer lock at the commit), and a niced holder
	 * preempted by client threads keeps them waiting for it: in the VM,
	 * client writes waited 30-170 ms behind one 512 KiB copy write.
	 */
	if (!cs->niced && req->opcode == ZBS_OP_READ && atomic_load(&cs->c->srv->gate.on)) {
		cs->niced = true;
		recover_gate_nice_thread();
	}
	now = zbs_now_ns();
	if (cs->gated && cs->gated_id == req->id) {
		cs->pace_held = cs->ring && now < cs->paced_until;
		return cs->pace_held ? 1 : 0;
	}
	cs->gated = true;
	cs->gated_id = req->id;
	ns = recover_gate_delay(&cs->c->srv->gate, now, req->length);
	if (test_pace_ns && atomic_load(&cs->c->srv->gate.on))
		ns = test_pace_ns;
	cs->paced_until = now + ns;
	if (!ns)
		return 0;
	if (cs->ring) {
		cs->pace_held = true;
		return 1;
	}
	if (cs->nrep && flush_replies(cs) < 0)
		return -1;
	{
		struct pollfd pfd = { .fd = cs->c->fd, .events = POLLRDHUP };
		int ms = (int)((ns + 999999) / 1000000);

		if (poll(&pfd, 1, ms) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return -1;	/* the copy is gone: do not serve it */
	}
	return 0;
}

/*
 * Handle every complete frame in the input buffer. Returns 0 to go on, or
 * -1 when the connection must close (protocol error, send failure).
 */
static int process_frames(struct chunk_conn_state *cs)
{
	struct chunk_store *st = cs->c->srv->st;

	cs->pace_held = false;
	while (cs->have - cs->pos >= HDR) {
		struct zbs_wire_req w;
		struct zbs_req req;
		struct zbs_reply rep;
		uint32_t plen, need;
		int status;

		memcpy(&w, cs->in + cs->pos, HDR);
		status = zbs_wire_decode_req(&w, &req, &plen);
		if (status == ZBS_ST_PROTO) {
			memset(&rep, 0, sizeof(rep));
			rep.opcode = req.opcode;
			rep.id = req.id;
			rep.status = ZBS_ST_PROTO;
			log_warn("connection %d: bad frame (magic/version/length): closing", cs->c->fd);
			if (cs->nrep == MAX_REPLIES && flush_replies(cs) < 0)
				return -1;
			queue_reply(cs, &rep, NULL, false);
			flush_replies(cs);
			return -1;
		}
		if (cs->have - cs->pos - HDR < plen)
			break;		/* wait for the rest of the payload */
		status = zbs_wire_check_req(&req);
		need = status == ZBS_ST_OK ? out_need(&req) : 0;
		if (cs->nrep == MAX_REPLIES || cs->arena_used + need > ARENA_SIZE) {
			if (flush_replies(cs) < 0)
				return -1;
		}
		if (status == ZBS_ST_OK && test_busy_take(&req))
			status = ZBS_ST_BUSY;	/* test fault: nothing done */
		if (status != ZBS_ST_OK) {
			memset(&rep, 0, sizeof(rep));
			rep.opcode = req.opcode;
			rep.id = req.id;
			rep.status = (uint32_t)status;
			log_debug("connection %d: %s id %lu: %s", cs->c->fd,
				  zbs_wire_op_str(req.opcode), (unsigned long)req.id,
				  zbs_wire_status_str((uint32_t)status));
			queue_reply(cs, &rep, NULL, false);
		} else if (cs->ring && (req.opcode == ZBS_OP_READ || req.opcode == ZBS_OP_WRITE)) {
			int rc;

			if (overlaps_inflight(cs, &req))
				break;		/* keep arrival order on overlapping ranges */
			rc = pace(cs, &req);
			if (rc)
				return rc < 0 ? -1 : 0;	/* paced: later */
			rc = submit_io(cs, &req, cs->in + cs->pos + HDR);

			if (rc > 0)
				break;		/* no free slot: wait for completions */
			if (rc < 0)
				return -1;
		} else if (cs->inflight) {
			break;		/* control ops run after earlier IO completed */
		} else {
			uint8_t *out;
			uint64_t t0, now;
			int rc = pace(cs, &req);

			if (rc)
				return rc < 0 ? -1 : 0;	/* paced: later */
			out = cs->arena + cs->arena_used;	/* after pace's flush */
			t0 = zbs_now_ns();

			inject_delay(cs->c->srv, &req);
			test_delay(&req);
			chunk_store_exec(st, &cs->batch, &req, cs->in + cs->pos + HDR, out, &rep);
			now = zbs_now_ns();
			io_done(cs->c->srv, &req, now, now - t0);
			if (rep.status == ZBS_ST_OK)
				cs->arena_used += rep.length;
			queue_reply(cs, &rep, out,
				    req.opcode != ZBS_OP_READ && req.opcode != ZBS_OP_GET_INFO &&
				    req.opcode != ZBS_OP_GET_BLOCK_MAP);
		}
		cs->pos += HDR + plen;
		cs->gated = false;
	}
	return 0;
}

/* io_uring mode: socket receive and READ/WRITE on the connection's ring. */
static void conn_loop_ring(struct chunk_conn_state *cs)
{
	struct chunk_conn *c = cs->c;
	bool shut = false;

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int rc;

		if (!cs->closing && process_frames(cs) < 0)
			cs->closing = true;
		if (!cs->recv_posted && cs->pos) {
			memmove(cs->in, cs->in + cs->pos, cs->have - cs->pos);
			cs->have -= cs->pos;
			cs->pos = 0;
		}
		if (cs->nrep && flush_replies(cs) < 0)
			cs->closing = true;
		if (cs->closing && !shut) {
			shutdown(c->fd, SHUT_RDWR);	/* ends a posted receive */
			shut = true;
		}
		if (!cs->closing && !cs->recv_posted && cs->have < INBUF_SIZE) {
			struct io_uring_sqe *sqe = get_sqe(cs->ring);

			if (!sqe) {
				cs->closing = true;
				continue;
			}
			io_uring_prep_recv(sqe, c->fd, cs->in + cs->have, INBUF_SIZE - cs->have, 0);
			io_uring_sqe_set_data64(sqe, UD_RECV);
			cs->recv_posted = true;
		}
		if (!cs->closing && !cs->timer_posted && cs->pace_held) {
			/* a paced frame at pos: a timer wakes the loop when it may
			 * go. When that time came since process_frames looked, it
			 * goes now: nothing else may wake the loop (its peer may be
			 * waiting for its reply alone). */
			uint64_t now = zbs_now_ns(), d = cs->paced_until - now;
			struct io_uring_sqe *sqe;

			if (now >= cs->paced_until)
				continue;
			sqe = get_sqe(cs->ring);
			if (!sqe) {
				cs->closing = true;
				continue;
			}
			cs->timer_ts.tv_sec = (long long)(d / 1000000000ULL);
			cs->timer_ts.tv_nsec = (long long)(d % 1000000000ULL);
			io_uring_prep_timeout(sqe, &cs->timer_ts, 0, 0);
			io_uring_sqe_set_data64(sqe, UD_PACE);
			cs->timer_posted = true;
		}
		if (!cs->inflight && !cs->recv_posted && !cs->timer_posted) {
			if (cs->closing)
				break;
			continue;	/* buffer full of partial data cannot happen; re-loop */
		}
		rc = io_uring_submit_and_wait(cs->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			log_err("connection %d: io_uring: %s", c->fd, strerror(-rc));
			/* cannot wait for in-flight IO: the buffers must stay; give up hard */
			abort();
		}
		io_uring_for_each_cqe(cs->ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);

			seen++;
			if (ud == UD_PACE) {
				cs->timer_posted = false;	/* -ETIME: the paced frame may go */
			} else if (ud == UD_RECV) {
				cs->recv_posted = false;
				if (cqe->res > 0) {
					cs->have += (uint32_t)cqe->res;
				} else if (cqe->res != -EINTR && cqe->res != -EAGAIN) {
					if (cs->have - cs->pos && !cs->closing)
						log_debug("connection %d: closed inside a frame", c->fd);
					cs->closing = true;
				}
			} else {
				complete_io(cs, (int)ud, cqe->res);
			}
		}
		io_uring_cq_advance(cs->ring, seen);
	}
}

/* Fallback without io_uring: requests executed one by one. */
static void conn_loop_sync(struct chunk_conn_state *cs)
{
	struct chunk_conn *c = cs->c;

	for (;;) {
		ssize_t n;

		if (process_frames(cs) < 0)
			break;
		if (cs->nrep && flush_replies(cs) < 0)
			break;
		if (cs->pos) {
			memmove(cs->in, cs->in + cs->pos, cs->have - cs->pos);
			cs->have -= cs->pos;
			cs->pos = 0;
		}
		n = recv(c->fd, cs->in + cs->have, INBUF_SIZE - cs->have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (cs->have)
				log_debug("connection %d: closed inside a frame (%u bytes dropped)",
					  c->fd, cs->have);
			break;
		}
		cs->have += (uint32_t)n;
	}
}

static void *conn_main(void *arg)
{
	struct chunk_conn *c = arg;
	struct chunk_conn_state *cs = calloc(1, sizeof(*cs));
	const char *no_uring = getenv("ZBS_CHUNKD_NO_URING");
	struct io_uring ring;

	if (!cs)
		goto out;
	cs->c = c;
	cs->in = malloc(INBUF_SIZE);
	cs->arena = malloc(ARENA_SIZE);
	if (!cs->in || !cs->arena)
		goto out;
	cs->free_slot = -1;
	for (int i = MAX_INFLIGHT - 1; i >= 0; i--)
		slot_release(cs, i);
	if (!(no_uring && *no_uring && strcmp(no_uring, "0")) && chunk_store_direct(c->srv->st) &&
	    io_uring_queue_init(RING_ENTRIES, &ring, 0) == 0) {
		cs->ring = &ring;
		conn_loop_ring(cs);
		io_uring_queue_exit(&ring);
	} else {
		log_debug("connection %d: no io_uring, serving synchronously", c->fd);
		conn_loop_sync(cs);
	}
out:
	if (cs) {
		chunk_store_batch_commit(c->srv->st, &cs->batch);
		free(cs->in);
		free(cs->arena);
		for (int i = 0; i < MAX_INFLIGHT; i++)
			free(cs->slots[i].buf);
		free(cs);
	}
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->srv->lock);
	c->done = true;
	pthread_mutex_unlock(&c->srv->lock);
	return NULL;
}

/* Join and free finished connections. Caller holds srv->lock. */
static void reap_conns(struct chunk_server *srv, bool all)
{
	struct chunk_conn **pp = &srv->conns;

	while (*pp) {
		struct chunk_conn *c = *pp;

		if (!c->done && !all) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		srv->nconns--;
		pthread_mutex_unlock(&srv->lock);
		pthread_join(c->thread, NULL);
		close(c->fd);
		free(c);
		pthread_mutex_lock(&srv->lock);
	}
}

/*
 * A connection over --max-conns is told so before it is closed: one reply
 * with id 0 and status BUSY (zbs_wire.h), so the client retries later
 * instead of taking a healthy chunk for a dead one. Whatever the client
 * already sent is read away first, so the close does not reset the
 * connection before the reply is read.
 */
/*
 * A refused connection is read (and what comes dropped) until the peer
 * closes it, for at most BUSY_LINGER_MS, on a thread of its own, at most
 * BUSY_LINGER_MAX at once. Closed with requests unread, it was reset, and
 * a reset reaching the peer before it read the BUSY (its requests were
 * already on their way) looks like a dead chunk: the kernel failed the
 * replica with ECONNRESET where it should have sent its legs again.
 */
#define BUSY_LINGER_MS		2000
#define BUSY_LINGER_MAX		16
static atomic_uint busy_lingering;

static void busy_drain(int fd, int ms)
{
	uint64_t end = zbs_now_ns() + (uint64_t)ms * 1000000ULL;
	char sink[4096];

	if (!ms) {		/* what has come, no wait */
		while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
		return;
	}
	for (;;) {
		uint64_t now = zbs_now_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (now >= end || poll(&p, 1, (int)((end - now) / 1000000) + 1) <= 0)
			return;
		n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;		/* the peer closed (or reset) it */
	}
}

static void *busy_linger_main(void *arg)
{
	int fd = (int)(intptr_t)arg;

	busy_drain(fd, BUSY_LINGER_MS);
	close(fd);
	atomic_fetch_sub(&busy_lingering, 1);
	return NULL;
}

static void refuse_busy(int fd)
{
	struct zbs_reply r = { .status = ZBS_ST_BUSY };
	struct zbs_wire_reply w;

	zbs_wire_encode_reply(&r, &w);
	if (send(fd, &w, sizeof(w), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(w)) {
		shutdown(fd, SHUT_WR);
		if (atomic_fetch_add(&busy_lingering, 1) < BUSY_LINGER_MAX) {
			pthread_attr_t a;
			pthread_t th;
			int rc;

			pthread_attr_init(&a);
			pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
			pthread_attr_setstacksize(&a, 256 * 1024);
			rc = pthread_create(&th, &a, busy_linger_main, (void *)(intptr_t)fd);
			pthread_attr_destroy(&a);
			if (!rc)
				return;
		}
		atomic_fetch_sub(&busy_lingering, 1);
		busy_drain(fd, 0);	/* too many lingering: what has come */
	}
	close(fd);
}

static void *accept_main(void *arg)
{
	struct chunk_server *srv = arg;

	for (;;) {
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;
		struct chunk_conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			pthread_mutex_lock(&srv->lock);
			bool stop = srv->stopping;
			pthread_mutex_unlock(&srv->lock);
			if (stop)
				break;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept: %m");
				usleep(10000);
				continue;
			}
			log_err("accept: %m");
			break;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		pthread_mutex_lock(&srv->lock);
		reap_conns(srv, false);
		if (srv->stopping || srv->nconns >= srv->max_conns) {
			pthread_mutex_unlock(&srv->lock);
			log_warn("too many connections (%u, --max-conns): refusing one",
				 srv->max_conns);
			refuse_busy(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			pthread_mutex_unlock(&srv->lock);
			close(fd);
			continue;
		}
		c->srv = srv;
		c->fd = fd;
		if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
			pthread_mutex_unlock(&srv->lock);
			log_warn("cannot start a connection thread");
			close(fd);
			free(c);
			continue;
		}
		c->next = srv->conns;
		srv->conns = c;
		srv->nconns++;
		pthread_mutex_unlock(&srv->lock);
	}
	return NULL;
}

int chunk_server_start(struct chunk_store *st, const char *host, uint16_t port,
		       unsigned max_conns, struct chunk_server **out)
{
	struct chunk_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return -ENOMEM;
	srv->st = st;
	srv->max_conns = max_conns ? max_conns : CHUNK_SERVER_MAX_CONNS;
	chunk_iostat_init(&srv->fg, 0);
	recover_gate_init(&srv->gate, true, NULL);
	atomic_store(&test_busy, (long)test_env("ZBS_CHUNKD_TEST_BUSY"));
	test_delay_ms = test_env("ZBS_CHUNKD_TEST_DELAY_MS");
	test_zeroes_ms_per_mib = test_env("ZBS_CHUNKD_TEST_ZEROES_MS_PER_MIB");
	test_contention_ms = test_env("ZBS_CHUNKD_TEST_CONTENTION_MS");
	test_pace_ns = test_env("ZBS_CHUNKD_TEST_PACE_NS");
	if (atomic_load(&test_busy) || test_delay_ms || test_zeroes_ms_per_mib || test_contention_ms ||
	    test_pace_ns)
		log_warn("test faults on: busy %ld, delay %lu ms, zeroes %lu ms/MiB, contention %lu ms, "
			 "pace %lu ns", atomic_load(&test_busy), test_delay_ms,
			 test_zeroes_ms_per_mib, test_contention_ms, test_pace_ns);
	pthread_mutex_init(&srv->lock, NULL);
	srv->lfd = zbs_tcp_listen(host, port, 128, &srv->port);
	if (srv->lfd < 0) {
		int rc = srv->lfd;

		log_err("cannot listen on %s:%u: %s", host, port, strerror(-rc));
		pthread_mutex_destroy(&srv->lock);
		chunk_iostat_destroy(&srv->fg);
		recover_gate_destroy(&srv->gate);
		free(srv);
		return rc;
	}
	if (pthread_create(&srv->accept_thread, NULL, accept_main, srv) != 0) {
		close(srv->lfd);
		pthread_mutex_destroy(&srv->lock);
		chunk_iostat_destroy(&srv->fg);
		recover_gate_destroy(&srv->gate);
		free(srv);
		return -EAGAIN;
	}
	*out = srv;
	return 0;
}

uint16_t chunk_server_port(const struct chunk_server *srv)
{
	return srv->port;
}

struct chunk_iostat *chunk_server_iostat(struct chunk_server *srv)
{
	return &srv->fg;
}

void chunk_server_set_recover_pace(struct chunk_server *srv, bool on)
{
	recover_gate_set(&srv->gate, on);
}

void chunk_server_inject_delay(struct chunk_server *srv, unsigned ms)
{
	if (ms)
		log_warn("test fault on: client IO (READ, WRITE, WRITE_ZEROES) waits %u ms", ms);
	atomic_store(&srv->inject_delay_ms, ms);
}

void chunk_server_stop(struct chunk_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	shutdown(srv->lfd, SHUT_RDWR);
	pthread_join(srv->accept_thread, NULL);
	close(srv->lfd);
	pthread_mutex_lock(&srv->lock);
	for (struct chunk_conn *c = srv->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	reap_conns(srv, true);
	pthread_mutex_unlock(&srv->lock);
	pthread_mutex_destroy(&srv->lock);
	chunk_iostat_destroy(&srv->fg);
	recover_gate_destroy(&srv->gate);
	free(srv);
}
