// SPDX-License-Identifier: GPL-2.0
/* Meta state: chunks, topology, sessions and keepalives. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "log.h"
#include "meta.h"
#include "net.h"
#include "rpc.h"

int merr_set(struct merr *e, int status, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->owner_session = 0;
	e->owner_cid = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static void *grow(void *p, uint32_t *cap, uint32_t want, size_t elem)
{
	if (want <= *cap)
		return p;
	uint32_t n = *cap ? *cap * 2 : 8;
	while (n < want)
		n *= 2;
	p = realloc(p, n * elem);
	if (!p) {
		log_err("out of memory");
		abort();
	}
	*cap = n;
	return p;
}

static struct meta_topo *topo_add(struct meta *m, uint64_t id, uint32_t type,
				  uint64_t parent, const char *name)
{
	struct meta_topo *t;

	m->topo = grow(m->topo, &m->captopo, m->ntopo + 1, sizeof(*m->topo));
	t = &m->topo[m->ntopo++];
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->type = type;
	t->parent = parent;
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

int meta_init(struct meta *m, const struct meta_config *cfg)
{
	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	m->next_cid = 1;
	m->next_pid = 1;
	m->next_epoch = 1;
	m->next_session = 1;
	m->next_topo = TOPO_DEFAULT_BRICK + 1;
	topo_add(m, TOPO_DEFAULT_ZONE, TOPO_ZONE, 0, "default");
	topo_add(m, TOPO_DEFAULT_RACK, TOPO_RACK, TOPO_DEFAULT_ZONE, "default");
	topo_add(m, TOPO_DEFAULT_BRICK, TOPO_BRICK, TOPO_DEFAULT_RACK, "default");
	return 0;
}

void meta_free(struct meta *m)
{
	HASH_CLEAR(hh, m->session_by_id);
	HASH_CLEAR(hh_id, m->vol_by_id);
	HASH_CLEAR(hh_name, m->vol_by_name);
	for (uint32_t i = 0; i < m->nsessions; i++) {
		free(m->sessions[i]->cmds);
		free(m->sessions[i]->cmd_slots);
		free(m->sessions[i]->revokes);
		free(m->sessions[i]);
	}
	free(m->sessions);
	for (uint32_t i = 0; i < m->nvols; i++) {
		if (m->vols[i]) {
			free(m->vols[i]->vtable);
			free(m->vols[i]);
		}
	}
	free(m->vols);
	free(m->pext);
	free(m->topo);
	memset(m, 0, sizeof(*m));
}

void meta_set_clock(struct meta *m, uint64_t now_ns, uint64_t wall_ns)
{
	if (!m->start_ns)
		m->start_ns = now_ns ? now_ns : 1;
	m->now_ns = now_ns;
	m->wall_ns = wall_ns;
}

struct meta_chunk *meta_chunk(struct meta *m, uint32_t cid)
{
	return cid && cid <= META_MAX_CID && m->chunks[cid].cid ? &m->chunks[cid] : NULL;
}

uint64_t meta_chunk_allocated(const struct meta_chunk *c)
{
	return c->space.thin_used + (uint64_t)c->new_thin_pids * ZBS_EXTENT_SIZE +
	       (uint64_t)c->thick_pids * ZBS_EXTENT_SIZE;
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

int meta_register_chunk(struct meta *m, const char *uuid, const char *data_addr,
			const char *rpc_addr, struct meta_chunk **out, struct merr *e)
{
	struct meta_chunk nc = { 0 }, *c = NULL;
	uuid_t u;

	if (!uuid || strlen(uuid) != 36 || uuid_parse(uuid, u) != 0)
		return merr_set(e, ZBS_RPC_EINVAL, "chunk uuid '%s' is not a uuid", uuid ? uuid : "");
	if (parse_addr("data address", data_addr, nc.data_ip, sizeof(nc.data_ip), &nc.data_port, e) ||
	    parse_addr("rpc address", rpc_addr, nc.rpc_ip, sizeof(nc.rpc_ip), &nc.rpc_port, e))
		return -1;
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++)
		if (m->chunks[cid].cid && strcmp(m->chunks[cid].uuid, uuid) == 0)
			c = &m->chunks[cid];
	if (!c) {
		if (m->next_cid > META_MAX_CID)
			return merr_set(e, ZBS_RPC_ENOSPC, "no chunk ids left (at most %d chunks)",
					META_MAX_CID);
		c = &m->chunks[m->next_cid];
		memset(c, 0, sizeof(*c));
		c->cid = m->next_cid++;
		snprintf(c->uuid, sizeof(c->uuid), "%s", uuid);
		c->status = CHUNK_INIT;
		c->topo_id = TOPO_DEFAULT_BRICK;
		c->registered_ns = m->wall_ns;
		store_counters(m);
		log_info("chunk %u registered: uuid %s data %s rpc %s", c->cid, uuid,
			 data_addr, rpc_addr);
	}
	memcpy(c->data_ip, nc.data_ip, sizeof(c->data_ip));
	memcpy(c->rpc_ip, nc.rpc_ip, sizeof(c->rpc_ip));
	c->data_port = nc.data_port;
	c->rpc_port = nc.rpc_port;
	store_chunk(m, c);
	*out = c;
	return 0;
}

/* ---- topology -------------------------------------------------------- */

struct meta_topo *meta_topo_find(struct meta *m, uint64_t id)
{
	for (uint32_t i = 0; i < m->ntopo; i++)
		if (m->topo[i].id == id)
			return &m->topo[i];
	return NULL;
}

static bool valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > META_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool meta_valid_name(const char *s)
{
	return valid_name(s);
}

static const char *topo_type_name(uint32_t t)
{
	static const char *const n[] = { "none", "zone", "rack", "brick", "node" };
	return t < 5 ? n[t] : "?";
}

/* parent type a child of type t needs (0 = the root) */
static int check_parent(struct meta *m, uint32_t type, uint64_t parent, struct merr *e)
{
	struct meta_topo *p;

	if (type == TOPO_ZONE) {
		if (parent)
			return merr_set(e, ZBS_RPC_EINVAL, "a zone's parent is the root (0), not %llu",
					(unsigned long long)parent);
		return 0;
	}
	p = meta_topo_find(m, parent);
	if (!p)
		return merr_set(e, ZBS_RPC_ENOENT, "topology object %llu not found",
				(unsigned long long)parent);
	if (p->type != type - 1)
		return merr_set(e, ZBS_RPC_EINVAL, "a %s's parent must be a %s; %llu is a %s",
				topo_type_name(type), topo_type_name(type - 1),
				(unsigned long long)parent, topo_type_name(p->type));
	return 0;
}

int meta_topo_create(struct meta *m, uint32_t type, const char *name,
		     uint64_t parent, struct meta_topo **out, struct merr *e)
{
	if (type < TOPO_ZONE || type > TOPO_BRICK)
		return merr_set(e, ZBS_RPC_EINVAL, "topology type %u: want zone, rack or brick "
				"(nodes come with chunk registration)", type);
	if (!valid_name(name))
		return merr_set(e, ZBS_RPC_EINVAL, "bad name '%s': 1-%d of [A-Za-z0-9._-]",
				name ? name : "", META_NAME_MAX);
	if (check_parent(m, type, parent, e))
		return -1;
	for (uint32_t i = 0; i < m->ntopo; i++)
		if (m->topo[i].parent == parent && strcmp(m->topo[i].name, name) == 0)
			return merr_set(e, ZBS_RPC_EEXIST, "%s '%s' already exists under %llu",
					topo_type_name(m->topo[i].type), name,
					(unsigned long long)parent);
	*out = topo_add(m, m->next_topo++, type, parent, name);
	store_counters(m);
	store_topo(m, *out);
	return 0;
}

int meta_topo_move(struct meta *m, uint32_t cid, uint64_t id, uint64_t parent,
		   struct merr *e)
{
	if (cid) {
		struct meta_chunk *c = meta_chunk(m, cid);
		if (!c)
			return merr_set(e, ZBS_RPC_ENOENT, "chunk %u not found", cid);
		if (check_parent(m, TOPO_NODE, parent, e))
			return -1;
		c->topo_id = parent;
		store_chunk(m, c);
		log_info("[UPDATE TOPO OBJ] chunk %u new_parent_id %llu", cid,
			 (unsigned long long)parent);
		return 0;
	}
	struct meta_topo *t = meta_topo_find(m, id);
	if (!t)
		return merr_set(e, ZBS_RPC_ENOENT, "topology object %llu not found",
				(unsigned long long)id);
	if (check_parent(m, t->type, parent, e))
		return -1;
	t->parent = parent;
	store_topo(m, t);
	log_info("[UPDATE TOPO OBJ] %llu new_parent_id %llu", (unsigned long long)id,
		 (unsigned long long)parent);
	return 0;
}

/* ---- sessions -------------------------------------------------------- */

struct meta_session *meta_session_find(struct meta *m, uint64_t id)
{
	struct meta_session *s;

	HASH_FIND(hh, m->session_by_id, &id, sizeof(id), s);
	return s;
}

struct meta_session *meta_session_get(struct meta *m, uint64_t id, struct merr *e)
{
	struct meta_session *s = meta_session_find(m, id);

	if (!s || !s->alive) {
		merr_set(e, ZBS_RPC_ESESSION, "session %llu is unknown or expired",
			 (unsigned long long)id);
		return NULL;
	}
	return s;
}

static void session_drop(struct meta *m, struct meta_session *s, const char *why)
{
	struct meta_chunk *c = meta_chunk(m, s->cid);
	uint32_t released = meta_release_session_leases(m, s->id);

	log_info("[%s] session %llu cid %u, %u lease(s) released", why,
		 (unsigned long long)s->id, s->cid, released);
	if (c && c->session_id == s->id) {
		if (c->status != CHUNK_SESSION_EXPIRED)
			log_info("Chunk %u status change: %s --> SESSION_EXPIRED", c->cid,
				 c->status == CHUNK_HEALTHY ? "CONNECTED_HEALTHY" : "INIT");
		c->status = CHUNK_SESSION_EXPIRED;
		c->session_id = 0;
		store_chunk(m, c);
	}
	store_session_del(m, s->id);
	HASH_DELETE(hh, m->session_by_id, s);
	for (uint32_t i = 0; i < m->nsessions; i++) {
		if (m->sessions[i] == s) {
			m->sessions[i] = m->sessions[--m->nsessions];
			break;
		}
	}
	free(s->cmds);
	free(s->cmd_slots);
	free(s->revokes);
	free(s);
}

struct meta_session *meta_session_add(struct meta *m, uint64_t id, uint32_t cid)
{
	struct meta_session *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->id = id;
	s->cid = cid;
	s->alive = 1;
	m->sessions = grow(m->sessions, &m->capsessions, m->nsessions + 1, sizeof(*m->sessions));
	m->sessions[m->nsessions++] = s;
	HASH_ADD(hh, m->session_by_id, id, sizeof(s->id), s);
	return s;
}

static void session_extend(struct meta *m, struct meta_session *s)
{
	s->expire_ns = m->now_ns + (uint64_t)m->cfg.session_lease_ms * 1000000;
	s->expire_wall_ns = m->wall_ns + (uint64_t)m->cfg.session_lease_ms * 1000000;
}

int meta_session_create(struct meta *m, uint32_t cid, const char *uuid,
			uint64_t caps, struct meta_session **out, struct merr *e)
{
	struct meta_chunk *c = meta_chunk(m, cid);
	struct meta_session *s;

	if (!c)
		return merr_set(e, ZBS_RPC_ENOENT, "chunk %u not registered", cid);
	if (!uuid || strcmp(uuid, c->uuid) != 0)
		return merr_set(e, ZBS_RPC_EINVAL, "uuid '%s' does not match chunk %u (%s)",
				uuid ? uuid : "", cid, c->uuid);
	/* a chunk has one session: a new one ends the old, leases do not carry over */
	if (c->session_id && (s = meta_session_find(m, c->session_id)))
		session_drop(m, s, "SESSION REPLACED");
	s = meta_session_add(m, m->next_session++, cid);
	session_extend(m, s);
	if (c->status != CHUNK_HEALTHY)
		log_info("Chunk %u status change: %s --> CONNECTED_HEALTHY", cid,
			 c->status == CHUNK_INIT ? "INIT" : "SESSION_EXPIRED");
	c->status = CHUNK_HEALTHY;
	c->session_id = s->id;
	c->caps = caps;
	store_counters(m);
	store_chunk(m, c);
	store_session(m, s);
	log_info("ACCESS SESSION CREATED session %llu cid %u", (unsigned long long)s->id, cid);
	*out = s;
	return 0;
}

/* what makes two queued commands the same (their id is 0: only revokes,
 * kept apart in s->revokes, have one) */
static uint64_t cmd_hash(const struct meta_cmd *c)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	uint64_t w[3] = { c->type, c->pid, c->epoch };
	const uint8_t *b = (const uint8_t *)w;

	for (size_t i = 0; i < sizeof(w); i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	for (size_t i = 0; i < sizeof(c->volume_id) && c->volume_id[i]; i++)
		h = (h ^ (uint8_t)c->volume_id[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static bool cmd_same(const struct meta_cmd *a, const struct meta_cmd *b)
{
	return a->type == b->type && a->pid == b->pid && a->epoch == b->epoch &&
	       !strncmp(a->volume_id, b->volume_id, sizeof(a->volume_id));
}

/* the slot of c in s's set: where it is, or the empty one it would take */
static uint32_t *cmd_slot(struct meta_session *s, const struct meta_cmd *c)
{
	uint32_t mask = s->capslots - 1, i = cmd_hash(c) & mask;

	while (s->cmd_slots[i] && !cmd_same(&s->cmds[s->cmd_slots[i] - 1], c))
		i = (i + 1) & mask;
	return &s->cmd_slots[i];
}

void meta_session_queue(struct meta *m, struct meta_session *s, const struct meta_cmd *c)
{
	uint32_t *slot;

	(void)m;
	if (2 * (s->ncmds + 1) >= s->capslots) {
		/* at most half full: probes stay short; rebuild from the queue */
		uint32_t cap = s->capslots ? 2 * s->capslots : 64;
		free(s->cmd_slots);
		s->cmd_slots = calloc(cap, sizeof(*s->cmd_slots));
		if (!s->cmd_slots)
			abort();
		s->capslots = cap;
		for (uint32_t i = 0; i < s->ncmds; i++)
			*cmd_slot(s, &s->cmds[i]) = i + 1;
	}
	slot = cmd_slot(s, c);
	if (*slot)
		return;		/* already queued */
	s->cmds = grow(s->cmds, &s->capcmds, s->ncmds + 1, sizeof(*s->cmds));
	s->cmds[s->ncmds++] = *c;
	*slot = s->ncmds;
}

void meta_session_cmds_sent(struct meta_session *s)
{
	if (!s->ncmds)
		return;
	s->ncmds = 0;
	if (s->capslots > 4096) {
		/* a burst (a data report full of garbage) is over: give it back */
		free(s->cmd_slots);
		s->cmd_slots = NULL;
		s->capslots = 0;
	} else {
		memset(s->cmd_slots, 0, s->capslots * sizeof(*s->cmd_slots));
	}
}

void meta_session_revoke_pending(struct meta_session *s, const struct meta_cmd *c)
{
	for (uint32_t i = 0; i < s->nrevokes; i++) {
		const struct meta_cmd *x = &s->revokes[i];
		if (x->type == c->type && x->pid == c->pid && !strcmp(x->volume_id, c->volume_id))
			return;		/* pending already */
	}
	s->revokes = grow(s->revokes, &s->caprevokes, s->nrevokes + 1, sizeof(*s->revokes));
	s->revokes[s->nrevokes] = *c;
	s->revokes[s->nrevokes++].id = ++s->next_cmd_id;
}

uint64_t meta_cluster_caps(const struct meta *m)
{
	uint64_t caps = META_CAPS;

	for (uint32_t i = 0; i < m->nsessions; i++) {
		const struct meta_chunk *c = &m->chunks[m->sessions[i]->cid];
		if (m->sessions[i]->alive)
			caps &= c->caps;
	}
	return caps;
}

int meta_keepalive(struct meta *m, uint64_t sid, const struct meta_space *space,
		   const struct meta_replica_report *reps, size_t nreps,
		   bool has_report, uint64_t caps, struct meta_session **out,
		   struct merr *e)
{
	struct meta_session *s = meta_session_get(m, sid, e);
	struct meta_chunk *c;

	if (!s)
		return -1;
	if (space && (space->valid > space->total || space->used > space->total))
		return merr_set(e, ZBS_RPC_EINVAL, "space report: valid/used exceed total");
	c = meta_chunk(m, s->cid);
	session_extend(m, s);
	if (space) {
		c->space = *space;
		c->new_thin_pids = 0;	/* the report now includes them */
	}
	c->caps = caps;
	if (has_report)
		meta_data_report(m, s, reps, nreps);
	store_session(m, s);
	store_chunk(m, c);
	*out = s;
	return 0;
}

int meta_session_leave(struct meta *m, uint64_t sid, struct merr *e)
{
	struct meta_session *s = meta_session_get(m, sid, e);

	if (!s)
		return -1;
	session_drop(m, s, "SESSION LEFT");
	return 0;
}

/*
 * A loop that was away (a long operation, the process stopped, a slow disk)
 * must not expire the sessions whose keepalives wait unread in the sockets:
 * libuv runs due timers before it polls, so the first tick after a stall
 * would see every session run out. Time the loop could not observe is not
 * held against the sessions: when a tick comes later than one interval past
 * its due time, every session's expiry moves by the lateness, and the
 * keepalives read next renew them as usual. A chunk that really died expires
 * that much later, never earlier, which is the safe side of a lease. The
 * lateness is measured from the start of the previous tick, so a tick that
 * itself ran long counts too.
 */
static void sessions_stalled(struct meta *m, uint64_t stall_ns)
{
	log_warn("the loop was away for %llu ms: session expiry moved by as much",
		 (unsigned long long)(stall_ns / 1000000));
	for (uint32_t i = 0; i < m->nsessions; i++) {
		struct meta_session *s = m->sessions[i];

		s->expire_ns += stall_ns;
		s->expire_wall_ns += stall_ns;
		store_session(m, s);
	}
}

int meta_tick(struct meta *m, uint64_t tick_ns)
{
	int n;

	if (m->last_tick_ns && m->now_ns - m->last_tick_ns > 2 * tick_ns)
		sessions_stalled(m, m->now_ns - m->last_tick_ns - tick_ns);
	m->last_tick_ns = m->now_ns;
	n = meta_expire_sessions(m);
	/* a slice per tick keeps the loop responsive with millions of pextents */
	meta_scan_pextents(m, 65536);
	return n;
}

int meta_expire_sessions(struct meta *m)
{
	int n = 0;

	for (uint32_t i = 0; i < m->nsessions;) {
		struct meta_session *s = m->sessions[i];
		if (s->expire_ns <= m->now_ns) {
			session_drop(m, s, "ACCESS SESSION EXPIRED");
			n++;
			continue;	/* slot i now holds another session */
		}
		i++;
	}
	return n;
}
