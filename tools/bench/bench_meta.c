// SPDX-License-Identifier: GPL-2.0
/*
 * bench-meta-client: zbs-metad at scale, through its RPC interface only.
 *
 *   bench-meta-client --metad PATH --dir DIR [--pextents N] [--volumes N]
 *                     [--window N] [--lease-ms N]
 *
 * It starts zbs-metad itself (data in DIR/meta, log in DIR/metad.log) so it
 * can stop and start it for the cold start, and kills it when it exits.
 *
 *  1. Setup: 255 chunks registered, a session each (keepalives carry 64 PiB
 *     of space), kept alive from a thread on its own connection every
 *     lease/4 for the whole run; a probe thread on a third connection asks
 *     ListChunks(cid 1) every millisecond while a stall is being measured
 *     and keeps the longest wait for a reply.
 *  2. Populate: N pextents (3 replicas) as --volumes thick volumes (thick
 *     create allocates every pextent). Resident bytes per pextent: the
 *     growth of metad's anonymous RSS over the populate / N (its tables,
 *     vtables and heap); LMDB's file pages mapped meanwhile are page cache
 *     and printed apart.
 *  3. Lease grants: a thin volume of K = N/10 (at most 10^5) extents,
 *     GetVExtentLease(write) on each (the first write allocates, persisted
 *     before the reply), then max(K, 10^5) repeat grants on the same ones
 *     (the session owns them already), --window requests in flight.
 *  4. Cold start: SIGTERM, wait for the exit, start on the same data dir,
 *     time until a ListChunks is answered; the sessions are then created
 *     again.
 *  5. Full data report: the (pid, epoch) of every replica of one chunk, read
 *     through VolumeShow, sent in one keepalive of its session. Then another
 *     chunk reports min(N, 60000) pids at epoch 0, all garbage: a GC delete
 *     is queued for each and sent in the reply.
 *  6. Session expiry: another chunk's session takes the write leases of
 *     N/10 pextents, its keepalives stop, the probe runs until metad has
 *     expired it (every owned pid released and persisted).
 *  7. A thick volume of N/10 extents (at most 2^22, 1 PiB) is created, then
 *     deleted.
 *
 * The stalls of 5-7 are the probe's longest wait. Prints a table, each
 * figure beside the goal of issue 12, then the lines scripts read.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "meta.pb-c.h"
#include "rpc.h"
#include "util.h"

#define E		(256ULL << 20)
#define NCHUNKS		255
#define CHUNK_SPACE	(64ULL << 50)	/* 64 PiB each: 255 of them fit in a u64 */
#define CAPS		(ZBS__CAPABILITY__CAP_DATA_REPORT | ZBS__CAPABILITY__CAP_REVOKE | \
			 ZBS__CAPABILITY__CAP_GC)
#define RPC_TIMEOUT_MS	(30 * 60 * 1000)
#define VICTIM		NCHUNKS		/* the chunk whose session expires */
#define REPORTER	2		/* the chunk that sends a full data report */
#define GRANTER		1		/* the session of the lease grant figures */

static struct {
	const char *metad, *dir;
	uint64_t pextents;
	uint32_t volumes, window, lease_ms;
} opt = { .pextents = 10000000, .volumes = 10000, .window = 64, .lease_ms = 10000 };

static pid_t metad_pid;
static struct zbs_rpc_client c;		/* main thread */
static struct zbs_rpc_client kc;	/* keepalive thread */
static struct zbs_rpc_client pc;	/* probe thread */
static char addr[64];

static struct chunk {
	uint32_t cid;
	char uuid[40];
	uint64_t sid;
	bool keep;			/* keepalives sent */
	uint64_t last_ka_ns;		/* last keepalive answered */
} chunks[NCHUNKS + 1];

static void vnote(const char *fmt, va_list ap)
{
	fprintf(stderr, "bench-meta: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void __attribute__((format(printf, 1, 2), noreturn)) fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(fmt, ap);
	va_end(ap);
	exit(1);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(fmt, ap);
	va_end(ap);
}

static double secs_since(uint64_t t0)
{
	return (zbs_now_ns() - t0) / 1e9;
}

/* ---- RPC helpers ---------------------------------------------------------- */

static void send_req(struct zbs_rpc_client *cl, uint16_t method, const ProtobufCMessage *q)
{
	int rc = zbs_rpc_send(cl, method, q, NULL);

	if (rc)
		fail("%s: send: %s", zbs_meta_method_name(method), strerror(-rc));
}

/* receive one pipelined reply; a non-zero status is fatal, naming `what`
 * and the server's message. Returns the body (free it). */
static uint8_t *recv_ok(struct zbs_rpc_client *cl, const char *what, struct zbs_rpc_hdr *h)
{
	uint8_t *body;
	int rc = zbs_rpc_recv(cl, h, &body);

	if (rc)
		fail("%s: recv: %s", what, strerror(-rc));
	if (h->status) {
		Zbs__ErrorReply *er = zbs__error_reply__unpack(NULL, h->len, body);
		fail("%s: %s", what, er && er->message[0] ? er->message :
		     zbs_rpc_status_name(h->status));
	}
	return body;
}

/* one call; fatal on any error. *out (may be NULL) is freed by the caller */
static void call(struct zbs_rpc_client *cl, uint16_t method, const ProtobufCMessage *q,
		 const ProtobufCMessageDescriptor *d, void *out)
{
	struct zbs_rpc_error err;

	if (zbs_rpc_call(cl, method, q, d, (ProtobufCMessage **)out, &err))
		fail("%s: %s", zbs_meta_method_name(method), err.msg);
}

static void free_msg(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* progress of a long phase, on stderr every 10 s */
struct progress {
	const char *what, *unit;
	uint64_t total, scale;		/* scale: units per operation */
	uint64_t t0, last;
};

static void progress(struct progress *p, uint64_t done)
{
	uint64_t now = zbs_now_ns();

	if (!p || now - p->last < 10000000000ULL)
		return;
	p->last = now;
	note("%s: %.0f%% (%llu of %llu %s), %.0f s", p->what, 100.0 * done / p->total,
	     (unsigned long long)(done * p->scale), (unsigned long long)(p->total * p->scale),
	     p->unit, (now - p->t0) / 1e9);
}

/*
 * n requests, `window` in flight on cl: sendf(i) sends request i, replyf(i)
 * gets its reply body. lat (may be NULL): per-request latency in ns,
 * sorted on return. Returns requests per second.
 */
typedef void (*send_fn)(struct zbs_rpc_client *cl, uint64_t i, void *arg);
typedef void (*reply_fn)(uint64_t i, const uint8_t *body, size_t len, void *arg);

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pipeline(struct zbs_rpc_client *cl, const char *what, uint64_t n, uint32_t window,
		       send_fn sendf, reply_fn replyf, void *arg, uint64_t *lat,
		       struct progress *pr)
{
	uint64_t *sent = lat ? calloc(n ? n : 1, sizeof(*sent)) : NULL;
	uint64_t next = 0, done = 0, first_id = cl->next_id, t0 = zbs_now_ns();

	if (lat && !sent)
		fail("out of memory");
	if (pr)
		pr->t0 = pr->last = t0;
	while (done < n) {
		while (next < n && next - done < window) {
			if (sent)
				sent[next] = zbs_now_ns();
			sendf(cl, next++, arg);
		}
		struct zbs_rpc_hdr h;
		uint8_t *body = recv_ok(cl, what, &h);
		uint64_t i = h.msg_id - first_id;
		if (i != done)
			fail("%s: reply %llu came for request %llu", what,
			     (unsigned long long)done, (unsigned long long)i);
		if (replyf)
			replyf(i, body, h.len, arg);
		free(body);
		if (lat)
			lat[done] = zbs_now_ns() - sent[i];
		progress(pr, ++done);
	}
	double rate = n / ((zbs_now_ns() - t0) / 1e9);
	free(sent);
	if (lat)
		qsort(lat, n, sizeof(*lat), cmp_u64);
	return rate;
}

/* ---- metad: start, stop, memory ---------------------------------------------- */

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", opt.dir, name);
}

static void start_metad(void)
{
	char data[4096], port[4096], log[4096], pidf[4096], lease[32];
	FILE *f;

	path_in(data, sizeof(data), "meta");
	path_in(port, sizeof(port), "port");
	path_in(log, sizeof(log), "metad.log");
	path_in(pidf, sizeof(pidf), "metad.pid");
	snprintf(lease, sizeof(lease), "%u", opt.lease_ms);
	unlink(port);
	metad_pid = fork();
	if (metad_pid < 0)
		fail("fork: %s", strerror(errno));
	if (metad_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(opt.metad, opt.metad, "-d", data, "-l", "127.0.0.1:0", "--port-file", port,
		      "--session-lease-ms", lease, "-v", "warn", (char *)NULL);
		_exit(127);
	}
	f = fopen(pidf, "w");	/* for bench-meta.sh's cleanup if we are killed */
	if (f) {
		fprintf(f, "%d\n", (int)metad_pid);
		fclose(f);
	}
}

/* wait until metad answers a ListChunks on c (connecting it); fatal if it exits */
static void wait_answering(void)
{
	char port[4096], buf[16];
	struct zbs_rpc_error err;

	path_in(port, sizeof(port), "port");
	for (;;) {
		int st;
		FILE *f;
		if (waitpid(metad_pid, &st, WNOHANG) == metad_pid) {
			metad_pid = 0;
			fail("zbs-metad exited (status 0x%x) before answering: see %s/metad.log",
			     st, opt.dir);
		}
		f = fopen(port, "r");
		if (f && fgets(buf, sizeof(buf), f) && atoi(buf) > 0) {
			fclose(f);
			snprintf(addr, sizeof(addr), "127.0.0.1:%d", atoi(buf));
			if (zbs_rpc_connect(&c, addr, RPC_TIMEOUT_MS, &err) == 0) {
				Zbs__ListChunksRequest q = ZBS__LIST_CHUNKS_REQUEST__INIT;
				if (zbs_rpc_call(&c, ZBS_M_LIST_CHUNKS, &q.base,
						 &zbs__list_chunks_response__descriptor, NULL,
						 &err) == 0)
					return;
				zbs_rpc_close(&c);
			}
		} else if (f) {
			fclose(f);
		}
		usleep(1000);
	}
}

static void stop_metad(void)
{
	char pidf[4096];

	if (metad_pid <= 0)
		return;
	kill(metad_pid, SIGTERM);
	waitpid(metad_pid, NULL, 0);
	metad_pid = 0;
	path_in(pidf, sizeof(pidf), "metad.pid");
	unlink(pidf);
}

static void at_exit(void)
{
	if (metad_pid > 0) {
		kill(metad_pid, SIGKILL);
		waitpid(metad_pid, NULL, 0);
	}
}

/* RssAnon and RssFile of metad in bytes */
struct rss { long long anon, file; };

static struct rss rss_now(void)
{
	char path[64], line[256];
	struct rss r = { -1, -1 };
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)metad_pid);
	f = fopen(path, "r");
	if (!f)
		fail("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "RssAnon:", 8))
			r.anon = atoll(line + 8) * 1024;
		else if (!strncmp(line, "RssFile:", 8))
			r.file = atoll(line + 8) * 1024;
	}
	fclose(f);
	if (r.anon < 0 || r.file < 0)
		fail("%s has no RssAnon/RssFile", path);
	return r;
}

/* ---- chunks, sessions, keepalives ------------------------------------------ */

static void fill_space(Zbs__SpaceInfo *si)
{
	zbs__space_info__init(si);
	si->total = si->valid = CHUNK_SPACE;
}

static void send_register(struct zbs_rpc_client *cl, uint64_t i, void *arg)
{
	Zbs__RegisterChunkRequest q = ZBS__REGISTER_CHUNK_REQUEST__INIT;
	char d[32], r[32];

	snprintf(chunks[i + 1].uuid, sizeof(chunks[i + 1].uuid),
		 "%08x-0000-4000-8000-%012x", (unsigned)(i + 1), (unsigned)(i + 1));
	snprintf(d, sizeof(d), "127.0.0.%u:10201", (unsigned)(i + 1));
	snprintf(r, sizeof(r), "127.0.0.%u:10200", (unsigned)(i + 1));
	q.uuid = chunks[i + 1].uuid;
	q.data_addr = d;
	q.rpc_addr = r;
	send_req(cl, ZBS_M_REGISTER_CHUNK, &q.base);
}

static void got_register(uint64_t i, const uint8_t *body, size_t len, void *arg)
{
	Zbs__RegisterChunkResponse *r = zbs__register_chunk_response__unpack(NULL, len, body);

	if (!r || !r->chunk)
		fail("bad RegisterChunk reply");
	chunks[i + 1].cid = r->chunk->cid;
	zbs__register_chunk_response__free_unpacked(r, NULL);
}

static void send_session(struct zbs_rpc_client *cl, uint64_t i, void *arg)
{
	Zbs__CreateSessionRequest q = ZBS__CREATE_SESSION_REQUEST__INIT;

	q.cid = chunks[i + 1].cid;
	q.uuid = chunks[i + 1].uuid;
	q.capabilities = CAPS;
	send_req(cl, ZBS_M_CREATE_SESSION, &q.base);
}

static pthread_mutex_t ka_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ka_cond = PTHREAD_COND_INITIALIZER;
static bool ka_run, ka_busy;

static void got_session(uint64_t i, const uint8_t *body, size_t len, void *arg)
{
	Zbs__CreateSessionResponse *r = zbs__create_session_response__unpack(NULL, len, body);

	if (!r || !r->session_id)
		fail("bad CreateSession reply");
	pthread_mutex_lock(&ka_lock);
	chunks[i + 1].sid = r->session_id;
	chunks[i + 1].keep = true;
	pthread_mutex_unlock(&ka_lock);
	zbs__create_session_response__free_unpacked(r, NULL);
}

static void send_keepalive(struct zbs_rpc_client *cl, uint64_t sid)
{
	Zbs__KeepAliveRequest q = ZBS__KEEP_ALIVE_REQUEST__INIT;
	Zbs__SpaceInfo si;

	fill_space(&si);
	q.session_id = sid;
	q.space = &si;
	q.capabilities = CAPS;
	send_req(cl, ZBS_M_KEEPALIVE, &q.base);
}

static void send_ka_i(struct zbs_rpc_client *cl, uint64_t i, void *arg)
{
	send_keepalive(cl, chunks[i + 1].sid);
}

/* a session for every chunk, and its first keepalive with the space figures */
static void create_sessions(void)
{
	pipeline(&c, "CreateSession", NCHUNKS, opt.window, send_session, got_session, NULL, NULL,
		 NULL);
	pipeline(&c, "KeepAlive", NCHUNKS, opt.window, send_ka_i, NULL, NULL, NULL, NULL);
}

/* every lease/4: a keepalive for each kept session, pipelined */
static void *keepalive_thread(void *arg)
{
	uint64_t sids[NCHUNKS + 1];
	uint32_t cids[NCHUNKS + 1];

	for (;;) {
		uint32_t n = 0;
		struct timespec ts;

		pthread_mutex_lock(&ka_lock);
		while (!ka_run)
			pthread_cond_wait(&ka_cond, &ka_lock);
		ka_busy = true;
		for (uint32_t i = 1; i <= NCHUNKS; i++) {
			if (chunks[i].keep && chunks[i].sid) {
				sids[n] = chunks[i].sid;
				cids[n++] = i;
			}
		}
		pthread_mutex_unlock(&ka_lock);
		for (uint32_t i = 0; i < n; i++)
			send_keepalive(&kc, sids[i]);
		for (uint32_t i = 0; i < n; i++) {
			struct zbs_rpc_hdr h;
			char what[128];
			snprintf(what, sizeof(what), "keepalive of chunk %u (session lost: the "
				 "loop stalled past the lease?)", cids[i]);
			free(recv_ok(&kc, what, &h));
			chunks[cids[i]].last_ka_ns = zbs_now_ns();
		}
		pthread_mutex_lock(&ka_lock);
		ka_busy = false;
		pthread_cond_broadcast(&ka_cond);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(opt.lease_ms / 4 % 1000) * 1000000;
		ts.tv_sec += opt.lease_ms / 4 / 1000 + ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		if (ka_run)
			pthread_cond_timedwait(&ka_cond, &ka_lock, &ts);
		pthread_mutex_unlock(&ka_lock);
	}
	return NULL;
}

static void ka_set(bool run)
{
	pthread_mutex_lock(&ka_lock);
	ka_run = run;
	pthread_cond_broadcast(&ka_cond);
	while (!run && ka_busy)
		pthread_cond_wait(&ka_cond, &ka_lock);
	pthread_mutex_unlock(&ka_lock);
}

/* ---- the probe: the longest time metad takes to answer ---------------------- */

static atomic_bool probe_on, probe_busy;
static atomic_uint_fast64_t probe_max_ns, probe_n;

static void *probe_thread(void *arg)
{
	for (;;) {
		Zbs__ListChunksRequest q = ZBS__LIST_CHUNKS_REQUEST__INIT;
		struct zbs_rpc_error err;
		uint64_t t0, dt;

		if (!atomic_load(&probe_on)) {
			usleep(1000);
			continue;
		}
		atomic_store(&probe_busy, true);
		if (!atomic_load(&probe_on)) {	/* switched off meanwhile */
			atomic_store(&probe_busy, false);
			continue;
		}
		q.cid = 1;
		t0 = zbs_now_ns();
		if (zbs_rpc_call(&pc, ZBS_M_LIST_CHUNKS, &q.base,
				 &zbs__list_chunks_response__descriptor, NULL, &err))
			fail("probe: %s", err.msg);
		dt = zbs_now_ns() - t0;
		if (dt > atomic_load(&probe_max_ns))
			atomic_store(&probe_max_ns, dt);
		atomic_fetch_add(&probe_n, 1);
		atomic_store(&probe_busy, false);
		dt = zbs_now_ns() - t0;
		if (dt < 1000000)
			usleep((1000000 - dt) / 1000);
	}
	return NULL;
}

static void probe_begin(void)
{
	atomic_store(&probe_max_ns, 0);
	atomic_store(&probe_on, true);
	/* the probe is running when the measured operation starts */
	for (uint64_t n = atomic_load(&probe_n); atomic_load(&probe_n) < n + 2;)
		usleep(200);
}

/* the longest wait for a probe reply since probe_begin, in ms (the probe
 * answered twice after the operation ended, so a stall it waited in counts) */
static double probe_end(void)
{
	uint64_t n0 = atomic_load(&probe_n);

	while (atomic_load(&probe_n) < n0 + 2)
		usleep(200);
	atomic_store(&probe_on, false);
	while (atomic_load(&probe_busy))
		usleep(100);
	return atomic_load(&probe_max_ns) / 1e6;
}

static void connect_all(void)
{
	struct zbs_rpc_error err;

	if (zbs_rpc_connect(&kc, addr, RPC_TIMEOUT_MS, &err) ||
	    zbs_rpc_connect(&pc, addr, RPC_TIMEOUT_MS, &err))
		fail("connect %s: %s", addr, err.msg);
}

/* ---- volumes ------------------------------------------------------------------ */

static uint64_t vol_extents(uint32_t i)	/* pextents of populated volume i */
{
	return opt.pextents / opt.volumes + (i < opt.pextents % opt.volumes);
}

static void send_volume_create(struct zbs_rpc_client *cl, const char *name, uint64_t extents,
			       bool thin)
{
	Zbs__VolumeCreateRequest q = ZBS__VOLUME_CREATE_REQUEST__INIT;
	Zbs__Volume v = ZBS__VOLUME__INIT;

	v.name = (char *)name;
	v.size = extents * E;
	v.replica_num = 3;
	v.thin = thin;
	q.volume = &v;
	send_req(cl, ZBS_M_VOLUME_CREATE, &q.base);
}

static void send_populate(struct zbs_rpc_client *cl, uint64_t i, void *arg)
{
	char name[32];

	snprintf(name, sizeof(name), "p%llu", (unsigned long long)i);
	send_volume_create(cl, name, vol_extents(i), false);
}

static void got_populate(uint64_t i, const uint8_t *body, size_t len, void *arg)
{
	Zbs__VolumeResponse *r = zbs__volume_response__unpack(NULL, len, body);
	uint64_t *total = arg;

	if (!r || !r->volume || r->volume->allocated_pextents != vol_extents(i))
		fail("volume p%llu: not every pextent allocated", (unsigned long long)i);
	*total += r->volume->allocated_pextents;
	zbs__volume_response__free_unpacked(r, NULL);
}

static void volume_create(const char *name, uint64_t extents, bool thin)
{
	struct zbs_rpc_hdr h;

	send_volume_create(&c, name, extents, thin);
	free(recv_ok(&c, "VolumeCreate", &h));
}

static void volume_delete(const char *name)
{
	Zbs__VolumeRef q = ZBS__VOLUME_REF__INIT;

	q.volume = (char *)name;
	call(&c, ZBS_M_VOLUME_DELETE, &q.base, &zbs__empty__descriptor, NULL);
}

/* ---- lease grants ------------------------------------------------------------- */

struct grants {
	const char *vol;		/* one volume, vextent i % n ... */
	uint64_t n;
	bool populated;			/* ... or vextent i of the populated volumes */
	uint64_t sid;
};

static void send_grant(struct zbs_rpc_client *cl, uint64_t i, void *arg)
{
	struct grants *g = arg;
	Zbs__GetVExtentLeaseRequest q = ZBS__GET_VEXTENT_LEASE_REQUEST__INIT;
	char name[32];

	if (g->populated) {
		/* volumes hold vol_extents(v) extents: the first ones take one more */
		uint64_t base = opt.pextents / opt.volumes, extra = opt.pextents % opt.volumes;
		uint64_t v = i < extra * (base + 1) ? i / (base + 1) :
			     extra + (i - extra * (base + 1)) / base;
		uint64_t first = v < extra ? v * (base + 1) : extra * (base + 1) + (v - extra) * base;
		snprintf(name, sizeof(name), "p%llu", (unsigned long long)v);
		q.volume = name;
		q.vextent_no = i - first;
	} else {
		q.volume = (char *)g->vol;
		q.vextent_no = i % g->n;
	}
	q.mode = ZBS__LEASE_MODE__LEASE_WRITE;
	q.session_id = g->sid;
	send_req(cl, ZBS_M_GET_VEXTENT_LEASE, &q.base);
}

static void got_grant(uint64_t i, const uint8_t *body, size_t len, void *arg)
{
	struct grants *g = arg;
	Zbs__GetVExtentLeaseResponse *r = zbs__get_vextent_lease_response__unpack(NULL, len, body);

	if (!r || !r->lease || !r->lease->pid || r->lease->n_chunks != 3 ||
	    r->lease->owner_session != g->sid)
		fail("bad lease reply for grant %llu", (unsigned long long)i);
	zbs__get_vextent_lease_response__free_unpacked(r, NULL);
}

/* ---- data reports ------------------------------------------------------------- */

struct replicas {
	uint32_t cid;
	Zbs__ReplicaReport *r;
	size_t n, cap;
	uint64_t seen;			/* pextents seen in all */
};

static void send_show(struct zbs_rpc_client *cl, uint64_t i, void *arg)
{
	Zbs__VolumeShowRequest q = ZBS__VOLUME_SHOW_REQUEST__INIT;
	char name[32];

	snprintf(name, sizeof(name), "p%llu", (unsigned long long)i);
	q.volume = name;
	q.pextents = 1;
	send_req(cl, ZBS_M_VOLUME_SHOW, &q.base);
}

static void got_show(uint64_t i, const uint8_t *body, size_t len, void *arg)
{
	struct replicas *rs = arg;
	Zbs__VolumeShowResponse *r = zbs__volume_show_response__unpack(NULL, len, body);

	if (!r)
		fail("bad VolumeShow reply");
	for (size_t k = 0; k < r->n_pextents; k++) {
		const Zbs__PExtent *p = r->pextents[k];
		for (int s = 0; s < 4; s++) {
			if (((p->location >> (8 * s)) & 0xff) != rs->cid)
				continue;
			if (rs->n == rs->cap) {
				rs->cap = rs->cap ? 2 * rs->cap : 65536;
				rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
				if (!rs->r)
					fail("out of memory");
			}
			zbs__replica_report__init(&rs->r[rs->n]);
			rs->r[rs->n].pid = p->pid;
			rs->r[rs->n].epoch = p->epoch;
			rs->r[rs->n].gen = p->meta_gen;
			rs->n++;
		}
	}
	rs->seen += r->n_pextents;
	zbs__volume_show_response__free_unpacked(r, NULL);
}

/* one keepalive of the session of cid carrying reps; returns its ms and
 * counts the GC deletes in the reply */
static double report(uint32_t cid, Zbs__ReplicaReport *reps, size_t n, size_t *gc)
{
	Zbs__KeepAliveRequest q = ZBS__KEEP_ALIVE_REQUEST__INIT;
	Zbs__KeepAliveResponse *r;
	Zbs__ReplicaReport **pp = calloc(n ? n : 1, sizeof(*pp));
	Zbs__SpaceInfo si;
	uint64_t t0;

	if (!pp)
		fail("out of memory");
	for (size_t i = 0; i < n; i++)
		pp[i] = &reps[i];
	fill_space(&si);
	q.session_id = chunks[cid].sid;
	q.space = &si;
	q.capabilities = CAPS;
	q.has_data_report = 1;
	q.n_replicas = n;
	q.replicas = pp;
	t0 = zbs_now_ns();
	call(&c, ZBS_M_KEEPALIVE, &q.base, &zbs__keep_alive_response__descriptor, &r);
	double ms = (zbs_now_ns() - t0) / 1e6;
	*gc = 0;
	for (size_t i = 0; i < r->n_commands; i++)
		*gc += r->commands[i]->type == ZBS__COMMAND_TYPE__CMD_GC_DELETE;
	free_msg(r);
	free(pp);
	return ms;
}

/* ---- the table ------------------------------------------------------------------ */

struct row {
	char what[80], value[48], goal[24];
	int met;			/* 1 yes, 0 no, -1 no goal */
};
static struct row rows[32];
static int nrows;

static void __attribute__((format(printf, 4, 5)))
row(int met, const char *goal, const char *value, const char *fmt, ...)
{
	struct row *r = &rows[nrows++];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->what, sizeof(r->what), fmt, ap);
	va_end(ap);
	snprintf(r->value, sizeof(r->value), "%s", value);
	snprintf(r->goal, sizeof(r->goal), "%s", goal);
	r->met = met;
}

static const char *fmtv(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *fmtv(const char *fmt, ...)
{
	static char buf[16][48];
	static int k;
	char *b = buf[k++ % 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, 48, fmt, ap);
	va_end(ap);
	return b;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-meta-client --metad PATH --dir DIR [--pextents N] "
		"[--volumes N] [--window N] [--lease-ms N]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "metad", required_argument, NULL, 'm' },
		{ "dir", required_argument, NULL, 'd' },
		{ "pextents", required_argument, NULL, 'n' },
		{ "volumes", required_argument, NULL, 'v' },
		{ "window", required_argument, NULL, 'w' },
		{ "lease-ms", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	pthread_t kt, pt;
	uint64_t v;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'm': opt.metad = optarg; break;
		case 'd': opt.dir = optarg; break;
		case 'n': case 'v': case 'w': case 'l':
			if (zbs_parse_u64(optarg, 1, ch == 'n' ? 100000000 : 1000000, &v))
				fail("--%s %s: out of range", ch == 'n' ? "pextents" : ch == 'v' ?
				     "volumes" : ch == 'w' ? "window" : "lease-ms", optarg);
			if (ch == 'n')
				opt.pextents = v;
			else if (ch == 'v')
				opt.volumes = v;
			else if (ch == 'w')
				opt.window = v;
			else
				opt.lease_ms = v;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!opt.metad || !opt.dir || optind < argc) {
		usage(stderr);
		return 2;
	}
	if (opt.volumes > opt.pextents)
		opt.volumes = opt.pextents;
	/* the thick volumes must fit the 1 PiB limit (2^22 extents) */
	if (opt.pextents / opt.volumes >= (1U << 22) || opt.pextents < 100)
		fail("%llu pextents over %u volumes: want 100 or more, under 2^22 a volume",
		     (unsigned long long)opt.pextents, opt.volumes);
	const uint64_t S = opt.pextents;
	const uint64_t K = S / 10 < 100000 ? S / 10 : 100000;	/* lease grant volume */
	const uint64_t R = K > 100000 ? K : 100000;		/* repeat grants */
	const uint64_t M = S / 10;				/* victim's owned pids */
	const uint64_t D = S / 10 < (1U << 22) ? S / 10 : (1U << 22);	/* delete volume */
	uint64_t t_run = zbs_now_ns(), *lat;

	atexit(at_exit);
	signal(SIGPIPE, SIG_IGN);
	printf("bench-meta: %llu pextents (3 replicas) over %u thick volumes and %d chunks; "
	       "session lease %u ms, window %u\n", (unsigned long long)S, opt.volumes, NCHUNKS,
	       opt.lease_ms, opt.window);
	fflush(stdout);

	/* 1. setup */
	start_metad();
	wait_answering();
	struct rss rss_empty = rss_now();
	connect_all();
	pipeline(&c, "RegisterChunk", NCHUNKS, opt.window, send_register, got_register, NULL,
		 NULL, NULL);
	create_sessions();
	pthread_create(&kt, NULL, keepalive_thread, NULL);
	pthread_create(&pt, NULL, probe_thread, NULL);
	ka_set(true);

	/* 2. populate */
	struct rss rss0 = rss_now();
	struct progress pr = { .what = "populate", .unit = "pextents", .total = opt.volumes,
			       .scale = S / opt.volumes };
	uint64_t total = 0, t0 = zbs_now_ns();
	double vol_rate = pipeline(&c, "VolumeCreate (thick)", opt.volumes, opt.window,
				   send_populate, got_populate, &total, NULL, &pr);
	double populate_s = secs_since(t0);
	if (total != S)
		fail("populated %llu pextents, wanted %llu", (unsigned long long)total,
		     (unsigned long long)S);
	struct rss rss1 = rss_now();
	note("populate: %llu pextents in %u volumes, %.0f s (%.0f volumes/s)",
	     (unsigned long long)S, opt.volumes, populate_s, vol_rate);
	double bpp = (double)(rss1.anon - rss0.anon) / S;
	double fpp = (double)(rss1.file - rss0.file) / S;

	/* 3. lease grants */
	lat = calloc(R, sizeof(*lat));
	if (!lat)
		fail("out of memory");
	volume_create("grants", K, true);
	struct grants g = { "grants", K, false, chunks[GRANTER].sid };
	double first_rate = pipeline(&c, "GetVExtentLease (first write)", K, opt.window,
				     send_grant, got_grant, &g, lat, NULL);
	double first_p50 = lat[K / 2] / 1e3, first_p99 = lat[K * 99 / 100] / 1e3;
	double repeat_rate = pipeline(&c, "GetVExtentLease (repeat)", R, opt.window, send_grant,
				      got_grant, &g, lat, NULL);
	double rep_p50 = lat[R / 2] / 1e3, rep_p99 = lat[R * 99 / 100] / 1e3;
	volume_delete("grants");	/* the table holds the S pextents again */
	note("lease grants: %.0f/s first write, %.0f/s repeat", first_rate, repeat_rate);

	/* 4. cold start */
	ka_set(false);
	zbs_rpc_close(&c);
	zbs_rpc_close(&kc);
	zbs_rpc_close(&pc);
	t0 = zbs_now_ns();
	stop_metad();
	double stop_s = secs_since(t0);
	t0 = zbs_now_ns();
	start_metad();
	wait_answering();
	double cold_s = secs_since(t0);
	struct rss rss2 = rss_now();
	note("cold start: stopped in %.2f s, answered %.2f s after it was started", stop_s,
	     cold_s);
	connect_all();
	create_sessions();
	ka_set(true);

	/* 5. a full data report of one chunk */
	struct replicas rs = { .cid = chunks[REPORTER].cid };
	struct progress prs = { .what = "reading pextents (VolumeShow)", .unit = "volumes",
				.total = opt.volumes, .scale = 1 };
	pipeline(&c, "VolumeShow", opt.volumes, opt.window, send_show, got_show, &rs, NULL, &prs);
	if (rs.seen != S)
		fail("VolumeShow listed %llu pextents, wanted %llu", (unsigned long long)rs.seen,
		     (unsigned long long)S);
	size_t gc;
	probe_begin();
	double report_ms = report(REPORTER, rs.r, rs.n, &gc);
	double report_stall = probe_end();
	if (gc)
		fail("the full data report of chunk %u drew %zu GC deletes", REPORTER, gc);
	note("full data report: %zu replicas of chunk %u, %.1f ms", rs.n, REPORTER, report_ms);

	/* the report of garbage of f535f84: min(S, 60000) pids at epoch 0 */
	size_t ngc = S < 60000 ? S : 60000;
	Zbs__ReplicaReport *garbage = calloc(ngc, sizeof(*garbage));
	if (!garbage)
		fail("out of memory");
	for (size_t i = 0; i < ngc; i++) {
		zbs__replica_report__init(&garbage[i]);
		garbage[i].pid = i + 1;
	}
	probe_begin();
	double gc_ms = report(REPORTER + 1, garbage, ngc, &gc);
	double gc_stall = probe_end();
	if (gc != ngc)
		fail("a report of %zu garbage pids drew %zu GC deletes", ngc, gc);
	free(garbage);
	free(rs.r);

	/* 6. session expiry of a chunk owning M pids */
	struct grants gv = { NULL, 0, true, chunks[VICTIM].sid };
	struct progress prv = { .what = "a session takes leases", .unit = "leases", .total = M,
				.scale = 1 };
	double owner_rate = pipeline(&c, "GetVExtentLease (first grant, thick)", M, opt.window,
				     send_grant, got_grant, &gv, NULL, &prv);
	Zbs__ListSessionsResponse *ls;
	Zbs__Empty eq = ZBS__EMPTY__INIT;
	uint64_t owned = 0;
	call(&c, ZBS_M_LIST_SESSIONS, &eq.base, &zbs__list_sessions_response__descriptor, &ls);
	for (size_t i = 0; i < ls->n_sessions; i++)
		if (ls->sessions[i]->session_id == chunks[VICTIM].sid)
			owned = ls->sessions[i]->leases;
	free_msg(ls);
	if (owned != M)
		fail("the session of chunk %u owns %llu pids, wanted %llu", VICTIM,
		     (unsigned long long)owned, (unsigned long long)M);
	pthread_mutex_lock(&ka_lock);
	chunks[VICTIM].keep = false;
	pthread_mutex_unlock(&ka_lock);
	probe_begin();
	for (;;) {
		Zbs__ListChunksRequest q = ZBS__LIST_CHUNKS_REQUEST__INIT;
		Zbs__ListChunksResponse *lr;
		bool expired;
		q.cid = chunks[VICTIM].cid;
		call(&c, ZBS_M_LIST_CHUNKS, &q.base, &zbs__list_chunks_response__descriptor, &lr);
		expired = lr->n_chunks == 1 &&
			  lr->chunks[0]->status == ZBS__CHUNK_STATUS__CHUNK_STATUS_SESSION_EXPIRED;
		free_msg(lr);
		if (expired)
			break;
		if (secs_since(chunks[VICTIM].last_ka_ns) > 10.0 * opt.lease_ms / 1000 + 60)
			fail("the session of chunk %u did not expire", VICTIM);
		usleep(20000);
	}
	double expired_after = secs_since(chunks[VICTIM].last_ka_ns);
	double expiry_stall = probe_end();
	note("session expiry: %llu leases released, seen %.1f s after the last keepalive",
	     (unsigned long long)M, expired_after);

	/* 7. a thick volume of D extents: create, then delete */
	probe_begin();
	t0 = zbs_now_ns();
	volume_create("bigdel", D, false);
	double create_s = secs_since(t0);
	double create_stall = probe_end();
	probe_begin();
	t0 = zbs_now_ns();
	volume_delete("bigdel");
	double delete_s = secs_since(t0);
	double delete_stall = probe_end();
	note("volume of %llu thick extents: created in %.2f s, deleted in %.2f s",
	     (unsigned long long)D, create_s, delete_s);

	ka_set(false);
	zbs_rpc_close(&c);
	zbs_rpc_close(&kc);
	stop_metad();

	/* the table */
	char pq[48];
	double max_stall = expiry_stall;
	if (delete_stall > max_stall)
		max_stall = delete_stall;
	if (report_stall > max_stall)
		max_stall = report_stall;
	row(bpp <= 128, "<= 128", fmtv("%.0f", bpp),
	    "resident bytes/pextent (metad RssAnon growth / %llu)", (unsigned long long)S);
	row(-1, "", fmtv("%.0f", fpp), "  + LMDB file pages mapped meanwhile (RssFile)");
	row((rss2.anon - rss_empty.anon) / (double)S <= 128, "<= 128",
	    fmtv("%.0f", (rss2.anon - rss_empty.anon) / (double)S),
	    "  after the cold start (RssAnon over an empty metad)");
	row(-1, "", fmtv("%.0f", (rss2.file - rss_empty.file) / (double)S),
	    "  + LMDB file pages read by the load (RssFile)");
	row(cold_s <= 10, "<= 10 s", fmtv("%.2f s", cold_s),
	    "cold start: started until an RPC is answered");
	row(-1, "", fmtv("%.2f s", stop_s), "  stop: SIGTERM until it exited");
	row(-1, "", fmtv("%.0f", first_rate),
	    "first-write lease grants/s (allocating, %llu)", (unsigned long long)K);
	snprintf(pq, sizeof(pq), "%.0f/%.0f", first_p50, first_p99);
	row(-1, "", pq, "  latency p50/p99 us");
	row(repeat_rate >= 100000, ">= 100000", fmtv("%.0f", repeat_rate),
	    "repeat lease grants/s (owned already, %llu)", (unsigned long long)R);
	snprintf(pq, sizeof(pq), "%.0f/%.0f", rep_p50, rep_p99);
	row(-1, "", pq, "  latency p50/p99 us");
	row(-1, "", fmtv("%.0f", owner_rate), "first grants/s of allocated thick pextents (%llu)",
	    (unsigned long long)M);
	row(expiry_stall <= 50, "<= 50 ms", fmtv("%.1f ms", expiry_stall),
	    "loop stall: expiry of a session owning %llu pids", (unsigned long long)M);
	row(delete_stall <= 50, "<= 50 ms", fmtv("%.1f ms", delete_stall),
	    "loop stall: delete of a %llu-pextent volume", (unsigned long long)D);
	row(-1, "", fmtv("%.2f s", delete_s), "  VolumeDelete call");
	row(report_stall <= 50, "<= 50 ms", fmtv("%.1f ms", report_stall),
	    "loop stall: full data report (%zu replicas)", rs.n);
	row(-1, "", fmtv("%.1f ms", report_ms), "  KeepAlive call");
	row(-1, "", fmtv("%.1f ms", create_stall),
	    "loop stall: create of a %llu-pextent thick volume", (unsigned long long)D);
	row(-1, "", fmtv("%.1f ms", gc_stall), "loop stall: report of %zu garbage pids", ngc);
	row(-1, "", fmtv("%.1f ms", gc_ms), "  KeepAlive call (%zu GC deletes queued, sent)", ngc);
	row(-1, "", fmtv("%.0f s", populate_s), "populate: %u thick VolumeCreate calls",
	    opt.volumes);

	printf("\n%-56s %14s %10s  %s\n", "metric", "measured", "goal", "met");
	for (int i = 0; i < nrows; i++)
		printf("%-56s %14s %10s  %s\n", rows[i].what, rows[i].value, rows[i].goal,
		       rows[i].met < 0 ? "" : rows[i].met ? "yes" : "NO");
	printf("\nbytes/pextent counts metad's anonymous resident memory (its tables, vtables "
	       "and heap);\nLMDB's mapped file pages are page cache and are shown, not counted. "
	       "Stalls are the\nlongest wait of a ListChunks sent every ms while the operation "
	       "ran. Whole run %.0f s.\n\n", secs_since(t_run));
	printf("scale pextents: %llu\n", (unsigned long long)S);
	printf("bytes/pextent: %.0f\n", bpp);
	printf("cold start s: %.2f\n", cold_s);
	printf("repeat grants/s: %.0f\n", repeat_rate);
	printf("max loop stall ms: %.1f\n", max_stall);
	free(lat);
	return 0;
}
