// SPDX-License-Identifier: GPL-2.0
/* zbs-metad's core: errors, clock, id counters (see core.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"

int merr_set(struct merr *e, int status, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->owner_session = 0;
	e->owner_cid = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void *meta_grow(void *p, uint32_t *cap, uint32_t want, size_t elem)
{
	if (want <= *cap)
		return p;
	uint32_t n = *cap ? *cap * 2 : 8;
	while (n < want)
		n *= 2;
	p = realloc(p, n * elem);
	if (!p) {
		log_err("out of memory");
		abort();
	}
	*cap = n;
	return p;
}

void meta_core_init(struct meta_core *c, const struct meta_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->next_cid = 1;
	c->next_pid = 1;
	c->next_epoch = 1;
	c->next_session = 1;
	c->next_topo = 1;	/* the topology table takes its defaults */
}

void meta_core_set_clock(struct meta_core *c, uint64_t now_ns, uint64_t wall_ns)
{
	if (!c->start_ns)
		c->start_ns = now_ns ? now_ns : 1;
	c->now_ns = now_ns;
	c->wall_ns = wall_ns;
}

void meta_core_store_counters(struct meta_core *c)
{
	struct meta_rec r;

	if (!c->store)
		return;
	meta_rec_begin(&r, REC_COUNTERS);
	meta_rec_u64(&r, c->next_cid);
	meta_rec_u64(&r, c->next_pid);
	meta_rec_u64(&r, c->next_epoch);
	meta_rec_u64(&r, c->next_session);
	meta_rec_u64(&r, c->next_topo);
	meta_store_put(c->store, REC_COUNTERS, "counters", 8, &r);
}

int meta_core_load_counters(struct meta_core *c, char *err, size_t len)
{
	struct meta_rec_rd rd;
	int rc = meta_store_get_one(c->store, REC_COUNTERS, &rd, err, len);

	if (rc <= 0)
		return rc;
	c->next_cid = meta_rd_u64(&rd);
	c->next_pid = meta_rd_u64(&rd);
	c->next_epoch = meta_rd_u64(&rd);
	c->next_session = meta_rd_u64(&rd);
	c->next_topo = meta_rd_u64(&rd);
	return 0;
}

bool meta_valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > META_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}
