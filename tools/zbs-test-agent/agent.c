// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-test-agent: a kernel agent for tests and debugging that needs no
 * zbs-metad. It registers with the zbs module (daemon/lib/kagent.h) and
 * plays meta's part itself with an in-memory location table:
 *
 *  - every (volume, vextent) maps to a fixed pid (pid_of() below), epoch 1;
 *  - a pid's location starts as all --replicas (cid = position + 1);
 *  - on a map request the agent runs generation sync (ARCHITECTURE.md 4a):
 *    SYNC with --lease-epoch to every replica in the location; replicas
 *    that fail SYNC or report a gen above the lowest (or below the gen
 *    known from a failure report) are removed from the location; the
 *    answer carries the lowest gen and the replicas left. If no replica
 *    answers the answer is -EAGAIN (the kernel asks again later) and the
 *    location is kept; if one refuses the lease_epoch as stale (a newer
 *    owner fenced us) the answer is -ESTALE;
 *  - REPLICA_FAILED removes that replica from the pid's location and is
 *    answered with REPORT_ACK (the kernel's writes wait for it); a report
 *    made under another lease_epoch is answered -ESTALE, as meta would.
 *    --ignore-reports leaves reports unanswered (logged as "unanswered"),
 *    for tests of the kernel's waiting and re-sending.
 *  - --recovering HOST:PORT (one of the replicas) is never in a location:
 *    it is added to every map as a recovery target (ZBS_RF_RECOVERING,
 *    not synced, writes only), until the kernel reports it failed for that
 *    pid (acknowledged at once, as the owner's agent does for its target).
 *
 * Requests that arrive together are synced together: SYNCs are pipelined
 * on one cached connection per chunk and the chunks work in parallel.
 * --events FILE gets one line per decision, for tests to check.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/signalfd.h>

#include "data_client.h"
#include "kagent.h"
#include "log.h"
#include "net.h"
#include "util.h"

#define MAX_CHUNKS	ZBS_MAX_REPLICAS
#define PID_BUCKETS	4096
#define SYNC_TIMEOUT_MS	3000
#define MAX_VOLUMES	64

struct chunk {
	uint32_t cid;			/* position + 1 */
	char host[256];
	uint16_t port;
	uint32_t addr4;			/* network order */
	bool local;
	bool recovering;		/* --recovering: a target in every map */
	struct zbs_dc *dc;		/* cached connection, NULL if none */
	unsigned nsub;			/* SYNCs submitted in this batch */
};

struct pextent {
	struct pextent *next;		/* hash chain */
	uint64_t pid;
	uint64_t meta_gen;		/* replicas below this are stale */
	bool ever_exist;
	unsigned nr;
	uint32_t loc[MAX_CHUNKS];	/* cids, location order */
	uint32_t target_failed;		/* bit per cid - 1: recovering target failed */
};

/* One map request being answered. */
struct job {
	struct zbs_kagent_map_req req;
	struct pextent *pe;
	unsigned nr;			/* replicas asked (the location then) */
	uint32_t cid[MAX_CHUNKS];
	struct zbs_dc_op op[MAX_CHUNKS];
	int status[MAX_CHUNKS];		/* wire status, or -errno; 1 pending */
};

static struct {
	struct chunk chunks[MAX_CHUNKS];
	unsigned nchunks;
	uint64_t lease_epoch;
	uint32_t expiry_ms;
	uint32_t session_ms;
	const char *pid_file;
	FILE *events;
	struct zbs_kagent *ka;
	struct pextent *pids[PID_BUCKETS];
	struct job *jobs;		/* queued by the callback */
	size_t njobs, cap;
	bool revoke;			/* one-shot --revoke instead of serving */
	bool ignore_reports;		/* --ignore-reports */
	int64_t revoke_dev;
	const char *revoke_volume;
	uint64_t revoke_pid;
	char volumes[MAX_VOLUMES][ZBS_VOLUME_ID_LEN];	/* pid_of() collision check */
	uint32_t vol_hash[MAX_VOLUMES];
	unsigned nvolumes;
} g;

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
	va_list ap;

	if (!g.events)
		return;
	va_start(ap, fmt);
	vfprintf(g.events, fmt, ap);
	va_end(ap);
	fputc('\n', g.events);
	fflush(g.events);
}

/* ---- pids and their locations ------------------------------------------- */

static uint32_t fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/*
 * pid of (volume, vextent): 31 bits of the volume id's hash, then vextent+1
 * in the low 32 bits. Stable across agents (a second agent with a higher
 * lease epoch takes over the same pids), never 0, distinct per vextent of a
 * volume; two volumes whose hashes collide are refused (0).
 */
static uint64_t pid_of(const char *volume, uint64_t vext)
{
	uint32_t h = fnv1a32(volume) & 0x7fffffffu;
	unsigned i;

	if (vext >= UINT32_MAX)
		return 0;
	for (i = 0; i < g.nvolumes; i++) {
		if (g.vol_hash[i] == h) {
			if (strcmp(g.volumes[i], volume)) {
				log_err("volumes %s and %s have the same pid prefix", g.volumes[i], volume);
				return 0;
			}
			break;
		}
	}
	if (i == g.nvolumes && g.nvolumes < MAX_VOLUMES) {
		g.vol_hash[g.nvolumes] = h;
		snprintf(g.volumes[g.nvolumes++], ZBS_VOLUME_ID_LEN, "%s", volume);
	}
	return ((uint64_t)h << 32) | (vext + 1);
}

static struct pextent *pextent_get(uint64_t pid, bool create)
{
	struct pextent **pp = &g.pids[pid % PID_BUCKETS], *pe;

	for (pe = *pp; pe; pe = pe->next)
		if (pe->pid == pid)
			return pe;
	if (!create)
		return NULL;
	pe = calloc(1, sizeof(*pe));
	if (!pe)
		return NULL;
	pe->pid = pid;
	for (unsigned i = 0; i < g.nchunks; i++)
		if (!g.chunks[i].recovering)
			pe->loc[pe->nr++] = g.chunks[i].cid;
	pe->next = *pp;
	*pp = pe;
	return pe;
}

static void location_remove(struct pextent *pe, uint32_t cid, const char *why)
{
	for (unsigned i = 0; i < pe->nr; i++) {
		if (pe->loc[i] != cid)
			continue;
		memmove(&pe->loc[i], &pe->loc[i + 1], (pe->nr - i - 1) * sizeof(pe->loc[0]));
		pe->nr--;
		log_info("pid %" PRIu64 ": cid %u removed from the location (%s), %u left",
			 pe->pid, cid, why, pe->nr);
		event("removed pid=%" PRIu64 " cid=%u reason=%s left=%u", pe->pid, cid, why, pe->nr);
		return;
	}
}

static struct chunk *chunk_of(uint32_t cid)
{
	return cid >= 1 && cid <= g.nchunks ? &g.chunks[cid - 1] : NULL;
}

static void chunk_drop_conn(struct chunk *c)
{
	if (c->dc)
		zbs_dc_close(c->dc);
	c->dc = NULL;
}

/* ---- answering map requests ---------------------------------------------- */

static void on_map_request(void *arg, const struct zbs_kagent_map_req *req)
{
	struct job *j;

	if (g.njobs == g.cap) {
		size_t cap = g.cap ? g.cap * 2 : 64;
		struct job *n = realloc(g.jobs, cap * sizeof(*n));

		if (!n) {
			log_err("out of memory: map request dropped (the kernel asks again)");
			return;
		}
		g.jobs = n;
		g.cap = cap;
	}
	j = &g.jobs[g.njobs++];
	memset(j, 0, sizeof(*j));
	j->req = *req;
}

static void answer_error(const struct job *j, int err, const char *why)
{
	log_info("dev %u vextent %" PRIu64 ": answering %s (%s)", j->req.dev_id,
		 j->req.vextent, strerror(-err), why);
	event("map-error dev=%u vol=%s vext=%" PRIu64 " err=%d reason=%s", j->req.dev_id,
	      j->req.volume_id, j->req.vextent, err, why);
	zbs_kagent_map_reply(g.ka, &j->req, err, NULL);
}

/* All SYNC replies of a job are in: decide, update the location, answer. */
static void finish_job(struct job *j)
{
	struct pextent *pe = j->pe;
	struct zbs_kagent_map map = { 0 };
	uint64_t low = UINT64_MAX;
	unsigned answered = 0, stale = 0;
	char text[512], list[64] = "";

	for (unsigned i = 0; i < j->nr; i++) {
		if (j->status[i] == ZBS_ST_OK) {
			answered++;
			if (j->op[i].reply.gen >= pe->meta_gen && j->op[i].reply.gen < low)
				low = j->op[i].reply.gen;
		} else if (j->status[i] == ZBS_ST_STALE) {
			stale++;
		}
	}
	if (stale) {
		answer_error(j, -ESTALE, "fenced: a replica has a newer lease epoch");
		return;
	}
	if (!answered) {
		answer_error(j, -EAGAIN, "no replica answered SYNC");
		return;
	}
	for (unsigned i = 0; i < j->nr; i++) {
		uint32_t cid = j->cid[i];
		char why[96];

		if (j->status[i] != ZBS_ST_OK) {
			snprintf(why, sizeof(why), "sync-failed:%s",
				 j->status[i] < 0 ? strerror(-j->status[i])
						  : zbs_wire_status_str((uint32_t)j->status[i]));
			for (char *p = why; *p; p++)
				if (*p == ' ')
					*p = '_';
			location_remove(pe, cid, why);
		} else if (j->op[i].reply.gen < pe->meta_gen) {
			snprintf(why, sizeof(why), "stale-gen:%" PRIu64 "<%" PRIu64,
				 j->op[i].reply.gen, pe->meta_gen);
			location_remove(pe, cid, why);
		} else if (low == UINT64_MAX || j->op[i].reply.gen > low) {
			snprintf(why, sizeof(why), "gen-above-lowest:%" PRIu64 ">%" PRIu64,
				 j->op[i].reply.gen, low);
			location_remove(pe, cid, why);
		}
	}
	if (!pe->nr || low == UINT64_MAX) {
		answer_error(j, -EAGAIN, "no usable replica");
		return;
	}
	map.pid = pe->pid;
	map.epoch = 1;
	map.lease_epoch = g.lease_epoch;
	map.gen = low;
	map.ever_exist = low > 0 || pe->ever_exist;
	map.expiry_ms = g.expiry_ms;
	for (unsigned i = 0; i < pe->nr; i++) {
		struct chunk *c = chunk_of(pe->loc[i]);

		map.rep[map.nr++] = (struct zbs_kagent_replica){
			.cid = c->cid, .addr4 = c->addr4, .port = c->port,
			.flags = c->local ? ZBS_RF_LOCAL : 0,
		};
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%u", i ? "," : "",
			 c->cid);
	}
	for (unsigned i = 0; i < g.nchunks && map.nr < ZBS_MAX_REPLICAS; i++) {
		struct chunk *c = &g.chunks[i];

		if (!c->recovering || (pe->target_failed & (1U << i)))
			continue;
		map.rep[map.nr++] = (struct zbs_kagent_replica){
			.cid = c->cid, .addr4 = c->addr4, .port = c->port,
			.flags = ZBS_RF_RECOVERING,
		};
		snprintf(list + strlen(list), sizeof(list) - strlen(list), ",%ur", c->cid);
	}
	zbs_kagent_map_str(&map, text, sizeof(text));
	log_debug("dev %u vextent %" PRIu64 ": %s", j->req.dev_id, j->req.vextent, text);
	event("map dev=%u vol=%s vext=%" PRIu64 " pid=%" PRIu64 " lease_epoch=%" PRIu64
	      " gen=%" PRIu64 " replicas=%s%s", j->req.dev_id, j->req.volume_id, j->req.vextent,
	      map.pid, map.lease_epoch, map.gen, list, j->req.write ? " write" : "");
	zbs_kagent_map_reply(g.ka, &j->req, 0, &map);
}

/* Collect every reply submitted on chunk c; a transport error fails the rest. */
static void collect(struct chunk *c)
{
	int rc = 0;

	if (!c->nsub)
		return;
	if (c->dc)
		rc = zbs_dc_push(c->dc);
	while (c->nsub && !rc) {
		struct zbs_dc_op *op;

		rc = zbs_dc_complete(c->dc, &op);
		if (rc)
			break;
		*(int *)op->priv = (int)op->reply.status;
		c->nsub--;
	}
	if (rc) {
		log_warn("chunk %u (%s:%u): %s; connection dropped", c->cid, c->host, c->port,
			 strerror(-rc));
		chunk_drop_conn(c);
		/* the jobs still waiting on this chunk: failed */
		for (size_t k = 0; k < g.njobs; k++)
			for (unsigned i = 0; i < g.jobs[k].nr; i++)
				if (g.jobs[k].cid[i] == c->cid && g.jobs[k].status[i] == 1)
					g.jobs[k].status[i] = rc;
		c->nsub = 0;
	}
}

static void process_jobs(void)
{
	for (size_t k = 0; k < g.njobs; k++) {
		struct job *j = &g.jobs[k];
		uint64_t pid = pid_of(j->req.volume_id, j->req.vextent);

		j->pe = pid ? pextent_get(pid, true) : NULL;
		if (!j->pe) {
			j->nr = 0;
			continue;
		}
		j->nr = j->pe->nr;
		for (unsigned i = 0; i < j->nr; i++) {
			struct chunk *c = chunk_of(j->pe->loc[i]);
			struct zbs_dc_op *op = &j->op[i];
			int rc = 0;

			j->cid[i] = c->cid;
			j->status[i] = 1;
			if (!c->dc) {
				rc = zbs_dc_connect(c->host, c->port, &c->dc);
				if (!rc)
					zbs_dc_set_timeout(c->dc, SYNC_TIMEOUT_MS);
				else
					c->dc = NULL;
			}
			if (!rc) {
				memset(op, 0, sizeof(*op));
				op->req.opcode = ZBS_OP_SYNC;
				/* no durable ever_exist here: a test tool */
				op->req.flags = ZBS_SF_CREATE;
				op->req.pid = pid;
				op->req.epoch = 1;
				op->req.lease_epoch = g.lease_epoch;
				op->priv = &j->status[i];
				rc = zbs_dc_submit(c->dc, op);
			}
			if (rc) {
				j->status[i] = rc;
				log_warn("chunk %u (%s:%u): %s", c->cid, c->host, c->port, strerror(-rc));
				chunk_drop_conn(c);
			} else {
				c->nsub++;
			}
		}
	}
	for (unsigned i = 0; i < g.nchunks; i++)	/* all chunks work at once */
		if (g.chunks[i].nsub && g.chunks[i].dc)
			zbs_dc_push(g.chunks[i].dc);
	for (unsigned i = 0; i < g.nchunks; i++)
		collect(&g.chunks[i]);
	for (size_t k = 0; k < g.njobs; k++) {
		if (!g.jobs[k].pe)
			answer_error(&g.jobs[k], -EIO, "no pid for this volume and vextent");
		else
			finish_job(&g.jobs[k]);
	}
	g.njobs = 0;
}

/* ---- kernel reports ------------------------------------------------------- */

static void report_ack(const struct zbs_kagent_event *ev, int err)
{
	if (zbs_kagent_report_ack(g.ka, ev->dev_id, ev->vextent, ev->req_id, err) < 0)
		log_warn("REPORT_ACK of pid %" PRIu64 " not sent", ev->pid);
}

static void on_replica_failed(void *arg, const struct zbs_kagent_event *ev)
{
	struct pextent *pe = pextent_get(ev->pid, false);

	log_info("replica failed: pid %" PRIu64 " cid %u gen %" PRIu64 " (%s)", ev->pid, ev->cid,
		 ev->gen, strerror(-ev->err));
	event("failed pid=%" PRIu64 " cid=%u gen=%" PRIu64 " err=%d vol=%s vext=%" PRIu64,
	      ev->pid, ev->cid, ev->gen, ev->err, ev->volume_id, ev->vextent);
	if (g.ignore_reports) {
		event("unanswered pid=%" PRIu64 " cid=%u", ev->pid, ev->cid);
		return;
	}
	if (ev->lease_epoch != g.lease_epoch) {
		report_ack(ev, -ESTALE);
		return;
	}
	if (!pe) {
		log_warn("replica failure of unknown pid %" PRIu64 " ignored", ev->pid);
		report_ack(ev, -ESTALE);
		return;
	}
	if (chunk_of(ev->cid) && chunk_of(ev->cid)->recovering) {
		/* not in the location: nothing to remove, out of its maps */
		pe->target_failed |= 1U << (ev->cid - 1);
		event("target-failed pid=%" PRIu64 " cid=%u", ev->pid, ev->cid);
		report_ack(ev, 0);
		return;
	}
	if (ev->gen > pe->meta_gen)
		pe->meta_gen = ev->gen;
	location_remove(pe, ev->cid, "replica-failed");
	report_ack(ev, 0);
}

static void on_existence(void *arg, const struct zbs_kagent_event *ev)
{
	struct pextent *pe = pextent_get(ev->pid, false);

	event("exist pid=%" PRIu64 " gen=%" PRIu64 " vol=%s vext=%" PRIu64, ev->pid, ev->gen,
	      ev->volume_id, ev->vextent);
	if (g.ignore_reports)
		return;
	if (pe)
		pe->ever_exist = true;
	report_ack(ev, 0);
}

static void on_ack(void *arg, const struct zbs_kagent_ack *ack)
{
	if (!ack->err)
		return;
	log_warn("kernel rejected command %u (dev %u vextent %" PRIu64 "): %s%s%s", ack->cmd,
		 ack->dev_id, ack->vextent, strerror(-ack->err), ack->msg ? ": " : "",
		 ack->msg ? ack->msg : "");
	event("rejected cmd=%u dev=%u vext=%" PRIu64 " err=%d msg=%s", ack->cmd, ack->dev_id,
	      ack->vextent, ack->err, ack->msg ? ack->msg : "-");
}

static const struct zbs_kagent_ops agent_ops = {
	.map_request = on_map_request,
	.replica_failed = on_replica_failed,
	.existence = on_existence,
	.ack = on_ack,
};

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zbs-test-agent --replicas HOST:PORT[,HOST:PORT...] [options]\n"
		"\n"
		"A kernel agent without zbs-metad, for tests and debugging: answers the zbs\n"
		"module's map requests from an in-memory location table (every replica at\n"
		"first), after generation sync with the chunks.\n"
		"\n"
		"  -r, --replicas LIST      chunk data addresses, cid = position + 1 (1..%d)\n"
		"      --local HOST:PORT    that replica is on this host (read first)\n"
		"      --lease-epoch N      fencing token sent with SYNC and in maps (default 1)\n"
		"      --expiry-ms MS       how long a map is valid (default 60000)\n"
		"      --session-ms MS      register with a session lease of MS, renewed every\n"
		"                           MS/3 (default 0: no session lease)\n"
		"      --events FILE        append one line per decision (map, map-error,\n"
		"                           removed, failed, exist, rejected, unanswered)\n"
		"      --pid-file FILE      write the pid once registered\n"
		"      --ignore-reports     never answer the kernel's reports (its writes\n"
		"                           then wait; for tests)\n"
		"      --recovering HOST:PORT  that replica is a recovery target: in no\n"
		"                           location, added to every map as recovering\n"
		"                           (writes only, never counted) until reported failed\n"
		"  -v, --log-level LEVEL    err, warn, info (default) or debug\n"
		"  -h, --help               this help\n"
		"\n"
		"zbs-test-agent --revoke [--dev-id N] [--volume-id ID] [--pid PID]\n"
		"  asks the kernel to drop the matching maps (all without filters) and waits\n"
		"  until the IO issued under them drained; exit 0 when it did.\n",
		MAX_CHUNKS);
}

static int resolve4(const char *host, uint32_t *addr)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;

	if (getaddrinfo(host, NULL, &hints, &res))
		return -1;
	*addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr;
	freeaddrinfo(res);
	return 0;
}

static int parse_replicas(char *list)
{
	char *save = NULL;

	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct chunk *c;

		if (g.nchunks == MAX_CHUNKS) {
			fprintf(stderr, "zbs-test-agent: at most %d replicas\n", MAX_CHUNKS);
			return -1;
		}
		c = &g.chunks[g.nchunks];
		if (zbs_parse_hostport(tok, NULL, 0, ZBS_HP_ANY_HOST, c->host, sizeof(c->host),
				       &c->port) < 0 ||
		    !c->port) {
			fprintf(stderr, "zbs-test-agent: bad replica '%s' (HOST:PORT)\n", tok);
			return -1;
		}
		if (resolve4(c->host, &c->addr4) < 0) {
			fprintf(stderr, "zbs-test-agent: cannot resolve '%s' to IPv4\n", c->host);
			return -1;
		}
		for (unsigned i = 0; i < g.nchunks; i++) {
			if (g.chunks[i].addr4 == c->addr4 && g.chunks[i].port == c->port) {
				fprintf(stderr, "zbs-test-agent: replica '%s' given twice\n", tok);
				return -1;
			}
		}
		c->cid = ++g.nchunks;
	}
	return g.nchunks ? 0 : -1;
}

/* the replica named by HOST:PORT, or NULL (told as opt) */
static struct chunk *chunk_by_addr(const char *s, const char *opt)
{
	char host[256];
	uint16_t port;
	uint32_t addr;

	if (zbs_parse_hostport(s, NULL, 0, ZBS_HP_ANY_HOST, host, sizeof(host), &port) < 0 ||
	    resolve4(host, &addr) < 0) {
		fprintf(stderr, "zbs-test-agent: bad %s '%s'\n", opt, s);
		return NULL;
	}
	for (unsigned i = 0; i < g.nchunks; i++)
		if (g.chunks[i].addr4 == addr && g.chunks[i].port == port)
			return &g.chunks[i];
	fprintf(stderr, "zbs-test-agent: %s '%s' is not one of the replicas\n", opt, s);
	return NULL;
}

static int parse_local(const char *s)
{
	struct chunk *c = chunk_by_addr(s, "--local");

	if (!c)
		return -1;
	c->local = true;
	return 0;
}

enum { OPT_LOCAL = 256, OPT_LEASE_EPOCH, OPT_EXPIRY, OPT_SESSION, OPT_EVENTS, OPT_PIDFILE,
       OPT_REVOKE, OPT_DEV_ID, OPT_VOLUME_ID, OPT_PID, OPT_IGNORE_REPORTS, OPT_RECOVERING };

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "replicas", required_argument, NULL, 'r' },
		{ "local", required_argument, NULL, OPT_LOCAL },
		{ "lease-epoch", required_argument, NULL, OPT_LEASE_EPOCH },
		{ "expiry-ms", required_argument, NULL, OPT_EXPIRY },
		{ "session-ms", required_argument, NULL, OPT_SESSION },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "pid-file", required_argument, NULL, OPT_PIDFILE },
		{ "revoke", no_argument, NULL, OPT_REVOKE },
		{ "dev-id", required_argument, NULL, OPT_DEV_ID },
		{ "volume-id", required_argument, NULL, OPT_VOLUME_ID },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "ignore-reports", no_argument, NULL, OPT_IGNORE_REPORTS },
		{ "recovering", required_argument, NULL, OPT_RECOVERING },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *local = NULL, *events = NULL, *recovering = NULL;
	uint64_t v;
	int c, level;

	g.lease_epoch = 1;
	g.expiry_ms = 60000;
	g.revoke_dev = -1;
	while ((c = getopt_long(argc, argv, "r:v:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_replicas(optarg) < 0)
				return -1;
			break;
		case OPT_LOCAL:
			local = optarg;
			break;
		case OPT_LEASE_EPOCH:
			if (zbs_parse_u64(optarg, 1, UINT64_MAX, &g.lease_epoch) < 0) {
				fprintf(stderr, "zbs-test-agent: bad --lease-epoch '%s'\n", optarg);
				return -1;
			}
			break;
		case OPT_EXPIRY:
			if (zbs_parse_u64(optarg, 1, 24 * 3600 * 1000, &v) < 0) {
				fprintf(stderr, "zbs-test-agent: bad --expiry-ms '%s' (1..86400000)\n",
					optarg);
				return -1;
			}
			g.expiry_ms = (uint32_t)v;
			break;
		case OPT_SESSION:
			if (zbs_parse_u64(optarg, 0, 24 * 3600 * 1000, &v) < 0) {
				fprintf(stderr, "zbs-test-agent: bad --session-ms '%s' (0..86400000)\n",
					optarg);
				return -1;
			}
			g.session_ms = (uint32_t)v;
			break;
		case OPT_EVENTS:
			events = optarg;
			break;
		case OPT_PIDFILE:
			g.pid_file = optarg;
			break;
		case OPT_REVOKE:
			g.revoke = true;
			break;
		case OPT_DEV_ID:
			if (zbs_parse_u64(optarg, 0, ZBS_MAX_DEVS - 1, &v) < 0) {
				fprintf(stderr, "zbs-test-agent: bad --dev-id '%s'\n", optarg);
				return -1;
			}
			g.revoke_dev = (int64_t)v;
			break;
		case OPT_VOLUME_ID:
			if (!*optarg || strlen(optarg) >= ZBS_VOLUME_ID_LEN) {
				fprintf(stderr, "zbs-test-agent: bad --volume-id '%s'\n", optarg);
				return -1;
			}
			g.revoke_volume = optarg;
			break;
		case OPT_RECOVERING:
			recovering = optarg;
			break;
		case OPT_IGNORE_REPORTS:
			g.ignore_reports = true;
			break;
		case OPT_PID:
			if (zbs_parse_u64(optarg, 1, UINT64_MAX, &g.revoke_pid) < 0) {
				fprintf(stderr, "zbs-test-agent: bad --pid '%s'\n", optarg);
				return -1;
			}
			break;
		case 'v':
			level = zbs_log_parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "zbs-test-agent: bad --log-level '%s'\n", optarg);
				return -1;
			}
			zbs_log_set_level((enum zbs_log_level)level);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "zbs-test-agent: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (g.revoke)
		return 0;
	if (!g.nchunks) {
		fprintf(stderr, "zbs-test-agent: --replicas is required\n");
		usage(stderr);
		return -1;
	}
	if (recovering) {
		struct chunk *rc = chunk_by_addr(recovering, "--recovering");

		if (!rc)
			return -1;
		rc->recovering = true;
	}
	if (local && parse_local(local) < 0)
		return -1;
	if (events) {
		g.events = fopen(events, "a");
		if (!g.events) {
			fprintf(stderr, "zbs-test-agent: %s: %s\n", events, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int write_pid_file(const char *path)
{
	char text[24];

	snprintf(text, sizeof(text), "%d\n", (int)getpid());
	if (zbs_replace_file(path, text) < 0) {
		log_err("%s: %m", path);
		return -1;
	}
	return 0;
}

static void cleanup(void)
{
	for (unsigned i = 0; i < g.nchunks; i++)
		chunk_drop_conn(&g.chunks[i]);
	for (unsigned b = 0; b < PID_BUCKETS; b++) {
		while (g.pids[b]) {
			struct pextent *pe = g.pids[b];

			g.pids[b] = pe->next;
			free(pe);
		}
	}
	free(g.jobs);
	if (g.events)
		fclose(g.events);
	if (g.pid_file)
		unlink(g.pid_file);
}

int main(int argc, char **argv)
{
	uint64_t next_session = 0;
	sigset_t mask;
	int sfd, rc = 1;

	zbs_log_init("zbs-test-agent", ZBS_LOG_INFO);
	if (parse_args(argc, argv) < 0)
		return 2;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("signalfd: %m");
		cleanup();
		return 1;
	}
	if (zbs_kagent_open(&agent_ops, NULL, &g.ka) < 0)
		goto out;
	if (g.revoke) {
		rc = zbs_kagent_revoke(g.ka, g.revoke_dev, g.revoke_volume, g.revoke_pid);
		if (rc < 0)
			log_err("revoke: %s", strerror(-rc));
		else
			log_info("revoked: the matching maps are dropped and their IO drained");
		rc = rc < 0 ? 1 : 0;
		goto out;
	}
	rc = zbs_kagent_register(g.ka, g.session_ms);
	if (rc < 0) {
		log_err("cannot register as the kernel's agent: %s", strerror(-rc));
		rc = 1;
		goto out;
	}
	rc = 1;
	log_info("%u replicas, lease epoch %" PRIu64 ", map expiry %u ms, session %u ms",
		 g.nchunks, g.lease_epoch, g.expiry_ms, g.session_ms);
	if (g.session_ms)
		next_session = zbs_now_ns() + (uint64_t)g.session_ms * 1000000 / 3;
	if (g.pid_file && write_pid_file(g.pid_file) < 0)
		goto out;
	process_jobs();		/* requests that came during registration */

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = zbs_kagent_fd(g.ka), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		int timeout = -1;

		if (g.session_ms) {
			uint64_t now = zbs_now_ns();

			if (now >= next_session) {
				zbs_kagent_session(g.ka, g.session_ms);
				next_session = now + (uint64_t)g.session_ms * 1000000 / 3;
			}
			timeout = (int)((next_session - now) / 1000000) + 1;
		}
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			log_err("poll: %m");
			goto out;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("signal %u: exiting", si.ssi_signo);
			rc = 0;
			goto out;
		}
		if (pfd[0].revents) {
			if (zbs_kagent_dispatch(g.ka) < 0)
				goto out;
			process_jobs();
		}
	}
out:
	zbs_kagent_close(g.ka);	/* the kernel notices the agent is gone */
	close(sfd);
	cleanup();
	return rc;
}
