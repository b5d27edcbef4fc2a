// SPDX-License-Identifier: GPL-2.0
/* Unit tests for daemon/lib/util.c (and the port file of net.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "net.h"
#include "util.h"

static void test_parse_duration(void **state)
{
	static const struct { const char *s; int ret; uint64_t ms; } cases[] = {
		{ "90", 0, 90000 }, { "90s", 0, 90000 }, { "250ms", 0, 250 }, { "30m", 0, 1800000 },
		{ "2h", 0, 7200000 }, { "1d", 0, 86400000 }, { "0", 0, 0 },
		{ "", -1, 0 }, { "h", -1, 0 }, { "-1h", -1, 0 }, { "1x", -1, 0 }, { "1H", -1, 0 },
		{ "1 h", -1, 0 }, { "18446744073709551615d", -1, 0 },
		{ "99999999999999999999", -1, 0 },
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		print_message("case \"%s\"\n", cases[i].s);
		assert_int_equal(zbs_parse_duration(cases[i].s, &v), cases[i].ret);
		if (!cases[i].ret)
			assert_int_equal(v, cases[i].ms);
	}
	assert_int_equal(zbs_parse_duration(NULL, &v), -1);
}

static void test_parse_size_units(void **state)
{
	uint64_t v;

	assert_int_equal(zbs_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(zbs_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(zbs_parse_size("256K", &v), 0);
	assert_int_equal(v, 256 * 1024);
	assert_int_equal(zbs_parse_size("10G", &v), 0);
	assert_int_equal(v, 10ull << 30);
	assert_int_equal(zbs_parse_size("10gib", &v), 0);
	assert_int_equal(v, 10ull << 30);
	assert_int_equal(zbs_parse_size("3T", &v), 0);
	assert_int_equal(v, 3ull << 40);
	assert_int_equal(zbs_parse_size("1MB", &v), 0);
	assert_int_equal(v, 1ull << 20);
}

static void test_parse_size_rejects(void **state)
{
	uint64_t v = 42;
	const char *bad[] = { "", "G", "-1", "10X", "10 G", "1.5G", " 10", "10GG",
			      "99999999999999999999", "16777216P", NULL };

	for (int i = 0; bad[i]; i++)
		assert_int_equal(zbs_parse_size(bad[i], &v), -1);
	assert_int_equal(zbs_parse_size(NULL, &v), -1);
	assert_int_equal(v, 42);
}

static void test_parse_u64(void **state)
{
	uint64_t v;

	assert_int_equal(zbs_parse_u64("3", 1, 3, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(zbs_parse_u64("4", 1, 3, &v), -1);
	assert_int_equal(zbs_parse_u64("0", 1, 3, &v), -1);
	assert_int_equal(zbs_parse_u64("1x", 1, 3, &v), -1);
	assert_int_equal(zbs_parse_u64("+1", 0, 3, &v), -1);
}

static void test_format_size(void **state)
{
	char buf[32];

	zbs_format_size(10ull << 30, buf, sizeof(buf));
	assert_string_equal(buf, "10 GiB");
	zbs_format_size(512, buf, sizeof(buf));
	assert_string_equal(buf, "512 B");
	zbs_format_size(256 * 1024, buf, sizeof(buf));
	assert_string_equal(buf, "256 KiB");
	zbs_format_size(1536 * 1024, buf, sizeof(buf));
	assert_string_equal(buf, "1.5 MiB");
}

static void test_port_file(void **state)
{
	char dir[] = "/tmp/zbs-test-util-XXXXXX", path[64], tmp[80], buf[16] = "";
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/port", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(zbs_write_port_file(path, 10201), 0);
	assert_int_equal(zbs_write_port_file(path, 65535), 0);	/* replaces */
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "65535\n");
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(unlink(path), 0);
	/* a directory that is not there: -1 with errno, nothing left behind */
	snprintf(path, sizeof(path), "%s/no/port", dir);
	errno = 0;
	assert_int_equal(zbs_write_port_file(path, 1), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_size_units),
		cmocka_unit_test(test_parse_size_rejects),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_port_file),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
