// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-agent-cli: drive the access agent's core (daemon/chunkd/chunk_agent.c) as
 * the kernel would, without netlink: keep a meta session as an access-only
 * chunk (no store), then run the commands given as arguments in order,
 * printing one line per result. For the native tests of the agent.
 *
 *   wait                       until the session exists (10 s)
 *   map VOL VEXT r|w           the synchronous core: a map or an errno
 *   amap VOL FIRST COUNT r|w   COUNT map requests at once through the worker
 *                              pool; one line per answer (sorted), then a
 *                              summary line and "amap took_ms MS"
 *   amap-retry VOL FIRST COUNT r|w   the same, but an EAGAIN answer is asked
 *                              again after 50 ms, as the kernel does with its
 *                              parked IO (bounded by 60 s); the summary line
 *                              counts the retries
 *   failed PID EPOCH CID GEN   kernel report: a replica failed (under the
 *                              lease this agent holds for PID)
 *   failed-le PID EPOCH CID GEN LEASE_EPOCH   the same under a given lease
 *   exist PID EPOCH            kernel report: first write succeeded
 *   leases                     cached leases (count)
 *   lease PID                  one cached lease
 *   revokes                    revokes relayed so far
 *   drains                     drains asked for so far
 *   target CID IP:PORT         a recovering target for the pid of the last
 *                              map (its epoch and lease_epoch)
 *   target-finish              that target finishes (its maps wait)
 *   target-del-after MS        that target ends MS ms from now (a thread)
 *   sleep MS | hold | crash    (crash: _exit without leaving the session)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "chunk_agent.h"
#include "log.h"
#include "chunk_session.h"
#include "util.h"

static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;
static int nrevokes;
static char last_revoke[128];

static int on_revoke(void *arg, int type, const char *vol, uint64_t pid)
{
	pthread_mutex_lock(&rlock);
	nrevokes++;
	snprintf(last_revoke, sizeof(last_revoke), "type=%d volume=%s pid=%llu", type, vol,
		 (unsigned long long)pid);
	pthread_mutex_unlock(&rlock);
	return 0;
}

static int ndrains;

static int on_drain(void *arg, uint64_t pid)
{
	pthread_mutex_lock(&rlock);
	ndrains++;
	pthread_mutex_unlock(&rlock);
	return 0;
}

static const char *errname(int e)
{
	switch (e) {
	case -ENODATA: return "ENODATA";
	case -EAGAIN: return "EAGAIN";
	case -ENOENT: return "ENOENT";
	case -EINVAL: return "EINVAL";
	case -ENOSPC: return "ENOSPC";
	case -EIO: return "EIO";
	case -ESTALE: return "ESTALE";
	case -EBUSY: return "EBUSY";
	default: return "E?";
	}
}

static void print_map(const char *prefix, int err, const struct chunk_agent_map *m)
{
	if (err) {
		printf("%serr=%d %s\n", prefix, err, errname(err));
		return;
	}
	printf("%spid=%llu epoch=%llu lease_epoch=%llu gen=%llu ever_exist=%d expiry_ms=%u "
	       "nr=%u replicas=", prefix, (unsigned long long)m->pid,
	       (unsigned long long)m->epoch, (unsigned long long)m->lease_epoch,
	       (unsigned long long)m->gen, m->ever_exist, m->expiry_ms, m->nr);
	for (unsigned i = 0; i < m->nr; i++) {
		char ip[INET_ADDRSTRLEN];
		struct in_addr a = { m->rep[i].addr4 };

		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		printf("%s%u@%s:%u%s", i ? "," : "", m->rep[i].cid, ip, m->rep[i].port,
		       m->rep[i].flags & CHUNK_AGENT_RF_LOCAL ? "L" : "");
	}
	printf("\n");
}

static int cmp_res(const void *x, const void *y)
{
	const struct chunk_agent_result *a = x, *b = y;

	return a->req.vextent < b->req.vextent ? -1 : a->req.vextent > b->req.vextent;
}

static int amap_submit(struct chunk_agent *a, const char *vol, uint64_t vext, uint64_t id, bool w)
{
	struct chunk_agent_req r = { .type = CHUNK_AREQ_MAP, .vextent = vext, .req_id = id, .write = w };

	snprintf(r.volume_id, sizeof(r.volume_id), "%s", vol);
	return chunk_agent_submit(a, &r);
}

/* COUNT requests through the pool, reaped through the eventfd as a netlink
 * loop would; bounded by 60 s. retry: EAGAIN answers are asked again. */
static int amap(struct chunk_agent *a, const char *vol, uint64_t first, uint64_t count, bool w,
		bool retry)
{
	struct chunk_agent_result *res = calloc(count ? count : 1, sizeof(*res));
	uint64_t got = 0, ok = 0, retries = 0, deadline = zbs_now_ns() + 60000000000ULL;

	if (!res)
		return -1;
	for (uint64_t i = 0; i < count; i++)
		if (amap_submit(a, vol, first + i, i + 1, w)) {
			free(res);
			return -1;
		}
	while (got < count && zbs_now_ns() < deadline) {
		struct pollfd p = { chunk_agent_fd(a), POLLIN, 0 };
		size_t n;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = chunk_agent_reap(a, res + got, count - got);
		for (size_t i = 0; i < n; i++) {
			struct chunk_agent_result *x = &res[got];

			if (retry && x->err == -EAGAIN) {
				usleep(50000);
				retries++;
				if (amap_submit(a, vol, x->req.vextent, x->req.req_id, w)) {
					free(res);
					return -1;
				}
				memmove(x, x + 1, (n - i - 1) * sizeof(*x));
				continue;
			}
			got++;
		}
	}
	qsort(res, got, sizeof(*res), cmp_res);
	for (uint64_t i = 0; i < got; i++) {
		char pfx[64];

		snprintf(pfx, sizeof(pfx), "amap vext=%llu req=%llu ",
			 (unsigned long long)res[i].req.vextent, (unsigned long long)res[i].req.req_id);
		print_map(pfx, res[i].err, &res[i].map);
		ok += !res[i].err;
	}
	printf("amap done %llu ok %llu retries %llu\n", (unsigned long long)got,
	       (unsigned long long)ok, (unsigned long long)retries);
	printf("amap took_ms %llu\n",
	       (unsigned long long)(zbs_now_ns() + 60000000000ULL - deadline) / 1000000);
	free(res);
	return got == count ? 0 : -1;
}

struct del_after {
	struct chunk_agent *a;
	uint64_t pid;
	unsigned ms;
};

static void *del_after(void *arg)
{
	struct del_after *d = arg;

	usleep(d->ms * 1000);
	chunk_agent_target_del(d->a, d->pid);
	return NULL;
}

static int need(int argc, int i, int n, const char *cmd)
{
	if (i + n >= argc) {
		fprintf(stderr, "zbs-agent-cli: %s needs %d argument(s)\n", cmd, n);
		exit(2);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "meta", required_argument, NULL, 'm' },
		{ "uuid", required_argument, NULL, 'u' },
		{ "data", required_argument, NULL, 'd' },
		{ "workers", required_argument, NULL, 'w' },
		{ "data-timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct chunk_session_config cfg = { 0 };
	struct chunk_agent_config acfg = { 0 };
	struct chunk_agent_ops aops = { .revoke = on_revoke, .drain = on_drain };
	struct chunk_session_ops ops = { 0 };
	struct chunk_session *ms;
	struct chunk_agent *a;
	const char *uuid = NULL, *data = "127.0.0.1:10201";
	char genuuid[40];
	int c, st = 0;

	zbs_log_init("zbs-agent-cli", getenv("ZBS_AGENT_DEBUG") ? ZBS_LOG_DEBUG : ZBS_LOG_WARN);
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'm': cfg.meta_addr = optarg; break;
		case 'u': uuid = optarg; break;
		case 'd': data = optarg; break;
		case 'w': acfg.workers = (unsigned)atoi(optarg); break;
		case 't': acfg.data_timeout_ms = (uint32_t)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: zbs-agent-cli --meta H:P [--uuid U] [--data IP:P] "
				"[--workers N] [--data-timeout-ms MS] COMMAND...\n");
			return 2;
		}
	}
	if (!cfg.meta_addr) {
		fprintf(stderr, "zbs-agent-cli: --meta is required\n");
		return 2;
	}
	if (!uuid) {
		uuid_t u;

		uuid_generate(u);
		uuid_unparse_lower(u, genuuid);
		uuid = genuuid;
	}
	acfg.meta_addr = cfg.meta_addr;
	a = chunk_agent_start(&acfg, &aops);
	if (!a)
		return 1;
	cfg.uuid = uuid;
	cfg.data_addr = data;
	cfg.rpc_addr = data;
	ops.revoke = chunk_agent_revoke_hook;
	ops.revoke_arg = a;
	ms = chunk_session_start(&cfg, &ops);
	if (!ms) {
		chunk_agent_stop(a);
		return 1;
	}
	chunk_agent_set_session(a, ms);
	struct chunk_agent_conn *conn = chunk_agent_conn_new(a);
	struct chunk_agent_map last = { 0 };
	struct del_after del = { .a = a };
	pthread_t del_thread;
	bool del_started = false;

	for (int i = optind; i < argc && !st; i++) {
		const char *cmd = argv[i];
		struct chunk_agent_map m;

		if (!strcmp(cmd, "wait")) {
			uint64_t end = zbs_now_ns() + 10000000000ULL;
			while (!chunk_session_id(ms) && zbs_now_ns() < end)
				usleep(20000);
			if (!chunk_session_id(ms)) {
				printf("session none\n");
				st = 1;
			} else {
				printf("session cid=%u sid=%llu\n", chunk_session_cid(ms),
				       (unsigned long long)chunk_session_id(ms));
			}
		} else if (!strcmp(cmd, "map")) {
			need(argc, i, 3, cmd);
			uint64_t t0 = zbs_now_ns();
			int err = chunk_agent_get_map(conn, argv[i + 1], strtoull(argv[i + 2], NULL, 0),
						      argv[i + 3][0] == 'w', &m);
			print_map("map ", err, &m);
			if (!err)
				last = m;
			printf("took_ms %llu\n", (unsigned long long)(zbs_now_ns() - t0) / 1000000);
			i += 3;
		} else if (!strcmp(cmd, "amap") || !strcmp(cmd, "amap-retry")) {
			need(argc, i, 4, cmd);
			if (amap(a, argv[i + 1], strtoull(argv[i + 2], NULL, 0),
				 strtoull(argv[i + 3], NULL, 0), argv[i + 4][0] == 'w',
				 !strcmp(cmd, "amap-retry")))
				st = 1;
			i += 4;
		} else if (!strcmp(cmd, "failed") || !strcmp(cmd, "failed-le")) {
			/* failed: under the lease this agent holds, as the kernel
			 * reports it; failed-le: under an explicit lease_epoch */
			bool le = !strcmp(cmd, "failed-le");
			uint64_t pid, lease_epoch = 0;
			struct chunk_agent_lease l;

			need(argc, i, le ? 5 : 4, cmd);
			pid = strtoull(argv[i + 1], NULL, 0);
			if (le)
				lease_epoch = strtoull(argv[i + 5], NULL, 0);
			else if (chunk_agent_lease_get(a, pid, &l) == 0)
				lease_epoch = l.lease_epoch;
			int err = chunk_agent_replica_failed(conn, pid, strtoull(argv[i + 2], NULL, 0),
							     lease_epoch,
							     (uint32_t)strtoul(argv[i + 3], NULL, 0),
							     strtoull(argv[i + 4], NULL, 0));
			printf("failed err=%d\n", err);
			i += le ? 5 : 4;
		} else if (!strcmp(cmd, "exist")) {
			need(argc, i, 2, cmd);
			int err = chunk_agent_existence(conn, strtoull(argv[i + 1], NULL, 0),
							strtoull(argv[i + 2], NULL, 0));
			printf("exist err=%d\n", err);
			i += 2;
		} else if (!strcmp(cmd, "leases")) {
			printf("leases %zu\n", chunk_agent_lease_count(a));
		} else if (!strcmp(cmd, "lease")) {
			struct chunk_agent_lease l;
			need(argc, i, 1, cmd);
			if (chunk_agent_lease_get(a, strtoull(argv[i + 1], NULL, 0), &l))
				printf("lease none\n");
			else
				printf("lease volume=%s vext=%llu pid=%llu lease_epoch=%llu gen=%llu\n",
				       l.volume_id, (unsigned long long)l.vextent,
				       (unsigned long long)l.pid, (unsigned long long)l.lease_epoch,
				       (unsigned long long)l.gen);
			i += 1;
		} else if (!strcmp(cmd, "revokes")) {
			pthread_mutex_lock(&rlock);
			printf("revokes %d %s\n", nrevokes, last_revoke);
			pthread_mutex_unlock(&rlock);
		} else if (!strcmp(cmd, "drains")) {
			pthread_mutex_lock(&rlock);
			printf("drains %d\n", ndrains);
			pthread_mutex_unlock(&rlock);
		} else if (!strcmp(cmd, "target")) {
			need(argc, i, 2, cmd);
			printf("target err=%d\n",
			       chunk_agent_target_add(a, last.pid, last.epoch, last.lease_epoch,
						      (uint32_t)strtoul(argv[i + 1], NULL, 0),
						      argv[i + 2]));
			i += 2;
		} else if (!strcmp(cmd, "target-finish")) {
			chunk_agent_target_finish(a, last.pid);
		} else if (!strcmp(cmd, "target-del-after")) {
			need(argc, i, 1, cmd);
			del.pid = last.pid;
			del.ms = (unsigned)strtoul(argv[i + 1], NULL, 0);
			if (del_started || pthread_create(&del_thread, NULL, del_after, &del)) {
				fprintf(stderr, "zbs-agent-cli: target-del-after: once only\n");
				st = 2;
			}
			del_started = true;
			i += 1;
		} else if (!strcmp(cmd, "sleep")) {
			need(argc, i, 1, cmd);
			usleep((useconds_t)strtoul(argv[i + 1], NULL, 0) * 1000);
			i += 1;
		} else if (!strcmp(cmd, "hold")) {
			fflush(stdout);
			for (;;)
				pause();
		} else if (!strcmp(cmd, "crash")) {
			fflush(stdout);
			_exit(0);
		} else {
			fprintf(stderr, "zbs-agent-cli: unknown command '%s'\n", cmd);
			st = 2;
		}
		fflush(stdout);
	}
	if (del_started)
		pthread_join(del_thread, NULL);
	chunk_agent_conn_free(conn);
	chunk_agent_shutdown(a);
	chunk_session_stop(ms);
	chunk_agent_stop(a);
	return st;
}
