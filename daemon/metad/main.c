// SPDX-License-Identifier: GPL-2.0
/* zbs-metad: the meta server. Options, then the event loop of server.c. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "net.h"
#include "balance.h"
#include "agile.h"
#include "scheduler.h"
#include "server.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zbs-metad [OPTIONS]\n"
		"\n"
		"The ZBS meta server: chunks, sessions, volumes, extents and leases,\n"
		"persisted in LMDB under the data directory.\n"
		"\n"
		"  -d, --data DIR             data directory (default /var/lib/zbs/meta)\n"
		"  -l, --listen IP:PORT       RPC address (default 0.0.0.0:10100; port 0 picks one)\n"
		"      --port-file FILE       write the bound port to FILE once listening\n"
		"      --session-lease-ms N   chunk session lease (default 10000)\n"
		"      --alive-grace-ms N     replica not reported for N ms is not alive (default 600000)\n"
		"      --idle-release-ms N    release lease owners idle for N ms (default 3600000)\n"
		"      --recover-slots N      recover cmds per chunk (default 128)\n"
		"      --recover-concurrency N  cmds a chunk runs at once (default 32)\n"
		"      --recover-bps N        a chunk's recovery bandwidth, bytes/s (default 0: unlimited)\n"
		"      --recover-timeout-ms N   a recover cmd's time limit (default 1080000)\n"
		"      --recover-scan-interval-ms N  scan for pextents to recover (default 60000)\n"
		"      --recover-failed-hold-ms N  a chunk with a replica reported failed is no\n"
		"                             recover dst for N ms or until its next session\n"
		"                             (default: the session lease)\n"
		"      --recover-agile-wait-ms N  a pextent whose replica was dropped waits up to N ms\n"
		"                             for that chunk to come back and be caught up (agile\n"
		"                             recovery) before a full copy elsewhere (default 60000)\n"
		"                             (the recover settings are defaults: those set with\n"
		"                             zbsctl recover set are stored and win)\n"
		"      --rebalance-interval-ms N  plan rebalance moves every N ms (default 3600000;\n"
		"                             0: never, `zbsctl migrate plan --apply` still works)\n"
		"      --rebalance-moves-per-hour N  moves handed to recovery an hour (default 600)\n"
		"  -v, --log-level LEVEL      err, warn, info (default), debug\n"
		"  -h, --help                 this help\n");
}

int main(int argc, char **argv)
{
	enum { O_PORTFILE = 256, O_LEASE, O_GRACE, O_IDLE, O_RSLOTS, O_RCONC, O_RBPS, O_RTIMEOUT,
	       O_RSCAN, O_RBINT, O_RBRATE, O_RHOLD, O_RAGILE };
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, O_PORTFILE },
		{ "session-lease-ms", required_argument, NULL, O_LEASE },
		{ "alive-grace-ms", required_argument, NULL, O_GRACE },
		{ "idle-release-ms", required_argument, NULL, O_IDLE },
		{ "recover-slots", required_argument, NULL, O_RSLOTS },
		{ "recover-concurrency", required_argument, NULL, O_RCONC },
		{ "recover-bps", required_argument, NULL, O_RBPS },
		{ "recover-timeout-ms", required_argument, NULL, O_RTIMEOUT },
		{ "recover-scan-interval-ms", required_argument, NULL, O_RSCAN },
		{ "recover-failed-hold-ms", required_argument, NULL, O_RHOLD },
		{ "recover-agile-wait-ms", required_argument, NULL, O_RAGILE },
		{ "rebalance-interval-ms", required_argument, NULL, O_RBINT },
		{ "rebalance-moves-per-hour", required_argument, NULL, O_RBRATE },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct meta_config cfg = {
		.session_lease_ms = 10000,
		.alive_grace_ms = 600000,
		.idle_release_ms = 3600000,
		.rebalance_interval_ms = META_REBALANCE_INTERVAL_MS,
		.rebalance_moves_per_hour = META_REBALANCE_MOVES_PER_HOUR,
		.agile_wait_ms = META_AGILE_WAIT_MS_DEFAULT,
	};
	const char *data = "/var/lib/zbs/meta", *listen = "0.0.0.0:10100", *portfile = NULL;
	struct meta_sched_config rcfg = meta_sched_defaults;
	static struct meta_server srv;
	uint64_t v;
	int c, lvl, idx = 0;

	zbs_log_init("zbs-metad", ZBS_LOG_INFO);
	while ((c = getopt_long(argc, argv, "d:l:v:h", lo, &idx)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'l': listen = optarg; break;
		case O_PORTFILE: portfile = optarg; break;
		case O_LEASE:
		case O_GRACE:
		case O_IDLE:
			if (zbs_parse_u64(optarg, 100, 1ULL << 31, &v)) {
				fprintf(stderr, "zbs-metad: %s: want milliseconds, 100..2^31\n", optarg);
				return 2;
			}
			if (c == O_LEASE)
				cfg.session_lease_ms = v;
			else if (c == O_GRACE)
				cfg.alive_grace_ms = v;
			else
				cfg.idle_release_ms = v;
			break;
		case O_RSLOTS:
		case O_RCONC:
		case O_RTIMEOUT:
		case O_RSCAN:
		case O_RHOLD:
			if (zbs_parse_u64(optarg, 1, UINT32_MAX, &v)) {
				fprintf(stderr, "zbs-metad: --%s %s: want a number, 1..2^32-1\n",
					lo[idx].name, optarg);
				return 2;
			}
			if (c == O_RSLOTS)
				rcfg.slots = v;
			else if (c == O_RCONC)
				rcfg.concurrency = v;
			else if (c == O_RTIMEOUT)
				rcfg.timeout_ms = v;
			else if (c == O_RHOLD)
				rcfg.failed_hold_ms = v;
			else
				rcfg.scan_interval_ms = v;
			break;
		case O_RAGILE:
			if (zbs_parse_u64(optarg, 0, 1ULL << 31, &v)) {
				fprintf(stderr, "zbs-metad: --%s %s: want milliseconds, 0..2^31\n",
					lo[idx].name, optarg);
				return 2;
			}
			cfg.agile_wait_ms = v;
			break;
		case O_RBINT:
		case O_RBRATE:
			if (zbs_parse_u64(optarg, c == O_RBINT ? 0 : 1, 1ULL << 31, &v)) {
				fprintf(stderr, "zbs-metad: --%s %s: want a number, %d..2^31\n",
					lo[idx].name, optarg, c == O_RBINT ? 0 : 1);
				return 2;
			}
			if (c == O_RBINT)
				cfg.rebalance_interval_ms = v;
			else
				cfg.rebalance_moves_per_hour = v;
			break;
		case O_RBPS:
			if (zbs_parse_u64(optarg, 0, UINT64_MAX, &v)) {
				fprintf(stderr, "zbs-metad: --recover-bps %s: want bytes per second\n",
					optarg);
				return 2;
			}
			rcfg.bps = v;
			break;
		case 'v':
			lvl = zbs_log_parse_level(optarg);
			if (lvl < 0) {
				fprintf(stderr, "zbs-metad: unknown log level '%s'\n", optarg);
				return 2;
			}
			zbs_log_set_level(lvl);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "zbs-metad: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	cfg.keepalive_ms = cfg.session_lease_ms / 4;
	signal(SIGPIPE, SIG_IGN);	/* a client gone mid-reply is an EPIPE, not our end */
	if (meta_server_init(&srv, &cfg, &rcfg, data, listen))
		return 1;
	log_info("listening on %s (port %u), data %s, session lease %u ms", listen, srv.port,
		 data, cfg.session_lease_ms);
	if (portfile && zbs_write_port_file(portfile, srv.port)) {
		log_err("cannot write port file %s: %m", portfile);
		return 1;
	}
	meta_server_run(&srv);
	meta_server_fini(&srv);
	return 0;
}
