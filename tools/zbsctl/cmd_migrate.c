// SPDX-License-Identifier: GPL-2.0
/* zbsctl migrate create|plan: move a replica by hand; the moves rebalance would make */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "meta_client.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zbsctl [--json] migrate VERB [ARGS]\n"
		"\n"
		"  create PID --src CID --dst CID --replace CID\n"
		"        move a replica of pextent PID: dst copies it from src, then takes\n"
		"        replace's place in its location (SPEC 5.7; prefer-local and\n"
		"        topology are not checked); runs as a cmd of the recovery\n"
		"        scheduler (zbsctl recover list)\n"
		"  plan [--dry-run | --apply [--moves-per-hour N]] [--max N] [--summary]\n"
		"        the moves rebalance would make now (nothing committed without\n"
		"        --apply): each pextent's src, dst and the replica it replaces,\n"
		"        and why (localize: towards its prefer local's expected chunks\n"
		"        at low load; topology: replicas too close in the topology;\n"
		"        capacity: off chunks loaded above the cluster; even: an even\n"
		"        volume's replicas from chunks holding too many of them to\n"
		"        chunks holding few), bytes to move\n"
		"        per chunk and per zone, the load ratio of each chunk before and\n"
		"        after.\n"
		"        --max N stops the plan at N moves (default 10000, at most\n"
		"        100000); --summary leaves out the list of moves. --dry-run is\n"
		"        the default. --apply queues the moves for the recovery scheduler\n"
		"        as migrate cmds, at most N an hour (default: zbs-metad's\n"
		"        --rebalance-moves-per-hour, 600); each is checked again when it\n"
		"        is handed out, and a new plan (this or metad's hourly one)\n"
		"        replaces what is still queued. zbsctl recover list shows them.\n");
}

static void print_json(const Zbs__MigratePlanResponse *r, bool summary)
{
	struct json_object *j = json_object_new_object(), *a = json_object_new_array();
	struct json_object *ch = json_object_new_array(), *zo = json_object_new_array();

	for (size_t i = 0; !summary && i < r->n_moves; i++) {
		const Zbs__PlannedMove *m = r->moves[i];
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "pid", json_object_new_uint64(m->pid));
		json_object_object_add(x, "src", json_object_new_int(m->src_cid));
		json_object_object_add(x, "dst", json_object_new_int(m->dst_cid));
		json_object_object_add(x, "replace", json_object_new_int(m->replace_cid));
		json_object_object_add(x, "why", json_object_new_string(m->why));
		json_object_array_add(a, x);
	}
	for (size_t i = 0; i < r->n_chunks; i++) {
		const Zbs__PlanChunkBytes *c = r->chunks[i];
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "cid", json_object_new_int(c->cid));
		json_object_object_add(x, "in_bytes", json_object_new_uint64(c->in_bytes));
		json_object_object_add(x, "out_bytes", json_object_new_uint64(c->out_bytes));
		json_object_object_add(x, "ratio_before", json_object_new_double(c->ratio_before_permille / 1000.0));
		json_object_object_add(x, "ratio_after", json_object_new_double(c->ratio_after_permille / 1000.0));
		json_object_array_add(ch, x);
	}
	for (size_t i = 0; i < r->n_zones; i++) {
		const Zbs__PlanZoneBytes *z = r->zones[i];
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "zone", json_object_new_uint64(z->zone));
		json_object_object_add(x, "name", json_object_new_string(z->name));
		json_object_object_add(x, "in_bytes", json_object_new_uint64(z->in_bytes));
		json_object_object_add(x, "out_bytes", json_object_new_uint64(z->out_bytes));
		json_object_array_add(zo, x);
	}
	json_object_object_add(j, "level", json_object_new_string(r->level));
	if (!summary)
		json_object_object_add(j, "moves", a);
	else
		json_object_put(a);
	json_object_object_add(j, "chunks", ch);
	json_object_object_add(j, "zones", zo);
	json_object_object_add(j, "localize", json_object_new_int(r->localize));
	json_object_object_add(j, "topology", json_object_new_int(r->topology));
	json_object_object_add(j, "capacity", json_object_new_int(r->capacity));
	json_object_object_add(j, "even", json_object_new_int(r->even));
	json_object_object_add(j, "truncated", json_object_new_boolean(r->truncated));
	json_object_object_add(j, "bytes", json_object_new_uint64(r->bytes));
	json_object_object_add(j, "rate_bps", json_object_new_uint64(r->rate_bps));
	json_object_object_add(j, "eta_ms", json_object_new_uint64(r->eta_ms));
	json_object_object_add(j, "scanned", json_object_new_uint64(r->scanned));
	json_object_object_add(j, "elapsed_ms", json_object_new_uint64(r->elapsed_ms));
	json_object_object_add(j, "applied", json_object_new_int(r->applied));
	zc_print_json(j);
}

static void print_text(const Zbs__MigratePlanResponse *r, bool summary)
{
	char b[4][24];

	if (!summary && r->n_moves) {
		printf("%12s %4s %4s %7s %-9s\n", "PID", "SRC", "DST", "REPLACE", "WHY");
		for (size_t i = 0; i < r->n_moves; i++) {
			const Zbs__PlannedMove *m = r->moves[i];

			printf("%12llu %4u %4u %7u %-9s\n", (unsigned long long)m->pid, m->src_cid,
			       m->dst_cid, m->replace_cid, m->why);
		}
		printf("\n");
	}
	if (r->n_chunks) {
		printf("%4s %10s %10s %8s %8s\n", "CID", "IN", "OUT", "BEFORE", "AFTER");
		for (size_t i = 0; i < r->n_chunks; i++) {
			const Zbs__PlanChunkBytes *c = r->chunks[i];

			printf("%4u %10s %10s %8s %8s\n", c->cid, zc_size(c->in_bytes, b[0], sizeof(b[0])),
			       zc_size(c->out_bytes, b[1], sizeof(b[1])),
			       zc_permille(c->ratio_before_permille, b[2], sizeof(b[2])),
			       zc_permille(c->ratio_after_permille, b[3], sizeof(b[3])));
		}
		printf("\n");
	}
	for (size_t i = 0; i < r->n_zones; i++) {
		const Zbs__PlanZoneBytes *z = r->zones[i];

		printf("zone %s: %s in, %s out\n",
		       z->zone ? (z->name[0] ? z->name : "?") : "(none)",
		       zc_size(z->in_bytes, b[0], sizeof(b[0])), zc_size(z->out_bytes, b[1], sizeof(b[1])));
	}
	printf("level %s: %zu moves (%u localize, %u topology, %u capacity, %u even)%s, %s to "
	       "copy; %llu pextents looked at in %llu ms\n",
	       r->level, r->n_moves ? r->n_moves :
	       (size_t)(r->localize + r->topology + r->capacity + r->even),
	       r->localize, r->topology, r->capacity, r->even,
	       r->truncated ? ", stopped at --max" : "",
	       zc_size(r->bytes, b[0], sizeof(b[0])), (unsigned long long)r->scanned,
	       (unsigned long long)r->elapsed_ms);
	if (r->applied)
		printf("%u move(s) queued for the recovery scheduler\n", r->applied);
	if (r->eta_ms)
		printf("ETA at %s/s of recovery: %llu s\n", zc_size(r->rate_bps, b[1], sizeof(b[1])),
		       (unsigned long long)(r->eta_ms / 1000));
	else
		printf("ETA: unknown (no recovery rate measured yet)\n");
}

static int plan(const struct zbsctl_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "max", required_argument, NULL, 'x' },
		{ "summary", no_argument, NULL, 's' },
		{ "apply", no_argument, NULL, 'a' },
		{ "moves-per-hour", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Zbs__MigratePlanRequest req = ZBS__MIGRATE_PLAN_REQUEST__INIT;
	Zbs__MigratePlanResponse *r;
	struct zbs_rpc_client c;
	bool summary = false, dry = false;
	uint64_t v;
	int st, ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			dry = true;
			break;
		case 'x':
			if (zc_opt_u64("--max", optarg, 1, 100000, &v))
				return ZBSCTL_USAGE;
			req.max_moves = (uint32_t)v;
			break;
		case 's':
			summary = true;
			break;
		case 'a':
			req.apply = true;
			break;
		case 'r':
			if (zc_opt_u64("--moves-per-hour", optarg, 1, 1000000, &v))
				return ZBSCTL_USAGE;
			req.moves_per_hour = (uint32_t)v;
			break;
		case 'h':
			usage(stdout);
			return ZBSCTL_OK;
		default:
			usage(stderr);
			return ZBSCTL_USAGE;
		}
	}
	if (optind != argc) {
		zbsctl_err("migrate plan: unexpected argument '%s'", argv[optind]);
		return ZBSCTL_USAGE;
	}
	if (dry && req.apply) {
		zbsctl_err("migrate plan: --dry-run and --apply exclude each other");
		return ZBSCTL_USAGE;
	}
	if (req.moves_per_hour && !req.apply) {
		zbsctl_err("migrate plan: --moves-per-hour goes with --apply");
		return ZBSCTL_USAGE;
	}
	if ((st = zc_connect(o, &c)))
		return st;
	c.timeout_ms = 600000;	/* meta plans a slice at a time between other work */
	st = zc_call(&c, ZBS_M_MIGRATE_PLAN, &req, &zbs__migrate_plan_response__descriptor, &r);
	zbs_rpc_close(&c);
	if (st)
		return st;
	if (o->json)
		print_json(r, summary);
	else
		print_text(r, summary);
	zbs__migrate_plan_response__free_unpacked(r, NULL);
	return ZBSCTL_OK;
}

static int migrate_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	if (argc < 2 || zbsctl_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? ZBSCTL_USAGE : ZBSCTL_OK;
	}
	if (strcmp(argv[1], "plan") == 0)
		return plan(o, argc - 1, argv + 1);
	if (strcmp(argv[1], "create") == 0) {
		for (int k = 2; k < argc; k++)
			if (zbsctl_is_help(argv[k])) {
				usage(stdout);
				return ZBSCTL_OK;
			}
		return zc_migrate_create(o, argc, argv);
	}
	zbsctl_err("unknown migrate verb '%s'; see 'zbsctl migrate --help'", argv[1]);
	return ZBSCTL_USAGE;
}

static struct zbsctl_object migrate_obj = {
	.name = "migrate",
	.summary = "move replicas: by hand (create), or see rebalance's plan",
	.run = migrate_run,
};
ZBSCTL_OBJECT(migrate_obj)
