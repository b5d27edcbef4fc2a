/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Replica locations packed in a u32, one 8-bit cid per byte, slot 0 in the
 * least significant byte (SPEC 1.6): 0x010204 is [4, 2, 1]. cid 0 = empty.
 * Add appends, replace keeps the slot, remove closes the gap.
 */
#ifndef ZBS_LOCATION_H
#define ZBS_LOCATION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define ZBS_LOC_SLOTS 4

static inline uint32_t loc_get(uint32_t loc, int slot)
{
	return (loc >> (8 * slot)) & 0xff;
}

static inline int loc_count(uint32_t loc)
{
	int n = 0;

	while (n < ZBS_LOC_SLOTS && loc_get(loc, n))
		n++;
	return n;
}

static inline int loc_slot_of(uint32_t loc, uint32_t cid)
{
	for (int i = 0; i < ZBS_LOC_SLOTS; i++)
		if (cid && loc_get(loc, i) == cid)
			return i;
	return -1;
}

static inline bool loc_contains(uint32_t loc, uint32_t cid)
{
	return loc_slot_of(loc, cid) >= 0;
}

/* append; returns loc unchanged when full or cid already present */
static inline uint32_t loc_add(uint32_t loc, uint32_t cid)
{
	int n = loc_count(loc);

	if (n >= ZBS_LOC_SLOTS || !cid || cid > 255 || loc_contains(loc, cid))
		return loc;
	return loc | cid << (8 * n);
}

static inline uint32_t loc_remove(uint32_t loc, uint32_t cid)
{
	uint32_t out = 0;
	int j = 0;

	for (int i = 0; i < ZBS_LOC_SLOTS; i++) {
		uint32_t c = loc_get(loc, i);
		if (c && c != cid)
			out |= c << (8 * j++);
	}
	return out;
}

static inline uint32_t loc_replace(uint32_t loc, uint32_t old, uint32_t cid)
{
	int s = loc_slot_of(loc, old);

	if (s < 0 || !cid || cid > 255 || loc_contains(loc, cid))
		return loc;
	return (loc & ~(0xffU << (8 * s))) | cid << (8 * s);
}

/* "[4 2 1]" */
static inline char *loc_format(uint32_t loc, char *buf, int len)
{
	int n = 0;

	n += snprintf(buf, len, "[");
	for (int i = 0; i < loc_count(loc) && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%u", i ? " " : "", loc_get(loc, i));
	if (n < len)
		snprintf(buf + n, len - n, "]");
	return buf;
}

#endif
