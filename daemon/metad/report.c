// SPDX-License-Identifier: GPL-2.0
/* Data reports and the pextent scan (see report.h). */
#include "agile.h"
#include "log.h"
#include "owner.h"
#include "report.h"
#include "scheduler.h"

static uint32_t alive_with(const struct meta_pext *p, int slot)
{
	uint32_t out = 0;

	for (int i = 0; i < loc_count(p->location); i++) {
		uint32_t c = loc_get(p->location, i);
		if (i == slot || loc_contains(p->alive_location, c))
			out = loc_add(out, c);
	}
	return out;
}

/* the replica of pid on s's chunk is gone: not alive there any more */
static void removed(struct meta *m, struct meta_session *s, uint64_t pid)
{
	struct meta_pext *p = meta_pext(&m->pexts, pid);

	if (p)
		p->alive_location = loc_remove(p->alive_location, s->cid);
}

void meta_data_report(struct meta *m, struct meta_session *s, const struct meta_report *rep)
{
	uint32_t now = meta_now_s(m);
	const struct meta_replica_report *reps = rep->reps;

	if (rep->base && (rep->base != s->report_seq || !s->report_seq)) {
		log_info("[DATA REPORT] cid %u: a delta on report %llu, but meta holds %llu: "
			 "asking for a full one", s->cid, (unsigned long long)rep->base,
			 (unsigned long long)s->report_seq);
		s->report_seq = 0;
		return;
	}
	s->report_seq = rep->seq;
	s->report_delta = rep->base != 0;
	s->report_entries = rep->n + rep->nremoved;
	for (size_t i = 0; i < rep->nremoved; i++)
		removed(m, s, rep->removed[i]);
	for (size_t i = 0; i < rep->n; i++) {
		const struct meta_replica_report *r = &reps[i];
		struct meta_pext *p;
		int slot;

		if (!r->pid || r->pid >= m->core.next_pid)
			continue;	/* not one of ours: leave it alone */
		p = meta_pext(&m->pexts, r->pid);
		if (!p || r->epoch < p->epoch) {
			/* deleted pid (or an older incarnation): garbage */
			struct meta_cmd c = { .type = CMD_GC_DELETE, .pid = r->pid, .epoch = r->epoch };
			meta_session_queue(s, &c);
			log_debug("[MARK GC PIDS] %llu:%llu on cid %u", (unsigned long long)r->pid,
				  (unsigned long long)r->epoch, s->cid);
			continue;
		}
		if (r->epoch != p->epoch)
			continue;
		slot = loc_slot_of(p->location, s->cid);
		if (slot < 0) {
			/* not in location: garbage, or a dropped replica back */
			switch (meta_agile_seen(m, s->cid, r->pid, r->epoch, r->gen,
						meta_sched_has_cmd(m, r->pid))) {
			case META_AGILE_SEEN_GARBAGE: {
				struct meta_cmd c = { .type = CMD_GC_DELETE, .pid = r->pid,
						      .epoch = r->epoch };
				meta_session_queue(s, &c);
				log_info("[MARK GC PIDS] %llu:%llu on cid %u (outside its complete "
					 "location)", (unsigned long long)r->pid,
					 (unsigned long long)r->epoch, s->cid);
				break;
			}
			case META_AGILE_SEEN_BACK:
				meta_sched_wait_pid(m, r->pid, 0);
				break;
			case META_AGILE_SEEN_NOTHING:
				break;
			}
			continue;
		}
		if (r->gen < p->meta_gen) {
			log_debug("[IGNORE SMALL GEN] wrong gen: %llu expected gen: %llu pid %llu cid %u",
				  (unsigned long long)r->gen, (unsigned long long)p->meta_gen,
				  (unsigned long long)r->pid, s->cid);
			p->alive_location = loc_remove(p->alive_location, s->cid);
			continue;
		}
		p->seen_s[slot] = now;
		p->alive_location = alive_with(p, slot);
		if (r->gen >= p->gen_seen) {
			p->gen_seen = r->gen;
			p->gen_seen_s = now;
		}
	}
}

uint32_t meta_scan_pextents(struct meta *m, uint64_t budget)
{
	struct meta_pexts *t = &m->pexts;
	uint32_t now = meta_now_s(m), released = 0;
	uint32_t idle_s = m->core.cfg.idle_release_ms / 1000;
	uint32_t grace_s = m->core.cfg.alive_grace_ms / 1000;
	uint64_t pid = t->scan_cursor;

	if (!idle_s)
		idle_s = 1;
	if (!grace_s)
		grace_s = 1;
	if (budget > t->npext)
		budget = t->npext;
	/* a unit of budget per pid looked at; a page without live pextents
	 * (not there) is passed over for one unit */
	for (; budget; budget--, pid++) {
		struct meta_pext *p;

		if (pid >= t->npext || pid == 0)
			pid = 1;	/* wrap around */
		if (pid >= t->npext)
			break;
		if (!t->pages[pid >> META_PEXT_PAGE_SHIFT]) {
			pid |= META_PEXT_PAGE - 1;
			continue;
		}
		p = meta_pext(t, pid);
		if (!p)
			continue;
		if (p->owner && !(p->flags & PEXT_REVOKING) && now - p->last_access_s >= idle_s) {
			meta_pext_revoke_owner(m, pid);
			released++;
		}
		for (int i = 0; i < loc_count(p->location); i++) {
			uint32_t c = loc_get(p->location, i);
			if (loc_contains(p->alive_location, c) && now - p->seen_s[i] >= grace_s)
				p->alive_location = loc_remove(p->alive_location, c);
		}
	}
	t->scan_cursor = pid;
	return released;
}
