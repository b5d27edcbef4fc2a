/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The chunk's extent store: one sparse file per replica under
 * <data-dir>/replicas/<pid>, per-replica metadata (epoch, lease_epoch, gen,
 * state, allocated 256 KiB blocks) in LMDB under <data-dir>/meta, and the
 * chunk's identity (a uuid) in <data-dir>/chunk-id.
 *
 * It owns the replica table and enforces the rules of the data protocol
 * (uapi/linux/zbs_wire.h): chunk_store_exec() runs one decoded request.
 *
 * Every function is thread-safe: the data path calls it from one thread per
 * connection, the meta session from its own thread.
 */
#ifndef ZBS_CHUNKD_CHUNK_STORE_H
#define ZBS_CHUNKD_CHUNK_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct chunk_store;	/* opened on a data dir */

struct chunk_replica_info {
	uint64_t pid, epoch, lease_epoch, gen;
	uint32_t alloc_blocks;	/* 256 KiB units */
	uint32_t state;		/* enum zbs_replica_state */
	bool thick;
	bool broken;		/* its stored record is corrupt: state ERROR, not
				 * served, not to be reported to meta as held */
};

struct chunk_space_info {
	uint64_t total, valid, used, thin_used;	/* bytes, multiples of 256 KiB */
};

/*
 * Open (or, when the directory is empty or missing, initialize) a data dir.
 * expect_uuid: when non-NULL, refuse a directory of any other chunk.
 * Refuses, with a logged reason, a directory of another chunk, a corrupt
 * one, a non-empty directory that is not a chunk data dir, or one already
 * open by another process. A corrupt record of one replica fails only that
 * replica (logged; "broken": every request but DELETE answers ZBS_ST_IO).
 * Returns 0 or a negative errno.
 */
int chunk_store_open(const char *dir, const char *expect_uuid, struct chunk_store **out);
/* Close; the GC deletes accepted are done first. */
void chunk_store_close(struct chunk_store *st);

/* The chunk's identity: a uuid created in the data dir at first start. */
const char *chunk_store_uuid(const struct chunk_store *st);

/*
 * Call cb for every replica (a snapshot taken at the call; cb runs without
 * store locks held and may call other store functions). Stops and returns
 * cb's value when it is non-zero; 0 otherwise.
 */
int chunk_store_foreach_replica(struct chunk_store *st,
				int (*cb)(const struct chunk_replica_info *, void *arg), void *arg);

/* Info of one replica; 0, or -ENOENT. */
int chunk_store_get_replica(struct chunk_store *st, uint64_t pid, struct chunk_replica_info *out);

/* Space report (SPEC 7.2); 0 or a negative errno. */
int chunk_store_space(struct chunk_store *st, struct chunk_space_info *out);

/*
 * Hold at most `bytes` (0: what the filesystem has; the default). Reported
 * as total, and enforced: a WRITE that needs new blocks beyond it, or beyond
 * the filesystem's free space, is refused with ZBS_ST_NOSPC before it takes
 * a gen (the replica stays usable). Call before serving.
 */
void chunk_store_set_capacity(struct chunk_store *st, uint64_t bytes);
/* fn(arg) when the space report changed in a way meta should hear soon (a
 * replica created, a write refused for space); from IO threads. Call before
 * serving. */
void chunk_store_set_space_hook(struct chunk_store *st, void (*fn)(void *), void *arg);

/*
 * Remove replica pid if its epoch matches, now (--drop-replica): its record
 * durably, then its file. 0, -ENOENT (no such pid, or its delete is under
 * way), -ESTALE (another epoch), or -EIO (the replica is kept).
 */
int chunk_store_delete_replica(struct chunk_store *st, uint64_t pid, uint64_t epoch);

/*
 * Garbage collection (meta's GC delete; called on the meta session's
 * thread, so it does no IO): accept the delete of replica pid if its epoch
 * matches and return. From the call on the replica is not served (requests
 * answer ZBS_ST_NOENT, a SYNC that creates it waits until the old one is
 * gone) and not listed by chunk_store_foreach_replica() or
 * chunk_store_space(). The store's GC thread then deletes the accepted
 * replicas in order, up to 1024 per durable metadata commit, and unlinks
 * their files (where the filesystem discards online, after cutting each in
 * paced steps: see chunk_store_mount_discard()). A crash before that commit
 * leaves the replica in place (it is listed after the restart, so meta
 * sends the GC again); one after it
 * leaves at most orphan files, removed at the next open. If the commit
 * fails the replicas are kept and listed again. 0 (accepted), -ENOENT (no
 * such pid, or its delete is already under way), -ESTALE (another epoch),
 * -ENOMEM, -ESHUTDOWN (the store is closing).
 */
int chunk_store_gc_delete(struct chunk_store *st, uint64_t pid, uint64_t epoch);
/* Wait until every GC delete accepted so far is done (or failed). */
void chunk_store_gc_wait(struct chunk_store *st);

/* Make every completed write durable (what FLUSH does). 0 or -errno. */
int chunk_store_flush(struct chunk_store *st);

/*
 * Request execution for the data path. Replies to the requests executed
 * with one batch must be sent only after chunk_store_batch_commit() succeeded:
 * it persists the metadata changes of the batch (gens, block maps) in one
 * transaction, durably when a FUA write asked for it.
 */
#define CHUNK_BATCH_MAX 64
struct chunk_store_batch {
	struct chunk_replica *reps[CHUNK_BATCH_MAX];	/* referenced, metadata to persist */
	unsigned n;
	bool sync;
};

/*
 * Execute one request that passed zbs_wire_check_req(). payload: WRITE and
 * RECOVER_WRITE data (req->length bytes). out: READ data (req->length
 * bytes) or the GET_BLOCK_MAP bitmap. Fills reply (status, replica fields,
 * payload length). When the batch is full it is committed first.
 */
void chunk_store_exec(struct chunk_store *st, struct chunk_store_batch *b,
		      const struct zbs_req *req, const void *payload, void *out, struct zbs_reply *reply);

/*
 * Asynchronous READ/WRITE (the data path issues the IO itself, e.g. with
 * io_uring): chunk_store_io_begin() applies every rule (and, for a WRITE,
 * accepts its gen and marks its blocks allocated). When it returns
 * ZBS_ST_OK the caller transfers io->req.length bytes at io->req.offset on
 * io->fd (O_DIRECT when the filesystem supports it: buffers aligned to
 * 4096) and then calls chunk_store_io_end() with the result (bytes or
 * -errno; it finishes short or refused transfers itself). Otherwise the
 * reply is filled with the error and there is nothing to end.
 */
struct chunk_store_io {
	struct chunk_replica *r;	/* referenced between begin and end */
	struct zbs_req req;
	int fd;
	bool direct;			/* fd is O_DIRECT */
	bool counted;			/* WRITE took gen io->gen */
	bool dsync;			/* caller wrote with RWF_DSYNC (FUA done) */
	uint64_t gen;
};
int chunk_store_io_begin(struct chunk_store *st, const struct zbs_req *req,
			 struct chunk_store_io *io, struct zbs_reply *rep);
void chunk_store_io_end(struct chunk_store *st, struct chunk_store_batch *b,
			struct chunk_store_io *io, void *buf, int res, struct zbs_reply *rep);

/*
 * Whether the data dir's filesystem takes O_DIRECT. Where it does not
 * (tmpfs before Linux 6.6, or ZBS_CHUNKD_NO_DIRECT set) replica IO is
 * buffered: a copy into the page cache that io_uring would only hand to a
 * worker thread, so the server runs it synchronously instead.
 */
bool chunk_store_direct(const struct chunk_store *st);

/*
 * Whether the filesystem holding path (absolute, symlinks resolved) is
 * mounted with online discard, from the text of /proc/self/mountinfo: the
 * mount whose mount point is the longest prefix of path has the option
 * "discard" among its mount or superblock options. 1 or 0. There the store
 * frees a deleted replica's file in steps, since an unlink of one would
 * hold the filesystem's commits, and so the clients' syncs, while its
 * blocks are discarded.
 */
int chunk_store_mount_discard(const char *mountinfo, const char *path);

/* Persist the batch's metadata; on failure returns ZBS_ST_IO (the replies
 * of the batch must then say so). Always empties the batch. */
int chunk_store_batch_commit(struct chunk_store *st, struct chunk_store_batch *b);

#endif
