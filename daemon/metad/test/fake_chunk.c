// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-fake-chunk: a chunk that has no store, for testing zbs-metad and the
 * chunk-side session (daemon/chunkd/chunk_session.c). Its replicas come from
 * a file ("pid epoch gen" per line, re-read at each report); GC deletes and
 * revokes are appended to an events file, and deleted replicas are no longer
 * reported. SIGTERM leaves the session; SIGKILL lets it expire.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "chunk_session.h"
#include "util.h"

static const char *replicas_path, *events_path;
static uint64_t space_total;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct { uint64_t pid, epoch; } deleted[4096];
static int ndeleted;

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
	va_list ap;
	FILE *f;

	if (!events_path)
		return;
	f = fopen(events_path, "a");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static int space(void *arg, struct chunk_session_space *out)
{
	out->total = out->valid = space_total;
	out->used = 0;
	out->thin_used = 0;
	return 0;
}

static int foreach_replica(void *arg, int (*emit)(const struct chunk_session_replica *, void *),
			   void *ctx)
{
	struct chunk_session_replica r;
	unsigned long long p, e, g;
	FILE *f;

	if (!replicas_path || !(f = fopen(replicas_path, "r")))
		return 0;
	while (fscanf(f, "%llu %llu %llu", &p, &e, &g) == 3) {
		bool gone = false;
		pthread_mutex_lock(&lock);
		for (int i = 0; i < ndeleted; i++)
			gone |= deleted[i].pid == p && deleted[i].epoch == e;
		pthread_mutex_unlock(&lock);
		if (gone)
			continue;
		r.pid = p;
		r.epoch = e;
		r.gen = g;
		emit(&r, ctx);
	}
	fclose(f);
	return 0;
}

static int delete_replica(void *arg, uint64_t pid, uint64_t epoch)
{
	pthread_mutex_lock(&lock);
	if (ndeleted < (int)(sizeof(deleted) / sizeof(deleted[0]))) {
		deleted[ndeleted].pid = pid;
		deleted[ndeleted].epoch = epoch;
		ndeleted++;
	}
	pthread_mutex_unlock(&lock);
	event("gc %llu %llu", (unsigned long long)pid, (unsigned long long)epoch);
	return 0;
}

static _Atomic(struct chunk_session *) the_session;

/* no kernel to drain: acknowledged at once */
static void on_revoke(void *arg, int type, const char *vol, uint64_t pid, uint64_t id)
{
	event("revoke %d %s %llu", type, vol[0] ? vol : "-", (unsigned long long)pid);
	while (id && !atomic_load(&the_session))
		usleep(1000);	/* the first keepalive can beat start()'s return */
	chunk_session_revoke_done(atomic_load(&the_session), id, true);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "meta", required_argument, NULL, 'm' },
		{ "uuid", required_argument, NULL, 'u' },
		{ "data", required_argument, NULL, 'd' },
		{ "rpc", required_argument, NULL, 'r' },
		{ "space", required_argument, NULL, 's' },
		{ "replicas", required_argument, NULL, 'R' },
		{ "events", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct chunk_session_config cfg = { 0 };
	struct chunk_session_ops ops = { .space = space, .foreach_replica = foreach_replica,
					 .delete_replica = delete_replica, .revoke = on_revoke };
	struct chunk_session *s;
	sigset_t set;
	int c, sig;

	zbs_log_init("zbs-fake-chunk", ZBS_LOG_INFO);
	space_total = 100ULL << 30;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'm': cfg.meta_addr = optarg; break;
		case 'u': cfg.uuid = optarg; break;
		case 'd': cfg.data_addr = optarg; break;
		case 'r': cfg.rpc_addr = optarg; break;
		case 's':
			if (zbs_parse_size(optarg, &space_total)) {
				fprintf(stderr, "bad --space %s\n", optarg);
				return 2;
			}
			break;
		case 'R': replicas_path = optarg; break;
		case 'e': events_path = optarg; break;
		default:
			fprintf(stderr, "usage: zbs-fake-chunk --meta H:P --uuid U --data IP:P "
				"--rpc IP:P [--space SIZE] [--replicas FILE] [--events FILE]\n");
			return 2;
		}
	}
	if (!cfg.meta_addr || !cfg.uuid || !cfg.data_addr || !cfg.rpc_addr) {
		fprintf(stderr, "zbs-fake-chunk: --meta, --uuid, --data and --rpc are required\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* the session thread inherits it */
	s = chunk_session_start(&cfg, &ops);
	if (!s)
		return 1;
	atomic_store(&the_session, s);
	sigwait(&set, &sig);
	chunk_session_stop(s);
	return 0;
}
