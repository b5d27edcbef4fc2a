// SPDX-License-Identifier: GPL-2.0
/*
 * Persistence of the meta state in LMDB (<datadir>/data.mdb).
 *
 * Sub-databases: "meta" (id counters, format), "chunk" (cid), "topo" (id),
 * "session" (id), "volume" (volume uuid), "vtable" (volume uuid + vextent_no
 * -> pid), "pext" (pid). Integer keys are big-endian so they sort.
 *
 * Records (store format 2). Every value but meta/format is a record: a
 * 4-byte header, u16 type and u16 version (little-endian), then the payload
 * of that type and version, little-endian fields at fixed offsets (the
 * rec_* encoders and decoders below; the in-memory-only tail of a struct is
 * not stored). Types: 1 counters, 2 chunk, 3 topo, 4 session, 5 volume,
 * 6 vtable, 7 pext; all are at version 1 (payload bytes 40, 216, 88, 24,
 * 176, 8, 64). A new field means a new version: the decoder keeps reading
 * the old ones (converted in memory, rewritten as the current version when
 * the row is next stored). meta/format is a bare u32, the store format.
 * Format 1 had no record headers (the rows were version 1 payloads): such a
 * store is rewritten in format 2 in one transaction when it is opened.
 * A row this metad cannot read (a newer version, a type other than its
 * table's, a size its version does not have, a malformed key) stops the
 * start with a message naming the table and key; no row is ever skipped.
 *
 * Every change made while handling requests lands in one write transaction,
 * opened on demand; the server commits it (fsync) before sending the replies
 * of that loop iteration, so nothing is acknowledged before it is durable.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
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

#define META_FORMAT 2		/* 1: the same payloads without record headers */

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
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

/* ---- records: header, per-type payload encoders and decoders ------------ */

enum rec_type {
	REC_COUNTERS = 1, REC_CHUNK, REC_TOPO, REC_SESSION, REC_VOLUME, REC_VTABLE,
	REC_PEXT, REC_NTYPES
};

#define REC_HDR_LEN	4
#define REC_MAX_LEN	(REC_HDR_LEN + 216)

enum key_kind { KEY_NAME, KEY_ID, KEY_UUID, KEY_UUID_VNO };

static const struct rec_kind {
	const char *what;		/* names the row in messages */
	enum key_kind key;
	uint16_t version;		/* current; written by the encoders */
	uint16_t len[1];		/* payload bytes of version v: len[v - 1] */
} rec_kinds[REC_NTYPES] = {
	[REC_COUNTERS]	= { "meta",	KEY_NAME,	1, { 40 } },
	[REC_CHUNK]	= { "chunk",	KEY_ID,		1, { 216 } },
	[REC_TOPO]	= { "topo",	KEY_ID,		1, { 88 } },
	[REC_SESSION]	= { "session",	KEY_ID,		1, { 24 } },
	[REC_VOLUME]	= { "volume",	KEY_UUID,	1, { 176 } },
	[REC_VTABLE]	= { "vtable",	KEY_UUID_VNO,	1, { 8 } },
	[REC_PEXT]	= { "pextent",	KEY_ID,		1, { 64 } },
};

/* version 1 is the layout the structs had when the store wrote them raw */
_Static_assert(CHUNK_PERSIST_LEN == 216, "chunk record: new field, new version");
_Static_assert(sizeof(struct meta_topo) == 88, "topo record: new field, new version");
_Static_assert(SESSION_PERSIST_LEN == 24, "session record: new field, new version");
_Static_assert(META_VOLUME_PERSIST_LEN == 176, "volume record: new field, new version");
_Static_assert(META_PEXT_PERSIST_LEN == 64, "pext record: new field, new version");

static uint8_t *put_u8(uint8_t *b, uint8_t v)
{
	*b = v;
	return b + 1;
}

static uint8_t *put_u16(uint8_t *b, uint16_t v)
{
	v = htole16(v);
	memcpy(b, &v, 2);
	return b + 2;
}

static uint8_t *put_u32(uint8_t *b, uint32_t v)
{
	v = htole32(v);
	memcpy(b, &v, 4);
	return b + 4;
}

static uint8_t *put_u64(uint8_t *b, uint64_t v)
{
	v = htole64(v);
	memcpy(b, &v, 8);
	return b + 8;
}

static uint8_t *put_mem(uint8_t *b, const void *p, size_t n)
{
	memcpy(b, p, n);
	return b + n;
}

static const uint8_t *get_u8(const uint8_t *b, uint8_t *v)
{
	*v = *b;
	return b + 1;
}

static const uint8_t *get_u16(const uint8_t *b, uint16_t *v)
{
	memcpy(v, b, 2);
	*v = le16toh(*v);
	return b + 2;
}

static const uint8_t *get_u32(const uint8_t *b, uint32_t *v)
{
	memcpy(v, b, 4);
	*v = le32toh(*v);
	return b + 4;
}

static const uint8_t *get_u64(const uint8_t *b, uint64_t *v)
{
	memcpy(v, b, 8);
	*v = le64toh(*v);
	return b + 8;
}

static const uint8_t *get_mem(const uint8_t *b, void *p, size_t n)
{
	memcpy(p, b, n);
	return b + n;
}

/* header of the current version of type; returns where the payload goes */
static uint8_t *rec_hdr(uint8_t *b, enum rec_type type)
{
	return put_u16(put_u16(b, type), rec_kinds[type].version);
}

static size_t enc_counters(uint8_t *b0, const uint64_t c[5])
{
	uint8_t *b = rec_hdr(b0, REC_COUNTERS);

	for (int i = 0; i < 5; i++)
		b = put_u64(b, c[i]);
	return b - b0;
}

static void dec_counters(uint64_t c[5], uint16_t ver, const uint8_t *b)
{
	(void)ver;
	for (int i = 0; i < 5; i++)
		b = get_u64(b, &c[i]);
}

static size_t enc_chunk(uint8_t *b0, const struct meta_chunk *c)
{
	uint8_t *b = rec_hdr(b0, REC_CHUNK);

	b = put_u32(b, c->cid);
	b = put_u32(b, c->status);
	b = put_mem(b, c->uuid, sizeof(c->uuid));
	b = put_mem(b, c->data_ip, sizeof(c->data_ip));
	b = put_mem(b, c->rpc_ip, sizeof(c->rpc_ip));
	b = put_u16(b, c->data_port);
	b = put_u16(b, c->rpc_port);
	b = put_u32(b, c->pad);
	b = put_u64(b, c->topo_id);
	b = put_u64(b, c->registered_ns);
	b = put_u64(b, c->space.total);
	b = put_u64(b, c->space.valid);
	b = put_u64(b, c->space.used);
	b = put_u64(b, c->space.thin_used);
	b = put_u64(b, c->session_id);
	b = put_u64(b, c->caps);
	return b - b0;
}

static void dec_chunk(struct meta_chunk *c, uint16_t ver, const uint8_t *b)
{
	(void)ver;
	b = get_u32(b, &c->cid);
	b = get_u32(b, &c->status);
	b = get_mem(b, c->uuid, sizeof(c->uuid));
	b = get_mem(b, c->data_ip, sizeof(c->data_ip));
	b = get_mem(b, c->rpc_ip, sizeof(c->rpc_ip));
	b = get_u16(b, &c->data_port);
	b = get_u16(b, &c->rpc_port);
	b = get_u32(b, &c->pad);
	b = get_u64(b, &c->topo_id);
	b = get_u64(b, &c->registered_ns);
	b = get_u64(b, &c->space.total);
	b = get_u64(b, &c->space.valid);
	b = get_u64(b, &c->space.used);
	b = get_u64(b, &c->space.thin_used);
	b = get_u64(b, &c->session_id);
	get_u64(b, &c->caps);
}

static size_t enc_topo(uint8_t *b0, const struct meta_topo *t)
{
	uint8_t *b = rec_hdr(b0, REC_TOPO);

	b = put_u64(b, t->id);
	b = put_u32(b, t->type);
	b = put_u32(b, t->pad);
	b = put_u64(b, t->parent);
	b = put_mem(b, t->name, sizeof(t->name));
	return b - b0;
}

static void dec_topo(struct meta_topo *t, uint16_t ver, const uint8_t *b)
{
	(void)ver;
	b = get_u64(b, &t->id);
	b = get_u32(b, &t->type);
	b = get_u32(b, &t->pad);
	b = get_u64(b, &t->parent);
	get_mem(b, t->name, sizeof(t->name));
}

static size_t enc_session(uint8_t *b0, const struct meta_session *s)
{
	uint8_t *b = rec_hdr(b0, REC_SESSION);

	b = put_u64(b, s->id);
	b = put_u32(b, s->cid);
	b = put_u32(b, s->alive);
	b = put_u64(b, s->expire_wall_ns);
	return b - b0;
}

static void dec_session(struct meta_session *s, uint16_t ver, const uint8_t *b)
{
	(void)ver;
	b = get_u64(b, &s->id);
	b = get_u32(b, &s->cid);
	b = get_u32(b, &s->alive);
	get_u64(b, &s->expire_wall_ns);
}

static size_t enc_volume(uint8_t *b0, const struct meta_volume *v)
{
	uint8_t *b = rec_hdr(b0, REC_VOLUME);

	b = put_mem(b, v->id, sizeof(v->id));
	b = put_mem(b, v->name, sizeof(v->name));
	b = put_u64(b, v->size);
	b = put_u32(b, v->replica_num);
	b = put_u32(b, v->stripe_num);
	b = put_u32(b, v->stripe_size);
	b = put_u32(b, v->prefer_cid);
	b = put_u32(b, v->thin);
	b = put_u32(b, v->nvext);
	b = put_u64(b, v->iops);
	b = put_u64(b, v->bps);
	b = put_u64(b, v->iops_burst);
	b = put_u64(b, v->bps_burst);
	b = put_u64(b, v->created_ns);
	return b - b0;
}

static void dec_volume(struct meta_volume *v, uint16_t ver, const uint8_t *b)
{
	(void)ver;
	b = get_mem(b, v->id, sizeof(v->id));
	b = get_mem(b, v->name, sizeof(v->name));
	b = get_u64(b, &v->size);
	b = get_u32(b, &v->replica_num);
	b = get_u32(b, &v->stripe_num);
	b = get_u32(b, &v->stripe_size);
	b = get_u32(b, &v->prefer_cid);
	b = get_u32(b, &v->thin);
	b = get_u32(b, &v->nvext);
	b = get_u64(b, &v->iops);
	b = get_u64(b, &v->bps);
	b = get_u64(b, &v->iops_burst);
	b = get_u64(b, &v->bps_burst);
	get_u64(b, &v->created_ns);
}

static size_t enc_vtable(uint8_t *b0, uint64_t pid)
{
	return put_u64(rec_hdr(b0, REC_VTABLE), pid) - b0;
}

static void dec_vtable(uint64_t *pid, uint16_t ver, const uint8_t *b)
{
	(void)ver;
	get_u64(b, pid);
}

static size_t enc_pext(uint8_t *b0, const struct meta_pext *p)
{
	uint8_t *b = rec_hdr(b0, REC_PEXT);

	b = put_u64(b, p->epoch);
	b = put_u64(b, p->meta_gen);
	b = put_u64(b, p->lease_epoch);
	b = put_u64(b, p->origin_pid);
	b = put_u64(b, p->origin_epoch);
	b = put_u64(b, p->owner);
	b = put_u32(b, p->location);
	b = put_u32(b, p->vol);
	b = put_u32(b, p->vextent_no);
	b = put_u8(b, p->expected);
	b = put_u8(b, p->preferred_cid);
	b = put_u8(b, p->flags);
	b = put_u8(b, p->pad);
	return b - b0;
}

static void dec_pext(struct meta_pext *p, uint16_t ver, const uint8_t *b)
{
	(void)ver;
	b = get_u64(b, &p->epoch);
	b = get_u64(b, &p->meta_gen);
	b = get_u64(b, &p->lease_epoch);
	b = get_u64(b, &p->origin_pid);
	b = get_u64(b, &p->origin_epoch);
	b = get_u64(b, &p->owner);
	b = get_u32(b, &p->location);
	b = get_u32(b, &p->vol);
	b = get_u32(b, &p->vextent_no);
	b = get_u8(b, &p->expected);
	b = get_u8(b, &p->preferred_cid);
	b = get_u8(b, &p->flags);
	get_u8(b, &p->pad);
}

static const size_t key_len[] = {
	[KEY_NAME] = 0, [KEY_ID] = 8, [KEY_UUID] = 36, [KEY_UUID_VNO] = 44,
};

/* "pextent 42", "vtable <uuid>/7", "meta counters": a row in messages */
static void rec_name(char *buf, size_t len, enum rec_type type, const MDB_val *k)
{
	const struct rec_kind *rk = &rec_kinds[type];
	const char *kd = k->mv_data;

	if (rk->key == KEY_NAME || k->mv_size != key_len[rk->key])
		snprintf(buf, len, "%s %.*s", rk->what, (int)(k->mv_size < 44 ? k->mv_size : 44), kd);
	else if (rk->key == KEY_ID)
		snprintf(buf, len, "%s %" PRIu64, rk->what, get_be64(k->mv_data));
	else if (rk->key == KEY_UUID)
		snprintf(buf, len, "%s %.36s", rk->what, kd);
	else
		snprintf(buf, len, "%s %.36s/%" PRIu64, rk->what, kd,
			 get_be64((const uint8_t *)kd + 36));
	for (char *c = buf; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
}

/*
 * Check the row (k, v) of a table of records of `type` and find its version
 * and payload. With `bare`, v is a version 1 payload without a header
 * (store format 1). Returns 0, or -1 with err saying what is wrong.
 */
static int rec_open(enum rec_type type, bool bare, const MDB_val *k, const MDB_val *v,
		    uint16_t *ver, const uint8_t **payload, char *why, size_t len)
{
	const struct rec_kind *rk = &rec_kinds[type];
	const uint8_t *b = v->mv_data;
	size_t n = v->mv_size;
	uint16_t t = type;

	if (key_len[rk->key] && k->mv_size != key_len[rk->key]) {
		snprintf(why, len, "key of %zu bytes, expected %zu", k->mv_size, key_len[rk->key]);
		return -1;
	}
	*ver = 1;
	if (!bare) {
		if (n < REC_HDR_LEN) {
			snprintf(why, len, "record of %zu bytes is shorter than its header", n);
			return -1;
		}
		b = get_u16(get_u16(b, &t), ver);
		n -= REC_HDR_LEN;
	}
	if (t != type) {
		snprintf(why, len, "record type %u is not a %s record (%u)", t, rk->what, type);
		return -1;
	}
	if (*ver > rk->version) {
		snprintf(why, len, "record version %u is newer than this metad (%u)",
			 *ver, rk->version);
		return -1;
	}
	if (*ver == 0) {
		snprintf(why, len, "record version 0 is unknown");
		return -1;
	}
	if (n != rk->len[*ver - 1]) {
		snprintf(why, len, "record version %u%s of %zu bytes, expected %u", *ver,
			 bare ? " (format 1, no header)" : "", n, rk->len[*ver - 1]);
		return -1;
	}
	*payload = b;
	return 0;
}

/* err = "<row>: <why>" */
static void rec_err(char *err, size_t len, enum rec_type type, const MDB_val *k,
		    const char *why)
{
	char name[96];

	rec_name(name, sizeof(name), type, k);
	snprintf(err, len, "%s: %s", name, why);
}

static __attribute__((noreturn)) void fatal(const char *what, int rc)
{
	log_err("store: %s: %s; cannot persist, exiting", what, mdb_strerror(rc));
	abort();
}

/* decode a payload of version ver and encode it as the current version */
static size_t rec_reencode(enum rec_type type, uint16_t ver, const uint8_t *p, uint8_t *out)
{
	union {
		uint64_t counters[5];
		struct meta_chunk chunk;
		struct meta_topo topo;
		struct meta_session session;
		struct meta_volume volume;
		uint64_t pid;
		struct meta_pext pext;
	} u;

	memset(&u, 0, sizeof(u));
	switch (type) {
	case REC_COUNTERS:
		dec_counters(u.counters, ver, p);
		return enc_counters(out, u.counters);
	case REC_CHUNK:
		dec_chunk(&u.chunk, ver, p);
		return enc_chunk(out, &u.chunk);
	case REC_TOPO:
		dec_topo(&u.topo, ver, p);
		return enc_topo(out, &u.topo);
	case REC_SESSION:
		dec_session(&u.session, ver, p);
		return enc_session(out, &u.session);
	case REC_VOLUME:
		dec_volume(&u.volume, ver, p);
		return enc_volume(out, &u.volume);
	case REC_VTABLE:
		dec_vtable(&u.pid, ver, p);
		return enc_vtable(out, u.pid);
	case REC_PEXT:
		dec_pext(&u.pext, ver, p);
		return enc_pext(out, &u.pext);
	default:
		abort();
	}
}

/* rewrite every row of a format 1 table (k, v) with a record header */
static int migrate_table(MDB_txn *t, MDB_dbi dbi, enum rec_type type, uint64_t *rows,
			 char *err, size_t len)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t key[44], buf[REC_MAX_LEN];
	const uint8_t *p;
	uint16_t ver;
	char why[128];
	int rc = mdb_cursor_open(t, dbi, &cur);

	while (!rc && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (rec_open(type, true, &k, &v, &ver, &p, why, sizeof(why))) {
			rec_err(err, len, type, &k, why);
			mdb_cursor_close(cur);
			return -1;
		}
		memcpy(key, k.mv_data, k.mv_size);	/* size checked: 8, 36 or 44 */
		k.mv_data = key;
		v.mv_size = rec_reencode(type, ver, p, buf);
		v.mv_data = buf;
		rc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT);
		(*rows)++;
	}
	if (cur)
		mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	snprintf(err, len, "%s table: %s", rec_kinds[type].what, mdb_strerror(rc));
	return -1;
}

/* format 1 -> 2: the same payloads, each behind a record header */
static int migrate_format1(struct meta_store *s, MDB_txn *t, char *err, size_t len)
{
	const struct { enum rec_type type; MDB_dbi dbi; } tables[] = {
		{ REC_CHUNK, s->chunk }, { REC_TOPO, s->topo }, { REC_SESSION, s->session },
		{ REC_VOLUME, s->volume }, { REC_VTABLE, s->vtable }, { REC_PEXT, s->pext },
	};
	MDB_val k = { 8, (void *)"counters" }, v;
	uint8_t buf[REC_MAX_LEN];
	const uint8_t *p;
	uint64_t rows = 0;
	uint16_t ver;
	char why[128];
	int rc;

	if ((rc = mdb_get(t, s->meta, &k, &v)) == 0) {
		if (rec_open(REC_COUNTERS, true, &k, &v, &ver, &p, why, sizeof(why))) {
			rec_err(err, len, REC_COUNTERS, &k, why);
			return -1;
		}
		v.mv_size = rec_reencode(REC_COUNTERS, ver, p, buf);
		v.mv_data = buf;
		rc = mdb_put(t, s->meta, &k, &v, 0);
		rows++;
	}
	if (rc && rc != MDB_NOTFOUND) {
		snprintf(err, len, "meta counters: %s", mdb_strerror(rc));
		return -1;
	}
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (migrate_table(t, tables[i].dbi, tables[i].type, &rows, err, len))
			return -1;
	log_info("store: format 1 migrated to format %d: %" PRIu64 " record(s) rewritten "
		 "with a record header", META_FORMAT, rows);
	return 0;
}

/* check the store format, migrate an older one; 0 or -1 with err set */
static int check_format(struct meta_store *s, MDB_txn *txn, char *err, size_t len)
{
	MDB_val k = { 6, (void *)"format" }, v;
	uint32_t fmt = 0;
	int rc = mdb_get(txn, s->meta, &k, &v);
	char why[256];

	if (rc == 0 && v.mv_size == 4) {
		memcpy(&fmt, v.mv_data, 4);
		fmt = le32toh(fmt);
	}
	if (rc == 0 && v.mv_size != 4) {
		snprintf(err, len, "unknown format (a format row of %zu bytes); refusing to start",
			 v.mv_size);
		return -1;
	}
	if (rc == 0 && fmt == 0) {
		snprintf(err, len, "unknown format 0; refusing to start");
		return -1;
	}
	if (rc == 0 && fmt > META_FORMAT) {
		snprintf(err, len, "format %u is newer than this metad (%d); refusing to start",
			 fmt, META_FORMAT);
		return -1;
	}
	if (rc == 0 && fmt < META_FORMAT && migrate_format1(s, txn, why, sizeof(why))) {
		snprintf(err, len, "%s; refusing to start", why);
		return -1;
	}
	if (rc == 0 && fmt == META_FORMAT)
		return 0;
	if (rc && rc != MDB_NOTFOUND) {
		snprintf(err, len, "%s", mdb_strerror(rc));
		return -1;
	}
	fmt = htole32(META_FORMAT);
	v.mv_size = 4;
	v.mv_data = &fmt;
	if ((rc = mdb_put(txn, s->meta, &k, &v, 0))) {
		snprintf(err, len, "%s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

int store_open(struct meta_store **out, const char *dir, char *err, size_t errlen)
{
	struct meta_store *s = calloc(1, sizeof(*s));
	MDB_txn *txn = NULL;
	char path[4096], why[512];
	int rc;

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
		goto fail;
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
		goto fail;
	}
	if (check_format(s, txn, why, sizeof(why))) {
		snprintf(err, errlen, "store in %s: %s", dir, why);
		goto fail;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		snprintf(err, errlen, "store in %s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	if (s->env)
		mdb_env_close(s->env);
	close(s->lockfd);
	free(s);
	return -1;
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
	uint8_t b[REC_MAX_LEN];

	if (m->store)
		put(m, m->store->meta, "counters", 8, b, enc_counters(b, c));
}

void store_chunk(struct meta *m, const struct meta_chunk *c)
{
	uint8_t k[8], b[REC_MAX_LEN];

	if (!m->store)
		return;
	be64(k, c->cid);
	put(m, m->store->chunk, k, 8, b, enc_chunk(b, c));
}

void store_topo(struct meta *m, const struct meta_topo *t)
{
	uint8_t k[8], b[REC_MAX_LEN];

	if (!m->store)
		return;
	be64(k, t->id);
	put(m, m->store->topo, k, 8, b, enc_topo(b, t));
}

void store_session(struct meta *m, const struct meta_session *s)
{
	uint8_t k[8], b[REC_MAX_LEN];

	if (!m->store)
		return;
	be64(k, s->id);
	put(m, m->store->session, k, 8, b, enc_session(b, s));
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
	uint8_t b[REC_MAX_LEN];

	if (m->store)
		put(m, m->store->volume, v->id, 36, b, enc_volume(b, v));
}

void store_vtable(struct meta *m, const struct meta_volume *v, uint32_t vno)
{
	uint8_t k[44], b[REC_MAX_LEN];

	if (!m->store)
		return;
	memcpy(k, v->id, 36);
	be64(k + 36, vno);
	put(m, m->store->vtable, k, 44, b, enc_vtable(b, v->vtable[vno]));
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
	uint8_t k[8], b[REC_MAX_LEN];

	if (!m->store)
		return;
	be64(k, pid);
	put(m, m->store->pext, k, 8, b, enc_pext(b, &m->pext[pid]));
}

void store_pext_del(struct meta *m, uint64_t pid)
{
	uint8_t k[8];

	if (!m->store)
		return;
	be64(k, pid);
	del(m, m->store->pext, k, 8);
}

/*
 * A loader gets a row whose record rec_open found sound, decodes it, and
 * returns 0, or -1 with why saying what is wrong with it.
 */
typedef int (*row_fn)(struct meta *m, const MDB_val *k, uint16_t ver, const uint8_t *p,
		      char *why, size_t len);

static int scan(MDB_txn *t, MDB_dbi dbi, enum rec_type type, struct meta *m, row_fn fn,
		char *err, size_t len)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	const uint8_t *p;
	uint16_t ver;
	char why[128];
	int rc = mdb_cursor_open(t, dbi, &cur);

	while (!rc && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (rec_open(type, false, &k, &v, &ver, &p, why, sizeof(why)) ||
		    fn(m, &k, ver, p, why, sizeof(why))) {
			rec_err(err, len, type, &k, why);
			mdb_cursor_close(cur);
			return -1;
		}
	}
	if (cur)
		mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	snprintf(err, len, "%s table: %s", rec_kinds[type].what, mdb_strerror(rc));
	return -1;
}

static int load_chunk(struct meta *m, const MDB_val *k, uint16_t ver, const uint8_t *p,
		      char *why, size_t len)
{
	struct meta_chunk c = { 0 };

	dec_chunk(&c, ver, p);
	if (!c.cid || c.cid > META_MAX_CID || c.cid != get_be64(k->mv_data)) {
		snprintf(why, len, "record of cid %u", c.cid);
		return -1;
	}
	m->chunks[c.cid] = c;
	return 0;
}

static int load_topo(struct meta *m, const MDB_val *k, uint16_t ver, const uint8_t *p,
		     char *why, size_t len)
{
	struct meta_topo t, *old;

	dec_topo(&t, ver, p);
	if (t.id != get_be64(k->mv_data)) {
		snprintf(why, len, "record of topo %" PRIu64, t.id);
		return -1;
	}
	old = meta_topo_find(m, t.id);
	if (old) {
		*old = t;
		return 0;
	}
	if (m->ntopo == m->captopo) {
		m->captopo = m->captopo ? m->captopo * 2 : 8;
		m->topo = realloc(m->topo, m->captopo * sizeof(*m->topo));
		if (!m->topo)
			abort();
	}
	m->topo[m->ntopo++] = t;
	return 0;
}

static int load_volume(struct meta *m, const MDB_val *k, uint16_t ver, const uint8_t *p,
		       char *why, size_t len)
{
	struct meta_volume v = { 0 };

	dec_volume(&v, ver, p);
	if (memcmp(v.id, k->mv_data, 36) || v.id[36]) {
		snprintf(why, len, "record of volume %.36s", v.id);
		return -1;
	}
	if (v.nvext > META_MAX_VEXTENTS) {
		snprintf(why, len, "%u vextents, more than %u", v.nvext, META_MAX_VEXTENTS);
		return -1;
	}
	meta_volume_load(m, &v);
	return 0;
}

static int load_pext(struct meta *m, const MDB_val *k, uint16_t ver, const uint8_t *rec,
		     char *why, size_t len)
{
	uint64_t pid = get_be64(k->mv_data);
	struct meta_pext *p;

	(void)why;
	(void)len;
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
	dec_pext(p, ver, rec);
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
	return 0;
}

static int load_vtable(struct meta *m, const MDB_val *k, uint16_t ver, const uint8_t *rec,
		       char *why, size_t len)
{
	char id[37];
	uint32_t vno;
	uint64_t pid;
	struct meta_volume *vol;
	struct meta_pext *p;

	(void)why;
	(void)len;
	memcpy(id, k->mv_data, 36);
	id[36] = 0;
	vno = get_be64((uint8_t *)k->mv_data + 36);
	dec_vtable(&pid, ver, rec);
	vol = meta_volume_by_id(m, id);
	p = meta_pext(m, pid);
	if (!vol || vno >= vol->nvext || !p) {
		log_warn("store: dangling vtable entry %s/%u -> %llu", id, vno,
			 (unsigned long long)pid);
		return 0;
	}
	vol->vtable[vno] = pid;
	vol->allocated++;
	p->vol = vol->idx;
	p->vextent_no = vno;
	return 0;
}

/* sessions are collected during the read pass, then reused or dropped */
static struct meta_session *loaded_sessions;
static uint32_t nloaded_sessions;

static int load_session(struct meta *m, const MDB_val *k, uint16_t ver, const uint8_t *p,
			char *why, size_t len)
{
	struct meta_session s = { 0 };

	(void)m;
	dec_session(&s, ver, p);
	if (s.id != get_be64(k->mv_data)) {
		snprintf(why, len, "record of session %" PRIu64, s.id);
		return -1;
	}
	loaded_sessions = realloc(loaded_sessions, (nloaded_sessions + 1) * sizeof(*loaded_sessions));
	if (!loaded_sessions)
		abort();
	loaded_sessions[nloaded_sessions++] = s;
	return 0;
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
	const uint8_t *rec;
	uint16_t ver;
	char err[256], why[128];
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t))) {
		snprintf(err, sizeof(err), "%s", mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_get(t, s->meta, &k, &v)) == 0) {
		uint64_t c[5];
		if (rec_open(REC_COUNTERS, false, &k, &v, &ver, &rec, why, sizeof(why))) {
			rec_err(err, sizeof(err), REC_COUNTERS, &k, why);
			mdb_txn_abort(t);
			goto fail;
		}
		dec_counters(c, ver, rec);
		m->next_cid = c[0];
		m->next_pid = c[1];
		m->next_epoch = c[2];
		m->next_session = c[3];
		m->next_topo = c[4];
	} else if (rc != MDB_NOTFOUND) {
		snprintf(err, sizeof(err), "meta counters: %s", mdb_strerror(rc));
		mdb_txn_abort(t);
		goto fail;
	}
	if (scan(t, s->chunk, REC_CHUNK, m, load_chunk, err, sizeof(err)) ||
	    scan(t, s->topo, REC_TOPO, m, load_topo, err, sizeof(err)) ||
	    scan(t, s->volume, REC_VOLUME, m, load_volume, err, sizeof(err)) ||
	    scan(t, s->pext, REC_PEXT, m, load_pext, err, sizeof(err)) ||
	    scan(t, s->vtable, REC_VTABLE, m, load_vtable, err, sizeof(err)) ||
	    scan(t, s->session, REC_SESSION, m, load_session, err, sizeof(err))) {
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
		p->owner = 0;	/* as read: on no list yet */
		if (o) {
			meta_pext_set_owner(m, pid, o);	/* onto its list, in pid order */
		} else {
			p->flags &= ~PEXT_REVOKING;	/* the session ended meanwhile */
			store_pext(m, pid);
		}
	}
	store_commit(s);
	log_info("store loaded: %u chunk(s), %u volume(s), %llu pextent(s), %u session(s)",
		 m->next_cid ? (unsigned)m->next_cid - 1 : 0, m->nvols,
		 (unsigned long long)m->live_pext, m->nsessions);
	return 0;
fail:
	free(loaded_sessions);
	loaded_sessions = NULL;
	nloaded_sessions = 0;
	log_err("store: %s; refusing to start", err);
	return -1;
}
