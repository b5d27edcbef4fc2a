// SPDX-License-Identifier: GPL-2.0
/*
 * bench-chunk: zbs-chunkd on loopback driven by the data client library,
 * against the same patterns as pwrite/pread (QD1) and io_uring (QD32) on a
 * file in the same directory with the same open flags as chunkd's replica
 * files, O_DIRECT (the local limit of the device). One line per pattern:
 *
 *   <target> <pattern> iops=N MB/s=N p50=Nus p99=Nus
 *
 * and last: "ratio chunkd/local randwrite-4k-qd32: X.XX".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_client.h"
#include "util.h"
#include "../../daemon/chunkd/test/harness.h"

#define EXTENT	ZBS_EXTENT_SIZE
#define PID	1
#define EPOCH	1
#define LEASE	1
#define MAXQD	32
#define ROUNDS	3

enum kind { SEQWRITE, RANDWRITE, RANDREAD };

struct pattern {
	const char *name;
	enum kind kind;
	uint32_t bs;
	int qd;
};

static const struct pattern patterns[] = {
	{ "seqwrite-1m-qd1", SEQWRITE, 1u << 20, 1 },
	{ "randwrite-4k-qd1", RANDWRITE, 4096, 1 },
	{ "randwrite-4k-qd32", RANDWRITE, 4096, 32 },
	{ "randread-4k-qd1", RANDREAD, 4096, 1 },
	{ "randread-4k-qd32", RANDREAD, 4096, 32 },
};
#define NPAT (sizeof(patterns) / sizeof(patterns[0]))

struct result {
	double iops, mbps, p50_us, p99_us;
};

struct lat {
	uint64_t *v;
	size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v) {
			perror("realloc");
			exit(1);
		}
	}
	l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct result finish(struct lat *l, uint64_t elapsed_ns, uint32_t bs)
{
	struct result r = { 0 };
	double secs = (double)elapsed_ns / 1e9;

	qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	r.iops = (double)l->n / secs;
	r.mbps = r.iops * bs / 1e6;
	if (l->n) {
		r.p50_us = (double)l->v[l->n / 2] / 1e3;
		r.p99_us = (double)l->v[(l->n * 99) / 100] / 1e3;
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
	return r;
}

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static uint64_t next_off(const struct pattern *p, uint64_t *seq)
{
	if (p->kind == SEQWRITE) {
		uint64_t o = *seq;

		*seq = (*seq + p->bs) % EXTENT;
		return o;
	}
	return (rnd() % (EXTENT / p->bs)) * p->bs;
}

/* Run until `secs` passed (and, for the sequential fill, one full pass). */
static int keep_going(const struct pattern *p, uint64_t t0, double secs, uint64_t done)
{
	if (p->kind == SEQWRITE && done * p->bs < EXTENT)
		return 1;
	return (double)(zbs_now_ns() - t0) / 1e9 < secs;
}

/* ---- chunkd through the client library ------------------------------ */

static uint64_t chunk_gen;

/* Run pattern p for secs; latencies into l; returns the elapsed ns. */
static uint64_t run_chunkd(struct zbs_dc *dc, const struct pattern *p, double secs,
			   uint8_t **bufs, struct lat *l)
{
	struct zbs_dc_op ops[MAXQD];
	uint64_t start[MAXQD], seq = 0, t0, done = 0;
	int inflight = 0;

	t0 = zbs_now_ns();
	for (int i = 0; i < p->qd; i++) {
		ops[i] = (struct zbs_dc_op){
			.req = { .opcode = p->kind == RANDREAD ? ZBS_OP_READ : ZBS_OP_WRITE,
				 .pid = PID, .epoch = EPOCH, .lease_epoch = LEASE,
				 .length = p->bs },
			.buf = bufs[i], .priv = &start[i] };
	}
	for (int i = 0; i < p->qd; i++) {
		ops[i].req.offset = next_off(p, &seq);
		ops[i].req.gen = chunk_gen;
		if (p->kind != RANDREAD)
			chunk_gen++;
		start[i] = zbs_now_ns();
		if (zbs_dc_submit(dc, &ops[i]) < 0) {
			fprintf(stderr, "bench-chunk: submit failed\n");
			exit(1);
		}
		inflight++;
	}
	while (inflight) {
		struct zbs_dc_op *op;
		uint64_t now;

		if (zbs_dc_complete(dc, &op) < 0 || op->reply.status) {
			fprintf(stderr, "bench-chunk: %s failed: %s\n", p->name,
				op ? zbs_wire_status_str(op->reply.status) : "transport");
			exit(1);
		}
		now = zbs_now_ns();
		lat_add(l, now - *(uint64_t *)op->priv);
		inflight--;
		done++;
		if (keep_going(p, t0, secs, done + (uint64_t)inflight)) {
			op->req.offset = next_off(p, &seq);
			op->req.gen = chunk_gen;
			if (p->kind != RANDREAD)
				chunk_gen++;
			*(uint64_t *)op->priv = zbs_now_ns();
			if (zbs_dc_submit(dc, op) < 0) {
				fprintf(stderr, "bench-chunk: submit failed\n");
				exit(1);
			}
			inflight++;
		}
	}
	return zbs_now_ns() - t0;
}

/* ---- local file: pwrite/pread at QD1, io_uring at QD > 1 ------------ */

static uint64_t run_local(int fd, struct io_uring *ring, const struct pattern *p, double secs,
			  uint8_t **bufs, struct lat *l)
{
	uint64_t start[MAXQD], seq = 0, t0, done = 0;
	int inflight = 0;

	t0 = zbs_now_ns();
	if (p->qd == 1) {
		while (keep_going(p, t0, secs, done)) {
			uint64_t off = next_off(p, &seq), s = zbs_now_ns();
			ssize_t n = p->kind == RANDREAD ? pread(fd, bufs[0], p->bs, (off_t)off)
							: pwrite(fd, bufs[0], p->bs, (off_t)off);

			if (n != (ssize_t)p->bs) {
				perror("bench-chunk: local io");
				exit(1);
			}
			lat_add(l, zbs_now_ns() - s);
			done++;
		}
	} else {
		for (int i = 0; i < p->qd; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			uint64_t off = next_off(p, &seq);

			if (p->kind == RANDREAD)
				io_uring_prep_read(sqe, fd, bufs[i], p->bs, off);
			else
				io_uring_prep_write(sqe, fd, bufs[i], p->bs, off);
			io_uring_sqe_set_data64(sqe, (uint64_t)i);
			start[i] = zbs_now_ns();
			inflight++;
		}
		io_uring_submit(ring);
		while (inflight) {
			struct io_uring_cqe *cqe;
			int i;

			if (io_uring_wait_cqe(ring, &cqe) < 0 || cqe->res != (int)p->bs) {
				fprintf(stderr, "bench-chunk: local io_uring: %s\n",
					strerror(cqe && cqe->res < 0 ? -cqe->res : EIO));
				exit(1);
			}
			i = (int)io_uring_cqe_get_data64(cqe);
			io_uring_cqe_seen(ring, cqe);
			lat_add(l, zbs_now_ns() - start[i]);
			inflight--;
			done++;
			if (keep_going(p, t0, secs, done + (uint64_t)inflight)) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
				uint64_t off = next_off(p, &seq);

				if (p->kind == RANDREAD)
					io_uring_prep_read(sqe, fd, bufs[i], p->bs, off);
				else
					io_uring_prep_write(sqe, fd, bufs[i], p->bs, off);
				io_uring_sqe_set_data64(sqe, (uint64_t)i);
				start[i] = zbs_now_ns();
				io_uring_submit(ring);
				inflight++;
			}
		}
	}
	return zbs_now_ns() - t0;
}

static void print_line(const char *target, const struct pattern *p, const struct result *r)
{
	printf("%-7s %-18s iops=%9.0f MB/s=%8.1f p50=%8.1fus p99=%8.1fus\n", target, p->name,
	       r->iops, r->mbps, r->p50_us, r->p99_us);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *base = NULL;
	double secs = 1.5;
	char tmp[512], data[600], local[600];
	struct chunkd_proc proc;
	struct result rc[NPAT], rl[NPAT];
	struct zbs_reply rep;
	struct zbs_dc *dc;
	struct io_uring ring;
	uint8_t *bufs[MAXQD];
	int c, fd, oflags;

	while ((c = getopt_long(argc, argv, "d:s:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': base = optarg; break;
		case 's': secs = atof(optarg); break;
		case 'h':
			printf("usage: bench-chunk [--dir DIR] [--seconds S per pattern]\n"
			       "zbs-chunkd binary: $ZBS_BIN/zbs-chunkd (default build/)\n");
			return 0;
		default: return 2;
		}
	}
	if (!getenv("ZBS_BIN"))
		setenv("ZBS_BIN", "build", 0);
	if (base)
		setenv("TMPDIR", base, 1);
	if (harness_tmpdir(tmp, sizeof(tmp)) < 0) {
		perror("bench-chunk: mkdtemp");
		return 1;
	}
	snprintf(data, sizeof(data), "%s/data", tmp);
	snprintf(local, sizeof(local), "%s/local-file", tmp);
	for (int i = 0; i < MAXQD; i++) {
		if (posix_memalign((void **)&bufs[i], 4096, 1u << 20)) {
			perror("bench-chunk: memalign");
			return 1;
		}
		memset(bufs[i], 0x5a + i, 1u << 20);
	}
	printf("# bench-chunk: dir %s, %.1fs per pattern, %ld cpus\n", tmp, secs,
	       sysconf(_SC_NPROCESSORS_ONLN));

	/* chunkd */
	if (chunkd_start(&proc, data, NULL) != 0) {
		fprintf(stderr, "bench-chunk: cannot start %s\n", chunkd_binary());
		return 1;
	}
	if (zbs_dc_connect("127.0.0.1", proc.port, &dc) < 0 ||
	    zbs_dc_sync(dc, PID, EPOCH, LEASE, ZBS_SF_CREATE, &rep) != ZBS_ST_OK) {
		fprintf(stderr, "bench-chunk: cannot talk to chunkd\n");
		chunkd_stop(&proc);
		return 1;
	}
	/* the local limit: same directory, same open flags as replica files */
	oflags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;
	fd = open(local, oflags | O_DIRECT, 0600);
	if (fd < 0 && errno == EINVAL) {	/* as chunkd: buffered where O_DIRECT is refused */
		fd = open(local, oflags, 0600);
		printf("# local file without O_DIRECT (unsupported here)\n");
	}
	if (fd < 0 || ftruncate(fd, (off_t)EXTENT) < 0 || io_uring_queue_init(64, &ring, 0) < 0) {
		perror("bench-chunk: local file");
		chunkd_stop(&proc);
		return 1;
	}
	/*
	 * Each pattern runs ROUNDS times alternately on chunkd and on the local
	 * file, so that load from elsewhere on the machine hits both alike.
	 * The sequential pass comes first: it also fills both files.
	 */
	for (size_t i = 0; i < NPAT; i++) {
		struct lat lc = { 0 }, ll = { 0 };
		uint64_t tc = 0, tl = 0;
		int rounds = patterns[i].kind == SEQWRITE ? 1 : ROUNDS;

		for (int k = 0; k < rounds; k++) {
			tc += run_chunkd(dc, &patterns[i], secs / rounds, bufs, &lc);
			tl += run_local(fd, &ring, &patterns[i], secs / rounds, bufs, &ll);
		}
		rc[i] = finish(&lc, tc, patterns[i].bs);
		rl[i] = finish(&ll, tl, patterns[i].bs);
	}
	zbs_dc_close(dc);
	if (chunkd_stop(&proc) != 0)
		fprintf(stderr, "bench-chunk: chunkd did not exit cleanly (see %s)\n", proc.log);
	for (size_t i = 0; i < NPAT; i++)
		print_line("chunkd", &patterns[i], &rc[i]);
	for (size_t i = 0; i < NPAT; i++)
		print_line("local", &patterns[i], &rl[i]);
	io_uring_queue_exit(&ring);
	close(fd);
	harness_rmrf(tmp);
	for (int i = 0; i < MAXQD; i++)
		free(bufs[i]);
	printf("ratio chunkd/local randwrite-4k-qd32: %.2f\n", rc[2].iops / rl[2].iops);
	return 0;
}
