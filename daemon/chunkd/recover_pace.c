// SPDX-License-Identifier: GPL-2.0
/* Recovery pacing that backs off on client latency: see recover_pace.h. */
#include <string.h>

#include "recover_pace.h"

void recover_pace_init(struct recover_pace *p, const struct recover_pace_cfg *cfg,
		       recover_pace_latency_fn latency, void *latency_arg)
{
	memset(p, 0, sizeof(*p));
	if (cfg)
		p->cfg = *cfg;
	if (!p->cfg.floor_bps)
		p->cfg.floor_bps = RECOVER_PACE_FLOOR_BPS;
	if (!p->cfg.step_bps)
		p->cfg.step_bps = RECOVER_PACE_STEP_BPS;
	if (!p->cfg.cut_permille || p->cfg.cut_permille >= 1000)
		p->cfg.cut_permille = RECOVER_PACE_CUT_PERMILLE;
	if (!p->cfg.k_permille)
		p->cfg.k_permille = RECOVER_PACE_K_PERMILLE;
	if (!p->cfg.interval_ns)
		p->cfg.interval_ns = RECOVER_PACE_INTERVAL_NS;
	p->latency = latency;
	p->latency_arg = latency_arg;
	p->rate = p->cfg.max_bps;
}

/* The highest rate AIMD grows to; 0: none. */
static uint64_t cap(const struct recover_pace *p)
{
	return p->ceiling ? p->ceiling : p->cfg.max_bps;
}

static uint64_t floor_bps(const struct recover_pace *p)
{
	uint64_t c = cap(p);

	return c && c < p->cfg.floor_bps ? c : p->cfg.floor_bps;
}

void recover_pace_set_ceiling(struct recover_pace *p, uint64_t bps)
{
	uint64_t old = cap(p);

	if (bps == p->ceiling)
		return;
	p->ceiling = bps;
	/* not cut (at the old ceiling), or above the new one: the new one */
	if (p->rate == old || (cap(p) && (!p->rate || p->rate > cap(p))))
		p->rate = cap(p);
}

/* A sample of the latency without (much) recovery, weight 1/2^shift. */
static void baseline_sample(struct recover_pace *p, uint64_t lat, unsigned shift)
{
	if (!lat)
		return;
	if (!p->baseline_ns || lat < p->baseline_ns)
		p->baseline_ns = lat;
	else
		p->baseline_ns += (lat - p->baseline_ns) >> shift;
}

void recover_pace_idle(struct recover_pace *p, uint64_t lat_ns)
{
	if (!lat_ns)
		return;
	if (!p->baseline_ns)
		p->baseline_ns = lat_ns;
	else if (lat_ns < p->baseline_ns)
		p->baseline_ns -= (p->baseline_ns - lat_ns) >> 3;
	else
		p->baseline_ns += (lat_ns - p->baseline_ns) >> 3;
}

static bool congested(const struct recover_pace *p, uint64_t lat)
{
	if (!lat)
		return false;
	if (p->cfg.abs_ns && lat > p->cfg.abs_ns)
		return true;
	return p->baseline_ns && lat * 1000 > p->baseline_ns * p->cfg.k_permille;
}

static void decide(struct recover_pace *p, uint64_t now, uint64_t lat)
{
	uint64_t elapsed = now - p->last_ns, f = floor_bps(p), c = cap(p);
	uint64_t seen = elapsed ? p->bytes * 1000000000ULL / elapsed : 0;
	bool arrived = lat && p->no_clients && !c && !p->rate;

	p->last_ns = now;
	p->bytes = 0;
	p->last_lat_ns = lat;
	if (arrived) {
		/* clients arrive while the copy runs unlimited: slow start
		 * (and, if they suffer already, the cut below from it) */
		p->rate = RECOVER_PACE_START_BPS;
		p->slow = true;
	}
	p->no_clients = !lat;
	if (!p->baseline_ns)		/* none yet (the source had no window) */
		baseline_sample(p, lat, 3);
	else if (p->rate && p->rate <= f)	/* at the floor: recovery hardly matters */
		baseline_sample(p, lat, 4);
	if (congested(p, lat)) {
		uint64_t base = p->rate ? p->rate : seen;

		if (now < p->hold_until_ns)
			return;
		if (!base)
			base = f;
		p->rate = base * p->cfg.cut_permille / 1000;
		if (p->rate < f)
			p->rate = f;
		p->hold_until_ns = now + 2 * p->cfg.interval_ns;
		p->cuts++;
		p->slow = false;
		return;
	}
	if (!p->rate || arrived)
		return;			/* unlimited and fine; or slow start begins */
	p->raises++;
	if (!c && p->rate >= RECOVER_PACE_UNBOUND_BPS && p->rate > 2 * seen) {
		p->rate = 0;		/* the limit does not bind: none */
		p->slow = false;
		return;
	}
	if (p->slow)
		p->rate *= 2;
	else
		p->rate += p->cfg.step_bps;
	if (c && p->rate > c)
		p->rate = c;
}

bool recover_pace_client_io(struct recover_pace *p, uint64_t now_ns)
{
	if (!p->latency || !p->no_clients || p->rate || cap(p) || !p->last_tick_ns ||
	    now_ns < p->last_tick_ns || now_ns - p->last_tick_ns >= 2 * p->cfg.interval_ns)
		return false;
	p->rate = RECOVER_PACE_START_BPS;
	p->slow = true;
	p->no_clients = false;
	p->last_ns = now_ns;
	p->bytes = 0;
	return true;
}

uint64_t recover_pace_tick(struct recover_pace *p, uint64_t now_ns, uint64_t bytes)
{
	bool idle = !p->last_tick_ns || now_ns - p->last_tick_ns >= 2 * p->cfg.interval_ns;

	if (!p->latency) {
		p->rate = p->ceiling;
		return p->rate;
	}
	p->last_tick_ns = now_ns;
	if (idle) {
		/* the latency window saw no copy yet: the baseline; a new
		 * interval starts */
		uint64_t lat = p->latency(p->latency_arg, now_ns);

		p->last_lat_ns = lat;
		baseline_sample(p, lat, 3);
		if (!cap(p)) {		/* clients: slow start; none: unlimited */
			p->rate = lat ? RECOVER_PACE_START_BPS : 0;
			p->slow = lat;
		}
		p->no_clients = !lat;
		p->last_ns = now_ns;
		p->bytes = bytes;
		return p->rate;
	}
	if (now_ns - p->last_ns >= p->cfg.interval_ns)
		decide(p, now_ns, p->latency(p->latency_arg, now_ns));
	p->bytes += bytes;
	return p->rate;
}
