/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers shared by daemons and tools: parsing, files, time. */
#ifndef ZBS_UTIL_H
#define ZBS_UTIL_H

#include <stdint.h>
#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Parse a byte size: a decimal number with an optional binary unit suffix
 * K, M, G, T, P (also KiB/KB, ... all meaning powers of 1024) or B.
 * Returns 0, or -1 on junk, an empty string or overflow.
 */
int zbs_parse_size(const char *s, uint64_t *out);

/*
 * Parse a duration into milliseconds: a decimal number with a unit suffix
 * ms, s, m, h or d (no suffix: seconds), e.g. "90s", "30m", "2h". Returns
 * 0, or -1 on junk, an empty string, an unknown unit or overflow.
 */
int zbs_parse_duration(const char *s, uint64_t *ms);

/* Format a byte size as "10 GiB", "256 KiB", "512 B" (exact unit if whole). */
void zbs_format_size(uint64_t bytes, char *buf, size_t len);

/* Parse an unsigned decimal integer in [min, max]; returns 0 or -1. */
int zbs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Write text to path through path.tmp and a rename: a reader sees the old
 * file or the whole new one. 0, or -1 with errno set (path.tmp removed).
 */
int zbs_replace_file(const char *path, const char *text);

/* Set the calling thread's nice value (Linux: this thread alone, not the
 * process). 0 or -errno. */
int zbs_thread_nice(int nice);

/* CLOCK_MONOTONIC / CLOCK_REALTIME in nanoseconds. */
uint64_t zbs_now_ns(void);
uint64_t zbs_wall_ns(void);

#endif
