/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Agile recovery (SPEC 4.8, issue "recovery and migration"): a replica that
 * left the location through RemoveReplica and comes back intact is caught
 * up with only the blocks written since it left, instead of a full copy of
 * the extent to another chunk.
 *
 * What meta keeps (meta.agile, in memory: a metad restart forgets it and the next
 * recoveries are full ones): per pid, each replica dropped by RemoveReplica
 * with the gen it was dropped at, and whether its chunk has reported it
 * since with a gen that fits.
 *
 * The rules:
 *  - a dropped replica is a candidate once its chunk reports the pid (same
 *    epoch, not in the location) at a gen <= the drop gen, from a session
 *    that began after the drop; a higher gen means it took writes the
 *    replicas kept did not (ARCHITECTURE 4a sync: the others were at a
 *    lower gen), and it is recovered in full;
 *  - the cmd is an add (replace 0) with dst = that chunk, agile, since_gen
 *    = its reported gen. The owner asks src for the blocks written since
 *    that gen (ZBS_BF_SINCE: the chunk tracks this in memory per replica
 *    from the gen it loaded it at) and copies only those; dst must still be
 *    at that gen (ZBS_RF_AGILE). When src did not track that far back (it
 *    restarted) or dst moved, the cmd fails and the pid is recovered in
 *    full next time: a failed agile cmd forgets its candidate;
 *  - while the chunk of a dropped replica has not come back, the full
 *    recovery of the pid waits for it up to wait_ms after the drop (the
 *    metad option --recover-agile-wait-ms, default 60 s; 0 = never wait;
 *    meta_config.agile_wait_ms):
 *    the Ceph "down, not yet out" interval; while that chunk is in
 *    maintenance (SPEC 5.10: restarted for an upgrade) as long as the
 *    maintenance lasts. A chunk that came back without
 *    the replica, or with a gen that does not fit, ends the wait at once;
 *  - a dropped replica whose pid has its full redundancy again is garbage:
 *    when its chunk reports it and no cmd of the pid runs, it is GC'd.
 */
#ifndef ZBS_META_AGILE_H
#define ZBS_META_AGILE_H

#include <stdbool.h>
#include <stdint.h>

#include "recovery.h"

struct meta;
struct meta_pext;

#define META_AGILE_WAIT_MS_DEFAULT	60000

/* RemoveReplica took cid out of pid's location at gen */
void meta_agile_dropped(struct meta *m, uint64_t pid, uint64_t epoch, uint32_t cid,
			uint64_t gen);
/*
 * cid reports holding pid:epoch at gen and it is not in the location
 * (has_cmd: a recover cmd of pid runs). GARBAGE: the pid has its
 * redundancy, the caller GCs the replica; BACK: a dropped replica came back
 * and fits, the caller queues the pid for recovery.
 */
enum meta_agile_seen { META_AGILE_SEEN_NOTHING, META_AGILE_SEEN_GARBAGE, META_AGILE_SEEN_BACK };
enum meta_agile_seen meta_agile_seen(struct meta *m, uint32_t cid, uint64_t pid, uint64_t epoch,
				     uint64_t gen, bool has_cmd);

enum meta_agile_plan { META_AGILE_NONE, META_AGILE_WAIT, META_AGILE_CMD };
/*
 * Before a full recover of pid: META_AGILE_CMD with req (src, dst, replace
 * 0) and *since filled for an agile one; META_AGILE_WAIT when the full
 * recovery should wait for a dropped replica's chunk to come back;
 * META_AGILE_NONE otherwise. c/n: the chunks as recovery sees them.
 */
enum meta_agile_plan meta_agile_plan(struct meta *m, const struct meta_recover_pext *rp,
				     const struct meta_recover_chunk *c, size_t n,
				     struct meta_recover_req *req, uint64_t *since);
/* an agile cmd of pid onto dst ended: done (its record goes) or not (the
 * candidate is forgotten: the next try is a full recovery) */
void meta_agile_ended(struct meta *m, uint64_t pid, uint32_t dst, bool ok);
/* how many pids have a dropped replica remembered (tests, status) */
uint32_t meta_agile_count(const struct meta *m);
void meta_agile_free(struct meta *m);

#endif
