// SPDX-License-Identifier: GPL-2.0
/*
 * bench-clientlat: a client's 4 KiB IO to one pid's replicas at a fixed
 * rate, through the data client library, for the latency part of
 * bench-recovery (bench-recovery-native.sh). Open loop: op i is due at
 * t0 + i / iops whatever happened to the ops before it; at most --iodepth
 * ops are outstanding, and an op that waits for a free slot waits in its
 * latency, which runs from its due time to its completion (a stall of the
 * chunks is not hidden by the client slowing down).
 *
 * randwrite goes to every replica given, one connection each, as the
 * kernel's replica fan-out does: the op completes when all replied OK.
 * The writes follow the gen protocol (uapi/linux/zbs_wire.h): a SYNC under
 * the given lease_epoch first tells each replica's gen, then every WRITE
 * carries the connection's next gen, pipelined in submission order.
 * randread reads from the first replica only. Any reply other than OK is an
 * error (exit 1). One line at the end:
 *
 *   clientlat rw=randwrite iops=N ops=N p50_us=N p99_us=N max_us=N
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data_client.h"
#include "net.h"
#include "util.h"

#define BS		4096u
#define MAX_REPLICAS	8
#define MAX_DEPTH	1024
#define STALL_MS	30000	/* no reply for this long: the chunk is stuck */

struct conn {
	char addr[300];
	struct zbs_dc *dc;
	uint64_t next_gen;	/* gen of the next WRITE on this connection */
};

/* One outstanding client op: one leg per replica it went to. */
struct slot {
	struct zbs_dc_op legs[MAX_REPLICAS];
	uint64_t due_ns;
	int pending;
	void *buf;
	struct slot *next_free;
};

struct bench {
	uint64_t pid, epoch, lease_epoch;
	int write;
	uint64_t iops, seconds, depth, span;
	struct conn conns[MAX_REPLICAS];
	int nconns;		/* connections used: all replicas (write), 1 (read) */
	struct slot *slots, *free_slots;
	uint64_t *lat_ns;	/* one per completed op */
	uint64_t slow_ns;	/* print ops at least this slow (0: none) */
	int64_t rt_off_ns;	/* CLOCK_REALTIME - zbs_now_ns() */
	uint64_t ndone;
	uint64_t rnd;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-clientlat --replica HOST:PORT [--replica HOST:PORT...]\n"
		"                       --pid N --epoch N --lease-epoch N --rw randread|randwrite\n"
		"                       [--iops N] [--seconds S] [--iodepth N] [--span BYTES]\n"
		"4 KiB ops on one pid's replicas at a fixed rate (open loop), latency from each\n"
		"op's due time; prints 'clientlat rw=RW iops=N ops=N p50_us=N p99_us=N max_us=N'.\n"
		"  --replica HOST:PORT  a replica's chunk (repeat: randwrite goes to all,\n"
		"                       randread to the first), at most %d\n"
		"  --pid, --epoch, --lease-epoch   the pid's map (as the agent hands it out)\n"
		"  --rw                 randread or randwrite\n"
		"  --iops N             ops per second (default 1000)\n"
		"  --seconds S          run time (default 10)\n"
		"  --iodepth N          outstanding ops at most (default 8, up to %d)\n"
		"  --span BYTES         offsets in the first BYTES of the extent (default 64M;\n"
		"                       a multiple of 4K up to 256M)\n"
		"  --slow-us N          print 'slow at=EPOCH_S.MS lat_us=N' for each op of at\n"
		"                       least N us (its due time, wall clock: to find it in logs)\n"
		"Exit status: 0 ok, 1 an op failed or a chunk could not be used, 2 usage.\n",
		MAX_REPLICAS, MAX_DEPTH);
}

static int arg_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	if (zbs_parse_u64(s, min, max, v) < 0) {
		fprintf(stderr, "bench-clientlat: --%s '%s': need a number in %" PRIu64
			"..%" PRIu64 "\n", opt, s, min, max);
		return -1;
	}
	return 0;
}

static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Connect to every replica used and learn its gen (SYNC under our lease). */
static int open_replicas(struct bench *b)
{
	for (int i = 0; i < b->nconns; i++) {
		struct conn *c = &b->conns[i];
		char host[256];
		uint16_t port;
		struct zbs_reply rep;
		int rc;

		if (zbs_parse_hostport(c->addr, NULL, 0, 0, host, sizeof(host), &port) < 0) {
			fprintf(stderr, "bench-clientlat: bad address '%s'\n", c->addr);
			return -1;
		}
		rc = zbs_dc_connect_timeout(host, port, STALL_MS, &c->dc);
		if (rc < 0) {
			fprintf(stderr, "bench-clientlat: connect %s: %s\n", c->addr, strerror(-rc));
			return -1;
		}
		rc = zbs_dc_sync(c->dc, b->pid, b->epoch, b->lease_epoch, 0, &rep);
		if (rc != ZBS_ST_OK) {
			fprintf(stderr, "bench-clientlat: SYNC pid %" PRIu64 " on %s: %s\n",
				b->pid, c->addr,
				rc < 0 ? strerror(-rc) : zbs_wire_status_str((uint32_t)rc));
			return -1;
		}
		if (rep.state != ZBS_RSTATE_NORMAL) {
			fprintf(stderr, "bench-clientlat: pid %" PRIu64 " on %s is in state %u, "
				"not normal\n", b->pid, c->addr, rep.state);
			return -1;
		}
		c->next_gen = rep.gen;
		if (i > 0 && rep.gen != b->conns[0].next_gen) {
			fprintf(stderr, "bench-clientlat: pid %" PRIu64 " at gen %" PRIu64
				" on %s but %" PRIu64 " on %s: replicas differ\n", b->pid, rep.gen,
				c->addr, b->conns[0].next_gen, b->conns[0].addr);
			return -1;
		}
	}
	return 0;
}

/* Send one op (due at due_ns, a random offset) to every connection used. */
static int issue(struct bench *b, struct slot *s, uint64_t due_ns)
{
	uint64_t off = (rnd_next(&b->rnd) % (b->span / BS)) * BS;

	s->due_ns = due_ns;
	s->pending = 0;
	for (int i = 0; i < b->nconns; i++) {
		struct conn *c = &b->conns[i];
		struct zbs_dc_op *op = &s->legs[i];
		int rc;

		*op = (struct zbs_dc_op){
			.req = { .opcode = b->write ? ZBS_OP_WRITE : ZBS_OP_READ,
				 .pid = b->pid, .epoch = b->epoch, .lease_epoch = b->lease_epoch,
				 .gen = b->write ? c->next_gen : 0, .offset = off, .length = BS },
			.buf = s->buf, .priv = s,
		};
		rc = zbs_dc_submit(c->dc, op);
		if (rc == 0)
			rc = zbs_dc_push(c->dc);
		if (rc < 0) {
			fprintf(stderr, "bench-clientlat: send to %s: %s\n", c->addr, strerror(-rc));
			return -1;
		}
		if (b->write)
			c->next_gen++;
		s->pending++;
	}
	return 0;
}

/* Take one reply from connection i; a finished op frees its slot. */
static int reap(struct bench *b, int i)
{
	struct conn *c = &b->conns[i];
	struct zbs_dc_op *op;
	struct slot *s;
	int rc = zbs_dc_complete(c->dc, &op);

	if (rc < 0) {
		fprintf(stderr, "bench-clientlat: reply from %s: %s\n", c->addr, strerror(-rc));
		return -1;
	}
	if (op->reply.status != ZBS_ST_OK) {
		fprintf(stderr, "bench-clientlat: %s pid %" PRIu64 " offset %" PRIu64 " gen %"
			PRIu64 " on %s failed: %s (replica gen %" PRIu64 ")\n",
			zbs_wire_op_str(op->req.opcode), op->req.pid, op->req.offset, op->req.gen,
			c->addr, zbs_wire_status_str(op->reply.status), op->reply.gen);
		return -1;
	}
	s = op->priv;
	if (--s->pending == 0) {
		uint64_t lat = zbs_now_ns() - s->due_ns;

		if (b->slow_ns && lat >= b->slow_ns) {
			uint64_t at_ms = (uint64_t)((int64_t)s->due_ns + b->rt_off_ns) / 1000000;

			printf("slow at=%" PRIu64 ".%03" PRIu64 " lat_us=%" PRIu64 "\n",
			       at_ms / 1000, at_ms % 1000, lat / 1000);
		}
		b->lat_ns[b->ndone++] = lat;
		s->next_free = b->free_slots;
		b->free_slots = s;
	}
	return 0;
}

static int run(struct bench *b)
{
	uint64_t total = b->iops * b->seconds, issued = 0, t0, t_end;
	uint64_t outstanding = 0;
	struct pollfd pfd[MAX_REPLICAS];
	struct timespec rt;

	clock_gettime(CLOCK_REALTIME, &rt);
	t0 = zbs_now_ns();
	b->rt_off_ns = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec - (int64_t)t0;
	while (issued < total || outstanding) {
		uint64_t now = zbs_now_ns();
		int timeout = STALL_MS, n, any = 0;

		/* everything due that has a free slot goes out now */
		while (issued < total && b->free_slots) {
			uint64_t due = t0 + issued * 1000000000ull / b->iops;
			struct slot *s = b->free_slots;

			if (due > now) {
				uint64_t ms = (due - now + 999999) / 1000000;

				timeout = (int)(ms < STALL_MS ? ms : STALL_MS);
				break;
			}
			b->free_slots = s->next_free;
			if (issue(b, s, due) < 0)
				return -1;
			issued++;
			outstanding++;
		}
		/* replies already received are not seen by poll() */
		for (int i = 0; i < b->nconns; i++) {
			while (zbs_dc_inflight(b->conns[i].dc) && zbs_dc_buffered(b->conns[i].dc)) {
				uint64_t before = b->ndone;

				if (reap(b, i) < 0)
					return -1;
				outstanding -= b->ndone - before;
				any = 1;
			}
		}
		if (any)
			continue;
		if (!outstanding && issued < total) {
			/* nothing to reap: sleep until the next op is due */
			struct timespec ts = { timeout / 1000, (timeout % 1000) * 1000000L };

			nanosleep(&ts, NULL);
			continue;
		}
		for (int i = 0; i < b->nconns; i++)
			pfd[i] = (struct pollfd){ .fd = zbs_dc_fd(b->conns[i].dc),
						  .events = zbs_dc_inflight(b->conns[i].dc) ?
							    POLLIN : 0 };
		n = poll(pfd, (nfds_t)b->nconns, timeout);
		if (n < 0 && errno != EINTR) {
			perror("bench-clientlat: poll");
			return -1;
		}
		if (n == 0 && timeout == STALL_MS) {
			fprintf(stderr, "bench-clientlat: no reply for %d ms (%" PRIu64
				" ops outstanding)\n", STALL_MS, outstanding);
			return -1;
		}
		for (int i = 0; n > 0 && i < b->nconns; i++) {
			uint64_t before = b->ndone;

			if (!pfd[i].revents)
				continue;
			if (!zbs_dc_inflight(b->conns[i].dc)) {
				fprintf(stderr, "bench-clientlat: connection to %s closed\n",
					b->conns[i].addr);
				return -1;
			}
			if (reap(b, i) < 0)
				return -1;
			outstanding -= b->ndone - before;
		}
	}
	t_end = zbs_now_ns();
	qsort(b->lat_ns, b->ndone, sizeof(*b->lat_ns), cmp_u64);
	printf("clientlat rw=%s iops=%.0f ops=%" PRIu64 " p50_us=%" PRIu64 " p99_us=%" PRIu64
	       " max_us=%" PRIu64 "\n", b->write ? "randwrite" : "randread",
	       (double)b->ndone * 1e9 / (double)(t_end - t0), b->ndone,
	       b->lat_ns[b->ndone / 2] / 1000, b->lat_ns[b->ndone * 99 / 100] / 1000,
	       b->lat_ns[b->ndone - 1] / 1000);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "replica", required_argument, NULL, 'r' },
		{ "pid", required_argument, NULL, 'p' },
		{ "epoch", required_argument, NULL, 'e' },
		{ "lease-epoch", required_argument, NULL, 'L' },
		{ "rw", required_argument, NULL, 'w' },
		{ "iops", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 's' },
		{ "iodepth", required_argument, NULL, 'd' },
		{ "span", required_argument, NULL, 'S' },
		{ "slow-us", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .iops = 1000, .seconds = 10, .depth = 8, .span = 64 << 20 };
	int c, nrep = 0, have_pid = 0, have_epoch = 0, have_le = 0, rw = -1, st = 1;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'r': {
			char host[256];
			uint16_t port;

			if (nrep == MAX_REPLICAS) {
				fprintf(stderr, "bench-clientlat: at most %d --replica\n",
					MAX_REPLICAS);
				return 2;
			}
			if (zbs_parse_hostport(optarg, NULL, 0, 0, host, sizeof(host), &port) < 0 ||
			    !port || strlen(optarg) >= sizeof(b.conns[0].addr)) {
				fprintf(stderr, "bench-clientlat: --replica '%s': need HOST:PORT\n",
					optarg);
				return 2;
			}
			strcpy(b.conns[nrep++].addr, optarg);
			break;
		}
		case 'p':
			if (arg_u64("pid", optarg, 1, UINT64_MAX, &b.pid) < 0)
				return 2;
			have_pid = 1;
			break;
		case 'e':
			if (arg_u64("epoch", optarg, 0, UINT64_MAX, &b.epoch) < 0)
				return 2;
			have_epoch = 1;
			break;
		case 'L':
			if (arg_u64("lease-epoch", optarg, 1, UINT64_MAX, &b.lease_epoch) < 0)
				return 2;
			have_le = 1;
			break;
		case 'w':
			if (strcmp(optarg, "randread") == 0) {
				rw = 0;
			} else if (strcmp(optarg, "randwrite") == 0) {
				rw = 1;
			} else {
				fprintf(stderr, "bench-clientlat: --rw '%s': randread or randwrite\n",
					optarg);
				return 2;
			}
			break;
		case 'i':
			if (arg_u64("iops", optarg, 1, 1000000, &b.iops) < 0)
				return 2;
			break;
		case 's':
			if (arg_u64("seconds", optarg, 1, 86400, &b.seconds) < 0)
				return 2;
			break;
		case 'd':
			if (arg_u64("iodepth", optarg, 1, MAX_DEPTH, &b.depth) < 0)
				return 2;
			break;
		case 'S':
			if (zbs_parse_size(optarg, &b.span) < 0 || b.span < BS ||
			    b.span > ZBS_EXTENT_SIZE || b.span % BS) {
				fprintf(stderr, "bench-clientlat: --span '%s': a multiple of 4K "
					"from 4K to 256M\n", optarg);
				return 2;
			}
			break;
		case 'T': {
			uint64_t us;

			if (arg_u64("slow-us", optarg, 1, 60000000, &us) < 0)
				return 2;
			b.slow_ns = us * 1000;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "bench-clientlat: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!nrep || !have_pid || !have_epoch || !have_le || rw < 0) {
		fprintf(stderr, "bench-clientlat: need --replica, --pid, --epoch, --lease-epoch "
			"and --rw (see --help)\n");
		return 2;
	}
	b.write = rw;
	b.nconns = b.write ? nrep : 1;
	b.rnd = zbs_wall_ns() ^ (b.pid << 32) ^ 88172645463325252ull;
	b.lat_ns = calloc(b.iops * b.seconds, sizeof(*b.lat_ns));
	b.slots = calloc(b.depth, sizeof(*b.slots));
	if (!b.lat_ns || !b.slots) {
		fprintf(stderr, "bench-clientlat: out of memory\n");
		goto out;
	}
	for (uint64_t i = 0; i < b.depth; i++) {
		struct slot *s = &b.slots[i];

		if (posix_memalign(&s->buf, BS, BS)) {
			fprintf(stderr, "bench-clientlat: out of memory\n");
			goto out;
		}
		memset(s->buf, 0x5a ^ (int)i, BS);
		s->next_free = b.free_slots;
		b.free_slots = s;
	}
	if (open_replicas(&b) == 0 && run(&b) == 0)
		st = 0;
out:
	for (int i = 0; i < nrep; i++)
		zbs_dc_close(b.conns[i].dc);
	for (uint64_t i = 0; b.slots && i < b.depth; i++)
		free(b.slots[i].buf);
	free(b.slots);
	free(b.lat_ns);
	return st;
}
