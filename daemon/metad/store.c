// SPDX-License-Identifier: GPL-2.0
/*
 * Persistence of the meta state in LMDB (<datadir>/data.mdb).
 *
 * Sub-databases: "meta" (id counters, format), "chunk" (cid), "topo" (id),
 * "session" (id), "volume" (volume uuid), "vtable" (volume uuid + vextent_no
 * -> pid), "pext" (pid). Integer keys are big-endian so they sort. Records
 * are fixed-size little-endian C structs of this format version
 * (META_FORMAT); the in-memory-only tail of each struct is not stored.
 *
 * Every change made while handling requests lands in one write transaction,
 * opened on demand; the server commits it (fsync) before sending the replies
 * of that loop iteration, so nothing is acknowledged before it is durable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lmdb.h>

#include "log.h"
#include "meta.h"

#define META_FORMAT 1

struct meta_store {
	int lockfd;			/* flock: one metad per data dir */
	MDB_env *env;
	MDB_dbi meta, chunk, topo, session, volume, vtable, pext;
	MDB_txn *txn;
};

#define CHUNK_PERSIST_LEN offsetof(struct meta_chunk, thick_pids)
#define SESSION_PERSIST_LEN offsetof(struct meta_session, expire_ns)

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static __attribute__((noreturn)) void fatal(const char *what, int rc)
{
	log_err("store: %s: %s; cannot persist, exiting", what, mdb_strerror(rc));
	abort();
}

int store_open(struct meta_store **out, const char *dir, char *err, size_t errlen)
{
	struct meta_store *s = calloc(1, sizeof(*s));
	MDB_txn *txn;
	int rc;

	char path[4096];

	if (!s)
		return -ENOMEM;
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/metad.lock", dir);
	s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "data dir %s: %s", dir,
			 s->lockfd < 0 ? strerror(errno) : "in use by another zbs-metad");
		if (s->lockfd >= 0)
			close(s->lockfd);
		free(s);
		return -1;
	}
	if ((rc = mdb_env_create(&s->env)) ||
	    (rc = mdb_env_set_maxdbs(s->env, 16)) ||
	    (rc = mdb_env_set_mapsize(s->env, 64ULL << 30)) ||
	    (rc = mdb_env_open(s->env, dir, 0, 0644))) {
		snprintf(err, errlen, "cannot open store in %s: %s", dir, mdb_strerror(rc));
		if (s->env)
			mdb_env_close(s->env);
		close(s->lockfd);
		free(s);
		return -1;
	}
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) ||
	    (rc = mdb_dbi_open(txn, "chunk", MDB_CREATE, &s->chunk)) ||
	    (rc = mdb_dbi_open(txn, "topo", MDB_CREATE, &s->topo)) ||
	    (rc = mdb_dbi_open(txn, "session", MDB_CREATE, &s->session)) ||
	    (rc = mdb_dbi_open(txn, "volume", MDB_CREATE, &s->volume)) ||
	    (rc = mdb_dbi_open(txn, "vtable", MDB_CREATE, &s->vtable)) ||
	    (rc = mdb_dbi_open(txn, "pext", MDB_CREATE, &s->pext))) {
		snprintf(err, errlen, "cannot open store tables in %s: %s", dir, mdb_strerror(rc));
		mdb_env_close(s->env);
		close(s->lockfd);
		free(s);
		return -1;
	}
	{
		MDB_val k = { 6, (void *)"format" }, v;
		uint32_t fmt = META_FORMAT;
		rc = mdb_get(txn, s->meta, &k, &v);
		if (rc == 0 && (v.mv_size != 4 || memcmp(v.mv_data, &fmt, 4))) {
			snprintf(err, errlen, "store in %s has an unknown format", dir);
			mdb_txn_abort(txn);
			mdb_env_close(s->env);
			close(s->lockfd);
			free(s);
			return -1;
		}
		v.mv_size = 4;
		v.mv_data = &fmt;
		if (rc == MDB_NOTFOUND)
			rc = mdb_put(txn, s->meta, &k, &v, 0);
	}
	if (rc || (rc = mdb_txn_commit(txn))) {
		snprintf(err, errlen, "store in %s: %s", dir, mdb_strerror(rc));
		mdb_env_close(s->env);
		close(s->lockfd);
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void store_close(struct meta_store *s)
{
	if (!s)
		return;
	if (s->txn)
		store_commit(s);
	mdb_env_close(s->env);
	close(s->lockfd);
	free(s);
}

static MDB_txn *txn(struct meta *m)
{
	struct meta_store *s = m->store;
	int rc;

	if (!s)
		return NULL;
	if (!s->txn && (rc = mdb_txn_begin(s->env, NULL, 0, &s->txn)))
		fatal("begin", rc);
	return s->txn;
}

static void put(struct meta *m, MDB_dbi dbi, const void *key, size_t klen,
		const void *val, size_t vlen)
{
	MDB_txn *t = txn(m);
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	int rc;

	if (t && (rc = mdb_put(t, dbi, &k, &v, 0)))
		fatal("put", rc);
}

static void del(struct meta *m, MDB_dbi dbi, const void *key, size_t klen)
{
	MDB_txn *t = txn(m);
	MDB_val k = { klen, (void *)key };
	int rc;

	if (t && (rc = mdb_del(t, dbi, &k, NULL)) && rc != MDB_NOTFOUND)
		fatal("del", rc);
}

bool store_dirty(const struct meta_store *s)
{
	return s && s->txn;
}

void store_commit(struct meta_store *s)
{
	int rc;

	if (!s || !s->txn)
		return;
	rc = mdb_txn_commit(s->txn);
	s->txn = NULL;
	if (rc)
		fatal("commit", rc);
}

void store_counters(struct meta *m)
{
	uint64_t c[5] = { m->next_cid, m->next_pid, m->next_epoch, m->next_session, m->next_topo };

	if (m->store)
		put(m, m->store->meta, "counters", 8, c, sizeof(c));
}

void store_chunk(struct meta *m, const struct meta_chunk *c)
{
	uint8_t k[8];

	if (!m->store)
		return;
	be64(k, c->cid);
	put(m, m->store->chunk, k, 8, c, CHUNK_PERSIST_LEN);
}

void store_topo(struct meta *m, const struct meta_topo *t)
{
	uint8_t k[8];

	if (!m->store)
		return;
	be64(k, t->id);
	put(m, m->store->topo, k, 8, t, sizeof(*t));
}

void store_session(struct meta *m, const struct meta_session *s)
{
	uint8_t k[8];

	if (!m->store)
		return;
	be64(k, s->id);
	put(m, m->store->session, k, 8, s, SESSION_PERSIST_LEN);
}

void store_session_del(struct meta *m, uint64_t id)
{
	uint8_t k[8];

	if (!m->store)
		return;
	be64(k, id);
	del(m, m->store->session, k, 8);
}

void store_volume(struct meta *m, const struct meta_volume *v)
{
	if (m->store)
		put(m, m->store->volume, v->id, 36, v, META_VOLUME_PERSIST_LEN);
}

void store_vtable(struct meta *m, const struct meta_volume *v, uint32_t vno)
{
	uint8_t k[44];

	if (!m->store)
		return;
	memcpy(k, v->id, 36);
	be64(k + 36, vno);
	put(m, m->store->vtable, k, 44, &v->vtable[vno], 8);
}

void store_volume_del(struct meta *m, const struct meta_volume *v)
{
	uint8_t k[44];

	if (!m->store)
		return;
	del(m, m->store->volume, v->id, 36);
	memcpy(k, v->id, 36);
	for (uint32_t i = 0; i < v->nvext; i++) {
		if (!v->vtable[i])
			continue;
		be64(k + 36, i);
		del(m, m->store->vtable, k, 44);
	}
}

void store_pext(struct meta *m, uint64_t pid)
{
	uint8_t k[8];

	if (!m->store)
		return;
	be64(k, pid);
	put(m, m->store->pext, k, 8, &m->pext[pid], META_PEXT_PERSIST_LEN);
}

void store_pext_del(struct meta *m, uint64_t pid)
{
	uint8_t k[8];

	if (!m->store)
		return;
	be64(k, pid);
	del(m, m->store->pext, k, 8);
}

typedef void (*row_fn)(struct meta *m, MDB_val *k, MDB_val *v);

static int scan(MDB_txn *t, MDB_dbi dbi, struct meta *m, row_fn fn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(t, dbi, &cur);

	if (rc)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
		fn(m, &k, &v);
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static void load_chunk(struct meta *m, MDB_val *k, MDB_val *v)
{
	struct meta_chunk c = { 0 };

	if (v->mv_size != CHUNK_PERSIST_LEN)
		return;
	memcpy(&c, v->mv_data, CHUNK_PERSIST_LEN);
	if (c.cid && c.cid <= META_MAX_CID)
		m->chunks[c.cid] = c;
}

static void load_topo(struct meta *m, MDB_val *k, MDB_val *v)
{
	struct meta_topo t, *old;

	if (v->mv_size != sizeof(t))
		return;
	memcpy(&t, v->mv_data, sizeof(t));
	old = meta_topo_find(m, t.id);
	if (old) {
		*old = t;
		return;
	}
	if (m->ntopo == m->captopo) {
		m->captopo = m->captopo ? m->captopo * 2 : 8;
		m->topo = realloc(m->topo, m->captopo * sizeof(*m->topo));
		if (!m->topo)
			abort();
	}
	m->topo[m->ntopo++] = t;
}

static void load_volume(struct meta *m, MDB_val *k, MDB_val *v)
{
	if (!meta_volume_load(m, v->mv_data, v->mv_size))
		log_warn("store: skipping a volume record of %zu bytes", v->mv_size);
}

static void load_pext(struct meta *m, MDB_val *k, MDB_val *v)
{
	uint64_t pid;
	struct meta_pext *p;

	if (k->mv_size != 8 || v->mv_size != META_PEXT_PERSIST_LEN)
		return;
	pid = get_be64(k->mv_data);
	if (pid >= m->cappext) {
		uint64_t cap = m->cappext ? m->cappext : 1024;
		while (cap <= pid)
			cap *= 2;
		m->pext = realloc(m->pext, cap * sizeof(*m->pext));
		if (!m->pext)
			abort();
		memset(m->pext + m->cappext, 0, (cap - m->cappext) * sizeof(*m->pext));
		m->cappext = cap;
	}
	if (pid >= m->npext)
		m->npext = pid + 1;
	p = &m->pext[pid];
	memcpy(p, v->mv_data, META_PEXT_PERSIST_LEN);
	p->alive_location = p->location;	/* grace starts again at load */
	p->last_access_s = meta_now_s(m);
	for (int i = 0; i < ZBS_LOC_SLOTS; i++)
		p->seen_s[i] = meta_now_s(m);
	m->live_pext++;
	for (int i = 0; i < loc_count(p->location); i++) {
		struct meta_chunk *c = &m->chunks[loc_get(p->location, i)];
		if (p->flags & PEXT_THIN)
			c->thin_pids++;
		else
			c->thick_pids++;
	}
}

static void load_vtable(struct meta *m, MDB_val *k, MDB_val *v)
{
	char id[37];
	uint32_t vno;
	uint64_t pid;
	struct meta_volume *vol = NULL;
	struct meta_pext *p;

	if (k->mv_size != 44 || v->mv_size != 8)
		return;
	memcpy(id, k->mv_data, 36);
	id[36] = 0;
	vno = get_be64((uint8_t *)k->mv_data + 36);
	memcpy(&pid, v->mv_data, 8);
	for (uint32_t i = 0; i < m->nvols; i++)
		if (m->vols[i] && strcmp(m->vols[i]->id, id) == 0)
			vol = m->vols[i];
	p = meta_pext(m, pid);
	if (!vol || vno >= vol->nvext || !p) {
		log_warn("store: dangling vtable entry %s/%u -> %llu", id, vno,
			 (unsigned long long)pid);
		return;
	}
	vol->vtable[vno] = pid;
	vol->allocated++;
	p->vol = vol->idx;
	p->vextent_no = vno;
}

/* sessions are collected during the read pass, then reused or dropped */
static struct meta_session *loaded_sessions;
static uint32_t nloaded_sessions;

static void load_session(struct meta *m, MDB_val *k, MDB_val *v)
{
	if (v->mv_size != SESSION_PERSIST_LEN)
		return;
	loaded_sessions = realloc(loaded_sessions, (nloaded_sessions + 1) * sizeof(*loaded_sessions));
	if (!loaded_sessions)
		abort();
	memcpy(&loaded_sessions[nloaded_sessions++], v->mv_data, SESSION_PERSIST_LEN);
}

static void reuse_session(struct meta *m, struct meta_session rec)
{
	if (rec.expire_wall_ns > m->wall_ns && meta_chunk(m, rec.cid) &&
	    m->chunks[rec.cid].session_id == rec.id) {
		/* SPEC 2.1: an unexpired session is reused after a restart */
		struct meta_session *s = meta_session_add(m, rec.id, rec.cid);
		s->expire_wall_ns = rec.expire_wall_ns;
		s->expire_ns = m->now_ns + (rec.expire_wall_ns - m->wall_ns);
		log_info("session %llu of chunk %u reused", (unsigned long long)rec.id, rec.cid);
	} else {
		log_info("[ACCESS SESSION EXPIRED] session %llu of chunk %u (while down)",
			 (unsigned long long)rec.id, rec.cid);
		store_session_del(m, rec.id);
	}
}

int store_load(struct meta_store *s, struct meta *m)
{
	MDB_txn *t;
	MDB_val k = { 8, (void *)"counters" }, v;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t)))
		goto fail;
	if (mdb_get(t, s->meta, &k, &v) == 0 && v.mv_size == 5 * 8) {
		uint64_t c[5];
		memcpy(c, v.mv_data, sizeof(c));
		m->next_cid = c[0];
		m->next_pid = c[1];
		m->next_epoch = c[2];
		m->next_session = c[3];
		m->next_topo = c[4];
	}
	if ((rc = scan(t, s->chunk, m, load_chunk)) ||
	    (rc = scan(t, s->topo, m, load_topo)) ||
	    (rc = scan(t, s->volume, m, load_volume)) ||
	    (rc = scan(t, s->pext, m, load_pext)) ||
	    (rc = scan(t, s->vtable, m, load_vtable)) ||
	    (rc = scan(t, s->session, m, load_session))) {
		mdb_txn_abort(t);
		goto fail;
	}
	mdb_txn_abort(t);
	m->store = s;
	for (uint32_t i = 0; i < nloaded_sessions; i++)
		reuse_session(m, loaded_sessions[i]);
	free(loaded_sessions);
	loaded_sessions = NULL;
	nloaded_sessions = 0;
	/* chunks whose session did not survive; owners of dead sessions */
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = &m->chunks[cid];
		if (c->cid && c->session_id && !meta_session_find(m, c->session_id)) {
			c->status = CHUNK_SESSION_EXPIRED;
			c->session_id = 0;
			store_chunk(m, c);
		}
	}
	for (uint64_t pid = 1; pid < m->npext; pid++) {
		struct meta_pext *p = &m->pext[pid];
		struct meta_session *o;
		if (!(p->flags & PEXT_USED) || !p->owner)
			continue;
		o = meta_session_find(m, p->owner);
		if (o) {
			o->leases++;
		} else {
			p->owner = 0;
			store_pext(m, pid);
		}
	}
	store_commit(s);
	log_info("store loaded: %u chunk(s), %u volume(s), %llu pextent(s), %u session(s)",
		 m->next_cid ? (unsigned)m->next_cid - 1 : 0, m->nvols,
		 (unsigned long long)m->live_pext, m->nsessions);
	return 0;
fail:
	log_err("store: load: %s", mdb_strerror(rc));
	return -1;
}
