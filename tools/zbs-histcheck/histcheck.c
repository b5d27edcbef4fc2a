// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-histcheck: a history checker for block devices (ARCHITECTURE.md 4a,
 * invariant I1). Writers stamp 4 KiB blocks through O_DIRECT, readers read
 * them back while the writes go on, and at the end every touched block is
 * read once more. Every operation's invoke and complete times are kept, so
 * each read is judged against the writes acknowledged before it began:
 *
 *   lost     a block holds an older write (or nothing) although a newer
 *            write to it was acknowledged before the read (or the final
 *            check) began;
 *   stale    an online read returned such an older write;
 *   torn     the sectors of a block come from different writes;
 *   foreign  a block holds a stamp of another block, or garbage;
 *   future   a read returned a write that was never issued.
 *
 * Block b belongs to writer b % W, which writes it with increasing
 * sequence numbers, one write at a time: the order of the writes to a
 * block is known, so every check above is exact. A write that failed has
 * an unknown outcome (it may or may not have landed), which is allowed.
 * The IO stall is the longest time during which no operation completed
 * (reads served by a healthy replica keep it short); the write stall the
 * longest during which no write completed.
 *
 *   zbs-histcheck run --dev PATH [--size BYTES] [--offset BYTES]
 *                     [--writers W] [--readers R] [--seconds S] [--seed N]
 *                     [--state FILE]
 *   zbs-histcheck check --dev PATH --state FILE
 *   zbs-histcheck stamp --dev PATH --offset BYTES --block B --seq S [--writers W]
 *
 * run: the workload, then the final check; --state saves what the final
 * check needs (per block: the last acknowledged and the last issued
 * sequence) so `check` can repeat it later (after a restart, a re-attach).
 * stamp: write one stamped block as writer B % W would (tests of the checker).
 * Prints one summary line and exits 0 when there is no violation, 1 when
 * there is one (each is also printed), 2 on bad usage or setup errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "util.h"

#define BLK		4096
#define SECT		512
#define STAMP_MAGIC	0x5a42534853544d50ULL	/* "PMTSHSBZ" */
#define STATE_MAGIC	0x5a42534853544154ULL

/* Each 512-byte sector of a stamped block starts with this header. */
struct stamp {
	uint64_t magic;
	uint64_t block;
	uint64_t seq;		/* 1.. per block */
	uint32_t writer;
	uint32_t sector;	/* 0..7 */
	uint32_t sum;		/* over the sector after this header */
	uint32_t pad;
};

struct blockstate {
	_Atomic uint64_t acked;		/* last acknowledged seq, 0: none */
	_Atomic uint64_t issued;	/* last issued seq */
};

static struct {
	const char *dev, *state_path;
	uint64_t offset, size, nblocks;
	unsigned writers, readers, seconds;
	uint64_t seed;
	int fd;
	struct blockstate *b;
	_Atomic bool stop;
	_Atomic uint64_t last_done_ns, max_stall_ns, t0;
	_Atomic uint64_t last_write_ns, max_write_stall_ns;
	_Atomic uint64_t max_stall_end, max_write_stall_end;	/* wall clock, ns */
	_Atomic uint64_t writes_ok, write_err, reads_ok, read_err;
	_Atomic uint64_t lost, stale, torn, foreign, future;
	pthread_mutex_t print_lock;
} g;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rng(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void stamp_block(uint8_t *buf, uint64_t block, uint32_t writer, uint64_t seq)
{
	for (uint32_t s = 0; s < BLK / SECT; s++) {
		uint8_t *sec = buf + s * SECT;
		struct stamp st = { STAMP_MAGIC, block, seq, writer, s, 0, 0 };
		uint64_t x = block * 1000003 + seq * 7919 + s;

		for (size_t i = sizeof(st); i < SECT; i += 8) {
			uint64_t v = rng(&x);
			memcpy(sec + i, &v, SECT - i < 8 ? SECT - i : 8);
		}
		st.sum = fnv(sec + sizeof(st), SECT - sizeof(st));
		memcpy(sec, &st, sizeof(st));
	}
}

/* A block as read: its seq (0: all zeros), or -1 torn, -2 foreign. */
static int64_t decode(const uint8_t *buf, uint64_t block, uint32_t *writer)
{
	struct stamp first;
	bool zero = true;

	for (size_t i = 0; i < BLK && zero; i++)
		zero = !buf[i];
	if (zero)
		return 0;
	memcpy(&first, buf, sizeof(first));
	for (uint32_t s = 0; s < BLK / SECT; s++) {
		struct stamp st;

		memcpy(&st, buf + s * SECT, sizeof(st));
		/* a sector that is not a stamp of this block: foreign */
		if (st.magic != STAMP_MAGIC || st.block != block || st.sector != s ||
		    st.sum != fnv(buf + s * SECT + sizeof(st), SECT - sizeof(st)))
			return -2;
	}
	for (uint32_t s = 1; s < BLK / SECT; s++) {
		struct stamp st;

		/* stamps of this block from different writes: torn */
		memcpy(&st, buf + s * SECT, sizeof(st));
		if (st.seq != first.seq || st.writer != first.writer)
			return -1;
	}
	*writer = first.writer;
	return (int64_t)first.seq;
}

static void violation(_Atomic uint64_t *counter, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void violation(_Atomic uint64_t *counter, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(counter, 1);
	pthread_mutex_lock(&g.print_lock);
	va_start(ap, fmt);
	printf("VIOLATION ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&g.print_lock);
}

/* the longest stall so far ended at wall-clock `*end` (to find it in logs) */
static void stall_update(_Atomic uint64_t *last, _Atomic uint64_t *max, _Atomic uint64_t *end,
			 uint64_t t)
{
	uint64_t prev = atomic_exchange(last, t);

	if (t > prev) {
		uint64_t gap = t - prev, m = atomic_load(max);
		struct timespec w;

		while (gap > m) {
			if (atomic_compare_exchange_weak(max, &m, gap)) {
				clock_gettime(CLOCK_REALTIME, &w);
				atomic_store(end, (uint64_t)w.tv_sec * 1000000000ULL + w.tv_nsec);
				break;
			}
		}
	}
}

/* An operation completed: the IO stall (and the write stall) end here. */
static void op_done(bool write)
{
	uint64_t t = now_ns();

	stall_update(&g.last_done_ns, &g.max_stall_ns, &g.max_stall_end, t);
	if (write)
		stall_update(&g.last_write_ns, &g.max_write_stall_ns, &g.max_write_stall_end, t);
}

/*
 * Judge the content of block b read in [start, now]: acked_before is the
 * last write acknowledged before the read began.
 */
static void judge(const uint8_t *buf, uint64_t b, uint64_t acked_before, bool final)
{
	uint32_t writer = 0;
	int64_t seq = decode(buf, b, &writer);
	uint64_t issued = atomic_load(&g.b[b].issued);
	const char *what = final ? "final" : "read";

	if (seq == -1) {
		violation(&g.torn, "torn %s block %" PRIu64, what, b);
	} else if (seq == -2) {
		violation(&g.foreign, "foreign %s block %" PRIu64 " (not one of its stamps)", what, b);
	} else if (seq && writer != b % g.writers) {
		violation(&g.foreign, "foreign %s block %" PRIu64 ": writer %u", what, b, writer);
	} else if ((uint64_t)seq > issued) {
		violation(&g.future, "%s block %" PRIu64 " holds seq %" PRId64 ", never issued (last %" PRIu64 ")",
			  what, b, seq, issued);
	} else if ((uint64_t)seq < acked_before) {
		violation(final ? &g.lost : &g.stale,
			  "%s block %" PRIu64 ": seq %" PRId64 " but seq %" PRIu64 " was acknowledged before (%s)",
			  what, b, seq, acked_before, final ? "lost write" : "stale read");
	}
}

static void *writer_main(void *arg)
{
	uint32_t w = (uint32_t)(uintptr_t)arg;
	uint64_t seed = g.seed * 131 + w, mine = (g.nblocks + g.writers - 1 - w) / g.writers;
	uint8_t *buf;

	if (!mine || posix_memalign((void **)&buf, BLK, BLK))
		return NULL;
	while (!atomic_load(&g.stop)) {
		uint64_t b = w + (rng(&seed) % mine) * g.writers;
		uint64_t seq = atomic_load(&g.b[b].issued) + 1;
		ssize_t n;

		stamp_block(buf, b, w, seq);
		atomic_store(&g.b[b].issued, seq);
		n = pwrite(g.fd, buf, BLK, (off_t)(g.offset + b * BLK));
		if (n == BLK) {
			atomic_store(&g.b[b].acked, seq);
			atomic_fetch_add(&g.writes_ok, 1);
			op_done(true);
		} else {
			atomic_fetch_add(&g.write_err, 1);	/* outcome unknown */
		}
	}
	free(buf);
	return NULL;
}

static void *reader_main(void *arg)
{
	uint64_t seed = g.seed * 7 + 1000 + (uintptr_t)arg;
	uint8_t *buf;

	if (posix_memalign((void **)&buf, BLK, BLK))
		return NULL;
	while (!atomic_load(&g.stop)) {
		uint64_t b = rng(&seed) % g.nblocks;
		uint64_t before = atomic_load(&g.b[b].acked);

		if (pread(g.fd, buf, BLK, (off_t)(g.offset + b * BLK)) == BLK) {
			atomic_fetch_add(&g.reads_ok, 1);
			op_done(false);
			judge(buf, b, before, false);
		} else {
			atomic_fetch_add(&g.read_err, 1);
		}
	}
	free(buf);
	return NULL;
}

/* Read every block once; returns the number of blocks not readable. */
static uint64_t final_check(void)
{
	uint8_t *buf;
	uint64_t unreadable = 0;

	if (posix_memalign((void **)&buf, BLK, BLK))
		return g.nblocks;
	for (uint64_t b = 0; b < g.nblocks; b++) {
		if (!atomic_load(&g.b[b].issued))
			continue;
		if (pread(g.fd, buf, BLK, (off_t)(g.offset + b * BLK)) != BLK) {
			unreadable++;
			violation(&g.lost, "final block %" PRIu64 " unreadable: %s", b, strerror(errno));
			continue;
		}
		judge(buf, b, atomic_load(&g.b[b].acked), true);
	}
	free(buf);
	return unreadable;
}

static int save_state(const char *path)
{
	FILE *f = fopen(path, "w");
	uint64_t hdr[5] = { STATE_MAGIC, g.offset, g.nblocks, g.writers, 0 };

	if (!f)
		return -1;
	fwrite(hdr, sizeof(hdr), 1, f);
	for (uint64_t b = 0; b < g.nblocks; b++) {
		uint64_t v[2] = { atomic_load(&g.b[b].acked), atomic_load(&g.b[b].issued) };

		fwrite(v, sizeof(v), 1, f);
	}
	return fclose(f);
}

static int load_state(const char *path)
{
	FILE *f = fopen(path, "r");
	uint64_t hdr[5];

	if (!f || fread(hdr, sizeof(hdr), 1, f) != 1 || hdr[0] != STATE_MAGIC || !hdr[2] ||
	    !hdr[3] || hdr[3] > 1024) {
		fprintf(stderr, "zbs-histcheck: %s is not a state file\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	g.offset = hdr[1];
	g.nblocks = hdr[2];
	g.writers = (unsigned)hdr[3];
	g.b = calloc(g.nblocks, sizeof(*g.b));
	for (uint64_t b = 0; g.b && b < g.nblocks; b++) {
		uint64_t v[2];

		if (fread(v, sizeof(v), 1, f) != 1) {
			fprintf(stderr, "zbs-histcheck: %s is truncated\n", path);
			fclose(f);
			return -1;
		}
		atomic_store(&g.b[b].acked, v[0]);
		atomic_store(&g.b[b].issued, v[1]);
	}
	fclose(f);
	return g.b ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zbs-histcheck run --dev PATH [--size BYTES] [--offset BYTES] [--writers W]\n"
		"                         [--readers R] [--seconds S] [--seed N] [--state FILE]\n"
		"       zbs-histcheck check --dev PATH --state FILE\n"
		"       zbs-histcheck stamp --dev PATH [--offset BYTES] --block B --seq S [--writers W]\n"
		"Stamped 4 KiB O_DIRECT writes and reads; reports lost, stale, torn, foreign and\n"
		"never-issued blocks and the longest IO stall. Defaults: the whole device, 4\n"
		"writers, 2 readers, 10 seconds. Exit 0 no violation, 1 violations, 2 errors.\n");
}

static int open_dev(bool must_size)
{
	struct stat stt;
	uint64_t devsize = 0;

	g.fd = open(g.dev, O_RDWR | O_DIRECT);
	if (g.fd < 0) {
		fprintf(stderr, "zbs-histcheck: %s: %s\n", g.dev, strerror(errno));
		return -1;
	}
	if (fstat(g.fd, &stt) == 0) {
		if (S_ISBLK(stt.st_mode))
			ioctl(g.fd, BLKGETSIZE64, &devsize);
		else
			devsize = (uint64_t)stt.st_size;
	}
	if (!must_size)
		return 0;
	if (!g.size)
		g.size = devsize > g.offset ? devsize - g.offset : 0;
	if (g.offset % BLK || g.size < BLK || g.offset + g.size > devsize) {
		fprintf(stderr, "zbs-histcheck: offset %" PRIu64 " + size %" PRIu64
			" must be 4 KiB aligned and fit %s (%" PRIu64 " bytes)\n",
			g.offset, g.size, g.dev, devsize);
		return -1;
	}
	g.nblocks = g.size / BLK;
	return 0;
}

static int summary(const char *mode)
{
	uint64_t v = atomic_load(&g.lost) + atomic_load(&g.stale) + atomic_load(&g.torn) +
		     atomic_load(&g.foreign) + atomic_load(&g.future);

	printf("%s: blocks %" PRIu64 " writes %" PRIu64 " (acknowledged) %" PRIu64 " (failed) reads %"
	       PRIu64 " (ok) %" PRIu64 " (failed) lost %" PRIu64 " stale %" PRIu64 " torn %" PRIu64
	       " foreign %" PRIu64 " future %" PRIu64 " max_stall_ms %" PRIu64
	       " max_write_stall_ms %" PRIu64 " violations %" PRIu64 "\n",
	       mode, g.nblocks, atomic_load(&g.writes_ok), atomic_load(&g.write_err),
	       atomic_load(&g.reads_ok), atomic_load(&g.read_err), atomic_load(&g.lost),
	       atomic_load(&g.stale), atomic_load(&g.torn), atomic_load(&g.foreign),
	       atomic_load(&g.future), atomic_load(&g.max_stall_ns) / 1000000,
	       atomic_load(&g.max_write_stall_ns) / 1000000, v);
	for (int i = 0; i < 2; i++) {
		uint64_t e = atomic_load(i ? &g.max_write_stall_end : &g.max_stall_end);
		time_t sec = (time_t)(e / 1000000000ULL);
		char buf[32];
		struct tm tm;

		if (!e)
			continue;
		gmtime_r(&sec, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
		printf("%s: longest %s stall ended at %s.%03uZ\n", mode, i ? "write" : "IO", buf,
		       (unsigned)(e / 1000000 % 1000));
	}
	return v ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' }, { "size", required_argument, NULL, 's' },
		{ "offset", required_argument, NULL, 'o' }, { "writers", required_argument, NULL, 'w' },
		{ "readers", required_argument, NULL, 'r' }, { "seconds", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 'S' }, { "state", required_argument, NULL, 'f' },
		{ "block", required_argument, NULL, 'b' }, { "seq", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	uint64_t sblock = UINT64_MAX, sseq = 0;
	pthread_t th[256 + 64];
	unsigned nth = 0;
	uint64_t v;
	const char *mode;
	int c;

	if (argc < 2 || (strcmp(argv[1], "run") && strcmp(argv[1], "check") &&
			 strcmp(argv[1], "stamp"))) {
		usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	mode = argv[1];
	g.writers = 4;
	g.readers = 2;
	g.seconds = 10;
	g.seed = 1;
	pthread_mutex_init(&g.print_lock, NULL);
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': g.dev = optarg; break;
		case 'f': g.state_path = optarg; break;
		case 's':
			if (zbs_parse_size(optarg, &g.size)) goto bad;
			break;
		case 'o':
			if (zbs_parse_size(optarg, &g.offset)) goto bad;
			break;
		case 'w':
			if (zbs_parse_u64(optarg, 1, 256, &v)) goto bad;
			g.writers = (unsigned)v;
			break;
		case 'r':
			if (zbs_parse_u64(optarg, 0, 64, &v)) goto bad;
			g.readers = (unsigned)v;
			break;
		case 't':
			if (zbs_parse_u64(optarg, 1, 86400, &v)) goto bad;
			g.seconds = (unsigned)v;
			break;
		case 'S':
			if (zbs_parse_u64(optarg, 0, UINT64_MAX, &g.seed)) goto bad;
			break;
		case 'b':
			if (zbs_parse_u64(optarg, 0, UINT64_MAX / BLK, &sblock)) goto bad;
			break;
		case 'q':
			if (zbs_parse_u64(optarg, 1, UINT64_MAX, &sseq)) goto bad;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!g.dev || optind != argc || (!strcmp(mode, "check") && !g.state_path)) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(mode, "stamp")) {
		uint8_t *buf;

		if (sblock == UINT64_MAX || !sseq || open_dev(false) ||
		    posix_memalign((void **)&buf, BLK, BLK)) {
			usage(stderr);
			return 2;
		}
		stamp_block(buf, sblock, (uint32_t)(sblock % g.writers), sseq);
		if (pwrite(g.fd, buf, BLK, (off_t)(g.offset + sblock * BLK)) != BLK) {
			fprintf(stderr, "zbs-histcheck: write: %s\n", strerror(errno));
			return 2;
		}
		free(buf);
		return 0;
	}
	if (!strcmp(mode, "check")) {
		if (load_state(g.state_path) || open_dev(false))
			return 2;
		final_check();
		return summary("check");
	}
	if (open_dev(true))
		return 2;
	g.b = calloc(g.nblocks, sizeof(*g.b));
	if (!g.b)
		return 2;
	atomic_store(&g.t0, now_ns());
	atomic_store(&g.last_done_ns, now_ns());
	atomic_store(&g.last_write_ns, now_ns());
	for (unsigned i = 0; i < g.writers; i++)
		if (!pthread_create(&th[nth], NULL, writer_main, (void *)(uintptr_t)i))
			nth++;
	for (unsigned i = 0; i < g.readers; i++)
		if (!pthread_create(&th[nth], NULL, reader_main, (void *)(uintptr_t)i))
			nth++;
	for (unsigned s = 0; s < g.seconds * 10; s++)
		usleep(100000);
	atomic_store(&g.stop, true);
	for (unsigned i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	op_done(true);		/* a stall up to the end counts too */
	final_check();
	if (g.state_path && save_state(g.state_path)) {
		fprintf(stderr, "zbs-histcheck: cannot write %s: %s\n", g.state_path, strerror(errno));
		return 2;
	}
	return summary("run");
bad:
	fprintf(stderr, "zbs-histcheck: bad value '%s'\n", optarg);
	return 2;
}
