/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ZBS layout math (ARCHITECTURE.md section 3), header-only so the kernel and
 * userspace compute exactly the same mapping.
 *
 * A volume is cut into groups of `stripe_num` consecutive extents of
 * ZBS_EXTENT_SIZE bytes; inside a group, stripe units of `stripe_size` bytes
 * go round-robin over the group's extents:
 *
 *   group         = off / (N * E)
 *   w             = off % (N * E)
 *   unit          = w / S
 *   vextent_no    = group * N + unit % N
 *   extent_offset = (unit / N) * S + w % S
 *
 * A request is split at stripe-unit boundaries; each piece lies in exactly
 * one extent (S divides E, so unit boundaries include extent boundaries).
 * Requests without data (discard, write zeroes) may instead be sent as one
 * range per extent and stripe group (zbs_layout_col_range).
 */
#ifndef _UAPI_LINUX_ZBS_LAYOUT_H
#define _UAPI_LINUX_ZBS_LAYOUT_H

#include <linux/types.h>

#ifdef __KERNEL__
#include <linux/math64.h>
#define zbs_div64(a, b)	div64_u64((a), (b))
#else
#define zbs_div64(a, b)	((__u64)(a) / (__u64)(b))
#endif

#define ZBS_SECTOR_SHIFT	9
#define ZBS_SECTOR_SIZE		(1U << ZBS_SECTOR_SHIFT)
#define ZBS_EXTENT_SHIFT	28
#define ZBS_EXTENT_SIZE		(1ULL << ZBS_EXTENT_SHIFT)	/* 256 MiB */
#define ZBS_BLOCK_SHIFT		18
#define ZBS_BLOCK_SIZE		(1U << ZBS_BLOCK_SHIFT)		/* 256 KiB space/recovery block */
#define ZBS_BLOCKS_PER_EXTENT	(1U << (ZBS_EXTENT_SHIFT - ZBS_BLOCK_SHIFT))
#define ZBS_DIRTY_SECTOR_SIZE	4096U				/* dirty-tracking granule */

#define ZBS_STRIPE_SIZE_DEFAULT	(256U * 1024)
#define ZBS_STRIPE_SIZE_MIN	4096U
#define ZBS_STRIPE_NUM_MAX	256U

/*
 * Validate a stripe geometry: 1 <= stripe_num <= ZBS_STRIPE_NUM_MAX,
 * stripe_size a power of two in [ZBS_STRIPE_SIZE_MIN, ZBS_EXTENT_SIZE].
 * Returns 0 when valid, -1 otherwise.
 */
static inline int zbs_layout_valid(__u32 stripe_num, __u32 stripe_size)
{
	if (stripe_num < 1 || stripe_num > ZBS_STRIPE_NUM_MAX)
		return -1;
	if (stripe_size < ZBS_STRIPE_SIZE_MIN ||
	    (__u64)stripe_size > ZBS_EXTENT_SIZE ||
	    (stripe_size & (stripe_size - 1)) != 0)
		return -1;
	return 0;
}

/* Map a volume byte offset to (vextent_no, offset inside that extent). */
static inline void zbs_layout_map(__u32 stripe_num, __u32 stripe_size, __u64 off,
				  __u64 *vextent_no, __u64 *extent_offset)
{
	__u64 group_bytes = (__u64)stripe_num * ZBS_EXTENT_SIZE;
	__u64 group = zbs_div64(off, group_bytes);
	__u64 w = off - group * group_bytes;
	__u64 unit = w / stripe_size;		/* w < 2^36, stripe_size fits u32 */
	__u64 in_unit = w & ((__u64)stripe_size - 1);
	__u64 col = unit % stripe_num;
	__u64 row = unit / stripe_num;

	*vextent_no = group * stripe_num + col;
	*extent_offset = row * stripe_size + in_unit;
}

/*
 * Length of the piece starting at volume offset `off` for a request of
 * `len` bytes: up to the end of the stripe unit that holds `off`.
 */
static inline __u64 zbs_layout_piece_len(__u32 stripe_size, __u64 off, __u64 len)
{
	__u64 room = (__u64)stripe_size - (off & ((__u64)stripe_size - 1));

	return len < room ? len : room;
}

/*
 * Inside one stripe group the units of a column are consecutive in its
 * extent, so the part of a request [off, off+len) that lies in the group
 * holding `off` covers one contiguous range of each of the group's extents.
 * For column `col` (0 <= col < stripe_num) of that group: returns the
 * range's length (0 when the request does not reach that column) and sets
 * *vextent_no and *extent_offset to its start. The group part of the
 * request ends at min(off + len, end of the group).
 */
static inline __u64 zbs_layout_col_range(__u32 stripe_num, __u32 stripe_size, __u64 off,
					 __u64 len, __u32 col, __u64 *vextent_no,
					 __u64 *extent_offset)
{
	__u64 group_bytes = (__u64)stripe_num * ZBS_EXTENT_SIZE;
	__u64 base = zbs_div64(off, group_bytes) * group_bytes;
	__u64 a = off - base;				/* offsets inside the group */
	__u64 b = len < group_bytes - a ? a + len : group_bytes;
	__u64 ua = a / stripe_size, ub = (b - 1) / stripe_size;
	__u64 u1, u2, s, e, v_last, o_last;

	if (!len)
		return 0;
	u1 = ua + (col + stripe_num - ua % stripe_num) % stripe_num;	/* first unit of col */
	if (u1 > ub)
		return 0;
	u2 = ub - (ub % stripe_num + stripe_num - col) % stripe_num;	/* last unit of col */
	s = u1 == ua ? a : u1 * stripe_size;
	e = u2 == ub ? b : (u2 + 1) * stripe_size;
	zbs_layout_map(stripe_num, stripe_size, base + s, vextent_no, extent_offset);
	zbs_layout_map(stripe_num, stripe_size, base + e - 1, &v_last, &o_last);
	return o_last + 1 - *extent_offset;
}

/* Vextent numbers a volume of `size` bytes may use are [0, result). */
static inline __u64 zbs_layout_nr_vextents(__u32 stripe_num, __u64 size)
{
	__u64 group_bytes = (__u64)stripe_num * ZBS_EXTENT_SIZE;

	return zbs_div64(size + group_bytes - 1, group_bytes) * stripe_num;
}

#endif /* _UAPI_LINUX_ZBS_LAYOUT_H */
