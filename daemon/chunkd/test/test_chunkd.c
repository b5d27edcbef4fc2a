// SPDX-License-Identifier: GPL-2.0
/*
 * Protocol conformance of zbs-chunkd (uapi/linux/zbs_wire.h), against a real
 * chunkd process (the sanitized build when run by tools/run-tests): every
 * opcode, the gen/epoch/lease_epoch rules, pipelining, concurrent writers,
 * crash-restart durability, recovery writes and start-up refusals.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "data_client.h"
#include "harness.h"
#include "wire.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

struct fix {
	char tmp[512];
	char data[600];
	struct chunkd_proc p;
	struct zbs_dc *dc;
};

static int is_zero(const void *buf, size_t len)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

static void fix_connect(struct fix *f)
{
	assert_int_equal(zbs_dc_connect("127.0.0.1", f->p.port, &f->dc), 0);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(harness_tmpdir(f->tmp, sizeof(f->tmp)), 0);
	snprintf(f->data, sizeof(f->data), "%s/data", f->tmp);
	if (chunkd_start(&f->p, f->data, NULL) != 0) {
		harness_rmrf(f->tmp);
		free(f);
		fail_msg("cannot start %s", chunkd_binary());
	}
	fix_connect(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	int st = 0;

	zbs_dc_close(f->dc);
	if (f->p.pid > 0)
		st = chunkd_stop(&f->p);	/* non-zero: crash or sanitizer report */
	if (st) {
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "cat %s >&2", f->p.log);
		if (system(cmd)) {}
	}
	harness_rmrf(f->tmp);
	free(f);
	return st ? -1 : 0;
}

/* Restart chunkd on the same dir (after stop or kill -9) and reconnect. */
static void restart(struct fix *f, int kill9)
{
	zbs_dc_close(f->dc);
	f->dc = NULL;
	if (kill9)
		chunkd_kill9(&f->p);
	else
		assert_int_equal(chunkd_stop(&f->p), 0);
	assert_int_equal(chunkd_start(&f->p, f->data, NULL), 0);
	fix_connect(f);
}

/* ---- basic opcodes ------------------------------------------------- */

static void test_sync_creates_zero_replica(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t buf[8192];

	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 1, 10, 0, 0, &r), ZBS_ST_NOENT);
	assert_int_equal(zbs_dc_read(f->dc, 1, 10, 1, 0, 4096, buf, &r), ZBS_ST_NOENT);
	assert_int_equal(zbs_dc_sync(f->dc, 1, 10, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 0);
	assert_int_equal(r.epoch, 10);
	assert_int_equal(r.lease_epoch, 1);
	assert_int_equal(r.state, ZBS_RSTATE_NORMAL);
	assert_int_equal(r.alloc_blocks, 0);
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(zbs_dc_read(f->dc, 1, 10, 1, ZBS_EXTENT_SIZE - 8192, 8192, buf, &r),
			 ZBS_ST_OK);
	assert_true(is_zero(buf, sizeof(buf)));
	assert_int_equal(r.length, 8192);
	/* a second SYNC neither recreates nor changes anything */
	assert_int_equal(zbs_dc_sync(f->dc, 1, 10, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 0);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 1, 10, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.epoch, 10);
}

static void test_write_read_roundtrip(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t *w = malloc(MiB), *rd = malloc(MiB);
	uint64_t offs[] = { 0, 512, 4096 * 7, 100 * MiB + 512, ZBS_EXTENT_SIZE - MiB };
	uint32_t lens[] = { 512, 4096, 65536, 3 * 512, MiB };

	assert_int_equal(zbs_dc_sync(f->dc, 2, 1, 5, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	for (unsigned i = 0; i < 5; i++) {
		harness_fill(w, lens[i], i + 1);
		assert_int_equal(zbs_dc_write(f->dc, 2, 1, 5, i, offs[i], lens[i], w,
					      i == 4 ? ZBS_WF_FUA : 0, &r), ZBS_ST_OK);
		assert_int_equal(r.gen, i + 1);
	}
	for (unsigned i = 0; i < 5; i++) {
		harness_fill(w, lens[i], i + 1);
		assert_int_equal(zbs_dc_read(f->dc, 2, 1, 5, offs[i], lens[i], rd, &r), ZBS_ST_OK);
		assert_memory_equal(w, rd, lens[i]);
	}
	/* blocks 0, 100 MiB / 256 KiB = 400, and the last 4 (1 MiB) */
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 2, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.alloc_blocks, 1 + 1 + 4);
	assert_int_equal(r.gen, 5);
	free(w);
	free(rd);
}

static void test_block_map(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t map[ZBS_WIRE_BLOCK_MAP_BYTES], buf[4096] = { 1 };

	assert_int_equal(zbs_dc_block_map(f->dc, 3, 1, map, &r), ZBS_ST_NOENT);
	assert_int_equal(zbs_dc_sync(f->dc, 3, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_block_map(f->dc, 3, 1, map, &r), ZBS_ST_OK);
	assert_true(is_zero(map, sizeof(map)));
	/* 4 KiB straddling blocks 1 and 2; and the very last block */
	assert_int_equal(zbs_dc_write(f->dc, 3, 1, 1, 0, 2 * 256 * KiB - 2048, 4096, buf, 0, &r), 0);
	assert_int_equal(zbs_dc_write(f->dc, 3, 1, 1, 1, ZBS_EXTENT_SIZE - 512, 512, buf, 0, &r), 0);
	assert_int_equal(zbs_dc_block_map(f->dc, 3, 1, map, &r), ZBS_ST_OK);
	assert_int_equal(r.length, ZBS_WIRE_BLOCK_MAP_BYTES);
	assert_int_equal(map[0], 0x06);
	assert_int_equal(map[127], 0x80);
	for (int i = 1; i < 127; i++)
		assert_int_equal(map[i], 0);
	assert_int_equal(r.alloc_blocks, 3);
}

/* Run zbs-chunkd --drop-replica PID on the (stopped) chunk's dir: exit status. */
static int drop_replica(struct fix *f, uint64_t pid)
{
	char cmd[1400];
	int st;

	snprintf(cmd, sizeof(cmd), "%s --data-dir %s --drop-replica %llu 2>>%s.drop",
		 chunkd_binary(), f->data, (unsigned long long)pid, f->p.log);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_flush_and_no_delete(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t buf[4096], rd[4096];

	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_FLUSH, 0, 0, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_sync(f->dc, 4, 7, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	harness_fill(buf, sizeof(buf), 4);
	assert_int_equal(zbs_dc_write(f->dc, 4, 7, 1, 0, 0, 4096, buf, 0, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_FLUSH, 0, 0, 0, 0, &r), ZBS_ST_OK);
	/* no one who can connect deletes a replica: opcode 6 (DELETE once)
	 * is unknown, with the right pid and epoch too */
	assert_int_equal(zbs_dc_simple(f->dc, 6, 4, 7, 0, 0, &r), ZBS_ST_BADOP);
	assert_int_equal(zbs_dc_read(f->dc, 4, 7, 1, 0, 4096, rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, buf, sizeof(buf));
	/* offline maintenance can: --drop-replica refuses a running chunk
	 * (its dir is locked), works on a stopped one */
	assert_int_not_equal(drop_replica(f, 4), 0);
	zbs_dc_close(f->dc);
	f->dc = NULL;
	assert_int_equal(chunkd_stop(&f->p), 0);
	assert_int_equal(drop_replica(f, 4), 0);
	assert_int_equal(drop_replica(f, 4), 3);	/* no such replica */
	assert_int_equal(chunkd_start(&f->p, f->data, NULL), 0);
	fix_connect(f);
	assert_int_equal(zbs_dc_read(f->dc, 4, 7, 1, 0, 4096, rd, &r), ZBS_ST_NOENT);
	assert_int_equal(zbs_dc_sync(f->dc, 4, 7, 1, 0, &r), ZBS_ST_NOENT);
	/* recreated with a new epoch: empty, gen 0 */
	assert_int_equal(zbs_dc_sync(f->dc, 4, 8, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 0);
	assert_int_equal(zbs_dc_read(f->dc, 4, 8, 1, 0, 4096, rd, &r), ZBS_ST_OK);
	assert_true(is_zero(rd, sizeof(rd)));
	restart(f, 0);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 4, 8, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.epoch, 8);
}

/* ---- rules ----------------------------------------------------------- */

static void test_gen_mismatch(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t a[4096], b[4096], rd[4096];

	harness_fill(a, sizeof(a), 11);
	harness_fill(b, sizeof(b), 12);
	assert_int_equal(zbs_dc_sync(f->dc, 5, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_write(f->dc, 5, 1, 1, 1, 0, 4096, b, 0, &r), ZBS_ST_GEN);
	assert_int_equal(r.gen, 0);
	assert_int_equal(zbs_dc_write(f->dc, 5, 1, 1, 0, 0, 4096, a, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 1);
	/* a replay of gen 0 and a jump ahead are both refused, data unchanged */
	assert_int_equal(zbs_dc_write(f->dc, 5, 1, 1, 0, 0, 4096, b, 0, &r), ZBS_ST_GEN);
	assert_int_equal(zbs_dc_write(f->dc, 5, 1, 1, 7, 0, 4096, b, 0, &r), ZBS_ST_GEN);
	assert_int_equal(zbs_dc_write(f->dc, 5, 1, 1, UINT64_MAX, 0, 4096, b, 0, &r), ZBS_ST_GEN);
	assert_int_equal(r.gen, 1);
	assert_int_equal(zbs_dc_read(f->dc, 5, 1, 1, 0, 4096, rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, a, 4096);
	assert_int_equal(zbs_dc_write(f->dc, 5, 1, 1, 1, 0, 4096, b, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 2);
	/* a refused write does not allocate */
	assert_int_equal(zbs_dc_write(f->dc, 5, 1, 1, 9, 200 * MiB, 4096, b, 0, &r), ZBS_ST_GEN);
	assert_int_equal(r.alloc_blocks, 1);
}

static void test_estale_fencing(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t a[4096], rd[4096];

	harness_fill(a, sizeof(a), 21);
	assert_int_equal(zbs_dc_sync(f->dc, 6, 1, 5, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_write(f->dc, 6, 1, 5, 0, 0, 4096, a, 0, &r), ZBS_ST_OK);
	/* an older owner is fenced on every path */
	assert_int_equal(zbs_dc_write(f->dc, 6, 1, 4, 1, 0, 4096, rd, 0, &r), ZBS_ST_STALE);
	assert_int_equal(r.lease_epoch, 5);
	assert_int_equal(zbs_dc_read(f->dc, 6, 1, 4, 0, 4096, rd, &r), ZBS_ST_STALE);
	assert_int_equal(zbs_dc_sync(f->dc, 6, 1, 4, ZBS_SF_CREATE, &r), ZBS_ST_STALE);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_BEGIN, 6, 1, 4, 0, &r), ZBS_ST_STALE);
	/* unfenced read (lease_epoch 0) for recovery/tools */
	assert_int_equal(zbs_dc_read(f->dc, 6, 1, 0, 0, 4096, rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, a, 4096);
	/* a new owner syncs with 6: 5 becomes stale; gen is reported for sync */
	assert_int_equal(zbs_dc_sync(f->dc, 6, 1, 6, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 1);
	assert_int_equal(r.lease_epoch, 6);
	assert_int_equal(zbs_dc_write(f->dc, 6, 1, 5, 1, 0, 4096, rd, 0, &r), ZBS_ST_STALE);
	assert_int_equal(zbs_dc_write(f->dc, 6, 1, 6, 1, 0, 4096, a, 0, &r), ZBS_ST_OK);
	/* the recorded lease_epoch survives kill -9 */
	restart(f, 1);
	assert_int_equal(zbs_dc_write(f->dc, 6, 1, 5, 2, 0, 4096, rd, 0, &r), ZBS_ST_STALE);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 6, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.lease_epoch, 6);
	assert_int_equal(r.gen, 2);
}

static void test_epoch_mismatch(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t a[512] = { 7 };

	assert_int_equal(zbs_dc_sync(f->dc, 8, 3, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_sync(f->dc, 8, 4, 1, ZBS_SF_CREATE, &r), ZBS_ST_EPOCH);
	assert_int_equal(r.epoch, 3);
	assert_int_equal(zbs_dc_write(f->dc, 8, 2, 1, 0, 0, 512, a, 0, &r), ZBS_ST_EPOCH);
	assert_int_equal(zbs_dc_read(f->dc, 8, 4, 1, 0, 512, a, &r), ZBS_ST_EPOCH);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 8, 3, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 0);
}

static void test_invalid_ranges(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t *buf = calloc(1, MiB + 4096);
	struct { uint64_t off; uint32_t len; } bad[] = {
		{ 1, 512 }, { 0, 100 }, { 0, 0 }, { ZBS_EXTENT_SIZE, 512 },
		{ ZBS_EXTENT_SIZE - 512, 1024 }, { UINT64_MAX - 511, 1024 },
		{ ZBS_EXTENT_SIZE - 512, MiB }, { 0, MiB + 512 },
	};

	assert_int_equal(zbs_dc_sync(f->dc, 9, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zbs_dc_op op = { .req = { .opcode = ZBS_OP_READ, .pid = 9, .epoch = 1,
						 .lease_epoch = 1, .offset = bad[i].off,
						 .length = bad[i].len }, .buf = buf };
		if (bad[i].len <= MiB) {
			assert_int_equal(zbs_dc_write(f->dc, 9, 1, 1, 0, bad[i].off, bad[i].len,
						      buf, 0, &r), ZBS_ST_INVAL);
		}
		/* a READ may ask for any length: it carries no payload */
		assert_int_equal(zbs_dc_call(f->dc, &op), ZBS_ST_INVAL);
	}
	/* unknown flags, fields that must be zero */
	assert_int_equal(zbs_dc_write(f->dc, 9, 1, 1, 0, 0, 512, buf, 0x80, &r), ZBS_ST_INVAL);
	{
		struct zbs_dc_op op = { .req = { .opcode = ZBS_OP_SYNC, .pid = 9, .epoch = 1,
						  .flags = ZBS_SF_CREATE,
						 .lease_epoch = 1, .offset = 512 } };
		assert_int_equal(zbs_dc_call(f->dc, &op), ZBS_ST_INVAL);
	}
	{
		struct zbs_dc_op op = { .req = { .opcode = 77, .pid = 9, .epoch = 1 } };
		assert_int_equal(zbs_dc_call(f->dc, &op), ZBS_ST_BADOP);
	}
	/* nothing changed */
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 9, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 0);
	assert_int_equal(r.alloc_blocks, 0);
	free(buf);
}

/* ---- WRITE_ZEROES ---------------------------------------------------- */

/* Write 4 MiB of pattern `seed` at 0 on pid with gens from *gen. */
static void write_pattern(struct fix *f, uint64_t pid, uint64_t lease_epoch, uint64_t *gen,
			  uint8_t *want, uint64_t seed)
{
	struct zbs_reply r;

	harness_fill(want, 4 * MiB, seed);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(zbs_dc_write(f->dc, pid, 1, lease_epoch, *gen, (uint64_t)i * MiB,
					      MiB, want + (size_t)i * MiB, 0, &r), ZBS_ST_OK);
		(*gen)++;
		assert_int_equal(r.gen, *gen);
	}
}

static void check_4mib(struct fix *f, uint64_t pid, uint64_t lease_epoch, const uint8_t *want)
{
	uint8_t *rd = malloc(MiB);
	struct zbs_reply r;

	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(zbs_dc_read(f->dc, pid, 1, lease_epoch, (uint64_t)i * MiB, MiB, rd,
					     &r), ZBS_ST_OK);
		assert_memory_equal(rd, want + (size_t)i * MiB, MiB);
	}
	free(rd);
}

static void test_write_zeroes(void **state)
{
	struct fix *f = *state;
	uint8_t *want = malloc(4 * MiB), *rd = malloc(MiB);
	uint64_t gen = 0, off = 4096 + 512, len = 2 * MiB + 1024;
	struct zbs_reply r;

	assert_int_equal(zbs_dc_sync(f->dc, 30, 1, 5, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	write_pattern(f, 30, 5, &gen, want, 301);
	/* 512-aligned, not 4 KiB-aligned, longer than ZBS_WIRE_MAX_IO */
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen, off, (uint32_t)len, 0, &r),
			 ZBS_ST_OK);
	assert_int_equal(r.gen, gen + 1);
	gen++;
	memset(want + off, 0, len);
	check_4mib(f, 30, 5, want);
	/* a write after it lands on top of the zeros */
	harness_fill(want + off, 8192, 302);
	assert_int_equal(zbs_dc_write(f->dc, 30, 1, 5, gen, off, 8192, want + off, 0, &r), 0);
	gen++;
	check_4mib(f, 30, 5, want);

	/* the rules of a WRITE: gen, fencing, epoch, existence; nothing changes */
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen - 1, 0, MiB, 0, &r), ZBS_ST_GEN);
	assert_int_equal(r.gen, gen);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen + 1, 0, MiB, 0, &r), ZBS_ST_GEN);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 4, gen, 0, MiB, 0, &r), ZBS_ST_STALE);
	assert_int_equal(r.lease_epoch, 5);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 2, 5, gen, 0, MiB, 0, &r), ZBS_ST_EPOCH);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 31, 1, 5, 0, 0, MiB, 0, &r), ZBS_ST_NOENT);
	/* bad ranges and flags */
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen, 1, MiB, 0, &r), ZBS_ST_INVAL);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen, 0, 1000, 0, &r), ZBS_ST_INVAL);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen, 0, 0, 0, &r), ZBS_ST_INVAL);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen, ZBS_EXTENT_SIZE - 512, 1024, 0,
					     &r), ZBS_ST_INVAL);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen, ZBS_EXTENT_SIZE, 512, 0, &r),
			 ZBS_ST_INVAL);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen, 0, MiB, 0x80, &r),
			 ZBS_ST_INVAL);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 30, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, gen);
	check_4mib(f, 30, 5, want);

	/* FUA over the whole extent; survives kill -9 with its gen */
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 30, 1, 5, gen, 0, (uint32_t)ZBS_EXTENT_SIZE,
					     ZBS_WF_FUA, &r), ZBS_ST_OK);
	gen++;
	assert_int_equal(r.gen, gen);
	restart(f, 1);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 30, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, gen);
	memset(want, 0, 4 * MiB);
	check_4mib(f, 30, 5, want);
	assert_int_equal(zbs_dc_read(f->dc, 30, 1, 5, ZBS_EXTENT_SIZE - MiB, MiB, rd, &r), 0);
	assert_true(is_zero(rd, MiB));
	free(want);
	free(rd);
}

/* A thick replica keeps its space; FLUSH after WRITE_ZEROES; zeroes then kill -9. */
static void test_write_zeroes_thick_flush(void **state)
{
	struct fix *f = *state;
	uint8_t *want = malloc(4 * MiB);
	uint64_t gen = 0;
	struct zbs_reply r;

	assert_int_equal(zbs_dc_sync(f->dc, 32, 1, 1, ZBS_SF_THICK | ZBS_SF_CREATE, &r), ZBS_ST_OK);
	write_pattern(f, 32, 1, &gen, want, 321);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 32, 1, 1, gen, 3 * MiB - 4096, 8192, 0, &r),
			 ZBS_ST_OK);
	gen++;
	memset(want + 3 * MiB - 4096, 0, 8192);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_FLUSH, 0, 0, 0, 0, &r), ZBS_ST_OK);
	restart(f, 1);
	check_4mib(f, 32, 1, want);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 32, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, gen);
	free(want);
}

/* Pipelined WRITE, WRITE_ZEROES, WRITE on one range take effect in order. */
static void test_write_zeroes_pipelined_order(void **state)
{
	struct fix *f = *state;
	enum { N = 24 };
	struct zbs_dc_op ops[N + 1];
	uint8_t *data = malloc((size_t)N * 16384), rd[32768], want[32768];
	struct zbs_reply r;

	assert_int_equal(zbs_dc_sync(f->dc, 33, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	memset(want, 0, sizeof(want));
	for (int i = 0; i < N; i++) {
		uint64_t off = (uint64_t)(i % 3) * 4096;

		if (i % 4 == 3) {
			memset(want + off, 0, 16384);
			ops[i] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_WRITE_ZEROES,
				.pid = 33, .epoch = 1, .lease_epoch = 1, .gen = (uint64_t)i,
				.offset = off, .length = 16384 } };
		} else {
			harness_fill(data + (size_t)i * 16384, 16384, 330 + i);
			memcpy(want + off, data + (size_t)i * 16384, 16384);
			ops[i] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_WRITE, .pid = 33,
				.epoch = 1, .lease_epoch = 1, .gen = (uint64_t)i, .offset = off,
				.length = 16384 }, .buf = data + (size_t)i * 16384 };
		}
		assert_int_equal(zbs_dc_submit(f->dc, &ops[i]), 0);
	}
	ops[N] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_READ, .pid = 33, .epoch = 1,
					      .lease_epoch = 1, .offset = 0, .length = sizeof(rd) },
				     .buf = rd };
	assert_int_equal(zbs_dc_submit(f->dc, &ops[N]), 0);
	for (int i = 0; i < N + 1; i++) {
		struct zbs_dc_op *done;

		assert_int_equal(zbs_dc_complete(f->dc, &done), 0);
		assert_int_equal(done->reply.status, ZBS_ST_OK);
	}
	assert_memory_equal(rd, want, sizeof(want));
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 33, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, N);
	free(data);
}

/* On a recovery destination: no gen check, sectors dirty (the copy skips them). */
static void test_write_zeroes_recovering(void **state)
{
	struct fix *f = *state;
	uint8_t *src = malloc(256 * KiB), *rd = malloc(256 * KiB);
	struct zbs_reply r;

	harness_fill(src, 256 * KiB, 341);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_BEGIN, 34, 1, 2, 0, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 34, 1, 2, 999, 8 * KiB, 8 * KiB, 0, &r),
			 ZBS_ST_OK);
	assert_int_equal(zbs_dc_write_zeroes(f->dc, 34, 1, 1, 0, 0, 512, 0, &r), ZBS_ST_STALE);
	assert_int_equal(zbs_dc_recover_write(f->dc, 34, 1, 2, 0, 256 * KiB, src, 0, &r), 0);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_END, 34, 1, 2, 10, &r), ZBS_ST_OK);
	memset(src + 8 * KiB, 0, 8 * KiB);
	assert_int_equal(zbs_dc_read(f->dc, 34, 1, 2, 0, 256 * KiB, rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, src, 256 * KiB);
	free(src);
	free(rd);
}

/* The chunk process's minor page faults so far (/proc/PID/stat, field 10). */
static unsigned long chunk_minflt(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long v = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	p = strrchr(line, ')');		/* after the command name */
	assert_non_null(p);
	/* ") state ppid pgrp session tty_nr tpgid flags minflt" */
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu", &v), 1);
	return v;
}

/*
 * Large requests reuse their buffers: 64 READs and 64 RECOVER_WRITEs of
 * 512 KiB cost the chunk far fewer page faults than the 128 per request a
 * fresh buffer each costs (a buffer that large is an mmap of its own,
 * faulted in page by page, then unmapped with a TLB shootdown of every
 * CPU: a copy's requests spent a third of their CPU time in that).
 */
static void test_large_buffers_reused(void **state)
{
	struct fix *f = *state;
	uint8_t *buf = malloc(512 * KiB), *rd = malloc(512 * KiB);
	unsigned long m0 = 0, m1;
	struct zbs_reply r;

	assert_non_null(buf);
	assert_non_null(rd);
	harness_fill(buf, 512 * KiB, 77);
	assert_int_equal(zbs_dc_sync(f->dc, 40, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_write(f->dc, 40, 1, 1, 0, 0, 512 * KiB, buf, 0, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_BEGIN, 41, 1, 1, 0, &r), ZBS_ST_OK);
	for (int i = 0; i < 66; i++) {
		if (i == 2)		/* the first ones allocate */
			m0 = chunk_minflt(f->p.pid);
		assert_int_equal(zbs_dc_read(f->dc, 40, 1, 1, 0, 512 * KiB, rd, &r), ZBS_ST_OK);
		assert_int_equal(zbs_dc_recover_write(f->dc, 41, 1, 1, (uint64_t)(i % 8) * 512 * KiB,
						      512 * KiB, buf, 0, &r), ZBS_ST_OK);
	}
	m1 = chunk_minflt(f->p.pid);
	print_message("minor faults for 64 x (READ + RECOVER_WRITE) of 512 KiB: %lu\n", m1 - m0);
	assert_true(m1 - m0 < 64 * 2 * 128 / 4);
	assert_memory_equal(rd, buf, 512 * KiB);
	free(buf);
	free(rd);
}

/*
 * Small and large requests pipelined on one connection: a small one does
 * not take a slot's kept large buffer while a slot without one is free, so
 * the large ones find theirs and allocate nothing after the first round
 * (before, they landed on slots the small ones had left at the head of the
 * free list and each allocated 512 KiB afresh, past the 8 kept).
 */
static void test_large_buffers_mixed(void **state)
{
	struct fix *f = *state;
	enum { BIG = 8, SMALL = 24, ROUNDS = 34 };
	struct zbs_dc_op ops[BIG + SMALL];
	uint8_t *buf = malloc(512 * KiB), *rd = malloc((size_t)BIG * 512 * KiB);
	uint8_t *small = malloc((size_t)SMALL * 4 * KiB);
	unsigned long m0 = 0, m1;
	struct zbs_reply r;

	assert_non_null(buf);
	assert_non_null(rd);
	assert_non_null(small);
	harness_fill(buf, 512 * KiB, 78);
	assert_int_equal(zbs_dc_sync(f->dc, 42, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_write(f->dc, 42, 1, 1, 0, 0, 512 * KiB, buf, 0, &r), ZBS_ST_OK);
	for (int k = 0; k < ROUNDS; k++) {
		if (k == 2)		/* the first ones allocate */
			m0 = chunk_minflt(f->p.pid);
		/* 3 small, 1 large, ... all in flight at once */
		for (int i = 0, b = 0, s = 0; i < BIG + SMALL; i++) {
			bool big = i % 4 == 3;
			uint32_t len = big ? 512 * KiB : 4 * KiB;

			ops[i] = (struct zbs_dc_op){
				.req = { .opcode = ZBS_OP_READ, .pid = 42, .epoch = 1,
					 .lease_epoch = 1, .offset = 0, .length = len },
				.buf = big ? rd + (size_t)b++ * 512 * KiB : small + (size_t)s++ * 4 * KiB };
			assert_int_equal(zbs_dc_submit(f->dc, &ops[i]), 0);
		}
		for (int i = 0; i < BIG + SMALL; i++) {
			struct zbs_dc_op *done;

			assert_int_equal(zbs_dc_complete(f->dc, &done), 0);
			assert_int_equal(done->reply.status, ZBS_ST_OK);
		}
	}
	m1 = chunk_minflt(f->p.pid);
	print_message("minor faults for %d rounds of %d x 4 KiB + %d x 512 KiB READ: %lu\n",
		      ROUNDS - 2, SMALL, BIG, m1 - m0);
	assert_true(m1 - m0 < (ROUNDS - 2) * 128 / 2);
	for (int b = 0; b < BIG; b++)
		assert_memory_equal(rd + (size_t)b * 512 * KiB, buf, 512 * KiB);
	assert_memory_equal(small, buf, 4 * KiB);
	free(buf);
	free(rd);
	free(small);
}

static uint64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/*
 * A chunk at --max-conns answers a connection BUSY and closes it without a
 * reset, even while the peer's requests keep coming (the kernel's are on
 * their way before it reads the BUSY): it reads them until the peer
 * closes. Before, it closed with requests unread, which resets the
 * connection: the kernel's next send failed with ECONNRESET and it failed
 * the replica (seen in selftests/data_busy.sh under load).
 */
static void test_busy_refusal_not_reset(void **state)
{
	struct fix *f = *state;
	const char *args[] = { "--max-conns", "1", NULL };
	struct zbs_req q = { .opcode = ZBS_OP_GET_INFO, .pid = 1, .epoch = 1 };
	struct zbs_wire_req w;
	struct zbs_wire_reply wr;
	struct zbs_reply r;
	int held, fd, send_err = 0;
	size_t got = 0;
	uint64_t end;
	ssize_t n;

	zbs_dc_close(f->dc);
	f->dc = NULL;
	assert_int_equal(chunkd_stop(&f->p), 0);
	assert_int_equal(chunkd_start(&f->p, f->data, args), 0);
	held = tcp_connect(f->p.port);	/* the one connection it serves */
	zbs_wire_encode_req(&q, &w);
	assert_int_equal(send(held, &w, sizeof(w), MSG_NOSIGNAL), (ssize_t)sizeof(w));
	assert_int_equal(recv(held, &wr, sizeof(wr), MSG_WAITALL), (ssize_t)sizeof(wr));
	fd = tcp_connect(f->p.port);
	/* requests for 200 ms, as fast as they go */
	for (end = mono_ms() + 200; mono_ms() < end;) {
		n = send(fd, &w, sizeof(w), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			send_err = errno;
			break;
		}
		if (n < 0)
			usleep(1000);
	}
	shutdown(fd, SHUT_WR);
	while (got < sizeof(wr) && (n = recv(fd, (char *)&wr + got, sizeof(wr) - got, 0)) > 0)
		got += (size_t)n;
	assert_int_equal(got, sizeof(wr));
	assert_int_equal(zbs_wire_decode_reply(&wr, &r), ZBS_ST_OK);
	assert_int_equal(r.status, ZBS_ST_BUSY);
	n = recv(fd, &wr, sizeof(wr), 0);
	print_message("after BUSY: send error %d (%s), recv %zd (%s)\n", send_err,
		      send_err ? strerror(send_err) : "none", n, n < 0 ? strerror(errno) : "EOF");
	assert_int_equal(send_err, 0);
	assert_int_equal(n, 0);		/* a FIN, not a reset */
	close(fd);
	close(held);
	fix_connect(f);
}

/* ---- pipelining and concurrency -------------------------------------- */

static void test_pipelined(void **state)
{
	struct fix *f = *state;
	enum { N = 96 };
	struct zbs_dc_op ops[2 * N];
	uint8_t *data = malloc((size_t)N * 8192), *rd = malloc((size_t)N * 8192);
	int seen[2 * N] = { 0 };
	struct zbs_reply r;

	assert_int_equal(zbs_dc_sync(f->dc, 10, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	/* N writes in gen order, all outstanding at once, then N reads */
	for (int i = 0; i < N; i++) {
		harness_fill(data + (size_t)i * 8192, 8192, 100 + i);
		ops[i] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_WRITE, .pid = 10, .epoch = 1,
						      .lease_epoch = 1, .gen = (uint64_t)i,
						      .offset = (uint64_t)i * 2 * MiB,
						      .length = 8192 },
					     .buf = data + (size_t)i * 8192, .priv = &seen[i] };
		assert_int_equal(zbs_dc_submit(f->dc, &ops[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		ops[N + i] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_READ, .pid = 10,
							  .epoch = 1, .lease_epoch = 1,
							  .offset = (uint64_t)i * 2 * MiB,
							  .length = 8192 },
						 .buf = rd + (size_t)i * 8192, .priv = &seen[N + i] };
		assert_int_equal(zbs_dc_submit(f->dc, &ops[N + i]), 0);
	}
	assert_int_equal(zbs_dc_inflight(f->dc), 2 * N);
	for (int i = 0; i < 2 * N; i++) {
		struct zbs_dc_op *done;

		assert_int_equal(zbs_dc_complete(f->dc, &done), 0);
		assert_int_equal(done->reply.status, ZBS_ST_OK);
		assert_int_equal(done->reply.id, done->req.id);
		(*(int *)done->priv)++;
	}
	for (int i = 0; i < 2 * N; i++)
		assert_int_equal(seen[i], 1);
	assert_memory_equal(data, rd, (size_t)N * 8192);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 10, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, N);
	free(data);
	free(rd);
}

/* Overlapping pipelined requests take effect in arrival order. */
static void test_pipelined_overlap_order(void **state)
{
	struct fix *f = *state;
	enum { N = 64 };
	struct zbs_dc_op ops[N + 2];
	uint8_t *data = malloc((size_t)N * 16384), rd[16384], want[16384];
	struct zbs_reply r;

	assert_int_equal(zbs_dc_sync(f->dc, 14, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	memset(want, 0, sizeof(want));
	for (int i = 0; i < N; i++) {
		/* alternating 16 KiB and 4 KiB writes over the same 16 KiB */
		uint32_t len = i % 2 ? 4096 : 16384;
		uint64_t off = i % 2 ? (uint64_t)(i % 4) * 4096 : 0;

		harness_fill(data + (size_t)i * 16384, len, 900 + i);
		memcpy(want + off, data + (size_t)i * 16384, len);
		ops[i] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_WRITE, .pid = 14, .epoch = 1,
						      .lease_epoch = 1, .gen = (uint64_t)i,
						      .offset = off, .length = len },
					     .buf = data + (size_t)i * 16384 };
		assert_int_equal(zbs_dc_submit(f->dc, &ops[i]), 0);
	}
	ops[N] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_READ, .pid = 14, .epoch = 1,
					      .lease_epoch = 1, .offset = 0, .length = 16384 },
				     .buf = rd };
	assert_int_equal(zbs_dc_submit(f->dc, &ops[N]), 0);
	ops[N + 1] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_GET_INFO, .pid = 14, .epoch = 1 } };
	assert_int_equal(zbs_dc_submit(f->dc, &ops[N + 1]), 0);
	for (int i = 0; i < N + 2; i++) {
		struct zbs_dc_op *done;

		assert_int_equal(zbs_dc_complete(f->dc, &done), 0);
		assert_int_equal(done->reply.status, ZBS_ST_OK);
	}
	assert_memory_equal(rd, want, sizeof(want));
	/* GET_INFO ran after every earlier write completed */
	assert_int_equal(ops[N + 1].reply.gen, N);
	free(data);
}

struct writer {
	uint16_t port;
	uint64_t pid;
	int nwrites;
	int errors;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct zbs_dc *dc;
	struct zbs_reply r;
	uint8_t buf[16384], rd[16384];

	if (zbs_dc_connect("127.0.0.1", w->port, &dc)) {
		w->errors++;
		return NULL;
	}
	if (zbs_dc_sync(dc, w->pid, 1, 1, ZBS_SF_CREATE, &r) || r.gen != 0)
		w->errors++;
	for (int i = 0; i < w->nwrites; i++) {
		harness_fill(buf, sizeof(buf), w->pid * 1000 + (uint64_t)i);
		if (zbs_dc_write(dc, w->pid, 1, 1, (uint64_t)i, (uint64_t)(i % 64) * 16384,
				 sizeof(buf), buf, 0, &r) || r.gen != (uint64_t)i + 1)
			w->errors++;
	}
	for (int i = w->nwrites - 64; i < w->nwrites; i++) {
		harness_fill(buf, sizeof(buf), w->pid * 1000 + (uint64_t)i);
		if (zbs_dc_read(dc, w->pid, 1, 1, (uint64_t)(i % 64) * 16384, sizeof(rd), rd, &r) ||
		    memcmp(buf, rd, sizeof(rd)))
			w->errors++;
	}
	zbs_dc_close(dc);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct fix *f = *state;
	enum { T = 6 };
	pthread_t th[T];
	struct writer w[T];
	struct zbs_reply r;

	for (int i = 0; i < T; i++) {
		w[i] = (struct writer){ .port = f->p.port, .pid = 100 + (uint64_t)i, .nwrites = 300 };
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	for (int i = 0; i < T; i++) {
		assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 100 + (uint64_t)i, 1, 0, 0, &r),
				 ZBS_ST_OK);
		assert_int_equal(r.gen, 300);
		assert_int_equal(r.alloc_blocks, 4);	/* 64 x 16 KiB = 1 MiB */
	}
}

/* ---- durability ---------------------------------------------------- */

static void test_crash_durability(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t a[65536], b[65536], c[4096], rd[65536];

	harness_fill(a, sizeof(a), 31);
	harness_fill(b, sizeof(b), 32);
	harness_fill(c, sizeof(c), 33);
	assert_int_equal(zbs_dc_sync(f->dc, 11, 2, 3, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_sync(f->dc, 12, 2, 3, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	/* FUA write */
	assert_int_equal(zbs_dc_write(f->dc, 11, 2, 3, 0, 5 * MiB, sizeof(a), a, ZBS_WF_FUA, &r), 0);
	/* writes then an acknowledged FLUSH */
	assert_int_equal(zbs_dc_write(f->dc, 12, 2, 3, 0, 0, sizeof(b), b, 0, &r), 0);
	assert_int_equal(zbs_dc_write(f->dc, 12, 2, 3, 1, 255 * MiB, sizeof(c), c, 0, &r), 0);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_FLUSH, 0, 0, 0, 0, &r), ZBS_ST_OK);
	restart(f, 1);
	assert_int_equal(zbs_dc_read(f->dc, 11, 2, 3, 5 * MiB, sizeof(a), rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, a, sizeof(a));
	assert_int_equal(r.gen, 1);
	assert_int_equal(zbs_dc_read(f->dc, 12, 2, 3, 0, sizeof(b), rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, b, sizeof(b));
	assert_int_equal(zbs_dc_read(f->dc, 12, 2, 3, 255 * MiB, sizeof(c), rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, c, sizeof(c));
	assert_int_equal(r.gen, 2);
	assert_int_equal(r.alloc_blocks, 2);
	/* the writer continues at the persisted gen */
	assert_int_equal(zbs_dc_write(f->dc, 12, 2, 3, 2, 0, 4096, c, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 3);
	/* a clean restart keeps everything too */
	restart(f, 0);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 12, 2, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 3);
}

/* ZBS_CHUNKD_NO_DIRECT (no-direct.sh) really puts replicas on buffered IO. */
static void test_io_mode_logged(void **state)
{
	struct fix *f = *state;
	const char *no = getenv("ZBS_CHUNKD_NO_DIRECT");
	bool forced = no && *no && strcmp(no, "0");
	uint8_t a[4096];
	struct zbs_reply r;

	harness_fill(a, sizeof(a), 41);
	assert_int_equal(zbs_dc_sync(f->dc, 14, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_write(f->dc, 14, 1, 1, 0, 0, sizeof(a), a, ZBS_WF_FUA, &r), 0);
	assert_int_equal(chunkd_log_has(&f->p, "O_DIRECT disabled by ZBS_CHUNKD_NO_DIRECT"),
			 forced);
	if (forced) {	/* logged once, however many replicas */
		FILE *log;
		char line[1024];
		int n = 0;

		assert_int_equal(zbs_dc_sync(f->dc, 15, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
		assert_int_equal(zbs_dc_write(f->dc, 15, 1, 1, 0, 0, sizeof(a), a, 0, &r), 0);
		log = fopen(f->p.log, "r");
		assert_non_null(log);
		while (fgets(line, sizeof(line), log))
			n += strstr(line, "using buffered IO") != NULL;
		fclose(log);
		assert_int_equal(n, 1);
	}
}

static void test_many_writes_kill9_gen_consistent(void **state)
{
	struct fix *f = *state;
	enum { N = 200 };
	struct zbs_dc_op ops[N];
	uint8_t *data = malloc((size_t)N * 4096), rd[4096];
	struct zbs_reply r;

	assert_int_equal(zbs_dc_sync(f->dc, 13, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	for (int i = 0; i < N; i++) {
		harness_fill(data + (size_t)i * 4096, 4096, 500 + i);
		ops[i] = (struct zbs_dc_op){ .req = { .opcode = ZBS_OP_WRITE, .pid = 13, .epoch = 1,
						      .lease_epoch = 1, .gen = (uint64_t)i,
						      .offset = (uint64_t)i * 4096, .length = 4096,
						      .flags = i == N - 1 ? ZBS_WF_FUA : 0 },
					     .buf = data + (size_t)i * 4096 };
		assert_int_equal(zbs_dc_submit(f->dc, &ops[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		struct zbs_dc_op *done;

		assert_int_equal(zbs_dc_complete(f->dc, &done), 0);
		assert_int_equal(done->reply.status, 0);
	}
	restart(f, 1);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 13, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, N);
	for (int i = 0; i < N; i += 17) {
		assert_int_equal(zbs_dc_read(f->dc, 13, 1, 1, (uint64_t)i * 4096, 4096, rd, &r), 0);
		assert_memory_equal(rd, data + (size_t)i * 4096, 4096);
	}
	free(data);
}

/* ---- recovery ------------------------------------------------------ */

static void test_recovery_write_skips_dirty(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t *src = malloc(256 * KiB), *fg = malloc(8192), *rd = malloc(256 * KiB);
	uint8_t *want = malloc(256 * KiB);

	harness_fill(src, 256 * KiB, 41);
	harness_fill(fg, 8192, 42);
	/* a destination that does not exist yet */
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_BEGIN, 20, 3, 9, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.state, ZBS_RSTATE_RECOVERING);
	assert_int_equal(zbs_dc_read(f->dc, 20, 3, 9, 0, 4096, rd, &r), ZBS_ST_RECOVERING);
	/* foreground writes: no gen check; a 512 B one and a 4 KiB one */
	assert_int_equal(zbs_dc_write(f->dc, 20, 3, 9, 1234, 4096 + 512, 512, fg, 0, &r), 0);
	assert_int_equal(zbs_dc_write(f->dc, 20, 3, 9, 55, 64 * KiB, 4096, fg + 4096, 0, &r), 0);
	/* the copy of the whole block must not overwrite them */
	assert_int_equal(zbs_dc_recover_write(f->dc, 20, 3, 9, 0, 256 * KiB, src, 0, &r), 0);
	/* a later foreground write still wins, and a later copy skips it */
	assert_int_equal(zbs_dc_write(f->dc, 20, 3, 9, 0, 128 * KiB, 512, fg + 1024, 0, &r), 0);
	assert_int_equal(zbs_dc_recover_write(f->dc, 20, 3, 9, 128 * KiB, 4096, src + 128 * KiB,
					      ZBS_WF_FUA, &r), 0);
	/* fenced like everything else */
	assert_int_equal(zbs_dc_recover_write(f->dc, 20, 3, 8, 0, 512, src, 0, &r), ZBS_ST_STALE);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_END, 20, 3, 9, 77, &r), ZBS_ST_OK);
	assert_int_equal(r.gen, 77);
	assert_int_equal(r.state, ZBS_RSTATE_NORMAL);
	memcpy(want, src, 256 * KiB);
	memcpy(want + 4096 + 512, fg, 512);
	memcpy(want + 64 * KiB, fg + 4096, 4096);
	memcpy(want + 128 * KiB, fg + 1024, 512);
	assert_int_equal(zbs_dc_read(f->dc, 20, 3, 9, 0, 256 * KiB, rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, want, 256 * KiB);
	/* normal again: gen rule from the gen set at the end */
	assert_int_equal(zbs_dc_write(f->dc, 20, 3, 9, 0, 0, 512, fg, 0, &r), ZBS_ST_GEN);
	assert_int_equal(zbs_dc_write(f->dc, 20, 3, 9, 77, 0, 512, fg, 0, &r), ZBS_ST_OK);
	/* recovery ops on a normal replica are refused */
	assert_int_equal(zbs_dc_recover_write(f->dc, 20, 3, 9, 0, 512, src, 0, &r),
			 ZBS_ST_RECOVERING);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_END, 20, 3, 9, 1, &r),
			 ZBS_ST_RECOVERING);
	free(src);
	free(fg);
	free(rd);
	free(want);
}

static void test_recovery_interrupted_by_restart(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t buf[4096] = { 9 };

	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_BEGIN, 21, 1, 1, 0, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_write(f->dc, 21, 1, 1, 0, 0, 4096, buf, 0, &r), ZBS_ST_OK);
	restart(f, 1);
	/* the dirty map is gone: the copy must not go on */
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 21, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.state, ZBS_RSTATE_RECOVERING);
	assert_int_equal(zbs_dc_recover_write(f->dc, 21, 1, 1, 0, 4096, buf, 0, &r),
			 ZBS_ST_RECOVERING);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_END, 21, 1, 1, 5, &r),
			 ZBS_ST_RECOVERING);
	/* until it starts over */
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_BEGIN, 21, 1, 1, 0, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_recover_write(f->dc, 21, 1, 1, 0, 4096, buf, 0, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_RECOVER_END, 21, 1, 1, 5, &r), ZBS_ST_OK);
	restart(f, 0);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 21, 1, 0, 0, &r), ZBS_ST_OK);
	assert_int_equal(r.state, ZBS_RSTATE_NORMAL);
	assert_int_equal(r.gen, 5);
}

/* The client library gives up on a chunk that stops answering. */
static void test_client_timeout(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	int st;

	/* GET_INFO of a missing replica: answered without touching the disk,
	 * so only the stopped server (not a slow fsync on a busy host) can
	 * make it miss the timeout */
	assert_int_equal(zbs_dc_set_timeout(f->dc, 500), 0);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 77, 1, 0, 0, &r), ZBS_ST_NOENT);
	assert_int_equal(kill(f->p.pid, SIGSTOP), 0);
	/* the stop reaches every thread only some time after kill() returns:
	 * until then a connection thread may still answer */
	assert_int_equal(waitpid(f->p.pid, &st, WUNTRACED), f->p.pid);
	assert_true(WIFSTOPPED(st));
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 77, 1, 0, 0, &r), -ETIMEDOUT);
	assert_int_equal(kill(f->p.pid, SIGCONT), 0);
	/* a new connection works */
	zbs_dc_close(f->dc);
	fix_connect(f);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_FLUSH, 0, 0, 0, 0, &r), ZBS_ST_OK);
}

/* ---- start-up checks ----------------------------------------------- */

static int write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (!fp)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

static void test_startup_refusals(void **state)
{
	struct fix *f = *state;
	struct chunkd_proc q;
	struct zbs_reply r;
	char path[800], other[700], uuid[64] = "";
	FILE *fp;

	assert_int_equal(zbs_dc_sync(f->dc, 30, 1, 1, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	/* a second chunkd on the same dir */
	assert_int_equal(chunkd_start(&q, f->data, NULL), 1);
	assert_true(chunkd_log_has(&q, "in use by another process"));
	zbs_dc_close(f->dc);
	f->dc = NULL;
	assert_int_equal(chunkd_stop(&f->p), 0);

	snprintf(path, sizeof(path), "%s/chunk-id", f->data);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(uuid, sizeof(uuid), fp));
	fclose(fp);
	uuid[strcspn(uuid, "\n")] = 0;

	/* expected identity */
	{
		const char *ok[] = { "--uuid", uuid, NULL };
		const char *bad[] = { "--uuid", "00000000-0000-0000-0000-000000000001", NULL };

		assert_int_equal(chunkd_start(&q, f->data, bad), 1);
		assert_true(chunkd_log_has(&q, "not of 00000000-0000-0000-0000-000000000001"));
		assert_int_equal(chunkd_start(&q, f->data, ok), 0);
		assert_int_equal(chunkd_stop(&q), 0);
	}
	/* chunk-id of another chunk over this metadata */
	assert_int_equal(write_text(path, "11111111-2222-3333-4444-555555555555\n"), 0);
	assert_int_equal(chunkd_start(&q, f->data, NULL), 1);
	assert_true(chunkd_log_has(&q, "metadata belongs to chunk"));
	assert_int_equal(write_text(path, "garbage\n"), 0);
	assert_int_equal(chunkd_start(&q, f->data, NULL), 1);
	assert_true(chunkd_log_has(&q, "corrupt (not a uuid)"));
	snprintf(other, sizeof(other), "%s\n", uuid);
	assert_int_equal(write_text(path, other), 0);

	/* a replica file gone missing */
	snprintf(path, sizeof(path), "%s/replicas/30", f->data);
	snprintf(other, sizeof(other), "%s/replicas/30.moved", f->data);
	assert_int_equal(rename(path, other), 0);
	assert_int_equal(chunkd_start(&q, f->data, NULL), 1);
	assert_true(chunkd_log_has(&q, "replicas/30 missing"));
	assert_int_equal(rename(other, path), 0);

	/* corrupt metadata store */
	{
		char mdb[700], saved[700], cmd[2400];

		snprintf(mdb, sizeof(mdb), "%s/meta/data.mdb", f->data);
		snprintf(saved, sizeof(saved), "%s/data.mdb.saved", f->tmp);
		snprintf(cmd, sizeof(cmd), "cp %s %s && dd if=/dev/urandom of=%s bs=4096 count=3 "
			 "conv=notrunc status=none", mdb, saved, mdb);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(chunkd_start(&q, f->data, NULL), 1);
		assert_true(chunkd_log_has(&q, "corrupt") || chunkd_log_has(&q, "cannot open metadata"));
		assert_int_equal(rename(saved, mdb), 0);
	}

	/* an unrelated non-empty directory */
	snprintf(other, sizeof(other), "%s/notours", f->tmp);
	assert_int_equal(mkdir(other, 0755), 0);
	snprintf(path, sizeof(path), "%s/somefile", other);
	assert_int_equal(write_text(path, "x"), 0);
	assert_int_equal(chunkd_start(&q, other, NULL), 1);
	assert_true(chunkd_log_has(&q, "not a zbs-chunkd data dir"));

	/* and after all that, the real dir still starts with its replica */
	assert_int_equal(chunkd_start(&f->p, f->data, NULL), 0);
	fix_connect(f);
	assert_int_equal(zbs_dc_simple(f->dc, ZBS_OP_GET_INFO, 30, 1, 0, 0, &r), ZBS_ST_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_sync_creates_zero_replica),
		T(test_write_read_roundtrip),
		T(test_block_map),
		T(test_flush_and_no_delete),
		T(test_gen_mismatch),
		T(test_estale_fencing),
		T(test_epoch_mismatch),
		T(test_invalid_ranges),
		T(test_write_zeroes),
		T(test_write_zeroes_thick_flush),
		T(test_write_zeroes_pipelined_order),
		T(test_write_zeroes_recovering),
		T(test_large_buffers_reused),
		T(test_large_buffers_mixed),
		T(test_busy_refusal_not_reset),
		T(test_pipelined),
		T(test_pipelined_overlap_order),
		T(test_concurrent_writers),
		T(test_crash_durability),
		T(test_io_mode_logged),
		T(test_many_writes_kill9_gen_consistent),
		T(test_recovery_write_skips_dirty),
		T(test_recovery_interrupted_by_restart),
		T(test_client_timeout),
		T(test_startup_refusals),
	};
	return cmocka_run_group_tests_name("chunkd", tests, NULL, NULL);
}
