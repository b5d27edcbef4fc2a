// SPDX-License-Identifier: GPL-2.0
/*
 * Meta state without the network: sessions with a fake clock, leases,
 * validation, data reports, persistence round trip through LMDB.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>
#include <lmdb.h>

#include "balance.h"
#include "log.h"
#include "keepalive.h"
#include "lease.h"
#include "meta.h"
#include "owner.h"
#include "provision.h"
#include "report.h"
#include "rpc.h"

#define MS 1000000ULL
#define G (1ULL << 30)

/* a full data report of n replicas */
static const struct meta_report *full(const struct meta_replica_report *r, size_t n)
{
	static struct meta_report rep;

	rep = (struct meta_report){ .reps = r, .n = n };
	return &rep;
}

/* the i-th revoke s waits to have acknowledged, in order of asking */
static const struct meta_cmd *revoke_at(struct meta_session *s, uint32_t i)
{
	struct meta_revoke *r = TAILQ_FIRST(&s->revokes);

	while (i-- && r)
		r = TAILQ_NEXT(r, link);
	assert_non_null(r);
	return &r->cmd;
}

static const struct meta_config cfg = {
	.session_lease_ms = 1000, .keepalive_ms = 250,
	.alive_grace_ms = 5000, .idle_release_ms = 60000,
};

static const char *uuids[] = {
	"", "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
	"33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444",
};

struct fix {
	struct meta m;
	uint64_t t;
	uint64_t sid[5];
};

static void tick(struct fix *f, uint64_t ms)
{
	f->t += ms * MS;
	meta_set_clock(&f->m, f->t, 1700000000ULL * 1000 * MS + f->t);
}

static void add_chunks(struct fix *f, int n)
{
	struct merr e;
	struct meta_chunk *c;
	struct meta_session *s;
	struct meta_space sp = { 100 * G, 100 * G, 0, 0 };
	char d[32], r[32];

	for (int i = 1; i <= n; i++) {
		snprintf(d, sizeof(d), "10.0.0.%d:10201", i);
		snprintf(r, sizeof(r), "10.0.0.%d:10200", i);
		assert_int_equal(meta_chunk_register(&f->m.chunks, uuids[i], d, r, &c, &e), 0);
		assert_int_equal(c->cid, i);
		assert_int_equal(meta_session_create(&f->m, i, uuids[i], 7, &s, &e), 0);
		f->sid[i] = s->id;
		assert_int_equal(meta_keepalive(&f->m, s->id, &sp, NULL,  7, &s, &e), 0);
	}
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	meta_init(&f->m, &cfg);
	f->t = 1000 * MS;
	tick(f, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	meta_free(&f->m);
	free(f);
	return 0;
}

static struct meta_volume *mkvol(struct fix *f, const char *name, uint64_t size,
				 uint32_t replicas, bool thin)
{
	struct meta_volume_spec s = { .name = name, .size = size, .replica_num = replicas,
				      .stripe_num = 1, .stripe_size = 256 << 10, .thin = thin };
	struct meta_volume *v;
	struct merr e;

	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), 0);
	return v;
}

static void test_register(void **state)
{
	struct fix *f = *state;
	struct meta_chunk *c;
	struct merr e;

	add_chunks(f, 2);
	/* same identity again: same cid, new addresses */
	assert_int_equal(meta_chunk_register(&f->m.chunks, uuids[1], "10.0.0.9:1", "10.0.0.9:2", &c, &e), 0);
	assert_int_equal(c->cid, 1);
	assert_string_equal(c->data_ip, "10.0.0.9");
	/* cids are never reused */
	assert_int_equal(meta_chunk_register(&f->m.chunks, uuids[3], "10.0.0.3:1", "10.0.0.3:2", &c, &e), 0);
	assert_int_equal(c->cid, 3);
	/* validation */
	assert_int_equal(meta_chunk_register(&f->m.chunks, "nope", "10.0.0.3:1", "10.0.0.3:2", &c, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EINVAL);
	assert_non_null(strstr(e.msg, "uuid"));
	assert_int_equal(meta_chunk_register(&f->m.chunks, uuids[4], "10.0.0.3", "10.0.0.3:2", &c, &e), -1);
	assert_non_null(strstr(e.msg, "data address"));
	assert_int_equal(meta_chunk_register(&f->m.chunks, uuids[4], "10.0.0.3:1", "x:70000", &c, &e), -1);
	assert_non_null(strstr(e.msg, "rpc address"));
	assert_int_equal(f->m.core.next_cid, 4);
	/* session for a wrong identity */
	struct meta_session *s;
	assert_int_equal(meta_session_create(&f->m, 3, uuids[2], 0, &s, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EINVAL);
	assert_int_equal(meta_session_create(&f->m, 9, uuids[2], 0, &s, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
}

static void test_topology(void **state)
{
	struct fix *f = *state;
	struct meta_topo *z, *r, *b;
	struct merr e;

	add_chunks(f, 1);
	assert_int_equal(meta_topo_create(&f->m.topos, TOPO_ZONE, "z1", 0, &z, &e), 0);
	assert_int_equal(meta_topo_create(&f->m.topos, TOPO_RACK, "r1", z->id, &r, &e), 0);
	uint64_t rid = r->id;
	assert_int_equal(meta_topo_create(&f->m.topos, TOPO_BRICK, "b1", rid, &b, &e), 0);
	uint64_t bid = b->id;
	assert_int_equal(meta_topo_create(&f->m.topos, TOPO_BRICK, "b1", rid, &b, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EEXIST);
	assert_int_equal(meta_topo_create(&f->m.topos, TOPO_BRICK, "b2", TOPO_DEFAULT_ZONE, &b, &e), -1);
	assert_non_null(strstr(e.msg, "must be a rack"));
	assert_int_equal(meta_topo_create(&f->m.topos, TOPO_NODE, "n", bid, &b, &e), -1);
	assert_int_equal(meta_topo_move(&f->m.topos, &f->m.chunks, 1, 0, bid, &e), 0);
	assert_int_equal(f->m.chunks.by_cid[1].topo_id, bid);
	assert_int_equal(meta_topo_move(&f->m.topos, &f->m.chunks, 1, 0, rid, &e), -1);	/* not a brick */
	assert_int_equal(meta_topo_move(&f->m.topos, &f->m.chunks, 0, rid, TOPO_DEFAULT_ZONE, &e), 0);
	assert_int_equal(meta_topo_move(&f->m.topos, &f->m.chunks, 7, 0, bid, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
}

/*
 * Placement over the topology table (issue 14): chunks 1 and 2 in rack r0,
 * 3 in r1, 4 in r2. No pextent gets two replicas in one rack, placed at
 * creation (thick) or at the first write (thin, prefer local the writer).
 */
static void test_placement_racks(void **state)
{
	static const int rack_of[5] = { 0, 0, 0, 1, 2 };
	struct fix *f = *state;
	struct meta_topo *r, *b;
	struct meta_volume *v;
	uint64_t brick[3], pid;
	struct merr e;

	add_chunks(f, 4);
	for (int i = 0; i < 3; i++) {
		char name[8];
		uint64_t rid;

		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(meta_topo_create(&f->m.topos, TOPO_RACK, name, TOPO_DEFAULT_ZONE,
						  &r, &e), 0);
		rid = r->id;
		assert_int_equal(meta_topo_create(&f->m.topos, TOPO_BRICK, name, rid, &b, &e), 0);
		brick[i] = b->id;
	}
	for (uint32_t cid = 1; cid <= 4; cid++)
		assert_int_equal(meta_topo_move(&f->m.topos, &f->m.chunks, cid, 0,
						brick[rack_of[cid]], &e), 0);
	v = mkvol(f, "thick", 5 * G, 3, false);
	for (uint32_t vno = 0; vno < v->nvext; vno++) {
		struct meta_pext *p = meta_pext(&f->m.pexts, v->vtable[vno]);
		assert_int_equal(loc_count(p->location), 3);
		assert_true(loc_contains(p->location, 3) && loc_contains(p->location, 4));
	}
	v = mkvol(f, "thin", 4 * G, 2, true);
	for (uint32_t vno = 0; vno < 8; vno++) {
		uint32_t writer = 1 + vno % 2;	/* both in r0 */
		struct meta_pext *p;

		assert_int_equal(meta_get_vextent_lease(&f->m, v, vno, LEASE_WRITE, f->sid[writer],
							&pid, &e), 0);
		p = meta_pext(&f->m.pexts, pid);
		assert_int_equal(loc_get(p->location, 0), writer);
		assert_int_not_equal(rack_of[loc_get(p->location, 1)], 0);
	}
}

static void test_volume_validation(void **state)
{
	struct fix *f = *state;
	struct meta_volume_spec ok = { .name = "v", .size = 10 * G, .replica_num = 2,
				       .stripe_num = 4, .stripe_size = 256 << 10, .thin = true };
	struct meta_volume_spec s;
	struct merr e;

	add_chunks(f, 2);
	assert_int_equal(meta_volume_validate(&f->m, &ok, &e), 0);
#define BAD(field, value, st_, text) do { \
		s = ok; s.field = value; \
		assert_int_equal(meta_volume_validate(&f->m, &s, &e), -1); \
		assert_int_equal(e.status, st_); \
		assert_non_null(strstr(e.msg, text)); } while (0)
	BAD(name, "", ZBS_RPC_EINVAL, "bad volume name");
	BAD(name, "a b", ZBS_RPC_EINVAL, "bad volume name");
	BAD(name, "-x", ZBS_RPC_EINVAL, "bad volume name");
	BAD(size, 0, ZBS_RPC_EINVAL, "must be > 0");
	BAD(size, 1000, ZBS_RPC_EINVAL, "not a multiple of the sector");
	BAD(size, 1ULL << 62, ZBS_RPC_EINVAL, "exceeds");
	BAD(replica_num, 0, ZBS_RPC_EINVAL, "replica_num 0");
	BAD(replica_num, 4, ZBS_RPC_EINVAL, "replica_num 4");
	BAD(replica_num, 3, ZBS_RPC_ENOSPC, "replica_num 3 > 2 healthy");
	BAD(stripe_num, 0, ZBS_RPC_EINVAL, "stripe_num");
	BAD(stripe_size, 3000, ZBS_RPC_EINVAL, "stripe_size");
	BAD(stripe_size, 12288, ZBS_RPC_EINVAL, "stripe_size");
	BAD(prefer_cid, 9, ZBS_RPC_ENOENT, "prefer_cid 9");
	/* thick beyond the space of the chunks (100 GiB each) */
	s = ok;
	s.thin = false;
	s.size = 101 * G;
	assert_int_equal(meta_volume_validate(&f->m, &s, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOSPC);
	assert_non_null(strstr(e.msg, "not enough space"));
#undef BAD
}

static void test_volume_thick_space(void **state)
{
	struct fix *f = *state;
	struct meta_volume_spec s = { .name = "big", .size = 101 * G, .replica_num = 2,
				      .stripe_num = 1, .stripe_size = 256 << 10, .thin = false };
	struct meta_volume *v;
	struct merr e;

	add_chunks(f, 2);
	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOSPC);
	assert_int_equal(f->m.pexts.live, 0);	/* nothing changed */
	assert_int_equal(f->m.core.next_pid, 1);
	s.size = 10 * G;
	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), 0);
	assert_int_equal(v->allocated, 40);
	assert_int_equal(f->m.chunks.by_cid[1].thick_pids, 40);
	assert_int_equal(meta_provision_allocated(&f->m.chunks.by_cid[2]), 10 * G);
	/* grow reserves the new extents; shrink refused */
	assert_int_equal(meta_volume_resize(&f->m, v, 11 * G, &e), 0);
	assert_int_equal(v->allocated, 44);
	assert_int_equal(meta_volume_resize(&f->m, v, 5 * G, &e), -1);
	assert_non_null(strstr(e.msg, "shrinking"));
	assert_int_equal(meta_volume_resize(&f->m, v, 11 * G + 1, &e), -1);
	assert_int_equal(meta_volume_resize(&f->m, v, 200 * G, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOSPC);
	assert_int_equal(v->size, 11 * G);
	s.name = "big";
	assert_int_equal(meta_volume_validate(&f->m, &s, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EEXIST);
	assert_int_equal(meta_volume_delete(&f->m, v, &e), 0);
	assert_int_equal(f->m.pexts.live, 0);
	assert_int_equal(f->m.chunks.by_cid[1].thick_pids, 0);
}

/* a thick volume that takes every extent of its chunks fits, one more does not */
static void test_volume_thick_exact(void **state)
{
	struct fix *f = *state;
	struct meta_volume_spec s = { .name = "all", .size = 100 * G + ZBS_EXTENT_SIZE,
				      .replica_num = 2, .stripe_num = 1,
				      .stripe_size = 256 << 10, .thin = false };
	struct meta_volume *v;
	struct merr e;

	add_chunks(f, 2);	/* 100 GiB each: 400 extents */
	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOSPC);
	s.size = 100 * G;
	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), 0);
	assert_int_equal(f->m.chunks.by_cid[1].thick_pids, 400);
	assert_int_equal(f->m.chunks.by_cid[2].thick_pids, 400);
}

/*
 * SPEC 7.1 "new thin": each new thin pextent is charged a full extent until
 * its chunk reports. A burst that runs out only of those charges waits
 * (EAGAIN) instead of failing; a report settles them; real exhaustion is
 * ENOSPC naming the chunks.
 */
static void test_new_thin_window(void **state)
{
	struct fix *f = *state;
	struct meta_space small = { 640 << 20, 640 << 20, 0, 0 };
	struct meta_space full = { 640 << 20, 640 << 20, 500 << 20, 500 << 20 };
	struct meta_session *s;
	struct meta_volume *v;
	struct merr e;
	uint64_t pid;

	add_chunks(f, 3);
	for (int c = 1; c <= 3; c++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], &small, NULL,  7, &s,
						&e), 0);
	v = mkvol(f, "v", 4 * G, 3, true);
	/* 640 MiB: two charges of 256 MiB per chunk fit, the third waits */
	for (uint32_t vno = 0; vno < 2; vno++)
		assert_int_equal(meta_get_vextent_lease(&f->m, v, vno, LEASE_WRITE, f->sid[1],
							&pid, &e), 0);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 2, LEASE_WRITE, f->sid[1], &pid, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EAGAIN);
	assert_int_equal(f->m.pexts.live, 2);	/* nothing changed */
	assert_int_equal(meta_provision_allocated(&f->m.chunks.by_cid[1]), 2 * ZBS_EXTENT_SIZE);
	/* the chunks report: the charges become the real (empty) usage */
	for (int c = 1; c <= 3; c++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], &small, NULL,  7, &s,
						&e), 0);
	assert_int_equal(meta_provision_allocated(&f->m.chunks.by_cid[1]), 0);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 2, LEASE_WRITE, f->sid[1], &pid, &e), 0);
	/* real usage: 500 of 640 MiB used on every chunk, nothing pending helps */
	for (int c = 1; c <= 3; c++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], &full, NULL,  7, &s,
						&e), 0);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 3, LEASE_WRITE, f->sid[1], &pid, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOSPC);
	assert_non_null(strstr(e.msg, "cid 1: 140 MiB free, cid 2: 140 MiB free, cid 3: 140 MiB free"));
}

/* the lease table: who asks, what they get */
static void test_lease_table(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct merr e;
	uint64_t pid, pid2;
	struct meta_pext *p;

	add_chunks(f, 3);
	v = mkvol(f, "v", 4 * G, 2, true);
	/* read of a never-written extent: nothing allocated, no owner */
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_READ, f->sid[1], &pid, &e), 0);
	assert_int_equal(pid, 0);
	assert_int_equal(f->m.pexts.live, 0);
	/* first write allocates, prefer-local = the session's chunk */
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[2], &pid, &e), 0);
	p = meta_pext(&f->m.pexts, pid);
	assert_non_null(p);
	assert_int_equal(loc_get(p->location, 0), 2);
	assert_int_equal(loc_count(p->location), 2);
	assert_int_equal(p->owner, f->sid[2]);
	assert_int_equal(p->lease_epoch, 1);
	/* repeat grant: same owner, same lease_epoch */
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_READ, f->sid[2], &pid2, &e), 0);
	assert_int_equal(pid2, pid);
	assert_int_equal(p->lease_epoch, 1);
	/* another live session: "owned by" */
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[1], &pid2, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EOWNED);
	assert_int_equal(e.owner_session, f->sid[2]);
	assert_int_equal(e.owner_cid, 2);
	assert_non_null(strstr(e.msg, "owned by session"));
	/* release, then another session: owner changes, lease_epoch rises */
	assert_int_equal(meta_release_lease(&f->m, pid, f->sid[1], &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOTOWNER);
	assert_int_equal(meta_release_lease(&f->m, pid, f->sid[2], &e), 0);
	assert_int_equal(p->owner, 0);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[1], &pid2, &e), 0);
	assert_int_equal(p->owner, f->sid[1]);
	assert_int_equal(p->lease_epoch, 2);
	/* bad requests */
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 16, LEASE_WRITE, f->sid[1], &pid2, &e), -1);
	assert_non_null(strstr(e.msg, "out of range"));
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, 5, f->sid[1], &pid2, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EINVAL);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_WRITE, 999, &pid2, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ESESSION);
	assert_int_equal(f->m.pexts.live, 1);
	/* existence and replica removal by the owner only */
	assert_int_equal(meta_set_existence(&f->m, pid, p->epoch, f->sid[2], &e), -1);
	assert_int_equal(meta_set_existence(&f->m, pid, p->epoch + 1, f->sid[1], &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ESTALE);
	assert_int_equal(meta_set_existence(&f->m, pid, p->epoch, f->sid[1], &e), 0);
	assert_true(p->flags & PEXT_EVER_EXIST);
	uint32_t second = loc_get(p->location, 1);
	/* a removal under an older lease of the same owner is refused */
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch - 1, second, 7,
					     f->sid[1], &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ESTALE);
	assert_int_equal(loc_count(p->location), 2);
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, second, 7,
					     f->sid[1], &e), 0);
	assert_int_equal(p->meta_gen, 7);
	assert_int_equal(loc_count(p->location), 1);
	assert_false(loc_contains(p->location, second));
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, 2, 7, f->sid[1],
					     &e), -1);
	assert_non_null(strstr(e.msg, "last replica"));
}

/* a removal's gen must be one the extent can have (issue: one wrong gen made
 * every replica stale) */
static void test_remove_gen_plausible(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct meta_session *s;
	struct merr e;
	uint64_t pid;
	struct meta_pext *p;

	add_chunks(f, 3);
	v = mkvol(f, "v", 1 * G, 3, true);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[1], &pid, &e), 0);
	p = meta_pext(&f->m.pexts, pid);
	uint32_t c2 = loc_get(p->location, 1), c3 = loc_get(p->location, 2);
	/* far beyond anything written since the lease began: refused, nothing changes */
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, c2, 1ULL << 40,
					     f->sid[1], &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EINVAL);
	assert_non_null(strstr(e.msg, "not one it can have"));
	assert_int_equal(p->meta_gen, 0);
	assert_int_equal(loc_count(p->location), 3);
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, c2, UINT64_MAX,
					     f->sid[1], &e), -1);
	/* the replicas report gen 5000: a little above it is plausible, with
	 * the writes of 2 s since */
	struct meta_replica_report r = { pid, p->epoch, 5000 };
	tick(f, 1000);
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, full(&r, 1), 7, &s, &e), 0);
	tick(f, 2000);
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, c3,
					     5000 + PEXT_GEN_RATE_MAX * (PEXT_GEN_SLACK_S + 3),
					     f->sid[1], &e), -1);
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, c2, 5007,
					     f->sid[1], &e), 0);
	assert_int_equal(p->meta_gen, 5007);
	assert_int_equal(loc_count(p->location), 2);
}

/* ARCHITECTURE 4a: a new owner only after the old one acknowledged the
 * revoke or its session expired; revokes are sent until acknowledged */
static void test_revoke_ack(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct meta_session *s, *o;
	struct merr e;
	uint64_t pid, pid2, p1;
	struct meta_pext *p;

	add_chunks(f, 3);
	for (int c = 1; c <= 3; c++)	/* chunks that acknowledge revokes */
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL,  15, &s, &e), 0);
	v = mkvol(f, "v", 1 * G, 2, true);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[1], &pid, &e), 0);
	p = meta_pext(&f->m.pexts, pid);
	assert_int_equal(p->lease_epoch, 1);
	assert_int_equal(meta_revoke(&f->m, NULL, pid, 0, &e), 1);
	/* still owned, being revoked: no one else gets it, nor the owner */
	assert_int_equal(p->owner, f->sid[1]);
	assert_true(p->flags & PEXT_REVOKING);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[2], &pid2, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EOWNED);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[1], &pid2, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EAGAIN);
	/* pending until acknowledged: every keepalive finds it still there */
	o = meta_session_find(&f->m.sessions, f->sid[1]);
	assert_int_equal(o->nrevokes, 1);
	assert_int_equal(revoke_at(o, 0)->type, CMD_REVOKE_PID);
	assert_int_equal(revoke_at(o, 0)->pid, pid);
	uint64_t id = revoke_at(o, 0)->id;
	assert_true(id != 0);
	for (int i = 0; i < 3; i++) {
		tick(f, 300);
		assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, NULL,  15, &s, &e), 0);
		assert_int_equal(s->nrevokes, 1);
	}
	assert_int_equal(meta_revoke(&f->m, NULL, pid, 0, &e), 1);	/* asked again: one pending */
	assert_int_equal(o->nrevokes, 1);
	assert_int_equal(meta_revoke_acked(&f->m, o, id + 100), -1);	/* not ours */
	assert_int_equal(p->owner, f->sid[1]);
	/* acknowledged: released; the next owner gets a new lease_epoch */
	assert_int_equal(meta_revoke_acked(&f->m, o, id), 0);
	assert_int_equal(o->nrevokes, 0);
	assert_int_equal(p->owner, 0);
	assert_false(p->flags & PEXT_REVOKING);
	assert_int_equal(meta_revoke_acked(&f->m, o, id), -1);	/* a re-sent ack */
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[2], &pid2, &e), 0);
	assert_int_equal(p->owner, f->sid[2]);
	assert_int_equal(p->lease_epoch, 2);

	/* an owner that never acknowledges: released when its session expires */
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_WRITE, f->sid[2], &p1, &e), 0);
	assert_int_equal(meta_keepalive(&f->m, f->sid[2], NULL, NULL,  15, &s, &e), 0);
	assert_int_equal(meta_revoke(&f->m, v, 0, 0, &e), 2);	/* by volume: both pids */
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[2])->nrevokes, 1);
	assert_int_equal(revoke_at(meta_session_find(&f->m.sessions, f->sid[2]), 0)->type, CMD_REVOKE_VOLUME);
	/* the others are told once (their caches), nothing to wait for */
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[3])->nrevokes, 0);
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[3])->ncmds, 1);
	for (int i = 0; i < 4; i++) {
		tick(f, 300);
		for (int c = 1; c <= 3; c += 2)
			assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL,  15,
							&s, &e), 0);
		meta_expire_sessions(&f->m);
		assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_WRITE, f->sid[3], &pid2,
							&e), i < 3 ? -1 : 0);
	}
	assert_null(meta_session_find(&f->m.sessions, f->sid[2]));
	assert_int_equal(meta_pext(&f->m.pexts, p1)->owner, f->sid[3]);
	assert_false(meta_pext(&f->m.pexts, p1)->flags & PEXT_REVOKING);
	assert_false(p->flags & PEXT_REVOKING);

	/* a chunk that cannot acknowledge (caps without REVOKE_ACK): released at
	 * once with a one-time notice, as before */
	assert_int_equal(meta_keepalive(&f->m, f->sid[3], NULL, NULL,  7, &s, &e), 0);
	assert_int_equal(meta_revoke(&f->m, NULL, p1, 0, &e), 1);
	assert_int_equal(meta_pext(&f->m.pexts, p1)->owner, 0);
	assert_int_equal(s->nrevokes, 0);
}

static void test_session_expiry(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct meta_session *s;
	struct merr e;
	uint64_t pid;

	add_chunks(f, 3);
	v = mkvol(f, "v", 4 * G, 2, true);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[1], &pid, &e), 0);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_WRITE, f->sid[1], &pid, &e), 0);
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[1])->leases, 2);
	/* chunks 2 and 3 keep alive; chunk 1 stops */
	for (int i = 0; i < 5; i++) {
		tick(f, 300);
		for (int c = 2; c <= 3; c++)
			assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL,  7, &s, &e), 0);
		meta_expire_sessions(&f->m);
		if (i < 2)
			assert_int_equal(f->m.chunks.by_cid[1].status, CHUNK_HEALTHY);
	}
	assert_int_equal(f->m.chunks.by_cid[1].status, CHUNK_SESSION_EXPIRED);
	assert_int_equal(f->m.chunks.by_cid[2].status, CHUNK_HEALTHY);
	assert_null(meta_session_find(&f->m.sessions, f->sid[1]));
	assert_int_equal(meta_pext(&f->m.pexts, pid)->owner, 0);	/* leases released */
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, NULL,  7, &s, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ESESSION);
	/* a new session does not inherit leases; the other chunk can take it */
	assert_int_equal(meta_session_create(&f->m, 1, uuids[1], 7, &s, &e), 0);
	assert_int_equal(s->leases, 0);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_WRITE, f->sid[2], &pid, &e), 0);
	assert_int_equal(meta_pext(&f->m.pexts, pid)->lease_epoch, 2);
	/* new session replaces an old one of the same chunk */
	uint64_t old = f->sid[2];
	assert_int_equal(meta_session_create(&f->m, 2, uuids[2], 7, &s, &e), 0);
	assert_null(meta_session_find(&f->m.sessions, old));
	assert_int_equal(meta_pext(&f->m.pexts, pid)->owner, 0);
	/* cluster capabilities: AND of live chunks */
	assert_int_equal(meta_cluster_caps(&f->m), 7);
	assert_int_equal(meta_keepalive(&f->m, s->id, NULL, NULL,  1, &s, &e), 0);
	assert_int_equal(meta_cluster_caps(&f->m), 1);
}

/* an ended session with more leases than one slice: free at once, written
 * back a slice at a time */
static void test_session_expiry_sliced(void **state)
{
	struct fix *f = *state;
	struct meta_space big = { 1ULL << 50, 1ULL << 50, 0, 0 };
	const uint32_t n = META_RELEASE_SLICE + 100;
	struct meta_volume *v;
	struct meta_session *s;
	struct merr e;
	uint64_t pid;

	add_chunks(f, 2);
	for (int c = 1; c <= 2; c++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], &big, NULL,  7, &s, &e), 0);
	v = mkvol(f, "v", n * ZBS_EXTENT_SIZE, 1, true);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(meta_get_vextent_lease(&f->m, v, i, LEASE_WRITE, f->sid[1], &pid,
							&e), 0);
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[1])->leases, n);
	for (int i = 0; i < 4; i++) {
		tick(f, 300);
		assert_int_equal(meta_keepalive(&f->m, f->sid[2], NULL, NULL,  7, &s, &e), 0);
	}
	assert_int_equal(meta_expire_sessions(&f->m), 1);
	assert_null(meta_session_get(&f->m.sessions, f->sid[1], &e));
	assert_int_equal(f->m.chunks.by_cid[1].status, CHUNK_SESSION_EXPIRED);
	assert_int_equal(f->m.sessions.n, 1);
	/* nothing written back yet, but every pid is free: another session
	 * takes one */
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[1])->leases, n);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, n - 1, LEASE_WRITE, f->sid[2], &pid, &e), 0);
	assert_int_equal(meta_pext(&f->m.pexts, pid)->owner, f->sid[2]);
	/* a slice is what it says; the rest follows */
	assert_int_equal(meta_reap_sessions(&f->m, 100), 100);
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[1])->leases, n - 101);
	while (meta_reap_sessions(&f->m, 4096))
		;
	assert_null(meta_session_find(&f->m.sessions, f->sid[1]));
	assert_true(TAILQ_EMPTY(&f->m.sessions.dying));
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(meta_pext(&f->m.pexts, v->vtable[i])->owner,
				 i == n - 1 ? f->sid[2] : 0);
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[2])->leases, 1);
}

static void test_idle_release_and_revoke(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct meta_session *s;
	struct merr e;
	uint64_t p0, p1;

	add_chunks(f, 2);
	v = mkvol(f, "v", 4 * G, 2, true);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[1], &p0, &e), 0);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_WRITE, f->sid[2], &p1, &e), 0);
	/* p1 keeps being used, p0 goes idle */
	for (int i = 0; i < 70; i++) {
		tick(f, 1000);
		for (int c = 1; c <= 2; c++)
			assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL,  7, &s, &e), 0);
		assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_READ, f->sid[2], &p1, &e), 0);
		meta_scan_pextents(&f->m, UINT64_MAX);
	}
	assert_int_equal(meta_pext(&f->m.pexts, p0)->owner, 0);
	assert_int_equal(meta_pext(&f->m.pexts, p1)->owner, f->sid[2]);
	s = meta_session_find(&f->m.sessions, f->sid[1]);
	assert_int_equal(s->ncmds, 1);
	assert_int_equal(s->cmds[0].type, CMD_REVOKE_PID);
	assert_int_equal(s->cmds[0].pid, p0);
	/* revoke by volume: owners released, every session told */
	assert_int_equal(meta_revoke(&f->m, v, 0, 0, &e), 1);
	assert_int_equal(meta_pext(&f->m.pexts, p1)->owner, 0);
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[2])->cmds[0].type, CMD_REVOKE_VOLUME);
	assert_string_equal(meta_session_find(&f->m.sessions, f->sid[2])->cmds[0].volume_id, v->id);
	/* by pid and session */
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_READ, f->sid[2], &p1, &e), 0);
	assert_int_equal(meta_revoke(&f->m, NULL, p1, 0, &e), 1);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 1, LEASE_READ, f->sid[2], &p1, &e), 0);
	assert_int_equal(meta_revoke(&f->m, NULL, 0, f->sid[2], &e), 1);
	assert_int_equal(meta_revoke(&f->m, NULL, 12345, 0, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
}

static void test_scan_slices(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct meta_session *s;
	struct merr e;
	uint64_t pid;

	add_chunks(f, 2);
	v = mkvol(f, "v", 5 * 256ULL * 1024 * 1024, 2, true);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(meta_get_vextent_lease(&f->m, v, i, LEASE_WRITE, f->sid[1], &pid, &e), 0);
	tick(f, 61000);
	for (int c = 1; c <= 2; c++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL,  7, &s, &e), 0);
	/* 5 idle owners, 2 per slice: 2, 2, 1, then nothing left */
	assert_int_equal(meta_scan_pextents(&f->m, 2), 2);
	assert_int_equal(meta_scan_pextents(&f->m, 2), 2);
	assert_int_equal(meta_scan_pextents(&f->m, 2), 1);
	assert_int_equal(meta_scan_pextents(&f->m, 2), 0);
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[1])->leases, 0);
	assert_int_equal(meta_session_find(&f->m.sessions, f->sid[1])->ncmds, 5);
}

static void test_data_report(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct meta_session *s;
	struct merr e;
	uint64_t pid;
	struct meta_pext *p;

	add_chunks(f, 2);
	v = mkvol(f, "v", 1 * G, 2, true);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[1], &pid, &e), 0);
	p = meta_pext(&f->m.pexts, pid);
	assert_int_equal(p->alive_location, p->location);
	/* cid 1 keeps reporting at gen 5, cid 2 never reports */
	struct meta_replica_report r = { pid, p->epoch, 5 }, gone = { 9999, 1, 1 };
	for (int i = 0; i < 7; i++) {
		tick(f, 1000);
		assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, full(&r, 1), 7, &s, &e), 0);
		assert_int_equal(meta_keepalive(&f->m, f->sid[2], NULL, full(NULL, 0), 7, &s, &e), 0);
		meta_scan_pextents(&f->m, UINT64_MAX);
	}
	assert_int_equal(loc_count(p->alive_location), 1);
	assert_int_equal(loc_get(p->alive_location, 0), 1);
	/* reports below meta_gen do not count (IGNORE SMALL GEN) */
	p->meta_gen = 6;
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, full(&r, 1), 7, &s, &e), 0);
	assert_int_equal(p->alive_location, 0);
	r.gen = 6;
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, full(&r, 1), 7, &s, &e), 0);
	assert_int_equal(loc_get(p->alive_location, 0), 1);
	/* pid beyond next_pid is not ours: ignored; a deleted pid is GC'd */
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, full(&gone, 1), 7, &s, &e), 0);
	assert_int_equal(s->ncmds, 0);
	uint64_t epoch = p->epoch;
	assert_int_equal(meta_volume_delete(&f->m, v, &e), 0);
	r.epoch = epoch;
	s = meta_session_find(&f->m.sessions, f->sid[1]);
	meta_session_cmds_sent(s);
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, full(&r, 1), 7, &s, &e), 0);
	assert_int_equal(s->ncmds, 1);
	assert_int_equal(s->cmds[0].type, CMD_GC_DELETE);
	assert_int_equal(s->cmds[0].pid, pid);
	assert_int_equal(s->cmds[0].epoch, epoch);
}

/* LMDB round trip: what was acknowledged comes back, dead sessions do not */
/* duplicate commands are queued once, through table growth and delivery;
 * the queue keeps the order of first arrival */
/* CAP_REPORT_DELTA: a delta applies on the report meta holds, or asks for a
 * full one */
static void test_data_report_delta(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct meta_session *s;
	struct merr e;
	uint64_t pid[2];
	struct meta_pext *p[2];

	add_chunks(f, 2);
	v = mkvol(f, "v", 1 * G, 2, true);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(meta_get_vextent_lease(&f->m, v, i, LEASE_WRITE, f->sid[1], &pid[i],
							&e), 0);
		p[i] = meta_pext(&f->m.pexts, pid[i]);
	}
	struct meta_replica_report r[2] = { { pid[0], p[0]->epoch, 3 }, { pid[1], p[1]->epoch, 4 } };
	struct meta_report rep = { .seq = 10, .reps = r, .n = 2 };
	uint64_t rm = pid[1];

	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, &rep, 31, &s, &e), 0);
	assert_int_equal(s->report_seq, 10);
	assert_true(loc_contains(p[1]->alive_location, 1));
	/* a delta on 10: pid[0] written (gen 9), pid[1] gone from chunk 1 */
	r[0].gen = 9;
	rep = (struct meta_report){ .seq = 11, .base = 10, .reps = r, .n = 1, .removed = &rm,
				    .nremoved = 1 };
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, &rep, 31, &s, &e), 0);
	assert_int_equal(s->report_seq, 11);
	assert_int_equal(p[0]->gen_seen, 9);
	assert_false(loc_contains(p[1]->alive_location, 1));
	assert_true(loc_contains(p[1]->alive_location, 2));
	/* a delta on a report meta does not hold (a reply lost): not applied,
	 * 0 asks for a full one; so is any delta until then */
	rm = pid[0];
	rep = (struct meta_report){ .seq = 12, .base = 10, .removed = &rm, .nremoved = 1 };
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, &rep, 31, &s, &e), 0);
	assert_int_equal(s->report_seq, 0);
	assert_true(loc_contains(p[0]->alive_location, 1));
	rep.base = 11;
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, &rep, 31, &s, &e), 0);
	assert_int_equal(s->report_seq, 0);
	assert_true(loc_contains(p[0]->alive_location, 1));
	rep = (struct meta_report){ .seq = 13, .reps = r, .n = 2 };
	assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, &rep, 31, &s, &e), 0);
	assert_int_equal(s->report_seq, 13);
	assert_true(loc_contains(p[1]->alive_location, 1));	/* reported again */
}

static void test_cmd_queue_dedup(void **state)
{
	struct fix *f = *state;
	struct meta_session *s;
	const uint32_t n = 5000;

	add_chunks(f, 1);
	s = meta_session_find(&f->m.sessions, f->sid[1]);
	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < n; i++) {
			struct meta_cmd gc = { .type = CMD_GC_DELETE, .pid = i + 1, .epoch = 7 };
			struct meta_cmd other = gc, vol = { .type = CMD_REVOKE_VOLUME };
			meta_session_queue(s, &gc);
			meta_session_queue(s, &gc);
			other.epoch = 8;	/* another incarnation: another command */
			meta_session_queue(s, &other);
			snprintf(vol.volume_id, sizeof(vol.volume_id), "vol-%u", i % 10);
			meta_session_queue(s, &vol);
			if (i)	/* one queued before, again */
				meta_session_queue(s, &(struct meta_cmd){
					.type = CMD_GC_DELETE, .pid = i, .epoch = 7 });
		}
		assert_int_equal(s->ncmds, 2 * n + 10);
		for (uint32_t i = 0, k = 0; i < n; i++) {
			assert_int_equal(s->cmds[k].type, CMD_GC_DELETE);
			assert_int_equal(s->cmds[k].pid, i + 1);
			assert_int_equal(s->cmds[k++].epoch, 7);
			assert_int_equal(s->cmds[k].pid, i + 1);
			assert_int_equal(s->cmds[k++].epoch, 8);
			if (i < 10) {
				assert_int_equal(s->cmds[k].type, CMD_REVOKE_VOLUME);
				assert_int_equal(s->cmds[k++].volume_id[4], '0' + i);
			}
		}
		/* delivered: the same commands queue again */
		meta_session_cmds_sent(s);
		assert_int_equal(s->ncmds, 0);
	}
}

/* a big delete: gone for clients at once, pextents freed a slice at a
 * time; a restart in the middle frees the rest at load */
static void test_volume_delete_sliced(void **state)
{
	struct fix *f = *state;
	char dir[] = "/tmp/zbs-test-meta-XXXXXX", err[256], cmd[300];
	struct meta_space big = { 1ULL << 50, 1ULL << 50, 0, 0 };
	const uint32_t n = META_DELETE_SLICE + 300;
	struct meta_store *st;
	struct meta_volume *v, *small;
	struct meta_session *s;
	struct merr e;
	uint64_t pid;
	uint32_t idx;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(&st, dir, err, sizeof(err)), 0);
	f->m.core.store = st;
	add_chunks(f, 2);
	for (int c = 1; c <= 2; c++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], &big, NULL,  7, &s, &e), 0);
	v = mkvol(f, "v", n * ZBS_EXTENT_SIZE, 1, true);
	idx = v->idx;
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(meta_get_vextent_lease(&f->m, v, i, LEASE_WRITE, f->sid[1], &pid,
							&e), 0);
	small = mkvol(f, "small", 4 * ZBS_EXTENT_SIZE, 1, true);
	assert_int_equal(meta_get_vextent_lease(&f->m, small, 0, LEASE_WRITE, f->sid[1], &pid, &e), 0);
	meta_store_commit(st);
	assert_int_equal(f->m.pexts.live, n + 1);

	/* a small one goes at once */
	assert_int_equal(meta_volume_delete(&f->m, small, &e), 0);
	assert_int_equal(f->m.pexts.live, n);
	/* the big one: gone for clients, its name free, its pextents not yet */
	assert_int_equal(meta_volume_delete(&f->m, v, &e), 0);
	assert_null(meta_volume_find(&f->m.vols, "v", &e));
	assert_int_equal(f->m.pexts.live, n);
	v = mkvol(f, "v", 4 * ZBS_EXTENT_SIZE, 1, true);
	assert_int_not_equal(v->idx, idx);	/* the slot is held meanwhile */
	assert_int_equal(meta_reap_volumes(&f->m, 100), 100);
	assert_int_equal(f->m.pexts.live, n - 100);
	meta_store_commit(st);

	/* stopped here: the load frees what no volume holds */
	struct meta m2;
	meta_init(&m2, &cfg);
	meta_set_clock(&m2, f->t + 1, f->m.core.wall_ns);
	assert_int_equal(meta_load(&m2, st), 0);
	assert_int_equal(m2.pexts.live, 0);
	assert_non_null(meta_volume_find(&m2.vols, "v", &e));
	assert_int_equal(m2.chunks.by_cid[1].thin_pids, 0);
	m2.core.store = NULL;
	meta_free(&m2);

	/* and without a stop, the tick finishes it */
	while (meta_reap_volumes(&f->m, 4096))
		;
	assert_int_equal(f->m.pexts.live, 0);
	assert_null(meta_volume_at(&f->m.vols, idx));
	assert_true(TAILQ_EMPTY(&f->m.vols.deleting));
	assert_int_equal(f->m.chunks.by_cid[1].thin_pids + f->m.chunks.by_cid[2].thin_pids, 0);
	f->m.core.store = NULL;
	meta_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* a big thick volume is created a slice at a time; if the space goes
 * meanwhile, nothing of it stays */
static void test_volume_create_sliced(void **state)
{
	struct fix *f = *state;
	struct meta_space big = { 1ULL << 50, 1ULL << 50, 0, 0 };
	struct meta_space little = { 1ULL << 50, 10 * G, 0, 0 };
	const uint32_t n = 2 * META_CREATE_SLICE + 10;
	struct meta_volume_spec sp = { .name = "big", .size = n * ZBS_EXTENT_SIZE, .replica_num = 2,
				       .stripe_num = 1, .stripe_size = 256 << 10 };
	struct meta_volume *v;
	struct meta_session *s;
	struct merr e;

	add_chunks(f, 3);
	for (int c = 1; c <= 3; c++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], &big, NULL,  7, &s, &e), 0);
	assert_int_equal(meta_volume_create(&f->m, &sp, &v, &e), META_CREATE_PENDING);
	assert_true(v->creating);
	assert_null(meta_volume_find(&f->m.vols, "big", &e));
	assert_int_equal(e.status, ZBS_RPC_EAGAIN);
	assert_int_equal(meta_volume_create(&f->m, &sp, &v, &e), -1);	/* the name is taken */
	assert_int_equal(e.status, ZBS_RPC_EEXIST);
	v = meta_volume_by_name(&f->m.vols, "big");
	assert_int_equal(meta_volume_create_step(&f->m, v, META_CREATE_SLICE, &e), 1);
	assert_int_equal(f->m.pexts.live, META_CREATE_SLICE);
	assert_int_equal(meta_volume_create_step(&f->m, v, META_CREATE_SLICE, &e), 1);
	assert_int_equal(meta_volume_create_step(&f->m, v, META_CREATE_SLICE, &e), 0);
	assert_ptr_equal(meta_volume_find(&f->m.vols, "big", &e), v);
	assert_int_equal(v->allocated, n);
	assert_int_equal(f->m.chunks.by_cid[1].thick_pids + f->m.chunks.by_cid[2].thick_pids +
			 f->m.chunks.by_cid[3].thick_pids, 2 * n);

	/* another, and the chunks shrink under it: it fails whole */
	sp.name = "big2";
	assert_int_equal(meta_volume_create(&f->m, &sp, &v, &e), META_CREATE_PENDING);
	assert_int_equal(meta_volume_create_step(&f->m, v, META_CREATE_SLICE, &e), 1);
	for (int c = 1; c <= 3; c++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], &little, NULL,  7, &s, &e), 0);
	assert_int_equal(meta_volume_create_step(&f->m, v, META_CREATE_SLICE, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOSPC);
	assert_null(meta_volume_by_name(&f->m.vols, "big2"));
	assert_int_equal(f->m.pexts.live, n);
	assert_int_equal(f->m.chunks.by_cid[1].thick_pids + f->m.chunks.by_cid[2].thick_pids +
			 f->m.chunks.by_cid[3].thick_pids, 2 * n);
}

/* keepalives are written by the tick, all of an interval in one commit */
static void test_keepalive_batched(void **state)
{
	struct fix *f = *state;
	char dir[] = "/tmp/zbs-test-meta-XXXXXX", err[256], cmd[300];
	struct meta_space sp2 = { 100 * G, 90 * G, 1 * G, 0 };
	struct meta_store *st;
	struct meta_session *s;
	struct merr e;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(&st, dir, err, sizeof(err)), 0);
	f->m.core.store = st;
	add_chunks(f, 2);
	meta_store_commit(st);
	tick(f, 100);
	for (int i = 0; i < 3; i++)
		assert_int_equal(meta_keepalive(&f->m, f->sid[1], NULL, NULL,  7, &s, &e), 0);
	assert_int_equal(meta_keepalive(&f->m, f->sid[2], &sp2, NULL,  7, &s, &e), 0);
	assert_false(meta_store_dirty(st));	/* nothing to commit per keepalive */
	meta_tick(&f->m, 50 * MS);
	assert_true(meta_store_dirty(st));	/* one commit for all of them */
	meta_store_commit(st);
	meta_tick(&f->m, 50 * MS);
	assert_false(meta_store_dirty(st));	/* nothing new: nothing written */

	/* what the tick wrote is what a restart reads */
	struct meta m2;
	meta_init(&m2, &cfg);
	meta_set_clock(&m2, f->t + 1, f->m.core.wall_ns);
	assert_int_equal(meta_load(&m2, st), 0);
	assert_int_equal(meta_session_find(&m2.sessions, f->sid[1])->expire_wall_ns,
			 meta_session_find(&f->m.sessions, f->sid[1])->expire_wall_ns);
	assert_int_equal(m2.chunks.by_cid[2].space.valid, 90 * G);
	m2.core.store = NULL;
	meta_free(&m2);
	f->m.core.store = NULL;
	meta_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_store_roundtrip(void **state)
{
	struct fix *f = *state;
	char dir[] = "/tmp/zbs-test-meta-XXXXXX", err[256], cmd[300];
	struct meta_store *st;
	struct meta_volume *v;
	struct merr e;
	uint64_t pid, pid_w;
	char vid[40];

	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(&st, dir, err, sizeof(err)), 0);
	f->m.core.store = st;
	add_chunks(f, 3);
	v = mkvol(f, "thick", 2 * G, 3, false);
	snprintf(vid, sizeof(vid), "%s", v->id);
	v = mkvol(f, "thin", 4 * G, 2, true);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 3, LEASE_WRITE, f->sid[2], &pid_w, &e), 0);
	{
		struct meta_volume_spec s = { .name = "ev", .size = G, .replica_num = 2,
					      .stripe_num = 1, .stripe_size = 256 << 10,
					      .thin = true, .even = true };

		assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), 0);
		assert_int_equal(v->flags, META_VOL_EVEN);
	}
	meta_store_commit(st);
	tick(f, 500);
	/* reload into a fresh meta, 500 ms later: sessions still valid */
	struct meta m2;
	meta_init(&m2, &cfg);
	meta_set_clock(&m2, f->t + 1, f->m.core.wall_ns);
	assert_int_equal(meta_load(&m2, st), 0);
	assert_int_equal(m2.pexts.live, 9);
	assert_int_equal(m2.sessions.n, 3);
	assert_int_equal(m2.core.next_pid, f->m.core.next_pid);
	assert_int_equal(m2.chunks.by_cid[3].status, CHUNK_HEALTHY);
	struct meta_volume *v2 = meta_volume_find(&m2.vols, "thin", &e);
	assert_non_null(v2);
	assert_int_equal(v2->vtable[3], pid_w);
	assert_int_equal(meta_pext(&m2.pexts, pid_w)->owner, f->sid[2]);
	assert_int_equal(meta_session_find(&m2.sessions, f->sid[2])->leases, 1);
	assert_non_null(meta_volume_find(&m2.vols, vid, &e));
	assert_int_equal(v2->flags, 0);
	assert_non_null(v2 = meta_volume_find(&m2.vols, "ev", &e));
	assert_int_equal(v2->flags, META_VOL_EVEN);		/* record version 2 */
	assert_int_equal(m2.chunks.by_cid[1].thick_pids, 8);
	m2.core.store = NULL;
	meta_free(&m2);
	/* reload after the lease ran out: sessions gone, owners released */
	struct meta m3;
	meta_init(&m3, &cfg);
	meta_set_clock(&m3, f->t + 1, f->m.core.wall_ns + 5000 * MS);
	assert_int_equal(meta_load(&m3, st), 0);
	assert_int_equal(m3.sessions.n, 0);
	assert_int_equal(m3.chunks.by_cid[2].status, CHUNK_SESSION_EXPIRED);
	assert_int_equal(meta_pext(&m3.pexts, pid_w)->owner, 0);
	(void)pid;
	m3.core.store = NULL;
	meta_free(&m3);
	f->m.core.store = NULL;
	meta_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* a loop that was away does not expire sessions whose keepalives wait in
 * the sockets: the first tick after it gives the sessions the time back */
static void test_tick_after_stall(void **state)
{
	struct fix *f = *state;
	const uint64_t tick_ns = cfg.session_lease_ms / 20 * MS;
	struct meta_session *s;
	struct merr e;

	add_chunks(f, 3);
	for (int i = 0; i < 20; i++) {	/* a regular loop: chunk 3 keeps quiet */
		tick(f, 50);
		if (i % 5 == 0)
			for (int c = 1; c <= 2; c++)
				assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL,
								 7, &s, &e), 0);
		assert_int_equal(meta_tick(&f->m, tick_ns), i < 19 ? 0 : 1);
	}
	assert_null(meta_session_find(&f->m.sessions, f->sid[3]));	/* on time */
	assert_int_equal(meta_session_create(&f->m, 3, uuids[3], 7, &s, &e), 0);
	f->sid[3] = s->id;
	/* a tick late by less than an interval changes nothing */
	uint64_t exp = s->expire_ns;
	tick(f, 90);
	assert_int_equal(meta_tick(&f->m, tick_ns), 0);
	assert_int_equal(s->expire_ns, exp);
	/* the loop is away for five leases; chunks 1 and 2 sent keepalives
	 * meanwhile, chunk 3 did not */
	tick(f, 5 * cfg.session_lease_ms);
	assert_int_equal(meta_tick(&f->m, tick_ns), 0);
	for (int c = 1; c <= 3; c++)
		assert_non_null(meta_session_find(&f->m.sessions, f->sid[c]));
	assert_int_equal(f->m.chunks.by_cid[3].status, CHUNK_HEALTHY);
	for (int c = 1; c <= 2; c++)	/* read from the sockets now */
		assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL,  7, &s, &e), 0);
	/* from here the lease runs as before: chunk 3 has what it had left */
	uint32_t left_ms = (uint32_t)((meta_session_find(&f->m.sessions, f->sid[3])->expire_ns - f->t) / MS);
	assert_true(left_ms > 700 && left_ms <= cfg.session_lease_ms);
	for (uint32_t ms = 50; ms <= left_ms + 50; ms += 50) {
		tick(f, 50);
		if (ms % 250 == 0)
			for (int c = 1; c <= 2; c++)
				assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL,
								 7, &s, &e), 0);
		assert_int_equal(meta_tick(&f->m, tick_ns), ms < left_ms ? 0 : 1);
	}
	assert_null(meta_session_find(&f->m.sessions, f->sid[3]));
	for (int c = 1; c <= 2; c++)
		assert_int_equal(f->m.chunks.by_cid[c].status, CHUNK_HEALTHY);
}

/* ---- the pids a session owns: its list against a walk of the table ---- */

/* every session's list holds exactly the pids whose owner it is, linked
 * both ways, as many as its lease count; no other pid is on a list */
static void check_owned(struct meta *m)
{
	uint8_t *seen = calloc(m->pexts.npext + 1, 1);

	assert_non_null(seen);
	for (uint32_t i = 0; i < m->sessions.n; i++) {
		struct meta_session *s = m->sessions.all[i];
		uint64_t prev = 0, n = 0;

		for (uint64_t pid = s->owned_first; pid; pid = meta_pext(&m->pexts, pid)->owned_next) {
			assert_true(pid < m->pexts.npext);
			assert_non_null(meta_pext(&m->pexts, pid));
			assert_int_equal(meta_pext(&m->pexts, pid)->owner, s->id);
			assert_int_equal(meta_pext(&m->pexts, pid)->owned_prev, prev);
			assert_false(seen[pid]);
			seen[pid] = 1;
			prev = pid;
			n++;
		}
		assert_int_equal(s->owned_last, prev);
		assert_int_equal(s->leases, n);
	}
	for (uint64_t pid = 1; pid < m->pexts.npext; pid++) {
		struct meta_pext *p = meta_pext(&m->pexts, pid);

		if (p && p->owner) {
			assert_non_null(meta_session_find(&m->sessions, p->owner));
			assert_true(seen[pid]);
		} else {
			assert_false(seen[pid]);
			if (p)
				assert_false(p->flags & PEXT_REVOKING);
		}
	}
	free(seen);
}

static uint64_t rnd_state = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state % n;
}

#define OWN_CHUNKS 4
#define OWN_VEXT 64

/* chunks 1-3 acknowledge revokes, chunk 4 cannot */
static uint64_t own_caps(int c)
{
	return c < OWN_CHUNKS ? 15 : 7;
}

static struct meta_session *own_session(struct fix *f, int c)
{
	return f->m.chunks.by_cid[c].session_id ? meta_session_find(&f->m.sessions, f->m.chunks.by_cid[c].session_id) : NULL;
}

/* volume i, created again after a deletion; NULL while too few chunks are up */
static struct meta_volume *own_vol(struct fix *f, int i)
{
	static const char *const names[] = { "own-a", "own-b" };
	struct meta_volume_spec sp = { .name = names[i], .size = OWN_VEXT * ZBS_EXTENT_SIZE,
				       .replica_num = 2, .stripe_num = 1,
				       .stripe_size = 256 << 10, .thin = true };
	struct meta_volume *v = meta_volume_by_name(&f->m.vols, names[i]);
	struct merr e;

	if (!v && meta_volume_create(&f->m, &sp, &v, &e))
		return NULL;
	return v;
}

static void own_keepalives(struct fix *f, const bool *live)
{
	struct meta_session *s;
	struct merr e;

	for (int c = 1; c <= OWN_CHUNKS; c++) {
		if (!live[c])
			continue;
		if (!own_session(f, c))	/* back after its session expired */
			assert_int_equal(meta_session_create(&f->m, c, uuids[c], own_caps(c), &s, &e), 0);
		assert_int_equal(meta_keepalive(&f->m, f->m.chunks.by_cid[c].session_id, NULL, NULL,
						 own_caps(c), &s, &e), 0);
	}
}

/* grants, releases, revokes with and without acknowledgement, idle release,
 * volume deletion, sessions expiring, replaced and taken over, a reload:
 * after each step the lists agree with the owners in the table */
static void test_owned_lists(void **state)
{
	struct fix *f = *state;
	char dir[] = "/tmp/zbs-test-meta-XXXXXX", err[256], cmd[300];
	struct meta_store *st;
	struct meta_session *s;
	struct merr e;
	bool live[OWN_CHUNKS + 1] = { false, true, true, true, true };
	uint64_t pid;
	uint32_t acks = 0, grants = 0, expired = 0;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(&st, dir, err, sizeof(err)), 0);
	f->m.core.store = st;
	add_chunks(f, OWN_CHUNKS);
	own_keepalives(f, live);
	for (int step = 0; step < 4000; step++) {
		struct meta_volume *v = own_vol(f, rnd(2));
		uint32_t vno = rnd(OWN_VEXT);
		int c = 1 + rnd(OWN_CHUNKS);
		struct meta_session *cs = own_session(f, c);
		struct meta_pext *p = v ? meta_pext(&f->m.pexts, v->vtable[vno]) : NULL;

		switch (v ? rnd(12) : 10) {
		case 0: case 1: case 2: case 3:
			if (cs && !meta_get_vextent_lease(&f->m, v, vno, LEASE_WRITE, cs->id, &pid, &e))
				grants++;
			break;
		case 4:
			if (p && p->owner)
				assert_int_equal(meta_release_lease(&f->m, v->vtable[vno], p->owner, &e), 0);
			break;
		case 5:
			if (p)
				assert_true(meta_revoke(&f->m, NULL, v->vtable[vno], 0, &e) >= 0);
			break;
		case 6:
			if (cs && rnd(4) == 0)
				assert_true(meta_revoke(&f->m, NULL, 0, cs->id, &e) >= 0);
			break;
		case 7: case 8:
			if (cs && cs->nrevokes) {
				assert_int_equal(meta_revoke_acked(&f->m, cs,
								   revoke_at(cs, rnd(cs->nrevokes))->id), 0);
				acks++;
			}
			break;
		case 9:
			if (rnd(8) == 0)
				assert_true(meta_revoke(&f->m, v, 0, 0, &e) >= 0);
			else if (rnd(16) == 0)
				assert_int_equal(meta_volume_delete(&f->m, v, &e), 0);
			break;
		case 10:	/* a chunk goes quiet (its session expires), or comes back */
			live[c] = !live[c];
			break;
		case 11:	/* a chunk starts a new session: its leases end */
			if (cs && rnd(4) == 0)
				assert_int_equal(meta_session_create(&f->m, c, uuids[c], own_caps(c),
								     &s, &e), 0);
			break;
		}
		check_owned(&f->m);
		tick(f, 50);
		own_keepalives(f, live);
		expired += meta_expire_sessions(&f->m);
		meta_scan_pextents(&f->m, 16);
		check_owned(&f->m);
	}
	assert_true(grants > 500);
	assert_true(acks > 50);
	assert_true(expired > 5);

	/* takeover: chunk 1 owns every pid of a volume, goes quiet, expires;
	 * chunk 2 then takes them all */
	struct meta_volume *v = own_vol(f, 0);
	for (int c = 1; c <= OWN_CHUNKS; c++)
		live[c] = true;
	for (int i = 0; i < 25; i++) {	/* every session expires or is renewed */
		tick(f, 50);
		own_keepalives(f, live);
		meta_expire_sessions(&f->m);
	}
	for (int c = 1; c <= OWN_CHUNKS; c++)	/* no revokes left to wait for */
		while (own_session(f, c)->nrevokes)
			meta_revoke_acked(&f->m, own_session(f, c), revoke_at(own_session(f, c), 0)->id);
	for (uint32_t i = 0; i < OWN_VEXT; i++) {
		pid = v->vtable[i];
		if (pid && meta_pext(&f->m.pexts, pid)->owner)
			assert_int_equal(meta_release_lease(&f->m, pid,
							    meta_pext(&f->m.pexts, pid)->owner, &e), 0);
		assert_int_equal(meta_get_vextent_lease(&f->m, v, i, LEASE_WRITE,
							own_session(f, 1)->id, &pid, &e), 0);
	}
	uint64_t old = own_session(f, 1)->id;
	uint32_t before = own_session(f, 2)->leases;
	assert_true(own_session(f, 1)->leases >= OWN_VEXT);
	check_owned(&f->m);
	live[1] = false;
	for (int i = 0; i < 25; i++) {
		tick(f, 50);
		own_keepalives(f, live);
		meta_expire_sessions(&f->m);
	}
	assert_null(meta_session_find(&f->m.sessions, old));
	check_owned(&f->m);
	for (uint32_t i = 0; i < OWN_VEXT; i++)
		assert_int_equal(meta_get_vextent_lease(&f->m, v, i, LEASE_WRITE,
							own_session(f, 2)->id, &pid, &e), 0);
	assert_int_equal(own_session(f, 2)->leases, before + OWN_VEXT);
	check_owned(&f->m);

	/* some revokes pending, then a reload: the lists are rebuilt from the
	 * owners on disk and the pending revokes sent again */
	assert_int_equal(meta_revoke(&f->m, NULL, 0, own_session(f, 2)->id, &e),
			 (int)own_session(f, 2)->leases);
	assert_true(meta_revoke(&f->m, NULL, 0, own_session(f, 4)->id, &e) >= 0);
	meta_flush_keepalives(&f->m);	/* as the server's tick does */
	meta_store_commit(st);
	struct meta m2;
	meta_init(&m2, &cfg);
	meta_set_clock(&m2, f->t + 1, f->m.core.wall_ns);
	assert_int_equal(meta_load(&m2, st), 0);
	check_owned(&m2);
	assert_int_equal(m2.sessions.n, f->m.sessions.n);
	for (uint32_t i = 0; i < f->m.sessions.n; i++)
		assert_int_equal(meta_session_find(&m2.sessions, f->m.sessions.all[i]->id)->leases,
				 f->m.sessions.all[i]->leases);
	meta_revokes_reload(&m2);
	struct meta_session *s2 = meta_session_find(&m2.sessions, own_session(f, 2)->id);
	assert_int_equal(s2->nrevokes, s2->leases);
	for (uint32_t i = 0; i < s2->nrevokes; i++)
		assert_int_equal(meta_pext(&m2.pexts, revoke_at(s2, i)->pid)->owner, s2->id);
	m2.core.store = NULL;
	meta_free(&m2);
	/* reloaded after the sessions ran out: no owners, no lists */
	meta_init(&m2, &cfg);
	meta_set_clock(&m2, f->t + 1, f->m.core.wall_ns + 5000 * MS);
	assert_int_equal(meta_load(&m2, st), 0);
	assert_int_equal(m2.sessions.n, 0);
	check_owned(&m2);
	meta_revokes_reload(&m2);
	m2.core.store = NULL;
	meta_free(&m2);
	f->m.core.store = NULL;
	meta_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- indices: lookups by id and name stay right through churn ---- */

#define IX_VOLS 3000

struct ix_vol {
	char name[16], id[40], old_id[40];	/* old_id: of the deleted one, "" if none */
	bool live;
};

/* every live volume by name and id; deleted ids gone; the slots agree */
static void check_vol_index(struct meta *m, const struct ix_vol *iv, int n)
{
	struct merr e;
	uint32_t live = 0;

	for (int i = 0; i < n; i++) {
		struct meta_volume *v = meta_volume_by_name(&m->vols, iv[i].name);
		if (iv[i].old_id[0]) {
			assert_null(meta_volume_by_id(&m->vols, iv[i].old_id));
			assert_null(meta_volume_find(&m->vols, iv[i].old_id, &e));
			assert_int_equal(e.status, ZBS_RPC_ENOENT);
		}
		if (!iv[i].live) {
			assert_null(v);
			assert_null(meta_volume_by_id(&m->vols, iv[i].id));
			assert_null(meta_volume_find(&m->vols, iv[i].name, &e));
			assert_int_equal(e.status, ZBS_RPC_ENOENT);
			continue;
		}
		live++;
		assert_non_null(v);
		assert_string_equal(v->name, iv[i].name);
		assert_string_equal(v->id, iv[i].id);
		assert_ptr_equal(meta_volume_by_id(&m->vols, iv[i].id), v);
		assert_ptr_equal(meta_volume_find(&m->vols, iv[i].name, &e), v);
		assert_ptr_equal(meta_volume_find(&m->vols, iv[i].id, &e), v);
		assert_ptr_equal(m->vols.slots[v->idx], v);
	}
	for (uint32_t i = 0; i < m->vols.n; i++)
		if (m->vols.slots[i]) {
			assert_ptr_equal(meta_volume_by_id(&m->vols, m->vols.slots[i]->id), m->vols.slots[i]);
			live--;
		}
	assert_int_equal(live, 0);
	assert_int_equal(HASH_CNT(hh_id, m->vols.by_id), HASH_CNT(hh_name, m->vols.by_name));
}

static void test_volume_index(void **state)
{
	struct fix *f = *state;
	struct ix_vol *iv = calloc(IX_VOLS, sizeof(*iv));
	char dir[] = "/tmp/zbs-test-meta-XXXXXX", err[256], cmd[300];
	struct meta_store *st;
	struct meta_volume *v, *w;
	struct merr e;
	struct meta m2;

	assert_non_null(iv);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(&st, dir, err, sizeof(err)), 0);
	f->m.core.store = st;
	add_chunks(f, 3);
	for (int i = 0; i < IX_VOLS; i++) {
		snprintf(iv[i].name, sizeof(iv[i].name), "vol-%d", i);
		v = mkvol(f, iv[i].name, G, 1 + i % 3, true);
		snprintf(iv[i].id, sizeof(iv[i].id), "%s", v->id);
		iv[i].live = true;
	}
	check_vol_index(&f->m, iv, IX_VOLS);
	/* a name is taken once */
	struct meta_volume_spec dup = { .name = "vol-7", .size = G, .replica_num = 1,
					.stripe_num = 1, .stripe_size = 256 << 10, .thin = true };
	assert_int_equal(meta_volume_create(&f->m, &dup, &v, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EEXIST);
	/* delete every third, then every fifth of the rest: slots freed in between */
	for (int i = 0; i < IX_VOLS; i++) {
		if (i % 3 && i % 5)
			continue;
		if (!iv[i].live)
			continue;
		v = meta_volume_by_name(&f->m.vols, iv[i].name);
		assert_int_equal(meta_volume_delete(&f->m, v, &e), 0);
		iv[i].live = false;
	}
	check_vol_index(&f->m, iv, IX_VOLS);
	/* same names again: new ids, reusing the freed slots */
	for (int i = 0; i < IX_VOLS; i += 3) {
		snprintf(iv[i].old_id, sizeof(iv[i].old_id), "%s", iv[i].id);
		v = mkvol(f, iv[i].name, G, 1, true);
		assert_string_not_equal(v->id, iv[i].old_id);
		snprintf(iv[i].id, sizeof(iv[i].id), "%s", v->id);
		iv[i].live = true;
	}
	check_vol_index(&f->m, iv, IX_VOLS);
	/* a name that is another volume's id: the lower slot wins, as before */
	v = meta_volume_by_name(&f->m.vols, "vol-1");
	w = mkvol(f, v->id, G, 1, true);
	assert_ptr_equal(meta_volume_find(&f->m.vols, v->id, &e), v->idx < w->idx ? v : w);
	assert_ptr_equal(meta_volume_by_name(&f->m.vols, v->id), w);
	assert_ptr_equal(meta_volume_by_id(&f->m.vols, v->id), v);
	assert_int_equal(meta_volume_delete(&f->m, w, &e), 0);
	assert_ptr_equal(meta_volume_find(&f->m.vols, v->id, &e), v);
	meta_store_commit(st);
	/* a load indexes what it reads */
	meta_init(&m2, &cfg);
	meta_set_clock(&m2, f->t + 1, f->m.core.wall_ns);
	assert_int_equal(meta_load(&m2, st), 0);
	check_vol_index(&m2, iv, IX_VOLS);
	m2.core.store = NULL;
	meta_free(&m2);
	f->m.core.store = NULL;
	meta_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(iv);
}

#define IX_CHUNKS 200

/* cur[cid]: the chunk's session (0: none); dead: ids that must not be found */
static void check_session_index(struct meta *m, const uint64_t *cur, const uint64_t *dead,
				int ndead)
{
	uint32_t live = 0;

	for (int c = 1; c <= IX_CHUNKS; c++) {
		struct meta_session *s;
		if (!cur[c])
			continue;
		live++;
		s = meta_session_find(&m->sessions, cur[c]);
		assert_non_null(s);
		assert_int_equal(s->id, cur[c]);
		assert_int_equal(s->cid, c);
	}
	for (int i = 0; i < ndead; i++)
		assert_null(meta_session_find(&m->sessions, dead[i]));
	assert_int_equal(m->sessions.n, live);
	assert_int_equal(HASH_CNT(hh, m->sessions.by_id), live);
	for (uint32_t i = 0; i < m->sessions.n; i++)
		assert_ptr_equal(meta_session_find(&m->sessions, m->sessions.all[i]->id), m->sessions.all[i]);
}

static void test_session_index(void **state)
{
	struct fix *f = *state;
	uint64_t cur[IX_CHUNKS + 1] = { 0 }, dead[4 * IX_CHUNKS] = { 0 };
	struct meta_session *s;
	struct meta_chunk *c;
	struct merr e;
	char uuid[40], d[32], r[32];
	int ndead = 0;

	for (int i = 1; i <= IX_CHUNKS; i++) {
		snprintf(uuid, sizeof(uuid), "%08d-0000-4000-8000-%012d", i, i);
		snprintf(d, sizeof(d), "10.0.1.%d:10201", i);
		snprintf(r, sizeof(r), "10.0.1.%d:10200", i);
		assert_int_equal(meta_chunk_register(&f->m.chunks, uuid, d, r, &c, &e), 0);
		assert_int_equal(meta_session_create(&f->m, c->cid, uuid, 7, &s, &e), 0);
		cur[c->cid] = s->id;
	}
	check_session_index(&f->m, cur, dead, ndead);
	/* every third chunk opens a new session: the old one is dropped */
	for (int i = 3; i <= IX_CHUNKS; i += 3) {
		snprintf(uuid, sizeof(uuid), "%08d-0000-4000-8000-%012d", i, i);
		dead[ndead++] = cur[i];
		assert_int_equal(meta_session_create(&f->m, i, uuid, 7, &s, &e), 0);
		cur[i] = s->id;
	}
	check_session_index(&f->m, cur, dead, ndead);
	/* every fifth leaves */
	for (int i = 5; i <= IX_CHUNKS; i += 5) {
		assert_int_equal(meta_session_leave(&f->m, cur[i], &e), 0);
		dead[ndead++] = cur[i];
		cur[i] = 0;
	}
	check_session_index(&f->m, cur, dead, ndead);
	/* every seventh stops its keepalives and expires */
	for (int k = 0; k < 2; k++) {
		tick(f, 600);
		for (int i = 1; i <= IX_CHUNKS; i++)
			if (cur[i] && i % 7)
				assert_int_equal(meta_keepalive(&f->m, cur[i], NULL, NULL, 
								7, &s, &e), 0);
	}
	int expired = 0;
	for (int i = 7; i <= IX_CHUNKS; i += 7)
		if (cur[i]) {
			dead[ndead++] = cur[i];
			cur[i] = 0;
			expired++;
		}
	assert_int_equal(meta_expire_sessions(&f->m), expired);
	check_session_index(&f->m, cur, dead, ndead);
	/* the ones that left come back with new sessions */
	for (int i = 5; i <= IX_CHUNKS; i += 5) {
		snprintf(uuid, sizeof(uuid), "%08d-0000-4000-8000-%012d", i, i);
		assert_int_equal(meta_session_create(&f->m, i, uuid, 7, &s, &e), 0);
		cur[i] = s->id;
	}
	check_session_index(&f->m, cur, dead, ndead);
}

/* ---- record versions: old rows migrate, unknown or corrupt rows stop the load ---- */

static void put_le(uint8_t *b, size_t off, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		b[off + i] = v;
}

/* Write one row with the LMDB API, as another (older, newer, broken) metad would. */
static void raw_put(const char *dir, const char *table, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 64ULL << 20), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
	assert_int_equal(mdb_dbi_open(t, table, MDB_CREATE, &dbi), 0);
	assert_int_equal(mdb_put(t, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(t), 0);
	mdb_env_close(env);
}

/* Read one row back; returns its size (0: none) and copies up to len bytes. */
static size_t raw_get(const char *dir, const char *table, const void *key, size_t klen,
		      void *val, size_t len)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key }, v;
	size_t n = 0;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), 0);
	if (mdb_dbi_open(t, table, 0, &dbi) == 0 && mdb_get(t, dbi, &k, &v) == 0) {
		n = v.mv_size;
		memcpy(val, v.mv_data, n < len ? n : len);
	}
	mdb_txn_abort(t);
	mdb_env_close(env);
	return n;
}

static void be64key(uint8_t *k, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		k[i] = v;
}

/*
 * Open and load dir into m the way zbs-metad starts; 0 when both succeed,
 * else -1 with what store_open said, or what store_load logged, in msg.
 */
static int open_load(const char *dir, struct meta *m, struct meta_store **st,
		     char *msg, size_t len)
{
	char path[64] = "/tmp/zbs-test-meta-log-XXXXXX", err[256] = "";
	int fd = mkstemp(path), saved, rc;
	ssize_t n;

	assert_true(fd >= 0);
	meta_init(m, &cfg);
	meta_set_clock(m, 5000 * MS, 1700000000ULL * 1000 * MS);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	zbs_log_set_level(ZBS_LOG_INFO);
	rc = meta_store_open(st, dir, err, sizeof(err));
	if (rc == 0 && (rc = meta_load(m, *st))) {
		meta_store_close(*st);
		*st = NULL;
	}
	zbs_log_set_level(ZBS_LOG_ERR);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, msg, len - 1, 0);
	n = n > 0 ? n : 0;
	snprintf(msg + n, len - n, "%s", err);
	fprintf(stderr, "%s%s", msg, err[0] ? "\n" : "");
	close(fd);
	unlink(path);
	return rc ? -1 : 0;
}

static void rmdir_r(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

#define OLD_VOL "99999999-9999-4999-8999-999999999999"
#define OLD_NPEXT 3000

/*
 * A store of format 1 (rows are the bare structs of today's layout, no
 * header), written byte by byte: it loads with everything in it, and is
 * rewritten in the current format on the way.
 */
static void test_store_migrates_format1(void **state)
{
	char dir[] = "/tmp/zbs-test-meta-XXXXXX", msg[4096];
	struct meta_store *st;
	struct meta m;
	struct merr e;
	uint8_t k[44], rec[256];
	uint32_t fmt = 1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	raw_put(dir, "meta", "format", 6, &fmt, 4);
	memset(rec, 0, sizeof(rec));		/* counters: cid pid epoch session topo */
	put_le(rec, 0, 3, 8);
	put_le(rec, 8, OLD_NPEXT + 1, 8);
	put_le(rec, 16, 777, 8);
	put_le(rec, 24, 43, 8);
	put_le(rec, 32, 4, 8);
	raw_put(dir, "meta", "counters", 8, rec, 40);
	for (int cid = 1; cid <= 2; cid++) {	/* chunk: 216 bytes */
		memset(rec, 0, sizeof(rec));
		put_le(rec, 0, cid, 4);
		put_le(rec, 4, CHUNK_HEALTHY, 4);
		strcpy((char *)rec + 8, uuids[cid]);
		strcpy((char *)rec + 48, "10.0.0.1");
		strcpy((char *)rec + 96, "10.0.0.1");
		put_le(rec, 144, 10201, 2);
		put_le(rec, 146, 10200, 2);
		put_le(rec, 152, TOPO_DEFAULT_BRICK, 8);
		put_le(rec, 168, 100 * G, 8);
		put_le(rec, 176, 100 * G, 8);
		put_le(rec, 200, cid == 1 ? 42 : 0, 8);	/* session */
		put_le(rec, 208, 7, 8);
		be64key(k, cid);
		raw_put(dir, "chunk", k, 8, rec, 216);
	}
	memset(rec, 0, sizeof(rec));		/* session 42 of chunk 1: 24 bytes */
	put_le(rec, 0, 42, 8);
	put_le(rec, 8, 1, 4);
	put_le(rec, 12, 1, 4);
	put_le(rec, 16, 1700000000ULL * 1000 * MS + 60000 * MS, 8);
	be64key(k, 42);
	raw_put(dir, "session", k, 8, rec, 24);
	memset(rec, 0, sizeof(rec));		/* volume: 176 bytes */
	strcpy((char *)rec, OLD_VOL);
	strcpy((char *)rec + 40, "old");
	put_le(rec, 104, OLD_NPEXT * ZBS_EXTENT_SIZE, 8);
	put_le(rec, 112, 2, 4);			/* replica_num */
	put_le(rec, 116, 1, 4);			/* stripe_num */
	put_le(rec, 120, 256 << 10, 4);		/* stripe_size */
	put_le(rec, 128, 1, 4);			/* thin */
	put_le(rec, 132, OLD_NPEXT, 4);		/* nvext */
	put_le(rec, 136, 5000, 8);		/* iops */
	put_le(rec, 168, 1234567, 8);		/* created_ns */
	raw_put(dir, "volume", OLD_VOL, 36, rec, 176);
	{
		MDB_env *env;
		MDB_txn *t;
		MDB_dbi pext, vtable;

		assert_int_equal(mdb_env_create(&env), 0);
		assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
		assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
		assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
		assert_int_equal(mdb_dbi_open(t, "pext", MDB_CREATE, &pext), 0);
		assert_int_equal(mdb_dbi_open(t, "vtable", MDB_CREATE, &vtable), 0);
		for (uint64_t pid = 1; pid <= OLD_NPEXT; pid++) {	/* pextent: 64 bytes */
			uint64_t le = pid + 1000;	/* vtable: pid + 1000 at vno pid - 1 */
			MDB_val kv = { 8, k }, vv = { 64, rec };

			memset(rec, 0, sizeof(rec));
			put_le(rec, 0, pid + 1000, 8);		/* epoch */
			put_le(rec, 8, pid * 3, 8);		/* meta_gen */
			put_le(rec, 16, pid == 1 ? 5 : 0, 8);	/* lease_epoch */
			put_le(rec, 40, pid == 1 ? 42 : 0, 8);	/* owner */
			put_le(rec, 48, 0x0201, 4);		/* location: cids 1, 2 */
			put_le(rec, 56, pid - 1, 4);		/* vextent_no */
			rec[60] = 2;				/* expected */
			rec[61] = 1;				/* preferred_cid */
			rec[62] = PEXT_USED | PEXT_THIN | (pid & 1 ? PEXT_EVER_EXIST : 0);
			be64key(k, pid + 1000);
			assert_int_equal(mdb_put(t, pext, &kv, &vv, 0), 0);
			memcpy(k, OLD_VOL, 36);
			be64key(k + 36, pid - 1);
			kv.mv_size = 44;
			vv.mv_size = 8;
			vv.mv_data = &le;
			assert_int_equal(mdb_put(t, vtable, &kv, &vv, 0), 0);
		}
		assert_int_equal(mdb_txn_commit(t), 0);
		mdb_env_close(env);
	}

	for (int pass = 0; pass < 2; pass++) {	/* migrated, then as written */
		assert_int_equal(open_load(dir, &m, &st, msg, sizeof(msg)), 0);
		assert_int_equal(m.core.next_pid, OLD_NPEXT + 1);
		assert_int_equal(m.core.next_epoch, 777);
		assert_int_equal(m.core.next_session, 43);
		assert_int_equal(m.chunks.by_cid[1].status, CHUNK_HEALTHY);
		assert_string_equal(m.chunks.by_cid[2].uuid, uuids[2]);
		assert_int_equal(m.chunks.by_cid[2].rpc_port, 10200);
		assert_int_equal(m.chunks.by_cid[1].space.total, 100 * G);
		assert_int_equal(m.chunks.by_cid[1].thin_pids, OLD_NPEXT);
		assert_int_equal(m.sessions.n, 1);
		assert_non_null(meta_session_find(&m.sessions, 42));
		assert_int_equal(meta_session_find(&m.sessions, 42)->leases, 1);
		struct meta_volume *v = meta_volume_find(&m.vols, "old", &e);
		assert_non_null(v);
		assert_string_equal(v->id, OLD_VOL);
		assert_int_equal(v->size, OLD_NPEXT * ZBS_EXTENT_SIZE);
		assert_int_equal(v->replica_num, 2);
		assert_int_equal(v->thin, 1);
		assert_int_equal(v->iops, 5000);
		assert_int_equal(v->created_ns, 1234567);
		assert_int_equal(v->flags, 0);		/* version 1: not even */
		assert_int_equal(v->allocated, OLD_NPEXT);
		assert_int_equal(m.pexts.live, OLD_NPEXT);
		for (uint64_t pid = 1; pid <= OLD_NPEXT; pid++) {
			struct meta_pext *p = meta_pext(&m.pexts, pid + 1000);
			assert_int_equal(v->vtable[pid - 1], pid + 1000);
			assert_non_null(p);
			assert_int_equal(p->epoch, pid + 1000);
			assert_int_equal(p->meta_gen, pid * 3);
			assert_int_equal(p->location, 0x0201);
			assert_int_equal(p->expected, 2);
			assert_int_equal(p->preferred_cid, 1);
			assert_int_equal(p->flags, PEXT_USED | PEXT_THIN |
					 (pid & 1 ? PEXT_EVER_EXIST : 0));
			assert_int_equal(p->vextent_no, pid - 1);
			assert_int_equal(p->owner, pid == 1 ? 42 : 0);
		}
		m.core.store = NULL;
		meta_free(&m);
		meta_store_close(st);
		if (pass == 0) {
			assert_non_null(strstr(msg, "migrated"));
			/* rewritten: the format moved on, every row has its header */
			assert_int_equal(raw_get(dir, "meta", "format", 6, &fmt, 4), 4);
			assert_true(fmt > 1);
			be64key(k, 1001);
			assert_int_equal(raw_get(dir, "pext", k, 8, rec, sizeof(rec)), 4 + 64);
			assert_int_equal(rec[0] | rec[1] << 8, 7);	/* REC_PEXT */
			assert_int_equal(rec[2] | rec[3] << 8, 1);	/* version 1 */
			assert_int_equal(rec[4 + 0] | rec[4 + 1] << 8, 1001 & 0xffff);
		}
	}
	rmdir_r(dir);
}

/*
 * A row this metad cannot read (a size no version has, a newer version, a
 * record of another type) stops the start with a message naming the
 * table and key: the row is never dropped.
 */
/*
 * The chunk record grew (version 2: maintenance expiry, operator marks): a
 * version 1 row, as the metad before wrote it, loads with them off and is
 * rewritten as version 2 when next stored; version 2 keeps them.
 */
static void test_store_chunk_v1(void **state)
{
	char dir[] = "/tmp/zbs-test-meta-XXXXXX", msg[4096];
	struct meta_store *st;
	struct meta m;
	uint8_t k[8], rec[256];
	struct meta_chunk *c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(&st, dir, msg, sizeof(msg)), 0);
	meta_store_close(st);
	memset(rec, 0, sizeof(rec));
	put_le(rec, 0, 2, 2);			/* type chunk */
	put_le(rec, 2, 1, 2);			/* version 1: 216 bytes */
	put_le(rec, 4, 1, 4);			/* cid 1 */
	put_le(rec, 8, CHUNK_SESSION_EXPIRED, 4);
	strcpy((char *)rec + 12, uuids[1]);
	strcpy((char *)rec + 52, "10.0.0.1");
	strcpy((char *)rec + 100, "10.0.0.1");
	put_le(rec, 148, 10201, 2);
	put_le(rec, 150, 10200, 2);
	put_le(rec, 156, TOPO_DEFAULT_BRICK, 8);
	put_le(rec, 172, 100 * G, 8);
	put_le(rec, 180, 100 * G, 8);
	put_le(rec, 212, 7, 8);			/* caps */
	be64key(k, 1);
	raw_put(dir, "chunk", k, 8, rec, 4 + 216);
	assert_int_equal(open_load(dir, &m, &st, msg, sizeof(msg)), 0);
	c = meta_chunk(&m.chunks, 1);
	assert_non_null(c);
	assert_string_equal(c->uuid, uuids[1]);
	assert_int_equal(c->data_port, 10201);
	assert_int_equal(c->caps, 7);
	assert_int_equal(c->space.valid, 100 * G);
	assert_int_equal(c->maint_until_ns, 0);
	assert_int_equal(c->admin, 0);
	assert_false(meta_chunk_in_maintenance(c, m.core.wall_ns));
	/* stored again: version 2, the new fields kept */
	c->maint_until_ns = m.core.wall_ns + 3600 * 1000 * MS;
	c->admin = CHUNK_ADMIN_REMOVING;
	meta_chunk_store(&m.chunks, c);
	meta_store_commit(st);
	m.core.store = NULL;
	meta_free(&m);
	meta_store_close(st);
	assert_int_equal(raw_get(dir, "chunk", k, 8, rec, sizeof(rec)), 4 + 232);
	assert_int_equal(rec[2], 2);
	assert_int_equal(open_load(dir, &m, &st, msg, sizeof(msg)), 0);
	c = meta_chunk(&m.chunks, 1);
	assert_true(meta_chunk_in_maintenance(c, m.core.wall_ns));
	assert_int_equal(c->admin, CHUNK_ADMIN_REMOVING);
	assert_false(meta_chunk_takes_replicas(c, m.core.wall_ns));
	m.core.store = NULL;
	meta_free(&m);
	meta_store_close(st);
	rmdir_r(dir);
}

static void test_store_refuses_unknown_records(void **state)
{
	static const struct {
		bool old;		/* in a format 1 store */
		const char *table;
		size_t klen, vlen;
		uint8_t hdr[4];		/* record header, if !old */
		const char *expect[2];
	} cases[] = {
		{ true, "pext", 8, 60, { 0 }, { "pextent 5", "60 bytes" } },
		{ true, "vtable", 44, 4, { 0 }, { "vtable " OLD_VOL "/3", "4 bytes" } },
		{ true, "volume", 36, 170, { 0 }, { "volume " OLD_VOL, "170 bytes" } },
		{ true, "session", 8, 20, { 0 }, { "session 5", "20 bytes" } },
		{ true, "meta", 8, 32, { 0 }, { "counters", "32 bytes" } },
		{ false, "pext", 8, 4 + 64, { 7, 0, 7, 0 }, { "pextent 5", "version 7 is newer" } },
		{ false, "pext", 8, 4 + 60, { 7, 0, 1, 0 }, { "pextent 5", "60 bytes" } },
		{ false, "pext", 8, 4 + 64, { 3, 0, 1, 0 }, { "pextent 5", "record type 3" } },
		{ false, "chunk", 8, 4 + 232, { 2, 0, 3, 0 }, { "chunk 5", "version 3 is newer" } },
		{ false, "chunk", 8, 4 + 232, { 2, 0, 1, 0 }, { "chunk 5", "232 bytes" } },
		{ false, "chunk", 8, 4 + 216, { 2, 0, 2, 0 }, { "chunk 5", "216 bytes" } },
		{ false, "topo", 8, 4 + 88, { 3, 0, 9, 0 }, { "topo 5", "version 9 is newer" } },
		{ false, "vtable", 44, 4 + 8, { 6, 0, 3, 0 }, { "vtable " OLD_VOL "/3", "newer" } },
		{ false, "volume", 36, 4 + 176, { 5, 0, 4, 0 }, { "volume " OLD_VOL, "newer" } },
		{ false, "session", 8, 2, { 4, 0 }, { "session 5", "2 bytes" } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dir[] = "/tmp/zbs-test-meta-XXXXXX", msg[4096];
		struct meta_store *st;
		struct meta m;
		uint8_t k[44], rec[512] = { 0 };
		uint32_t fmt = 1;

		assert_non_null(mkdtemp(dir));
		if (cases[i].old) {
			raw_put(dir, "meta", "format", 6, &fmt, 4);
		} else {	/* a store this metad made */
			assert_int_equal(meta_store_open(&st, dir, msg, sizeof(msg)), 0);
			meta_store_close(st);
			memcpy(rec, cases[i].hdr, 4);
		}
		if (cases[i].klen == 44) {
			memcpy(k, OLD_VOL, 36);
			be64key(k + 36, 3);
		} else if (cases[i].klen == 36) {
			memcpy(k, OLD_VOL, 36);
		} else if (strcmp(cases[i].table, "meta") == 0) {
			memcpy(k, "counters", 8);
		} else {
			be64key(k, 5);
			put_le(rec, cases[i].old ? 0 : 4, 5, 8);	/* id/cid */
		}
		raw_put(dir, cases[i].table, k, cases[i].klen, rec, cases[i].vlen);
		print_message("case %zu: %s row of %zu bytes\n", i, cases[i].table, cases[i].vlen);
		assert_int_equal(open_load(dir, &m, &st, msg, sizeof(msg)), -1);
		for (int j = 0; j < 2; j++)
			if (!strstr(msg, cases[i].expect[j]))
				fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].expect[j], msg);
		assert_non_null(strstr(msg, "refusing to start"));
		meta_free(&m);
		rmdir_r(dir);
	}
}


/*
 * SPEC 4.7: a chunk's keepalive says it is failslow; meta keeps the flag
 * (until a keepalive says otherwise), places new pextents elsewhere while
 * others can take them, and counts its space as no valid space.
 */
static void test_failslow_keepalive(void **state)
{
	struct fix *f = *state;
	struct meta_space sp = { 100 * G, 100 * G, 0, 0 };
	struct meta_keepalive_in in = { .space = &sp, .caps = 7, .failslow = true };
	struct meta_cluster_load *cl = calloc(1, sizeof(*cl));
	struct meta_session *s;
	struct meta_volume *v;
	struct merr e;

	add_chunks(f, 4);
	assert_false(f->m.chunks.by_cid[2].failslow);
	assert_int_equal(meta_keepalive_in(&f->m, f->sid[2], &in, &s, &e), 0);
	assert_true(f->m.chunks.by_cid[2].failslow);
	/* the next keepalive says it again: it stays */
	assert_int_equal(meta_keepalive_in(&f->m, f->sid[2], &in, &s, &e), 0);
	assert_true(f->m.chunks.by_cid[2].failslow);

	/* 16 thick extents of 3 replicas on 4 chunks: never on cid 2 */
	v = mkvol(f, "fs", 16 * ZBS_EXTENT_SIZE, 3, false);
	for (uint32_t i = 0; i < v->nvext; i++) {
		struct meta_pext *p = meta_pext(&f->m.pexts, v->vtable[i]);

		assert_non_null(p);
		assert_int_equal(loc_count(p->location), 3);
		assert_false(loc_contains(p->location, 2));
	}
	/* the last resort, not refused: with 3 and 4 failslow too, 3 replicas
	 * take cid 1 and two failslow chunks */
	assert_int_equal(meta_keepalive_in(&f->m, f->sid[3], &in, &s, &e), 0);
	assert_int_equal(meta_keepalive_in(&f->m, f->sid[4], &in, &s, &e), 0);
	v = mkvol(f, "fs3", ZBS_EXTENT_SIZE, 3, false);
	assert_true(loc_contains(meta_pext(&f->m.pexts, v->vtable[0])->location, 1));
	in.failslow = false;
	assert_int_equal(meta_keepalive_in(&f->m, f->sid[3], &in, &s, &e), 0);
	assert_int_equal(meta_keepalive_in(&f->m, f->sid[4], &in, &s, &e), 0);

	/* cluster load: failslow, no valid space (level super high), and the
	 * cluster's valid space is the other three's */
	meta_cluster_load(&f->m, cl);
	assert_int_equal(cl->n, 4);
	assert_true(cl->chunks[1].failslow);
	assert_false(cl->chunks[0].failslow);
	assert_int_equal(cl->chunks[1].valid, 0);
	assert_int_equal(cl->chunks[1].level, META_LOAD_SUPER_HIGH);
	assert_int_equal(cl->chunks[0].valid, 100 * G);
	assert_int_equal(cl->valid, 300 * G);

	/* a keepalive that says nothing of it leaves it */
	assert_int_equal(meta_keepalive(&f->m, f->sid[2], &sp, NULL, 7, &s, &e), 0);
	assert_true(f->m.chunks.by_cid[2].failslow);
	/* one without the flag (an old chunk, or well again) clears it */
	in.failslow = false;
	assert_int_equal(meta_keepalive_in(&f->m, f->sid[2], &in, &s, &e), 0);
	assert_false(f->m.chunks.by_cid[2].failslow);
	meta_cluster_load(&f->m, cl);
	assert_int_equal(cl->chunks[1].valid, 100 * G);
	assert_int_equal(cl->valid, 400 * G);
	free(cl);
}


/*
 * SPEC 6.8: an even volume's pextents ignore prefer local (the volume's
 * and the lease requester's) and spread evenly over the chunks.
 */
static void test_even_volume(void **state)
{
	struct fix *f = *state;
	struct meta_volume_spec s = { .name = "tmpl", .size = 32 * ZBS_EXTENT_SIZE,
				      .replica_num = 2, .stripe_num = 1,
				      .stripe_size = 256 << 10, .prefer_cid = 1, .even = true };
	uint32_t by_cid[5] = { 0 };
	struct meta_volume *v;
	struct merr e;
	uint64_t pid;

	add_chunks(f, 4);
	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), 0);
	for (uint32_t i = 0; i < v->nvext; i++) {
		struct meta_pext *p = meta_pext(&f->m.pexts, v->vtable[i]);

		assert_int_equal(p->preferred_cid, 0);	/* none kept */
		for (int k = 0; k < loc_count(p->location); k++)
			by_cid[loc_get(p->location, k)]++;
	}
	for (int c = 1; c <= 4; c++)
		assert_int_equal(by_cid[c], 16);
	/* thin: allocated at the first write, prefer local (the writer) ignored */
	s = (struct meta_volume_spec){ .name = "thin-even", .size = 8 * ZBS_EXTENT_SIZE,
				       .replica_num = 2, .stripe_num = 1,
				       .stripe_size = 256 << 10, .thin = true, .even = true };
	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), 0);
	memset(by_cid, 0, sizeof(by_cid));
	for (uint32_t i = 0; i < 8; i++) {
		assert_int_equal(meta_get_vextent_lease(&f->m, v, i, LEASE_WRITE, f->sid[2], &pid,
							&e), 0);
		struct meta_pext *p = meta_pext(&f->m.pexts, pid);
		for (int k = 0; k < loc_count(p->location); k++)
			by_cid[loc_get(p->location, k)]++;
	}
	for (int c = 1; c <= 4; c++)
		assert_int_equal(by_cid[c], 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
		cmocka_unit_test(test_store_chunk_v1),
		cmocka_unit_test_setup_teardown(test_topology, setup, teardown),
		cmocka_unit_test_setup_teardown(test_placement_racks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_thick_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_thick_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_thin_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_gen_plausible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_expiry_sliced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tick_after_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_release_and_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_report_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_queue_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_delete_sliced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_create_sliced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_batched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owned_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failslow_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_even_volume, setup, teardown),
		cmocka_unit_test(test_store_migrates_format1),
		cmocka_unit_test(test_store_refuses_unknown_records),
	};
	zbs_log_init("test_meta", ZBS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
