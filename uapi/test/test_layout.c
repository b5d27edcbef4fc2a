// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the layout math in uapi/linux/zbs_layout.h: the vector from
 * ARCHITECTURE.md section 3, and properties over random ranges and
 * geometries: pieces cover the range exactly, never cross a stripe unit,
 * each byte lands in exactly one (vextent, offset) and no two bytes share one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/zbs_layout.h>

/* Independent inverse of zbs_layout_map, written from the definition. */
static uint64_t unmap(uint32_t n, uint32_t s, uint64_t vext, uint64_t eoff)
{
	uint64_t group = vext / n, col = vext % n;
	uint64_t row = eoff / s, in_unit = eoff % s;
	uint64_t unit = row * n + col;

	return group * n * ZBS_EXTENT_SIZE + unit * s + in_unit;
}

static uint64_t rnd64(void)
{
	return ((uint64_t)random() << 33) ^ ((uint64_t)random() << 2) ^ (uint64_t)random();
}

static void test_vector_from_log(void **state)
{
	__u64 v, off;

	zbs_layout_map(8, 262144, 313534709760ull, &v, &off);
	assert_int_equal(v, 1168);
	assert_int_equal(off, 262144);
}

static void test_simple_cases(void **state)
{
	__u64 v, off;

	/* stripe_num 1: plain concatenation of extents */
	zbs_layout_map(1, 262144, 3 * ZBS_EXTENT_SIZE + 12345, &v, &off);
	assert_int_equal(v, 3);
	assert_int_equal(off, 12345);
	/* stripe_num 4: units go round-robin over 4 extents */
	zbs_layout_map(4, 262144, 0, &v, &off);
	assert_int_equal(v, 0);
	assert_int_equal(off, 0);
	zbs_layout_map(4, 262144, 262144, &v, &off);
	assert_int_equal(v, 1);
	assert_int_equal(off, 0);
	zbs_layout_map(4, 262144, 4 * 262144 + 7, &v, &off);
	assert_int_equal(v, 0);
	assert_int_equal(off, 262144 + 7);
	/* second group starts at vextent 4 */
	zbs_layout_map(4, 262144, 4 * ZBS_EXTENT_SIZE, &v, &off);
	assert_int_equal(v, 4);
	assert_int_equal(off, 0);
	/* last byte of a group: last extent, last byte */
	zbs_layout_map(4, 262144, 4 * ZBS_EXTENT_SIZE - 1, &v, &off);
	assert_int_equal(v, 3);
	assert_int_equal(off, ZBS_EXTENT_SIZE - 1);
}

static void test_valid(void **state)
{
	assert_int_equal(zbs_layout_valid(1, 262144), 0);
	assert_int_equal(zbs_layout_valid(8, 4096), 0);
	assert_int_equal(zbs_layout_valid(3, (uint32_t)ZBS_EXTENT_SIZE), 0);
	assert_int_equal(zbs_layout_valid(0, 262144), -1);
	assert_int_equal(zbs_layout_valid(257, 262144), -1);
	assert_int_equal(zbs_layout_valid(4, 2048), -1);
	assert_int_equal(zbs_layout_valid(4, 300000), -1);
	assert_int_equal(zbs_layout_valid(4, 0x80000000u), -1);
	assert_int_equal(zbs_layout_nr_vextents(4, 1), 4);
	assert_int_equal(zbs_layout_nr_vextents(1, 10 * ZBS_EXTENT_SIZE), 10);
	assert_int_equal(zbs_layout_nr_vextents(8, 8 * ZBS_EXTENT_SIZE + 1), 16);
}

struct ival { uint64_t v, off, len; };

static int ival_cmp(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;

	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

static void random_geometry(uint32_t *n, uint32_t *s)
{
	static const uint32_t nums[] = { 1, 2, 3, 4, 5, 7, 8, 16 };

	*n = nums[random() % 8];
	*s = 4096u << (random() % 17);	/* 4 KiB .. 256 MiB */
	if (*s > ZBS_EXTENT_SIZE)
		*s = (uint32_t)ZBS_EXTENT_SIZE;
}

/* Random ranges split into pieces: coverage, unit boundaries, contiguity. */
static void test_property_pieces(void **state)
{
	enum { MAXP = 65536 };
	static struct ival iv[MAXP];

	srandom(20261121);
	for (int iter = 0; iter < 2000; iter++) {
		uint32_t n, s;
		random_geometry(&n, &s);
		uint64_t vol = (uint64_t)n * ZBS_EXTENT_SIZE * (1 + random() % 64);
		uint64_t len = 1 + rnd64() % (iter % 10 == 0 ? 64ull << 20 : 4ull << 20);
		uint64_t start = rnd64() % (vol - len);
		uint64_t pos = start, covered = 0;
		int np = 0;

		if (iter % 3 == 0)	/* sector aligned, as the block layer sends */
			start &= ~511ull, len = (len + 511) & ~511ull, pos = start;

		while (covered < len) {
			uint64_t pl = zbs_layout_piece_len(s, pos, len - covered);
			__u64 v, off, v2, off2;

			assert_true(pl > 0);
			/* never crosses a stripe unit */
			assert_int_equal(pos / s, (pos + pl - 1) / s);
			zbs_layout_map(n, s, pos, &v, &off);
			zbs_layout_map(n, s, pos + pl - 1, &v2, &off2);
			/* the whole piece is one contiguous run in one extent */
			assert_int_equal(v, v2);
			assert_int_equal(off2 - off, pl - 1);
			assert_true(off + pl <= ZBS_EXTENT_SIZE);
			assert_true(v < zbs_layout_nr_vextents(n, vol));
			/* and every byte maps back to where it came from */
			for (int k = 0; k < 4; k++) {
				uint64_t b = pos + (uint64_t)random() % pl;
				__u64 bv, bo;
				zbs_layout_map(n, s, b, &bv, &bo);
				assert_int_equal(bv, v);
				assert_int_equal(bo, off + (b - pos));
				assert_int_equal(unmap(n, s, bv, bo), b);
			}
			assert_true(np < MAXP);
			iv[np++] = (struct ival){ v, off, pl };
			pos += pl;
			covered += pl;
		}
		assert_int_equal(covered, len);
		/* no two bytes of the range share a (vextent, offset) */
		qsort(iv, np, sizeof(iv[0]), ival_cmp);
		for (int i = 1; i < np; i++)
			if (iv[i].v == iv[i - 1].v)
				assert_true(iv[i - 1].off + iv[i - 1].len <= iv[i].off);
	}
}

/*
 * One range per extent and group (zbs_layout_col_range) covers exactly what
 * the per-unit pieces cover, merged where they are contiguous in an extent.
 */
static void test_property_col_ranges(void **state)
{
	enum { MAXP = 65536 };
	static struct ival units[MAXP], cols[MAXP];

	srandom(20261122);
	for (int iter = 0; iter < 3000; iter++) {
		uint32_t n, s;
		random_geometry(&n, &s);
		uint64_t vol = (uint64_t)n * ZBS_EXTENT_SIZE * (1 + random() % 8);
		uint64_t len = 1 + rnd64() % (iter % 4 == 0 ? 1ull << 30 : 4ull << 20);
		uint64_t start, pos, left;
		int nu = 0, nc = 0, m = 0;

		if (len >= vol)
			len = vol - 1;
		start = rnd64() % (vol - len);
		/* per unit, merged */
		for (pos = start; pos < start + len && nu < MAXP;) {
			uint64_t pl = zbs_layout_piece_len(s, pos, start + len - pos);
			__u64 v, off;

			zbs_layout_map(n, s, pos, &v, &off);
			units[nu++] = (struct ival){ v, off, pl };
			pos += pl;
		}
		if (nu == MAXP)
			continue;	/* too many units for the table: skip */
		qsort(units, nu, sizeof(units[0]), ival_cmp);
		for (int i = 0; i < nu; i++) {
			if (m && units[m - 1].v == units[i].v &&
			    units[m - 1].off + units[m - 1].len == units[i].off)
				units[m - 1].len += units[i].len;
			else
				units[m++] = units[i];
		}
		/* per column and group, the way the driver walks a request */
		for (pos = start, left = len; left;) {
			uint64_t group_bytes = (uint64_t)n * ZBS_EXTENT_SIZE;
			uint64_t in_group = group_bytes - pos % group_bytes;

			for (uint32_t c = 0; c < n; c++) {
				__u64 v, off, l;

				l = zbs_layout_col_range(n, s, pos, left, c, &v, &off);
				if (!l)
					continue;
				assert_true(nc < MAXP);
				assert_true(off + l <= ZBS_EXTENT_SIZE);
				assert_int_equal(v % n, c);
				cols[nc++] = (struct ival){ v, off, l };
			}
			if (in_group > left)
				in_group = left;
			pos += in_group;
			left -= in_group;
		}
		qsort(cols, nc, sizeof(cols[0]), ival_cmp);
		assert_int_equal(nc, m);
		for (int i = 0; i < m; i++) {
			assert_int_equal(cols[i].v, units[i].v);
			assert_int_equal(cols[i].off, units[i].off);
			assert_int_equal(cols[i].len, units[i].len);
		}
	}
}

/* Byte-exact check on a small window: every byte, one target, no sharing. */
static void test_property_every_byte(void **state)
{
	const uint32_t n = 3, s = 4096;
	const uint64_t base = 5 * ZBS_EXTENT_SIZE * n - 6 * 4096 - 100;
	const uint64_t len = 12 * 4096 + 300;	/* crosses a group boundary */
	static uint8_t seen[3][16 * 4096];
	__u64 v0, o0;

	zbs_layout_map(n, s, base, &v0, &o0);
	for (uint64_t b = base; b < base + len; b++) {
		__u64 v, o;
		zbs_layout_map(n, s, b, &v, &o);
		assert_int_equal(unmap(n, s, v, o), b);
		/* window: group 4's last rows and group 5's first rows */
		uint64_t col = v % n;
		uint64_t slot = (v / n == 4) ? o - (ZBS_EXTENT_SIZE - 8 * 4096)
					     : 8 * 4096 + o;
		assert_true(slot < sizeof(seen[0]));
		assert_int_equal(seen[col][slot], 0);
		seen[col][slot] = 1;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_from_log),
		cmocka_unit_test(test_simple_cases),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_property_pieces),
		cmocka_unit_test(test_property_every_byte),
		cmocka_unit_test(test_property_col_ranges),
	};
	return cmocka_run_group_tests_name("layout", tests, NULL, NULL);
}
