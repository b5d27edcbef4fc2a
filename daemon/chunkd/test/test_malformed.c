// SPDX-License-Identifier: GPL-2.0
/*
 * Malformed input against a real zbs-chunkd: raw frames on raw sockets. The
 * server must answer with an error or close that connection, never crash or
 * hang, never change stored data, and keep serving other connections.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "data_client.h"
#include "harness.h"
#include "net.h"

#define PID 42
#define EPOCH 3
#define LEASE 2

struct fix {
	char tmp[512];
	char data[600];
	struct chunkd_proc p;
	struct zbs_dc *dc;	/* a well-behaved client, used throughout */
	uint8_t golden[8192];
	uint64_t gen;
};

static struct zbs_wire_req mkreq(uint16_t op, uint64_t off, uint32_t len, uint64_t gen)
{
	struct zbs_req r = { .opcode = op, .pid = PID, .epoch = EPOCH, .lease_epoch = LEASE,
			     .offset = off, .length = len, .gen = gen, .id = 0x1122334455667788ULL };
	struct zbs_wire_req w;

	zbs_wire_encode_req(&r, &w);
	return w;
}

static int raw_connect(struct fix *f)
{
	int fd = zbs_tcp_connect("127.0.0.1", f->p.port);
	struct timeval tv = { 20, 0 };

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));	/* a hang fails */
	return fd;
}

/* Read one reply header; returns 0, or -1 on EOF. */
static int raw_reply(int fd, struct zbs_reply *r)
{
	struct zbs_wire_reply w;

	if (zbs_recv_all(fd, &w, sizeof(w)) < 0)
		return -1;
	assert_int_equal(zbs_wire_decode_reply(&w, r), ZBS_ST_OK);
	if (r->length) {
		uint8_t *tmp = malloc(r->length);

		assert_int_equal(zbs_recv_all(fd, tmp, r->length), 0);
		free(tmp);
	}
	return 0;
}

/* The connection gets EOF (server closed it) within the receive timeout. */
static void expect_closed(int fd)
{
	char c;

	assert_int_equal(recv(fd, &c, 1, 0), 0);
}

/* The stored replica is exactly what the good client wrote. */
static void check_unchanged(struct fix *f)
{
	struct zbs_reply r;
	uint8_t rd[8192];

	assert_int_equal(zbs_dc_read(f->dc, PID, EPOCH, LEASE, 0, sizeof(rd), rd, &r), ZBS_ST_OK);
	assert_memory_equal(rd, f->golden, sizeof(rd));
	assert_int_equal(r.gen, f->gen);
	assert_int_equal(r.alloc_blocks, 1);
}

static int group_setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct zbs_reply r;

	assert_non_null(f);
	assert_int_equal(harness_tmpdir(f->tmp, sizeof(f->tmp)), 0);
	snprintf(f->data, sizeof(f->data), "%s/data", f->tmp);
	if (chunkd_start(&f->p, f->data, NULL) != 0) {
		harness_rmrf(f->tmp);
		free(f);
		fail_msg("cannot start %s", chunkd_binary());
	}
	assert_int_equal(zbs_dc_connect("127.0.0.1", f->p.port, &f->dc), 0);
	for (size_t i = 0; i < sizeof(f->golden); i++)
		f->golden[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(zbs_dc_sync(f->dc, PID, EPOCH, LEASE, ZBS_SF_CREATE, &r), ZBS_ST_OK);
	assert_int_equal(zbs_dc_write(f->dc, PID, EPOCH, LEASE, 0, 0, sizeof(f->golden),
				      f->golden, 0, &r), ZBS_ST_OK);
	f->gen = 1;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fix *f = *state;
	int st;

	zbs_dc_close(f->dc);
	st = chunkd_stop(&f->p);
	if (st) {
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "cat %s >&2", f->p.log);
		if (system(cmd)) {}
	}
	harness_rmrf(f->tmp);
	free(f);
	return st ? -1 : 0;
}

static void test_bad_magic(void **state)
{
	struct fix *f = *state;
	struct zbs_wire_req w = mkreq(ZBS_OP_WRITE, 0, 4096, 1);
	struct zbs_reply r;
	uint8_t junk[4096] = { 0 };
	int fd = raw_connect(f);

	w.magic ^= 1;
	assert_int_equal(zbs_send_all(fd, &w, sizeof(w)), 0);
	zbs_send_all(fd, junk, sizeof(junk));	/* may fail once the server closed */
	assert_int_equal(raw_reply(fd, &r), 0);
	assert_int_equal(r.status, ZBS_ST_PROTO);
	expect_closed(fd);
	close(fd);
	check_unchanged(f);
}

static void test_bad_version(void **state)
{
	struct fix *f = *state;
	struct zbs_wire_req w = mkreq(ZBS_OP_GET_INFO, 0, 0, 0);
	struct zbs_reply r;
	int fd = raw_connect(f);

	w.version = htole16(ZBS_WIRE_VERSION + 1);
	assert_int_equal(zbs_send_all(fd, &w, sizeof(w)), 0);
	assert_int_equal(raw_reply(fd, &r), 0);
	assert_int_equal(r.status, ZBS_ST_PROTO);
	assert_int_equal(r.id, 0x1122334455667788ULL);
	expect_closed(fd);
	close(fd);
	check_unchanged(f);
}

static void test_oversized_write(void **state)
{
	struct fix *f = *state;
	struct zbs_wire_req w = mkreq(ZBS_OP_WRITE, 0, ZBS_WIRE_MAX_IO + 512, f->gen);
	struct zbs_reply r;
	int fd = raw_connect(f);

	assert_int_equal(zbs_send_all(fd, &w, sizeof(w)), 0);
	assert_int_equal(raw_reply(fd, &r), 0);
	assert_int_equal(r.status, ZBS_ST_PROTO);
	expect_closed(fd);
	close(fd);
	w = mkreq(ZBS_OP_WRITE, 0, 0xffffffffu, f->gen);
	fd = raw_connect(f);
	assert_int_equal(zbs_send_all(fd, &w, sizeof(w)), 0);
	assert_int_equal(raw_reply(fd, &r), 0);
	assert_int_equal(r.status, ZBS_ST_PROTO);
	close(fd);
	check_unchanged(f);
}

/* Errors that keep the connection: the next request is served. */
static void test_errors_keep_connection(void **state)
{
	struct fix *f = *state;
	struct zbs_reply r;
	uint8_t payload[4096];
	int fd = raw_connect(f);
	struct {
		struct zbs_wire_req w;
		int payload;
		uint32_t want;
	} cases[] = {
		{ mkreq(99, 0, 4096, 0), 0, ZBS_ST_BADOP },		/* unknown op, no payload */
		{ mkreq(0, 0, 0, 0), 0, ZBS_ST_BADOP },
		{ mkreq(ZBS_OP_WRITE, 100, 4096, 1), 1, ZBS_ST_INVAL },	/* misaligned: payload skipped */
		{ mkreq(ZBS_OP_WRITE, 0, 1000, 1), 1, ZBS_ST_INVAL },
		{ mkreq(ZBS_OP_WRITE, ZBS_EXTENT_SIZE, 4096, 1), 1, ZBS_ST_INVAL },
		{ mkreq(ZBS_OP_WRITE, 0, 0, 1), 0, ZBS_ST_INVAL },
		{ mkreq(ZBS_OP_READ, 0, 0, 0), 0, ZBS_ST_INVAL },
		{ mkreq(ZBS_OP_READ, 0, 0xfffffe00u, 0), 0, ZBS_ST_INVAL },
		{ mkreq(ZBS_OP_FLUSH, 512, 0, 0), 0, ZBS_ST_INVAL },
		{ mkreq(ZBS_OP_WRITE, 0, 4096, 0), 1, ZBS_ST_GEN },	/* replayed gen */
	};

	memset(payload, 0xEE, sizeof(payload));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t plen = cases[i].payload ? le32toh(cases[i].w.length) : 0;

		cases[i].w.id = htole64(1000 + i);
		assert_int_equal(zbs_send_all(fd, &cases[i].w, sizeof(cases[i].w)), 0);
		if (plen)
			assert_int_equal(zbs_send_all(fd, payload, plen), 0);
		assert_int_equal(raw_reply(fd, &r), 0);
		assert_int_equal(r.id, 1000 + i);
		assert_int_equal(r.status, cases[i].want);
		assert_int_equal(r.length, 0);
	}
	/* still in sync: a good GET_INFO on the same connection */
	{
		struct zbs_wire_req w = mkreq(ZBS_OP_GET_INFO, 0, 0, 0);

		assert_int_equal(zbs_send_all(fd, &w, sizeof(w)), 0);
		assert_int_equal(raw_reply(fd, &r), 0);
		assert_int_equal(r.status, ZBS_ST_OK);
		assert_int_equal(r.gen, f->gen);
	}
	close(fd);
	check_unchanged(f);
}

static void test_truncated_frames(void **state)
{
	struct fix *f = *state;
	struct zbs_wire_req w = mkreq(ZBS_OP_WRITE, 0, 8192, f->gen);
	uint8_t payload[8192];
	int fd;

	memset(payload, 0x55, sizeof(payload));
	/* half a header */
	fd = raw_connect(f);
	assert_int_equal(zbs_send_all(fd, &w, 30), 0);
	close(fd);
	/* a whole header and part of the payload */
	fd = raw_connect(f);
	assert_int_equal(zbs_send_all(fd, &w, sizeof(w)), 0);
	assert_int_equal(zbs_send_all(fd, payload, 8191), 0);
	close(fd);
	/* same with a reset instead of a close */
	fd = raw_connect(f);
	assert_int_equal(zbs_send_all(fd, &w, sizeof(w)), 0);
	assert_int_equal(zbs_send_all(fd, payload, 4000), 0);
	{
		struct linger l = { 1, 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(fd);
	check_unchanged(f);
}

/* A stalled client (half a frame, then silence) does not block the others. */
static void test_stalled_client(void **state)
{
	struct fix *f = *state;
	struct zbs_wire_req w = mkreq(ZBS_OP_WRITE, 0, 8192, f->gen);
	int fd = raw_connect(f);

	assert_int_equal(zbs_send_all(fd, &w, sizeof(w)), 0);
	assert_int_equal(zbs_send_all(fd, "abc", 3), 0);
	check_unchanged(f);
	close(fd);
	check_unchanged(f);
}

/* A valid write delivered one byte at a time is reassembled. */
static void test_byte_at_a_time(void **state)
{
	struct fix *f = *state;
	struct zbs_wire_req w = mkreq(ZBS_OP_WRITE, 0, 1024, f->gen);
	uint8_t frame[sizeof(w) + 1024];
	struct zbs_reply r;
	int fd = raw_connect(f);

	memcpy(frame, &w, sizeof(w));
	memcpy(frame + sizeof(w), f->golden, 1024);	/* same data: golden stays valid */
	for (size_t i = 0; i < sizeof(frame); i++)
		assert_int_equal(zbs_send_all(fd, frame + i, 1), 0);
	assert_int_equal(raw_reply(fd, &r), 0);
	assert_int_equal(r.status, ZBS_ST_OK);
	f->gen++;
	assert_int_equal(r.gen, f->gen);
	close(fd);
	check_unchanged(f);
}

static void test_random_garbage(void **state)
{
	struct fix *f = *state;
	uint64_t x = 88172645463325252ULL;

	for (int round = 0; round < 20; round++) {
		uint8_t junk[16384];
		int fd = raw_connect(f);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		for (size_t i = 0; i < sizeof(junk); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			junk[i] = (uint8_t)x;
		}
		if (round % 2) {	/* valid magic+version, random rest */
			struct zbs_wire_req *w = (struct zbs_wire_req *)junk;

			w->magic = htole32(ZBS_WIRE_REQ_MAGIC);
			w->version = htole16(ZBS_WIRE_VERSION);
			w->pid = htole64(PID + 1000);	/* never the golden replica */
		}
		zbs_send_all(fd, junk, sizeof(junk));	/* the server may close early */
		shutdown(fd, SHUT_WR);
		/* drain until the server closes: it must close, not hang */
		for (;;) {
			char buf[4096];
			ssize_t n;

			assert_int_equal(poll(&pfd, 1, 20000), 1);
			n = recv(fd, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
		}
		close(fd);
	}
	check_unchanged(f);
}

static void test_many_abrupt_connections(void **state)
{
	struct fix *f = *state;

	for (int i = 0; i < 200; i++) {
		int fd = raw_connect(f);

		if (i % 3 == 0) {
			struct zbs_wire_req w = mkreq(ZBS_OP_GET_INFO, 0, 0, 0);

			zbs_send_all(fd, &w, sizeof(w));
		}
		close(fd);
	}
	check_unchanged(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_oversized_write),
		cmocka_unit_test(test_errors_keep_connection),
		cmocka_unit_test(test_truncated_frames),
		cmocka_unit_test(test_stalled_client),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_random_garbage),
		cmocka_unit_test(test_many_abrupt_connections),
	};
	return cmocka_run_group_tests_name("chunkd-malformed", tests, group_setup, group_teardown);
}
