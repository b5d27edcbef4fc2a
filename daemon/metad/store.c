// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-metad's store (see store.h): LMDB under <datadir>/data.mdb.
 *
 * Sub-databases: "meta" (the counters row, the format), "chunk" (cid),
 * "topo" (id), "session" (id), "volume" (volume uuid), "vtable" (volume
 * uuid + vextent_no -> pid), "pext" (pid), "recover" (its one row, the
 * recovery config; a store without the table reads as one without the
 * row). Integer keys are big-endian so they sort.
 *
 * Records (store format 2). Every value but meta/format is a record: a
 * 4-byte header, u16 type and u16 version (little-endian), then the payload
 * of that type and version, little-endian fields at fixed offsets (encoded
 * and decoded by the table that owns them; the in-memory-only tail of a
 * struct is not stored). Types: 1 counters, 2 chunk, 3 topo, 4 session,
 * 5 volume, 6 vtable, 7 pext, 8 recover; all are at version 1 (payload
 * bytes 40, 216, 88, 24, 176, 8, 64, 24) but chunk, at version 2 (232
 * bytes: maintenance expiry and operator marks appended; version 1 rows
 * load with them 0), and the volume, at version 2 (184: version 1 and its
 * flags, SPEC 6.8 even). A new field means a new version: the decoder keeps
 * reading the old ones (converted in memory, rewritten as the current
 * version when the row is next stored). meta/format is a bare u32, the
 * store format. Format 1 had no record headers (the rows were version 1
 * payloads): such a store is rewritten in format 2 in one transaction when
 * it is opened. A row this metad cannot read (a newer version, a type other
 * than its table's, a size its version does not have, a malformed key)
 * stops the start with a message naming the table and key; no row is ever
 * skipped.
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
#include "store.h"

#define META_FORMAT 2		/* 1: the same payloads without record headers */

struct meta_store {
	int lockfd;			/* flock: one metad per data dir */
	MDB_env *env;
	MDB_dbi dbi[REC_NTYPES];	/* REC_COUNTERS: the "meta" table */
	MDB_txn *txn;			/* the open write transaction */
	MDB_txn *rtxn;			/* the load's read transaction */
};

enum key_kind { KEY_NAME, KEY_ID, KEY_UUID, KEY_UUID_VNO };

static const struct rec_kind {
	const char *table;		/* the LMDB sub-database */
	const char *what;		/* names the row in messages */
	enum key_kind key;
	const char *row;		/* KEY_NAME: the key of the one row */
	uint16_t version;		/* current; written by meta_rec_begin */
	uint16_t len[2];		/* payload bytes of version v: len[v - 1] */
} rec_kinds[REC_NTYPES] = {
	[REC_COUNTERS]	= { "meta",	"meta",		KEY_NAME,	"counters", 1, { 40 } },
	[REC_CHUNK]	= { "chunk",	"chunk",	KEY_ID,		NULL,	2, { 216, 232 } },
	[REC_TOPO]	= { "topo",	"topo",		KEY_ID,		NULL,	1, { 88 } },
	[REC_SESSION]	= { "session",	"session",	KEY_ID,		NULL,	1, { 24 } },
	[REC_VOLUME]	= { "volume",	"volume",	KEY_UUID,	NULL,	2, { 176, 184 } },
	[REC_VTABLE]	= { "vtable",	"vtable",	KEY_UUID_VNO,	NULL,	1, { 8 } },
	[REC_PEXT]	= { "pext",	"pextent",	KEY_ID,		NULL,	1, { 64 } },
	[REC_RECOVER]	= { "recover",	"recover",	KEY_NAME,	"config", 1, { 24 } },
};

static const size_t key_len[] = {
	[KEY_NAME] = 0, [KEY_ID] = 8, [KEY_UUID] = 36, [KEY_UUID_VNO] = 44,
};

static const MDB_val counters_key = { 8, (void *)"counters" };

/* ---- record encoding ---------------------------------------------------- */

void meta_rec_u16(struct meta_rec *r, uint16_t v)
{
	v = htole16(v);
	memcpy(r->p, &v, 2);
	r->p += 2;
}

void meta_rec_begin(struct meta_rec *r, enum meta_rec_type type)
{
	r->p = r->buf;
	meta_rec_u16(r, type);
	meta_rec_u16(r, rec_kinds[type].version);
}

void meta_rec_u8(struct meta_rec *r, uint8_t v)
{
	*r->p++ = v;
}

void meta_rec_u32(struct meta_rec *r, uint32_t v)
{
	v = htole32(v);
	memcpy(r->p, &v, 4);
	r->p += 4;
}

void meta_rec_u64(struct meta_rec *r, uint64_t v)
{
	v = htole64(v);
	memcpy(r->p, &v, 8);
	r->p += 8;
}

void meta_rec_mem(struct meta_rec *r, const void *p, size_t n)
{
	memcpy(r->p, p, n);
	r->p += n;
}

uint8_t meta_rd_u8(struct meta_rec_rd *r)
{
	return *r->p++;
}

uint16_t meta_rd_u16(struct meta_rec_rd *r)
{
	uint16_t v;

	memcpy(&v, r->p, 2);
	r->p += 2;
	return le16toh(v);
}

uint32_t meta_rd_u32(struct meta_rec_rd *r)
{
	uint32_t v;

	memcpy(&v, r->p, 4);
	r->p += 4;
	return le32toh(v);
}

uint64_t meta_rd_u64(struct meta_rec_rd *r)
{
	uint64_t v;

	memcpy(&v, r->p, 8);
	r->p += 8;
	return le64toh(v);
}

void meta_rd_mem(struct meta_rec_rd *r, void *p, size_t n)
{
	memcpy(p, r->p, n);
	r->p += n;
}

void meta_key_be64(uint8_t k[8], uint64_t v)
{
	v = htobe64(v);
	memcpy(k, &v, 8);
}

uint64_t meta_key_get_be64(const uint8_t k[8])
{
	uint64_t v;

	memcpy(&v, k, 8);
	return be64toh(v);
}

/* ---- reading rows ------------------------------------------------------- */

/* "pextent 42", "vtable <uuid>/7", "meta counters": a row in messages */
static void rec_name(char *buf, size_t len, enum meta_rec_type type, const MDB_val *k)
{
	const struct rec_kind *rk = &rec_kinds[type];
	const char *kd = k->mv_data;

	if (rk->key == KEY_NAME || k->mv_size != key_len[rk->key])
		snprintf(buf, len, "%s %.*s", rk->what, (int)(k->mv_size < 44 ? k->mv_size : 44), kd);
	else if (rk->key == KEY_ID)
		snprintf(buf, len, "%s %" PRIu64, rk->what, meta_key_get_be64(k->mv_data));
	else if (rk->key == KEY_UUID)
		snprintf(buf, len, "%s %.36s", rk->what, kd);
	else
		snprintf(buf, len, "%s %.36s/%" PRIu64, rk->what, kd,
			 meta_key_get_be64((const uint8_t *)kd + 36));
	for (char *c = buf; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
}

/*
 * Check the row (k, v) of a table of records of `type` and find its version
 * and payload. With `bare`, v is a version 1 payload without a header
 * (store format 1). Returns 0, or -1 with why saying what is wrong.
 */
static int rec_open(enum meta_rec_type type, bool bare, const MDB_val *k, const MDB_val *v,
		    struct meta_rec_rd *rd, char *why, size_t len)
{
	const struct rec_kind *rk = &rec_kinds[type];
	size_t n = v->mv_size;
	uint16_t t = type;

	if (key_len[rk->key] && k->mv_size != key_len[rk->key]) {
		snprintf(why, len, "key of %zu bytes, expected %zu", k->mv_size, key_len[rk->key]);
		return -1;
	}
	rd->p = v->mv_data;
	rd->ver = 1;
	if (!bare) {
		if (n < META_REC_HDR_LEN) {
			snprintf(why, len, "record of %zu bytes is shorter than its header", n);
			return -1;
		}
		t = meta_rd_u16(rd);
		rd->ver = meta_rd_u16(rd);
		n -= META_REC_HDR_LEN;
	}
	if (t != type) {
		snprintf(why, len, "record type %u is not a %s record (%u)", t, rk->what, type);
		return -1;
	}
	if (rd->ver > rk->version) {
		snprintf(why, len, "record version %u is newer than this metad (%u)",
			 rd->ver, rk->version);
		return -1;
	}
	if (rd->ver == 0) {
		snprintf(why, len, "record version 0 is unknown");
		return -1;
	}
	if (n != rk->len[rd->ver - 1]) {
		snprintf(why, len, "record version %u%s of %zu bytes, expected %u", rd->ver,
			 bare ? " (format 1, no header)" : "", n, rk->len[rd->ver - 1]);
		return -1;
	}
	return 0;
}

/* err = "<row>: <why>" */
static void rec_err(char *err, size_t len, enum meta_rec_type type, const MDB_val *k,
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

/* ---- format 1 -> 2 ------------------------------------------------------ */

/* a format 1 row (a bare version 1 payload) behind a version 1 header */
static int migrate_row(MDB_txn *t, MDB_dbi dbi, enum meta_rec_type type, MDB_val *k,
		       MDB_val *v, MDB_cursor *cur, char *err, size_t len)
{
	uint8_t key[44], buf[META_REC_MAX_LEN];
	struct meta_rec_rd rd;
	char why[128];
	uint16_t hdr[2] = { htole16(type), htole16(1) };
	int rc;

	if (rec_open(type, true, k, v, &rd, why, sizeof(why))) {
		rec_err(err, len, type, k, why);
		return -1;
	}
	memcpy(buf, hdr, META_REC_HDR_LEN);
	memcpy(buf + META_REC_HDR_LEN, v->mv_data, v->mv_size);	/* size checked */
	memcpy(key, k->mv_data, k->mv_size);	/* size checked: 8, 36 or 44 */
	k->mv_data = key;
	v->mv_size += META_REC_HDR_LEN;
	v->mv_data = buf;
	rc = cur ? mdb_cursor_put(cur, k, v, MDB_CURRENT) : mdb_put(t, dbi, k, v, 0);
	if (rc) {
		snprintf(err, len, "%s table: %s", rec_kinds[type].what, mdb_strerror(rc));
		return -1;
	}
	return 0;
}

static int migrate_format1(struct meta_store *s, MDB_txn *t, char *err, size_t len)
{
	MDB_val k = counters_key, v;
	uint64_t rows = 0;
	int rc;

	if ((rc = mdb_get(t, s->dbi[REC_COUNTERS], &k, &v)) == 0) {
		if (migrate_row(t, s->dbi[REC_COUNTERS], REC_COUNTERS, &k, &v, NULL, err, len))
			return -1;
		rows++;
	} else if (rc != MDB_NOTFOUND) {
		snprintf(err, len, "meta counters: %s", mdb_strerror(rc));
		return -1;
	}
	for (int type = REC_CHUNK; type < REC_NTYPES; type++) {
		MDB_cursor *cur = NULL;

		rc = mdb_cursor_open(t, s->dbi[type], &cur);
		while (!rc && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
			if (migrate_row(t, s->dbi[type], type, &k, &v, cur, err, len)) {
				mdb_cursor_close(cur);
				return -1;
			}
			rows++;
		}
		if (cur)
			mdb_cursor_close(cur);
		if (rc != MDB_NOTFOUND) {
			snprintf(err, len, "%s table: %s", rec_kinds[type].what, mdb_strerror(rc));
			return -1;
		}
	}
	log_info("store: format 1 migrated to format %d: %" PRIu64 " record(s) rewritten "
		 "with a record header", META_FORMAT, rows);
	return 0;
}

/* check the store format, migrate an older one; 0 or -1 with err set */
static int check_format(struct meta_store *s, MDB_txn *txn, char *err, size_t len)
{
	MDB_val k = { 6, (void *)"format" }, v;
	uint32_t fmt = 0;
	int rc = mdb_get(txn, s->dbi[REC_COUNTERS], &k, &v);
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
	if ((rc = mdb_put(txn, s->dbi[REC_COUNTERS], &k, &v, 0))) {
		snprintf(err, len, "%s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

/* ---- open, transactions ------------------------------------------------- */

int meta_store_open(struct meta_store **out, const char *dir, char *err, size_t errlen)
{
	struct meta_store *s = calloc(1, sizeof(*s));
	MDB_txn *txn = NULL;
	char path[4096], why[512];
	int rc = 0;

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
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	for (int t = REC_COUNTERS; !rc && t < REC_NTYPES; t++)
		rc = mdb_dbi_open(txn, rec_kinds[t].table, MDB_CREATE, &s->dbi[t]);
	if (rc) {
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

void meta_store_close(struct meta_store *s)
{
	if (!s)
		return;
	meta_store_read_end(s);
	meta_store_commit(s);
	mdb_env_close(s->env);
	close(s->lockfd);
	free(s);
}

static MDB_txn *txn(struct meta_store *s)
{
	int rc;

	if (!s->txn && (rc = mdb_txn_begin(s->env, NULL, 0, &s->txn)))
		fatal("begin", rc);
	return s->txn;
}

void meta_store_put(struct meta_store *s, enum meta_rec_type t, const void *key, size_t klen,
		    const struct meta_rec *r)
{
	MDB_val k = { klen, (void *)key }, v = { (size_t)(r->p - r->buf), (void *)r->buf };
	int rc;

	if (s && (rc = mdb_put(txn(s), s->dbi[t], &k, &v, 0)))
		fatal("put", rc);
}

void meta_store_put_id(struct meta_store *s, enum meta_rec_type t, uint64_t id,
		       const struct meta_rec *r)
{
	uint8_t k[8];

	meta_key_be64(k, id);
	meta_store_put(s, t, k, 8, r);
}

void meta_store_del(struct meta_store *s, enum meta_rec_type t, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key };
	int rc;

	if (s && (rc = mdb_del(txn(s), s->dbi[t], &k, NULL)) && rc != MDB_NOTFOUND)
		fatal("del", rc);
}

void meta_store_del_id(struct meta_store *s, enum meta_rec_type t, uint64_t id)
{
	uint8_t k[8];

	meta_key_be64(k, id);
	meta_store_del(s, t, k, 8);
}

bool meta_store_dirty(const struct meta_store *s)
{
	return s && s->txn;
}

void meta_store_commit(struct meta_store *s)
{
	int rc;

	if (!s || !s->txn)
		return;
	rc = mdb_txn_commit(s->txn);
	s->txn = NULL;
	if (rc)
		fatal("commit", rc);
}

/* ---- loading ------------------------------------------------------------ */

int meta_store_read_begin(struct meta_store *s, char *err, size_t len)
{
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);

	if (rc) {
		s->rtxn = NULL;
		snprintf(err, len, "%s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

void meta_store_read_end(struct meta_store *s)
{
	if (s->rtxn)
		mdb_txn_abort(s->rtxn);
	s->rtxn = NULL;
}

int meta_store_scan(struct meta_store *s, enum meta_rec_type t, meta_store_row_fn fn, void *arg,
		    char *err, size_t len)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct meta_rec_rd rd;
	char why[128];
	int rc = mdb_cursor_open(s->rtxn, s->dbi[t], &cur);

	while (!rc && (rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (rec_open(t, false, &k, &v, &rd, why, sizeof(why)) ||
		    fn(arg, k.mv_data, k.mv_size, &rd, why, sizeof(why))) {
			rec_err(err, len, t, &k, why);
			mdb_cursor_close(cur);
			return -1;
		}
	}
	if (cur)
		mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	snprintf(err, len, "%s table: %s", rec_kinds[t].what, mdb_strerror(rc));
	return -1;
}

int meta_store_get_one(struct meta_store *s, enum meta_rec_type t, struct meta_rec_rd *rd,
		       char *err, size_t len)
{
	MDB_val k = { strlen(rec_kinds[t].row), (void *)rec_kinds[t].row }, v;
	char why[128];
	int rc = mdb_get(s->rtxn, s->dbi[t], &k, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc) {
		snprintf(err, len, "%s %s: %s", rec_kinds[t].what, rec_kinds[t].row,
			 mdb_strerror(rc));
		return -1;
	}
	if (rec_open(t, false, &k, &v, rd, why, sizeof(why))) {
		rec_err(err, len, t, &k, why);
		return -1;
	}
	return 1;
}
