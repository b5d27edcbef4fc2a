// SPDX-License-Identifier: GPL-2.0
/* zbs-metad's state: the tables together (see meta.h). */
#include <string.h>

#include "log.h"
#include "meta.h"

void meta_init(struct meta *m, const struct meta_config *cfg)
{
	memset(m, 0, sizeof(*m));
	meta_core_init(&m->core, cfg);
	meta_chunks_init(&m->chunks, &m->core);
	meta_topos_init(&m->topos, &m->core);
	meta_sessions_init(&m->sessions, &m->core);
	meta_pexts_init(&m->pexts, &m->core, &m->chunks, &m->sessions);
	meta_volumes_init(&m->vols, &m->core);
}

void meta_free(struct meta *m)
{
	meta_volumes_free(&m->vols);
	meta_pexts_free(&m->pexts);
	meta_sessions_free(&m->sessions);
	meta_topos_free(&m->topos);
	memset(m, 0, sizeof(*m));
}

void meta_set_clock(struct meta *m, uint64_t now_ns, uint64_t wall_ns)
{
	meta_core_set_clock(&m->core, now_ns, wall_ns);
}

int meta_load(struct meta *m, struct meta_store *s)
{
	char err[256];

	m->core.store = s;
	if (meta_store_read_begin(s, err, sizeof(err)))
		goto fail;
	/* in this order: pextents charge chunks, vtable rows point at both */
	if (meta_core_load_counters(&m->core, err, sizeof(err)) ||
	    meta_chunks_load(&m->chunks, err, sizeof(err)) ||
	    meta_topos_load(&m->topos, err, sizeof(err)) ||
	    meta_volumes_load(&m->vols, err, sizeof(err)) ||
	    meta_pexts_load(&m->pexts, err, sizeof(err)) ||
	    meta_volumes_load_vtable(&m->vols, &m->pexts, err, sizeof(err)) ||
	    meta_sessions_load(&m->sessions, err, sizeof(err))) {
		meta_store_read_end(s);
		goto fail;
	}
	meta_store_read_end(s);
	/* what the rows imply, written back: sessions reused or dropped,
	 * chunks without their session, owners onto their sessions' lists */
	meta_sessions_reuse(&m->sessions, &m->chunks);
	meta_volumes_load_orphans(&m->vols, &m->pexts);
	meta_pexts_link_owners(&m->pexts);
	meta_store_commit(s);
	log_info("store loaded: %u chunk(s), %u volume(s), %llu pextent(s), %u session(s)",
		 m->core.next_cid ? (unsigned)m->core.next_cid - 1 : 0, m->vols.n,
		 (unsigned long long)m->pexts.live, m->sessions.n);
	return 0;
fail:
	m->core.store = NULL;
	log_err("store: %s; refusing to start", err);
	return -1;
}
