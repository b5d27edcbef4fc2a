// SPDX-License-Identifier: GPL-2.0
/* zbsctl volume create|list|show|resize|delete */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "meta_client.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zbsctl [--json] volume VERB [ARGS]\n"
		"\n"
		"  create NAME SIZE [--replica N] [--thin|--thick] [--stripe-num N]\n"
		"         [--stripe-size SIZE] [--prefer-cid CID] [--iops N] [--bps SIZE]\n"
		"         [--iops-burst N] [--bps-burst SIZE] [--even]\n"
		"                       create a volume (default: 2 replicas, thin,\n"
		"                       1 stripe of 256K); SIZE takes units: 10G, 512M.\n"
		"                       --even: spread its replicas evenly over the chunks\n"
		"                       (templates, much-cloned images: SPEC 6.8), not\n"
		"                       near the prefer cid; rebalance keeps it even\n"
		"  list                 all volumes\n"
		"  show VOLUME [--pextents]\n"
		"                       one volume (by name or id), optionally its extents\n"
		"  resize VOLUME SIZE   grow a volume\n"
		"  delete VOLUME        delete a volume; its extents are garbage-collected\n");
}

static struct json_object *vol_json(const Zbs__Volume *v)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "id", json_object_new_string(v->id));
	json_object_object_add(j, "name", json_object_new_string(v->name));
	json_object_object_add(j, "size", json_object_new_uint64(v->size));
	json_object_object_add(j, "replica_num", json_object_new_int(v->replica_num));
	json_object_object_add(j, "stripe_num", json_object_new_int(v->stripe_num));
	json_object_object_add(j, "stripe_size", json_object_new_int(v->stripe_size));
	json_object_object_add(j, "thin", json_object_new_boolean(v->thin));
	json_object_object_add(j, "prefer_cid", json_object_new_int(v->prefer_cid));
	json_object_object_add(j, "even", json_object_new_boolean(v->even));
	json_object_object_add(j, "iops", json_object_new_uint64(v->iops));
	json_object_object_add(j, "bps", json_object_new_uint64(v->bps));
	json_object_object_add(j, "iops_burst", json_object_new_uint64(v->iops_burst));
	json_object_object_add(j, "bps_burst", json_object_new_uint64(v->bps_burst));
	json_object_object_add(j, "created_ns", json_object_new_uint64(v->created_ns));
	json_object_object_add(j, "vextents", json_object_new_int(v->vextents));
	json_object_object_add(j, "allocated_pextents", json_object_new_int(v->allocated_pextents));
	json_object_object_add(j, "read_bytes_local", json_object_new_uint64(v->read_bytes_local));
	json_object_object_add(j, "read_bytes_remote", json_object_new_uint64(v->read_bytes_remote));
	return j;
}

struct json_object *zc_pextent_json(const Zbs__PExtent *p);
struct json_object *zc_pextent_json(const Zbs__PExtent *p)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "pid", json_object_new_uint64(p->pid));
	json_object_object_add(j, "epoch", json_object_new_uint64(p->epoch));
	json_object_object_add(j, "location", json_object_new_int64(p->location));
	json_object_object_add(j, "alive_location", json_object_new_int64(p->alive_location));
	json_object_object_add(j, "meta_gen", json_object_new_uint64(p->meta_gen));
	json_object_object_add(j, "ever_exist", json_object_new_boolean(p->ever_exist));
	json_object_object_add(j, "expected_replica_num", json_object_new_int(p->expected_replica_num));
	json_object_object_add(j, "thin", json_object_new_boolean(p->thin));
	json_object_object_add(j, "preferred_cid", json_object_new_int(p->preferred_cid));
	json_object_object_add(j, "origin_pid", json_object_new_uint64(p->origin_pid));
	json_object_object_add(j, "origin_epoch", json_object_new_uint64(p->origin_epoch));
	json_object_object_add(j, "owner_session", json_object_new_uint64(p->owner_session));
	json_object_object_add(j, "owner_cid", json_object_new_int(p->owner_cid));
	json_object_object_add(j, "lease_epoch", json_object_new_uint64(p->lease_epoch));
	json_object_object_add(j, "volume_id", json_object_new_string(p->volume_id));
	json_object_object_add(j, "vextent_no", json_object_new_int(p->vextent_no));
	return j;
}

static void vol_print(const Zbs__Volume *v)
{
	char sz[32], b[32];

	printf("id:           %s\n", v->id);
	printf("name:         %s\n", v->name);
	printf("size:         %s (%llu bytes)\n", zc_size(v->size, sz, sizeof(sz)),
	       (unsigned long long)v->size);
	printf("replica_num:  %u\n", v->replica_num);
	printf("provisioning: %s\n", v->thin ? "thin" : "thick");
	printf("stripe:       %u x %s\n", v->stripe_num, zc_size(v->stripe_size, b, sizeof(b)));
	printf("prefer_cid:   %u\n", v->prefer_cid);
	printf("distribution: %s\n", v->even ? "even (prefer cid ignored)" : "localized");
	printf("throttling:   iops %llu (burst %llu), bps %llu (burst %llu)\n",
	       (unsigned long long)v->iops, (unsigned long long)v->iops_burst,
	       (unsigned long long)v->bps, (unsigned long long)v->bps_burst);
	printf("extents:      %u allocated of %u\n", v->allocated_pextents, v->vextents);
	if (v->read_bytes_local + v->read_bytes_remote) {
		uint64_t all = v->read_bytes_local + v->read_bytes_remote;

		printf("reads local:  %.1f%% (%s of %s read since attach, on the hosts it is "
		       "attached on)\n", 100.0 * (double)v->read_bytes_local / (double)all,
		       zc_size(v->read_bytes_local, sz, sizeof(sz)), zc_size(all, b, sizeof(b)));
	} else {
		printf("reads local:  - (nothing read, or not attached)\n");
	}
}

static int v_create(const struct zbsctl_opts *o, struct zbs_rpc_client *c, int argc, char **argv)
{
	enum { O_THIN = 256, O_THICK, O_SNUM, O_SSIZE, O_PREFER, O_IOPS, O_BPS, O_IOPSB, O_BPSB,
	       O_EVEN };
	static const struct option lo[] = {
		{ "replica", required_argument, NULL, 'r' },
		{ "thin", no_argument, NULL, O_THIN },
		{ "thick", no_argument, NULL, O_THICK },
		{ "stripe-num", required_argument, NULL, O_SNUM },
		{ "stripe-size", required_argument, NULL, O_SSIZE },
		{ "prefer-cid", required_argument, NULL, O_PREFER },
		{ "iops", required_argument, NULL, O_IOPS },
		{ "bps", required_argument, NULL, O_BPS },
		{ "iops-burst", required_argument, NULL, O_IOPSB },
		{ "bps-burst", required_argument, NULL, O_BPSB },
		{ "even", no_argument, NULL, O_EVEN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Zbs__VolumeCreateRequest req = ZBS__VOLUME_CREATE_REQUEST__INIT;
	Zbs__Volume v = ZBS__VOLUME__INIT;
	Zbs__VolumeResponse *resp;
	uint64_t x;
	int ch, st;

	v.replica_num = 2;
	v.thin = 1;
	v.stripe_num = 1;
	v.stripe_size = 256 << 10;
	optind = 0;	/* glibc: 0 also resets the permutation state */
	while ((ch = getopt_long(argc, argv, "r:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'r':
			if (zc_opt_u64("--replica", optarg, 1, 3, &x))
				return ZBSCTL_USAGE;
			v.replica_num = x;
			break;
		case O_THIN: v.thin = 1; break;
		case O_THICK: v.thin = 0; break;
		case O_EVEN: v.even = 1; break;
		case O_SNUM:
			if (zc_opt_u64("--stripe-num", optarg, 1, 64, &x))
				return ZBSCTL_USAGE;
			v.stripe_num = x;
			break;
		case O_SSIZE:
			if (zc_opt_size("--stripe-size", optarg, &x))
				return ZBSCTL_USAGE;
			if (x < 4096 || x > (256 << 20) || (x & (x - 1))) {
				zbsctl_err("--stripe-size %s: want a power of two from 4K to 256M", optarg);
				return ZBSCTL_USAGE;
			}
			v.stripe_size = x;
			break;
		case O_PREFER:
			if (zc_opt_u64("--prefer-cid", optarg, 0, 255, &x))
				return ZBSCTL_USAGE;
			v.prefer_cid = x;
			break;
		case O_IOPS:
		case O_IOPSB:
			if (zc_opt_u64(ch == O_IOPS ? "--iops" : "--iops-burst", optarg, 0, UINT64_MAX, &x))
				return ZBSCTL_USAGE;
			*(ch == O_IOPS ? &v.iops : &v.iops_burst) = x;
			break;
		case O_BPS:
		case O_BPSB:
			if (zc_opt_size(ch == O_BPS ? "--bps" : "--bps-burst", optarg, &x))
				return ZBSCTL_USAGE;
			*(ch == O_BPS ? &v.bps : &v.bps_burst) = x;
			break;
		case 'h':
			usage(stdout);
			return ZBSCTL_OK;
		default:
			return ZBSCTL_USAGE;
		}
	}
	if (argc - optind != 2) {
		zbsctl_err("volume create needs NAME and SIZE; see 'zbsctl volume --help'");
		return ZBSCTL_USAGE;
	}
	v.name = argv[optind];
	if (zc_opt_size("SIZE", argv[optind + 1], &v.size))
		return ZBSCTL_USAGE;
	if (v.size == 0 || v.size % 512) {
		zbsctl_err("SIZE %s is not a positive multiple of the sector size (512)",
			   argv[optind + 1]);
		return ZBSCTL_USAGE;
	}
	req.volume = &v;
	st = zc_call(c, ZBS_M_VOLUME_CREATE, &req, &zbs__volume_response__descriptor, &resp);
	if (st)
		return st;
	if (o->json)
		zc_print_json(vol_json(resp->volume));
	else
		printf("created volume %s (%s)\n", resp->volume->name, resp->volume->id);
	zbs__volume_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int v_list(const struct zbsctl_opts *o, struct zbs_rpc_client *c, int argc, char **argv)
{
	Zbs__Empty req = ZBS__EMPTY__INIT;
	Zbs__VolumeListResponse *resp;
	int st;

	if (argc > 1) {
		zbsctl_err("volume list takes no arguments");
		return ZBSCTL_USAGE;
	}
	st = zc_call(c, ZBS_M_VOLUME_LIST, &req, &zbs__volume_list_response__descriptor, &resp);
	if (st)
		return st;
	if (o->json) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < resp->n_volumes; i++)
			json_object_array_add(a, vol_json(resp->volumes[i]));
		zc_print_json(a);
	} else {
		printf("%-20s %-36s %10s %7s %5s %9s\n", "NAME", "ID", "SIZE", "REPLICA",
		       "TYPE", "EXTENTS");
		for (size_t i = 0; i < resp->n_volumes; i++) {
			const Zbs__Volume *v = resp->volumes[i];
			char sz[32];
			printf("%-20s %-36s %10s %7u %5s %4u/%-4u\n", v->name, v->id,
			       zc_size(v->size, sz, sizeof(sz)), v->replica_num,
			       v->thin ? "thin" : "thick", v->allocated_pextents, v->vextents);
		}
	}
	zbs__volume_list_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int v_show(const struct zbsctl_opts *o, struct zbs_rpc_client *c, int argc, char **argv)
{
	Zbs__VolumeShowRequest req = ZBS__VOLUME_SHOW_REQUEST__INIT;
	Zbs__VolumeShowResponse *resp;
	int st;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pextents") == 0)
			req.pextents = 1;
		else if (argv[i][0] == '-') {
			zbsctl_err("volume show: unknown option '%s'", argv[i]);
			return ZBSCTL_USAGE;
		} else if (req.volume[0]) {
			zbsctl_err("volume show takes one VOLUME");
			return ZBSCTL_USAGE;
		} else
			req.volume = argv[i];
	}
	if (!req.volume[0]) {
		zbsctl_err("volume show needs a VOLUME (name or id)");
		return ZBSCTL_USAGE;
	}
	st = zc_call(c, ZBS_M_VOLUME_SHOW, &req, &zbs__volume_show_response__descriptor, &resp);
	if (st)
		return st;
	if (o->json) {
		struct json_object *j = vol_json(resp->volume);
		if (req.pextents) {
			struct json_object *a = json_object_new_array();
			for (size_t i = 0; i < resp->n_pextents; i++)
				json_object_array_add(a, zc_pextent_json(resp->pextents[i]));
			json_object_object_add(j, "pextents", a);
		}
		zc_print_json(j);
	} else {
		vol_print(resp->volume);
		if (req.pextents) {
			printf("\n%6s %10s %10s %10s %12s %6s %5s %8s %6s %11s\n", "VEXT", "PID",
			       "LOC", "ALIVE", "EPOCH", "GEN", "EVER", "EXPECTED", "OWNER",
			       "LEASE_EPOCH");
			for (size_t i = 0; i < resp->n_pextents; i++) {
				const Zbs__PExtent *p = resp->pextents[i];
				char l[32], a[32];
				printf("%6u %10llu %10s %10s %12llu %6llu %5s %8u %6u %11llu\n",
				       p->vextent_no, (unsigned long long)p->pid,
				       zc_loc(p->location, l, sizeof(l)),
				       zc_loc(p->alive_location, a, sizeof(a)),
				       (unsigned long long)p->epoch, (unsigned long long)p->meta_gen,
				       p->ever_exist ? "yes" : "no", p->expected_replica_num,
				       p->owner_cid, (unsigned long long)p->lease_epoch);
			}
		}
	}
	zbs__volume_show_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int v_resize(const struct zbsctl_opts *o, struct zbs_rpc_client *c, int argc, char **argv)
{
	Zbs__VolumeResizeRequest req = ZBS__VOLUME_RESIZE_REQUEST__INIT;
	Zbs__VolumeResponse *resp;
	int st;

	if (argc != 3) {
		zbsctl_err("volume resize needs VOLUME and SIZE");
		return ZBSCTL_USAGE;
	}
	req.volume = argv[1];
	if (zc_opt_size("SIZE", argv[2], &req.size))
		return ZBSCTL_USAGE;
	if (req.size % 512) {
		zbsctl_err("SIZE %s is not a multiple of the sector size (512)", argv[2]);
		return ZBSCTL_USAGE;
	}
	st = zc_call(c, ZBS_M_VOLUME_RESIZE, &req, &zbs__volume_response__descriptor, &resp);
	if (st)
		return st;
	if (o->json) {
		zc_print_json(vol_json(resp->volume));
	} else {
		char sz[32];
		printf("volume %s resized to %s\n", resp->volume->name,
		       zc_size(resp->volume->size, sz, sizeof(sz)));
	}
	zbs__volume_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int v_delete(const struct zbsctl_opts *o, struct zbs_rpc_client *c, int argc, char **argv)
{
	Zbs__VolumeRef req = ZBS__VOLUME_REF__INIT;
	int st;

	if (argc != 2) {
		zbsctl_err("volume delete needs one VOLUME");
		return ZBSCTL_USAGE;
	}
	req.volume = argv[1];
	st = zc_call(c, ZBS_M_VOLUME_DELETE, &req, &zbs__empty__descriptor, NULL);
	if (st)
		return st;
	if (o->json) {
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "deleted", json_object_new_string(argv[1]));
		zc_print_json(j);
	} else {
		printf("deleted volume %s\n", argv[1]);
	}
	return ZBSCTL_OK;
}

static int volume_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct zbsctl_opts *, struct zbs_rpc_client *, int, char **);
	} verbs[] = {
		{ "create", v_create }, { "list", v_list }, { "show", v_show },
		{ "resize", v_resize }, { "delete", v_delete },
	};
	struct zbs_rpc_client c;
	int st;

	if (argc < 2 || zbsctl_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? ZBSCTL_USAGE : ZBSCTL_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[1], verbs[i].name))
			continue;
		for (int k = 2; k < argc; k++) {
			if (zbsctl_is_help(argv[k])) {
				usage(stdout);
				return ZBSCTL_OK;
			}
		}
		st = zc_connect(o, &c);
		if (st)
			return st;
		st = verbs[i].fn(o, &c, argc - 1, argv + 1);
		zbs_rpc_close(&c);
		return st;
	}
	zbsctl_err("unknown volume verb '%s'; see 'zbsctl volume --help'", argv[1]);
	return ZBSCTL_USAGE;
}

static struct zbsctl_object volume_obj = {
	.name = "volume",
	.summary = "create, list, show, resize and delete volumes (zbs-metad)",
	.run = volume_run,
};
ZBSCTL_OBJECT(volume_obj)
