// SPDX-License-Identifier: GPL-2.0
/* zbsctl recover status|list|set|scan, and zbsctl migrate create for cmd_migrate.c */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "meta_client.h"

static struct json_object *config_json(const Zbs__RecoverConfig *c)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "slots", json_object_new_int64(c->slots));
	json_object_object_add(j, "concurrency", json_object_new_int64(c->concurrency));
	json_object_object_add(j, "bps", json_object_new_uint64(c->bps));
	json_object_object_add(j, "timeout_ms", json_object_new_int64(c->timeout_ms));
	json_object_object_add(j, "scan_interval_ms", json_object_new_int64(c->scan_interval_ms));
	return j;
}

static struct json_object *cmd_json(const Zbs__RecoverCmdInfo *c)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "cmd_id", json_object_new_uint64(c->cmd_id));
	json_object_object_add(j, "pid", json_object_new_uint64(c->pid));
	json_object_object_add(j, "epoch", json_object_new_uint64(c->epoch));
	json_object_object_add(j, "src_cid", json_object_new_int(c->src_cid));
	json_object_object_add(j, "dst_cid", json_object_new_int(c->dst_cid));
	json_object_object_add(j, "replace_cid", json_object_new_int(c->replace_cid));
	json_object_object_add(j, "owner_cid", json_object_new_int(c->owner_cid));
	json_object_object_add(j, "is_migrate", json_object_new_boolean(c->is_migrate));
	json_object_object_add(j, "agile", json_object_new_boolean(c->agile));
	json_object_object_add(j, "delivered", json_object_new_boolean(c->delivered));
	json_object_object_add(j, "bytes_copied", json_object_new_uint64(c->bytes_copied));
	json_object_object_add(j, "bytes_total", json_object_new_uint64(c->bytes_total));
	json_object_object_add(j, "age_ms", json_object_new_uint64(c->age_ms));
	return j;
}

static void print_status(const struct zbsctl_opts *o, const Zbs__RecoverStatusResponse *r)
{
	char b[3][32];

	if (o->json) {
		struct json_object *j = json_object_new_object();
		if (r->config)
			json_object_object_add(j, "config", config_json(r->config));
		json_object_object_add(j, "need_recover", json_object_new_uint64(r->need_recover));
		json_object_object_add(j, "dead", json_object_new_uint64(r->dead));
		json_object_object_add(j, "at_risk", json_object_new_uint64(r->at_risk));
		json_object_object_add(j, "cmds_running", json_object_new_int64(r->cmds_running));
		json_object_object_add(j, "cmds_waiting", json_object_new_int64(r->cmds_waiting));
		json_object_object_add(j, "bytes_left", json_object_new_uint64(r->bytes_left));
		json_object_object_add(j, "rate_bps", json_object_new_uint64(r->rate_bps));
		json_object_object_add(j, "eta_ms", json_object_new_uint64(r->eta_ms));
		json_object_object_add(j, "done", json_object_new_uint64(r->done));
		json_object_object_add(j, "failed", json_object_new_uint64(r->failed));
		json_object_object_add(j, "last_scan_ms", json_object_new_uint64(r->last_scan_ms));
		zc_print_json(j);
		return;
	}
	printf("need recover:  %llu pextent(s); %llu dead, %llu at risk (one current replica)\n",
	       (unsigned long long)r->need_recover, (unsigned long long)r->dead,
	       (unsigned long long)r->at_risk);
	printf("cmds:          %u running, %u waiting for delivery; %llu done, %llu failed\n",
	       r->cmds_running, r->cmds_waiting, (unsigned long long)r->done,
	       (unsigned long long)r->failed);
	printf("left:          %s at %s/s", zc_size(r->bytes_left, b[0], 32),
	       zc_size(r->rate_bps, b[1], 32));
	if (r->eta_ms)
		printf(", eta %llu s", (unsigned long long)(r->eta_ms + 999) / 1000);
	printf("\n");
	if (r->last_scan_ms)
		printf("last scan:     %llu s ago\n", (unsigned long long)r->last_scan_ms / 1000);
	else
		printf("last scan:     none yet\n");
	if (r->config)
		printf("config:        slots %u, concurrency %u, bps %s, timeout %u ms, "
		       "scan every %u ms\n", r->config->slots, r->config->concurrency,
		       r->config->bps ? zc_size(r->config->bps, b[2], 32) : "unlimited",
		       r->config->timeout_ms, r->config->scan_interval_ms);
}

static void print_cmds(const struct zbsctl_opts *o, Zbs__RecoverCmdInfo **cmds, size_t n)
{
	char b[2][32];

	if (o->json) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, cmd_json(cmds[i]));
		zc_print_json(a);
		return;
	}
	printf("%18s %10s %4s %4s %7s %5s %7s %5s %9s %10s %10s %8s\n", "CMD", "PID", "SRC", "DST",
	       "REPLACE", "OWNER", "MIGRATE", "MODE", "DELIVERED", "COPIED", "TOTAL", "AGE_S");
	for (size_t i = 0; i < n; i++) {
		const Zbs__RecoverCmdInfo *c = cmds[i];
		printf("%18llu %10llu %4u %4u %7u %5u %7s %5s %9s %10s %10s %8llu\n",
		       (unsigned long long)c->cmd_id, (unsigned long long)c->pid, c->src_cid,
		       c->dst_cid, c->replace_cid, c->owner_cid, c->is_migrate ? "yes" : "no",
		       c->agile ? "agile" : "full",
		       c->delivered ? "yes" : "no", zc_size(c->bytes_copied, b[0], 32),
		       c->bytes_total ? zc_size(c->bytes_total, b[1], 32) : "-",
		       (unsigned long long)c->age_ms / 1000);
	}
}

/* one call to zbs-metad; an exit status */
static int call(const struct zbsctl_opts *o, uint16_t method, const void *req,
		const ProtobufCMessageDescriptor *desc, void **resp)
{
	struct zbs_rpc_client c;
	int st;

	if ((st = zc_connect(o, &c)))
		return st;
	st = zc_call(&c, method, req, desc, resp);
	zbs_rpc_close(&c);
	return st;
}

/* recover status, or list */
static int r_show(const struct zbsctl_opts *o, bool list)
{
	Zbs__Empty req = ZBS__EMPTY__INIT;
	ProtobufCMessage *resp;
	int st = call(o, list ? ZBS_M_RECOVER_LIST : ZBS_M_RECOVER_STATUS, &req,
		      list ? &zbs__recover_list_response__descriptor :
			     &zbs__recover_status_response__descriptor, (void **)&resp);

	if (st)
		return st;
	if (list)
		print_cmds(o, ((Zbs__RecoverListResponse *)resp)->cmds,
			   ((Zbs__RecoverListResponse *)resp)->n_cmds);
	else
		print_status(o, (Zbs__RecoverStatusResponse *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int r_scan(const struct zbsctl_opts *o)
{
	Zbs__Empty req = ZBS__EMPTY__INIT;
	int st = call(o, ZBS_M_RECOVER_SCAN, &req, &zbs__empty__descriptor, NULL);

	if (st)
		return st;
	printf(o->json ? "{ \"scan\": \"started\" }\n" : "scan started\n");
	return ZBSCTL_OK;
}

static int r_set(const struct zbsctl_opts *o, int argc, char **argv)
{
	enum { O_SLOTS = 256, O_CONC, O_BPS, O_TIMEOUT, O_SCAN };
	static const struct option lo[] = {
		{ "slots", required_argument, NULL, O_SLOTS },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "bps", required_argument, NULL, O_BPS },
		{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
		{ "scan-interval-ms", required_argument, NULL, O_SCAN },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const names[] = { "--slots", "--concurrency", "--bps", "--timeout-ms",
					     "--scan-interval-ms" };
	Zbs__RecoverSetRequest req = ZBS__RECOVER_SET_REQUEST__INIT;
	Zbs__RecoverConfig cfg = ZBS__RECOVER_CONFIG__INIT;
	Zbs__RecoverStatusResponse *resp;
	uint64_t x;
	int ch, st, n = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		n++;
		switch (ch) {
		case O_SLOTS:
		case O_CONC:
		case O_TIMEOUT:
		case O_SCAN:
			if (zc_opt_u64(names[ch - O_SLOTS], optarg, 1, UINT32_MAX, &x))
				return ZBSCTL_USAGE;
			if (ch == O_SLOTS)
				cfg.slots = x;
			else if (ch == O_CONC)
				cfg.concurrency = x;
			else if (ch == O_TIMEOUT)
				cfg.timeout_ms = x;
			else
				cfg.scan_interval_ms = x;
			break;
		case O_BPS:
			/* 0 in the request keeps the value: unlimited is UINT64_MAX */
			if (strcmp(optarg, "unlimited") == 0)
				x = 0;
			else if (zc_opt_size("--bps", optarg, &x))
				return ZBSCTL_USAGE;
			cfg.bps = x ? x : UINT64_MAX;
			break;
		default:
			return ZBSCTL_USAGE;
		}
	}
	if (optind != argc || !n) {
		zbsctl_err(n ? "recover set: unexpected argument '%s'" :
			   "recover set needs at least one of --slots, --concurrency, --bps, "
			   "--timeout-ms, --scan-interval-ms%s", n ? argv[optind] : "");
		return ZBSCTL_USAGE;
	}
	req.config = &cfg;
	st = call(o, ZBS_M_RECOVER_SET, &req, &zbs__recover_status_response__descriptor,
		  (void **)&resp);
	if (st)
		return st;
	print_status(o, resp);
	zbs__recover_status_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static void recover_usage(FILE *f)
{
	fprintf(f,
		"Usage: zbsctl [--json] recover status\n"
		"       zbsctl [--json] recover list\n"
		"       zbsctl [--json] recover set [--slots N] [--concurrency N] [--bps N|unlimited]\n"
		"                                   [--timeout-ms N] [--scan-interval-ms N]\n"
		"       zbsctl [--json] recover scan\n\n"
		"status: pextents that need a replica (dead: none current left; at risk: one),\n"
		"        the cmds running and waiting, what is left and the copy rate.\n"
		"list:   the recover and migrate cmds zbs-metad has issued.\n"
		"set:    the recovery config, stored by zbs-metad: cmd slots per chunk (1-100000,\n"
		"        default 128), cmds a chunk runs at once (default 32), a chunk's copy\n"
		"        bandwidth in bytes/s (K, M, G suffixes; 0 or unlimited: no limit), a\n"
		"        cmd's time limit (default 18 min) and the scan period (default 60 s).\n"
		"scan:   look for pextents to recover now.\n");
}

static int recover_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	if (argc < 2 || zbsctl_is_help(argv[1])) {
		recover_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? ZBSCTL_USAGE : ZBSCTL_OK;
	}
	for (int k = 2; k < argc; k++) {
		if (zbsctl_is_help(argv[k])) {
			recover_usage(stdout);
			return ZBSCTL_OK;
		}
	}
	if (strcmp(argv[1], "set") == 0)
		return r_set(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "status") && strcmp(argv[1], "list") && strcmp(argv[1], "scan")) {
		zbsctl_err("unknown recover verb '%s'; see 'zbsctl recover --help'", argv[1]);
		return ZBSCTL_USAGE;
	}
	if (argc != 2) {
		zbsctl_err("recover %s takes no arguments", argv[1]);
		return ZBSCTL_USAGE;
	}
	if (strcmp(argv[1], "scan") == 0)
		return r_scan(o);
	return r_show(o, strcmp(argv[1], "list") == 0);
}

static struct zbsctl_object recover_obj = {
	.name = "recover",
	.summary = "recovery status, cmds, config and scans (zbs-metad)",
	.run = recover_run,
};
ZBSCTL_OBJECT(recover_obj)

/* ---- migrate create (the object is in cmd_migrate.c) ---------------------- */

int zc_migrate_create(const struct zbsctl_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "replace", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	Zbs__MigrateCreateRequest req = ZBS__MIGRATE_CREATE_REQUEST__INIT;
	Zbs__MigrateCreateResponse *resp;
	uint64_t x;
	int ch, st;

	optind = 0;
	while ((ch = getopt_long(argc - 1, argv + 1, "", lo, NULL)) != -1) {
		const char *name = ch == 's' ? "--src" : ch == 'd' ? "--dst" : "--replace";
		if (ch != 's' && ch != 'd' && ch != 'r')
			return ZBSCTL_USAGE;
		if (zc_opt_u64(name, optarg, 1, 255, &x))
			return ZBSCTL_USAGE;
		*(ch == 's' ? &req.src_cid : ch == 'd' ? &req.dst_cid : &req.replace_cid) = x;
	}
	if (argc - 1 - optind != 1 || !req.src_cid || !req.dst_cid || !req.replace_cid) {
		zbsctl_err("migrate create needs PID, --src, --dst and --replace");
		return ZBSCTL_USAGE;
	}
	if (zc_opt_u64("PID", argv[1 + optind], 1, UINT64_MAX, &x))
		return ZBSCTL_USAGE;
	req.pid = x;
	st = call(o, ZBS_M_MIGRATE_CREATE, &req, &zbs__migrate_create_response__descriptor,
		  (void **)&resp);
	if (st)
		return st;
	if (o->json && resp->cmd)
		zc_print_json(cmd_json(resp->cmd));
	else
		print_cmds(o, &resp->cmd, resp->cmd ? 1 : 0);
	zbs__migrate_create_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}
