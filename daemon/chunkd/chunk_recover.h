/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The recover cmd executor of the lease owner's chunk (SPEC 5.3, 5.5;
 * ARCHITECTURE.md 4a "Recovery with live writes"): a queue of recover
 * cmds from meta (chunk_session.h ops.recover), run by worker threads, at
 * most `concurrency` at once, their copies sharing one bandwidth limit.
 *
 * One cmd, in this order (every data request under the cmd's lease_epoch):
 *   1. RECOVER_BEGIN on dst (creates it as a recovering replica; thick:
 *      preallocated);
 *   2. with an agent: dst becomes the pid's recovering target
 *      (chunk_agent_target_add: the kernel's maps of pid carry it, so
 *      foreground writes reach it and mark their sectors dirty there), then
 *      the pid is drained, so every write issued from now on reaches dst;
 *   3. SYNC src (no create: fences older owners, gen >= meta_gen), its
 *      block map, and for each allocated 256 KiB block READ src ->
 *      RECOVER_WRITE dst (the chunk never overwrites a dirty sector);
 *   4. finish: the target turns finishing (maps of pid answer -EAGAIN), the
 *      pid is drained again, then GET_INFO src gives the gen, RECOVER_END
 *      sets it on dst, ReplaceReplica(ok) tells meta, the target goes;
 *   5. abort (any failed request, the target aborted by a revoke or by the
 *      kernel's failure report of dst, the executor stopping): the target
 *      goes, the pid is drained (no write to dst after), ReplaceReplica
 *      (not ok, with the reason); dst stays recovering for meta's GC.
 * A cmd that makes no sense (chunk_recover_validate) ends at once not ok.
 * Every cmd id accepted ends with exactly one call of ops.done.
 */
#ifndef ZBS_CHUNKD_CHUNK_RECOVER_H
#define ZBS_CHUNKD_CHUNK_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk_session.h"

#define CHUNK_RECOVER_CONCURRENCY	32	/* default cmds at once (SPEC 5.5) */
#define CHUNK_RECOVER_MAX_CONCURRENCY	256

struct chunk_agent;

/* How a cmd ended (what ReplaceReplica carries). */
struct chunk_recover_result {
	bool ok;
	uint64_t gen;			/* dst's gen after RECOVER_END (ok) */
	uint64_t bytes_copied;
	char error[192];		/* not ok: why */
};

struct chunk_recover_ops {
	/* The end of cmd, exactly once per accepted cmd, from a worker
	 * thread. NULL: ReplaceReplica to cfg.meta_addr under cfg.session. */
	void (*done)(void *arg, const struct chunk_session_recover *cmd,
		     const struct chunk_recover_result *res);
	void *arg;
};

struct chunk_recover_config {
	unsigned concurrency;		/* default CHUNK_RECOVER_CONCURRENCY */
	/* copy bandwidth, bytes/s, 0 = unlimited (meta's budget). The chunks
	 * copied from and to also hold the copy back while their clients
	 * suffer (recover_gate.h): the copy's READs carry ZBS_DF_RECOVERY. */
	uint64_t bps;
	uint32_t io_timeout_ms;		/* connect + each data request, default 9000 */
	/* the copy's threads yield the CPU to client IO: nice
	 * RECOVER_GATE_NICE (with the chunks' recovery pacing; the
	 * connections serving a copy do the same, recover_gate.h) */
	bool nice;
	uint32_t rpc_timeout_ms;	/* ReplaceReplica, default 3000 */
	const char *meta_addr;		/* for the default done */
	struct chunk_session *session;	/* for the default done (session id) */
	struct chunk_agent *agent;	/* NULL: no kernel, no target, no drain */
};

struct chunk_recover;

struct chunk_recover *chunk_recover_start(const struct chunk_recover_config *cfg,
					  const struct chunk_recover_ops *ops);
/* Abort the running cmds and end the queued ones (not ok, "stopping"),
 * join the workers; later submits are refused (the session may still
 * call the ops). Before the agent and the session stop. NULL: no-op. */
void chunk_recover_shutdown(struct chunk_recover *r);
/* Free (shut down first if that was not done); after the session stopped. */
void chunk_recover_stop(struct chunk_recover *r);

/*
 * Queue cmd. 0; -EEXIST for an id already queued, running or recently
 * done (meta sends a cmd until it has the acknowledgement); -ESHUTDOWN,
 * -ENOMEM (logged; meta times the cmd out).
 */
int chunk_recover_submit(struct chunk_recover *r, const struct chunk_session_recover *cmd);
/* The session whose id ReplaceReplica carries (the default done), when it
 * exists only after the executor started. */
void chunk_recover_attach(struct chunk_recover *r, struct chunk_session *ms);
/* concurrency 0: the default. Takes effect for the next cmds started. */
void chunk_recover_set_limits(struct chunk_recover *r, unsigned concurrency, uint64_t bps);
/* Up to max running cmds' progress; returns how many. */
size_t chunk_recover_progress(struct chunk_recover *r, struct chunk_session_recover_progress *out,
			      size_t max);

/* 0 when cmd can be run, else -EINVAL with the reason in why. */
int chunk_recover_validate(const struct chunk_session_recover *cmd, char *why, size_t len);

/* For chunk_session_ops (arg = the struct chunk_recover). */
void chunk_recover_session_cmd(void *arg, const struct chunk_session_recover *cmd);
size_t chunk_recover_session_progress(void *arg, struct chunk_session_recover_progress *out,
				      size_t max);
void chunk_recover_session_limits(void *arg, uint32_t concurrency, uint64_t bps);

#endif
