// SPDX-License-Identifier: GPL-2.0
/*
 * In-process tests of the extent store (daemon/chunkd/chunk_store.c): the API the
 * meta session uses (foreach, space, delete, uuid) from concurrent threads,
 * thin/thick accounting, the gen window, orphan cleanup, corrupt replica
 * records, the LMDB open flags. chunk_store.c is included so its static helpers
 * can be tested directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../chunk_store.c"
#include "harness.h"
#include <semaphore.h>
#include <sys/resource.h>

#include "store_fill.h"

struct fix {
	char tmp[512];
	char dir[600];
	struct chunk_store *st;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(harness_tmpdir(f->tmp, sizeof(f->tmp)), 0);
	snprintf(f->dir, sizeof(f->dir), "%s/data", f->tmp);
	zbs_log_init("test_store", ZBS_LOG_WARN);
	unsetenv("ZBS_CHUNKD_TEST_ONLINE_DISCARD");	/* a failed test may leave it */
	assert_int_equal(chunk_store_open(f->dir, NULL, &f->st), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	chunk_store_close(f->st);
	harness_rmrf(f->tmp);
	free(f);
	return 0;
}

/* Run one request through the data path and commit it. */
static uint32_t run(struct chunk_store *st, uint16_t op, uint64_t pid, uint64_t epoch,
		    uint64_t le, uint64_t gen, uint64_t off, uint32_t len, uint32_t flags,
		    void *data, struct zbs_reply *rep)
{
	struct zbs_req req = { .opcode = op, .pid = pid, .epoch = epoch, .lease_epoch = le,
			       .gen = gen, .offset = off, .length = len, .flags = flags };
	struct chunk_store_batch b = { .n = 0 };
	struct zbs_reply tmp;

	if (!rep)
		rep = &tmp;
	if (zbs_wire_check_req(&req) != ZBS_ST_OK)
		return ZBS_ST_INVAL;
	chunk_store_exec(st, &b, &req, data, data, rep);
	if (chunk_store_batch_commit(st, &b) != ZBS_ST_OK)
		return ZBS_ST_IO;
	return rep->status;
}

static void reopen(struct fix *f)
{
	chunk_store_close(f->st);
	f->st = NULL;
	assert_int_equal(chunk_store_open(f->dir, NULL, &f->st), 0);
}

static void test_uuid_stable(void **state)
{
	struct fix *f = *state;
	char u[40];
	uuid_t parsed;

	snprintf(u, sizeof(u), "%s", chunk_store_uuid(f->st));
	assert_int_equal(strlen(u), 36);
	assert_int_equal(uuid_parse(u, parsed), 0);
	reopen(f);
	assert_string_equal(chunk_store_uuid(f->st), u);
	/* expected identity accepted / refused */
	chunk_store_close(f->st);
	f->st = NULL;
	assert_int_equal(chunk_store_open(f->dir, "00000000-0000-0000-0000-000000000000", &f->st),
			 -EUCLEAN);
	assert_null(f->st);
	assert_int_equal(chunk_store_open(f->dir, u, &f->st), 0);
}

struct collect {
	uint64_t pids[16];
	struct chunk_replica_info info[16];
	int n;
};

static int collect_cb(const struct chunk_replica_info *i, void *arg)
{
	struct collect *c = arg;

	if (c->n < 16)
		c->info[c->n++] = *i;
	return 0;
}

static int stop_cb(const struct chunk_replica_info *i, void *arg)
{
	(*(int *)arg)++;
	return 7;
}

static void test_foreach_space_delete(void **state)
{
	struct fix *f = *state;
	struct chunk_space_info sp;
	struct collect c = { .n = 0 };
	uint8_t buf[4096] = { 1 };
	int calls = 0;

	assert_int_equal(chunk_store_space(f->st, &sp), 0);
	assert_int_equal(sp.used, 0);
	assert_int_equal(sp.thin_used, 0);
	assert_true(sp.total > 0 && sp.valid > 0 && sp.valid <= sp.total);
	assert_int_equal(sp.total % ZBS_BLOCK_SIZE, 0);
	assert_int_equal(sp.valid % ZBS_BLOCK_SIZE, 0);

	assert_int_equal(run(f->st, ZBS_OP_SYNC, 1, 11, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, NULL), 0);
	assert_int_equal(run(f->st, ZBS_OP_SYNC, 2, 22, 3, 0, 0, 0, ZBS_SF_THICK | ZBS_SF_CREATE, NULL, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(run(f->st, ZBS_OP_WRITE, 1, 11, 1, (uint64_t)i,
				     (uint64_t)i * ZBS_BLOCK_SIZE, 4096, 0, buf, NULL), 0);
	assert_int_equal(run(f->st, ZBS_OP_WRITE, 2, 22, 3, 0, 0, 4096, 0, buf, NULL), 0);

	assert_int_equal(chunk_store_foreach_replica(f->st, collect_cb, &c), 0);
	assert_int_equal(c.n, 2);
	for (int i = 0; i < 2; i++) {
		if (c.info[i].pid == 1) {
			assert_int_equal(c.info[i].epoch, 11);
			assert_int_equal(c.info[i].gen, 3);
			assert_int_equal(c.info[i].alloc_blocks, 3);
			assert_int_equal(c.info[i].lease_epoch, 1);
			assert_false(c.info[i].thick);
		} else {
			assert_int_equal(c.info[i].pid, 2);
			assert_int_equal(c.info[i].lease_epoch, 3);
			assert_int_equal(c.info[i].alloc_blocks, 1);
			assert_true(c.info[i].thick);
		}
	}
	assert_int_equal(chunk_store_foreach_replica(f->st, stop_cb, &calls), 7);
	assert_int_equal(calls, 1);

	/* thick: charged a whole extent in used, not in thin_used */
	assert_int_equal(chunk_store_space(f->st, &sp), 0);
	assert_int_equal(sp.thin_used, 3ULL * ZBS_BLOCK_SIZE);
	assert_int_equal(sp.used, 3ULL * ZBS_BLOCK_SIZE + ZBS_EXTENT_SIZE);

	assert_int_equal(chunk_store_delete_replica(f->st, 3, 1), -ENOENT);
	assert_int_equal(chunk_store_delete_replica(f->st, 1, 10), -ESTALE);
	assert_int_equal(chunk_store_delete_replica(f->st, 1, 11), 0);
	assert_int_equal(chunk_store_get_replica(f->st, 1, &c.info[0]), -ENOENT);
	assert_int_equal(chunk_store_space(f->st, &sp), 0);
	assert_int_equal(sp.thin_used, 0);
	assert_int_equal(sp.used, ZBS_EXTENT_SIZE);
	{
		char p[700];

		snprintf(p, sizeof(p), "%s/replicas/1", f->dir);
		assert_int_equal(access(p, F_OK), -1);
	}
	reopen(f);
	assert_int_equal(chunk_store_get_replica(f->st, 1, &c.info[0]), -ENOENT);
	assert_int_equal(chunk_store_get_replica(f->st, 2, &c.info[0]), 0);
	assert_int_equal(c.info[0].gen, 1);
	assert_true(c.info[0].thick);
}

/*
 * Out of space is a capacity condition: a write that needs blocks beyond the
 * capacity is refused with NOSPC before it takes a gen, the replica stays
 * usable (the same gen succeeds where no new block is needed), the space
 * hook fires, used_blocks follows creations, writes and deletes, and the
 * report shows the capacity as total.
 */
static int hook_calls;
static void count_hook(void *arg)
{
	(void)arg;
	hook_calls++;
}

static void test_capacity_nospc(void **state)
{
	struct fix *f = *state;
	struct chunk_space_info sp;
	struct chunk_replica_info ri;
	struct zbs_reply rep;
	uint8_t buf[4096] = { 7 };

	chunk_store_set_capacity(f->st, 2 * ZBS_BLOCK_SIZE);
	chunk_store_set_space_hook(f->st, count_hook, NULL);
	hook_calls = 0;
	assert_int_equal(chunk_store_space(f->st, &sp), 0);
	assert_int_equal(sp.total, 2 * ZBS_BLOCK_SIZE);
	assert_true(sp.valid <= sp.total);

	assert_int_equal(run(f->st, ZBS_OP_SYNC, 5, 1, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, NULL), 0);
	assert_int_equal(hook_calls, 1);	/* created: meta hears at once */
	assert_int_equal(run(f->st, ZBS_OP_WRITE, 5, 1, 1, 0, 0, 4096, 0, buf, NULL), 0);
	assert_int_equal(run(f->st, ZBS_OP_WRITE, 5, 1, 1, 1, ZBS_BLOCK_SIZE, 4096, 0, buf,
			     NULL), 0);
	assert_int_equal(atomic_load(&f->st->used_blocks), 2);
	/* a third block does not fit */
	assert_int_equal(run(f->st, ZBS_OP_WRITE, 5, 1, 1, 2, 2 * ZBS_BLOCK_SIZE, 4096, 0, buf,
			     &rep), ZBS_ST_NOSPC);
	assert_int_equal(rep.gen, 2);		/* gen not consumed */
	assert_int_equal(hook_calls, 2);
	assert_int_equal(chunk_store_get_replica(f->st, 5, &ri), 0);
	assert_int_equal(ri.state, ZBS_RSTATE_NORMAL);
	assert_int_equal(ri.alloc_blocks, 2);
	/* the same gen into an allocated block: fine */
	assert_int_equal(run(f->st, ZBS_OP_WRITE, 5, 1, 1, 2, 4096, 4096, 0, buf, NULL), 0);
	assert_int_equal(chunk_store_get_replica(f->st, 5, &ri), 0);
	assert_int_equal(ri.gen, 3);
	/* a thick replica is charged whole; deleting gives the space back */
	assert_int_equal(chunk_store_delete_replica(f->st, 5, 1), 0);
	assert_int_equal(atomic_load(&f->st->used_blocks), 0);
	assert_int_equal(run(f->st, ZBS_OP_SYNC, 6, 1, 1, 0, 0, 0, ZBS_SF_THICK | ZBS_SF_CREATE, NULL, NULL), 0);
	assert_int_equal(atomic_load(&f->st->used_blocks), EXTENT_BLOCKS);
	reopen(f);
	assert_int_equal(atomic_load(&f->st->used_blocks), EXTENT_BLOCKS);
}

/* The gen advances only over contiguously completed writes. */
static void test_gen_window(void **state)
{
	struct chunk_replica *r = replica_new(1, 1, -1, false);

	(void)state;
	r->next_gen = 4;	/* writes 0..3 accepted */
	assert_int_equal(replica_complete(r, 2), 0);
	assert_int_equal(r->gen, 0);
	assert_int_equal(replica_complete(r, 3), 0);
	assert_int_equal(r->gen, 0);
	assert_int_equal(replica_complete(r, 0), 0);
	assert_int_equal(r->gen, 1);	/* 1 still missing */
	assert_int_equal(replica_complete(r, 1), 0);
	assert_int_equal(r->gen, 4);
	assert_int_equal(r->ndone, 0);
	replica_put(r);
}

static void test_orphan_file_removed(void **state)
{
	struct fix *f = *state;
	char p[700];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/replicas/12345", f->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	reopen(f);
	assert_int_equal(access(p, F_OK), -1);
}

struct hammer {
	struct chunk_store *st;
	uint64_t pid;
	int iters;
	int errors;
};

static void *writer(void *arg)
{
	struct hammer *h = arg;
	uint8_t buf[4096];

	memset(buf, (int)h->pid, sizeof(buf));
	if (run(h->st, ZBS_OP_SYNC, h->pid, 1, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, NULL))
		h->errors++;
	for (int i = 0; i < h->iters; i++) {
		if (run(h->st, ZBS_OP_WRITE, h->pid, 1, 1, (uint64_t)i,
			(uint64_t)(i % 128) * 4096, 4096, 0, buf, NULL))
			h->errors++;
		if (i % 50 == 0 && chunk_store_flush(h->st))
			h->errors++;
	}
	return NULL;
}

static void *churner(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < h->iters; i++) {
		uint64_t pid = 1000 + (uint64_t)(i % 4);

		if (run(h->st, ZBS_OP_SYNC, pid, 1, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, NULL))
			h->errors++;
		if (chunk_store_delete_replica(h->st, pid, 1))
			h->errors++;
	}
	return NULL;
}

static int count_cb(const struct chunk_replica_info *i, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* The meta session's calls race with the data path without harm. */
static void test_concurrent_session_calls(void **state)
{
	struct fix *f = *state;
	pthread_t w1, w2, ch;
	struct hammer h1 = { f->st, 1, 300, 0 }, h2 = { f->st, 2, 300, 0 }, hc = { f->st, 0, 30, 0 };
	struct chunk_replica_info info;

	assert_int_equal(pthread_create(&w1, NULL, writer, &h1), 0);
	assert_int_equal(pthread_create(&w2, NULL, writer, &h2), 0);
	assert_int_equal(pthread_create(&ch, NULL, churner, &hc), 0);
	for (int i = 0; i < 200; i++) {
		struct chunk_space_info sp;
		int n = 0;

		assert_int_equal(chunk_store_foreach_replica(f->st, count_cb, &n), 0);
		assert_true(n <= 6);
		assert_int_equal(chunk_store_space(f->st, &sp), 0);
	}
	pthread_join(w1, NULL);
	pthread_join(w2, NULL);
	pthread_join(ch, NULL);
	assert_int_equal(h1.errors + h2.errors + hc.errors, 0);
	assert_int_equal(chunk_store_get_replica(f->st, 1, &info), 0);
	assert_int_equal(info.gen, 300);
	reopen(f);
	assert_int_equal(chunk_store_get_replica(f->st, 2, &info), 0);
	assert_int_equal(info.gen, 300);
	assert_int_equal(info.alloc_blocks, 2);
}

/*
 * The replica index grows with the replicas: at 20000 of them (sparse pids,
 * as meta hands them out) it has at least one bucket per 10 replicas (the
 * fixed 1024 buckets it had made chains of 20 here, of 100 at 10^5), every
 * pid is found with its own fields and no other, and removing half of them
 * leaves exactly the other half findable and listed.
 */
#define MANY_REPLICAS 20000
#define MANY_PID(i) (1 + (uint64_t)(i) * 0x10000001ULL)

static void test_index_many_replicas(void **state)
{
	struct fix *f = *state;
	struct chunk_replica_info ri;
	const UT_hash_table *tbl;
	unsigned maxchain = 0;
	int n = 0;

	pthread_rwlock_wrlock(&f->st->table_lock);
	for (unsigned i = 0; i < MANY_REPLICAS; i++) {
		struct chunk_replica *r = replica_new(MANY_PID(i), i + 1, -1, false);

		assert_non_null(r);
		assert_int_equal(table_insert_locked(f->st, r), 0);
	}
	pthread_rwlock_unlock(&f->st->table_lock);

	tbl = f->st->table->hh.tbl;
	assert_int_equal(tbl->num_items, MANY_REPLICAS);
	assert_int_equal(f->st->nreplicas, MANY_REPLICAS);
	for (unsigned b = 0; b < tbl->num_buckets; b++)
		if (tbl->buckets[b].count > maxchain)
			maxchain = tbl->buckets[b].count;
	print_message("# %u replicas: %u buckets, longest chain %u\n", MANY_REPLICAS,
		      tbl->num_buckets, maxchain);
	assert_true(tbl->num_buckets >= MANY_REPLICAS / 10);
	assert_true(maxchain <= 40);

	for (unsigned i = 0; i < MANY_REPLICAS; i++) {
		assert_int_equal(chunk_store_get_replica(f->st, MANY_PID(i), &ri), 0);
		assert_int_equal(ri.pid, MANY_PID(i));
		assert_int_equal(ri.epoch, i + 1);
		assert_int_equal(chunk_store_get_replica(f->st, MANY_PID(i) + 1, &ri), -ENOENT);
	}

	for (unsigned i = 0; i < MANY_REPLICAS; i += 2) {
		struct chunk_replica *r = table_lookup(f->st, MANY_PID(i));

		assert_non_null(r);
		table_remove(f->st, r);
		replica_put(r);
	}
	for (unsigned i = 0; i < MANY_REPLICAS; i++)
		assert_int_equal(chunk_store_get_replica(f->st, MANY_PID(i), &ri),
				 i % 2 ? 0 : -ENOENT);
	assert_int_equal(chunk_store_foreach_replica(f->st, count_cb, &n), 0);
	assert_int_equal(n, MANY_REPLICAS / 2);
	assert_int_equal(f->st->nreplicas, MANY_REPLICAS / 2);
}

/*
 * GC deletes never wait for the disk. With the metadata store held busy
 * (this thread holds its write transaction, as a slow sync would), the
 * "session" thread gets every one of GC_TEST_N deletes accepted, and from
 * then on those replicas are neither served nor listed; a create of one of
 * those pids waits until the old replica is gone and then makes a fresh
 * one. Once the store is free the GC thread does them all, one durable
 * commit per GC_BATCH (not one per replica), and after a reopen only the
 * recreated replica is there.
 */
#define GC_TEST_N 3000		/* cheap replicas, pids 1000.. (plus 1..3) */

struct gc_caller {
	struct chunk_store *st;
	atomic_int accepted, refused;
	atomic_bool done;
};

static void *gc_caller_main(void *arg)
{
	struct gc_caller *g = arg;

	for (uint64_t pid = 1; pid <= 3; pid++)
		atomic_fetch_add(chunk_store_gc_delete(g->st, pid, 5) ? &g->refused : &g->accepted, 1);
	for (uint64_t i = 0; i < GC_TEST_N; i++)
		atomic_fetch_add(chunk_store_gc_delete(g->st, 1000 + i, 9) ? &g->refused
									   : &g->accepted, 1);
	atomic_store(&g->done, true);
	return NULL;
}

struct creator {
	struct chunk_store *st;
	uint32_t status;
	struct zbs_reply rep;
};

static void *creator_main(void *arg)
{
	struct creator *c = arg;

	c->status = run(c->st, ZBS_OP_SYNC, 2, 6, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, &c->rep);
	return NULL;
}

static void test_gc_never_waits_for_the_disk(void **state)
{
	struct fix *f = *state;
	struct gc_caller g = { .st = f->st };
	struct creator c = { .st = f->st };
	struct chunk_replica_info ri;
	struct chunk_space_info sp;
	uint8_t buf[4096], rd[4096];
	pthread_t gt, ct;
	MDB_txn *busy;
	uint64_t commits;
	int n = 0;

	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t pid = 1; pid <= 3; pid++) {
		assert_int_equal(run(f->st, ZBS_OP_SYNC, pid, 5, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, NULL), 0);
		assert_int_equal(run(f->st, ZBS_OP_WRITE, pid, 5, 1, 0, 0, 4096, 0, buf, NULL), 0);
	}
	store_fill(f->st, 1000, GC_TEST_N, 9);
	assert_int_equal(store_fill_count_files(f->dir), GC_TEST_N + 3);
	assert_int_equal(chunk_store_gc_delete(f->st, 1, 4), -ESTALE);
	assert_int_equal(chunk_store_gc_delete(f->st, 77, 1), -ENOENT);

	/* the metadata store is busy: every delete is still accepted */
	assert_int_equal(mdb_txn_begin(f->st->env, NULL, 0, &busy), 0);
	assert_int_equal(pthread_create(&gt, NULL, gc_caller_main, &g), 0);
	for (int i = 0; i < 3000 && !atomic_load(&g.done); i++)
		usleep(10000);	/* a watchdog: the old synchronous delete never returns here */
	if (!atomic_load(&g.done))
		fail_msg("%d of %d GC deletes accepted while the metadata store was busy: "
			 "the caller waits for the disk", atomic_load(&g.accepted), GC_TEST_N + 3);
	pthread_join(gt, NULL);
	assert_int_equal(atomic_load(&g.accepted), GC_TEST_N + 3);
	assert_int_equal(atomic_load(&g.refused), 0);
	assert_int_equal(atomic_load(&f->st->gc_commits), 0);

	/* from acceptance on: not listed, not served, not counted */
	assert_int_equal(chunk_store_foreach_replica(f->st, count_cb, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(chunk_store_get_replica(f->st, 1000, &ri), -ENOENT);
	assert_int_equal(run(f->st, ZBS_OP_READ, 1, 5, 1, 0, 0, 4096, 0, rd, NULL), ZBS_ST_NOENT);
	assert_int_equal(run(f->st, ZBS_OP_SYNC, 3, 5, 1, 0, 0, 0, 0, NULL, NULL), ZBS_ST_NOENT);
	assert_int_equal(chunk_store_space(f->st, &sp), 0);
	assert_int_equal(sp.thin_used, 0);
	assert_int_equal(chunk_store_gc_delete(f->st, 1, 5), -ENOENT);	/* already under way */
	/* a create of a pid being deleted waits for the old replica to go */
	assert_int_equal(pthread_create(&ct, NULL, creator_main, &c), 0);

	mdb_txn_abort(busy);
	chunk_store_gc_wait(f->st);
	pthread_join(ct, NULL);
	commits = atomic_load(&f->st->gc_commits);
	print_message("# %d GC deletes: %" PRIu64 " metadata commits\n", GC_TEST_N + 3, commits);
	assert_true(commits >= (GC_TEST_N + 3 + GC_BATCH - 1) / GC_BATCH);
	assert_true(commits <= (GC_TEST_N + 3) / GC_BATCH + 2);

	assert_int_equal(c.status, ZBS_ST_OK);
	assert_int_equal(c.rep.gen, 0);		/* a fresh replica, not the old one */
	assert_int_equal(chunk_store_get_replica(f->st, 2, &ri), 0);
	assert_int_equal(ri.epoch, 6);
	assert_int_equal(store_fill_count_files(f->dir), 1);	/* pid 2's new file */
	assert_int_equal(run(f->st, ZBS_OP_READ, 2, 6, 1, 0, 0, 4096, 0, rd, NULL), 0);
	memset(buf, 0, sizeof(buf));
	assert_memory_equal(rd, buf, sizeof(rd));
	reopen(f);
	n = 0;
	assert_int_equal(chunk_store_foreach_replica(f->st, count_cb, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(chunk_store_get_replica(f->st, 2, &ri), 0);
	assert_int_equal(chunk_store_get_replica(f->st, 1000 + GC_TEST_N - 1, &ri), -ENOENT);
}

/* ---- a RECOVER_WRITE and the client's writes to the same replica ---- */

static sem_t copy_in, copy_go;

static void copy_pause(void)
{
	sem_post(&copy_in);
	sem_wait(&copy_go);
}

struct writer {
	struct chunk_store *st;
	uint16_t op;
	uint64_t off;
	uint32_t len;
	uint8_t *buf;
	atomic_bool done;
	uint32_t status;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	w->status = run(w->st, w->op, 7, 3, 1, 0, w->off, w->len, 0, w->buf, NULL);
	atomic_store(&w->done, true);
	return NULL;
}

static bool done_within(struct writer *w, int ms)
{
	for (int i = 0; i < ms / 10 && !atomic_load(&w->done); i++)
		usleep(10000);
	return atomic_load(&w->done);
}

/*
 * A client's write to a recovering replica does not wait for a copy's
 * RECOVER_WRITE to another range of it (the copy writes without the
 * replica's lock); one to sectors the copy is writing waits for it and
 * lands after it, and the copy never overwrites what a client wrote.
 */
static void test_copy_write_unlocked(void **state)
{
	struct fix *f = *state;
	uint8_t *copy = malloc(1 << 20), fg1[4096], fg2[4096], rd[4096];
	struct writer c = { .st = f->st, .op = ZBS_OP_RECOVER_WRITE, .off = 0, .len = 1 << 20,
			    .buf = copy };
	struct writer w1 = { .st = f->st, .op = ZBS_OP_WRITE, .off = 2 << 20, .len = 4096,
			     .buf = fg1 };
	struct writer w2 = { .st = f->st, .op = ZBS_OP_WRITE, .off = 8192, .len = 4096,
			     .buf = fg2 };
	pthread_t ct, t1, t2;
	bool w1_done, w2_early;

	assert_non_null(copy);
	memset(copy, 0xaa, 1 << 20);
	memset(fg1, 0x11, sizeof(fg1));
	memset(fg2, 0x22, sizeof(fg2));
	assert_int_equal(run(f->st, ZBS_OP_RECOVER_BEGIN, 7, 3, 1, 0, 0, 0, 0, NULL, NULL), 0);
	sem_init(&copy_in, 0, 0);
	sem_init(&copy_go, 0, 0);
	copy_write_hook = copy_pause;
	assert_int_equal(pthread_create(&ct, NULL, writer_main, &c), 0);
	sem_wait(&copy_in);		/* the copy writes [0, 1 MiB) now */

	assert_int_equal(pthread_create(&t1, NULL, writer_main, &w1), 0);
	w1_done = done_within(&w1, 3000);
	assert_int_equal(pthread_create(&t2, NULL, writer_main, &w2), 0);
	w2_early = done_within(&w2, 200);
	sem_post(&copy_go);
	pthread_join(ct, NULL);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	copy_write_hook = NULL;
	sem_destroy(&copy_in);
	sem_destroy(&copy_go);
	if (!w1_done)
		fail_msg("a client write 1 MiB away waited for the copy's write (3 s)");
	assert_false(w2_early);		/* overlapping: after the copy's bytes */
	assert_int_equal(c.status, ZBS_ST_OK);
	assert_int_equal(w1.status, ZBS_ST_OK);
	assert_int_equal(w2.status, ZBS_ST_OK);

	assert_int_equal(run(f->st, ZBS_OP_RECOVER_END, 7, 3, 1, 5, 0, 0, 0, NULL, NULL), 0);
	assert_int_equal(run(f->st, ZBS_OP_READ, 7, 3, 1, 0, 8192, 4096, 0, rd, NULL), 0);
	assert_memory_equal(rd, fg2, sizeof(rd));
	assert_int_equal(run(f->st, ZBS_OP_READ, 7, 3, 1, 0, 2 << 20, 4096, 0, rd, NULL), 0);
	assert_memory_equal(rd, fg1, sizeof(rd));
	assert_int_equal(run(f->st, ZBS_OP_READ, 7, 3, 1, 0, 0, 4096, 0, rd, NULL), 0);
	assert_memory_equal(rd, copy, sizeof(rd));
	free(copy);
}

/*
 * RECOVER_END and RECOVER_BEGIN wait for a RECOVER_WRITE writing now (one
 * of a failed cmd may still be on its way): a normal replica's client
 * writes never wait for a copy, and an emptied one gets none of its bytes.
 */
static void test_copy_write_spans_no_end(void **state)
{
	struct fix *f = *state;
	uint8_t *copy = malloc(1 << 20), rd[4096], zero[4096] = { 0 };
	struct writer c = { .st = f->st, .op = ZBS_OP_RECOVER_WRITE, .off = 0, .len = 1 << 20,
			    .buf = copy };
	struct writer e = { .st = f->st, .op = ZBS_OP_RECOVER_END };
	struct writer b = { .st = f->st, .op = ZBS_OP_RECOVER_BEGIN };
	pthread_t ct, et;
	bool early;

	assert_non_null(copy);
	memset(copy, 0xaa, 1 << 20);
	assert_int_equal(run(f->st, ZBS_OP_RECOVER_BEGIN, 7, 3, 1, 0, 0, 0, 0, NULL, NULL), 0);
	sem_init(&copy_in, 0, 0);
	sem_init(&copy_go, 0, 0);
	copy_write_hook = copy_pause;
	for (int i = 0; i < 2; i++) {
		struct writer *w = i ? &b : &e;

		atomic_store(&c.done, false);
		assert_int_equal(pthread_create(&ct, NULL, writer_main, &c), 0);
		sem_wait(&copy_in);
		assert_int_equal(pthread_create(&et, NULL, writer_main, w), 0);
		early = done_within(w, 300);
		sem_post(&copy_go);
		pthread_join(ct, NULL);
		pthread_join(et, NULL);
		if (early)
			fail_msg("%s did not wait for the RECOVER_WRITE writing",
				 i ? "RECOVER_BEGIN" : "RECOVER_END");
		assert_int_equal(c.status, ZBS_ST_OK);
		assert_int_equal(w->status, ZBS_ST_OK);
		if (!i) {	/* recovering again, then emptied by a full BEGIN */
			assert_int_equal(run(f->st, ZBS_OP_RECOVER_BEGIN, 7, 3, 1, 0, 0, 0, 0,
					     NULL, NULL), 0);
		}
	}
	copy_write_hook = NULL;
	sem_destroy(&copy_in);
	sem_destroy(&copy_go);
	/* the second copy's bytes went in before BEGIN emptied the replica */
	assert_int_equal(run(f->st, ZBS_OP_RECOVER_END, 7, 3, 1, 0, 0, 0, 0, NULL, NULL), 0);
	assert_int_equal(run(f->st, ZBS_OP_READ, 7, 3, 1, 0, 0, 4096, 0, rd, NULL), 0);
	assert_memory_equal(rd, zero, sizeof(rd));
	free(copy);
}

static size_t pieces[64], npieces;

static void piece_seen(size_t len)
{
	if (npieces < sizeof(pieces) / sizeof(pieces[0]))
		pieces[npieces] = len;
	npieces++;
}

/*
 * A RECOVER_WRITE on buffered IO goes in pwrites of at most COPY_PIECE
 * (each holds the file's inode lock, which the replica's client writes
 * wait for); on O_DIRECT in one per run of sectors not dirty. Both skip
 * what a client wrote meanwhile and land the same bytes.
 */
static void test_copy_write_pieces(void **state)
{
	struct fix *f = *state;
	const uint32_t fg_off = 100 << 10;
	uint8_t *copy = malloc(1 << 20), *rd = malloc(1 << 20), fg[4096];
	const char *env = getenv("ZBS_CHUNKD_NO_DIRECT");
	char *no_direct = env ? strdup(env) : NULL;	/* the suite's, put back */
	const bool forced = env && *env && strcmp(env, "0");	/* as chunk_store.c reads it */

	assert_non_null(copy);
	assert_non_null(rd);
	harness_fill(copy, 1 << 20, 77);
	memset(fg, 0x5c, sizeof(fg));
	copy_piece_hook = piece_seen;
	for (int buffered = 0; buffered < 2; buffered++) {
		uint64_t pid = 20 + (uint64_t)buffered;
		size_t sum = 0, max = 0;

		if (!buffered && (forced || !chunk_store_direct(f->st))) {
			print_message("# no O_DIRECT here: the buffered case only\n");
			continue;
		}
		if (buffered)
			setenv("ZBS_CHUNKD_NO_DIRECT", "1", 1);
		assert_int_equal(run(f->st, ZBS_OP_RECOVER_BEGIN, pid, 3, 1, 0, 0, 0, 0, NULL,
				     NULL), 0);
		if (no_direct)
			setenv("ZBS_CHUNKD_NO_DIRECT", no_direct, 1);
		else
			unsetenv("ZBS_CHUNKD_NO_DIRECT");
		assert_int_equal(run(f->st, ZBS_OP_WRITE, pid, 3, 1, 0, fg_off, sizeof(fg), 0, fg,
				     NULL), 0);
		npieces = 0;
		assert_int_equal(run(f->st, ZBS_OP_RECOVER_WRITE, pid, 3, 1, 0, 0, 1 << 20, 0,
				     copy, NULL), 0);
		assert_true(npieces <= sizeof(pieces) / sizeof(pieces[0]));
		for (size_t i = 0; i < npieces; i++) {
			sum += pieces[i];
			max = pieces[i] > max ? pieces[i] : max;
		}
		print_message("# %s: %zu pwrites, the largest %zu bytes\n",
			      buffered ? "buffered" : "O_DIRECT", npieces, max);
		assert_int_equal(sum, (1 << 20) - sizeof(fg));
		if (buffered) {
			assert_int_equal(max, COPY_PIECE);
			assert_int_equal(npieces, 17);	/* 64+36 KiB, then 920 KiB in 15 */
		} else {
			assert_int_equal(npieces, 2);	/* around the client's 4 KiB */
			assert_int_equal(pieces[0], fg_off);
		}
		assert_int_equal(run(f->st, ZBS_OP_RECOVER_END, pid, 3, 1, 5, 0, 0, 0, NULL, NULL),
				 0);
		assert_int_equal(run(f->st, ZBS_OP_READ, pid, 3, 1, 0, 0, 1 << 20, 0, rd, NULL), 0);
		assert_memory_equal(rd, copy, fg_off);
		assert_memory_equal(rd + fg_off, fg, sizeof(fg));
		assert_memory_equal(rd + fg_off + sizeof(fg), copy + fg_off + sizeof(fg),
				    (1 << 20) - fg_off - sizeof(fg));
	}
	copy_piece_hook = NULL;
	free(no_direct);
	free(copy);
	free(rd);
}

/* Closing the store finishes the GC deletes it accepted. */
static void test_gc_done_at_close(void **state)
{
	struct fix *f = *state;
	struct chunk_replica_info ri;

	store_fill(f->st, 50, 100, 3);
	for (uint64_t pid = 50; pid < 150; pid++)
		assert_int_equal(chunk_store_gc_delete(f->st, pid, 3), 0);
	reopen(f);
	for (uint64_t pid = 50; pid < 150; pid++)
		assert_int_equal(chunk_store_get_replica(f->st, pid, &ri), -ENOENT);
	assert_int_equal(store_fill_count_files(f->dir), 0);
}

/* Out of file descriptors at open: the error says so, the data dir is fine
 * (before, it was refused as corrupt: "data file missing") */
static void test_open_out_of_fds(void **state)
{
	struct fix *f = *state;
	struct rlimit old, low;
	int rc;

	store_fill(f->st, 10, 200, 1);
	chunk_store_close(f->st);
	f->st = NULL;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 150;	/* fewer than 2 a replica */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	rc = chunk_store_open(f->dir, NULL, &f->st);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rc, -EMFILE);
	assert_null(f->st);
	assert_int_equal(chunk_store_open(f->dir, NULL, &f->st), 0);	/* nothing lost */
	assert_int_equal(store_fill_count_files(f->dir), 200);
}

/* Store a raw record under a raw key in the replica table of a closed store. */
static void poke_raw(const char *dir, const void *key, size_t klen, const void *val, size_t len)
{
	char path[700];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key }, v = { len, (void *)val };

	snprintf(path, sizeof(path), "%s/meta", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 1ULL << 30), 0);
	assert_int_equal(mdb_env_open(env, path, STORE_MDB_FLAGS, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "replicas", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(mdb_env_sync(env, 1), 0);
	mdb_env_close(env);
}

/* Replace the LMDB record of pid in a closed store. */
static void poke_record(const char *dir, uint64_t pid, const void *val, size_t len)
{
	uint8_t key[8];

	key_of(pid, key);
	poke_raw(dir, key, sizeof(key), val, len);
}

/*
 * A corrupt replica record fails that replica only: the store opens, the
 * other replicas serve, the bad one answers IO errors (the owner's replica
 * failure) to everything but DELETE, is not reported healthy, and its
 * file and record are left for DELETE (not taken for an orphan).
 */
static void test_bad_record_fails_one_replica(void **state)
{
	struct fix *f = *state;
	struct chunk_replica_info info;
	struct zbs_reply rep;
	struct replica_rec rec;
	uint8_t buf[4096], rd[4096], junk[10] = { 0xff };
	char p[700];

	memset(buf, 7, sizeof(buf));
	for (uint64_t pid = 1; pid <= 3; pid++) {
		assert_int_equal(run(f->st, ZBS_OP_SYNC, pid, 5, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, NULL), 0);
		assert_int_equal(run(f->st, ZBS_OP_WRITE, pid, 5, 1, 0, 0, 4096, 0, buf, NULL), 0);
	}
	chunk_store_close(f->st);
	f->st = NULL;
	/* pid 1: a record of the wrong size; pid 3: an impossible state */
	poke_record(f->dir, 1, junk, sizeof(junk));
	memset(&rec, 0, sizeof(rec));
	rec.magic = REC_MAGIC;
	rec.format = STORE_FORMAT;
	rec.pid = 3;
	rec.epoch = 5;
	rec.state = 99;
	poke_record(f->dir, 3, &rec, sizeof(rec));

	assert_int_equal(chunk_store_open(f->dir, NULL, &f->st), 0);

	/* the good one serves, at its gen */
	assert_int_equal(chunk_store_get_replica(f->st, 2, &info), 0);
	assert_int_equal(info.state, ZBS_RSTATE_NORMAL);
	assert_false(info.broken);
	assert_int_equal(info.gen, 1);
	assert_int_equal(run(f->st, ZBS_OP_READ, 2, 5, 1, 0, 0, 4096, 0, rd, NULL), 0);
	assert_memory_equal(rd, buf, sizeof(buf));
	assert_int_equal(run(f->st, ZBS_OP_WRITE, 2, 5, 1, 1, 4096, 4096, 0, buf, NULL), 0);
	assert_int_equal(run(f->st, ZBS_OP_SYNC, 2, 5, 1, 0, 0, 0, 0, NULL, &rep), 0);
	assert_int_equal(rep.gen, 2);

	/* the bad ones are failed replicas */
	for (uint64_t pid = 1; pid <= 3; pid += 2) {
		assert_int_equal(chunk_store_get_replica(f->st, pid, &info), 0);
		assert_int_equal(info.state, ZBS_RSTATE_ERROR);
		assert_true(info.broken);	/* left out of the data report */
		assert_int_equal(run(f->st, ZBS_OP_SYNC, pid, 5, 1, 0, 0, 0, 0, NULL, &rep),
				 ZBS_ST_IO);
		assert_int_equal(rep.state, ZBS_RSTATE_ERROR);
		assert_int_equal(run(f->st, ZBS_OP_SYNC, pid, 5, 2, 0, 0, 0, ZBS_SF_CREATE,
				     NULL, NULL), ZBS_ST_IO);
		assert_int_equal(run(f->st, ZBS_OP_WRITE, pid, 5, 1, 1, 0, 4096, 0, buf, NULL),
				 ZBS_ST_IO);
		assert_int_equal(run(f->st, ZBS_OP_READ, pid, 5, 1, 0, 0, 4096, 0, rd, NULL),
				 ZBS_ST_IO);
		assert_int_equal(run(f->st, ZBS_OP_RECOVER_BEGIN, pid, 5, 3, 0, 0, 0, 0, NULL, NULL),
				 ZBS_ST_IO);
		assert_int_equal(run(f->st, ZBS_OP_GET_INFO, pid, 5, 1, 0, 0, 0, 0, NULL, NULL),
				 ZBS_ST_IO);
		snprintf(p, sizeof(p), "%s/replicas/%" PRIu64, f->dir, pid);
		assert_int_equal(access(p, F_OK), 0);	/* not removed as an orphan */
	}
	/* a FLUSH neither fails on them nor rewrites their records */
	assert_int_equal(run(f->st, ZBS_OP_FLUSH, 0, 0, 0, 0, 0, 0, 0, NULL, NULL), 0);
	reopen(f);
	assert_int_equal(chunk_store_get_replica(f->st, 1, &info), 0);
	assert_int_equal(info.state, ZBS_RSTATE_ERROR);
	assert_int_equal(chunk_store_get_replica(f->st, 2, &info), 0);
	assert_int_equal(info.gen, 2);

	/* GC or --drop-replica removes a failed replica, record and file */
	assert_int_equal(chunk_store_delete_replica(f->st, 3, 5), 0);
	assert_int_equal(chunk_store_delete_replica(f->st, 1, 5), 0);
	reopen(f);
	assert_int_equal(chunk_store_get_replica(f->st, 1, &info), -ENOENT);
	assert_int_equal(chunk_store_get_replica(f->st, 3, &info), -ENOENT);
	snprintf(p, sizeof(p), "%s/replicas/1", f->dir);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(chunk_store_get_replica(f->st, 2, &info), 0);
}

/*
 * A record whose key is no pid is ignored, and files without a record are
 * then kept: one of them may be the replica it described.
 */
static void test_bad_key_keeps_files(void **state)
{
	struct fix *f = *state;
	struct chunk_replica_info info;
	char p[700];
	FILE *fp;

	assert_int_equal(run(f->st, ZBS_OP_SYNC, 4, 1, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, NULL), 0);
	chunk_store_close(f->st);
	f->st = NULL;
	poke_raw(f->dir, "abc", 3, "xyz", 3);
	snprintf(p, sizeof(p), "%s/replicas/77", f->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(chunk_store_open(f->dir, NULL, &f->st), 0);
	assert_int_equal(chunk_store_get_replica(f->st, 4, &info), 0);
	assert_int_equal(info.state, ZBS_RSTATE_NORMAL);
	assert_int_equal(access(p, F_OK), 0);
}

/* Create thin replica pid (epoch 1) and write mib MiB of 0x77 from offset 0. */
static void write_mib(struct chunk_store *st, uint64_t pid, unsigned mib)
{
	uint8_t *buf = malloc(ZBS_WIRE_MAX_IO);

	assert_non_null(buf);
	memset(buf, 0x77, ZBS_WIRE_MAX_IO);
	assert_int_equal(run(st, ZBS_OP_SYNC, pid, 1, 1, 0, 0, 0, ZBS_SF_CREATE, NULL, NULL), 0);
	for (unsigned i = 0; i < mib; i++)
		assert_int_equal(run(st, ZBS_OP_WRITE, pid, 1, 1, i, (uint64_t)i << 20,
				     ZBS_WIRE_MAX_IO, 0, buf, NULL), 0);
	free(buf);
}

static uint64_t file_blocks(const char *dir, uint64_t pid)
{
	char p[700];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/replicas/%" PRIu64, dir, pid);
	assert_int_equal(stat(p, &sb), 0);
	return (uint64_t)sb.st_blocks * 512;
}

/*
 * With online discard (forced here: the test's filesystem may have it or
 * not) the GC cuts a deleted replica's file in steps of GC_SHRINK_STEP,
 * each synced, before the unlink: a thin one from its last allocated
 * block, a thick one from its end; one within a step is just unlinked.
 * Without it, only unlinks.
 */
static void test_gc_shrinks_in_steps(void **state)
{
	struct fix *f = *state;
	struct chunk_replica_info ri;
	uint64_t s0, s1, s2;
	int n = 0;

	setenv("ZBS_CHUNKD_TEST_ONLINE_DISCARD", "1", 1);
	reopen(f);
	assert_true(f->st->online_discard);
	write_mib(f->st, 1, 40);
	assert_true(file_blocks(f->dir, 1) >= 40ULL << 20);
	assert_int_equal(run(f->st, ZBS_OP_SYNC, 2, 1, 1, 0, 0, 0, ZBS_SF_THICK | ZBS_SF_CREATE,
			     NULL, NULL), 0);
	write_mib(f->st, 3, 1);

	/* thin, 40 MiB written: 40 -> 24 -> 8 MiB, or more steps where the
	 * filesystem cannot tell where its data ends (no FIEMAP: tmpfs) */
	assert_int_equal(chunk_store_gc_delete(f->st, 1, 1), 0);
	chunk_store_gc_wait(f->st);
	s0 = atomic_load(&f->st->gc_shrink_syncs);
	assert_true(s0 >= 2 && s0 <= ZBS_EXTENT_SIZE / GC_SHRINK_STEP);
	/* thick: 256 MiB allocated, 15 steps (16 if the filesystem's own
	 * blocks for the file tip it over a step) */
	assert_int_equal(chunk_store_gc_delete(f->st, 2, 1), 0);
	chunk_store_gc_wait(f->st);
	s1 = atomic_load(&f->st->gc_shrink_syncs) - s0;
	assert_true(s1 >= ZBS_EXTENT_SIZE / GC_SHRINK_STEP - 1 && s1 <= ZBS_EXTENT_SIZE / GC_SHRINK_STEP);
	/* 1 MiB: within one step */
	assert_int_equal(chunk_store_gc_delete(f->st, 3, 1), 0);
	chunk_store_gc_wait(f->st);
	s2 = atomic_load(&f->st->gc_shrink_syncs) - s0 - s1;
	assert_int_equal(s2, 0);
	print_message("# online discard: %" PRIu64 " + %" PRIu64 " + %" PRIu64 " step syncs\n",
		      s0, s1, s2);
	assert_int_equal(store_fill_count_files(f->dir), 0);
	assert_int_equal(chunk_store_foreach_replica(f->st, count_cb, &n), 0);
	assert_int_equal(n, 0);
	for (uint64_t pid = 1; pid <= 3; pid++)
		assert_int_equal(chunk_store_get_replica(f->st, pid, &ri), -ENOENT);

	/* a crash in the middle leaves a cut file without a record: removed */
	{
		char p[700];
		int fd;

		snprintf(p, sizeof(p), "%s/replicas/777", f->dir);
		fd = open(p, O_RDWR | O_CREAT, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 24 << 20), 0);
		assert_int_equal(pwrite(fd, "x", 1, 5 << 20), 1);
		close(fd);
		reopen(f);
		assert_int_equal(access(p, F_OK), -1);
		assert_int_equal(atomic_load(&f->st->gc_shrink_syncs), 0);	/* a plain unlink */
	}

	/* IO accepted before the delete still reads the data: the file is
	 * cut only once no IO holds the replica, else just unlinked */
	{
		struct chunk_replica *r;
		uint8_t c = 0;

		write_mib(f->st, 6, 40);
		r = table_lookup(f->st, 6);	/* as chunk_store_io_begin() does */
		assert_non_null(r);
		assert_int_equal(chunk_store_gc_delete(f->st, 6, 1), 0);
		chunk_store_gc_wait(f->st);
		assert_int_equal(atomic_load(&f->st->gc_shrink_syncs), 0);
		assert_int_equal(store_fill_count_files(f->dir), 0);
		assert_int_equal(pread(r->fd, &c, 1, 39 << 20), 1);
		assert_int_equal(c, 0x77);
		replica_put(r);
	}

	/* without online discard: plain unlinks */
	setenv("ZBS_CHUNKD_TEST_ONLINE_DISCARD", "0", 1);
	reopen(f);
	assert_false(f->st->online_discard);
	write_mib(f->st, 5, 40);
	assert_int_equal(chunk_store_gc_delete(f->st, 5, 1), 0);
	chunk_store_gc_wait(f->st);
	assert_int_equal(atomic_load(&f->st->gc_shrink_syncs), 0);
	assert_int_equal(store_fill_count_files(f->dir), 0);
	unsetenv("ZBS_CHUNKD_TEST_ONLINE_DISCARD");
}

/*
 * /proc/self/mountinfo lines: the mount of the longest mount point that
 * holds the path decides; "discard" in its mount or superblock options,
 * as a whole option.
 */
static void test_mount_discard_table(void **state)
{
	static const char mi[] =
		"21 26 0:20 / /proc rw,relatime - proc proc rw\n"
		"26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict\n"
		"40 26 254:1 / /data rw,noatime shared:7 - ext4 /dev/vdb rw,errors=remount-ro\n"
		"41 40 254:2 / /data/ssd rw,noatime,discard master:1 - xfs /dev/vdc rw,attr2\n"
		"42 26 254:3 / /srv/my\\040disk rw - ext4 /dev/vdd rw,nodiscard\n"
		"43 26 254:4 / /srv/my\\040disk2 rw - ext4 /dev/vde rw,discard\n"
		"44 26 0:50 / /bt rw - btrfs /dev/vdf rw,ssd,discard=async\n"
		"45 26 0:51 / /bt/sync rw - btrfs /dev/vdg rw,ssd,discard=sync,space_cache\n"
		"46 26 254:5 / /stack rw - ext4 /dev/vdh rw,discard\n"
		"47 46 254:6 / /stack rw - ext4 /dev/vdi rw\n"
		"48 26 254:7 / /odd rw - ext4 /dev/vdj rw,xdiscard,discardx,discard_max=1\n"
		"garbage line without the separator\n"
		"49 26 254:8 / /trunc rw - ext4";	/* cut short, no newline: skipped */
	static const struct {
		const char *path;
		int discard;
	} rows[] = {
		{ "/", 1 },			/* super options of / */
		{ "/var/lib/zbs", 1 },		/* under / only */
		{ "/proc/self", 0 },
		{ "/data", 0 },			/* its own mount, without */
		{ "/data/x/zbs", 0 },
		{ "/database", 1 },		/* not under /data: / */
		{ "/data/ssd/zbs", 1 },		/* mount options of /data/ssd */
		{ "/data/ssdx", 0 },		/* /data */
		{ "/srv/my disk/zbs", 0 },	/* \040 is a space; nodiscard is not discard */
		{ "/srv/my disk2", 1 },
		{ "/srv/my", 1 },		/* no such mount point: / */
		{ "/bt/zbs", 0 },		/* btrfs's async discard is off the commit */
		{ "/bt/sync/zbs", 1 },
		{ "/stack/zbs", 0 },		/* the later of two mounts on one point */
		{ "/odd/zbs", 0 },		/* whole options only */
		{ "/trunc/zbs", 1 },		/* the cut line is no mount: / */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = chunk_store_mount_discard(mi, rows[i].path);

		if (got != rows[i].discard)
			fail_msg("%s: discard %d, expected %d", rows[i].path, got, rows[i].discard);
	}
	assert_int_equal(chunk_store_mount_discard("", "/"), 0);
	assert_int_equal(chunk_store_mount_discard("26 1 254:0 / / rw - ext4 /dev/vda rw,discard",
						   "/x"), 1);	/* no trailing newline */
}

/*
 * The metadata store is opened in a mode a power cut cannot corrupt
 * (see STORE_MDB_FLAGS): neither MDB_NOSYNC nor MDB_WRITEMAP nor
 * MDB_MAPASYNC, and with MDB_NOMETASYNC.
 */
static void test_crash_safe_flags(void **state)
{
	struct fix *f = *state;
	unsigned fl = 0;

	assert_int_equal(mdb_env_get_flags(f->st->env, &fl), 0);
	assert_int_equal(fl & (MDB_NOSYNC | MDB_WRITEMAP | MDB_MAPASYNC), 0);
	assert_true(fl & MDB_NOMETASYNC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_uuid_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_space_delete, setup, teardown),
		cmocka_unit_test(test_gen_window),
		cmocka_unit_test_setup_teardown(test_capacity_nospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphan_file_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_session_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_many_replicas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_never_waits_for_the_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_done_at_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_out_of_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_record_fails_one_replica, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_key_keeps_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_safe_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_shrinks_in_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_write_unlocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_write_spans_no_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_write_pieces, setup, teardown),
		cmocka_unit_test(test_mount_discard_table),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
