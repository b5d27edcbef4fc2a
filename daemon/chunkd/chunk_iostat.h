/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IO latency statistics of the chunk: a windowed average and quantiles of
 * latencies, and the failslow judge built on the average (SPEC 4.7 "slow
 * disk II": average latency at or above a threshold, 2 s by default).
 *
 * chunk_iostat: the average latency of the samples added over the last
 * window (e.g. 10 s). The window is cut into CHUNK_IOSTAT_BUCKETS buckets
 * of window / CHUNK_IOSTAT_BUCKETS each; a sample lands in the bucket of its
 * time, and "the last window" is the bucket of `now` and the ones before it
 * up to CHUNK_IOSTAT_BUCKETS in all: a sample counts for between
 * (BUCKETS - 1) / BUCKETS of a window and a whole window after it was
 * added. Each bucket also keeps a histogram of its samples in
 * CHUNK_IOSTAT_SLOTS log-spaced slots (4 per power of two of microseconds,
 * from 1 us to 16 s; a slot is at most 25% of its lower bound wide), so a quantile of the
 * window (chunk_iostat_quantile_ns) is known within a slot: the recovery
 * gate watches the clients' tail, which an average hides (a few requests
 * stalled behind a copy barely move the mean of thousands). Times are any
 * monotonic clock in ns (the caller's; tests pass
 * their own). Every function is thread-safe (one mutex, held for a few
 * additions); adding costs no allocation. It knows nothing of what the
 * samples are: the data server feeds it the foreground (client) replica
 * IO, a recovery throttle may feed it its own.
 *
 * chunk_failslow: the chunk's failslow state from an iostat, judged when
 * asked (the meta session asks before each keepalive). Hysteresis, so the
 * flag does not flap around the threshold:
 *  - it turns on when the window holds at least CHUNK_FAILSLOW_MIN_SAMPLES
 *    samples and their average is >= the threshold (a single slow IO is
 *    not a slow disk);
 *  - it turns off only when it has been on for at least a whole window,
 *    the window holds at least CHUNK_FAILSLOW_MIN_SAMPLES samples and their
 *    average is below half the threshold;
 *  - a window without enough samples changes nothing (an idle disk tells
 *    nothing), except that after CHUNK_FAILSLOW_IDLE_WINDOWS windows with
 *    no sample at all the flag turns off: meta steers new data away from a
 *    failslow chunk, and a chunk nobody uses any more must get a chance to
 *    show it is well again (if it is not, the first IO puts it back).
 */
#ifndef ZBS_CHUNKD_CHUNK_IOSTAT_H
#define ZBS_CHUNKD_CHUNK_IOSTAT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CHUNK_IOSTAT_BUCKETS		10
#define CHUNK_IOSTAT_WINDOW_NS		(10ULL * 1000000000ULL)	/* the default window */
/* slots 0-3: 0-3 us; then 4 per octave up to 2^24 us; the last: above */
#define CHUNK_IOSTAT_SLOTS		93

struct chunk_iostat {
	pthread_mutex_t lock;
	uint64_t bucket_ns;		/* window / CHUNK_IOSTAT_BUCKETS */
	uint64_t last_ns;		/* time of the newest sample (0: none yet) */
	struct {
		uint64_t idx;		/* now_ns / bucket_ns of its samples */
		uint64_t n, sum_ns;
		uint32_t hist[CHUNK_IOSTAT_SLOTS];
	} b[CHUNK_IOSTAT_BUCKETS];
};

/* window_ns 0: CHUNK_IOSTAT_WINDOW_NS (at least CHUNK_IOSTAT_BUCKETS ns) */
void chunk_iostat_init(struct chunk_iostat *s, uint64_t window_ns);
void chunk_iostat_destroy(struct chunk_iostat *s);
uint64_t chunk_iostat_window_ns(const struct chunk_iostat *s);
/* one sample: an IO that took lat_ns, completed at now_ns */
void chunk_iostat_add(struct chunk_iostat *s, uint64_t now_ns, uint64_t lat_ns);
/* the average of the samples of the last window, ns (0 when there is none) */
uint64_t chunk_iostat_avg_ns(struct chunk_iostat *s, uint64_t now_ns);
/* both at once: the average and the number of samples of the last window */
void chunk_iostat_read(struct chunk_iostat *s, uint64_t now_ns, uint64_t *avg_ns, uint64_t *n);
/*
 * The q_permille/1000 quantile of the samples of the last window, ns (0
 * when there is none): the middle of the histogram slot that holds it, so
 * within half a slot (12.5%) of the true one. q_permille 1000: the slot of
 * the largest sample.
 */
uint64_t chunk_iostat_quantile_ns(struct chunk_iostat *s, uint64_t now_ns, unsigned q_permille);
/* the same, and the number of samples it is of into *n */
uint64_t chunk_iostat_quantile_n(struct chunk_iostat *s, uint64_t now_ns, unsigned q_permille,
				 uint64_t *n);
/* The slot of a latency and the range [lo, hi) of a slot, ns (pure; tests) */
unsigned chunk_iostat_slot(uint64_t lat_ns);
void chunk_iostat_slot_range(unsigned slot, uint64_t *lo_ns, uint64_t *hi_ns);
/* time of the newest sample ever added (0: none) */
uint64_t chunk_iostat_last_ns(struct chunk_iostat *s);

#define CHUNK_FAILSLOW_MIN_SAMPLES	3
#define CHUNK_FAILSLOW_IDLE_WINDOWS	6
#define CHUNK_FAILSLOW_DEFAULT_MS	2000	/* SPEC 4.7: avg latency >= 2 s */

struct chunk_failslow {
	uint64_t threshold_ns;		/* on at >= this, off below half of it */
	bool on;
	uint64_t since_ns;		/* when it last changed (0: never) */
};

/* threshold_ns 0: CHUNK_FAILSLOW_DEFAULT_MS */
void chunk_failslow_init(struct chunk_failslow *f, uint64_t threshold_ns);
/*
 * Judge s at now_ns by the rules above: the state (f->on), and *changed
 * (may be NULL) true when this call turned it on or off. *avg_ns (may be
 * NULL) gets the window's average for the log. Not thread-safe: one
 * caller (the meta session's thread) owns f.
 */
bool chunk_failslow_judge(struct chunk_failslow *f, struct chunk_iostat *s, uint64_t now_ns,
			  bool *changed, uint64_t *avg_ns);

#endif
