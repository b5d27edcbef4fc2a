/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Chunk sessions as operations: creating one (ending the chunk's old one),
 * keepalives (space and data reports), leaving, expiry, and the server's
 * periodic tick. Ending a session releases its leases.
 */
#ifndef ZBS_META_KEEPALIVE_H
#define ZBS_META_KEEPALIVE_H

#include "meta.h"
#include "report.h"

int meta_session_create(struct meta *m, uint32_t cid, const char *uuid,
			uint64_t caps, struct meta_session **out, struct merr *e);
/* A keepalive's content (KeepAliveRequest). */
struct meta_keepalive_in {
	const struct meta_space *space;		/* NULL: no space report */
	const struct meta_report *report;	/* NULL: no data report */
	uint64_t caps;
	bool failslow;				/* the chunk says its disk is slow */
	bool failslow_unknown;			/* ... or says nothing of it: the
						 * flag stays as it was */
};
int meta_keepalive_in(struct meta *m, uint64_t sid, const struct meta_keepalive_in *in,
		      struct meta_session **out, struct merr *e);
/* the same, failslow unknown (the flag stays); report may be NULL (no data
 * report in this keepalive) */
int meta_keepalive(struct meta *m, uint64_t sid, const struct meta_space *space,
		   const struct meta_report *report, uint64_t caps, struct meta_session **out,
		   struct merr *e);
int meta_session_leave(struct meta *m, uint64_t sid, struct merr *e);
/* write what keepalives changed (the tick does, once per interval) */
void meta_flush_keepalives(struct meta *m);
/* Expire sessions past their lease; returns how many expired. */
int meta_expire_sessions(struct meta *m);
/*
 * The server's periodic work, due every tick_ns: give sessions back the time
 * the loop was away (see keepalive.c), expire sessions, scan a slice of
 * pextents, the recovery scheduler's work. Returns the sessions expired.
 */
int meta_tick(struct meta *m, uint64_t tick_ns);
/* an ended session releasing more leases than this does it in slices */
#define META_RELEASE_SLICE 8192
/* write back up to budget lease releases of ended sessions; returns how many */
uint32_t meta_reap_sessions(struct meta *m, uint32_t budget);
uint64_t meta_cluster_caps(struct meta *m);

#endif
