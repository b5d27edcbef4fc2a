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

/* data report of s's chunk: update alive slots; queue GC deletes for dead pids */
void meta_data_report(struct meta *m, struct meta_session *s,
		      const struct meta_replica_report *reps, size_t n);
/*
 * Idle owner release and alive_location grace over the next `budget`
 * pextents (a slice: the scan resumes where the last one stopped and wraps
 * around); returns owners released.
 */
uint32_t meta_scan_pextents(struct meta *m, uint64_t budget);

#endif
