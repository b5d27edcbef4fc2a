/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Recovery pacing that backs off on client latency (AIMD). A pure
 * controller: it reads no clock (the caller passes now) and takes the
 * chunk's client IO latency from a callback (NULL: no latency known, the
 * allowed rate is meta's budget).
 *
 * The rule, decided once per interval while recovery copies:
 *   - the ceiling is meta's budget (KeepAliveResponse.recover_bps); when
 *     that is 0 (unlimited), cfg.max_bps, and when that is 0 too there is
 *     none;
 *   - slow start: with no ceiling, a copy that starts (the first tick
 *     after 2 idle intervals) while clients do IO starts at
 *     RECOVER_PACE_START_BPS and doubles every interval the clients do
 *     not suffer, until the first cut or until the limit does not bind
 *     (unlimited). A copy that starts at full speed lands its first
 *     hundreds of MiB on the clients before the latency window shows it;
 *     without client IO there is nothing to protect: unlimited, and when
 *     clients arrive while it runs unlimited, slow start from their
 *     first IO (recover_pace_client_io; the next decision if the caller
 *     does not call it; a congested first sample cuts from
 *     RECOVER_PACE_START_BPS, not from the full speed the copy ran at);
 *   - congested: the windowed client latency is above
 *     k_permille/1000 x the baseline, or above abs_ns (when set);
 *   - congested: rate = max(floor, rate x cut_permille/1000), where an
 *     unlimited rate is first replaced by the copy rate measured over the
 *     last interval; then no other cut for one interval (the latency
 *     window lags the change);
 *   - not congested (or no client IO, latency 0): rate += step_bps (x2
 *     in slow start), up to the ceiling; with none, back to unlimited
 *     once the limit does not bind: the rate is at least
 *     RECOVER_PACE_UNBOUND_BPS and above 2x the copy rate seen (a low
 *     limit that a bursty copy does not fill is no sign that the copy
 *     would be harmless without it);
 *   - the baseline is the client latency without recovery: the first
 *     sample after recovery was idle for 2 intervals (the window still saw
 *     no copy) and any lower sample (it falls to the minimum at once);
 *     recover_pace_idle() samples, taken while no copy runs, move it 1/8
 *     of the way either way (the gate feeds one per window: the baseline
 *     follows the clients' load while recovery sleeps); with none of
 *     these yet (a source that needs two calls for a window), the first
 *     sample. While the rate sits at the floor recovery is too small to
 *     matter, so the baseline follows the latency (EWMA 1/16): a lasting
 *     change of the client load is not taken for recovery's fault
 *     forever.
 * Not thread-safe: the caller serialises (chunk_recover: its tb_lock).
 */
#ifndef ZBS_CHUNKD_RECOVER_PACE_H
#define ZBS_CHUNKD_RECOVER_PACE_H

#include <stdbool.h>
#include <stdint.h>

#define RECOVER_PACE_FLOOR_BPS		(4ULL << 20)	/* 16 blocks of 256 KiB/s */
#define RECOVER_PACE_STEP_BPS		(8ULL << 20)	/* per interval */
#define RECOVER_PACE_CUT_PERMILLE	500
#define RECOVER_PACE_K_PERMILLE		1500
#define RECOVER_PACE_INTERVAL_NS	250000000ULL
#define RECOVER_PACE_START_BPS		(16ULL << 20)	/* slow start */
#define RECOVER_PACE_UNBOUND_BPS	(64ULL << 20)	/* unlimited only from here */

struct recover_pace_cfg {
	uint64_t floor_bps;	/* never below (0: RECOVER_PACE_FLOOR_BPS) */
	uint64_t max_bps;	/* ceiling when meta's budget is 0 (0: unlimited) */
	uint64_t step_bps;	/* additive increase per interval (0: default) */
	uint32_t cut_permille;	/* multiplicative decrease (0: default; < 1000) */
	uint32_t k_permille;	/* congested above k x baseline (0: default) */
	uint64_t abs_ns;	/* congested above this average too (0: no bound) */
	uint64_t interval_ns;	/* one decision per interval (0: default) */
};

/* The chunk's windowed client IO latency at now_ns (an average or a
 * quantile: the gate passes the p95); 0: no IO. */
typedef uint64_t (*recover_pace_latency_fn)(void *arg, uint64_t now_ns);

struct recover_pace {
	struct recover_pace_cfg cfg;
	recover_pace_latency_fn latency;
	void *latency_arg;
	uint64_t ceiling;	/* meta's budget, 0 = unlimited */
	uint64_t rate;		/* allowed now, 0 = unlimited */
	uint64_t baseline_ns;	/* 0 = not known yet */
	uint64_t last_ns;	/* last decision (0: none yet) */
	uint64_t last_tick_ns;	/* last call of tick (idle detection) */
	uint64_t bytes;		/* copied since the last decision */
	uint64_t hold_until_ns;	/* no cut before (after a cut) */
	uint64_t last_lat_ns;	/* the last latency sample */
	bool slow;		/* in slow start */
	bool no_clients;	/* the last sample saw no client IO */
	uint64_t cuts, raises;	/* counters, for logs and tests */
};

/* cfg NULL: the defaults. latency NULL: rate = the ceiling. */
void recover_pace_init(struct recover_pace *p, const struct recover_pace_cfg *cfg,
		       recover_pace_latency_fn latency, void *latency_arg);
/* Meta's budget (bytes/s, 0 = unlimited); takes effect at once. */
void recover_pace_set_ceiling(struct recover_pace *p, uint64_t bps);
/* A latency sample taken while no recovery runs (feeds the baseline). */
void recover_pace_idle(struct recover_pace *p, uint64_t lat_ns);
/*
 * A client IO completed at now_ns. When the copy runs unlimited because
 * its last sample saw no client IO (it ticked within 2 intervals), the
 * clients have arrived: slow start from RECOVER_PACE_START_BPS at once and
 * a new interval, true (the caller restarts its pacing from now). Without
 * this, the copy went on unlimited until its next decision, up to an
 * interval later, and the clients' first quarter second queued behind it.
 * false otherwise (nothing changes).
 */
bool recover_pace_client_io(struct recover_pace *p, uint64_t now_ns);
/*
 * `bytes` are about to be copied at now_ns: returns the allowed rate in
 * bytes/s (0 = unlimited). Calls the latency callback at most once per
 * interval.
 */
uint64_t recover_pace_tick(struct recover_pace *p, uint64_t now_ns, uint64_t bytes);

#endif
