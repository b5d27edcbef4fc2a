// SPDX-License-Identifier: GPL-2.0
/* The session table (see session.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"
#include "session.h"

#define SESSION_PERSIST_LEN offsetof(struct meta_session, expire_ns)
_Static_assert(SESSION_PERSIST_LEN == 24, "session record: new field, new version");

void meta_sessions_init(struct meta_sessions *t, struct meta_core *core)
{
	memset(t, 0, sizeof(*t));
	t->core = core;
	TAILQ_INIT(&t->dying);
}

static void session_free(struct meta_session *s)
{
	struct meta_revoke *r;

	HASH_CLEAR(hh_id, s->revoke_by_id);
	HASH_CLEAR(hh_key, s->revoke_by_key);
	while ((r = TAILQ_FIRST(&s->revokes))) {
		TAILQ_REMOVE(&s->revokes, r, link);
		free(r);
	}
	free(s->cmds);
	free(s->cmd_slots);
	free(s);
}

void meta_sessions_free(struct meta_sessions *t)
{
	struct meta_session *s;

	HASH_CLEAR(hh, t->by_id);
	for (uint32_t i = 0; i < t->n; i++)
		session_free(t->all[i]);
	while ((s = TAILQ_FIRST(&t->dying))) {
		TAILQ_REMOVE(&t->dying, s, dying_link);
		session_free(s);
	}
	free(t->all);
	free(t->loaded);
	memset(t, 0, sizeof(*t));
}

struct meta_session *meta_session_find(struct meta_sessions *t, uint64_t id)
{
	struct meta_session *s;

	HASH_FIND(hh, t->by_id, &id, sizeof(id), s);
	return s;
}

struct meta_session *meta_session_get(struct meta_sessions *t, uint64_t id, struct merr *e)
{
	struct meta_session *s = meta_session_find(t, id);

	if (!s || !s->alive) {
		merr_set(e, ZBS_RPC_ESESSION, "session %llu is unknown or expired",
			 (unsigned long long)id);
		return NULL;
	}
	return s;
}

static struct meta_session *session_add(struct meta_sessions *t, uint64_t id, uint32_t cid)
{
	struct meta_session *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->id = id;
	s->cid = cid;
	s->alive = 1;
	TAILQ_INIT(&s->revokes);
	t->all = meta_grow(t->all, &t->cap, t->n + 1, sizeof(*t->all));
	t->all[t->n++] = s;
	HASH_ADD(hh, t->by_id, id, sizeof(s->id), s);
	return s;
}

void meta_session_store(struct meta_sessions *t, const struct meta_session *s)
{
	struct meta_rec r;

	((struct meta_session *)s)->dirty = false;
	if (!t->core->store)
		return;
	meta_rec_begin(&r, REC_SESSION);
	meta_rec_u64(&r, s->id);
	meta_rec_u32(&r, s->cid);
	meta_rec_u32(&r, s->alive);
	meta_rec_u64(&r, s->expire_wall_ns);
	meta_store_put_id(t->core->store, REC_SESSION, s->id, &r);
}

void meta_session_extend(struct meta_sessions *t, struct meta_session *s)
{
	uint64_t lease = (uint64_t)t->core->cfg.session_lease_ms * 1000000;

	s->expire_ns = t->core->now_ns + lease;
	s->expire_wall_ns = t->core->wall_ns + lease;
}

struct meta_session *meta_session_new(struct meta_sessions *t, struct meta_chunks *chunks,
				      struct meta_chunk *c)
{
	struct meta_session *s = session_add(t, t->core->next_session++, c->cid);

	meta_session_extend(t, s);
	meta_chunk_set_session(chunks, c, s->id);
	meta_core_store_counters(t->core);
	meta_session_store(t, s);
	return s;
}

/* out of the chunk, the store and `all` */
static void session_end(struct meta_sessions *t, struct meta_chunks *chunks,
			struct meta_session *s)
{
	struct meta_chunk *c = meta_chunk(chunks, s->cid);

	if (c && c->session_id == s->id)
		meta_chunk_set_session(chunks, c, 0);
	meta_store_del_id(t->core->store, REC_SESSION, s->id);
	for (uint32_t i = 0; i < t->n; i++) {
		if (t->all[i] == s) {
			t->all[i] = t->all[--t->n];
			break;
		}
	}
}

void meta_session_retire(struct meta_sessions *t, struct meta_chunks *chunks,
			 struct meta_session *s)
{
	if (!s->alive)
		return;
	session_end(t, chunks, s);
	s->alive = 0;
	TAILQ_INSERT_TAIL(&t->dying, s, dying_link);
}

void meta_session_remove(struct meta_sessions *t, struct meta_chunks *chunks,
			 struct meta_session *s)
{
	if (s->alive)
		session_end(t, chunks, s);
	else
		TAILQ_REMOVE(&t->dying, s, dying_link);
	HASH_DELETE(hh, t->by_id, s);
	session_free(s);
}

/* ---- one-time commands -------------------------------------------------- */

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

void meta_session_queue(struct meta_session *s, const struct meta_cmd *c)
{
	uint32_t *slot;

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
	s->cmds = meta_grow(s->cmds, &s->capcmds, s->ncmds + 1, sizeof(*s->cmds));
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

/* ---- revokes awaiting acknowledgement ------------------------------------ */

static void revoke_key(char key[64], const struct meta_cmd *c)
{
	memset(key, 0, 64);
	snprintf(key, 64, "%u/%" PRIu64 "/%.39s", c->type, c->pid, c->volume_id);
}

static struct meta_revoke *revoke_find(struct meta_session *s, const struct meta_cmd *c)
{
	struct meta_revoke *r;
	char key[64];

	revoke_key(key, c);
	HASH_FIND(hh_key, s->revoke_by_key, key, sizeof(key), r);
	return r;
}

bool meta_session_revoke_is_pending(struct meta_session *s, const struct meta_cmd *c)
{
	return revoke_find(s, c) != NULL;
}

void meta_session_revoke_pending(struct meta_session *s, const struct meta_cmd *c)
{
	struct meta_revoke *r;

	if (revoke_find(s, c))
		return;		/* pending already */
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->cmd = *c;
	r->cmd.id = ++s->next_cmd_id;
	revoke_key(r->key, c);
	TAILQ_INSERT_TAIL(&s->revokes, r, link);
	HASH_ADD(hh_id, s->revoke_by_id, cmd.id, sizeof(r->cmd.id), r);
	HASH_ADD(hh_key, s->revoke_by_key, key, sizeof(r->key), r);
	s->nrevokes++;
}

int meta_session_revoke_take(struct meta_session *s, uint64_t id, struct meta_cmd *c)
{
	struct meta_revoke *r;

	HASH_FIND(hh_id, s->revoke_by_id, &id, sizeof(id), r);
	if (!r)
		return -1;
	*c = r->cmd;
	HASH_DELETE(hh_id, s->revoke_by_id, r);
	HASH_DELETE(hh_key, s->revoke_by_key, r);
	TAILQ_REMOVE(&s->revokes, r, link);
	s->nrevokes--;
	free(r);
	return 0;
}

uint64_t meta_sessions_caps(const struct meta_sessions *t, const struct meta_chunks *chunks)
{
	uint64_t caps = META_CAPS;

	for (uint32_t i = 0; i < t->n; i++)
		if (t->all[i]->alive)
			caps &= chunks->by_cid[t->all[i]->cid].caps;
	return caps;
}

/* ---- load ---------------------------------------------------------------- */

static int load_row(void *arg, const uint8_t *key, size_t klen, struct meta_rec_rd *rd,
		    char *why, size_t len)
{
	struct meta_sessions *t = arg;
	struct meta_session s = { 0 };

	(void)klen;
	s.id = meta_rd_u64(rd);
	s.cid = meta_rd_u32(rd);
	s.alive = meta_rd_u32(rd);
	s.expire_wall_ns = meta_rd_u64(rd);
	if (s.id != meta_key_get_be64(key)) {
		snprintf(why, len, "record of session %" PRIu64, s.id);
		return -1;
	}
	t->loaded = realloc(t->loaded, (t->nloaded + 1) * sizeof(*t->loaded));
	if (!t->loaded)
		abort();
	t->loaded[t->nloaded++] = s;
	return 0;
}

int meta_sessions_load(struct meta_sessions *t, char *err, size_t len)
{
	return meta_store_scan(t->core->store, REC_SESSION, load_row, t, err, len);
}

void meta_sessions_reuse(struct meta_sessions *t, struct meta_chunks *chunks)
{
	struct meta_core *core = t->core;

	for (uint32_t i = 0; i < t->nloaded; i++) {
		const struct meta_session *rec = &t->loaded[i];
		struct meta_chunk *c = meta_chunk(chunks, rec->cid);

		if (rec->expire_wall_ns > core->wall_ns && c && c->session_id == rec->id) {
			/* SPEC 2.1: an unexpired session is reused after a restart */
			struct meta_session *s = session_add(t, rec->id, rec->cid);
			s->expire_wall_ns = rec->expire_wall_ns;
			s->expire_ns = core->now_ns + (rec->expire_wall_ns - core->wall_ns);
			log_info("session %llu of chunk %u reused", (unsigned long long)rec->id,
				 rec->cid);
		} else {
			log_info("[ACCESS SESSION EXPIRED] session %llu of chunk %u (while down)",
				 (unsigned long long)rec->id, rec->cid);
			meta_store_del_id(core->store, REC_SESSION, rec->id);
		}
	}
	free(t->loaded);
	t->loaded = NULL;
	t->nloaded = 0;
	/* chunks whose session did not survive */
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = &chunks->by_cid[cid];
		if (c->cid && c->session_id && !meta_session_find(t, c->session_id)) {
			c->status = CHUNK_SESSION_EXPIRED;
			c->session_id = 0;
			meta_chunk_store(chunks, c);
		}
	}
}
