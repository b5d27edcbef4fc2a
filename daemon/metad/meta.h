/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zbs-metad's state: the core and the tables, loaded together. The layers,
 * each using only those before it:
 *
 *   store                          records and transactions (store.c)
 *   core                           constants, errors, clock, id counters
 *   chunk, topo, session,          tables: each owns its struct, its
 *   pextent, volume                indices and its invariants
 *   meta                           the tables together, init and load
 *   placement, recovery            policy: pure functions over plain structs
 *   owner, provision, agile,       operations over the tables
 *   scheduler, balance, chunk_admin,
 *   lease, report, keepalive
 *   handlers, server, main         RPC
 */
#ifndef ZBS_META_H
#define ZBS_META_H

#include "chunk.h"
#include "core.h"
#include "pextent.h"
#include "session.h"
#include "topo.h"
#include "volume.h"

struct meta_sched;	/* scheduler.h: above the tables, made after the load */

struct meta {
	struct meta_core core;
	struct meta_chunks chunks;
	struct meta_topos topos;
	struct meta_sessions sessions;
	struct meta_pexts pexts;
	struct meta_volumes vols;
	struct meta_sched *sched;	/* the recovery scheduler, NULL = none */
	struct meta_agile_pid *agile;	/* agile.h: replicas dropped, by pid
					 * (only with a scheduler: freed by it) */
	struct meta_balance *balance;	/* rebalance's moves for it, NULL = none */
};

void meta_init(struct meta *m, const struct meta_config *cfg);
void meta_free(struct meta *m);
void meta_set_clock(struct meta *m, uint64_t now_ns, uint64_t wall_ns);
static inline uint32_t meta_now_s(const struct meta *m)
{
	return meta_core_now_s(&m->core);
}
/* read everything from store s, which m then writes to; 0 or -1 (logged) */
int meta_load(struct meta *m, struct meta_store *s);

#endif
