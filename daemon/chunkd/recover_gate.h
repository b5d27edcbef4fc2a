/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The chunk's own brake on the recovery IO it serves: each chunk protects
 * its clients, whoever runs the copy.
 *
 * A recovery copy reaches a chunk as READ with ZBS_DF_RECOVERY (it is the
 * source) or RECOVER_WRITE (it is the destination). The data server asks
 * the gate before it serves one (recover_gate_delay) and holds that
 * request back as long as the answer says, on that connection alone: the
 * executor's connections are its own, so only the copy waits and a client
 * connection never does, and the connection keeps answering the copy's
 * earlier requests meanwhile (chunk_server.c, pace()). The client IO of
 * the chunk (READ, WRITE, WRITE_ZEROES of clients) is fed in as it
 * completes (recover_gate_client).
 *
 * The rate: recover_pace.h (AIMD) on the 95th percentile latency of the
 * client IO over the last RECOVER_GATE_WINDOW_NS (RECOVER_GATE_QUANTILE),
 * decided every interval (the same length: a decision sees the IO since
 * the one before). The tail, not the average: a copy hurts clients by the
 * few requests that queue behind its IO (a journal commit, a socket
 * buffer), and their p99 is what they see, while a mean over thousands of
 * fast requests hardly moves. Unlimited while clients do not suffer (or
 * there is no client IO), halved while their latency is above 1.5x the
 * baseline, never below the floor (4 MiB/s). Meta's budget
 * (`zbsctl recover set --bps`) is applied by the executor, not here.
 *
 * The wait of one request is bounded by RECOVER_GATE_MAX_WAIT_NS: many
 * copies may queue here at once (up to 32 cmds x 2 connection pairs x 8
 * segments in flight, from several executors). Under that many the rate
 * is above the pace (each of them waits the bound): recovery must still
 * end. A connection answers a request at least every bound (its later
 * requests wait after it, not before), well inside the executor's 9 s.
 *
 * recover_gate_delay reads no clock: the caller passes now (tests pass
 * their own). Thread-safe (one mutex).
 */
#ifndef ZBS_CHUNKD_RECOVER_GATE_H
#define ZBS_CHUNKD_RECOVER_GATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chunk_iostat.h"
#include "recover_pace.h"

#define RECOVER_GATE_WINDOW_NS		RECOVER_PACE_INTERVAL_NS /* client latency */
#define RECOVER_GATE_MAX_WAIT_NS	2000000000ULL	/* per request */
#define RECOVER_GATE_QUANTILE		950	/* permille: the clients' p95 */

struct recover_gate {
	pthread_mutex_t lock;
	atomic_bool on;
	struct chunk_iostat client;	/* client IO latency, RECOVER_GATE_WINDOW_NS */
	struct recover_pace pace;
	uint64_t next_ns;		/* when the next recovery byte may go */
	uint64_t cuts_logged, rate_logged;
	uint64_t last_now_ns;		/* now never goes back (threads race to the lock) */
	uint64_t waited_ns;		/* total imposed (stats, tests) */
	_Atomic uint64_t idle_fed_ns;	/* last baseline sample while idle */
	atomic_bool open;		/* unlimited for want of client IO */
};

/* on false: recover_gate_delay is always 0 (zbs-chunkd --no-recover-pace).
 * cfg NULL: recover_pace's defaults. */
void recover_gate_init(struct recover_gate *g, bool on, const struct recover_pace_cfg *cfg);
void recover_gate_destroy(struct recover_gate *g);
/* A client IO completed at now_ns after lat_ns. When a copy runs unlimited
 * because there was no client IO, this one ends that at once (slow start,
 * recover_pace_client_io): the copy's next request waits its turn at
 * RECOVER_PACE_START_BPS. While no copy has come
 * for 2 intervals, once a window (with at least
 * RECOVER_GATE_IDLE_MIN_SAMPLES client IOs in it) the window's p95 is a
 * baseline sample (recover_pace_idle): the baseline follows the clients'
 * load while recovery sleeps, so a copy that starts after the load grew is
 * not blamed for it. */
#define RECOVER_GATE_IDLE_MIN_SAMPLES	16
void recover_gate_client(struct recover_gate *g, uint64_t now_ns, uint64_t lat_ns);
/* `bytes` of recovery IO arrive at now_ns: how long to wait before serving
 * them (ns, at most RECOVER_GATE_MAX_WAIT_NS). Logs each cut of the rate. */
uint64_t recover_gate_delay(struct recover_gate *g, uint64_t now_ns, uint64_t bytes);
/* Turn the brake on or off (any time). */
void recover_gate_set(struct recover_gate *g, bool on);
/* The rate allowed now (bytes/s, 0 = unlimited) and the cuts so far. */
void recover_gate_stat(struct recover_gate *g, uint64_t *rate, uint64_t *cuts);

/*
 * The calling thread carries recovery IO from now on (a connection serving
 * a copy's reads, the executor's copy threads): it yields the CPU to the
 * client IO threads, nice RECOVER_GATE_NICE. Copying is CPU work too
 * (socket and buffer copies); on a busy machine a copy at a modest rate
 * still delays client requests by whole scheduler slices. Not for a thread
 * that holds locks client IO waits for (the destination's RECOVER_WRITEs,
 * chunk_server.c): a niced holder makes the clients wait longer. For good:
 * a thread does not get its priority back. 0 or -errno (logged once).
 */
#define RECOVER_GATE_NICE	10
int recover_gate_nice_thread(void);

#endif
