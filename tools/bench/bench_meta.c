// SPDX-License-Identifier: GPL-2.0
/*
 * bench-meta-client: GetVExtentLease throughput and latency against a running
 * zbs-metad, and its memory per pextent.
 *
 *   bench-meta-client HOST:PORT METAD_PID [N] [WINDOW] [NVOLS]
 *
 * Registers 3 chunks with sessions, creates a thin 3-replica volume of N
 * extents, then asks for write leases on every vextent, WINDOW requests in
 * flight on one connection: first the N first-write allocations (each one
 * persisted before its reply), then N repeat grants. Memory is the growth of
 * metad's anonymous RSS from before the volume existed to after the
 * allocations, divided by N (LMDB's file-backed mapped pages are page cache
 * and reported separately).
 *
 * Then, with NVOLS (default 10000, 0: skip) more one-extent thin volumes
 * present, N write leases on vextent 0 of those volumes in turn, after one
 * first-write allocation on each: the cost of finding a volume by name
 * among many.
 *
 * Last, one keepalive of another session whose data report names min(N,
 * 60000) pids at an epoch older than theirs: metad queues a GC delete for
 * each (checking every one against those queued before) and sends them all
 * in the reply. The time is that one call's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta.pb-c.h"
#include "rpc.h"
#include "util.h"

#define E (256ULL << 20)

static struct zbs_rpc_client c;

static void die(const char *what, struct zbs_rpc_error *e)
{
	fprintf(stderr, "bench-meta: %s: %s\n", what, e ? e->msg : "failed");
	exit(1);
}

/* receive one pipelined reply; a non-zero status is fatal, naming `what`
 * and the server's message. Returns the body (free it). */
static uint8_t *recv_ok(const char *what, struct zbs_rpc_hdr *h)
{
	uint8_t *body;

	if (zbs_rpc_recv(&c, h, &body))
		die("recv", NULL);
	if (h->status) {
		Zbs__ErrorReply *er = zbs__error_reply__unpack(NULL, h->len, body);
		fprintf(stderr, "bench-meta: %s: %s\n", what,
			er ? er->message : zbs_rpc_status_name(h->status));
		exit(1);
	}
	return body;
}

static long status_kb(int pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atol(line + strlen(key) + 1);
	fclose(f);
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * N GetVExtentLease(write) with `window` in flight; fills lat[] (ns).
 * nvols 0: vextent i of volume `vol`; else vextent 0 of volume
 * `vol`<i % nvols>.
 */
static double run(const char *vol, uint32_t nvols, uint64_t sid, uint32_t n, uint32_t window,
		  uint64_t *lat)
{
	uint64_t *sent = calloc(n, sizeof(uint64_t)), first_id = 0, t0 = zbs_now_ns();
	uint32_t next = 0, done = 0;

	while (done < n) {
		while (next < n && next - done < window) {
			Zbs__GetVExtentLeaseRequest q = ZBS__GET_VEXTENT_LEASE_REQUEST__INIT;
			uint64_t id;
			char name[64];
			if (nvols) {
				snprintf(name, sizeof(name), "%s%u", vol, next % nvols);
				q.volume = name;
				q.vextent_no = 0;
			} else {
				q.volume = (char *)vol;
				q.vextent_no = next;
			}
			q.mode = ZBS__LEASE_MODE__LEASE_WRITE;
			q.session_id = sid;
			sent[next] = zbs_now_ns();
			if (zbs_rpc_send(&c, ZBS_M_GET_VEXTENT_LEASE, &q.base, &id))
				die("send", NULL);
			if (next == 0)
				first_id = id;
			next++;
		}
		struct zbs_rpc_hdr h;
		uint8_t *body = recv_ok("lease error", &h);
		uint32_t i = h.msg_id - first_id;
		Zbs__GetVExtentLeaseResponse *r =
			zbs__get_vextent_lease_response__unpack(NULL, h.len, body);
		if (!r || !r->lease || !r->lease->pid || r->lease->n_chunks != 3)
			die("bad lease reply", NULL);
		zbs__get_vextent_lease_response__free_unpacked(r, NULL);
		free(body);
		lat[done++] = zbs_now_ns() - sent[i];
	}
	double secs = (zbs_now_ns() - t0) / 1e9;
	free(sent);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	return n / secs;
}

/* create `count` thin volumes `prefix`<i> of one extent, `window` in flight */
static void create_volumes(const char *prefix, uint32_t count, uint32_t window)
{
	uint32_t next = 0, done = 0;

	while (done < count) {
		while (next < count && next - done < window) {
			Zbs__VolumeCreateRequest vq = ZBS__VOLUME_CREATE_REQUEST__INIT;
			Zbs__Volume v = ZBS__VOLUME__INIT;
			char name[64];
			uint64_t id;
			snprintf(name, sizeof(name), "%s%u", prefix, next);
			v.name = name;
			v.size = E;
			v.replica_num = 3;
			v.thin = 1;
			vq.volume = &v;
			if (zbs_rpc_send(&c, ZBS_M_VOLUME_CREATE, &vq.base, &id))
				die("send", NULL);
			next++;
		}
		struct zbs_rpc_hdr h;
		free(recv_ok("volume create", &h));
		done++;
	}
}

/* one keepalive of session sid reporting pids 1..n at epoch 0 (older than
 * any pextent's): n GC deletes queued and sent back in its reply */
static void gc_report(uint64_t sid, uint32_t n)
{
	Zbs__KeepAliveRequest kq = ZBS__KEEP_ALIVE_REQUEST__INIT;
	Zbs__KeepAliveResponse *kr;
	Zbs__ReplicaReport *reps = calloc(n, sizeof(*reps));
	Zbs__ReplicaReport **repp = calloc(n, sizeof(*repp));
	struct zbs_rpc_error err;
	size_t gc = 0;

	if (!reps || !repp)
		die("out of memory", NULL);
	for (uint32_t i = 0; i < n; i++) {
		zbs__replica_report__init(&reps[i]);
		reps[i].pid = i + 1;
		reps[i].epoch = 0;
		repp[i] = &reps[i];
	}
	kq.session_id = sid;
	kq.has_data_report = 1;
	kq.n_replicas = n;
	kq.replicas = repp;
	uint64_t t0 = zbs_now_ns();
	if (zbs_rpc_call(&c, ZBS_M_KEEPALIVE, &kq.base, &zbs__keep_alive_response__descriptor,
			 (ProtobufCMessage **)&kr, &err))
		die("keepalive", &err);
	double ms = (zbs_now_ns() - t0) / 1e6;
	for (size_t i = 0; i < kr->n_commands; i++)
		gc += kr->commands[i]->type == ZBS__COMMAND_TYPE__CMD_GC_DELETE;
	if (gc != n)
		die("GC commands missing from the keepalive reply", NULL);
	printf("KeepAlive with a data report of %u garbage pids: %.1f ms "
	       "(%u GC deletes queued for one session and sent)\n", n, ms, n);
	zbs__keep_alive_response__free_unpacked(kr, NULL);
	free(repp);
	free(reps);
}

int main(int argc, char **argv)
{
	struct zbs_rpc_error err;
	uint32_t n = argc > 3 ? atoi(argv[3]) : 100000, window = argc > 4 ? atoi(argv[4]) : 64;
	uint32_t nvols = argc > 5 ? atoi(argv[5]) : 10000;
	int mpid;
	uint64_t sid = 0, sids[4] = { 0 }, *lat;

	if (argc < 3) {
		fprintf(stderr, "usage: bench-meta-client HOST:PORT METAD_PID "
			"[N] [WINDOW] [NVOLS]\n");
		return 2;
	}
	mpid = atoi(argv[2]);
	if (zbs_rpc_connect(&c, argv[1], 30000, &err))
		die("connect", &err);
	for (int i = 1; i <= 3; i++) {
		Zbs__RegisterChunkRequest rq = ZBS__REGISTER_CHUNK_REQUEST__INIT;
		Zbs__RegisterChunkResponse *rr;
		Zbs__CreateSessionRequest sq = ZBS__CREATE_SESSION_REQUEST__INIT;
		Zbs__CreateSessionResponse *sr;
		Zbs__KeepAliveRequest kq = ZBS__KEEP_ALIVE_REQUEST__INIT;
		Zbs__SpaceInfo si = ZBS__SPACE_INFO__INIT;
		char uuid[40], d[32], r[32];
		snprintf(uuid, sizeof(uuid), "0000000%d-0000-4000-8000-00000000000%d", i, i);
		snprintf(d, sizeof(d), "127.0.0.%d:10201", i);
		snprintf(r, sizeof(r), "127.0.0.%d:10200", i);
		rq.uuid = uuid;
		rq.data_addr = d;
		rq.rpc_addr = r;
		if (zbs_rpc_call(&c, ZBS_M_REGISTER_CHUNK, &rq.base,
				 &zbs__register_chunk_response__descriptor, (ProtobufCMessage **)&rr, &err))
			die("register", &err);
		sq.cid = rr->chunk->cid;
		sq.uuid = uuid;
		zbs__register_chunk_response__free_unpacked(rr, NULL);
		if (zbs_rpc_call(&c, ZBS_M_CREATE_SESSION, &sq.base,
				 &zbs__create_session_response__descriptor, (ProtobufCMessage **)&sr, &err))
			die("session", &err);
		if (!sid)
			sid = sr->session_id;
		sids[i] = sr->session_id;
		kq.session_id = sr->session_id;
		zbs__create_session_response__free_unpacked(sr, NULL);
		si.total = si.valid = 1ULL << 50;
		kq.space = &si;
		if (zbs_rpc_call(&c, ZBS_M_KEEPALIVE, &kq.base, &zbs__keep_alive_response__descriptor,
				 NULL, &err))
			die("keepalive", &err);
	}
	long anon0 = status_kb(mpid, "RssAnon:"), file0 = status_kb(mpid, "RssFile:");
	Zbs__VolumeCreateRequest vq = ZBS__VOLUME_CREATE_REQUEST__INIT;
	Zbs__Volume v = ZBS__VOLUME__INIT;
	v.name = "bench";
	v.size = (uint64_t)n * E;
	v.replica_num = 3;
	v.thin = 1;
	vq.volume = &v;
	if (zbs_rpc_call(&c, ZBS_M_VOLUME_CREATE, &vq.base, &zbs__volume_response__descriptor,
			 NULL, &err))
		die("volume create", &err);

	lat = calloc(n, sizeof(*lat));
	double alloc_rate = run("bench", 0, sid, n, window, lat);
	printf("GetVExtentLease first-write allocation: %.0f lease grants/s (%u pextents, 3 replicas, "
	       "window %u, p50 %.0f us, p99 %.0f us)\n", alloc_rate, n, window,
	       lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3);
	long anon1 = status_kb(mpid, "RssAnon:"), file1 = status_kb(mpid, "RssFile:");
	double repeat_rate = run("bench", 0, sid, n, window, lat);
	printf("GetVExtentLease repeat grant: %.0f lease grants/s (%u pextents, window %u, "
	       "p50 %.0f us, p99 %.0f us)\n", repeat_rate, n, window,
	       lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3);
	printf("metad memory: %.0f bytes/pextent (anonymous RSS +%ld KiB for %u pextents incl. "
	       "vtable; LMDB mapped file pages +%ld KiB not counted)\n",
	       (anon1 - anon0) * 1024.0 / n, anon1 - anon0, n, file1 - file0);
	if (nvols) {
		uint32_t k = nvols < n ? nvols : n;
		create_volumes("v", nvols, window);
		run("v", nvols, sid, k, window, lat);	/* first writes: allocate */
		double many_rate = run("v", nvols, sid, n, window, lat);
		printf("GetVExtentLease repeat grant among %u volumes: %.0f lease grants/s "
		       "(%u grants by volume name, window %u, p50 %.0f us, p99 %.0f us)\n",
		       nvols + 1, many_rate, n, window, lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3);
	}
	free(lat);
	gc_report(sids[2], n < 60000 ? n : 60000);
	zbs_rpc_close(&c);
	return 0;
}
