// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_prog = "zbs";
static enum zbs_log_level log_level = ZBS_LOG_INFO;
static const char *const level_names[] = { "err", "warn", "info", "debug" };

void zbs_log_init(const char *progname, enum zbs_log_level level)
{
	log_prog = progname;
	log_level = level;
}

void zbs_log_set_level(enum zbs_log_level level)
{
	log_level = level;
}

int zbs_log_enabled(enum zbs_log_level level)
{
	return level <= log_level;
}

int zbs_log_parse_level(const char *s)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void zbs_log(enum zbs_log_level level, const char *fmt, ...)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_prog,
		level_names[level], buf);
}
