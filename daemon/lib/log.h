/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Logging for daemons and tools: one line per message, to stderr, with a
 * timestamp, the program name and a level. Errors are logged once, where
 * they are handled.
 */
#ifndef ZBS_LOG_H
#define ZBS_LOG_H

enum zbs_log_level { ZBS_LOG_ERR, ZBS_LOG_WARN, ZBS_LOG_INFO, ZBS_LOG_DEBUG };

void zbs_log_init(const char *progname, enum zbs_log_level level);
void zbs_log_set_level(enum zbs_log_level level);
/* Would a message of this level be printed? (skip costly arguments) */
int zbs_log_enabled(enum zbs_log_level level);
/* Parse "err", "warn", "info", "debug"; returns -1 when unknown. */
int zbs_log_parse_level(const char *s);
void zbs_log(enum zbs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	zbs_log(ZBS_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	zbs_log(ZBS_LOG_WARN, __VA_ARGS__)
#define log_info(...)	zbs_log(ZBS_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	zbs_log(ZBS_LOG_DEBUG, __VA_ARGS__)

#endif
