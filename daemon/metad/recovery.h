/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Recovery and migration policy (SPEC 5, the product's RecoverManager): pure
 * functions over plain structs. Nothing here reads the tables, the store or
 * the clock, and nothing is logged: the caller describes the pextent and
 * the chunks, gets a decision (or an error naming why not) and applies it.
 * The cmd-slot and space bookkeeping (meta_recover_slots) is a plain
 * structure the caller owns.
 *
 * Words: a replica is *current* when its cid is in both location and
 * alive_location (alive_location already leaves out replicas not reported
 * within the grace, SPEC 4.6, and those with a gen below meta_gen,
 * ARCHITECTURE 4a). A replica *counts* toward redundancy when it is
 * current, or when its chunk is in maintenance (SPEC 5.10: recovery of its
 * replicas elsewhere waits for the maintenance to expire; the caller clears
 * `maintenance` once it has).
 *
 * The life of a cmd:
 *   meta_recover_plan     a recover for a pextent that needs one: replace,
 *                         src and dst (the scan, SPEC 5.2)
 *   meta_recover_add      the checks of SPEC 5.4 in order, the owner
 *                         (SPEC 3.4), then the slots and space reserved
 *   meta_recover_migrate  a manual migrate: the checks of SPEC 5.7 in order,
 *                         then the same
 *   meta_recover_delivered  it went out on the owner's keepalive
 *   meta_recover_release  it ended: done, failed, revoked or timed out;
 *                         slots and space come back, and a cmd that did not
 *                         succeed says what else to undo (SPEC 11 item 8)
 *
 * Choices where SPEC is silent or where we depart from the product:
 *  - need-recover and dead are exclusive: a dead pextent (no current
 *    replica) has nothing to recover from, so it is counted apart, as
 *    `zbsctl recover status` shows them (SPEC 5.11 leaves this open).
 *  - dst is never a chunk of the location, for a recover too: the product
 *    recovered onto the replaced chunk (replace = dst) and those recovers
 *    failed and invalidated healthy replicas (SPEC 5.9, 11 item 4).
 *  - a failslow chunk is never a dst, nor a new owner; it is a src only
 *    when no other current replica can be (losing redundancy is worse than
 *    a slow read; SPEC 4.7 lets an isolated disk serve critical IO).
 *  - rx space is one extent per cmd, thin and thick alike (SPEC 7.1 refined
 *    form); tx (the replaced replica) is counted but not credited as free
 *    space until the cmd is done and the replica is really gone.
 *  - a cmd's slots are charged to its original src and its dst, never to
 *    replace (SPEC 5.5, 5.7 step 12), and stay there when the owner rewrites
 *    the src (SPEC 3.4).
 *  - a cmd that ends without success leaves nothing behind: its slots and
 *    space, the owner allocated for it (the product's orphan owner, SPEC 11
 *    item 8) and, once delivered, its partial replica on dst.
 *  - a cmd never delivered times out counting from when it was issued (its
 *    owner's session may have gone quiet), a delivered one from delivery.
 *  - temporary replicas (SPEC 4.8) are only what checks 5.4 2 and 5.7 5
 *    need (tmp_epoch, temporary); a recover reading from one still names a
 *    src of the location.
 */
#ifndef ZBS_META_RECOVERY_H
#define ZBS_META_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "location.h"
#include "placement.h"

#define META_RECOVER_SLOTS_DEFAULT	128		/* per chunk, SPEC 5.5 */
#define META_RECOVER_TIMEOUT_MS		(18U * 60 * 1000)	/* SPEC 5.5 */
#define META_RECOVER_RX_BYTES		ZBS_EXTENT_SIZE	/* reserved on dst per cmd */

/* Errors as values: a code for the caller's logic, a message naming pid and cids. */
enum meta_recover_error {
	META_RECOVER_OK = 0,
	META_RECOVER_EDUPLICATE,	/* the pid has a cmd already (5.4 1, 5.7 1) */
	META_RECOVER_ETMPDONE,		/* the temporary replica is in already (5.4 2) */
	META_RECOVER_EDEAD,		/* no current replica (5.7 3) */
	META_RECOVER_ERECOVERING,	/* needs a recover, not a migrate (5.7 4) */
	META_RECOVER_ETEMPORARY,	/* a temporary replica is not migrated (5.7 5) */
	META_RECOVER_ENOTNEEDED,	/* redundancy is complete: nothing to plan */
	META_RECOVER_ENOTREPLICA,	/* src or replace not in location (5.4 3, 5.7 7) */
	META_RECOVER_ESRCDEAD,		/* src not current, or its chunk not healthy */
	META_RECOVER_EDSTHAS,		/* dst is in the location (5.4 3, 5.7 8) */
	META_RECOVER_EDSTBAD,		/* dst unknown, not healthy, maintenance,
					 * removing or failslow */
	META_RECOVER_ELOCFULL,		/* an add (replace 0) to a full location */
	META_RECOVER_ENOSRC,		/* no current replica on a healthy chunk */
	META_RECOVER_ENODST,		/* no chunk can be the dst at all */
	META_RECOVER_ENOSLOT,		/* src or dst without a free cmd slot (5.7 6) */
	META_RECOVER_ENOSPACE,		/* dst without an extent free after rx (5.4 4, 5.7 9) */
	META_RECOVER_ENOOWNER,		/* no chunk can own the cmd (5.7 11) */
	META_RECOVER__COUNT
};

struct meta_recover_err {
	enum meta_recover_error code;
	char msg[200];
};

/* "duplicate", "no slot", ...: for logs and tests */
const char *meta_recover_error_name(enum meta_recover_error code);

/* A chunk as recovery sees it. A cid missing from the array is unknown:
 * not healthy, nothing. */
struct meta_recover_chunk {
	uint32_t cid;
	bool healthy;		/* registered, its session alive (CHUNK_HEALTHY) */
	bool maintenance;	/* in maintenance mode and not expired (SPEC 5.10) */
	bool removing;		/* being removed: its pids migrate off */
	bool failslow;		/* slow disk (SPEC 4.7) */
	bool failing;		/* a replica on it was just reported failed
				 * (RemoveReplica): the scan does not pick it as
				 * a dst for a while (an operator's migrate may) */
	bool cannot_own;	/* its session does not run recover cmds (no
				 * CAP_RECOVER): never a cmd's owner */
	uint64_t free;		/* bytes allocatable: valid - allocated (SPEC 7.1)
				 * without the rx of running cmds, which the slots
				 * hold */
	struct meta_place_path topo;	/* zone, rack, brick, node ids (placement.h) */
};

/* A pextent as recovery sees it. */
struct meta_recover_pext {
	uint64_t pid, epoch;
	uint32_t location, alive_location;	/* packed, location.h */
	uint32_t expected;			/* expected_replica_num */
	uint32_t owner;		/* cid of its live lease owner, 0 = none */
	uint32_t prefer_cid;	/* 0 = none */
	bool temporary;		/* it is a temporary replica (SPEC 4.8) */
	uint64_t tmp_epoch;	/* the epoch of the temporary replica whose
				 * writes its replicas hold already, 0 = none
				 * (SPEC 5.4 2) */
};

/* What a cmd is asked to do (from meta_recover_plan, or an operator). */
struct meta_recover_req {
	uint32_t src, dst;
	uint32_t replace;	/* 0: add a replica (appends, SPEC 1.6) */
	bool is_migrate;
	uint64_t tmp_epoch;	/* src is the temporary replica of this epoch;
				 * 0 = an ordinary recover */
};

/* A cmd (SPEC 5.3). */
struct meta_recover_cmd {
	uint64_t pid, epoch;
	uint32_t src;		/* read from: maybe rewritten to the owner */
	uint32_t dst;
	uint32_t replace;	/* the dst takes its slot; 0 = add */
	uint32_t slot_src;	/* the src its slots are charged to */
	uint32_t owner;		/* cid of the lease owner that runs it */
	bool owner_new;		/* the owner was allocated for this cmd */
	bool is_migrate;
	bool reserved;		/* holds its slots and rx: released once */
	uint32_t active_location;	/* alive_location when made */
	uint64_t tmp_epoch;
	uint64_t issued_ms;
	uint64_t start_ms;	/* delivered to the owner; 0 = not yet */
};

/* Per chunk: what the cmds in flight hold on it. */
struct meta_recover_load {
	uint32_t cmds;		/* slots in use: cmds with it as src or dst */
	uint32_t rx_pids;	/* as dst: META_RECOVER_RX_BYTES reserved each */
	uint32_t tx_pids;	/* as replace: freed when the cmd is done */
	uint32_t src_pids;	/* as (original) src */
};

struct meta_recover_slots {
	uint32_t max;		/* slots per chunk; a change applies to the next
				 * reservation, running cmds keep theirs */
	struct meta_recover_load by_cid[META_MAX_CID + 1];
};

/* ---- predicates (SPEC 5.11) ---- */

/* No current replica: nothing to read it from. */
bool meta_recover_is_dead(const struct meta_recover_pext *p);
/* Not dead, and fewer replicas count than expected. */
bool meta_recover_needed(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			 size_t nc);

/* ---- choices ---- */

/*
 * The replica a recover replaces: a replica of the location that does not
 * count (on a chunk that is not healthy first, then in location order),
 * else 0 (add) when the location holds fewer than expected. ENOTNEEDED when
 * every replica counts and there are enough; ELOCFULL for an add to a full
 * location.
 */
int meta_recover_pick_replace(const struct meta_recover_pext *p,
			      const struct meta_recover_chunk *c, size_t nc, uint32_t *replace,
			      struct meta_recover_err *e);
/*
 * The src: a current replica on a healthy chunk with a free slot. The
 * owner's replica when it is one of those and not failslow; else the one
 * with the fewest cmds, ties by lower cid, failslow chunks only when no
 * other qualifies. ENOSRC when no replica is current on a healthy chunk,
 * ENOSLOT when those that are have no free slot.
 */
int meta_recover_pick_src(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			  size_t nc, const struct meta_recover_slots *s, uint32_t *src,
			  struct meta_recover_err *e);
/*
 * The dst: a healthy chunk, not maintenance, removing, failslow or
 * failing, not in the location, with a free slot and an extent free after the rx reserved
 * on it. Among those: the best topology safety (placement.h) of the
 * replica set it makes (the replicas that count, and dst), then the
 * preferred chunk (it holds no replica, being outside the location), then
 * the most free space after rx, ties by lower cid. Safety comes before
 * prefer local as in topology repair (SPEC 6.5: prefer local only when it
 * makes the topology safer): a recovered replica must not land in the
 * failure domain of a surviving one when another domain can take it, or
 * the next loss of that domain loses the pextent. When none qualifies:
 * ENOSLOT if a chunk had the space but no slot (one comes back soon), else
 * ENOSPACE if one lacked the space, else ENODST.
 */
int meta_recover_pick_dst(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
			  size_t nc, const struct meta_recover_slots *s, uint32_t *dst,
			  struct meta_recover_err *e);
/* A recover for p (the scan): EDEAD or ENOTNEEDED first, then replace, src
 * and dst as above. Nothing is reserved: meta_recover_add does that. */
int meta_recover_plan(const struct meta_recover_pext *p, const struct meta_recover_chunk *c,
		      size_t nc, const struct meta_recover_slots *s, struct meta_recover_req *r,
		      struct meta_recover_err *e);

/*
 * A migrate that moves p's replica off chunk cid, being removed (SPEC 5.10,
 * the product's ReGenerateMigrateForRemovingChunk): replace = cid, src and
 * dst as a recover's (src may be cid itself: it is current), is_migrate.
 * The dst takes the replica before cid's is dropped (ReplaceReplica), so
 * redundancy never goes below expected during a drain. ENOTREPLICA when cid
 * holds no replica of p, EDEAD, ERECOVERING when p needs a recover first
 * (the recover replaces the replica that does not count, maybe cid's).
 */
int meta_recover_plan_drain(const struct meta_recover_pext *p,
			    const struct meta_recover_chunk *c, size_t nc,
			    const struct meta_recover_slots *s, uint32_t cid,
			    struct meta_recover_req *r, struct meta_recover_err *e);

struct meta_recover_owner {
	uint32_t cid;
	bool fresh;		/* allocated for this cmd: p had no owner */
	uint32_t src;		/* the src the cmd reads from */
};
/*
 * The owner of a cmd (SPEC 3.4 AllocOwnerForRecover): p's live owner; else
 * src, else dst, when healthy and not in maintenance (entering it revokes
 * leases, SPEC 5.10); else another healthy chunk neither failslow nor in
 * maintenance, one holding a current replica first, then lower cid ("owner
 * priority" is not in SPEC). Then, if the owner is neither src nor dst and
 * holds a current replica, healthy and not failslow, the src becomes the
 * owner (a local read). A chunk that cannot_own is passed over, and p's
 * live owner on such a chunk keeps the pid (single owner): ENOOWNER, as
 * when no chunk can.
 */
int meta_recover_alloc_owner(const struct meta_recover_pext *p, uint32_t src, uint32_t dst,
			     const struct meta_recover_chunk *c, size_t nc,
			     struct meta_recover_owner *o, struct meta_recover_err *e);

/* ---- cmds ---- */

/*
 * Add a cmd for p (SPEC 5.4 AddRecoverCmdUnlock), checks in this order,
 * the first that fails answers and nothing changes:
 *   1 has_cmd (at most one cmd per pid)                       EDUPLICATE
 *   2 r->tmp_epoch is p's tmp_epoch: it is in already          ETMPDONE
 *   3 src in location                                          ENOTREPLICA
 *     src current on a healthy chunk (ours)                    ESRCDEAD
 *     replace in location, when not 0 or a migrate (ours)      ENOTREPLICA
 *     an add has a free location slot (ours)                   ELOCFULL
 *     dst not in location                                      EDSTHAS
 *     dst can take a replica (ours)                            EDSTBAD
 *   4 a free slot on src and on dst (ours, SPEC 5.5)           ENOSLOT
 *     an extent free on dst after its rx                       ENOSPACE
 *   5 the owner (meta_recover_alloc_owner)                     ENOOWNER
 * Then the slots and rx/tx are reserved and *cmd filled (epoch and
 * active_location from p, issued_ms = now_ms).
 */
int meta_recover_add(struct meta_recover_slots *s, const struct meta_recover_pext *p,
		     const struct meta_recover_chunk *c, size_t nc, bool has_cmd,
		     const struct meta_recover_req *r, uint64_t now_ms,
		     struct meta_recover_cmd *cmd, struct meta_recover_err *e);
/*
 * A manual migrate (SPEC 5.7 AddMigrateCmd): prefer-local and topology are
 * ignored on purpose; checks in the order of the draft:
 *   1 has_cmd                                                  EDUPLICATE
 *   3 p is dead                                                EDEAD
 *   4 p needs a recover                                        ERECOVERING
 *   5 p is a temporary replica                                 ETEMPORARY
 *   6 a free slot on src and on dst                            ENOSLOT
 *   7 src and replace in location                              ENOTREPLICA
 *     src current on a healthy chunk (ours)                    ESRCDEAD
 *   8 dst not in location                                      EDSTHAS
 *     dst can take a replica (ours)                            EDSTBAD
 *   9 an extent free on dst after its rx                       ENOSPACE
 *  11 the owner                                                ENOOWNER
 * Then as meta_recover_add (step 2 of the draft is the product's locking).
 */
int meta_recover_migrate(struct meta_recover_slots *s, const struct meta_recover_pext *p,
			 const struct meta_recover_chunk *c, size_t nc, bool has_cmd,
			 uint32_t src, uint32_t dst, uint32_t replace, uint64_t now_ms,
			 struct meta_recover_cmd *cmd, struct meta_recover_err *e);

/* the cmd went out on its owner's keepalive reply */
void meta_recover_delivered(struct meta_recover_cmd *cmd, uint64_t now_ms);
/* has it run out of time (from delivery, or from issue if not delivered)? */
bool meta_recover_timed_out(const struct meta_recover_cmd *cmd, uint64_t now_ms,
			    uint64_t timeout_ms);
/* is cid its src (either), or its dst? a topology change of cid revokes it
 * (SPEC 5.6) */
bool meta_recover_involves(const struct meta_recover_cmd *cmd, uint32_t cid);

/* ---- slots and space ---- */

void meta_recover_slots_init(struct meta_recover_slots *s, uint32_t max);
/* free slots of cid: max - used, 0 when used >= max */
uint32_t meta_recover_slots_avail(const struct meta_recover_slots *s, uint32_t cid);
/* bytes free on cid for a new replica: free minus its rx, 0 below */
uint64_t meta_recover_dst_free(const struct meta_recover_slots *s,
			       const struct meta_recover_chunk *c);

enum meta_recover_end {
	META_RECOVER_DONE,	/* ReplaceReplica succeeded */
	META_RECOVER_FAILED,	/* the owner reported a failure */
	META_RECOVER_REVOKED,	/* topology change (SPEC 5.6) or the pid went away */
	META_RECOVER_TIMEDOUT,
};
/* what the caller must undo besides the slots */
struct meta_recover_undo {
	uint32_t release_owner;	/* give back the lease the cmd took on this cid, 0 = none */
	uint32_t gc_dst;	/* GC the partial replica on this cid, 0 = none */
};
/*
 * The cmd ended: its slots, rx, tx and src count come back. Unless it is
 * DONE, *u names the owner allocated for it and, once delivered, its dst
 * to GC. -1 (and nothing changes) if it holds nothing: released already,
 * or never reserved.
 */
int meta_recover_release(struct meta_recover_slots *s, struct meta_recover_cmd *cmd,
			 enum meta_recover_end how, struct meta_recover_undo *u);

#endif
