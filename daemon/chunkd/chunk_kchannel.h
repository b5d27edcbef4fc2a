/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zbs-chunkd's channel to the kernel: the agent core (chunk_agent.h) wired to the
 * generic netlink family through daemon/lib/kagent.h, run by the main loop.
 *
 *   MAP_REQUEST      -> chunk_agent_submit(MAP) -> (worker) -> MAP_REPLY
 *                       (-EAGAIN at once when the agent's queue is full)
 *   REPLICA_FAILED   -> chunk_agent_submit(REPLICA_FAILED) -> RemoveReplica
 *   EXISTENCE        -> chunk_agent_submit(EXISTENCE) -> SetPExtentExistence
 *   session lease    -> SESSION with what is left of it, after every
 *                       keepalive reply and 0 when the session is lost
 *   meta's revokes   -> REVOKE (from an agent worker; it blocks until the
 *                       kernel drained the IO)
 *
 * Without the zbs module (or when the netlink socket fails) the loop keeps
 * serving nothing to the kernel and tries to (re)open and register after
 * 1 s, 2 s, ... up to every 8 s, so the module may be loaded after
 * zbs-chunkd started.
 */
#ifndef ZBS_CHUNKD_CHUNK_KCHANNEL_H
#define ZBS_CHUNKD_CHUNK_KCHANNEL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "chunk_agent.h"
#include "chunk_session.h"

struct chunk_kchannel;

/* kernel false: never open the netlink channel (the loop then only serves
 * signals and drains the agent's results). */
struct chunk_kchannel *chunk_kchannel_new(bool kernel);
void chunk_kchannel_free(struct chunk_kchannel *k);

/* For struct chunk_agent_ops (arg = the kchannel): relay a revoke; drain a pid. */
int chunk_kchannel_revoke_op(void *arg, int type, const char *volume_id, uint64_t pid);
int chunk_kchannel_drain_op(void *arg, uint64_t pid);
/* For struct chunk_session_ops.lease (arg = the kchannel): wakes the loop. */
void chunk_kchannel_lease_op(void *arg, uint32_t lease_ms);

/*
 * Serve until one of the signals in `sigs` (blocked by the caller) arrives.
 * Returns 0, or a negative errno when the loop itself could not run.
 */
int chunk_kchannel_run(struct chunk_kchannel *k, struct chunk_agent *agent,
		       struct chunk_session *ms, const sigset_t *sigs);

#endif
