// SPDX-License-Identifier: GPL-2.0
/* Meta RPC frame encoding, validation and address parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "rpc.h"

static void test_roundtrip(void **state)
{
	struct zbs_rpc_hdr h = { .len = 1234, .service = 1, .method = ZBS_M_KEEPALIVE,
				 .status = 5, .msg_id = 0x0102030405060708ULL,
				 .timeout_ms = 7000, .flags = ZBS_RPC_F_REPLY }, g;
	uint8_t b[ZBS_RPC_HDR_LEN];

	zbs_rpc_hdr_encode(&h, b);
	assert_memory_equal(b, "ZBSR", 4);		/* magic */
	assert_int_equal(b[4], 1234 & 0xff);		/* little endian */
	assert_int_equal(b[16], 0x08);
	assert_int_equal(zbs_rpc_hdr_decode(b, &g), 0);
	assert_int_equal(g.len, 1234);
	assert_int_equal(g.method, ZBS_M_KEEPALIVE);
	assert_int_equal(g.status, 5);
	assert_int_equal(g.msg_id, h.msg_id);
	assert_int_equal(g.timeout_ms, 7000);
	assert_int_equal(g.flags, ZBS_RPC_F_REPLY);
}

static void test_malformed(void **state)
{
	struct zbs_rpc_hdr h = { .len = 10, .service = 1, .method = 1 }, g;
	uint8_t b[ZBS_RPC_HDR_LEN];

	zbs_rpc_hdr_encode(&h, b);
	b[1] ^= 1;
	assert_int_equal(zbs_rpc_hdr_decode(b, &g), -1);	/* magic */
	h.len = ZBS_RPC_MAX_BODY;
	zbs_rpc_hdr_encode(&h, b);
	assert_int_equal(zbs_rpc_hdr_decode(b, &g), 0);
	h.len = ZBS_RPC_MAX_BODY + 1;
	zbs_rpc_hdr_encode(&h, b);
	assert_int_equal(zbs_rpc_hdr_decode(b, &g), -1);	/* too long */
	h.len = 0;
	h.flags = 2;
	zbs_rpc_hdr_encode(&h, b);
	assert_int_equal(zbs_rpc_hdr_decode(b, &g), -1);	/* reserved flags */
}

static void test_names_and_addresses(void **state)
{
	struct sockaddr_storage ss;
	unsigned int len;

	assert_string_equal(zbs_meta_method_name(ZBS_M_GET_VEXTENT_LEASE), "GetVExtentLease");
	assert_string_equal(zbs_meta_method_name(0), "unknown");
	assert_string_equal(zbs_meta_method_name(9999), "unknown");
	assert_string_equal(zbs_rpc_status_name(ZBS_RPC_EOWNED), "owned by another session");
	assert_string_equal(zbs_rpc_status_name(9999), "unknown status");
	assert_int_equal(zbs_rpc_resolve("127.0.0.1:10100", 1, &ss, &len), 0);
	assert_int_equal(zbs_rpc_resolve("127.0.0.1", 10100, &ss, &len), 0);
	assert_int_equal(zbs_rpc_resolve("127.0.0.1:", 1, &ss, &len), -1);
	assert_int_equal(zbs_rpc_resolve("127.0.0.1:70000", 1, &ss, &len), -1);
	assert_int_equal(zbs_rpc_resolve("127.0.0.1:12x", 1, &ss, &len), -1);
	assert_int_equal(zbs_rpc_resolve(":80", 1, &ss, &len), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_names_and_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
