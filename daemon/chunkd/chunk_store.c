// SPDX-License-Identifier: GPL-2.0
/*
 * Extent store: replica table, LMDB metadata, replica files, and the rules
 * of the data protocol. See chunk_store.h.
 *
 * Locking: st->table_lock (rwlock) protects the replica index (a uthash
 * table by pid: it grows with the replicas, so a lookup stays O(1) at 10^5
 * of them and more; finds run in parallel under the read lock); st->ddl_lock
 * serializes replica creation and the last step of deletion (file names
 * are reused: a create of a pid whose delete is under way waits on
 * st->gc_gone until that replica left the table, its file gone); each
 * replica's r->lock protects its metadata fields (never held across IO,
 * except by RECOVER_WRITE, which must not race with foreground writes
 * marking sectors dirty). LMDB write transactions serialize among
 * themselves, and metadata is copied into a transaction under r->lock, so
 * the stored gen never goes backwards.
 *
 * Deletes (chunk_store_gc_delete from meta's GC, chunk_store_delete_replica)
 * first mark the replica deleted, which hides it at once from lookups and
 * listings, then delete its record, durably, and its file: GC deletes in
 * batches of up to GC_BATCH on the store's GC thread (st->gc_lock protects
 * its queue), so a large volume delete costs one sync per batch and never
 * blocks the meta session's thread. On a filesystem mounted with online
 * discard a file is cut in paced steps before its unlink (gc_free_file).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#define HASH_NONFATAL_OOM 1	/* an insert that cannot allocate fails, see below */
#include <uthash.h>
#include <uuid/uuid.h>

#include "log.h"
#include "chunk_store.h"

#define STORE_FORMAT		1
#define SUPER_MAGIC		0x5355425aU	/* "ZBUS" */
#define REC_MAGIC		0x5252425aU	/* "ZBRR" */
#define REC_F_THICK		1U
#define DIRTY_BYTES		(ZBS_EXTENT_SIZE / ZBS_SECTOR_SIZE / 8)	/* 64 KiB */
#define BITMAP_BYTES		ZBS_WIRE_BLOCK_MAP_BYTES
#define DIRTY_DATA		1	/* data written: fdatasync */
#define DIRTY_LAYOUT		2	/* holes punched: fsync (file block map) */
#define ZERO_BUF		(1U << 20)	/* zeros written per call where holes fail */
/*
 * A RECOVER_WRITE on buffered IO (no O_DIRECT: tmpfs) goes in pwrites of at
 * most this: each holds the file's inode lock while it copies its bytes
 * into the page cache, and the replica's client writes wait for that lock.
 * 512 KiB at once held them 20-30 ms each in the emulated 2-CPU machine of
 * the VM benchmark; with O_DIRECT each pwrite is a device IO and the copy
 * writes in one.
 */
#define COPY_PIECE		(64U * 1024)
#define GC_BATCH		1024	/* GC deletes per metadata commit */
#define GC_SHRINK_STEP		(16ULL << 20)	/* online discard: bytes freed per step */
#define GC_SHRINK_PAUSE_MAX_NS	100000000LL	/* ... and the most a pause after one lasts */
#define GC_SHRINK_IDLE_MS	1000	/* the longest wait for in-flight IO to end */

/* LMDB records, host byte order (the store is local to this machine). */
struct super_rec {
	uint32_t magic;
	uint32_t format;
	char uuid[40];
};

struct replica_rec {
	uint32_t magic;
	uint32_t format;
	uint64_t pid, epoch, lease_epoch, gen;
	uint32_t state, flags;
	uint8_t bitmap[BITMAP_BYTES];
};

struct copy_range {
	uint64_t s0, n;			/* sectors */
	struct copy_range *next;
};

struct chunk_replica {
	uint64_t pid, epoch;		/* immutable */
	int fd;				/* buffered; immutable while referenced */
	int dfd;			/* O_DIRECT, or -1 when unsupported */
	bool thick;			/* immutable */
	atomic_int refs;
	atomic_int data_dirty;		/* DIRTY_*: changed since the last sync */
	UT_hash_handle hh;		/* st->table_lock, keyed by pid */

	pthread_mutex_t lock;
	uint64_t lease_epoch;
	uint64_t gen;			/* contiguously completed writes */
	uint64_t next_gen;		/* gen + accepted, not yet completed */
	uint64_t *done;			/* completed gens above gen (out of order) */
	unsigned ndone, done_cap;
	uint32_t state;
	uint32_t alloc_blocks;
	uint8_t bitmap[BITMAP_BYTES];
	uint8_t *dirty;			/* RECOVERING: 1 bit per 512 B sector */
	/*
	 * RECOVER_WRITEs writing now (do_recover_write): a foreground write
	 * overlapping one waits on copy_cv after marking its sectors dirty, so
	 * the copy's older bytes never land after it.
	 */
	struct copy_range *copying;
	pthread_cond_t copy_cv;
	/*
	 * Agile recovery: for each 256 KiB block, the last write accepted
	 * since trk_since, as its gen - trk_since + 1 (0: none; saturates,
	 * which only makes a block look newer). Valid only while trk: from
	 * the gen the replica was loaded or created at, or finished a
	 * recovery at; in memory only (lost with the process). Allocated at
	 * the first write.
	 */
	uint32_t *wgen;
	uint64_t trk_since;
	bool trk;
	bool meta_dirty;		/* differs from LMDB */
	bool deleted;			/* its delete is accepted: not served, not
					 * listed, not written back; set and
					 * cleared under st->table_lock (write)
					 * and r->lock, read under either */
	bool unlisted;			/* out of the table: space not counted */
	bool broken;			/* immutable: corrupt record, see load_replicas */
};

struct chunk_store {
	char *dir;
	char uuid[40];
	int lock_fd;
	int rep_dirfd;
	MDB_env *env;
	MDB_dbi dbi_super, dbi_rep;
	pthread_rwlock_t table_lock;
	pthread_mutex_t ddl_lock;
	struct chunk_replica *table;	/* the index by pid (uthash) */
	unsigned nreplicas;
	bool opened;			/* fully opened: close persists */
	bool direct;			/* the data dir takes O_DIRECT */
	bool online_discard;		/* its filesystem discards freed blocks at
					 * commit: GC frees files in steps */
	uint64_t capacity;		/* bytes this chunk may hold, 0: the filesystem's */
	_Atomic uint64_t used_blocks;	/* thin allocated blocks + thick extents */
	void (*space_hook)(void *);	/* space changed: tell meta soon */
	void *space_arg;
	pthread_cond_t gc_gone;		/* ddl_lock: deleted replicas left the table */

	/* GC deletes accepted, not yet done (referenced, deleted set) */
	pthread_mutex_t gc_lock;
	pthread_cond_t gc_work;		/* gc_lock: queued, or stopping */
	pthread_cond_t gc_idle;		/* gc_lock: the queue ran empty */
	struct chunk_replica **gcq;	/* gc_lock: gcq[gc_head..gc_n) queued */
	size_t gc_head, gc_n, gc_cap;
	bool gc_busy;			/* gc_lock: a batch is being done */
	bool gc_started, gc_stop;	/* gc_lock */
	pthread_t gc_thread;
	_Atomic uint64_t gc_commits;	/* metadata commits of deletes (tests) */
	_Atomic uint64_t gc_shrink_syncs; /* synced steps of cutting files (tests) */
};

/* Free space a write must leave on the filesystem (LMDB, other files). */
#define FS_RESERVE		(8ULL << 20)
#define EXTENT_BLOCKS		(ZBS_EXTENT_SIZE / ZBS_BLOCK_SIZE)

/* ---- small helpers -------------------------------------------------- */

static void rep_name(uint64_t pid, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, pid);
}

static int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {		/* past EOF: zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static uint32_t popcount_map(const uint8_t *map)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < BITMAP_BYTES; i++)
		n += (uint32_t)__builtin_popcount(map[i]);
	return n;
}

static int errno_status(int err)
{
	return err == -ENOSPC || err == -EDQUOT ? ZBS_ST_NOSPC : ZBS_ST_IO;
}

/* ---- replica objects ------------------------------------------------ */

/*
 * The O_DIRECT descriptor of a replica file, or -1 when the filesystem
 * refuses O_DIRECT (tmpfs before Linux 6.6 fails the open with EINVAL) or
 * ZBS_CHUNKD_NO_DIRECT is set (non-empty, not "0"; tests force the
 * fallback with it). Without it the data goes through the page cache on
 * the plain descriptor: FUA writes and FLUSH then rely on fdatasync, which
 * every path already does on that descriptor. Logged once per process.
 */
static bool direct_forced_off(void)
{
	const char *no = getenv("ZBS_CHUNKD_NO_DIRECT");

	return no && *no && strcmp(no, "0");
}

static int replica_open_direct(int fd)
{
	static atomic_bool logged;
	bool forced = direct_forced_off();
	char path[64];
	int dfd, err = 0;

	if (!forced) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
		if (dfd >= 0)
			return dfd;
		err = errno;
	}
	if (!atomic_exchange(&logged, true))
		log_warn("replica files: %s; using buffered IO (FUA and FLUSH by fdatasync)",
			 forced ? "O_DIRECT disabled by ZBS_CHUNKD_NO_DIRECT"
				: err == EINVAL ? "the filesystem does not support O_DIRECT"
						: strerror(err));
	return -1;
}

/* Does the data dir's filesystem take O_DIRECT? (tmpfs before 6.6 does not) */
static bool probe_direct(int dirfd)
{
	int fd;

	if (direct_forced_off())
		return false;
	fd = openat(dirfd, "chunk-id", O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

bool chunk_store_direct(const struct chunk_store *st)
{
	return st->direct;
}

/*
 * Online discard. Fields of a /proc/self/mountinfo line (proc(5)): mount
 * id, parent id, major:minor, root, mount point, mount options, optional
 * fields, "-", filesystem type, source, superblock options; a space, tab,
 * newline or backslash in a field is written as \ooo (octal).
 */
#define MI_FIELDS	64

/* Field f[0..len) of mountinfo into out (outlen bytes), unescaped; false
 * when it does not fit. */
static bool mi_unescape(const char *f, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = f[i];

		if (c == '\\' && i + 3 < len &&
		    f[i + 1] >= '0' && f[i + 1] <= '3' && f[i + 2] >= '0' && f[i + 2] <= '7' &&
		    f[i + 3] >= '0' && f[i + 3] <= '7') {
			c = (char)((f[i + 1] - '0') << 6 | (f[i + 2] - '0') << 3 | (f[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= outlen)
			return false;
		out[o++] = c;
	}
	out[o] = 0;
	return true;
}

/*
 * Does the option list opts[0..len) turn on online discard? Whole
 * comma-separated options only ("nodiscard" does not); "discard=sync" is
 * btrfs's name for it, its "discard=async" queues discards off the commit.
 */
static bool mi_discard_opt(const char *opts, size_t len)
{
	const char *p = opts, *end = opts + len;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = (size_t)((comma ? comma : end) - p);

		if ((n == 7 && !memcmp(p, "discard", 7)) || (n == 12 && !memcmp(p, "discard=sync", 12)))
			return true;
		p += n + 1;
	}
	return false;
}

/* The length of mount point mp when it holds path (absolute), else 0. */
static size_t mi_covers(const char *mp, const char *path)
{
	size_t n = strlen(mp);

	if (!strcmp(mp, "/"))
		return path[0] == '/';
	if (strncmp(path, mp, n) || (path[n] && path[n] != '/'))
		return 0;
	return n;
}

int chunk_store_mount_discard(const char *mountinfo, const char *path)
{
	const char *line = mountinfo;
	size_t best = 0;
	int discard = 0;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		const char *end = eol ? eol : line + strlen(line);
		const char *f[MI_FIELDS], *p = line;
		size_t fl[MI_FIELDS], covers;
		unsigned n = 0, sep = 0;
		char mp[4096];

		while (n < MI_FIELDS) {
			while (p < end && *p == ' ')
				p++;
			if (p == end)
				break;
			f[n] = p;
			while (p < end && *p != ' ')
				p++;
			fl[n] = (size_t)(p - f[n]);
			n++;
		}
		line = eol ? eol + 1 : NULL;
		for (unsigned i = 6; i < n && !sep; i++)
			if (fl[i] == 1 && f[i][0] == '-')
				sep = i;
		if (!sep || sep + 3 >= n || !mi_unescape(f[4], fl[4], mp, sizeof(mp)))
			continue;	/* not a mount line */
		covers = mi_covers(mp, path);
		/* the longest mount point wins; of two alike the later one,
		 * mounted over the first */
		if (covers && covers >= best) {
			best = covers;
			discard = mi_discard_opt(f[5], fl[5]) || mi_discard_opt(f[sep + 3], fl[sep + 3]);
		}
	}
	return discard;
}

/* The whole of a /proc file (no size to stat), NUL-terminated; NULL on error. */
static char *read_proc_text(const char *path)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (!buf || fd < 0)
		goto fail;
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *b = realloc(buf, 2 * cap);

			if (!b)
				goto fail;
			buf = b;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/*
 * Is the data dir on a filesystem mounted with online discard (see
 * gc_free_file)? ZBS_CHUNKD_TEST_ONLINE_DISCARD=1 or 0 says yes or no
 * whatever the mount (tests).
 */
static bool probe_online_discard(const char *dir)
{
	const char *force = getenv("ZBS_CHUNKD_TEST_ONLINE_DISCARD");
	char *real, *text;
	bool on = false;

	if (force && *force) {
		on = strcmp(force, "0") != 0;
		log_warn("%s: online discard taken as %s (ZBS_CHUNKD_TEST_ONLINE_DISCARD, tests)",
			 dir, on ? "on" : "off");
		return on;
	}
	real = realpath(dir, NULL);
	text = real ? read_proc_text("/proc/self/mountinfo") : NULL;
	if (text)
		on = chunk_store_mount_discard(text, real) == 1;
	else
		log_warn("%s: cannot tell whether its filesystem discards online (%m); "
			 "taken as not", dir);
	free(text);
	free(real);
	return on;
}

static struct chunk_replica *replica_new(uint64_t pid, uint64_t epoch, int fd, bool thick)
{
	struct chunk_replica *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->pid = pid;
	r->epoch = epoch;
	r->fd = fd;
	r->dfd = fd >= 0 ? replica_open_direct(fd) : -1;
	r->thick = thick;
	atomic_init(&r->refs, 1);
	atomic_init(&r->data_dirty, 0);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->copy_cv, NULL);
	return r;
}

static void replica_get(struct chunk_replica *r)
{
	atomic_fetch_add(&r->refs, 1);
}

static void replica_put(struct chunk_replica *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (r->dfd >= 0)
		close(r->dfd);
	free(r->done);
	free(r->dirty);
	free(r->wgen);
	pthread_cond_destroy(&r->copy_cv);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Caller holds r->lock. */
static void replica_fill_info(const struct chunk_replica *r, struct chunk_replica_info *i)
{
	i->pid = r->pid;
	i->epoch = r->epoch;
	i->lease_epoch = r->lease_epoch;
	i->gen = r->gen;
	i->alloc_blocks = r->alloc_blocks;
	i->state = r->state;
	i->thick = r->thick;
	i->broken = r->broken;
}

/* Caller holds r->lock. */
static void replica_fill_reply(const struct chunk_replica *r, struct zbs_reply *rep)
{
	rep->gen = r->gen;
	rep->epoch = r->epoch;
	rep->lease_epoch = r->lease_epoch;
	rep->state = r->state;
	rep->alloc_blocks = r->alloc_blocks;
}

/* Caller holds r->lock. */
static void replica_to_rec(const struct chunk_replica *r, struct replica_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->magic = REC_MAGIC;
	rec->format = STORE_FORMAT;
	rec->pid = r->pid;
	rec->epoch = r->epoch;
	rec->lease_epoch = r->lease_epoch;
	rec->gen = r->gen;
	rec->state = r->state;
	rec->flags = r->thick ? REC_F_THICK : 0;
	memcpy(rec->bitmap, r->bitmap, BITMAP_BYTES);
}

/* Blocks of [off, off+len) not allocated yet. Caller holds r->lock. */
static uint32_t replica_new_blocks(const struct chunk_replica *r, uint64_t off, uint32_t len)
{
	uint64_t b = off >> ZBS_BLOCK_SHIFT, e = (off + len - 1) >> ZBS_BLOCK_SHIFT;
	uint32_t n = 0;

	for (; b <= e; b++)
		n += !(r->bitmap[b / 8] & (1U << (b % 8)));
	return n;
}

/* Space a replica takes in the store's count: a thick one its whole extent. */
static uint64_t replica_weight(const struct chunk_replica *r)
{
	return r->thick ? EXTENT_BLOCKS : r->alloc_blocks;
}

/* Mark the 256 KiB blocks of [off, off+len) allocated. Caller holds r->lock. */
static void replica_alloc(struct chunk_store *st, struct chunk_replica *r, uint64_t off,
			  uint32_t len)
{
	uint64_t b = off >> ZBS_BLOCK_SHIFT, e = (off + len - 1) >> ZBS_BLOCK_SHIFT;
	uint32_t n = 0;

	for (; b <= e; b++) {
		if (!(r->bitmap[b / 8] & (1U << (b % 8)))) {
			r->bitmap[b / 8] |= (uint8_t)(1U << (b % 8));
			r->alloc_blocks++;
			r->meta_dirty = true;
			n++;
		}
	}
	if (n && !r->thick && !r->unlisted)
		atomic_fetch_add(&st->used_blocks, n);
}

/*
 * May a write allocate n more blocks? Out of space is a capacity condition,
 * checked before the write takes a gen: the writer gets NOSPC and the
 * replica stays as it was (not in error, the gen not consumed).
 */
static bool store_has_room(struct chunk_store *st, uint32_t n)
{
	uint64_t need = (uint64_t)n * ZBS_BLOCK_SIZE;
	struct statvfs sv;

	if (st->capacity &&
	    (atomic_load(&st->used_blocks) + n) * ZBS_BLOCK_SIZE > st->capacity)
		return false;
	if (statvfs(st->dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < need + FS_RESERVE)
		return false;
	return true;
}

static void space_changed(struct chunk_store *st)
{
	if (st->space_hook)
		st->space_hook(st->space_arg);
}

/* Write g completed: advance gen over contiguous completions. Holds r->lock. */
static int replica_complete(struct chunk_replica *r, uint64_t g)
{
	if (g != r->gen) {
		if (r->ndone == r->done_cap) {
			unsigned cap = r->done_cap ? r->done_cap * 2 : 16;
			uint64_t *d = realloc(r->done, cap * sizeof(*d));

			if (!d)
				return -ENOMEM;
			r->done = d;
			r->done_cap = cap;
		}
		r->done[r->ndone++] = g;
		return 0;
	}
	r->gen++;
	for (bool again = true; again;) {
		again = false;
		for (unsigned i = 0; i < r->ndone; i++) {
			if (r->done[i] == r->gen) {
				r->done[i] = r->done[--r->ndone];
				r->gen++;
				again = true;
				break;
			}
		}
	}
	r->meta_dirty = true;
	return 0;
}

/* ---- table ---------------------------------------------------------- */

/* Referenced replica pid, or NULL (none, or its delete is under way). */
static struct chunk_replica *table_lookup(struct chunk_store *st, uint64_t pid)
{
	struct chunk_replica *r;

	pthread_rwlock_rdlock(&st->table_lock);
	HASH_FIND(hh, st->table, &pid, sizeof(pid), r);
	if (r && r->deleted)	/* its delete is under way: gone to everyone */
		r = NULL;
	if (r)
		replica_get(r);
	pthread_rwlock_unlock(&st->table_lock);
	return r;
}

/*
 * Caller holds table_lock for writing and r->pid is not in the table; on
 * success the table takes over r's reference. 0 or -ENOMEM.
 */
static int table_insert_locked(struct chunk_store *st, struct chunk_replica *r)
{
	struct chunk_replica *found;

	HASH_ADD(hh, st->table, pid, sizeof(r->pid), r);
	HASH_FIND(hh, st->table, &r->pid, sizeof(r->pid), found);
	if (found != r)		/* uthash could not allocate (HASH_NONFATAL_OOM) */
		return -ENOMEM;
	st->nreplicas++;
	atomic_fetch_add(&st->used_blocks, replica_weight(r));
	return 0;
}

static void table_remove(struct chunk_store *st, struct chunk_replica *r)
{
	struct chunk_replica *found;

	pthread_rwlock_wrlock(&st->table_lock);
	HASH_FIND(hh, st->table, &r->pid, sizeof(r->pid), found);
	if (found == r) {
		HASH_DEL(st->table, r);
		st->nreplicas--;
		pthread_mutex_lock(&r->lock);
		atomic_fetch_sub(&st->used_blocks, replica_weight(r));
		r->unlisted = true;
		pthread_mutex_unlock(&r->lock);
		replica_put(r);	/* the table's reference */
	}
	pthread_rwlock_unlock(&st->table_lock);
}

/* Is a delete of pid under way (deleted, still in the table)? */
static bool table_deleting(struct chunk_store *st, uint64_t pid)
{
	struct chunk_replica *r;
	bool yes;

	pthread_rwlock_rdlock(&st->table_lock);
	HASH_FIND(hh, st->table, &pid, sizeof(pid), r);
	yes = r && r->deleted;
	pthread_rwlock_unlock(&st->table_lock);
	return yes;
}

/* Referenced snapshot of every replica not being deleted; caller puts each
 * and frees. */
static struct chunk_replica **table_snapshot(struct chunk_store *st, unsigned *n)
{
	struct chunk_replica **v;
	unsigned k = 0;

	pthread_rwlock_rdlock(&st->table_lock);
	v = malloc((st->nreplicas + 1) * sizeof(*v));
	if (v) {
		struct chunk_replica *r, *tmp;

		HASH_ITER(hh, st->table, r, tmp) {
			if (r->deleted)
				continue;
			replica_get(r);
			v[k++] = r;
		}
	}
	pthread_rwlock_unlock(&st->table_lock);
	*n = k;
	return v;
}

/* ---- metadata persistence ----------------------------------------- */

static void key_of(uint64_t pid, uint8_t key[8])
{
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(pid >> (56 - 8 * i));	/* big-endian: ordered by pid */
}

/* Persist the metadata of reps (those with meta_dirty); durable when sync. */
static int persist(struct chunk_store *st, struct chunk_replica **reps, unsigned n, bool sync)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		struct chunk_replica *r = reps[i];
		struct replica_rec rec;
		uint8_t key[8];
		MDB_val k = { 8, key }, v = { sizeof(rec), &rec };
		bool put = false;

		pthread_mutex_lock(&r->lock);
		if (r->meta_dirty && !r->deleted && !r->broken) {
			replica_to_rec(r, &rec);
			r->meta_dirty = false;
			put = true;
		}
		pthread_mutex_unlock(&r->lock);
		if (!put)
			continue;
		key_of(r->pid, key);
		rc = mdb_put(txn, st->dbi_rep, &k, &v, 0);
		if (rc) {
			mdb_txn_abort(txn);
			goto fail;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		goto fail;
	if (sync) {
		rc = mdb_env_sync(st->env, 1);
		if (rc)
			goto fail;
	}
	return 0;
fail:
	log_err("store %s: metadata update failed: %s", st->dir, mdb_strerror(rc));
	/* the in-memory state is ahead of LMDB: make the next commit retry */
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_lock(&reps[i]->lock);
		reps[i]->meta_dirty = true;
		pthread_mutex_unlock(&reps[i]->lock);
	}
	return -EIO;
}

int chunk_store_batch_commit(struct chunk_store *st, struct chunk_store_batch *b)
{
	int rc = 0;

	if (b->n || b->sync)
		rc = persist(st, b->reps, b->n, b->sync);
	for (unsigned i = 0; i < b->n; i++)
		replica_put(b->reps[i]);
	b->n = 0;
	b->sync = false;
	return rc ? ZBS_ST_IO : ZBS_ST_OK;
}

static void batch_add(struct chunk_store *st, struct chunk_store_batch *b, struct chunk_replica *r)
{
	for (unsigned i = 0; i < b->n; i++)
		if (b->reps[i] == r)
			return;
	if (b->n == CHUNK_BATCH_MAX)
		chunk_store_batch_commit(st, b);/* errors: retried by the next commit */
	replica_get(r);
	b->reps[b->n++] = r;
}

/* ---- create / delete ------------------------------------------------ */

/*
 * Get replica pid, creating it (file first, then its record, durably) when
 * missing. Returns a referenced replica or NULL with *status set.
 */
static struct chunk_replica *replica_get_or_create(struct chunk_store *st, uint64_t pid,
						   uint64_t epoch, uint64_t lease_epoch,
						   bool thick, uint32_t state, int *status)
{
	struct chunk_replica *r;
	char name[32];
	int fd, rc;

	r = table_lookup(st, pid);
	if (r)
		return r;
	pthread_mutex_lock(&st->ddl_lock);
	/* the file name is the old replica's until its delete is done */
	while (table_deleting(st, pid))
		pthread_cond_wait(&st->gc_gone, &st->ddl_lock);
	r = table_lookup(st, pid);
	if (r)
		goto out;
	rep_name(pid, name, sizeof(name));
	fd = openat(st->rep_dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (ftruncate(fd, (off_t)ZBS_EXTENT_SIZE) < 0 ||
	    (thick && fallocate(fd, 0, 0, (off_t)ZBS_EXTENT_SIZE) < 0) ||
	    fsync(fd) < 0 || fsync(st->rep_dirfd) < 0) {
		rc = -errno;
		close(fd);
		unlinkat(st->rep_dirfd, name, 0);
		goto fail;
	}
	r = replica_new(pid, epoch, fd, thick);
	if (!r) {
		close(fd);
		unlinkat(st->rep_dirfd, name, 0);
		rc = -ENOMEM;
		goto fail;
	}
	r->lease_epoch = lease_epoch;
	r->state = state;
	r->meta_dirty = true;
	r->trk = state == ZBS_RSTATE_NORMAL;	/* from gen 0 */
	if (state == ZBS_RSTATE_RECOVERING) {
		r->dirty = calloc(1, DIRTY_BYTES);
		if (!r->dirty) {
			replica_put(r);
			unlinkat(st->rep_dirfd, name, 0);
			rc = -ENOMEM;
			goto fail;
		}
	}
	rc = persist(st, &r, 1, true);
	if (rc) {
		replica_put(r);
		unlinkat(st->rep_dirfd, name, 0);
		goto fail;
	}
	pthread_rwlock_wrlock(&st->table_lock);
	rc = table_insert_locked(st, r);
	pthread_rwlock_unlock(&st->table_lock);
	if (rc) {
		/* the record stays: a later create of pid overwrites it, and a
		 * restart loads it (meta then deletes what it does not know) */
		replica_put(r);
		goto fail;
	}
	log_info("replica %" PRIu64 " epoch %" PRIu64 " created%s", pid, epoch,
		 thick ? " (thick)" : "");
	replica_get(r);		/* the caller's; the table keeps the first */
	pthread_mutex_unlock(&st->ddl_lock);
	space_changed(st);	/* meta charged it a full extent until it hears */
	return r;
out:
	pthread_mutex_unlock(&st->ddl_lock);
	return r;
fail:
	pthread_mutex_unlock(&st->ddl_lock);
	log_err("replica %" PRIu64 ": cannot create: %s", pid, strerror(-rc));
	*status = errno_status(rc);
	return NULL;
}

/*
 * Accept the delete of replica pid at epoch: mark it deleted (from here on
 * it is neither served nor listed; it stays in the table, so a create of
 * the same pid waits until it is gone). Returns it referenced, or NULL with
 * *err -ENOENT (none, or its delete is already under way) or -ESTALE.
 */
static struct chunk_replica *replica_doom(struct chunk_store *st, uint64_t pid,
					  uint64_t epoch, int *err)
{
	struct chunk_replica *r;

	pthread_rwlock_wrlock(&st->table_lock);
	HASH_FIND(hh, st->table, &pid, sizeof(pid), r);
	if (!r || r->deleted) {
		*err = -ENOENT;
		r = NULL;
	} else if (r->epoch != epoch && !r->broken) {	/* a broken one's epoch is unknown */
		*err = -ESTALE;
		r = NULL;
	} else {
		pthread_mutex_lock(&r->lock);
		r->deleted = true;
		pthread_mutex_unlock(&r->lock);
		replica_get(r);
	}
	pthread_rwlock_unlock(&st->table_lock);
	return r;
}

/* Take back the deletes of n replicas (served and listed again). */
static void replica_undoom(struct chunk_store *st, struct chunk_replica **reps, size_t n)
{
	pthread_rwlock_wrlock(&st->table_lock);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&reps[i]->lock);
		reps[i]->deleted = false;
		pthread_mutex_unlock(&reps[i]->lock);
	}
	pthread_rwlock_unlock(&st->table_lock);
	pthread_mutex_lock(&st->ddl_lock);
	pthread_cond_broadcast(&st->gc_gone);	/* creates waiting on them find them */
	pthread_mutex_unlock(&st->ddl_lock);
}

/*
 * Freeing a deleted replica's file. On a filesystem mounted with online
 * discard (ext4 -o discard) the blocks a transaction frees are discarded
 * when it commits, and the commit waits for that: unlinking a file of 256
 * MiB held every other fdatasync on the filesystem (the clients' writes)
 * for 75-125 ms, against 5 ms without discard; cut in steps, under 10 ms
 * (ext4, fio 4k random writes with fdatasync beside). There the file is cut
 * from its end in steps of GC_SHRINK_STEP first, each made durable (its
 * own small commit and discard) and followed by a pause as long as it took
 * (at most GC_SHRINK_PAUSE_MAX_NS), so the clients' syncs get in between.
 */

/* The GC thread is asked to stop (the store is closing). */
static bool gc_stopping(struct chunk_store *st)
{
	bool stop;

	pthread_mutex_lock(&st->gc_lock);
	stop = st->gc_stop;
	pthread_mutex_unlock(&st->gc_lock);
	return stop;
}

/*
 * Wait until no IO holds r (deleted: none can start), so cutting its file
 * takes no data from under a read accepted before the delete; false when
 * some IO still does after GC_SHRINK_IDLE_MS. The caller's reference and
 * the table's are the only ones left then.
 */
static bool gc_replica_idle(struct chunk_replica *r)
{
	for (int ms = 0; atomic_load(&r->refs) > 2; ms++) {
		if (ms == GC_SHRINK_IDLE_MS)
			return false;
		usleep(1000);
	}
	return true;
}

/*
 * The end of the last extent the filesystem holds for fd (written or only
 * allocated, which SEEK_DATA does not see), at most size: the tail beyond
 * it is a hole, where a step would free nothing. size when the filesystem
 * has no FIEMAP (tmpfs).
 */
static off_t alloc_end(int fd, off_t size)
{
	uint64_t buf[(sizeof(struct fiemap) + 32 * sizeof(struct fiemap_extent)) / 8];
	struct fiemap *fm = (struct fiemap *)buf;
	uint64_t start = 0, end = 0;

	for (;;) {
		const struct fiemap_extent *e;

		memset(buf, 0, sizeof(buf));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_extent_count = 32;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0)
			return size;
		if (!fm->fm_mapped_extents)
			break;
		e = &fm->fm_extents[fm->fm_mapped_extents - 1];
		end = e->fe_logical + e->fe_length;
		if ((e->fe_flags & FIEMAP_EXTENT_LAST) || end >= (uint64_t)size)
			break;
		start = end;
	}
	return end < (uint64_t)size ? (off_t)end : size;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Cut the file of replica r (name in the replicas dir) from its end until
 * at most GC_SHRINK_STEP of it is allocated; the unlink frees the rest.
 * Errors are logged: the unlink then frees what is left at once.
 */
static void gc_shrink(struct chunk_store *st, struct chunk_replica *r, const char *name)
{
	int fd = r->fd, own = -1;

	if (!gc_replica_idle(r)) {
		log_info("replica %" PRIu64 ": IO still in flight after %d ms; its file is "
			 "unlinked at once", r->pid, GC_SHRINK_IDLE_MS);
		return;
	}
	if (fd < 0) {		/* loaded broken, or never opened (tests) */
		fd = own = openat(st->rep_dirfd, name, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT)
				log_warn("replica %" PRIu64 ": open to free it in steps: %m", r->pid);
			return;
		}
	}
	for (;;) {
		struct timespec pause;
		struct stat sb;
		int64_t t0, took;
		off_t end;

		if (gc_stopping(st))
			break;	/* closing: no client left to make room for */
		if (fstat(fd, &sb) < 0) {
			log_warn("replica %" PRIu64 ": stat to free it in steps: %m", r->pid);
			break;
		}
		if ((uint64_t)sb.st_blocks * 512 <= GC_SHRINK_STEP || !sb.st_size)
			break;	/* (the size: a filesystem slow to count blocks freed) */
		end = alloc_end(fd, sb.st_size);
		t0 = mono_ns();
		if (ftruncate(fd, end > (off_t)GC_SHRINK_STEP ? end - (off_t)GC_SHRINK_STEP : 0) < 0 ||
		    fdatasync(fd) < 0) {
			log_warn("replica %" PRIu64 ": freeing its file in steps: %m; unlinking it "
				 "at once", r->pid);
			break;
		}
		atomic_fetch_add(&st->gc_shrink_syncs, 1);
		took = mono_ns() - t0;
		if (took > GC_SHRINK_PAUSE_MAX_NS)
			took = GC_SHRINK_PAUSE_MAX_NS;
		pause.tv_sec = 0;
		pause.tv_nsec = (long)took;
		nanosleep(&pause, NULL);
	}
	if (own >= 0)
		close(own);
}

/*
 * Remove the file of replica r, whose record is durably gone (a crash from
 * here on leaves an orphan file, of any size, that the next open removes).
 * Runs without store locks: the data path never waits for it.
 */
static void gc_free_file(struct chunk_store *st, struct chunk_replica *r)
{
	char name[32];

	rep_name(r->pid, name, sizeof(name));
	if (st->online_discard)
		gc_shrink(st, r, name);
	if (unlinkat(st->rep_dirfd, name, 0) < 0 && errno != ENOENT)
		log_warn("replica %" PRIu64 ": unlink: %m", r->pid);
}

/*
 * Finish the deletes of n replicas marked deleted: remove their records in
 * one transaction made durable with one sync, then free each one's file
 * and drop it from the table. Takes over the callers' references. When the
 * metadata store fails the replicas are kept (served and listed again, so
 * meta sends its GC again) and -EIO is returned.
 */
static int gc_commit(struct chunk_store *st, struct chunk_replica **reps, size_t n)
{
	MDB_txn *txn = NULL;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t key[8];
		MDB_val k = { 8, key };

		key_of(reps[i]->pid, key);
		rc = mdb_del(txn, st->dbi_rep, &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc) {
		if (txn)
			mdb_txn_abort(txn);
	} else {
		rc = mdb_txn_commit(txn);
	}
	if (!rc)
		rc = mdb_env_sync(st->env, 1);
	atomic_fetch_add(&st->gc_commits, 1);
	if (rc) {
		log_err("store %s: deleting %zu replica(s) (pid %" PRIu64 "%s) failed: %s; "
			"they are kept", st->dir, n, reps[0]->pid, n > 1 ? " and others" : "",
			mdb_strerror(rc));
		replica_undoom(st, reps, n);
		for (size_t i = 0; i < n; i++)
			replica_put(reps[i]);
		return -EIO;
	}
	for (size_t i = 0; i < n; i++) {
		gc_free_file(st, reps[i]);
		/* one by one: freeing in steps takes a while per file, and a
		 * create of this pid waits only for this one */
		pthread_mutex_lock(&st->ddl_lock);
		table_remove(st, reps[i]);
		pthread_cond_broadcast(&st->gc_gone);
		pthread_mutex_unlock(&st->ddl_lock);
	}
	if (n == 1)
		log_info("replica %" PRIu64 " epoch %" PRIu64 " deleted", reps[0]->pid,
			 reps[0]->epoch);
	else
		log_info("%zu replicas deleted, pid %" PRIu64 " to %" PRIu64 " (one metadata commit)",
			 n, reps[0]->pid, reps[n - 1]->pid);
	for (size_t i = 0; i < n; i++) {
		if (n > 1)
			log_debug("replica %" PRIu64 " epoch %" PRIu64 " deleted", reps[i]->pid,
				  reps[i]->epoch);
		replica_put(reps[i]);
	}
	space_changed(st);
	return 0;
}

int chunk_store_delete_replica(struct chunk_store *st, uint64_t pid, uint64_t epoch)
{
	struct chunk_replica *r;
	int rc;

	r = replica_doom(st, pid, epoch, &rc);
	if (!r)
		return rc;
	return gc_commit(st, &r, 1);
}

/* The GC thread: the queued deletes in order, up to GC_BATCH per commit. */
static void *gc_main(void *arg)
{
	struct chunk_store *st = arg;
	struct chunk_replica *batch[GC_BATCH];

	pthread_mutex_lock(&st->gc_lock);
	for (;;) {
		size_t n;

		while (st->gc_head == st->gc_n && !st->gc_stop)
			pthread_cond_wait(&st->gc_work, &st->gc_lock);
		if (st->gc_head == st->gc_n)
			break;		/* stopping, and nothing left */
		n = st->gc_n - st->gc_head;
		if (n > GC_BATCH)
			n = GC_BATCH;
		memcpy(batch, st->gcq + st->gc_head, n * sizeof(*batch));
		st->gc_head += n;
		if (st->gc_head == st->gc_n)
			st->gc_head = st->gc_n = 0;
		st->gc_busy = true;
		pthread_mutex_unlock(&st->gc_lock);
		gc_commit(st, batch, n);	/* failures logged; meta sends the GC again */
		pthread_mutex_lock(&st->gc_lock);
		st->gc_busy = false;
		if (st->gc_head == st->gc_n)
			pthread_cond_broadcast(&st->gc_idle);
	}
	pthread_mutex_unlock(&st->gc_lock);
	return NULL;
}

int chunk_store_gc_delete(struct chunk_store *st, uint64_t pid, uint64_t epoch)
{
	struct chunk_replica *r;
	int rc = 0;

	r = replica_doom(st, pid, epoch, &rc);
	if (!r)
		return rc;
	pthread_mutex_lock(&st->gc_lock);
	if (st->gc_stop) {
		rc = -ESHUTDOWN;
	} else if (!st->gc_started) {
		rc = -pthread_create(&st->gc_thread, NULL, gc_main, st);
		st->gc_started = !rc;
		if (rc)
			log_err("store %s: cannot start the GC thread: %s", st->dir, strerror(-rc));
	}
	if (!rc && st->gc_n == st->gc_cap) {
		size_t cap = st->gc_cap ? 2 * st->gc_cap : 1024;
		struct chunk_replica **q = realloc(st->gcq, cap * sizeof(*q));

		if (q) {
			st->gcq = q;
			st->gc_cap = cap;
		} else {
			rc = -ENOMEM;
		}
	}
	if (!rc) {
		st->gcq[st->gc_n++] = r;
		pthread_cond_signal(&st->gc_work);
	}
	pthread_mutex_unlock(&st->gc_lock);
	if (rc) {
		replica_undoom(st, &r, 1);
		replica_put(r);
	}
	return rc;
}

void chunk_store_gc_wait(struct chunk_store *st)
{
	pthread_mutex_lock(&st->gc_lock);
	while (st->gc_head != st->gc_n || st->gc_busy)
		pthread_cond_wait(&st->gc_idle, &st->gc_lock);
	pthread_mutex_unlock(&st->gc_lock);
}

/* Stop the GC thread once it did every delete it accepted. */
static void gc_stop(struct chunk_store *st)
{
	bool started;

	pthread_mutex_lock(&st->gc_lock);
	st->gc_stop = true;
	started = st->gc_started;
	pthread_cond_signal(&st->gc_work);
	pthread_mutex_unlock(&st->gc_lock);
	if (started)
		pthread_join(st->gc_thread, NULL);
}

/* ---- queries -------------------------------------------------------- */

const char *chunk_store_uuid(const struct chunk_store *st)
{
	return st->uuid;
}

int chunk_store_foreach_replica(struct chunk_store *st,
				int (*cb)(const struct chunk_replica_info *, void *arg), void *arg)
{
	struct chunk_replica **v;
	unsigned n, i;
	int rc = 0;

	v = table_snapshot(st, &n);
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct chunk_replica_info info;

		pthread_mutex_lock(&v[i]->lock);
		replica_fill_info(v[i], &info);
		pthread_mutex_unlock(&v[i]->lock);
		if (!rc)
			rc = cb(&info, arg);
		replica_put(v[i]);
	}
	free(v);
	return rc;
}

int chunk_store_get_replica(struct chunk_store *st, uint64_t pid, struct chunk_replica_info *out)
{
	struct chunk_replica *r = table_lookup(st, pid);

	if (!r)
		return -ENOENT;
	pthread_mutex_lock(&r->lock);
	replica_fill_info(r, out);
	pthread_mutex_unlock(&r->lock);
	replica_put(r);
	return 0;
}

void chunk_store_set_capacity(struct chunk_store *st, uint64_t bytes)
{
	st->capacity = bytes;
}

void chunk_store_set_space_hook(struct chunk_store *st, void (*fn)(void *), void *arg)
{
	st->space_arg = arg;
	st->space_hook = fn;
}

int chunk_store_space(struct chunk_store *st, struct chunk_space_info *out)
{
	struct chunk_replica **v;
	struct statvfs sv;
	uint64_t used = 0, thin = 0, total, avail;
	unsigned n;

	if (statvfs(st->dir, &sv) < 0)
		return -errno;
	v = table_snapshot(st, &n);
	if (!v)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a;

		pthread_mutex_lock(&v[i]->lock);
		a = (uint64_t)v[i]->alloc_blocks * ZBS_BLOCK_SIZE;
		pthread_mutex_unlock(&v[i]->lock);
		if (v[i]->thick) {
			used += ZBS_EXTENT_SIZE;
		} else {
			used += a;
			thin += a;
		}
		replica_put(v[i]);
	}
	free(v);
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (st->capacity && st->capacity < total)
		total = st->capacity;
	out->total = total & ~(uint64_t)(ZBS_BLOCK_SIZE - 1);
	/* what this chunk can hold: what it holds plus what it may still take */
	out->valid = used + avail < total ? used + avail : total;
	out->valid &= ~(uint64_t)(ZBS_BLOCK_SIZE - 1);
	out->used = used;
	out->thin_used = thin;
	return 0;
}

int chunk_store_flush(struct chunk_store *st)
{
	struct chunk_replica **v;
	unsigned n;
	int rc = 0;

	v = table_snapshot(st, &n);
	if (!v)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct chunk_replica *r = v[i];

		int d = atomic_exchange(&r->data_dirty, 0);

		if (d && ((d & DIRTY_LAYOUT) ? fsync(r->fd) : fdatasync(r->fd)) < 0) {
			rc = -errno;
			log_err("replica %" PRIu64 ": fdatasync: %m", r->pid);
			pthread_mutex_lock(&r->lock);
			r->state = ZBS_RSTATE_ERROR;
			r->meta_dirty = true;
			pthread_mutex_unlock(&r->lock);
		}
	}
	if (persist(st, v, n, true) < 0 && !rc)
		rc = -EIO;
	for (unsigned i = 0; i < n; i++)
		replica_put(v[i]);
	free(v);
	return rc;
}

/* ---- request execution ---------------------------------------------- */

/* Mark the 512 B sectors of [off, off+len) dirty. Caller holds r->lock. */
static void dirty_mark(struct chunk_replica *r, uint64_t off, uint32_t len)
{
	for (uint64_t s = off / ZBS_SECTOR_SIZE; s < (off + len) / ZBS_SECTOR_SIZE; s++)
		r->dirty[s / 8] |= (uint8_t)(1U << (s % 8));
}

static bool dirty_test(const struct chunk_replica *r, uint64_t s)
{
	return r->dirty[s / 8] & (1U << (s % 8));
}

/* Wait for the RECOVER_WRITEs writing into [off, off+len) now: a foreground
 * write there (they checked its sectors before it marked them), RECOVER_BEGIN
 * and RECOVER_END (the whole extent). Caller holds r->lock. */
static void copy_wait(struct chunk_replica *r, uint64_t off, uint32_t len)
{
	uint64_t s0 = off / ZBS_SECTOR_SIZE, s1 = (off + len + ZBS_SECTOR_SIZE - 1) / ZBS_SECTOR_SIZE;

	for (;;) {
		struct copy_range *c;

		for (c = r->copying; c; c = c->next)
			if (c->s0 < s1 && s0 < c->s0 + c->n)
				break;
		if (!c)
			return;
		pthread_cond_wait(&r->copy_cv, &r->lock);
	}
}

/*
 * A write with gen g accepted on [off, off+len): remember it per block for
 * agile recovery (ZBS_BF_SINCE). Caller holds r->lock.
 */
static void track_write(struct chunk_replica *r, uint64_t g, uint64_t off, uint64_t len)
{
	uint64_t d = g - r->trk_since + 1;
	uint32_t v = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;

	if (!r->trk || !len)
		return;
	if (!r->wgen && !(r->wgen = calloc(ZBS_BLOCKS_PER_EXTENT, sizeof(*r->wgen)))) {
		r->trk = false;		/* a full recovery will do */
		return;
	}
	for (uint64_t b = off / ZBS_BLOCK_SIZE; b <= (off + len - 1) / ZBS_BLOCK_SIZE; b++)
		r->wgen[b] = v;
}

/* The blocks written with a gen >= since (ZBS_BF_SINCE); ZBS_ST_OK or
 * ZBS_ST_UNTRACKED. Caller holds r->lock. */
static int tracked_since(const struct chunk_replica *r, uint64_t since, uint8_t *map)
{
	uint64_t d;

	if (!r->trk || since < r->trk_since || r->state != ZBS_RSTATE_NORMAL)
		return ZBS_ST_UNTRACKED;
	memset(map, 0, BITMAP_BYTES);
	if (!r->wgen)
		return ZBS_ST_OK;
	d = since - r->trk_since + 1;
	for (unsigned b = 0; b < ZBS_BLOCKS_PER_EXTENT; b++)
		if (r->wgen[b] && r->wgen[b] >= d)
			map[b / 8] |= (uint8_t)(1U << (b % 8));
	return ZBS_ST_OK;
}

/* Fencing: READ with lease_epoch 0 is unfenced. */
static bool fenced(const struct chunk_replica *r, const struct zbs_req *req)
{
	if (req->opcode == ZBS_OP_GET_INFO || req->opcode == ZBS_OP_GET_BLOCK_MAP ||
	    (req->opcode == ZBS_OP_READ && req->lease_epoch == 0))
		return false;
	return req->lease_epoch < r->lease_epoch;
}

int chunk_store_io_begin(struct chunk_store *st, const struct zbs_req *req,
			 struct chunk_store_io *io, struct zbs_reply *rep)
{
	struct chunk_replica *r;
	int rc = ZBS_ST_OK;
	bool nospc = false;

	memset(rep, 0, sizeof(*rep));
	rep->opcode = req->opcode;
	rep->id = req->id;
	memset(io, 0, sizeof(*io));
	r = table_lookup(st, req->pid);
	if (!r) {
		rep->status = ZBS_ST_NOENT;
		return ZBS_ST_NOENT;
	}
	pthread_mutex_lock(&r->lock);
	if (r->broken) {
		rc = ZBS_ST_IO;
	} else if (r->epoch != req->epoch) {
		rc = ZBS_ST_EPOCH;
	} else if (fenced(r, req)) {
		rc = ZBS_ST_STALE;
	} else if (r->state == ZBS_RSTATE_ERROR) {
		rc = ZBS_ST_IO;
	} else if (req->opcode == ZBS_OP_READ) {
		if (r->state != ZBS_RSTATE_NORMAL)
			rc = ZBS_ST_RECOVERING;
	} else if (r->state == ZBS_RSTATE_NORMAL) {
		uint32_t nb = 0;

		if (req->gen != r->next_gen) {
			rc = ZBS_ST_GEN;
		} else if (req->opcode == ZBS_OP_WRITE && !r->thick &&
			   (nb = replica_new_blocks(r, req->offset, req->length)) &&
			   !store_has_room(st, nb)) {
			rc = ZBS_ST_NOSPC;
			nospc = true;
		} else {
			io->gen = r->next_gen++;
			io->counted = true;
			track_write(r, io->gen, req->offset, req->length);
		}
	} else if (r->dirty) {	/* recovering: foreground write, no gen check */
		dirty_mark(r, req->offset, req->length);
		copy_wait(r, req->offset, req->length);
	}
	if (rc == ZBS_ST_OK && req->opcode != ZBS_OP_READ)
		replica_alloc(st, r, req->offset, req->length);	/* recovery copies it */
	if (rc != ZBS_ST_OK) {
		replica_fill_reply(r, rep);
		rep->status = (uint32_t)rc;
		pthread_mutex_unlock(&r->lock);
		replica_put(r);
		if (nospc)
			space_changed(st);	/* meta should stop placing here */
		return rc;
	}
	pthread_mutex_unlock(&r->lock);
	io->r = r;
	io->req = *req;
	io->direct = r->dfd >= 0;
	io->fd = io->direct ? r->dfd : r->fd;
	return ZBS_ST_OK;
}

void chunk_store_io_end(struct chunk_store *st, struct chunk_store_batch *b,
			struct chunk_store_io *io, void *buf, int res, struct zbs_reply *rep)
{
	struct chunk_replica *r = io->r;
	const struct zbs_req *req = &io->req;
	bool zeroes = req->opcode == ZBS_OP_WRITE_ZEROES;
	bool write = req->opcode == ZBS_OP_WRITE || zeroes;
	uint32_t done = res > 0 ? (uint32_t)res : 0;
	int rc = 0;

	memset(rep, 0, sizeof(*rep));
	rep->opcode = req->opcode;
	rep->id = req->id;
	if (res < 0 && (res != -EINVAL || zeroes))
		rc = res;
	else if (done < req->length) {
		/* short, or refused by O_DIRECT (alignment): finish buffered */
		char *p = (char *)buf + done;
		off_t off = (off_t)(req->offset + done);

		rc = write ? pwrite_full(r->fd, p, req->length - done, off)
			   : pread_full(r->fd, p, req->length - done, off);
		io->dsync = false;
	}
	if (write && !zeroes && !rc && zbs_log_enabled(ZBS_LOG_DEBUG)) {
		/* what each replica took, comparable across chunks (tests) */
		uint64_t h = 1469598103934665603ULL;

		for (uint32_t i = 0; i < req->length; i++)
			h = (h ^ ((const uint8_t *)buf)[i]) * 1099511628211ULL;
		log_debug("write pid %llu gen %llu off %llu len %u fnv %016llx",
			  (unsigned long long)req->pid, (unsigned long long)req->gen,
			  (unsigned long long)req->offset, req->length, (unsigned long long)h);
	}
	if (write) {
		atomic_fetch_or(&r->data_dirty, zeroes ? DIRTY_DATA | DIRTY_LAYOUT : DIRTY_DATA);
		if (!rc && (req->flags & ZBS_WF_FUA) && !io->dsync &&
		    (zeroes ? fsync(r->fd) : fdatasync(r->fd)) < 0)
			rc = -errno;
	}

	pthread_mutex_lock(&r->lock);
	if (rc) {
		log_err("replica %" PRIu64 ": %s at %" PRIu64 "+%u: %s%s", r->pid,
			zeroes ? "write-zeroes" : write ? "write" : "read", req->offset, req->length, strerror(-rc),
			write ? "; replica now in error" : "");
		if (write) {
			r->state = ZBS_RSTATE_ERROR;
			r->meta_dirty = true;
		}
		rc = errno_status(rc);
	} else if (io->counted && replica_complete(r, io->gen) < 0) {
		r->state = ZBS_RSTATE_ERROR;
		r->meta_dirty = true;
		rc = ZBS_ST_IO;
	}
	if (write) {
		batch_add(st, b, r);
		if (req->flags & ZBS_WF_FUA)
			b->sync = true;
	}
	replica_fill_reply(r, rep);
	pthread_mutex_unlock(&r->lock);
	rep->status = (uint32_t)rc;
	rep->length = !rc && !write ? req->length : 0;
	replica_put(r);
	io->r = NULL;
}

/*
 * The calling thread's aligned buffer of ZBS_WIRE_MAX_IO bytes for the
 * data IO it does through a bounce buffer (a RECOVER_WRITE's payload, and
 * READ/WRITE without io_uring, sit unaligned for O_DIRECT), kept until the
 * thread ends: one of that size allocated per request is an mmap of its
 * own, with page faults at its first touch and a TLB shootdown of every
 * CPU at its munmap. NULL when out of memory.
 */
static pthread_key_t rw_buf_key;
static pthread_once_t rw_buf_once = PTHREAD_ONCE_INIT;

static void rw_buf_key_init(void)
{
	if (pthread_key_create(&rw_buf_key, free))
		abort();
}

static void *rw_buf(void)
{
	void *p;

	pthread_once(&rw_buf_once, rw_buf_key_init);
	p = pthread_getspecific(rw_buf_key);
	if (!p && !posix_memalign(&p, 4096, ZBS_WIRE_MAX_IO) &&
	    pthread_setspecific(rw_buf_key, p)) {
		free(p);
		p = NULL;
	}
	return p;
}

/* READ/WRITE executed synchronously through the asynchronous API. */
static void sync_io(struct chunk_store *st, struct chunk_store_batch *b, const struct zbs_req *req,
		    const void *payload, void *out, struct zbs_reply *rep)
{
	struct chunk_store_io io;
	void *buf;
	int res;

	if (chunk_store_io_begin(st, req, &io, rep) != ZBS_ST_OK)
		return;
	/* through an aligned bounce buffer, so all data IO uses the same fd
	 * (O_DIRECT) and never mixes with the page cache */
	buf = rw_buf();
	if (!buf) {
		chunk_store_io_end(st, b, &io, out, -ENOMEM, rep);
		return;
	}
	if (req->opcode == ZBS_OP_WRITE) {
		memcpy(buf, payload, req->length);
		res = (int)pwrite(io.fd, buf, req->length, (off_t)req->offset);
	} else {
		res = (int)pread(io.fd, buf, req->length, (off_t)req->offset);
	}
	if (res < 0)
		res = -errno;
	chunk_store_io_end(st, b, &io, buf, res, rep);	/* finishes short transfers */
	if (req->opcode == ZBS_OP_READ && rep->status == ZBS_ST_OK)
		memcpy(out, buf, req->length);
}

/* Write [buf, buf+len) at off, O_DIRECT when possible (buf 4096-aligned). */
static int replica_pwrite(struct chunk_replica *r, const void *buf, size_t len, off_t off)
{
	if (r->dfd >= 0) {
		ssize_t n = pwrite(r->dfd, buf, len, off);

		if (n == (ssize_t)len)
			return 0;
		if (n < 0 && errno != EINVAL)
			return -errno;
		if (n > 0) {		/* short: finish buffered */
			buf = (const char *)buf + n;
			len -= (size_t)n;
			off += n;
		}
	}
	return pwrite_full(r->fd, buf, len, off);
}

/* fallocate(2) errors that mean "this filesystem cannot do that mode" */
static bool falloc_unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOSYS || err == EINVAL;
}

/*
 * Make [off, off+len) of a replica file read as zeros: a thin replica
 * punches a hole (the space goes back to the filesystem), a thick one
 * zeroes the range keeping its blocks (where the filesystem has no zero
 * range, e.g. tmpfs: punch, then allocate again); where the filesystem
 * takes neither, zeros are written. 0 or -errno.
 */
static int replica_zero_range(struct chunk_replica *r, uint64_t off, uint32_t len)
{
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	void *zeros;
	int rc = 0;

	if (r->thick) {
		if (fallocate(r->fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) == 0)
			return 0;
		if (falloc_unsupported(errno) &&
		    fallocate(r->fd, punch, (off_t)off, (off_t)len) == 0)
			return fallocate(r->fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0
			       ? 0 : -errno;
	} else if (fallocate(r->fd, punch, (off_t)off, (off_t)len) == 0) {
		return 0;
	}
	if (!falloc_unsupported(errno))
		return -errno;
	if (posix_memalign(&zeros, 4096, ZERO_BUF))
		return -ENOMEM;
	memset(zeros, 0, ZERO_BUF);
	while (len && !rc) {
		uint32_t n = len < ZERO_BUF ? len : ZERO_BUF;

		rc = replica_pwrite(r, zeros, n, (off_t)off);
		off += n;
		len -= n;
	}
	free(zeros);
	return rc == -EINVAL ? -EIO : rc;	/* -EINVAL would mean a short write */
}

/*
 * A full recovery starts from an empty replica: what an existing one holds
 * (an older copy, maybe with writes the source never took) must not stay in
 * blocks the copy does not cover. Caller holds r->lock.
 */
static int replica_reset(struct chunk_store *st, struct chunk_replica *r)
{
	int rc = replica_zero_range(r, 0, ZBS_EXTENT_SIZE);

	if (rc < 0) {
		log_err("replica %" PRIu64 ": cannot empty it for a recovery: %s", r->pid,
			strerror(-rc));
		return rc;
	}
	if (!r->thick && !r->unlisted)
		atomic_fetch_sub(&st->used_blocks, r->alloc_blocks);
	memset(r->bitmap, 0, BITMAP_BYTES);
	r->alloc_blocks = 0;
	r->meta_dirty = true;
	atomic_fetch_or(&r->data_dirty, DIRTY_DATA | DIRTY_LAYOUT);
	return 0;
}

/* WRITE_ZEROES: the rules and gen accounting of a WRITE, without data. */
static void write_zeroes(struct chunk_store *st, struct chunk_store_batch *b,
			 const struct zbs_req *req, struct zbs_reply *rep)
{
	struct chunk_store_io io;
	int res;

	if (chunk_store_io_begin(st, req, &io, rep) != ZBS_ST_OK)
		return;
	res = replica_zero_range(io.r, req->offset, req->length);
	chunk_store_io_end(st, b, &io, NULL, res < 0 ? res : (int)req->length, rep);
}

/* tests (test_store.c includes this file): called where a RECOVER_WRITE
 * has checked its sectors and writes them, without r->lock; and with the
 * length of each of its pwrites */
static void (*copy_write_hook)(void);
static void (*copy_piece_hook)(size_t len);

static int do_recover_write(struct chunk_store *st, struct chunk_store_batch *b,
			    struct chunk_replica *r, const struct zbs_req *req,
			    const void *payload)
{
	uint64_t s0 = req->offset / ZBS_SECTOR_SIZE, n = req->length / ZBS_SECTOR_SIZE;
	uint8_t skip[ZBS_WIRE_MAX_IO / ZBS_SECTOR_SIZE / 8] = { 0 };
	struct copy_range self = { .s0 = s0, .n = n }, **pp;
	const uint64_t piece = r->dfd >= 0 ? n : COPY_PIECE / ZBS_SECTOR_SIZE;
	const char *data = payload;
	int rc = 0;

	if (n > sizeof(skip) * 8)
		return ZBS_ST_INVAL;
	if (r->dfd >= 0) {		/* O_DIRECT: an aligned buffer */
		char *buf = rw_buf();

		if (!buf)
			return ZBS_ST_IO;
		memcpy(buf, payload, req->length);
		data = buf;
	}

	/*
	 * The sectors a foreground write marked dirty are skipped; the others
	 * are written without the lock held (a client's write to the replica
	 * does not wait for the copy's), and a foreground write marking one of
	 * them meanwhile waits until these writes are done (copy_wait), so it
	 * lands after them.
	 */
	pthread_mutex_lock(&r->lock);
	if (r->state != ZBS_RSTATE_RECOVERING || !r->dirty) {
		rc = r->state == ZBS_RSTATE_ERROR ? ZBS_ST_IO : ZBS_ST_RECOVERING;
		pthread_mutex_unlock(&r->lock);
		return rc;
	}
	for (uint64_t i = 0; i < n; i++)
		if (dirty_test(r, s0 + i))
			skip[i / 8] |= (uint8_t)(1U << (i % 8));
	self.next = r->copying;
	r->copying = &self;
	pthread_mutex_unlock(&r->lock);
	if (copy_write_hook)
		copy_write_hook();

	for (uint64_t i = 0; i < n && !rc;) {
		uint64_t j;

		if (skip[i / 8] & (1U << (i % 8))) {
			i++;
			continue;
		}
		for (j = i; j < n && j - i < piece && !(skip[j / 8] & (1U << (j % 8))); j++)
			;
		if (copy_piece_hook)
			copy_piece_hook((size_t)(j - i) * ZBS_SECTOR_SIZE);
		rc = replica_pwrite(r, data + i * ZBS_SECTOR_SIZE,
				    (size_t)(j - i) * ZBS_SECTOR_SIZE,
				    (off_t)((s0 + i) * ZBS_SECTOR_SIZE));
		i = j;
	}
	atomic_fetch_or(&r->data_dirty, DIRTY_DATA);
	if (!rc && (req->flags & ZBS_WF_FUA) && fdatasync(r->fd) < 0)
		rc = -errno;

	pthread_mutex_lock(&r->lock);
	for (pp = &r->copying; *pp != &self; pp = &(*pp)->next)
		;
	*pp = self.next;
	pthread_cond_broadcast(&r->copy_cv);
	if (rc) {
		log_err("replica %" PRIu64 ": recovery write: %s", r->pid, strerror(-rc));
		r->state = ZBS_RSTATE_ERROR;
		r->meta_dirty = true;
		rc = errno_status(rc);
	} else {
		replica_alloc(st, r, req->offset, req->length);
	}
	pthread_mutex_unlock(&r->lock);
	batch_add(st, b, r);
	if (req->flags & ZBS_WF_FUA)
		b->sync = true;
	return rc;
}

void chunk_store_exec(struct chunk_store *st, struct chunk_store_batch *b,
		      const struct zbs_req *req, const void *payload, void *out, struct zbs_reply *rep)
{
	struct chunk_replica *r = NULL;
	int rc = ZBS_ST_OK;

	memset(rep, 0, sizeof(*rep));
	rep->opcode = req->opcode;
	rep->id = req->id;

	switch (req->opcode) {
	case ZBS_OP_READ:
	case ZBS_OP_WRITE:
		sync_io(st, b, req, payload, out, rep);
		return;
	case ZBS_OP_WRITE_ZEROES:
		write_zeroes(st, b, req, rep);
		return;
	case ZBS_OP_FLUSH:
		rc = chunk_store_batch_commit(st, b);
		if (!rc && chunk_store_flush(st) < 0)
			rc = ZBS_ST_IO;
		goto out;
	case ZBS_OP_SYNC:
	case ZBS_OP_RECOVER_BEGIN:
		if ((req->opcode == ZBS_OP_SYNC && !(req->flags & ZBS_SF_CREATE)) ||
		    (req->flags & ZBS_RF_AGILE)) {
			/* lost or never created: never a fresh gen 0 here; an
			 * agile recovery needs the replica it catches up */
			r = table_lookup(st, req->pid);
			if (!r)
				rc = ZBS_ST_NOENT;
			break;
		}
		r = replica_get_or_create(st, req->pid, req->epoch, req->lease_epoch,
					  req->flags & ZBS_SF_THICK,
					  req->opcode == ZBS_OP_SYNC ? ZBS_RSTATE_NORMAL
								     : ZBS_RSTATE_RECOVERING,
					  &rc);
		break;
	default:
		r = table_lookup(st, req->pid);
		if (!r)
			rc = ZBS_ST_NOENT;
		break;
	}
	if (!r)
		goto out;
	if (r->broken) {	/* a failed replica to every owner, whatever its epoch */
		rc = ZBS_ST_IO;
		goto out_info;
	}
	if (r->epoch != req->epoch) {
		rc = ZBS_ST_EPOCH;
		goto out_info;
	}

	/* fencing */
	{
		pthread_mutex_lock(&r->lock);
		if (fenced(r, req))
			rc = ZBS_ST_STALE;
		pthread_mutex_unlock(&r->lock);
		if (rc)
			goto out_info;
	}

	switch (req->opcode) {
	case ZBS_OP_RECOVER_WRITE:
		rc = do_recover_write(st, b, r, req, payload);
		break;
	case ZBS_OP_SYNC:
	case ZBS_OP_RECOVER_BEGIN:
		pthread_mutex_lock(&r->lock);
		if (req->lease_epoch > r->lease_epoch) {
			r->lease_epoch = req->lease_epoch;
			r->meta_dirty = true;
		}
		if (req->opcode == ZBS_OP_RECOVER_BEGIN) {
			/* every RECOVER_WRITE writing now (of a failed cmd)
			 * ends first: none lands in the emptied replica */
			copy_wait(r, 0, ZBS_EXTENT_SIZE);
			if (r->state == ZBS_RSTATE_ERROR) {
				rc = ZBS_ST_IO;
			} else if ((req->flags & ZBS_RF_AGILE) &&
				   (r->gen != req->gen || r->next_gen != r->gen)) {
				/* not the replica the agile recovery was planned on */
				rc = ZBS_ST_GEN;
			} else if (!(req->flags & ZBS_RF_AGILE) && r->alloc_blocks &&
				   replica_reset(st, r) < 0) {
				rc = ZBS_ST_IO;
			} else {
				if (!r->dirty)
					r->dirty = malloc(DIRTY_BYTES);
				if (!r->dirty) {
					rc = ZBS_ST_IO;
				} else {
					memset(r->dirty, 0, DIRTY_BYTES);
					if (r->state != ZBS_RSTATE_RECOVERING)
						r->meta_dirty = true;
					r->state = ZBS_RSTATE_RECOVERING;
					r->trk = false;	/* changes outside gen order */
				}
			}
		}
		pthread_mutex_unlock(&r->lock);
		batch_add(st, b, r);
		b->sync = true;		/* the fencing token must survive a crash */
		break;
	case ZBS_OP_RECOVER_END:
		pthread_mutex_lock(&r->lock);
		/* every RECOVER_WRITE writing now ends first: a normal
		 * replica's client writes never wait for one */
		copy_wait(r, 0, ZBS_EXTENT_SIZE);
		if (r->state != ZBS_RSTATE_RECOVERING || !r->dirty) {
			rc = r->state == ZBS_RSTATE_ERROR ? ZBS_ST_IO : ZBS_ST_RECOVERING;
		} else if (fdatasync(r->fd) < 0) {
			rc = ZBS_ST_IO;
		} else {
			r->gen = r->next_gen = req->gen;
			r->ndone = 0;
			r->state = ZBS_RSTATE_NORMAL;
			r->trk_since = req->gen;
			r->trk = true;
			if (r->wgen)
				memset(r->wgen, 0, ZBS_BLOCKS_PER_EXTENT * sizeof(*r->wgen));
			free(r->dirty);
			r->dirty = NULL;
			r->meta_dirty = true;
		}
		pthread_mutex_unlock(&r->lock);
		batch_add(st, b, r);
		b->sync = true;
		break;
	case ZBS_OP_GET_BLOCK_MAP:
		pthread_mutex_lock(&r->lock);
		if (req->flags & ZBS_BF_SINCE)
			rc = tracked_since(r, req->gen, out);
		else
			memcpy(out, r->bitmap, BITMAP_BYTES);
		pthread_mutex_unlock(&r->lock);
		rep->length = rc ? 0 : BITMAP_BYTES;
		break;
	case ZBS_OP_GET_INFO:
	default:
		break;
	}
out_info:
	pthread_mutex_lock(&r->lock);
	replica_fill_reply(r, rep);
	pthread_mutex_unlock(&r->lock);
	replica_put(r);
out:
	rep->status = (uint32_t)rc;
	if (rc)
		rep->length = 0;
}

/* ---- open / close --------------------------------------------------- */

static int read_small_file(int dirfd, const char *name, char *buf, size_t len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return (int)n;
}

static int write_file_durable(int dirfd, const char *name, const char *text)
{
	char tmp[64];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (pwrite_full(fd, text, strlen(text), 0) < 0 || fsync(fd) < 0) {
		int e = -errno;

		close(fd);
		return e ? e : -EIO;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, name) < 0 || fsync(dirfd) < 0)
		return -errno;
	return 0;
}

/*
 * LMDB flags of the metadata store. Every commit (one per batch of writes)
 * reaches the file before its replies go out, so it survives the process
 * dying; what must also survive power loss is made durable by
 * mdb_env_sync(env, 1) before it is acknowledged: FLUSH, FUA writes, SYNC
 * and RECOVER_BEGIN/END (lease_epoch, gen, state), create and delete.
 *
 * In between, a power cut must not corrupt the store. lmdb.h: MDB_NOSYNC
 * "means a system crash can corrupt the database", and keeps integrity only
 * "if the filesystem preserves write order and the MDB_WRITEMAP flag is not
 * used" (page-cache writeback on ext4 or XFS preserves no such order: it
 * goes by file offset, the meta pages first). MDB_NOMETASYNC instead
 * "maintains database integrity, but a system crash may undo the last
 * committed transaction": a commit writes and fdatasyncs its pages, then
 * writes its meta page without syncing it; that one is synced by the next
 * commit or mdb_env_sync. The price is one fdatasync per commit. No
 * MDB_WRITEMAP: with it the kernel may write back the map's dirty pages
 * in any order and at any time.
 */
#define STORE_MDB_FLAGS		(MDB_NOMETASYNC | MDB_NOTLS)

static int open_env(struct chunk_store *st, bool create)
{
	char path[4096];
	MDB_txn *txn = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/meta", st->dir);
	if (create && mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	rc = mdb_env_create(&st->env);
	if (!rc)
		rc = mdb_env_set_maxdbs(st->env, 4);
	if (!rc)
		rc = mdb_env_set_mapsize(st->env, 1ULL << 30);
	if (!rc)
		rc = mdb_env_open(st->env, path, STORE_MDB_FLAGS, 0600);
	if (rc) {
		log_err("%s: cannot open metadata store: %s", path, mdb_strerror(rc));
		if (st->env)
			mdb_env_close(st->env);
		st->env = NULL;
		return -EIO;
	}
	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (!rc)
		rc = mdb_dbi_open(txn, "super", create ? MDB_CREATE : 0, &st->dbi_super);
	if (!rc)
		rc = mdb_dbi_open(txn, "replicas", create ? MDB_CREATE : 0, &st->dbi_rep);
	if (rc) {
		if (txn)
			mdb_txn_abort(txn);
		log_err("%s: metadata store is corrupt or incomplete: %s", path, mdb_strerror(rc));
		return -EIO;
	}
	if (create) {
		struct super_rec s = { .magic = SUPER_MAGIC, .format = STORE_FORMAT };
		MDB_val k = { 5, "super" }, v = { sizeof(s), &s };

		snprintf(s.uuid, sizeof(s.uuid), "%s", st->uuid);
		rc = mdb_put(txn, st->dbi_super, &k, &v, 0);
		if (rc) {
			mdb_txn_abort(txn);
			log_err("%s: cannot initialize: %s", path, mdb_strerror(rc));
			return -EIO;
		}
	}
	rc = mdb_txn_commit(txn);
	if (!rc)
		rc = mdb_env_sync(st->env, 1);
	if (rc) {
		log_err("%s: %s", path, mdb_strerror(rc));
		return -EIO;
	}
	return 0;
}

static uint64_t pid_of(const uint8_t key[8])
{
	uint64_t pid = 0;

	for (int i = 0; i < 8; i++)
		pid = pid << 8 | key[i];
	return pid;
}

/*
 * Check the stored record v of pid into rec. NULL when sound, else what is
 * wrong (in why); *epoch is the record's epoch when the record is at least
 * recognizably this replica's, else 0.
 */
static const char *rec_check(const MDB_val *v, uint64_t pid, struct replica_rec *rec,
			     uint64_t *epoch, char *why, size_t len)
{
	*epoch = 0;
	if (v->mv_size != sizeof(*rec)) {
		snprintf(why, len, "%zu bytes, not %zu", v->mv_size, sizeof(*rec));
		return why;
	}
	memcpy(rec, v->mv_data, sizeof(*rec));
	if (rec->magic != REC_MAGIC) {
		snprintf(why, len, "bad magic 0x%08x", rec->magic);
		return why;
	}
	if (rec->format != STORE_FORMAT) {
		snprintf(why, len, "format %u, not %u", rec->format, STORE_FORMAT);
		return why;
	}
	if (rec->pid != pid) {
		snprintf(why, len, "it names pid %" PRIu64, rec->pid);
		return why;
	}
	*epoch = rec->epoch;
	if (rec->state > ZBS_RSTATE_ERROR) {
		snprintf(why, len, "impossible state %u", rec->state);
		return why;
	}
	if (rec->flags & ~REC_F_THICK) {
		snprintf(why, len, "unknown flags 0x%x", rec->flags);
		return why;
	}
	return NULL;
}

/*
 * A replica whose record is corrupt: without a trustworthy gen, lease_epoch
 * or block map it must not serve, nor stop the chunk serving the others.
 * It stays in the table in state ERROR (its file is no orphan), answers
 * every request but DELETE with ZBS_ST_IO, which owners take for a replica
 * failure, is left out of the data report to meta, and is never written
 * back: the record stays as found until DELETE removes it with the file.
 */
static int add_broken(struct chunk_store *st, uint64_t pid, uint64_t epoch, const char *why)
{
	struct chunk_replica *r = replica_new(pid, epoch, -1, false);

	log_err("%s: replica %" PRIu64 ": corrupt metadata record (%s): replica failed, "
		"not served until deleted", st->dir, pid, why);
	if (!r)
		return -ENOMEM;
	r->state = ZBS_RSTATE_ERROR;
	r->broken = true;
	if (table_insert_locked(st, r)) {	/* single-threaded at open */
		replica_put(r);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Load and check every replica record against its file. A bad record fails
 * its replica only (add_broken); a record without a pid for key sets
 * *keep_orphans (the file it described must not be taken for an orphan).
 * Whole-store problems refuse the start.
 */
static int load_replicas(struct chunk_store *st, unsigned *nbroken, bool *keep_orphans)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret = 0;

	*nbroken = 0;
	*keep_orphans = false;
	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		goto mdb_fail;
	{
		struct super_rec s;
		MDB_val sk = { 5, "super" };

		rc = mdb_get(txn, st->dbi_super, &sk, &v);
		if (rc || v.mv_size != sizeof(s)) {
			mdb_txn_abort(txn);
			log_err("%s: corrupt data dir: chunk identity missing from metadata", st->dir);
			return -EUCLEAN;
		}
		memcpy(&s, v.mv_data, sizeof(s));
		s.uuid[sizeof(s.uuid) - 1] = 0;
		if (s.magic != SUPER_MAGIC || s.format != STORE_FORMAT) {
			mdb_txn_abort(txn);
			log_err("%s: corrupt data dir or unknown format %u", st->dir, s.format);
			return -EUCLEAN;
		}
		if (strcmp(s.uuid, st->uuid) != 0) {
			mdb_txn_abort(txn);
			log_err("%s: metadata belongs to chunk %s but chunk-id says %s: refusing",
				st->dir, s.uuid, st->uuid);
			return -EUCLEAN;
		}
	}
	rc = mdb_cursor_open(txn, st->dbi_rep, &cur);
	if (rc) {
		mdb_txn_abort(txn);
		goto mdb_fail;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		struct replica_rec rec;
		struct chunk_replica *r;
		struct stat sb;
		uint64_t pid, epoch;
		char name[32], why[64];
		const char *bad;
		int fd;

		if (k.mv_size != 8) {
			log_err("%s: metadata record with a %zu-byte key, not a replica's: ignored; "
				"replica files without a record are kept", st->dir, k.mv_size);
			*keep_orphans = true;
			continue;
		}
		pid = pid_of(k.mv_data);
		bad = rec_check(&v, pid, &rec, &epoch, why, sizeof(why));
		if (bad) {
			ret = add_broken(st, pid, epoch, bad);
			if (ret)
				break;
			(*nbroken)++;
			continue;
		}
		rep_name(rec.pid, name, sizeof(name));
		fd = openat(st->rep_dirfd, name, O_RDWR | O_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM)) {
			/* not the data dir's fault: say what it is */
			ret = -errno;
			log_err("%s: replica %" PRIu64 ": cannot open replicas/%s: %s (every "
				"replica holds 2 open files: raise the open files limit)", st->dir,
				rec.pid, name, strerror(-ret));
			break;
		}
		if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    (uint64_t)sb.st_size != ZBS_EXTENT_SIZE) {
			log_err("%s: replica %" PRIu64 ": data file replicas/%s %s: refusing",
				st->dir, rec.pid, name, fd < 0 ? "missing" : "has a wrong size or type");
			if (fd >= 0)
				close(fd);
			ret = -EUCLEAN;
			break;
		}
		r = replica_new(rec.pid, rec.epoch, fd, rec.flags & REC_F_THICK);
		if (!r) {
			close(fd);
			ret = -ENOMEM;
			break;
		}
		r->lease_epoch = rec.lease_epoch;
		r->gen = r->next_gen = rec.gen;
		r->trk_since = rec.gen;
		r->trk = rec.state == ZBS_RSTATE_NORMAL;
		r->state = rec.state;
		memcpy(r->bitmap, rec.bitmap, BITMAP_BYTES);
		r->alloc_blocks = popcount_map(r->bitmap);
		if (r->state == ZBS_RSTATE_RECOVERING)
			log_warn("replica %" PRIu64 " was recovering at shutdown; recovery must restart",
				 r->pid);
		if (table_insert_locked(st, r)) {	/* single-threaded at open */
			replica_put(r);
			ret = -ENOMEM;
			break;
		}
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (ret)
		return ret;
	if (rc != MDB_NOTFOUND)
		goto mdb_fail;
	return 0;
mdb_fail:
	log_err("%s: corrupt metadata store: %s", st->dir, mdb_strerror(rc));
	return -EUCLEAN;
}

/* Remove replica files without a record (crash during create/delete). */
static void remove_orphans(struct chunk_store *st)
{
	int fd = dup(st->rep_dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		uint64_t pid;
		char *end;
		struct chunk_replica *r;

		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		pid = strtoull(de->d_name, &end, 10);
		if (errno || *end || end == de->d_name) {
			log_warn("%s/replicas/%s: not a replica file; ignored", st->dir, de->d_name);
			continue;
		}
		r = table_lookup(st, pid);
		if (r) {
			replica_put(r);
			continue;
		}
		log_warn("%s/replicas/%s: no metadata (interrupted create or delete); removed",
			 st->dir, de->d_name);
		unlinkat(st->rep_dirfd, de->d_name, 0);
	}
	closedir(d);
}

static bool dir_empty_except(const char *dir, const char *allowed)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool empty = true;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, allowed))
			empty = false;
	closedir(d);
	return empty;
}

int chunk_store_open(const char *dir, const char *expect_uuid, struct chunk_store **out)
{
	struct chunk_store *st;
	char buf[128], path[4096];
	int dfd = -1, rc, n;
	bool create = false;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lock_fd = st->rep_dirfd = -1;
	pthread_rwlock_init(&st->table_lock, NULL);
	pthread_mutex_init(&st->ddl_lock, NULL);
	pthread_cond_init(&st->gc_gone, NULL);
	pthread_mutex_init(&st->gc_lock, NULL);
	pthread_cond_init(&st->gc_work, NULL);
	pthread_cond_init(&st->gc_idle, NULL);
	st->dir = strdup(dir);
	if (!st->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		log_err("%s: cannot create data dir: %m", dir);
		goto fail;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		log_err("%s: cannot open data dir: %m", dir);
		goto fail;
	}
	st->lock_fd = openat(dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (st->lock_fd < 0 || flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		log_err("%s: data dir is in use by another process (%m)", dir);
		goto fail;
	}

	n = read_small_file(dfd, "chunk-id", buf, sizeof(buf));
	if (n == -ENOENT) {
		uuid_t u;

		if (!dir_empty_except(dir, "lock")) {
			rc = -ENOTEMPTY;
			log_err("%s: not empty and not a zbs-chunkd data dir (no chunk-id): refusing", dir);
			goto fail;
		}
		if (expect_uuid) {
			rc = -ENOENT;
			log_err("%s: empty data dir, but chunk %s was expected: refusing", dir,
				expect_uuid);
			goto fail;
		}
		uuid_generate(u);
		uuid_unparse_lower(u, st->uuid);
		create = true;
	} else if (n < 0) {
		rc = n;
		log_err("%s/chunk-id: %s", dir, strerror(-n));
		goto fail;
	} else {
		uuid_t u;

		buf[strcspn(buf, "\n")] = 0;
		if (uuid_parse(buf, u) < 0) {
			rc = -EUCLEAN;
			log_err("%s/chunk-id: corrupt (not a uuid): refusing", dir);
			goto fail;
		}
		uuid_unparse_lower(u, st->uuid);
		if (expect_uuid && strcasecmp(expect_uuid, st->uuid) != 0) {
			rc = -EUCLEAN;
			log_err("%s: data dir of chunk %s, not of %s: refusing", dir, st->uuid,
				expect_uuid);
			goto fail;
		}
	}

	snprintf(path, sizeof(path), "%s/replicas", dir);
	if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_err("%s: %m", path);
		goto fail;
	}
	st->rep_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->rep_dirfd < 0) {
		rc = -EUCLEAN;
		log_err("%s: missing replicas directory: corrupt data dir, refusing", dir);
		goto fail;
	}
	rc = open_env(st, create);
	if (rc)
		goto fail;
	if (create) {
		snprintf(buf, sizeof(buf), "%s\n", st->uuid);
		/* chunk-id last: its presence marks a complete initialization */
		rc = write_file_durable(dfd, "chunk-id", buf);
		if (rc) {
			log_err("%s/chunk-id: %s", dir, strerror(-rc));
			goto fail;
		}
		log_info("%s: initialized data dir of chunk %s", dir, st->uuid);
	} else {
		unsigned nbroken;
		bool keep_orphans;

		rc = load_replicas(st, &nbroken, &keep_orphans);
		if (rc)
			goto fail;
		if (!keep_orphans)
			remove_orphans(st);
		if (nbroken)
			log_warn("%s: chunk %s, %u replicas, %u of them failed (corrupt records)",
				 dir, st->uuid, st->nreplicas, nbroken);
		else
			log_info("%s: chunk %s, %u replicas", dir, st->uuid, st->nreplicas);
	}
	st->direct = probe_direct(dfd);
	st->online_discard = probe_online_discard(dir);
	if (st->online_discard)
		log_info("%s: data dir on a filesystem mounted with online discard: deleted "
			 "replicas are freed in steps of %llu MiB; periodic fstrim (fstrim.timer) "
			 "instead of the discard mount option frees space without stalling writes",
			 dir, GC_SHRINK_STEP >> 20);
	close(dfd);
	st->opened = true;
	*out = st;
	return 0;
fail:
	if (dfd >= 0)
		close(dfd);
	chunk_store_close(st);
	return rc;
}

void chunk_store_close(struct chunk_store *st)
{
	if (!st)
		return;
	gc_stop(st);		/* the deletes it accepted are done first */
	if (st->opened) {
		struct chunk_replica **v;
		unsigned n;

		/* a clean shutdown leaves everything durable */
		v = table_snapshot(st, &n);
		if (v) {
			for (unsigned i = 0; i < n; i++) {
				int d = atomic_exchange(&v[i]->data_dirty, 0);

				if (d & DIRTY_LAYOUT)
					fsync(v[i]->fd);
				else if (d)
					fdatasync(v[i]->fd);
			}
			persist(st, v, n, true);
			for (unsigned i = 0; i < n; i++)
				replica_put(v[i]);
			free(v);
		}
	}
	{
		struct chunk_replica *r, *tmp;

		HASH_ITER(hh, st->table, r, tmp) {
			HASH_DEL(st->table, r);
			replica_put(r);
		}
	}
	if (st->env)
		mdb_env_close(st->env);
	if (st->rep_dirfd >= 0)
		close(st->rep_dirfd);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	pthread_rwlock_destroy(&st->table_lock);
	pthread_mutex_destroy(&st->ddl_lock);
	pthread_cond_destroy(&st->gc_gone);
	pthread_mutex_destroy(&st->gc_lock);
	pthread_cond_destroy(&st->gc_work);
	pthread_cond_destroy(&st->gc_idle);
	free(st->gcq);
	free(st->dir);
	free(st);
}
