// SPDX-License-Identifier: GPL-2.0
/*
 * A big GC against a real zbs-chunkd, with a small meta of its own in this
 * process (the RPCs a chunk session uses, a short lease, and meta's rule
 * that a session with no keepalive for a lease is gone): the chunk holds
 * GC_N replicas meta does not know, meta answers the first data report
 * with a GC delete of each, and sends the GC again for any still reported
 * (as zbs-metad does).
 *
 * - test_gc_keeps_session: the deletes run while keepalives keep coming:
 *   the chunk needs one session only (deleting them on the session's
 *   thread, one sync each, took longer than the lease here: a second
 *   session), no report after the GC names a replica, and the data dir
 *   ends empty.
 * - test_gc_after_crash: zbs-chunkd is killed (-9) as soon as the GC is
 *   sent and restarted: what it still reports is deleted again, and the
 *   data dir ends empty (a delete holds across a restart).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "../chunk_store.c"
#include "harness.h"
#include "meta.pb-c.h"
#include "rpc.h"
#include "store_fill.h"
#include "util.h"

#define GC_N		1500		/* replicas, pids GC_PID0.. */
#define GC_PID0		5000
#define GC_EPOCH	3
#define LEASE_MS	1000
#define KEEPALIVE_MS	50

/* ---- a meta of the test's own ---------------------------------------- */

struct fake_meta {
	int lfd;
	uint16_t port;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;		/* the fields below */
	uint64_t sid;			/* the live session, 0: none */
	uint64_t last_ka_ns;
	unsigned sessions;		/* sessions created */
	unsigned keepalives;		/* keepalives accepted */
	unsigned gc_rounds;		/* keepalive replies that carried GC */
	unsigned ka_at_gc;		/* keepalives when the first GC went */
	int reported;			/* test pids in the last data report, -1: none yet */
	bool reported_after_clean;	/* a report named a pid after one named none */
	bool seen_clean;
};

static int read_full(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int reply(int fd, const struct zbs_rpc_hdr *req, uint32_t status,
		 const ProtobufCMessage *msg)
{
	struct zbs_rpc_hdr h = { .magic = ZBS_RPC_MAGIC, .service = req->service,
				 .method = req->method, .status = status, .msg_id = req->msg_id,
				 .flags = ZBS_RPC_F_REPLY };
	uint8_t hdr[ZBS_RPC_HDR_LEN], *body;
	int rc;

	h.len = (uint32_t)protobuf_c_message_get_packed_size(msg);
	body = malloc(h.len + 1);
	if (!body)
		return -1;
	protobuf_c_message_pack(msg, body);
	zbs_rpc_hdr_encode(&h, hdr);
	rc = write(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr) &&
	     write(fd, body, h.len) == (ssize_t)h.len ? 0 : -1;
	free(body);
	return rc;
}

static int reply_error(int fd, const struct zbs_rpc_hdr *req, uint32_t status, const char *msg)
{
	Zbs__ErrorReply er = ZBS__ERROR_REPLY__INIT;

	er.message = (char *)msg;
	return reply(fd, req, status, &er.base);
}

static int on_keepalive(struct fake_meta *m, int fd, const struct zbs_rpc_hdr *h,
			const Zbs__KeepAliveRequest *q)
{
	Zbs__KeepAliveResponse resp = ZBS__KEEP_ALIVE_RESPONSE__INIT;
	Zbs__Command *cmds = NULL, **cmdp = NULL;
	uint64_t now = zbs_now_ns();
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&m->lock);
	if (q->session_id != m->sid || now - m->last_ka_ns > (uint64_t)LEASE_MS * 1000000) {
		m->sid = 0;	/* expired, as meta would have it */
		pthread_mutex_unlock(&m->lock);
		return reply_error(fd, h, ZBS_RPC_ESESSION, "session expired");
	}
	m->last_ka_ns = now;
	m->keepalives++;
	if (q->has_data_report) {
		cmds = calloc(q->n_replicas + 1, sizeof(*cmds));
		cmdp = calloc(q->n_replicas + 1, sizeof(*cmdp));
		assert_true(cmds && cmdp);
		for (size_t i = 0; i < q->n_replicas; i++) {
			const Zbs__ReplicaReport *r = q->replicas[i];

			if (r->pid < GC_PID0 || r->pid >= GC_PID0 + GC_N)
				continue;
			zbs__command__init(&cmds[n]);
			cmds[n].type = ZBS__COMMAND_TYPE__CMD_GC_DELETE;
			cmds[n].pid = r->pid;
			cmds[n].epoch = r->epoch;
			cmdp[n] = &cmds[n];
			n++;
		}
		m->reported = (int)n;
		if (n && m->seen_clean)
			m->reported_after_clean = true;
		if (!n && m->gc_rounds)
			m->seen_clean = true;
		if (n) {		/* what meta does not know, it deletes */
			if (!m->gc_rounds)
				m->ka_at_gc = m->keepalives;
			m->gc_rounds++;
			resp.n_commands = n;
			resp.commands = cmdp;
		}
	}
	resp.lease_ms = LEASE_MS;
	pthread_mutex_unlock(&m->lock);
	rc = reply(fd, h, ZBS_RPC_OK, &resp.base);
	free(cmds);
	free(cmdp);
	return rc;
}

/* One request from fd; -1 when the connection is done. */
static int serve_one(struct fake_meta *m, int fd)
{
	uint8_t hb[ZBS_RPC_HDR_LEN], *body;
	struct zbs_rpc_hdr h;
	int rc = 0;

	if (read_full(fd, hb, sizeof(hb)) || zbs_rpc_hdr_decode(hb, &h))
		return -1;
	body = malloc(h.len + 1);
	if (!body || read_full(fd, body, h.len)) {
		free(body);
		return -1;
	}
	switch (h.method) {
	case ZBS_M_REGISTER_CHUNK: {
		Zbs__RegisterChunkResponse resp = ZBS__REGISTER_CHUNK_RESPONSE__INIT;
		Zbs__Chunk c = ZBS__CHUNK__INIT;

		c.cid = 1;
		resp.chunk = &c;
		rc = reply(fd, &h, ZBS_RPC_OK, &resp.base);
		break;
	}
	case ZBS_M_CREATE_SESSION: {
		Zbs__CreateSessionResponse resp = ZBS__CREATE_SESSION_RESPONSE__INIT;
		Zbs__Negotiation neg = ZBS__NEGOTIATION__INIT;

		pthread_mutex_lock(&m->lock);
		m->sessions++;
		m->sid = 100 + m->sessions;
		m->last_ka_ns = zbs_now_ns();
		resp.session_id = m->sid;
		pthread_mutex_unlock(&m->lock);
		resp.lease_ms = LEASE_MS;
		resp.keepalive_ms = KEEPALIVE_MS;
		neg.negotiated = neg.meta_capabilities = 15;
		resp.negotiation = &neg;
		rc = reply(fd, &h, ZBS_RPC_OK, &resp.base);
		break;
	}
	case ZBS_M_KEEPALIVE: {
		Zbs__KeepAliveRequest *q = zbs__keep_alive_request__unpack(NULL, h.len, body);

		rc = q ? on_keepalive(m, fd, &h, q) : reply_error(fd, &h, ZBS_RPC_EINVAL, "bad");
		zbs__keep_alive_request__free_unpacked(q, NULL);
		break;
	}
	case ZBS_M_LEAVE_SESSION: {
		Zbs__Empty e = ZBS__EMPTY__INIT;

		rc = reply(fd, &h, ZBS_RPC_OK, &e.base);
		break;
	}
	default:
		rc = reply_error(fd, &h, ZBS_RPC_EUNSUPP, "not in this meta");
	}
	free(body);
	return rc;
}

static void *meta_main(void *arg)
{
	struct fake_meta *m = arg;
	struct pollfd p[16];
	int n = 1;

	p[0] = (struct pollfd){ .fd = m->lfd, .events = POLLIN };
	while (!atomic_load(&m->stop)) {
		if (poll(p, (nfds_t)n, 50) <= 0)
			continue;
		for (int i = n - 1; i >= 1; i--) {
			if (p[i].revents && serve_one(m, p[i].fd)) {
				close(p[i].fd);
				p[i] = p[--n];
			}
		}
		if (p[0].revents & POLLIN) {
			int fd = accept(m->lfd, NULL, NULL);

			if (fd >= 0 && n < 16)
				p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
			else if (fd >= 0)
				close(fd);
		}
	}
	for (int i = 1; i < n; i++)
		close(p[i].fd);
	return NULL;
}

static void meta_start(struct fake_meta *m)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(m, 0, sizeof(*m));
	m->reported = -1;
	pthread_mutex_init(&m->lock, NULL);
	m->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(m->lfd >= 0);
	assert_int_equal(bind(m->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(m->lfd, 16), 0);
	assert_int_equal(getsockname(m->lfd, (struct sockaddr *)&a, &len), 0);
	m->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&m->thread, NULL, meta_main, m), 0);
}

static void meta_stop(struct fake_meta *m)
{
	atomic_store(&m->stop, true);
	pthread_join(m->thread, NULL);
	close(m->lfd);
	pthread_mutex_destroy(&m->lock);
}

/* ---- the chunk ------------------------------------------------------ */

struct fix {
	char tmp[512], dir[600], meta[64];
	struct chunkd_proc p;
	struct fake_meta m;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct chunk_store *st;

	assert_non_null(f);
	assert_int_equal(harness_tmpdir(f->tmp, sizeof(f->tmp)), 0);
	snprintf(f->dir, sizeof(f->dir), "%s/data", f->tmp);
	zbs_log_init("test_gc_session", ZBS_LOG_WARN);
	assert_int_equal(chunk_store_open(f->dir, NULL, &st), 0);
	store_fill(st, GC_PID0, GC_N, GC_EPOCH);
	chunk_store_close(st);
	meta_start(&f->m);
	snprintf(f->meta, sizeof(f->meta), "127.0.0.1:%u", f->m.port);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	if (f->p.pid > 0)
		chunkd_kill9(&f->p);
	meta_stop(&f->m);
	harness_rmrf(f->tmp);
	free(f);
	return 0;
}

static void start_chunkd(struct fix *f)
{
	const char *extra[] = { "--meta", f->meta, "--no-kernel-agent", NULL };

	assert_int_equal(chunkd_start(&f->p, f->dir, extra), 0);
}

/* Poll (10 ms steps, at most 60 s: a bound, not a measure) until a report
 * after the GC named none of the replicas and their files are gone. */
static void wait_gc_done(struct fix *f)
{
	for (int i = 0; i < 6000; i++) {
		bool clean;

		pthread_mutex_lock(&f->m.lock);
		clean = f->m.seen_clean;
		pthread_mutex_unlock(&f->m.lock);
		if (clean && store_fill_count_files(f->dir) == 0)
			return;
		usleep(10000);
	}
	fail_msg("GC not done: %d replicas still reported, %d files", f->m.reported,
		 store_fill_count_files(f->dir));
}

static void assert_dir_empty_after_reopen(struct fix *f)
{
	struct chunk_store *st;
	int n = 0;

	assert_int_equal(chunk_store_open(f->dir, NULL, &st), 0);
	assert_int_equal(chunk_store_foreach_replica(st, store_fill_count_cb, &n), 0);
	chunk_store_close(st);
	assert_int_equal(n, 0);
}

static void test_gc_keeps_session(void **state)
{
	struct fix *f = *state;
	unsigned during;

	start_chunkd(f);
	wait_gc_done(f);
	/* a few more rounds: nothing comes back */
	pthread_mutex_lock(&f->m.lock);
	during = f->m.keepalives - f->m.ka_at_gc;
	pthread_mutex_unlock(&f->m.lock);
	for (int i = 0; i < 500; i++) {
		unsigned k;

		pthread_mutex_lock(&f->m.lock);
		k = f->m.keepalives - f->m.ka_at_gc;
		pthread_mutex_unlock(&f->m.lock);
		if (k >= during + 3)
			break;
		usleep(10000);
	}
	assert_int_equal(chunkd_stop(&f->p), 0);
	print_message("# %d GC deletes: %u sessions, %u keepalive replies with GC, "
		      "%u keepalives until the data dir was empty\n", GC_N, f->m.sessions,
		      f->m.gc_rounds, during);
	assert_int_equal(f->m.sessions, 1);	/* never lost meanwhile */
	assert_false(f->m.reported_after_clean);
	assert_int_equal(f->m.reported, 0);
	assert_dir_empty_after_reopen(f);
}

static void test_gc_after_crash(void **state)
{
	struct fix *f = *state;
	int left;

	start_chunkd(f);
	for (int i = 0; i < 60000; i++) {
		unsigned gc;

		pthread_mutex_lock(&f->m.lock);
		gc = f->m.gc_rounds;
		pthread_mutex_unlock(&f->m.lock);
		if (gc)
			break;
		usleep(1000);
	}
	assert_true(f->m.gc_rounds > 0);
	chunkd_kill9(&f->p);
	left = store_fill_count_files(f->dir);
	pthread_mutex_lock(&f->m.lock);
	f->m.seen_clean = false;
	f->m.reported_after_clean = false;
	pthread_mutex_unlock(&f->m.lock);
	start_chunkd(f);
	wait_gc_done(f);
	assert_int_equal(chunkd_stop(&f->p), 0);
	print_message("# killed with %d of %d replica files left; %u keepalive replies with GC\n",
		      left, GC_N, f->m.gc_rounds);
	assert_false(f->m.reported_after_clean);
	assert_dir_empty_after_reopen(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gc_keeps_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_after_crash, setup, teardown),
	};
	return cmocka_run_group_tests_name("gc_session", tests, NULL, NULL);
}
