// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-chunkd: the chunk server. Opens the extent store on --data-dir and
 * serves the data protocol on --listen. The session with zbs-metad and the
 * access agent (chunk_agent.c; the netlink side is separate) are modules started
 * from main() below. With --meta and no --data-dir it runs access only: a
 * session and the agent, no store, for nodes that only consume volumes.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "chunk_agent.h"
#include "chunk_iostat.h"
#include "chunk_kchannel.h"
#include "chunk_recover.h"
#include "log.h"
#include "chunk_session.h"
#include "net.h"
#include "chunk_server.h"
#include "util.h"
#include "chunk_store.h"

struct chunkd_opts {
	const char *data_dir;
	char listen_host[256];
	uint16_t listen_port;
	const char *uuid;		/* expected chunk identity, optional */
	const char *port_file;		/* write the bound data port here */
	int log_level;
	const char *meta;		/* --meta HOST:PORT of zbs-metad */
	const char *advertise;		/* IP registered with meta */
	unsigned agent_workers;
	bool no_kernel;			/* --no-kernel-agent */
	bool no_recover;		/* --no-recover */
	bool no_recover_pace;		/* --no-recover-pace */
	uint64_t capacity;		/* --capacity, 0: the filesystem's */
	unsigned max_conns;		/* --max-conns */
	uint64_t drop_pid;		/* --drop-replica: offline, then exit */
	uint64_t failslow_ms;		/* --failslow-ms, 0: never failslow */
	unsigned inject_delay_ms;	/* --inject-io-delay-ms (test fault) */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zbs-chunkd --data-dir DIR [options]\n"
		"       zbs-chunkd --meta HOST:PORT [--uuid UUID] [options]   (access only)\n"
		"\n"
		"  -d, --data-dir DIR       extent store directory (created and initialized if empty);\n"
		"                           without it (and with --meta) the chunk holds no replicas\n"
		"                           and only serves this node's volumes as their agent\n"
		"  -l, --listen HOST:PORT   data port (default 0.0.0.0:%u; port 0 = any free port)\n"
		"      --uuid UUID          refuse to start unless DIR belongs to chunk UUID;\n"
		"                           access only: the identity to register (default: one\n"
		"                           derived from /etc/machine-id and the port, the same\n"
		"                           at every start of this node's agent)\n"
		"      --port-file FILE     write the bound data port to FILE once listening\n"
		"      --max-conns N        data connections served at once (default %u; each\n"
		"                           node's kernel opens up to 8 per chunk)\n"
		"      --capacity SIZE      hold at most SIZE bytes of replicas (e.g. 100G; at least\n"
		"                           256M); default: the data dir's filesystem. Give each\n"
		"                           chunk its share when several share one filesystem\n"
		"      --meta HOST:PORT     keep a session with zbs-metad (register, keepalive,\n"
		"                           space and data reports, GC)\n"
		"      --advertise IP       address registered with meta (default: the listen\n"
		"                           host, 127.0.0.1 when that is 0.0.0.0)\n"
		"      --agent-workers N    threads serving the kernel's map requests (default 8)\n"
		"      --no-kernel-agent    do not serve the zbs module (another chunkd of this\n"
		"                           host does; one agent per host)\n"
		"      --no-recover         run no recover cmds (CAP_RECOVER not announced: meta\n"
		"                           makes no owner of this node's sessions for them)\n"
		"      --failslow-ms N      report the chunk failslow to meta (SPEC 4.7 slow disk:\n"
		"                           meta places new replicas elsewhere and counts none\n"
		"                           of its space as valid) while the average latency of\n"
		"                           its client IO over the last 10 s is at least N ms\n"
		"                           (at least %u IOs); it is cleared once that average\n"
		"                           stays below N/2 ms. Default %u; 0: never\n"
		"      --inject-io-delay-ms N  test only: every client IO (READ, WRITE,\n"
		"                           WRITE_ZEROES) waits N ms first, a slow disk\n"
		"      --no-recover-pace    serve recovery copies (as their source or their\n"
		"                           destination) as fast as they come; by default they\n"
		"                           are held back while this chunk's client IO latency\n"
		"                           is above 1.5x its level without recovery (halved,\n"
		"                           down to 4 MiB/s; recover_gate.h)\n"
		"      --drop-replica PID   offline maintenance: delete replica PID from the\n"
		"                           (stopped) chunk's DIR and exit; meta counts it as\n"
		"                           failed at the owner's next sync. Replicas are never\n"
		"                           deleted over the data port\n"
		"  -v, --log-level LEVEL    err, warn, info (default) or debug\n"
		"  -h, --help               this help\n",
		ZBS_WIRE_DEFAULT_PORT, CHUNK_SERVER_MAX_CONNS, CHUNK_FAILSLOW_MIN_SAMPLES,
		CHUNK_FAILSLOW_DEFAULT_MS);
}

enum { OPT_UUID = 256, OPT_PORT_FILE, OPT_META, OPT_ADVERTISE, OPT_WORKERS, OPT_NO_KERNEL,
       OPT_CAPACITY, OPT_MAX_CONNS, OPT_DROP, OPT_NO_RECOVER, OPT_FAILSLOW, OPT_INJECT_DELAY,
       OPT_PACE };

static int parse_args(int argc, char **argv, struct chunkd_opts *o)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "uuid", required_argument, NULL, OPT_UUID },
		{ "port-file", required_argument, NULL, OPT_PORT_FILE },
		{ "meta", required_argument, NULL, OPT_META },
		{ "advertise", required_argument, NULL, OPT_ADVERTISE },
		{ "agent-workers", required_argument, NULL, OPT_WORKERS },
		{ "no-kernel-agent", no_argument, NULL, OPT_NO_KERNEL },
		{ "no-recover", no_argument, NULL, OPT_NO_RECOVER },
		{ "no-recover-pace", no_argument, NULL, OPT_PACE },
		{ "capacity", required_argument, NULL, OPT_CAPACITY },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "drop-replica", required_argument, NULL, OPT_DROP },
		{ "failslow-ms", required_argument, NULL, OPT_FAILSLOW },
		{ "inject-io-delay-ms", required_argument, NULL, OPT_INJECT_DELAY },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	snprintf(o->listen_host, sizeof(o->listen_host), "0.0.0.0");
	o->listen_port = ZBS_WIRE_DEFAULT_PORT;
	o->log_level = ZBS_LOG_INFO;
	o->failslow_ms = CHUNK_FAILSLOW_DEFAULT_MS;
	while ((c = getopt_long(argc, argv, "d:l:v:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->data_dir = optarg;
			break;
		case 'l':
			if (zbs_parse_hostport(optarg, "0.0.0.0", 0, ZBS_HP_ANY_HOST,
					       o->listen_host, sizeof(o->listen_host),
					       &o->listen_port) < 0) {
				fprintf(stderr, "zbs-chunkd: bad --listen '%s' (HOST:PORT)\n", optarg);
				return -1;
			}
			break;
		case OPT_UUID:
			o->uuid = optarg;
			break;
		case OPT_PORT_FILE:
			o->port_file = optarg;
			break;
		case OPT_META:
			o->meta = optarg;
			break;
		case OPT_ADVERTISE:
			o->advertise = optarg;
			break;
		case OPT_NO_KERNEL:
			o->no_kernel = true;
			break;
		case OPT_NO_RECOVER:
			o->no_recover = true;
			break;
		case OPT_PACE:
			o->no_recover_pace = true;
			break;
		case OPT_MAX_CONNS: {
			uint64_t v;

			if (zbs_parse_u64(optarg, 1, 1 << 20, &v)) {
				fprintf(stderr, "zbs-chunkd: bad --max-conns '%s' (1..1048576)\n",
					optarg);
				return -1;
			}
			o->max_conns = (unsigned)v;
			break;
		}
		case OPT_DROP:
			if (zbs_parse_u64(optarg, 1, UINT64_MAX, &o->drop_pid)) {
				fprintf(stderr, "zbs-chunkd: bad --drop-replica '%s' (a pid)\n", optarg);
				return -1;
			}
			break;
		case OPT_FAILSLOW:
			if (zbs_parse_u64(optarg, 0, 3600000, &o->failslow_ms)) {
				fprintf(stderr, "zbs-chunkd: bad --failslow-ms '%s' (0..3600000)\n",
					optarg);
				return -1;
			}
			break;
		case OPT_INJECT_DELAY: {
			uint64_t v;

			if (zbs_parse_u64(optarg, 0, 60000, &v)) {
				fprintf(stderr, "zbs-chunkd: bad --inject-io-delay-ms '%s' (0..60000)\n",
					optarg);
				return -1;
			}
			o->inject_delay_ms = (unsigned)v;
			break;
		}
		case OPT_CAPACITY:
			if (zbs_parse_size(optarg, &o->capacity) < 0 ||
			    o->capacity < ZBS_EXTENT_SIZE) {
				fprintf(stderr, "zbs-chunkd: bad --capacity '%s' (a size of at "
					"least 256M, e.g. 512M or 100G)\n", optarg);
				return -1;
			}
			break;
		case OPT_WORKERS: {
			uint64_t v;

			if (zbs_parse_u64(optarg, 1, 256, &v)) {
				fprintf(stderr, "zbs-chunkd: bad --agent-workers '%s' (1..256)\n", optarg);
				return -1;
			}
			o->agent_workers = (unsigned)v;
			break;
		}
		case 'v':
			o->log_level = zbs_log_parse_level(optarg);
			if (o->log_level < 0) {
				fprintf(stderr, "zbs-chunkd: bad --log-level '%s'\n", optarg);
				return -1;
			}
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
		fprintf(stderr, "zbs-chunkd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->capacity && !o->data_dir) {
		fprintf(stderr, "zbs-chunkd: --capacity needs --data-dir\n");
		return -1;
	}
	if (o->drop_pid && !o->data_dir) {
		fprintf(stderr, "zbs-chunkd: --drop-replica needs --data-dir\n");
		return -1;
	}
	if (!o->data_dir && !o->meta) {
		fprintf(stderr, "zbs-chunkd: --data-dir is required (or --meta alone: access only)\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

/* ---- the meta session's view of the store (daemon/chunkd/chunk_session.h) ---- */

static int ms_space(void *arg, struct chunk_session_space *out)
{
	struct chunk_space_info si;

	if (chunk_store_space(arg, &si) < 0)
		return -1;
	out->total = si.total;
	out->valid = si.valid;
	out->used = si.used;
	out->thin_used = si.thin_used;
	return 0;
}

struct ms_emit {
	int (*emit)(const struct chunk_session_replica *, void *);
	void *ctx;
};

static int ms_one_replica(const struct chunk_replica_info *ri, void *arg)
{
	struct ms_emit *e = arg;
	struct chunk_session_replica r = { ri->pid, ri->epoch, ri->gen };

	if (ri->broken)		/* corrupt record: missing to meta, not held at a gen */
		return 0;
	return e->emit(&r, e->ctx);
}

static int ms_foreach_replica(void *arg, int (*emit)(const struct chunk_session_replica *, void *),
			      void *ctx)
{
	struct ms_emit e = { emit, ctx };

	return chunk_store_foreach_replica(arg, ms_one_replica, &e);
}

/* Queued: the store's GC thread deletes (the session thread does no IO). */
static int ms_delete_replica(void *arg, uint64_t pid, uint64_t epoch)
{
	int rc = chunk_store_gc_delete(arg, pid, epoch);

	if (rc < 0 && rc != -ENOENT)
		log_warn("GC of replica %llu:%llu: %s", (unsigned long long)pid,
			 (unsigned long long)epoch, strerror(-rc));
	return rc;
}

/*
 * The identity of an access-only chunkd (no data dir to keep one in): a
 * name-based uuid of the host's machine id and the port, so a restarted
 * agent registers as the same chunk and spends no new cid. 0, or -1 when
 * there is no machine id.
 */
static int access_uuid(uint16_t port, uuid_t out)
{
	char id[64], name[64], hex[40];
	FILE *f = fopen("/etc/machine-id", "r");
	uuid_t ns;
	size_t n;

	if (!f)
		return -1;
	n = fread(id, 1, sizeof(id) - 1, f);
	fclose(f);
	id[n] = 0;
	id[strcspn(id, " \n")] = 0;
	if (strlen(id) != 32)
		return -1;
	snprintf(hex, sizeof(hex), "%.8s-%.4s-%.4s-%.4s-%.12s", id, id + 8, id + 12, id + 16,
		 id + 20);
	if (uuid_parse(hex, ns))
		return -1;
	snprintf(name, sizeof(name), "zbs-access-agent:%u", port);
	uuid_generate_sha1(out, ns, name, strlen(name));
	return 0;
}

/*
 * The failslow flag of the keepalives (SPEC 4.7): the data server's client
 * IO latency judged with hysteresis (chunk_iostat.h) before each one; a
 * change is logged. io NULL: never failslow (--failslow-ms 0, no store).
 */
static struct {
	struct chunk_iostat *io;
	struct chunk_failslow f;
} failslow;

static bool ms_failslow(void *arg)
{
	bool changed;
	uint64_t avg;

	(void)arg;
	chunk_failslow_judge(&failslow.f, failslow.io, zbs_now_ns(), &changed, &avg);
	if (changed && failslow.f.on)
		log_warn("failslow: client IO takes %llu ms on average over the last %llu s "
			 "(at least %llu ms): meta is told", (unsigned long long)(avg / 1000000),
			 (unsigned long long)(chunk_iostat_window_ns(failslow.io) / 1000000000),
			 (unsigned long long)(failslow.f.threshold_ns / 1000000));
	else if (changed)
		log_info("failslow no more: client IO takes %llu ms on average over the last "
			 "%llu s", (unsigned long long)(avg / 1000000),
			 (unsigned long long)(chunk_iostat_window_ns(failslow.io) / 1000000000));
	return failslow.f.on;
}

/* The store's space changed: the session reports it soon (SPEC 7.1). */
static _Atomic(struct chunk_session *) space_session;

static void space_hook(void *arg)
{
	chunk_session_report_soon(atomic_load(&space_session));
}

/* st NULL: access only (no space, no replicas). */
static struct chunk_session *start_meta_session(const struct chunkd_opts *o,
						struct chunk_store *st, const char *uuid,
						uint16_t port, struct chunk_agent *agent,
						struct chunk_kchannel *k, struct chunk_recover *rec)
{
	struct chunk_session_ops ops = {
		.space = st ? ms_space : NULL,
		.foreach_replica = st ? ms_foreach_replica : NULL,
		.delete_replica = st ? ms_delete_replica : NULL,
		.arg = st,
		.revoke = chunk_agent_revoke_hook,	/* drops its lease cache, relays */
		.revoke_arg = agent,
		.lease = chunk_kchannel_lease_op,	/* SESSION to the kernel */
		.lease_arg = k,
		.reads = chunk_kchannel_reads_op,	/* where the kernel's reads went */
		.reads_arg = k,
		/* recover cmds of the leases this node owns */
		.recover = rec ? chunk_recover_session_cmd : NULL,
		.recover_progress = rec ? chunk_recover_session_progress : NULL,
		.recover_limits = rec ? chunk_recover_session_limits : NULL,
		.recover_arg = rec,
		.failslow = st && failslow.io ? ms_failslow : NULL,
	};
	struct chunk_session_config cfg = { 0 };
	const char *ip = o->advertise ? o->advertise :
			 strcmp(o->listen_host, "0.0.0.0") ? o->listen_host : "127.0.0.1";
	char addr[300];

	snprintf(addr, sizeof(addr), "%s:%u", ip, port);
	cfg.meta_addr = o->meta;
	cfg.uuid = uuid;
	cfg.data_addr = addr;
	cfg.rpc_addr = addr;	/* no separate rpc port yet */
	return chunk_session_start(&cfg, &ops);
}

/*
 * The node's agent: the agent core, the meta session and the kernel channel
 * (chunk_kchannel.h), until a signal of `sigs` arrives. st NULL: access only.
 */
static int serve_agent(const struct chunkd_opts *o, struct chunk_store *st, const char *uuid,
		       uint16_t port, const sigset_t *sigs)
{
	struct chunk_agent_config cfg = { .meta_addr = o->meta, .workers = o->agent_workers };
	struct chunk_kchannel *k = chunk_kchannel_new(!o->no_kernel);
	struct chunk_agent_ops ops = {
		.revoke = chunk_kchannel_revoke_op,
		.drain = chunk_kchannel_drain_op,
		.arg = k,
	};
	struct chunk_recover_config rcfg = { .meta_addr = o->meta, .nice = !o->no_recover_pace };
	struct chunk_session *ms = NULL;
	struct chunk_agent *agent = NULL;
	struct chunk_recover *rec = NULL;
	int rc = -EIO;

	if (k)
		agent = chunk_agent_start(&cfg, &ops);
	/* the executor drives the agent's recovering targets (its drains are
	 * no-ops without the kernel channel) */
	rcfg.agent = agent;
	if (agent && !o->no_recover)
		rec = chunk_recover_start(&rcfg, NULL);
	if (agent && (rec || o->no_recover))
		ms = start_meta_session(o, st, uuid, port, agent, k, rec);
	if (ms) {
		atomic_store(&space_session, ms);
		chunk_agent_set_session(agent, ms);
		if (rec)
			chunk_recover_attach(rec, ms);
		rc = chunk_kchannel_run(k, agent, ms, sigs);
		if (rc)
			log_err("kernel channel: %s", strerror(-rc));
	}
	chunk_recover_shutdown(rec);		/* aborts, tells meta; uses the agent */
	if (agent)
		chunk_agent_shutdown(agent);	/* its workers use the session and k */
	atomic_store(&space_session, NULL);	/* IO threads may still call the hook */
	chunk_session_stop(ms);			/* leaves the session */
	chunk_recover_stop(rec);		/* the session's thread used it */
	chunk_agent_stop(agent);
	chunk_kchannel_free(k);
	return rc;
}

/*
 * The kernel's agent sits in the writeback path of every zbs device: a map
 * request it must answer may be what frees the memory it asks for. So it
 * allocates as an IO flusher (no reclaim through IO, every thread started
 * from here inherits it) and keeps its pages resident (only those it
 * touches: MCL_ONFAULT, the store's map stays lazy).
 */
static void agent_pin_memory(void)
{
	struct rlimit rl;
	bool flusher, locked = false;

	flusher = prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) == 0;
	if (!flusher)
		log_warn("PR_SET_IO_FLUSHER: %s: under memory pressure the agent may wait for "
			 "the IO it serves (needs CAP_SYS_RESOURCE)", strerror(errno));
	/* MCL_FUTURE under a small RLIMIT_MEMLOCK would make later mmaps
	 * (thread stacks, the store) fail: only as root or when unlimited */
	if (geteuid() && (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur != RLIM_INFINITY))
		log_warn("agent memory not locked: not root and RLIMIT_MEMLOCK is limited; it may "
			 "be swapped out while zbs IO waits for it");
	else if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		log_warn("mlockall: %s: the agent's pages may be swapped out while zbs IO "
			 "waits for it", strerror(errno));
	else
		locked = true;
	if (flusher && locked)
		log_info("agent memory locked, allocating as an IO flusher");
}


/*
 * Enough file descriptors: every replica holds two open files and every
 * connection one, so the soft limit (often 1024) goes up to the hard one;
 * below what the connections need, a warning.
 */
static void raise_nofile(unsigned conns)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)conns + 256;	/* LMDB, the listeners, the rest */

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warn("open files limited to %llu: fewer than %u connections can be served",
			 (unsigned long long)rl.rlim_cur, conns);
}

/* --drop-replica: the only way to delete a live replica outside meta's GC */
static int drop_replica(struct chunk_store *st, uint64_t pid)
{
	struct chunk_replica_info ri;
	int rc = chunk_store_get_replica(st, pid, &ri);

	if (!rc)
		rc = chunk_store_delete_replica(st, pid, ri.epoch);
	if (rc < 0) {
		log_err("replica %llu: %s", (unsigned long long)pid,
			rc == -ENOENT ? "no such replica" : strerror(-rc));
		return rc == -ENOENT ? 3 : 1;
	}
	log_info("replica %llu (epoch %llu, gen %llu) dropped", (unsigned long long)pid,
		 (unsigned long long)ri.epoch, (unsigned long long)ri.gen);
	return 0;
}

int main(int argc, char **argv)
{
	struct chunkd_opts o = { 0 };
	struct chunk_store *st = NULL;
	struct chunk_server *srv = NULL;
	char uuid[40];
	sigset_t set;
	int sig, rc;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	zbs_log_init("zbs-chunkd", (enum zbs_log_level)o.log_level);

	/* signals are taken synchronously (sigwait() or the kernel channel's
	 * signalfd); every thread
	 * started from here inherits the mask */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (o.meta && !o.no_kernel)
		agent_pin_memory();	/* before any thread starts */

	if (!o.data_dir) {
		uuid_t u;

		if (o.uuid && uuid_parse(o.uuid, u)) {
			log_err("--uuid %s is not a uuid", o.uuid);
			return 2;
		}
		if (!o.uuid && access_uuid(o.listen_port ? o.listen_port : ZBS_WIRE_DEFAULT_PORT, u)) {
			log_warn("no /etc/machine-id: a new identity for this start (give --uuid "
				 "to keep one)");
			uuid_generate(u);
		}
		uuid_unparse_lower(u, uuid);
		log_info("chunk %s: access only (no data dir), agent of meta %s", uuid, o.meta);
		/* the registered data address is never connected to: meta places
		 * no replica on a chunk that reports no space */
		rc = serve_agent(&o, NULL, uuid,
				 o.listen_port ? o.listen_port : ZBS_WIRE_DEFAULT_PORT, &set);
		return rc < 0 ? 1 : 0;
	}

	raise_nofile(o.max_conns ? o.max_conns : CHUNK_SERVER_MAX_CONNS);	/* before the replicas open */
	rc = chunk_store_open(o.data_dir, o.uuid, &st);
	if (rc < 0) {
		log_err("cannot use data dir %s: %s", o.data_dir, strerror(-rc));
		return 1;
	}
	if (o.drop_pid) {
		rc = drop_replica(st, o.drop_pid);
		chunk_store_close(st);
		return rc;
	}
	if (o.capacity)
		chunk_store_set_capacity(st, o.capacity);
	chunk_store_set_space_hook(st, space_hook, NULL);
	rc = chunk_server_start(st, o.listen_host, o.listen_port, o.max_conns, &srv);
	if (rc < 0)
		goto out_store;
	log_info("chunk %s serving data on %s:%u", chunk_store_uuid(st), o.listen_host,
		 chunk_server_port(srv));
	chunk_server_inject_delay(srv, o.inject_delay_ms);
	chunk_server_set_recover_pace(srv, !o.no_recover_pace);
	if (o.no_recover_pace)
		log_info("recovery pacing off: recovery copies are served as fast as they come");
	if (o.failslow_ms) {
		failslow.io = chunk_server_iostat(srv);
		chunk_failslow_init(&failslow.f, o.failslow_ms * 1000000ULL);
	}
	if (o.port_file && zbs_write_port_file(o.port_file, chunk_server_port(srv)) < 0) {
		log_err("cannot write %s: %m", o.port_file);
		rc = -EIO;
		goto out_server;
	}

	if (o.meta) {
		rc = serve_agent(&o, st, chunk_store_uuid(st), chunk_server_port(srv), &set);
	} else {
		sigwait(&set, &sig);
		log_info("signal %d: shutting down", sig);
		rc = 0;
	}
out_server:
	chunk_server_stop(srv);
out_store:
	chunk_store_close(st);
	return rc < 0 ? 1 : 0;
}
