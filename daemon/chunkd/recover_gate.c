// SPDX-License-Identifier: GPL-2.0
/* The chunk's brake on the recovery IO it serves: see recover_gate.h. */
#include <string.h>

#include "log.h"
#include "recover_gate.h"
#include "util.h"

static uint64_t client_lat(void *arg, uint64_t now_ns)
{
	return chunk_iostat_quantile_ns(arg, now_ns, RECOVER_GATE_QUANTILE);
}

void recover_gate_init(struct recover_gate *g, bool on, const struct recover_pace_cfg *cfg)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	atomic_init(&g->on, on);
	chunk_iostat_init(&g->client, RECOVER_GATE_WINDOW_NS);
	recover_pace_init(&g->pace, cfg, client_lat, &g->client);
}

void recover_gate_destroy(struct recover_gate *g)
{
	chunk_iostat_destroy(&g->client);
	pthread_mutex_destroy(&g->lock);
}

void recover_gate_set(struct recover_gate *g, bool on)
{
	atomic_store(&g->on, on);
}

void recover_gate_client(struct recover_gate *g, uint64_t now_ns, uint64_t lat_ns)
{
	uint64_t n, lat, iv = g->pace.cfg.interval_ns;

	if (!atomic_load(&g->on))
		return;
	chunk_iostat_add(&g->client, now_ns, lat_ns);
	if (atomic_load(&g->open)) {	/* clients arrive at an unlimited copy */
		pthread_mutex_lock(&g->lock);
		if (now_ns < g->last_now_ns)
			now_ns = g->last_now_ns;
		g->last_now_ns = now_ns;
		if (recover_pace_client_io(&g->pace, now_ns))
			g->next_ns = now_ns;
		atomic_store(&g->open, false);
		pthread_mutex_unlock(&g->lock);
	}
	if (now_ns < atomic_load(&g->idle_fed_ns) + RECOVER_GATE_WINDOW_NS)
		return;			/* the common case: no lock */
	pthread_mutex_lock(&g->lock);
	if (now_ns >= g->idle_fed_ns + RECOVER_GATE_WINDOW_NS) {
		atomic_store(&g->idle_fed_ns, now_ns);	/* copying or not: a window on */
		lat = chunk_iostat_quantile_n(&g->client, now_ns, RECOVER_GATE_QUANTILE, &n);
		if ((!g->pace.last_tick_ns || now_ns >= g->pace.last_tick_ns + 2 * iv) &&
		    n >= RECOVER_GATE_IDLE_MIN_SAMPLES)
			recover_pace_idle(&g->pace, lat);
	}
	pthread_mutex_unlock(&g->lock);
}

uint64_t recover_gate_delay(struct recover_gate *g, uint64_t now_ns, uint64_t bytes)
{
	uint64_t bps, at, wait;

	if (!atomic_load(&g->on))
		return 0;
	pthread_mutex_lock(&g->lock);
	if (now_ns < g->last_now_ns)	/* read before another thread's, locked after */
		now_ns = g->last_now_ns;
	g->last_now_ns = now_ns;
	bps = recover_pace_tick(&g->pace, now_ns, bytes);
	if (g->pace.cuts != g->cuts_logged) {
		g->cuts_logged = g->pace.cuts;
		if (bps != g->rate_logged)	/* not once more for each cut at the floor */
			log_info("recover pace: copy rate cut to %llu KiB/s (client latency %llu "
				 "us, baseline %llu us)", (unsigned long long)bps >> 10,
				 (unsigned long long)g->pace.last_lat_ns / 1000,
				 (unsigned long long)g->pace.baseline_ns / 1000);
	}
	g->rate_logged = bps;
	atomic_store(&g->open, !bps && g->pace.no_clients);
	if (!bps) {
		g->next_ns = 0;
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	at = g->next_ns > now_ns ? g->next_ns : now_ns;
	if (at - now_ns > RECOVER_GATE_MAX_WAIT_NS)
		at = now_ns + RECOVER_GATE_MAX_WAIT_NS;	/* see the header: bounded */
	g->next_ns = at + bytes * 1000000000ULL / bps;
	wait = at - now_ns;
	g->waited_ns += wait;
	pthread_mutex_unlock(&g->lock);
	return wait;
}

void recover_gate_stat(struct recover_gate *g, uint64_t *rate, uint64_t *cuts)
{
	pthread_mutex_lock(&g->lock);
	if (rate)
		*rate = g->pace.rate;
	if (cuts)
		*cuts = g->pace.cuts;
	pthread_mutex_unlock(&g->lock);
}

int recover_gate_nice_thread(void)
{
	static atomic_bool warned;
	int rc = zbs_thread_nice(RECOVER_GATE_NICE);

	if (rc && !atomic_exchange(&warned, true))
		log_warn("recovery threads keep their CPU priority: setpriority: %s", strerror(-rc));
	return rc;
}
