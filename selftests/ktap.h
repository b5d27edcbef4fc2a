/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal KTAP output for ZBS selftest programs. */
#ifndef ZBS_KTAP_H
#define ZBS_KTAP_H

#include <stdarg.h>
#include <stdio.h>

static int ktap_n, ktap_fails;

static inline void ktap_plan(int n)
{
	printf("KTAP version 1\n1..%d\n", n);
	fflush(stdout);
}

static inline __attribute__((format(printf, 2, 3)))
void ktap_result(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++ktap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		ktap_fails++;
}

static inline int ktap_finish(void)
{
	printf("# totals: pass:%d fail:%d\n", ktap_n - ktap_fails, ktap_fails);
	return ktap_fails ? 1 : 0;
}

#endif
