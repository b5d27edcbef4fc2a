// SPDX-License-Identifier: GPL-2.0
/* zbsctl chunk list|show|maintenance, zbsctl session list, zbsctl lease show */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

#include "location.h"
#include "meta_client.h"

static struct json_object *chunk_json(const Zbs__Chunk *c)
{
	struct json_object *j = json_object_new_object(), *s = json_object_new_object();

	json_object_object_add(j, "cid", json_object_new_int(c->cid));
	json_object_object_add(j, "uuid", json_object_new_string(c->uuid));
	json_object_object_add(j, "data_ip", json_object_new_string(c->data_ip));
	json_object_object_add(j, "data_port", json_object_new_int(c->data_port));
	json_object_object_add(j, "rpc_ip", json_object_new_string(c->rpc_ip));
	json_object_object_add(j, "rpc_port", json_object_new_int(c->rpc_port));
	json_object_object_add(j, "status", json_object_new_string(zc_chunk_status(c->status)));
	json_object_object_add(j, "topo_id", json_object_new_uint64(c->topo_id));
	json_object_object_add(j, "registered_ns", json_object_new_uint64(c->registered_ns));
	json_object_object_add(j, "session_id", json_object_new_uint64(c->session_id));
	json_object_object_add(j, "capabilities", json_object_new_uint64(c->capabilities));
	json_object_object_add(j, "maintenance", json_object_new_boolean(c->maintenance_until_ns));
	json_object_object_add(j, "maintenance_until_ns",
			       json_object_new_uint64(c->maintenance_until_ns));
	json_object_object_add(j, "removing", json_object_new_boolean(c->removing));
	json_object_object_add(j, "failslow", json_object_new_boolean(c->failslow));
	if (c->removing)
		json_object_object_add(j, "pids_left", json_object_new_uint64(
			c->space ? (uint64_t)c->space->thick_pids + c->space->thin_pids : 0));
	if (c->space) {
		json_object_object_add(s, "total", json_object_new_uint64(c->space->total));
		json_object_object_add(s, "valid", json_object_new_uint64(c->space->valid));
		json_object_object_add(s, "used", json_object_new_uint64(c->space->used));
		json_object_object_add(s, "thin_used", json_object_new_uint64(c->space->thin_used));
		json_object_object_add(s, "allocated", json_object_new_uint64(c->space->allocated));
		json_object_object_add(s, "thick_pids", json_object_new_int(c->space->thick_pids));
		json_object_object_add(s, "thin_pids", json_object_new_int(c->space->thin_pids));
	}
	json_object_object_add(j, "space", s);
	return j;
}

static uint64_t pids_on(const Zbs__Chunk *c)
{
	return c->space ? (uint64_t)c->space->thick_pids + c->space->thin_pids : 0;
}

/* "removing (12 pids left)", "maintenance until 2026-12-01 01:45:00 UTC",
 * "failslow (its replicas move off)", "-" */
static const char *chunk_mode(const Zbs__Chunk *c, char *buf, size_t len)
{
	time_t t = (time_t)(c->maintenance_until_ns / 1000000000ULL);
	struct tm tm;

	if (c->removing) {
		if (pids_on(c))
			snprintf(buf, len, "removing (%llu pids left)",
				 (unsigned long long)pids_on(c));
		else
			snprintf(buf, len, "removing (drained%s)",
				 c->status == ZBS__CHUNK_STATUS__CHUNK_STATUS_CONNECTED_HEALTHY ?
				 ": stop its zbs-chunkd" : "");
		return buf;
	}
	if (!c->maintenance_until_ns)
		return c->failslow ? "failslow (its replicas move off)" : "-";
	gmtime_r(&t, &tm);
	strftime(buf, len, "maintenance until %Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

static void chunk_usage(FILE *f)
{
	fprintf(f, "Usage: zbsctl [--json] chunk list\n"
		   "       zbsctl [--json] chunk show CID\n"
		   "       zbsctl [--json] chunk maintenance CID on [--expire DURATION]\n"
		   "       zbsctl [--json] chunk maintenance CID off\n"
		   "       zbsctl [--json] chunk remove CID [--cancel]\n\n"
		   "Chunks registered with zbs-metad: id, identity, addresses, status, space.\n\n"
		   "maintenance on: the chunk's leases are revoked, it takes no new replica,\n"
		   "and the recovery of its replicas elsewhere waits until the maintenance\n"
		   "ends: off, or its expiry (DURATION: 90s, 30m, 2h, 1d; default 1h, at\n"
		   "most 7d). On again sets a new expiry.\n\n"
		   "remove: the chunk takes no new replica and every replica on it migrates\n"
		   "to another chunk (a copy first, so redundancy never drops); run it again\n"
		   "to see the pids left. Once drained, stop its zbs-chunkd: the chunk is then\n"
		   "forgotten (its cid is not reused). Refused when its replicas cannot all go\n"
		   "elsewhere (too few chunks or too little space). --cancel stops it.\n");
}

static int chunk_remove(const struct zbsctl_opts *o, int argc, char **argv)
{
	Zbs__ChunkRemoveRequest req = ZBS__CHUNK_REMOVE_REQUEST__INIT;
	Zbs__ChunkRemoveResponse *resp;
	struct zbs_rpc_client c;
	uint64_t cid;
	char mode[64];
	int st;

	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "--cancel") == 0)) {
		zbsctl_err("usage: zbsctl chunk remove CID [--cancel]");
		return ZBSCTL_USAGE;
	}
	if (zc_opt_u64("CID", argv[2], 1, 255, &cid))
		return ZBSCTL_USAGE;
	req.cid = cid;
	req.cancel = argc == 4;
	if ((st = zc_connect(o, &c)))
		return st;
	st = zc_call(&c, ZBS_M_CHUNK_REMOVE, &req, &zbs__chunk_remove_response__descriptor, &resp);
	zbs_rpc_close(&c);
	if (st)
		return st;
	if (o->json) {
		struct json_object *j = chunk_json(resp->chunk);
		json_object_object_add(j, "pids_left", json_object_new_uint64(resp->pids_left));
		zc_print_json(j);
	} else if (resp->removing) {
		printf("chunk %u: %s\n", resp->chunk->cid, chunk_mode(resp->chunk, mode, sizeof(mode)));
	} else {
		printf("chunk %u: not being removed (%llu pids on it)\n", resp->chunk->cid,
		       (unsigned long long)resp->pids_left);
	}
	zbs__chunk_remove_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int chunk_maintenance(const struct zbsctl_opts *o, int argc, char **argv)
{
	Zbs__ChunkMaintenanceRequest req = ZBS__CHUNK_MAINTENANCE_REQUEST__INIT;
	Zbs__ChunkMaintenanceResponse *resp;
	struct zbs_rpc_client c;
	uint64_t cid, ms = 0;
	char mode[64];
	int st;

	if (argc != 4 && argc != 6) {
		zbsctl_err("usage: zbsctl chunk maintenance CID on|off [--expire DURATION]");
		return ZBSCTL_USAGE;
	}
	if (zc_opt_u64("CID", argv[2], 1, 255, &cid))
		return ZBSCTL_USAGE;
	if (strcmp(argv[3], "on") && strcmp(argv[3], "off")) {
		zbsctl_err("chunk maintenance: '%s': want on or off", argv[3]);
		return ZBSCTL_USAGE;
	}
	req.cid = cid;
	req.on = strcmp(argv[3], "on") == 0;
	if (argc == 6) {
		if (strcmp(argv[4], "--expire")) {
			zbsctl_err("chunk maintenance: unknown option '%s'", argv[4]);
			return ZBSCTL_USAGE;
		}
		if (!req.on) {
			zbsctl_err("chunk maintenance: --expire goes with on only");
			return ZBSCTL_USAGE;
		}
		if (zbs_parse_duration(argv[5], &ms) || ms < 1000) {
			zbsctl_err("--expire '%s': want a duration of at least 1s, e.g. 90s, 30m, "
				   "2h, 1d", argv[5]);
			return ZBSCTL_USAGE;
		}
		req.expire_ms = ms;
	}
	if ((st = zc_connect(o, &c)))
		return st;
	st = zc_call(&c, ZBS_M_CHUNK_MAINTENANCE, &req,
		     &zbs__chunk_maintenance_response__descriptor, &resp);
	zbs_rpc_close(&c);
	if (st)
		return st;
	if (o->json) {
		struct json_object *j = chunk_json(resp->chunk);
		json_object_object_add(j, "leases_revoked",
				       json_object_new_int(resp->leases_revoked));
		json_object_object_add(j, "cmds_revoked", json_object_new_int(resp->cmds_revoked));
		zc_print_json(j);
	} else if (req.on) {
		printf("chunk %u: %s; %u lease(s) and %u recover cmd(s) revoked\n", resp->chunk->cid,
		       chunk_mode(resp->chunk, mode, sizeof(mode)), resp->leases_revoked,
		       resp->cmds_revoked);
	} else {
		printf("chunk %u: maintenance off\n", resp->chunk->cid);
	}
	zbs__chunk_maintenance_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int chunk_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	Zbs__ListChunksRequest req = ZBS__LIST_CHUNKS_REQUEST__INIT;
	Zbs__ListChunksResponse *resp;
	struct zbs_rpc_client c;
	bool show;
	uint64_t cid = 0;
	int st;

	if (argc < 2 || zbsctl_is_help(argv[1]) || (argc > 2 && zbsctl_is_help(argv[2]))) {
		chunk_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? ZBSCTL_USAGE : ZBSCTL_OK;
	}
	if (strcmp(argv[1], "maintenance") == 0)
		return chunk_maintenance(o, argc, argv);
	if (strcmp(argv[1], "remove") == 0)
		return chunk_remove(o, argc, argv);
	show = strcmp(argv[1], "show") == 0;
	if (!show && strcmp(argv[1], "list")) {
		zbsctl_err("unknown chunk verb '%s'; see 'zbsctl chunk --help'", argv[1]);
		return ZBSCTL_USAGE;
	}
	if (show ? argc != 3 : argc != 2) {
		zbsctl_err(show ? "chunk show needs one CID" : "chunk list takes no arguments");
		return ZBSCTL_USAGE;
	}
	if (show && zc_opt_u64("CID", argv[2], 1, 255, &cid))
		return ZBSCTL_USAGE;
	req.cid = cid;
	if ((st = zc_connect(o, &c)))
		return st;
	st = zc_call(&c, ZBS_M_LIST_CHUNKS, &req, &zbs__list_chunks_response__descriptor, &resp);
	zbs_rpc_close(&c);
	if (st)
		return st;
	if (o->json) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < resp->n_chunks; i++)
			json_object_array_add(a, chunk_json(resp->chunks[i]));
		if (show) {
			struct json_object *one = json_object_get(json_object_array_get_idx(a, 0));
			json_object_put(a);
			a = one;
		}
		zc_print_json(a);
	} else if (show && resp->n_chunks) {
		const Zbs__Chunk *ch = resp->chunks[0];
		char b[4][32], md[64];
		printf("cid:          %u\nuuid:         %s\nstatus:       %s\n", ch->cid, ch->uuid,
		       zc_chunk_status(ch->status));
		printf("data:         %s:%u\nrpc:          %s:%u\n", ch->data_ip, ch->data_port,
		       ch->rpc_ip, ch->rpc_port);
		printf("topo parent:  %llu\nsession:      %llu\ncapabilities: 0x%llx\n",
		       (unsigned long long)ch->topo_id, (unsigned long long)ch->session_id,
		       (unsigned long long)ch->capabilities);
		printf("mode:         %s\n", chunk_mode(ch, md, sizeof(md)));
		if (ch->space)
			printf("space:        total %s, valid %s, used %s, allocated %s "
			       "(%u thick, %u thin pextents)\n",
			       zc_size(ch->space->total, b[0], 32), zc_size(ch->space->valid, b[1], 32),
			       zc_size(ch->space->used, b[2], 32),
			       zc_size(ch->space->allocated, b[3], 32), ch->space->thick_pids,
			       ch->space->thin_pids);
	} else {
		printf("%4s %-36s %-21s %-21s %-18s %10s %10s  %s\n", "CID", "UUID", "DATA", "RPC",
		       "STATUS", "VALID", "ALLOCATED", "MODE");
		for (size_t i = 0; i < resp->n_chunks; i++) {
			const Zbs__Chunk *ch = resp->chunks[i];
			char d[32], r[32], v[32], a[32], md[64];
			snprintf(d, sizeof(d), "%s:%u", ch->data_ip, ch->data_port);
			snprintf(r, sizeof(r), "%s:%u", ch->rpc_ip, ch->rpc_port);
			printf("%4u %-36s %-21s %-21s %-18s %10s %10s  %s\n", ch->cid, ch->uuid, d, r,
			       zc_chunk_status(ch->status),
			       zc_size(ch->space ? ch->space->valid : 0, v, sizeof(v)),
			       zc_size(ch->space ? ch->space->allocated : 0, a, sizeof(a)),
			       chunk_mode(ch, md, sizeof(md)));
		}
	}
	zbs__list_chunks_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static struct zbsctl_object chunk_obj = {
	.name = "chunk",
	.summary = "list and show chunks registered with zbs-metad, maintenance, removal",
	.run = chunk_run,
};
ZBSCTL_OBJECT(chunk_obj)

/* ---- session ---------------------------------------------------------- */

static int session_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	Zbs__Empty req = ZBS__EMPTY__INIT;
	Zbs__ListSessionsResponse *resp;
	struct zbs_rpc_client c;
	int st;

	if (argc < 2 || zbsctl_is_help(argv[1]) || strcmp(argv[1], "list") || argc > 2) {
		bool help = argc >= 2 && zbsctl_is_help(argv[1]);
		if (argc >= 2 && !help)
			zbsctl_err("unknown session verb or argument; see 'zbsctl session --help'");
		fprintf(help ? stdout : stderr, "Usage: zbsctl [--json] session list\n\n"
			"Chunk sessions: id, chunk, lease remaining, leases owned\n"
			"(--json also: the last data report, full or delta, and its entries).\n");
		return help ? ZBSCTL_OK : ZBSCTL_USAGE;
	}
	if ((st = zc_connect(o, &c)))
		return st;
	st = zc_call(&c, ZBS_M_LIST_SESSIONS, &req, &zbs__list_sessions_response__descriptor, &resp);
	zbs_rpc_close(&c);
	if (st)
		return st;
	if (o->json) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < resp->n_sessions; i++) {
			const Zbs__Session *s = resp->sessions[i];
			struct json_object *j = json_object_new_object();
			json_object_object_add(j, "session_id", json_object_new_uint64(s->session_id));
			json_object_object_add(j, "cid", json_object_new_int(s->cid));
			json_object_object_add(j, "uuid", json_object_new_string(s->uuid));
			json_object_object_add(j, "alive", json_object_new_boolean(s->alive));
			json_object_object_add(j, "lease_remaining_ms", json_object_new_int64(s->lease_remaining_ms));
			json_object_object_add(j, "leases", json_object_new_int(s->leases));
			json_object_object_add(j, "pending_commands", json_object_new_int(s->pending_commands));
			json_object_object_add(j, "report_seq", json_object_new_uint64(s->report_seq));
			json_object_object_add(j, "report_delta", json_object_new_boolean(s->report_delta));
			json_object_object_add(j, "report_entries",
					       json_object_new_uint64(s->report_entries));
			json_object_array_add(a, j);
		}
		zc_print_json(a);
	} else {
		printf("%8s %4s %-36s %6s %10s %7s\n", "SESSION", "CID", "UUID", "ALIVE",
		       "LEASE_MS", "LEASES");
		for (size_t i = 0; i < resp->n_sessions; i++) {
			const Zbs__Session *s = resp->sessions[i];
			printf("%8llu %4u %-36s %6s %10lld %7u\n", (unsigned long long)s->session_id,
			       s->cid, s->uuid, s->alive ? "yes" : "no",
			       (long long)s->lease_remaining_ms, s->leases);
		}
	}
	zbs__list_sessions_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static struct zbsctl_object session_obj = {
	.name = "session",
	.summary = "list chunk sessions of zbs-metad",
	.run = session_run,
};
ZBSCTL_OBJECT(session_obj)

/* ---- lease ------------------------------------------------------------ */

struct json_object *zc_pextent_json(const Zbs__PExtent *p);

static int lease_revoke(const struct zbsctl_opts *o, int argc, char **argv)
{
	Zbs__RevokeRequest req = ZBS__REVOKE_REQUEST__INIT;
	Zbs__RevokeResponse *resp;
	struct zbs_rpc_client c;
	uint64_t x;
	int st;

	if (argc != 4) {
		zbsctl_err("usage: zbsctl lease revoke --volume VOLUME | --pid PID | --session ID");
		return ZBSCTL_USAGE;
	}
	if (strcmp(argv[2], "--volume") == 0) {
		req.volume = argv[3];
	} else if (strcmp(argv[2], "--pid") == 0 || strcmp(argv[2], "--session") == 0) {
		if (zc_opt_u64(argv[2], argv[3], 1, UINT64_MAX, &x))
			return ZBSCTL_USAGE;
		if (argv[2][2] == 'p')
			req.pid = x;
		else
			req.session_id = x;
	} else {
		zbsctl_err("lease revoke: unknown option '%s'", argv[2]);
		return ZBSCTL_USAGE;
	}
	if ((st = zc_connect(o, &c)))
		return st;
	st = zc_call(&c, ZBS_M_REVOKE, &req, &zbs__revoke_response__descriptor, &resp);
	zbs_rpc_close(&c);
	if (st)
		return st;
	if (o->json)
		printf("{ \"released\": %u }\n", resp->released);
	else
		printf("released %u lease owner(s)\n", resp->released);
	zbs__revoke_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int lease_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	Zbs__PExtentShowRequest req = ZBS__PEXTENT_SHOW_REQUEST__INIT;
	Zbs__PExtentShowResponse *resp;
	struct zbs_rpc_client c;
	uint64_t pid;
	int st;

	if (argc < 2 || zbsctl_is_help(argv[1]) || (argc > 2 && zbsctl_is_help(argv[2]))) {
		fprintf(argc < 2 ? stderr : stdout,
			"Usage: zbsctl [--json] lease show PID\n"
			"       zbsctl [--json] lease revoke --volume VOLUME | --pid PID | --session ID\n\n"
			"show: a pextent's lease: owner session and chunk, lease_epoch,\n"
			"meta_gen, location and alive location.\n"
			"revoke: release lease owners; the chunks are told on their next keepalive.\n");
		return argc < 2 ? ZBSCTL_USAGE : ZBSCTL_OK;
	}
	if (strcmp(argv[1], "revoke") == 0)
		return lease_revoke(o, argc, argv);
	if (strcmp(argv[1], "show") || argc != 3) {
		zbsctl_err("usage: zbsctl lease show PID | lease revoke ...; see 'zbsctl lease --help'");
		return ZBSCTL_USAGE;
	}
	if (zc_opt_u64("PID", argv[2], 1, UINT64_MAX, &pid))
		return ZBSCTL_USAGE;
	req.pid = pid;
	if ((st = zc_connect(o, &c)))
		return st;
	st = zc_call(&c, ZBS_M_PEXTENT_SHOW, &req, &zbs__pextent_show_response__descriptor, &resp);
	zbs_rpc_close(&c);
	if (st)
		return st;
	if (o->json) {
		zc_print_json(zc_pextent_json(resp->pextent));
	} else {
		const Zbs__PExtent *p = resp->pextent;
		char l[32], a[32];
		printf("pid:            %llu\nepoch:          %llu\n", (unsigned long long)p->pid,
		       (unsigned long long)p->epoch);
		printf("volume:         %s vextent %u\n", p->volume_id, p->vextent_no);
		printf("owner:          session %llu (cid %u)\n",
		       (unsigned long long)p->owner_session, p->owner_cid);
		printf("lease_epoch:    %llu\nmeta_gen:       %llu\n",
		       (unsigned long long)p->lease_epoch, (unsigned long long)p->meta_gen);
		printf("location:       %s (%u)\nalive_location: %s\n",
		       zc_loc(p->location, l, sizeof(l)), p->location,
		       zc_loc(p->alive_location, a, sizeof(a)));
		printf("expected:       %u replicas\never_exist:     %s\nthin:           %s\n",
		       p->expected_replica_num, p->ever_exist ? "yes" : "no",
		       p->thin ? "yes" : "no");
	}
	zbs__pextent_show_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static struct zbsctl_object lease_obj = {
	.name = "lease",
	.summary = "show or revoke pextent leases (zbs-metad)",
	.run = lease_run,
};
ZBSCTL_OBJECT(lease_obj)
