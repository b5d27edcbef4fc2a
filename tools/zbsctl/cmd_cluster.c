// SPDX-License-Identifier: GPL-2.0
/* zbsctl cluster load: space and load level per chunk and of the cluster */
#include <stdio.h>
#include <string.h>

#include "meta_client.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zbsctl [--json] cluster VERB\n"
		"\n"
		"  load    per chunk: allocated over valid space (the load ratio) and its\n"
		"          level, allocated split into thin (last report), new thin (an\n"
		"          extent per thin pextent created since), thick, reserve and rx\n"
		"          (recover/migrate destinations); then the cluster's ratio and\n"
		"          level. Levels start at the thresholds shown (SPEC 6.2): low,\n"
		"          medium, high, very high; a chunk past the last is super high.\n");
}

static int load(const struct zbsctl_opts *o)
{
	Zbs__Empty req = ZBS__EMPTY__INIT;
	Zbs__ClusterLoadResponse *r;
	struct zbs_rpc_client c;
	int st;

	if ((st = zc_connect(o, &c)))
		return st;
	st = zc_call(&c, ZBS_M_CLUSTER_LOAD, &req, &zbs__cluster_load_response__descriptor, &r);
	zbs_rpc_close(&c);
	if (st)
		return st;
	if (o->json) {
		struct json_object *j = json_object_new_object(), *a = json_object_new_array();
		struct json_object *t = json_object_new_object();

		for (size_t i = 0; i < r->n_chunks; i++) {
			const Zbs__ChunkLoad *l = r->chunks[i];
			struct json_object *x = json_object_new_object();

			json_object_object_add(x, "cid", json_object_new_int(l->cid));
			json_object_object_add(x, "healthy", json_object_new_boolean(l->healthy));
			json_object_object_add(x, "failslow", json_object_new_boolean(l->failslow));
			json_object_object_add(x, "valid", json_object_new_uint64(l->valid));
			json_object_object_add(x, "used", json_object_new_uint64(l->used));
			json_object_object_add(x, "allocated", json_object_new_uint64(l->allocated));
			json_object_object_add(x, "thin", json_object_new_uint64(l->thin));
			json_object_object_add(x, "new_thin", json_object_new_uint64(l->new_thin));
			json_object_object_add(x, "thick", json_object_new_uint64(l->thick));
			json_object_object_add(x, "reserve", json_object_new_uint64(l->reserve));
			json_object_object_add(x, "rx", json_object_new_uint64(l->rx));
			json_object_object_add(x, "ratio", json_object_new_double(l->ratio_permille / 1000.0));
			json_object_object_add(x, "level", json_object_new_string(l->level));
			json_object_object_add(x, "zone", json_object_new_uint64(l->zone));
			json_object_object_add(x, "rack", json_object_new_uint64(l->rack));
			json_object_object_add(x, "brick", json_object_new_uint64(l->brick));
			json_object_array_add(a, x);
		}
		json_object_object_add(j, "chunks", a);
		json_object_object_add(j, "valid", json_object_new_uint64(r->valid));
		json_object_object_add(j, "allocated", json_object_new_uint64(r->allocated));
		json_object_object_add(j, "ratio", json_object_new_double(r->ratio_permille / 1000.0));
		json_object_object_add(j, "level", json_object_new_string(r->level));
		json_object_object_add(t, "medium", json_object_new_double(r->medium_permille / 1000.0));
		json_object_object_add(t, "high", json_object_new_double(r->high_permille / 1000.0));
		json_object_object_add(t, "very_high", json_object_new_double(r->very_high_permille / 1000.0));
		json_object_object_add(t, "super_high", json_object_new_double(r->super_high_permille / 1000.0));
		json_object_object_add(j, "thresholds", t);
		zc_print_json(j);
	} else {
		char b[8][24];

		printf("%4s %-8s %10s %10s %10s %10s %10s %10s %7s %-10s\n", "CID", "STATE", "VALID",
		       "ALLOCATED", "THIN", "NEW THIN", "THICK", "RX", "RATIO", "LEVEL");
		for (size_t i = 0; i < r->n_chunks; i++) {
			const Zbs__ChunkLoad *l = r->chunks[i];

			printf("%4u %-8s %10s %10s %10s %10s %10s %10s %7s %-10s\n", l->cid,
			       !l->healthy ? "down" : l->failslow ? "failslow" : "healthy",
			       zc_size(l->valid, b[0], sizeof(b[0])),
			       zc_size(l->allocated, b[1], sizeof(b[1])),
			       zc_size(l->thin, b[2], sizeof(b[2])),
			       zc_size(l->new_thin, b[3], sizeof(b[3])),
			       zc_size(l->thick, b[4], sizeof(b[4])),
			       zc_size(l->rx + l->reserve, b[5], sizeof(b[5])),
			       zc_permille(l->ratio_permille, b[6], sizeof(b[6])), l->level);
		}
		printf("cluster: %s allocated of %s valid (%s), level %s\n",
		       zc_size(r->allocated, b[0], sizeof(b[0])), zc_size(r->valid, b[1], sizeof(b[1])),
		       zc_permille(r->ratio_permille, b[2], sizeof(b[2])), r->level);
		printf("levels: medium from %s, high from %s, very high from %s, super high (a chunk) from %s\n",
		       zc_permille(r->medium_permille, b[3], sizeof(b[3])),
		       zc_permille(r->high_permille, b[4], sizeof(b[4])),
		       zc_permille(r->very_high_permille, b[5], sizeof(b[5])),
		       zc_permille(r->super_high_permille, b[6], sizeof(b[6])));
	}
	zbs__cluster_load_response__free_unpacked(r, NULL);
	return ZBSCTL_OK;
}

static int cluster_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	if (argc < 2 || zbsctl_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? ZBSCTL_USAGE : ZBSCTL_OK;
	}
	if (strcmp(argv[1], "load") == 0) {
		if (argc > 2 && zbsctl_is_help(argv[2])) {
			usage(stdout);
			return ZBSCTL_OK;
		}
		if (argc != 2) {
			zbsctl_err("cluster load takes no arguments");
			return ZBSCTL_USAGE;
		}
		return load(o);
	}
	zbsctl_err("unknown cluster verb '%s'; see 'zbsctl cluster --help'", argv[1]);
	return ZBSCTL_USAGE;
}

static struct zbsctl_object cluster_obj = {
	.name = "cluster",
	.summary = "cluster-wide state: load",
	.run = cluster_run,
};
ZBSCTL_OBJECT(cluster_obj)
