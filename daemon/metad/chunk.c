// SPDX-License-Identifier: GPL-2.0
/* The chunk table (see chunk.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "chunk.h"
#include "log.h"
#include "net.h"
#include "rpc.h"

#define CHUNK_PERSIST_LEN offsetof(struct meta_chunk, thick_pids)
_Static_assert(CHUNK_PERSIST_LEN == 232, "chunk record: new field, new version");

void meta_chunks_init(struct meta_chunks *t, struct meta_core *core)
{
	memset(t, 0, sizeof(*t));
	t->core = core;
}

struct meta_chunk *meta_chunk(struct meta_chunks *t, uint32_t cid)
{
	return cid && cid <= META_MAX_CID && t->by_cid[cid].cid ? &t->by_cid[cid] : NULL;
}

uint32_t meta_chunk_healthy_count(const struct meta_chunks *t)
{
	uint32_t n = 0;

	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++)
		n += t->by_cid[cid].cid && t->by_cid[cid].status == CHUNK_HEALTHY;
	return n;
}

void meta_chunk_charge(struct meta_chunks *t, uint32_t cid, bool thin, bool fresh, int delta)
{
	struct meta_chunk *c = meta_chunk(t, cid);
	uint32_t *n;

	if (!c)
		return;
	n = thin ? &c->thin_pids : &c->thick_pids;
	if (delta > 0) {
		(*n)++;
		if (thin && fresh)
			c->new_thin_pids++;
	} else if (*n) {
		(*n)--;
	}
}

void meta_chunk_set_space(struct meta_chunk *c, const struct meta_space *space)
{
	if (memcmp(&c->space, space, sizeof(*space)))
		c->dirty = true;
	c->space = *space;
	c->new_thin_pids = 0;	/* the report now includes them */
}

static const char *status_name(uint32_t s)
{
	return s == CHUNK_HEALTHY ? "CONNECTED_HEALTHY" :
	       s == CHUNK_INIT ? "INIT" : "SESSION_EXPIRED";
}

void meta_chunk_set_failslow(struct meta_chunk *c, bool failslow)
{
	if (c->failslow == failslow)
		return;
	c->failslow = failslow;
	if (failslow)
		log_warn("[FAILSLOW] chunk %u reports a slow disk: no new replicas go to it "
			 "while others can take them, its space is not valid space", c->cid);
	else
		log_info("[FAILSLOW] chunk %u: its disk is no longer slow", c->cid);
}

void meta_chunk_set_session(struct meta_chunks *t, struct meta_chunk *c, uint64_t sid)
{
	uint32_t st = sid ? CHUNK_HEALTHY : CHUNK_SESSION_EXPIRED;

	if (c->status != st)
		log_info("Chunk %u status change: %s --> %s", c->cid, status_name(c->status),
			 status_name(st));
	c->status = st;
	c->session_id = sid;
	meta_chunk_store(t, c);
}

void meta_chunk_forget(struct meta_chunks *t, uint32_t cid)
{
	if (!meta_chunk(t, cid))
		return;
	meta_store_del_id(t->core->store, REC_CHUNK, cid);
	memset(&t->by_cid[cid], 0, sizeof(t->by_cid[cid]));
}

bool meta_chunk_in_maintenance(const struct meta_chunk *c, uint64_t wall_ns)
{
	return c->maint_until_ns > wall_ns;
}

bool meta_chunk_takes_replicas(const struct meta_chunk *c, uint64_t wall_ns)
{
	return c->cid && c->status == CHUNK_HEALTHY && !meta_chunk_in_maintenance(c, wall_ns) &&
	       !(c->admin & CHUNK_ADMIN_REMOVING);
}

void meta_chunk_store(struct meta_chunks *t, const struct meta_chunk *c)
{
	struct meta_rec r;

	((struct meta_chunk *)c)->dirty = false;
	if (!t->core->store)
		return;
	meta_rec_begin(&r, REC_CHUNK);
	meta_rec_u32(&r, c->cid);
	meta_rec_u32(&r, c->status);
	meta_rec_mem(&r, c->uuid, sizeof(c->uuid));
	meta_rec_mem(&r, c->data_ip, sizeof(c->data_ip));
	meta_rec_mem(&r, c->rpc_ip, sizeof(c->rpc_ip));
	meta_rec_u16(&r, c->data_port);
	meta_rec_u16(&r, c->rpc_port);
	meta_rec_u32(&r, c->pad);
	meta_rec_u64(&r, c->topo_id);
	meta_rec_u64(&r, c->registered_ns);
	meta_rec_u64(&r, c->space.total);
	meta_rec_u64(&r, c->space.valid);
	meta_rec_u64(&r, c->space.used);
	meta_rec_u64(&r, c->space.thin_used);
	meta_rec_u64(&r, c->session_id);
	meta_rec_u64(&r, c->caps);
	meta_rec_u64(&r, c->maint_until_ns);
	meta_rec_u32(&r, c->admin);
	meta_rec_u32(&r, c->pad2);
	meta_store_put_id(t->core->store, REC_CHUNK, c->cid, &r);
}

static int load_row(void *arg, const uint8_t *key, size_t klen, struct meta_rec_rd *rd,
		    char *why, size_t len)
{
	struct meta_chunks *t = arg;
	struct meta_chunk c = { 0 };

	(void)klen;
	c.cid = meta_rd_u32(rd);
	c.status = meta_rd_u32(rd);
	meta_rd_mem(rd, c.uuid, sizeof(c.uuid));
	meta_rd_mem(rd, c.data_ip, sizeof(c.data_ip));
	meta_rd_mem(rd, c.rpc_ip, sizeof(c.rpc_ip));
	c.data_port = meta_rd_u16(rd);
	c.rpc_port = meta_rd_u16(rd);
	c.pad = meta_rd_u32(rd);
	c.topo_id = meta_rd_u64(rd);
	c.registered_ns = meta_rd_u64(rd);
	c.space.total = meta_rd_u64(rd);
	c.space.valid = meta_rd_u64(rd);
	c.space.used = meta_rd_u64(rd);
	c.space.thin_used = meta_rd_u64(rd);
	c.session_id = meta_rd_u64(rd);
	c.caps = meta_rd_u64(rd);
	if (rd->ver >= 2) {
		c.maint_until_ns = meta_rd_u64(rd);
		c.admin = meta_rd_u32(rd);
		c.pad2 = meta_rd_u32(rd);
	}
	if (!c.cid || c.cid > META_MAX_CID || c.cid != meta_key_get_be64(key)) {
		snprintf(why, len, "record of cid %u", c.cid);
		return -1;
	}
	t->by_cid[c.cid] = c;
	return 0;
}

int meta_chunks_load(struct meta_chunks *t, char *err, size_t len)
{
	return meta_store_scan(t->core->store, REC_CHUNK, load_row, t, err, len);
}

/* "a.b.c.d:port" -> ip, port */
static int parse_addr(const char *what, const char *s, char *ip, size_t iplen,
		      uint16_t *port, struct merr *e)
{
	char buf[64];
	struct in_addr a;
	uint16_t p;

	if (zbs_parse_hostport(s, NULL, 0, 0, buf, sizeof(buf), &p) ||
	    strlen(buf) >= iplen || inet_pton(AF_INET, buf, &a) != 1 || p == 0)
		return merr_set(e, ZBS_RPC_EINVAL, "%s '%s': want IPv4:PORT", what, s ? s : "");
	memcpy(ip, buf, strlen(buf) + 1);	/* fits: checked above */
	*port = p;
	return 0;
}

int meta_chunk_register(struct meta_chunks *t, const char *uuid, const char *data_addr,
			const char *rpc_addr, struct meta_chunk **out, struct merr *e)
{
	struct meta_core *core = t->core;
	struct meta_chunk nc = { 0 }, *c = NULL;
	uuid_t u;

	if (!uuid || strlen(uuid) != 36 || uuid_parse(uuid, u) != 0)
		return merr_set(e, ZBS_RPC_EINVAL, "chunk uuid '%s' is not a uuid", uuid ? uuid : "");
	if (parse_addr("data address", data_addr, nc.data_ip, sizeof(nc.data_ip), &nc.data_port, e) ||
	    parse_addr("rpc address", rpc_addr, nc.rpc_ip, sizeof(nc.rpc_ip), &nc.rpc_port, e))
		return -1;
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++)
		if (t->by_cid[cid].cid && strcmp(t->by_cid[cid].uuid, uuid) == 0)
			c = &t->by_cid[cid];
	if (!c) {
		if (core->next_cid > META_MAX_CID)
			return merr_set(e, ZBS_RPC_ENOSPC, "no chunk ids left (at most %d chunks)",
					META_MAX_CID);
		c = &t->by_cid[core->next_cid];
		memset(c, 0, sizeof(*c));
		c->cid = core->next_cid++;
		snprintf(c->uuid, sizeof(c->uuid), "%s", uuid);
		c->status = CHUNK_INIT;
		c->topo_id = TOPO_DEFAULT_BRICK;
		c->registered_ns = core->wall_ns;
		meta_core_store_counters(core);
		log_info("chunk %u registered: uuid %s data %s rpc %s", c->cid, uuid,
			 data_addr, rpc_addr);
	}
	memcpy(c->data_ip, nc.data_ip, sizeof(c->data_ip));
	memcpy(c->rpc_ip, nc.rpc_ip, sizeof(c->rpc_ip));
	c->data_port = nc.data_port;
	c->rpc_port = nc.rpc_port;
	meta_chunk_store(t, c);
	*out = c;
	return 0;
}
