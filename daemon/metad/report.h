/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What chunks report and what meta concludes: alive locations from data
 * reports (GC deletes queued for replicas of pids that are gone), and the
 * sliced scan of the pextent table for the alive grace and idle owners.
 */
#ifndef ZBS_META_REPORT_H
#define ZBS_META_REPORT_H

#include "meta.h"

struct meta_replica_report { uint64_t pid, epoch, gen; };

/*
 * A data report: every replica of the chunk (base 0), or, with
 * CAP_REPORT_DELTA, the changes since report `base` (replicas new or
 * changed, pids removed). Its seq is what meta acknowledges; a delta on any
 * other base than the report meta applied last from the session is not
 * applied, and the acknowledgement 0 asks for a full one.
 */
struct meta_report {
	uint64_t seq, base;
	const struct meta_replica_report *reps;
	size_t n;
	const uint64_t *removed;
	size_t nremoved;
};

/* s's chunk reported: update alive slots, queue GC deletes for dead pids;
 * s->report_seq says what meta holds now */
void meta_data_report(struct meta *m, struct meta_session *s, const struct meta_report *r);
/*
 * Idle owner release and alive_location grace over the next `budget`
 * pextents (a slice: the scan resumes where the last one stopped and wraps
 * around); returns owners released.
 */
uint32_t meta_scan_pextents(struct meta *m, uint64_t budget);

#endif
