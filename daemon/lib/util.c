// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int zbs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int zbs_parse_size(const char *s, uint64_t *out)
{
	static const struct { const char *sfx; unsigned shift; } units[] = {
		{ "", 0 }, { "B", 0 },
		{ "K", 10 }, { "KB", 10 }, { "KIB", 10 },
		{ "M", 20 }, { "MB", 20 }, { "MIB", 20 },
		{ "G", 30 }, { "GB", 30 }, { "GIB", 30 },
		{ "T", 40 }, { "TB", 40 }, { "TIB", 40 },
		{ "P", 50 }, { "PB", 50 }, { "PIB", 50 },
	};
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].sfx) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
			return -1;
		*out = (uint64_t)v << units[i].shift;
		return 0;
	}
	return -1;
}

int zbs_parse_duration(const char *s, uint64_t *ms)
{
	static const struct { const char *sfx; uint64_t ms; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 },
	};
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].sfx) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ms)
			return -1;
		*ms = (uint64_t)v * units[i].ms;
		return 0;
	}
	return -1;
}

void zbs_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned i = 0;

	while (i + 1 < ARRAY_SIZE(names) && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		i++;
	}
	if (bytes >= 1024 && i + 1 < ARRAY_SIZE(names)) {
		/* not a whole number of the next unit: one decimal */
		double v = (double)bytes;
		while (v >= 1024 && i + 1 < ARRAY_SIZE(names)) {
			v /= 1024;
			i++;
		}
		snprintf(buf, len, "%.1f %s", v, names[i]);
		return;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)bytes, names[i]);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t zbs_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t zbs_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int zbs_replace_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;
	int e;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	if (fputs(text, f) < 0) {
		e = errno;
		fclose(f);
		goto fail;
	}
	if (fclose(f)) {
		e = errno;
		goto fail;
	}
	if (!rename(tmp, path))
		return 0;
	e = errno;
fail:
	unlink(tmp);
	errno = e;
	return -1;
}

int zbs_thread_nice(int nice)
{
	/* PRIO_PROCESS with a thread id: that thread (the "process" of
	 * setpriority is the kernel's task) */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) < 0)
		return -errno;
	return 0;
}
