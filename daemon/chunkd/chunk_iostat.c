// SPDX-License-Identifier: GPL-2.0
/* IO latency statistics and the failslow judge (see chunk_iostat.h). */
#include <string.h>

#include "chunk_iostat.h"

void chunk_iostat_init(struct chunk_iostat *s, uint64_t window_ns)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	if (!window_ns)
		window_ns = CHUNK_IOSTAT_WINDOW_NS;
	s->bucket_ns = window_ns / CHUNK_IOSTAT_BUCKETS;
	if (!s->bucket_ns)
		s->bucket_ns = 1;
}

void chunk_iostat_destroy(struct chunk_iostat *s)
{
	pthread_mutex_destroy(&s->lock);
}

uint64_t chunk_iostat_window_ns(const struct chunk_iostat *s)
{
	return s->bucket_ns * CHUNK_IOSTAT_BUCKETS;
}

unsigned chunk_iostat_slot(uint64_t lat_ns)
{
	uint64_t us = lat_ns / 1000;
	unsigned e;

	if (us < 4)
		return us;
	e = 63 - __builtin_clzll(us);		/* 2^e <= us < 2^(e+1) */
	if (e >= 24)
		return CHUNK_IOSTAT_SLOTS - 1;
	return 4 + (e - 2) * 4 + ((us >> (e - 2)) & 3);
}

void chunk_iostat_slot_range(unsigned slot, uint64_t *lo_ns, uint64_t *hi_ns)
{
	uint64_t lo, hi;

	if (slot < 4) {
		lo = slot;
		hi = slot + 1;
	} else if (slot >= CHUNK_IOSTAT_SLOTS - 1) {
		lo = 1ULL << 24;
		hi = UINT64_MAX / 1000;
	} else {
		unsigned e = 2 + (slot - 4) / 4, sub = (slot - 4) % 4;

		lo = (uint64_t)(4 + sub) << (e - 2);
		hi = (uint64_t)(5 + sub) << (e - 2);
	}
	*lo_ns = lo * 1000;
	*hi_ns = hi * 1000;
}

void chunk_iostat_add(struct chunk_iostat *s, uint64_t now_ns, uint64_t lat_ns)
{
	uint64_t idx = now_ns / s->bucket_ns;
	typeof(s->b[0]) *b = &s->b[idx % CHUNK_IOSTAT_BUCKETS];

	pthread_mutex_lock(&s->lock);
	if (b->idx != idx) {		/* a bucket of an older window: reuse it */
		b->idx = idx;
		b->n = 0;
		b->sum_ns = 0;
		memset(b->hist, 0, sizeof(b->hist));
	}
	b->n++;
	b->sum_ns += lat_ns;
	b->hist[chunk_iostat_slot(lat_ns)]++;
	if (now_ns > s->last_ns)
		s->last_ns = now_ns;
	pthread_mutex_unlock(&s->lock);
}

/* bucket i holds samples of the last window at now_ns (lock held) */
static bool in_window(const struct chunk_iostat *s, int i, uint64_t now_ns)
{
	uint64_t idx = now_ns / s->bucket_ns;

	/* buckets idx - BUCKETS + 1 .. idx (a sample stamped later than now,
	 * from a clock read just after ours, counts too) */
	return s->b[i].n && s->b[i].idx + CHUNK_IOSTAT_BUCKETS > idx && s->b[i].idx <= idx + 1;
}

void chunk_iostat_read(struct chunk_iostat *s, uint64_t now_ns, uint64_t *avg_ns, uint64_t *n)
{
	uint64_t cnt = 0, sum = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < CHUNK_IOSTAT_BUCKETS; i++) {
		if (in_window(s, i, now_ns)) {
			cnt += s->b[i].n;
			sum += s->b[i].sum_ns;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (avg_ns)
		*avg_ns = cnt ? sum / cnt : 0;
	if (n)
		*n = cnt;
}

uint64_t chunk_iostat_avg_ns(struct chunk_iostat *s, uint64_t now_ns)
{
	uint64_t avg;

	chunk_iostat_read(s, now_ns, &avg, NULL);
	return avg;
}

uint64_t chunk_iostat_quantile_ns(struct chunk_iostat *s, uint64_t now_ns, unsigned q_permille)
{
	uint64_t n;

	return chunk_iostat_quantile_n(s, now_ns, q_permille, &n);
}

uint64_t chunk_iostat_quantile_n(struct chunk_iostat *s, uint64_t now_ns, unsigned q_permille,
				 uint64_t *n)
{
	uint64_t hist[CHUNK_IOSTAT_SLOTS] = { 0 }, cnt = 0, want, acc = 0, lo, hi;
	unsigned slot;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < CHUNK_IOSTAT_BUCKETS; i++) {
		if (!in_window(s, i, now_ns))
			continue;
		cnt += s->b[i].n;
		for (int j = 0; j < CHUNK_IOSTAT_SLOTS; j++)
			hist[j] += s->b[i].hist[j];
	}
	pthread_mutex_unlock(&s->lock);
	*n = cnt;
	if (!cnt)
		return 0;
	if (q_permille > 1000)
		q_permille = 1000;
	/* the rank of the quantile, 1-based: ceil(q x n), at least 1 */
	want = (cnt * q_permille + 999) / 1000;
	if (!want)
		want = 1;
	for (slot = 0; slot < CHUNK_IOSTAT_SLOTS - 1; slot++) {
		acc += hist[slot];
		if (acc >= want)
			break;
	}
	chunk_iostat_slot_range(slot, &lo, &hi);
	if (slot == CHUNK_IOSTAT_SLOTS - 1)
		return lo;
	return lo + (hi - lo) / 2;
}

uint64_t chunk_iostat_last_ns(struct chunk_iostat *s)
{
	uint64_t t;

	pthread_mutex_lock(&s->lock);
	t = s->last_ns;
	pthread_mutex_unlock(&s->lock);
	return t;
}

void chunk_failslow_init(struct chunk_failslow *f, uint64_t threshold_ns)
{
	memset(f, 0, sizeof(*f));
	f->threshold_ns = threshold_ns ? threshold_ns : CHUNK_FAILSLOW_DEFAULT_MS * 1000000ULL;
}

bool chunk_failslow_judge(struct chunk_failslow *f, struct chunk_iostat *s, uint64_t now_ns,
			  bool *changed, uint64_t *avg_ns)
{
	uint64_t avg, n, window = chunk_iostat_window_ns(s), last = chunk_iostat_last_ns(s);
	bool was = f->on;

	chunk_iostat_read(s, now_ns, &avg, &n);
	if (avg_ns)
		*avg_ns = avg;
	if (!f->on) {
		if (n >= CHUNK_FAILSLOW_MIN_SAMPLES && avg >= f->threshold_ns)
			f->on = true;
	} else if (now_ns >= f->since_ns + window) {
		if (n >= CHUNK_FAILSLOW_MIN_SAMPLES && avg < f->threshold_ns / 2)
			f->on = false;		/* well again */
		else if (!n && now_ns >= last + CHUNK_FAILSLOW_IDLE_WINDOWS * window)
			f->on = false;		/* idle for long: let it show */
	}
	if (f->on != was)
		f->since_ns = now_ns;
	if (changed)
		*changed = f->on != was;
	return f->on;
}
