/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zbs-metad's store: LMDB tables of versioned records, nothing else. It
 * knows how rows are framed (key kinds, record header, versions, payload
 * sizes) and how transactions go; what a payload means is the business of
 * the table that owns it (chunk.c, topo.c, session.c, volume.c, pextent.c
 * and core.c's counters encode and decode their own).
 *
 * Every change made while handling requests lands in one write transaction,
 * opened on demand; the server commits it (fsync) before it sends the
 * replies of that loop iteration, so nothing is acknowledged before it is
 * durable. With a NULL store nothing is written (unit tests).
 */
#ifndef ZBS_META_STORE_H
#define ZBS_META_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* a table and the type of its records, one to one */
enum meta_rec_type {
	REC_COUNTERS = 1, REC_CHUNK, REC_TOPO, REC_SESSION, REC_VOLUME, REC_VTABLE,
	REC_PEXT, REC_RECOVER, REC_NTYPES
};

#define META_REC_HDR_LEN	4
#define META_REC_MAX_LEN	(META_REC_HDR_LEN + 232)

/* Encoding a record: meta_rec_begin writes the header of the current
 * version, the put functions append little-endian fields. */
struct meta_rec {
	uint8_t buf[META_REC_MAX_LEN];
	uint8_t *p;
};
void meta_rec_begin(struct meta_rec *r, enum meta_rec_type type);
void meta_rec_u8(struct meta_rec *r, uint8_t v);
void meta_rec_u16(struct meta_rec *r, uint16_t v);
void meta_rec_u32(struct meta_rec *r, uint32_t v);
void meta_rec_u64(struct meta_rec *r, uint64_t v);
void meta_rec_mem(struct meta_rec *r, const void *p, size_t n);

/* Decoding a payload the store checked (its size is its version's). */
struct meta_rec_rd {
	const uint8_t *p;
	uint16_t ver;
};
uint8_t meta_rd_u8(struct meta_rec_rd *r);
uint16_t meta_rd_u16(struct meta_rec_rd *r);
uint32_t meta_rd_u32(struct meta_rec_rd *r);
uint64_t meta_rd_u64(struct meta_rec_rd *r);
void meta_rd_mem(struct meta_rec_rd *r, void *p, size_t n);

/* big-endian integer keys (they sort) */
void meta_key_be64(uint8_t k[8], uint64_t v);
uint64_t meta_key_get_be64(const uint8_t k[8]);

struct meta_store;

int meta_store_open(struct meta_store **out, const char *dir, char *err, size_t errlen);
void meta_store_close(struct meta_store *s);

/* queue a put / delete in the open write transaction (opened on demand);
 * a failure aborts the process: nothing may be acknowledged unpersisted */
void meta_store_put(struct meta_store *s, enum meta_rec_type t, const void *key, size_t klen,
		    const struct meta_rec *r);
void meta_store_put_id(struct meta_store *s, enum meta_rec_type t, uint64_t id,
		       const struct meta_rec *r);
void meta_store_del(struct meta_store *s, enum meta_rec_type t, const void *key, size_t klen);
void meta_store_del_id(struct meta_store *s, enum meta_rec_type t, uint64_t id);
/* commit the open transaction (if any); aborts the process on failure */
void meta_store_commit(struct meta_store *s);
bool meta_store_dirty(const struct meta_store *s);

/*
 * Loading: between meta_store_read_begin and _end, meta_store_scan calls fn
 * for every row of table t whose record is sound, in key order; a row it
 * cannot read (a newer version, another type, a wrong size, a malformed
 * key) or one fn refuses (-1 with why set) ends the scan: -1 with err
 * naming the table, the key and what is wrong. No row is ever skipped.
 */
typedef int (*meta_store_row_fn)(void *arg, const uint8_t *key, size_t klen,
				 struct meta_rec_rd *rd, char *why, size_t len);
int meta_store_read_begin(struct meta_store *s, char *err, size_t len);
void meta_store_read_end(struct meta_store *s);
int meta_store_scan(struct meta_store *s, enum meta_rec_type t, meta_store_row_fn fn, void *arg,
		    char *err, size_t len);
/* the one row of a single-row table (the counters, the recover config):
 * 1 found, 0 none, -1 */
int meta_store_get_one(struct meta_store *s, enum meta_rec_type t, struct meta_rec_rd *rd,
		       char *err, size_t len);

#endif
