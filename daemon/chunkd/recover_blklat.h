/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A stand-in latency source for recover_pace (recover_pace_latency_fn):
 * the average completion time of the IOs of this node's zbs block devices
 * (/sys/block/zbs<N>/stat: ios completed and the time they took, summed
 * over reads and writes) between two calls, so the window is the
 * controller's interval (or the idle gap before a burst of copies: the
 * baseline without recovery). It sees the clients of this node only; the
 * chunk's own windowed latency of client replica IO (chunk_iostat) is the
 * source meant to replace it. Not thread-safe (recover_pace's caller
 * serialises).
 */
#ifndef ZBS_CHUNKD_RECOVER_BLKLAT_H
#define ZBS_CHUNKD_RECOVER_BLKLAT_H

#include <stdbool.h>
#include <stdint.h>

struct recover_blklat {
	const char *sys_block;	/* default "/sys/block" (tests point elsewhere) */
	bool primed;
	uint64_t ios, ms;	/* the sums at the last call */
};

/* Sum the ios and ms of every zbs<N> under dir; 0, or -1 (no such dir). */
int recover_blklat_read(const char *dir, uint64_t *ios, uint64_t *ms);
/* arg: a struct recover_blklat (zeroed); 0 on the first call or when no IO
 * completed since the last one. */
uint64_t recover_blklat_avg_ns(void *arg, uint64_t now_ns);

#endif
