// SPDX-License-Identifier: GPL-2.0
/* zbsctl topo list|create|move: zone > rack > brick > node (chunk) */
#include <stdio.h>
#include <string.h>

#include "meta_client.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zbsctl [--json] topo VERB [ARGS]\n"
		"\n"
		"  list                          topology objects (zone > rack > brick)\n"
		"  create zone|rack|brick NAME [--parent ID]\n"
		"                                create one (a zone's parent is the root;\n"
		"                                racks go in zones, bricks in racks)\n"
		"  move chunk CID BRICK_ID       move a chunk's node under a brick\n"
		"  move ID PARENT_ID             move a rack or brick\n");
}

static const char *type_name(int t)
{
	static const char *const n[] = { "none", "zone", "rack", "brick", "node" };
	return t >= 0 && t < 5 ? n[t] : "?";
}

static int topo_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	struct zbs_rpc_client c;
	int st;

	if (argc < 2 || zbsctl_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? ZBSCTL_USAGE : ZBSCTL_OK;
	}
	for (int i = 2; i < argc; i++)
		if (zbsctl_is_help(argv[i])) {
			usage(stdout);
			return ZBSCTL_OK;
		}
	if (strcmp(argv[1], "list") == 0) {
		Zbs__Empty req = ZBS__EMPTY__INIT;
		Zbs__TopoListResponse *resp;
		if (argc != 2) {
			zbsctl_err("topo list takes no arguments");
			return ZBSCTL_USAGE;
		}
		if ((st = zc_connect(o, &c)))
			return st;
		st = zc_call(&c, ZBS_M_TOPO_LIST, &req, &zbs__topo_list_response__descriptor, &resp);
		zbs_rpc_close(&c);
		if (st)
			return st;
		if (o->json) {
			struct json_object *a = json_object_new_array();
			for (size_t i = 0; i < resp->n_objs; i++) {
				struct json_object *j = json_object_new_object();
				json_object_object_add(j, "id", json_object_new_uint64(resp->objs[i]->id));
				json_object_object_add(j, "type", json_object_new_string(type_name(resp->objs[i]->type)));
				json_object_object_add(j, "name", json_object_new_string(resp->objs[i]->name));
				json_object_object_add(j, "parent_id", json_object_new_uint64(resp->objs[i]->parent_id));
				json_object_array_add(a, j);
			}
			zc_print_json(a);
		} else {
			printf("%6s %-6s %-24s %6s\n", "ID", "TYPE", "NAME", "PARENT");
			for (size_t i = 0; i < resp->n_objs; i++)
				printf("%6llu %-6s %-24s %6llu\n", (unsigned long long)resp->objs[i]->id,
				       type_name(resp->objs[i]->type), resp->objs[i]->name,
				       (unsigned long long)resp->objs[i]->parent_id);
		}
		zbs__topo_list_response__free_unpacked(resp, NULL);
		return ZBSCTL_OK;
	}
	if (strcmp(argv[1], "create") == 0) {
		Zbs__TopoCreateRequest req = ZBS__TOPO_CREATE_REQUEST__INIT;
		Zbs__TopoCreateResponse *resp;
		uint64_t parent = 0;
		int t;
		if (argc != 4 && !(argc == 6 && strcmp(argv[4], "--parent") == 0)) {
			zbsctl_err("usage: zbsctl topo create zone|rack|brick NAME [--parent ID]");
			return ZBSCTL_USAGE;
		}
		for (t = 1; t <= 3 && strcmp(argv[2], type_name(t)); t++)
			;
		if (t > 3) {
			zbsctl_err("topology type '%s': want zone, rack or brick", argv[2]);
			return ZBSCTL_USAGE;
		}
		if (argc == 6 && zc_opt_u64("--parent", argv[5], 0, UINT64_MAX, &parent))
			return ZBSCTL_USAGE;
		req.type = t;
		req.name = argv[3];
		req.parent_id = parent;
		if ((st = zc_connect(o, &c)))
			return st;
		st = zc_call(&c, ZBS_M_TOPO_CREATE, &req, &zbs__topo_create_response__descriptor, &resp);
		zbs_rpc_close(&c);
		if (st)
			return st;
		if (o->json) {
			struct json_object *j = json_object_new_object();
			json_object_object_add(j, "id", json_object_new_uint64(resp->obj->id));
			json_object_object_add(j, "type", json_object_new_string(type_name(resp->obj->type)));
			json_object_object_add(j, "name", json_object_new_string(resp->obj->name));
			json_object_object_add(j, "parent_id", json_object_new_uint64(resp->obj->parent_id));
			zc_print_json(j);
		} else {
			printf("created %s %s (id %llu)\n", type_name(resp->obj->type), resp->obj->name,
			       (unsigned long long)resp->obj->id);
		}
		zbs__topo_create_response__free_unpacked(resp, NULL);
		return ZBSCTL_OK;
	}
	if (strcmp(argv[1], "move") == 0) {
		Zbs__TopoMoveRequest req = ZBS__TOPO_MOVE_REQUEST__INIT;
		uint64_t x, p;
		bool chunk = argc == 5 && strcmp(argv[2], "chunk") == 0;
		if (!chunk && argc != 4) {
			zbsctl_err("usage: zbsctl topo move chunk CID BRICK_ID | topo move ID PARENT_ID");
			return ZBSCTL_USAGE;
		}
		if (zc_opt_u64(chunk ? "CID" : "ID", argv[chunk ? 3 : 2], 1,
			       chunk ? 255 : UINT64_MAX, &x) ||
		    zc_opt_u64("PARENT", argv[chunk ? 4 : 3], 0, UINT64_MAX, &p))
			return ZBSCTL_USAGE;
		if (chunk)
			req.cid = x;
		else
			req.id = x;
		req.new_parent_id = p;
		if ((st = zc_connect(o, &c)))
			return st;
		st = zc_call(&c, ZBS_M_TOPO_MOVE, &req, &zbs__empty__descriptor, NULL);
		zbs_rpc_close(&c);
		if (st)
			return st;
		if (o->json)
			printf("{ \"moved\": %llu, \"parent_id\": %llu }\n", (unsigned long long)x,
			       (unsigned long long)p);
		else
			printf("moved %s %llu under %llu\n", chunk ? "chunk" : "object",
			       (unsigned long long)x, (unsigned long long)p);
		return ZBSCTL_OK;
	}
	zbsctl_err("unknown topo verb '%s'; see 'zbsctl topo --help'", argv[1]);
	return ZBSCTL_USAGE;
}

static struct zbsctl_object topo_obj = {
	.name = "topo",
	.summary = "topology: zones, racks, bricks; move chunks (zbs-metad)",
	.run = topo_run,
};
ZBSCTL_OBJECT(topo_obj)
