// SPDX-License-Identifier: GPL-2.0
/* Table tests of the protocol helpers (daemon/lib/wire.c) and net.c parsing. */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "net.h"
#include "wire.h"

#define MiB (1024u * 1024u)
#define EXT ZBS_EXTENT_SIZE

static void test_check_table(void **state)
{
	static const struct {
		uint16_t op;
		uint32_t flags, len;
		uint64_t off;
		int want;
	} cases[] = {
		{ ZBS_OP_READ, 0, 4096, 0, ZBS_ST_OK },
		{ ZBS_OP_READ, 0, 512, EXT - 512, ZBS_ST_OK },
		{ ZBS_OP_READ, 0, MiB, EXT - MiB, ZBS_ST_OK },
		{ ZBS_OP_READ, 0, MiB + 512, 0, ZBS_ST_INVAL },	/* oversized */
		{ ZBS_OP_READ, 0, 0, 0, ZBS_ST_INVAL },		/* zero length */
		{ ZBS_OP_READ, 0, 4096, 1, ZBS_ST_INVAL },		/* unaligned offset */
		{ ZBS_OP_READ, 0, 4000, 0, ZBS_ST_INVAL },		/* unaligned length */
		{ ZBS_OP_READ, 0, 512, EXT, ZBS_ST_INVAL },		/* past the end */
		{ ZBS_OP_READ, 0, 1024, EXT - 512, ZBS_ST_INVAL },	/* crosses the end */
		{ ZBS_OP_READ, 0, 1024, UINT64_MAX - 511, ZBS_ST_INVAL },	/* wraps */
		{ ZBS_OP_READ, ZBS_WF_FUA, 512, 0, ZBS_ST_INVAL },	/* no FUA on READ */
		{ ZBS_OP_READ, ZBS_DF_RECOVERY, MiB, 0, ZBS_ST_OK },	/* a recovery copy's */
		{ ZBS_OP_READ, ZBS_DF_RECOVERY | ZBS_SF_THICK, 512, 0, ZBS_ST_INVAL },
		{ ZBS_OP_WRITE, ZBS_DF_RECOVERY, 4096, 0, ZBS_ST_INVAL },	/* READ's only */
		{ ZBS_OP_WRITE, ZBS_WF_FUA, 4096, 8192, ZBS_ST_OK },
		{ ZBS_OP_WRITE, ZBS_SF_THICK, 4096, 0, ZBS_ST_INVAL },
		{ ZBS_OP_WRITE, 1u << 31, 4096, 0, ZBS_ST_INVAL },
		{ ZBS_OP_WRITE_ZEROES, 0, 512, 512, ZBS_ST_OK },
		{ ZBS_OP_WRITE_ZEROES, ZBS_WF_FUA, (uint32_t)EXT, 0, ZBS_ST_OK },	/* whole extent */
		{ ZBS_OP_WRITE_ZEROES, 0, 64 * MiB, EXT - 64 * MiB, ZBS_ST_OK },
		{ ZBS_OP_WRITE_ZEROES, 0, 64 * MiB, EXT - 32 * MiB, ZBS_ST_INVAL },	/* crosses */
		{ ZBS_OP_WRITE_ZEROES, 0, (uint32_t)EXT + 512, 0, ZBS_ST_INVAL },
		{ ZBS_OP_WRITE_ZEROES, 0, 0, 0, ZBS_ST_INVAL },
		{ ZBS_OP_WRITE_ZEROES, 0, 4096, 100, ZBS_ST_INVAL },
		{ ZBS_OP_WRITE_ZEROES, 0, 1000, 0, ZBS_ST_INVAL },
		{ ZBS_OP_WRITE_ZEROES, 0, 512, EXT, ZBS_ST_INVAL },
		{ ZBS_OP_WRITE_ZEROES, ZBS_SF_THICK, 512, 0, ZBS_ST_INVAL },
		{ ZBS_OP_RECOVER_WRITE, ZBS_WF_FUA, 512, 512, ZBS_ST_OK },
		{ ZBS_OP_RECOVER_WRITE, 0, 0, 0, ZBS_ST_INVAL },
		{ ZBS_OP_SYNC, ZBS_SF_THICK, 0, 0, ZBS_ST_OK },
		{ ZBS_OP_SYNC, ZBS_WF_FUA, 0, 0, ZBS_ST_INVAL },
		{ ZBS_OP_SYNC, 0, 512, 0, ZBS_ST_INVAL },
		{ ZBS_OP_RECOVER_BEGIN, ZBS_SF_THICK, 0, 0, ZBS_ST_OK },
		{ ZBS_OP_FLUSH, 0, 0, 0, ZBS_ST_OK },
		{ ZBS_OP_FLUSH, 0, 0, 512, ZBS_ST_INVAL },
		{ ZBS_OP_GET_INFO, 0, 0, 0, ZBS_ST_OK },
		{ ZBS_OP_GET_INFO, ZBS_SF_THICK, 0, 0, ZBS_ST_INVAL },
		{ 6, 0, 0, 0, ZBS_ST_BADOP },	/* DELETE, retired */
		{ ZBS_OP_GET_BLOCK_MAP, 0, 0, 0, ZBS_ST_OK },
		{ ZBS_OP_RECOVER_END, 0, 0, 0, ZBS_ST_OK },
		{ 0, 0, 0, 0, ZBS_ST_BADOP },
		{ ZBS_OP_MAX + 1, 0, 0, 0, ZBS_ST_BADOP },
		{ 0xffff, 0, 0, 0, ZBS_ST_BADOP },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zbs_req r = { .opcode = cases[i].op, .flags = cases[i].flags,
				     .length = cases[i].len, .offset = cases[i].off };

		if (zbs_wire_check_req(&r) != cases[i].want)
			fail_msg("case %zu (%s): got %d want %d", i, zbs_wire_op_str(cases[i].op),
				 zbs_wire_check_req(&r), cases[i].want);
	}
}

static void test_encode_decode(void **state)
{
	struct zbs_req r = { .opcode = ZBS_OP_WRITE, .flags = ZBS_WF_FUA, .length = 4096,
			     .id = 0x0102030405060708ULL, .pid = 99, .epoch = 7,
			     .lease_epoch = 3, .gen = 12, .offset = 8192 }, back;
	struct zbs_wire_req w;
	const uint8_t *b = (const uint8_t *)&w;
	uint32_t plen;

	zbs_wire_encode_req(&r, &w);
	/* little-endian layout: magic "ZBRQ" first, id at byte 16 */
	assert_memory_equal(b, "ZBRQ", 4);
	assert_int_equal(b[16], 0x08);
	assert_int_equal(b[23], 0x01);
	assert_int_equal(zbs_wire_decode_req(&w, &back, &plen), ZBS_ST_OK);
	assert_int_equal(plen, 4096);
	assert_int_equal(back.gen, 12);
	assert_int_equal(back.offset, 8192);
	assert_int_equal(back.id, r.id);
	/* no payload for reads whatever their length */
	r.opcode = ZBS_OP_READ;
	r.length = 0xffffffffu;
	zbs_wire_encode_req(&r, &w);
	assert_int_equal(zbs_wire_decode_req(&w, &back, &plen), ZBS_ST_OK);
	assert_int_equal(plen, 0);
	/* nor for WRITE_ZEROES, which may cover a whole extent */
	r.opcode = ZBS_OP_WRITE_ZEROES;
	r.length = (uint32_t)EXT;
	zbs_wire_encode_req(&r, &w);
	assert_int_equal(zbs_wire_decode_req(&w, &back, &plen), ZBS_ST_OK);
	assert_int_equal(plen, 0);
	assert_false(zbs_wire_op_has_payload(ZBS_OP_WRITE_ZEROES));
	/* framing errors */
	r.opcode = ZBS_OP_WRITE;
	r.length = ZBS_WIRE_MAX_IO + 1;
	zbs_wire_encode_req(&r, &w);
	assert_int_equal(zbs_wire_decode_req(&w, &back, &plen), ZBS_ST_PROTO);
	r.length = 512;
	zbs_wire_encode_req(&r, &w);
	w.version = htole16(2);
	assert_int_equal(zbs_wire_decode_req(&w, &back, &plen), ZBS_ST_PROTO);
	zbs_wire_encode_req(&r, &w);
	w.magic = htole32(ZBS_WIRE_REPLY_MAGIC);
	assert_int_equal(zbs_wire_decode_req(&w, &back, &plen), ZBS_ST_PROTO);
}

static void test_reply_decode(void **state)
{
	struct zbs_reply r = { .opcode = ZBS_OP_READ, .status = 0, .length = 4096, .id = 5,
			       .gen = 9, .state = 1, .alloc_blocks = 3 }, back;
	struct zbs_wire_reply w;

	zbs_wire_encode_reply(&r, &w);
	assert_int_equal(w.reserved, 0);
	assert_int_equal(zbs_wire_decode_reply(&w, &back), ZBS_ST_OK);
	assert_int_equal(back.gen, 9);
	assert_int_equal(back.alloc_blocks, 3);
	r.status = ZBS_ST_GEN;		/* an error carries no payload */
	zbs_wire_encode_reply(&r, &w);
	assert_int_equal(zbs_wire_decode_reply(&w, &back), ZBS_ST_PROTO);
	r.status = 0;
	r.length = ZBS_WIRE_MAX_IO + 512;
	zbs_wire_encode_reply(&r, &w);
	assert_int_equal(zbs_wire_decode_reply(&w, &back), ZBS_ST_PROTO);
	assert_string_equal(zbs_wire_status_str(ZBS_ST_STALE), "stale lease_epoch (ESTALE)");
	assert_string_equal(zbs_wire_status_str(999), "unknown status");
	assert_string_equal(zbs_wire_op_str(ZBS_OP_RECOVER_END), "RECOVER_END");
	assert_string_equal(zbs_wire_op_str(ZBS_OP_WRITE_ZEROES), "WRITE_ZEROES");
}

static void test_parse_hostport(void **state)
{
	char h[64];
	uint16_t p;

	/* the listen and peer addresses of chunkd, zbs-probe, zbs-test-agent */
#define HP(s, dh) zbs_parse_hostport(s, dh, 0, ZBS_HP_ANY_HOST, h, sizeof(h), &p)

	assert_int_equal(HP("10.0.0.1:10201", NULL), 0);
	assert_string_equal(h, "10.0.0.1");
	assert_int_equal(p, 10201);
	assert_int_equal(HP("[::1]:5", NULL), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(p, 5);
	assert_int_equal(HP(":7", NULL), 0);
	assert_string_equal(h, "0.0.0.0");
	assert_int_equal(HP("8", "127.0.0.1"), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_int_equal(p, 8);
	assert_int_equal(HP("8", NULL), -1);
	assert_int_equal(HP("host:", NULL), -1);
	assert_int_equal(HP("host:70000", NULL), -1);
	assert_int_equal(HP("[::1]5", NULL), -1);
#undef HP
	/* meta addresses: "HOST" alone takes the default port, no empty host */
	assert_int_equal(zbs_parse_hostport("meta", NULL, 10100, 0, h, sizeof(h), &p), 0);
	assert_string_equal(h, "meta");
	assert_int_equal(p, 10100);
	assert_int_equal(zbs_parse_hostport("meta:0", NULL, 10100, 0, h, sizeof(h), &p), 0);
	assert_int_equal(p, 0);
	assert_int_equal(zbs_parse_hostport(":80", NULL, 10100, 0, h, sizeof(h), &p), -1);
	assert_int_equal(zbs_parse_hostport("", NULL, 10100, 0, h, sizeof(h), &p), -1);
	assert_int_equal(zbs_parse_hostport("meta:+5", NULL, 10100, 0, h, sizeof(h), &p), -1);
	assert_int_equal(zbs_parse_hostport("meta", NULL, 0, 0, h, sizeof(h), &p), -1);
	/* a host that does not fit */
	assert_int_equal(zbs_parse_hostport("0123456789abcdef:1", NULL, 0, 0, h, 16, &p), -1);
	assert_int_equal(zbs_parse_hostport("0123456789abcde:1", NULL, 0, 0, h, 16, &p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_reply_decode),
		cmocka_unit_test(test_parse_hostport),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
