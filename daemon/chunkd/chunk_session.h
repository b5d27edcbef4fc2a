/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Chunk side of the meta session (SPEC 2): register the chunk's identity,
 * create a session, keep it alive with the space report and the data report
 * (pid, epoch, gen of every replica), act on the commands in keepalive
 * replies (revoke, GC delete), and survive meta restarts (reconnect; the
 * session is reused when meta still knows it, else a new one is created and
 * every lease of the old one is dropped).
 *
 * It runs in its own thread with its own libuv loop and talks to the rest
 * of chunkd only through the callbacks below, which are called from that
 * thread (so they must be thread-safe against the chunk's other threads).
 */
#ifndef ZBS_CHUNKD_CHUNK_SESSION_H
#define ZBS_CHUNKD_CHUNK_SESSION_H

#include <stdbool.h>
#include <stdint.h>

struct chunk_session_space { uint64_t total, valid, used, thin_used; };
struct chunk_session_replica { uint64_t pid, epoch, gen; };

/* Access-side states (SPEC 2.1). */
enum chunk_session_state {
	CHUNK_SESSION_INIT, CHUNK_SESSION_KEEPALIVE, CHUNK_SESSION_JEOPARDY, CHUNK_SESSION_EXPIRED
};

enum {
	CHUNK_SESSION_REVOKE_VOLUME = 1, CHUNK_SESSION_REVOKE_PID = 2, CHUNK_SESSION_REVOKE_ALL = 3
};

/* A recover cmd (meta.proto RecoverCmd, SPEC 5.3), as meta sent it:
 * unchecked (chunk_recover_validate() judges it). */
struct chunk_session_recover {
	uint64_t id;			/* Command.id: meta's cmd id */
	bool present;			/* Command.recover was there */
	uint64_t pid, epoch, lease_epoch, meta_gen;
	uint64_t since_gen;		/* agile: dst's gen */
	uint32_t src_cid, dst_cid, replace_cid;
	char src_addr[64], dst_addr[64];	/* data addresses ip:port ("" if too long) */
	bool is_migrate, thick, agile;
};

struct chunk_session_recover_progress { uint64_t cmd_id, bytes_copied, bytes_total; };

/* a volume attached on this host: bytes read from a local replica and
 * from others since it was attached (the kernel's counters) */
struct chunk_session_reads {
	char volume_id[40];
	uint64_t local, remote;
};
#define CHUNK_SESSION_READS_MAX	64	/* volumes reported in one keepalive */

struct chunk_session_ops {
	/* space report; return 0 (or -1 to send none this round) */
	int (*space)(void *arg, struct chunk_session_space *out);
	/* call emit for every replica held; return 0 */
	int (*foreach_replica)(void *arg,
			       int (*emit)(const struct chunk_session_replica *, void *ctx), void *ctx);
	/* GC delete of a replica meta no longer knows. It runs on the session
	 * thread: it must not wait for IO (accept the delete, do it elsewhere;
	 * the replica must not be reported from then on) */
	int (*delete_replica)(void *arg, uint64_t pid, uint64_t epoch);
	/* optional: leases to drop (volume id / pid / all); also called with
	 * REVOKE_ALL when the session is lost. id != 0: meta waits for the
	 * acknowledgement, chunk_session_revoke_done(id) once the kernel
	 * drained (the same id comes again with every keepalive reply until
	 * then; it is not passed on twice while one is being done) */
	void (*revoke)(void *arg, int type, const char *volume_id, uint64_t pid, uint64_t id);
	void *arg;
	/* optional: the session lease holds lease_ms from now (after every
	 * keepalive reply; 0 when the session is lost) */
	void (*lease)(void *arg, uint32_t lease_ms);
	/* optional: the read counters of the volumes attached here; returns
	 * how many it wrote (at most max) */
	int (*reads)(void *arg, struct chunk_session_reads *out, int max);
	/* the args of revoke, lease and reads when non-NULL (else arg) */
	void *revoke_arg, *lease_arg, *reads_arg;
	/*
	 * optional, all three or none (CAP_RECOVER is negotiated only with
	 * them): recover is given every CMD_RECOVER of a keepalive reply,
	 * also the ones meta sends again until their id is acknowledged (the
	 * callee drops the ids it knows); it runs on the session thread and
	 * must not wait. recover_progress fills up to max entries about the
	 * cmds running; recover_limits gets the keepalive reply's limits
	 * (concurrency 0 = the default, bps 0 = unlimited). recover_arg
	 * (else arg) is their arg.
	 */
	void (*recover)(void *arg, const struct chunk_session_recover *cmd);
	size_t (*recover_progress)(void *arg, struct chunk_session_recover_progress *out,
				   size_t max);
	void (*recover_limits)(void *arg, uint32_t concurrency, uint64_t bps);
	void *recover_arg;
	/* optional: is the chunk failslow now (SPEC 4.7)? Asked before every
	 * keepalive, whose failslow field carries the answer. failslow_arg
	 * (else arg) is its arg. */
	bool (*failslow)(void *arg);
	void *failslow_arg;
};

struct chunk_session_config {
	const char *meta_addr;		/* HOST:PORT */
	const char *uuid;		/* the chunk's identity */
	const char *data_addr;		/* IP:PORT */
	const char *rpc_addr;		/* IP:PORT */
	uint64_t capabilities;		/* 0 = everything this code supports */
	uint32_t data_report_every;	/* keepalives per data report (default 1) */
	uint32_t rpc_timeout_ms;	/* default 2000 */
};

struct chunk_session;

/* Start the session thread; NULL on error (logged). */
struct chunk_session *chunk_session_start(const struct chunk_session_config *cfg,
						const struct chunk_session_ops *ops);
/* Leave the session (best effort), stop and join the thread, free. */
void chunk_session_stop(struct chunk_session *s);

uint32_t chunk_session_cid(struct chunk_session *s);
uint64_t chunk_session_id(struct chunk_session *s);
enum chunk_session_state chunk_session_state(struct chunk_session *s);
/* negotiated capabilities (SPEC 2.3), 0 before the session exists */
uint64_t chunk_session_negotiated(struct chunk_session *s);
/* What is left of the session lease as this chunk sees it (ms; 0 when
 * there is no live session). */
uint32_t chunk_session_lease_left_ms(struct chunk_session *s);
/*
 * Send the space report soon (within CHUNK_SESSION_KICK_MS) instead of at the next
 * keepalive: the chunk created a replica or refused a write for lack of
 * space, and meta's figures (SPEC 7.1 "new thin" charges) should catch up.
 * Thread-safe; kicks close together make one report. NULL is a no-op.
 */
#define CHUNK_SESSION_KICK_MS 10
void chunk_session_report_soon(struct chunk_session *s);
/*
 * Revoke command id (from ops.revoke) is done: ok, the leases are given
 * back and the acknowledgement goes to meta soon; !ok, it is done again
 * when meta sends it again. Thread-safe.
 */
void chunk_session_revoke_done(struct chunk_session *s, uint64_t id, bool ok);

#endif
