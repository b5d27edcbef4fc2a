// SPDX-License-Identifier: GPL-2.0
/*
 * The recover cmd executor (chunk_recover.h) against two real zbs-chunkd
 * processes, src and dst, without meta: the ReplaceReplica of a cmd is a
 * callback that records it, and the agent (for the recovering target, its
 * revokes and the kernel's failure reports) runs without a session.
 *
 * - copy: dst ends with src's bytes and gen, normal, only the allocated
 *   blocks copied; a foreground write to dst during the copy (its dirty
 *   sectors) is not overwritten; the target is in the pid's maps during
 *   the copy and gone after;
 * - a READ failure (src killed), a revoke of the pid and the kernel's
 *   failure report of dst abort the cmd: not ok, dst left recovering;
 * - nonsense cmds end not ok at once; ids are run once (meta's resends);
 * - agile: only the blocks src took writes on since dst's gen are copied;
 *   a dst at another gen, or a src that no longer tracks that far back,
 *   fails the cmd;
 * - every cmd ends with exactly one callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk_agent.h"
#include "chunk_recover.h"
#include "data_client.h"
#include "harness.h"
#include "recover_gate.h"	/* RECOVER_GATE_NICE */
#include "log.h"
#include "util.h"

#define PID		77
#define EPOCH		5
#define LEASE_EPOCH	9
#define SRC_CID		1
#define DST_CID		2
#define MAX_DONE	16

struct fix {
	char tmp[256];
	struct chunkd_proc src, dst;
	struct zbs_dc *sdc, *ddc;
	struct chunk_agent *agent;
	pthread_mutex_t lock;		/* the results below */
	pthread_cond_t cond;
	unsigned ndone;
	struct chunk_session_recover cmds[MAX_DONE];
	struct chunk_recover_result res[MAX_DONE];
	uint64_t src_gen;
	uint8_t *src_data;		/* the first 8 blocks as written to src */
};

static void on_done(void *arg, const struct chunk_session_recover *cmd,
		    const struct chunk_recover_result *res)
{
	struct fix *f = arg;

	pthread_mutex_lock(&f->lock);
	if (f->ndone < MAX_DONE) {
		f->cmds[f->ndone] = *cmd;
		f->res[f->ndone] = *res;
	}
	f->ndone++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* wait (at most 30 s: a bound) until n callbacks came */
/* threads of process pid (0: this one) at nice value `nice` */
static unsigned threads_at_nice(pid_t pid, int nice)
{
	char path[64], line[512];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid ? (int)pid : (int)getpid());
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		FILE *fp;
		char *s;
		int v;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stat",
			 pid ? (int)pid : (int)getpid(), e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		s = fgets(line, sizeof(line), fp) ? strrchr(line, ')') : NULL;
		fclose(fp);
		/* after "(comm)": state and 15 more fields, then nice (field 19) */
		if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
				"%*d %*d %d", &v) == 1 && v == nice)
			n++;
	}
	closedir(d);
	return n;
}

static unsigned ndone(struct fix *f)
{
	unsigned n;

	pthread_mutex_lock(&f->lock);
	n = f->ndone;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void wait_done(struct fix *f, unsigned n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&f->lock);
	while (f->ndone < n)
		if (pthread_cond_timedwait(&f->cond, &f->lock, &ts))
			break;
	pthread_mutex_unlock(&f->lock);
	assert_true(f->ndone >= n);
}

/* blocks 0, 3 and 7 of src hold data (block 3 partly), written at gens 0..3 */
static void write_src(struct fix *f)
{
	static const struct { unsigned block; uint32_t off, len; } w[] = {
		{ 0, 0, ZBS_BLOCK_SIZE }, { 3, 4096, 65536 }, { 7, 0, ZBS_BLOCK_SIZE },
		{ 0, 8192, 4096 },
	};
	struct zbs_reply rep;

	assert_int_equal(zbs_dc_sync(f->sdc, PID, EPOCH, LEASE_EPOCH, ZBS_SF_CREATE, &rep), 0);
	f->src_data = calloc(8, ZBS_BLOCK_SIZE);
	assert_non_null(f->src_data);
	for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		uint64_t off = (uint64_t)w[i].block * ZBS_BLOCK_SIZE + w[i].off;

		harness_fill(f->src_data + off, w[i].len, 100 + i);
		assert_int_equal(zbs_dc_write(f->sdc, PID, EPOCH, LEASE_EPOCH, i, off, w[i].len,
					      f->src_data + off, 0, &rep), 0);
	}
	f->src_gen = 4;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct chunk_agent_config acfg = { .meta_addr = "127.0.0.1:1", .workers = 1 };
	char dir[300];

	assert_non_null(f);
	zbs_log_init("test_recover", ZBS_LOG_WARN);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	assert_int_equal(harness_tmpdir(f->tmp, sizeof(f->tmp)), 0);
	snprintf(dir, sizeof(dir), "%s/src", f->tmp);
	assert_int_equal(chunkd_start(&f->src, dir, NULL), 0);
	snprintf(dir, sizeof(dir), "%s/dst", f->tmp);
	assert_int_equal(chunkd_start(&f->dst, dir, NULL), 0);
	assert_int_equal(zbs_dc_connect("127.0.0.1", f->src.port, &f->sdc), 0);
	assert_int_equal(zbs_dc_connect("127.0.0.1", f->dst.port, &f->ddc), 0);
	f->agent = chunk_agent_start(&acfg, NULL);
	assert_non_null(f->agent);
	write_src(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	chunk_agent_stop(f->agent);
	zbs_dc_close(f->sdc);
	zbs_dc_close(f->ddc);
	if (f->src.pid > 0)
		chunkd_kill9(&f->src);
	if (f->dst.pid > 0)
		chunkd_kill9(&f->dst);
	if (!getenv("ZBS_TEST_KEEP"))
		harness_rmrf(f->tmp);
	free(f->src_data);
	free(f);
	return 0;
}

static struct chunk_session_recover make_cmd(struct fix *f, uint64_t id)
{
	struct chunk_session_recover c = {
		.id = id, .present = true, .pid = PID, .epoch = EPOCH, .lease_epoch = LEASE_EPOCH,
		.src_cid = SRC_CID, .dst_cid = DST_CID, .replace_cid = 3,
	};

	snprintf(c.src_addr, sizeof(c.src_addr), "127.0.0.1:%u", f->src.port);
	snprintf(c.dst_addr, sizeof(c.dst_addr), "127.0.0.1:%u", f->dst.port);
	return c;
}

static struct chunk_recover *start(struct fix *f, bool agent, uint64_t bps)
{
	struct chunk_recover_config cfg = { .bps = bps, .agent = agent ? f->agent : NULL };
	struct chunk_recover_ops ops = { .done = on_done, .arg = f };
	struct chunk_recover *r = chunk_recover_start(&cfg, &ops);

	assert_non_null(r);
	return r;
}

/* wait (bounded) until the running cmd copied at least one block */
static void wait_copying(struct chunk_recover *r)
{
	for (int i = 0; i < 3000; i++) {
		struct chunk_session_recover_progress p;

		if (chunk_recover_progress(r, &p, 1) == 1 && p.bytes_copied > 0) {
			assert_int_equal(p.bytes_total, 3 * ZBS_BLOCK_SIZE);
			return;
		}
		usleep(1000);
	}
	fail_msg("the copy did not start");
}

static void assert_dst_state(struct fix *f, uint32_t state)
{
	struct zbs_reply rep;

	assert_int_equal(zbs_dc_simple(f->ddc, ZBS_OP_GET_INFO, PID, EPOCH, 0, 0, &rep), 0);
	assert_int_equal(rep.state, state);
}

/* A map of the pid as the agent would answer it, with n current replicas. */
static bool map_current(struct fix *f, bool with_target)
{
	struct chunk_agent_map m = { .pid = PID, .epoch = EPOCH, .lease_epoch = LEASE_EPOCH,
				     .nr = 1 };
	bool cur;

	m.rep[0].cid = SRC_CID;
	if (with_target) {
		m.rep[1] = (struct chunk_agent_replica){ .cid = DST_CID,
							 .flags = CHUNK_AGENT_RF_RECOVERING };
		m.nr = 2;
	}
	chunk_agent_answer_lock(f->agent);
	cur = chunk_agent_map_current(f->agent, &m);
	chunk_agent_answer_unlock(f->agent);
	return cur;
}

static void test_copy(void **state)
{
	struct fix *f = *state;
	struct chunk_session_recover c = make_cmd(f, 1);
	struct chunk_recover *r = start(f, true, 4 * ZBS_BLOCK_SIZE);	/* 3 blocks: ~0.5 s */
	uint8_t *got = malloc(8 * ZBS_BLOCK_SIZE), fg[8192];
	uint64_t fg_off = 7ULL * ZBS_BLOCK_SIZE + 65536;
	struct zbs_reply rep;

	assert_non_null(got);
	assert_int_equal(chunk_recover_submit(r, &c), 0);
	assert_int_equal(chunk_recover_submit(r, &c), -EEXIST);	/* meta's resend */
	wait_copying(r);
	/* the pid's maps carry dst now (and only with it they are current) */
	assert_true(map_current(f, true));
	assert_false(map_current(f, false));
	/* a foreground write reaching dst before block 7 is copied: dirty */
	harness_fill(fg, sizeof(fg), 999);
	assert_int_equal(zbs_dc_write(f->ddc, PID, EPOCH, LEASE_EPOCH, 0, fg_off, sizeof(fg), fg,
				      0, &rep), 0);
	wait_done(f, 1);
	chunk_recover_stop(r);

	assert_int_equal(f->ndone, 1);		/* exactly once */
	assert_true(f->res[0].ok);
	assert_int_equal(f->cmds[0].id, 1);
	assert_int_equal(f->res[0].gen, f->src_gen);
	assert_int_equal(f->res[0].bytes_copied, 3 * ZBS_BLOCK_SIZE);	/* allocated only */
	assert_int_equal(zbs_dc_simple(f->ddc, ZBS_OP_GET_INFO, PID, EPOCH, 0, 0, &rep), 0);
	assert_int_equal(rep.state, ZBS_RSTATE_NORMAL);
	assert_int_equal(rep.gen, f->src_gen);
	/* dst = src, but for the foreground write */
	memcpy(f->src_data + fg_off, fg, sizeof(fg));
	for (unsigned b = 0; b < 8; b++)
		assert_int_equal(zbs_dc_read(f->ddc, PID, EPOCH, LEASE_EPOCH,
					     (uint64_t)b * ZBS_BLOCK_SIZE, ZBS_BLOCK_SIZE,
					     got + (size_t)b * ZBS_BLOCK_SIZE, NULL), 0);
	assert_memory_equal(got, f->src_data, 8 * ZBS_BLOCK_SIZE);
	/* the target is gone: maps without dst are current again */
	assert_true(map_current(f, false));
	free(got);
}

static void test_copy_without_agent(void **state)
{
	struct fix *f = *state;
	struct chunk_session_recover c = make_cmd(f, 2);
	struct chunk_recover *r = start(f, false, 0);
	struct zbs_reply rep;

	assert_int_equal(chunk_recover_submit(r, &c), 0);
	wait_done(f, 1);
	chunk_recover_stop(r);
	assert_int_equal(f->ndone, 1);
	assert_true(f->res[0].ok);
	assert_int_equal(f->res[0].gen, f->src_gen);
	assert_int_equal(zbs_dc_simple(f->ddc, ZBS_OP_GET_INFO, PID, EPOCH, 0, 0, &rep), 0);
	assert_int_equal(rep.gen, f->src_gen);
	assert_int_equal(rep.alloc_blocks, 3);
}

/* src's blocks written since gen `since`, and dst equal to src after */
static void assert_dst_equals_src(struct fix *f)
{
	uint8_t *a = malloc(ZBS_BLOCK_SIZE), *b = malloc(ZBS_BLOCK_SIZE);

	assert_non_null(a);
	assert_non_null(b);
	for (unsigned blk = 0; blk < 10; blk++) {
		uint64_t off = (uint64_t)blk * ZBS_BLOCK_SIZE;

		assert_int_equal(zbs_dc_read(f->sdc, PID, EPOCH, 0, off, ZBS_BLOCK_SIZE, a, NULL), 0);
		assert_int_equal(zbs_dc_read(f->ddc, PID, EPOCH, 0, off, ZBS_BLOCK_SIZE, b, NULL), 0);
		assert_memory_equal(a, b, ZBS_BLOCK_SIZE);
	}
	free(a);
	free(b);
}

/* one cmd run to its end without an agent; its result */
static struct chunk_recover_result run_one(struct fix *f, struct chunk_session_recover *c)
{
	struct chunk_recover *r = start(f, false, 0);
	unsigned n = f->ndone;

	assert_int_equal(chunk_recover_submit(r, c), 0);
	wait_done(f, n + 1);
	chunk_recover_stop(r);
	return f->res[n];
}

#define PACE_MIB	48	/* copied by test_pace: long enough to reach the floor */

/* a client of src: 4 KiB reads every 5 ms until stop */
struct client {
	uint16_t port;
	atomic_bool stop;
	unsigned n;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct zbs_dc *dc;
	uint8_t buf[4096];

	if (zbs_dc_connect("127.0.0.1", c->port, &dc))
		return NULL;
	while (!atomic_load(&c->stop)) {
		if (zbs_dc_read(dc, PID, EPOCH, LEASE_EPOCH, 0, sizeof(buf), buf, NULL) == 0)
			c->n++;
		usleep(5000);
	}
	zbs_dc_close(dc);
	return NULL;
}

/*
 * src restarted with the test fault CONTENTION (its client IO waits 20 ms
 * while it serves recovery IO) and --no-recover-pace unless pace; a cmd
 * copies its PACE_MIB at meta's budget of 16 MiB/s while a client reads
 * from it. The copy's ms; *src_niced, *dst_niced, *exec_niced: the most of
 * src's and dst's threads and of the executor's (this process) seen at
 * nice RECOVER_GATE_NICE meanwhile.
 */
static uint64_t contended_copy(struct fix *f, uint64_t id, bool pace, unsigned *src_niced,
			       unsigned *dst_niced, unsigned *exec_niced)
{
	static const char *const nopace[] = { "--no-recover-pace", NULL };
	const char *const *extra = pace ? NULL : nopace;
	struct chunk_recover_config cfg = { .bps = 16ULL << 20, .nice = pace };
	struct chunk_recover_ops ops = { .done = on_done, .arg = f };
	struct client cl = { 0 };
	struct chunk_session_recover c;
	struct chunk_recover *r;
	pthread_t th;
	uint64_t t0, ms;
	unsigned n = f->ndone;
	char dir[300];

	zbs_dc_close(f->sdc);
	chunkd_stop(&f->src);
	assert_int_equal(truncate(f->src.log, 0), 0);
	snprintf(dir, sizeof(dir), "%s/src", f->tmp);
	setenv("ZBS_CHUNKD_TEST_CONTENTION_MS", "20", 1);
	assert_int_equal(chunkd_start(&f->src, dir, extra), 0);
	unsetenv("ZBS_CHUNKD_TEST_CONTENTION_MS");
	assert_int_equal(zbs_dc_connect("127.0.0.1", f->src.port, &f->sdc), 0);
	cl.port = f->src.port;
	assert_int_equal(pthread_create(&th, NULL, client_main, &cl), 0);
	usleep(500000);			/* the clients' latency without recovery */
	c = make_cmd(f, id);		/* src's new port */
	r = chunk_recover_start(&cfg, &ops);
	assert_non_null(r);
	t0 = zbs_now_ns();
	assert_int_equal(chunk_recover_submit(r, &c), 0);
	*src_niced = *dst_niced = *exec_niced = 0;
	while (ndone(f) < n + 1 && zbs_now_ns() - t0 < 30000000000ULL) {
		unsigned s = threads_at_nice(f->src.pid, RECOVER_GATE_NICE);
		unsigned d = threads_at_nice(f->dst.pid, RECOVER_GATE_NICE);
		unsigned e = threads_at_nice(0, RECOVER_GATE_NICE);

		*src_niced = s > *src_niced ? s : *src_niced;
		*dst_niced = d > *dst_niced ? d : *dst_niced;
		*exec_niced = e > *exec_niced ? e : *exec_niced;
		usleep(20000);
	}
	wait_done(f, n + 1);
	ms = (zbs_now_ns() - t0) / 1000000;
	chunk_recover_stop(r);
	atomic_store(&cl.stop, true);
	pthread_join(th, NULL);
	assert_true(f->res[n].ok);
	assert_int_equal(f->res[n].bytes_copied, (uint64_t)PACE_MIB << 20);
	assert_true(cl.n > 10);
	assert_dst_equals_src(f);
	return ms;
}

/*
 * Recovery pacing in the chunk (recover_gate.h): the source's clients
 * suffer while it serves the copy, so it holds the copy's READs back (they
 * carry ZBS_DF_RECOVERY): the rate is cut down to the floor (4 MiB/s, the
 * copy is bound by the budget and the pace's decisions, not the machine's
 * speed) and the copy takes longer than under meta's budget alone. With
 * --no-recover-pace nothing is held.
 */
static void test_pace(void **state)
{
	struct fix *f = *state;
	uint8_t *buf = malloc(1 << 20);
	struct zbs_reply rep;
	uint64_t t_off, t_on;
	unsigned src_off, dst_off, exec_off, src_on, dst_on, exec_on;

	assert_non_null(buf);
	for (unsigned i = 0; i < PACE_MIB; i++) {
		harness_fill(buf, 1 << 20, 500 + i);
		assert_int_equal(zbs_dc_write(f->sdc, PID, EPOCH, LEASE_EPOCH, f->src_gen++,
					      (uint64_t)i << 20, 1 << 20, buf, 0, &rep), 0);
	}
	free(buf);
	t_off = contended_copy(f, 40, false, &src_off, &dst_off, &exec_off);
	assert_false(chunkd_log_has(&f->src, "recover pace: copy rate cut"));
	t_on = contended_copy(f, 41, true, &src_on, &dst_on, &exec_on);
	assert_true(chunkd_log_has(&f->src, "recover pace: copy rate cut to 4096 KiB/s"));
	print_message("# %u MiB at a budget of 16 MiB/s, src contended: %llu ms with the pace, "
		      "%llu ms without; threads at nice %d: src %u, dst %u, executor %u with "
		      "the pace, %u, %u, %u without\n", PACE_MIB, (unsigned long long)t_on,
		      (unsigned long long)t_off, RECOVER_GATE_NICE, src_on, dst_on, exec_on,
		      src_off, dst_off, exec_off);
	assert_true(t_on * 2 > t_off * 3);
	/* with the pace the copy's threads yield the CPU: src's two connections
	 * serving the copy's lanes (not its client's, not the others) and the
	 * executor's; without it none. Never dst's: its connections taking
	 * the copy's RECOVER_WRITEs hold the replica file's inode lock and the
	 * store's LMDB writer lock, which its client writes wait for (dst runs
	 * with the pace on in both) */
	assert_int_equal(src_on, 2);
	assert_true(exec_on >= 2);
	assert_int_equal(dst_on, 0);
	assert_int_equal(dst_off, 0);
	assert_int_equal(src_off, 0);
	assert_int_equal(exec_off, 0);
}

/*
 * A paced request whose wait ends before the chunk's connection loop looks
 * again (test fault PACE_NS=1 on src and dst, each recovery request held
 * 1 ns) still runs: the copy ends. It used to wait for the next frame of
 * its peer, and the copy's last request, whose peer waits for its reply
 * alone, never got one (the executor's 9 s timeout failed the cmd).
 */
static void test_pace_due(void **state)
{
	struct fix *f = *state;
	struct chunk_session_recover c;
	struct chunk_recover_result res;
	uint64_t t0, ms;
	char dir[300];

	zbs_dc_close(f->sdc);
	zbs_dc_close(f->ddc);
	chunkd_stop(&f->src);
	chunkd_stop(&f->dst);
	setenv("ZBS_CHUNKD_TEST_PACE_NS", "1", 1);
	snprintf(dir, sizeof(dir), "%s/src", f->tmp);
	assert_int_equal(chunkd_start(&f->src, dir, NULL), 0);
	snprintf(dir, sizeof(dir), "%s/dst", f->tmp);
	assert_int_equal(chunkd_start(&f->dst, dir, NULL), 0);
	unsetenv("ZBS_CHUNKD_TEST_PACE_NS");
	assert_int_equal(zbs_dc_connect("127.0.0.1", f->src.port, &f->sdc), 0);
	assert_int_equal(zbs_dc_connect("127.0.0.1", f->dst.port, &f->ddc), 0);
	for (uint64_t id = 60; id < 63; id++) {	/* more than one last request */
		c = make_cmd(f, id);
		t0 = zbs_now_ns();
		res = run_one(f, &c);
		ms = (zbs_now_ns() - t0) / 1000000;
		if (!res.ok)
			fail_msg("cmd %llu after %llu ms: %s", (unsigned long long)id,
				 (unsigned long long)ms, res.error);
		assert_int_equal(res.bytes_copied, 3 * ZBS_BLOCK_SIZE);
		assert_dst_equals_src(f);
	}
}

/*
 * Agile recovery: dst was a full copy at gen 4, then src alone took writes
 * on blocks 5 and 3 (gens 4, 5; dst was out of the location). The agile
 * cmd from gen 4 copies those two blocks and nothing else, and dst ends
 * equal to src at its gen. From a gen dst is not at it fails at
 * RECOVER_BEGIN; after src restarted (its tracking is gone) it fails at
 * GET_BLOCK_MAP: meta then recovers in full.
 */
static void test_agile(void **state)
{
	struct fix *f = *state;
	struct chunk_session_recover c = make_cmd(f, 20);
	struct chunk_recover_result res;
	uint8_t *buf = malloc(ZBS_BLOCK_SIZE);
	struct zbs_reply rep;
	char dir[300];

	assert_non_null(buf);
	res = run_one(f, &c);
	assert_true(res.ok);
	assert_int_equal(res.gen, 4);
	/* src alone: a whole block 5 and a part of block 3 */
	harness_fill(buf, ZBS_BLOCK_SIZE, 500);
	assert_int_equal(zbs_dc_write(f->sdc, PID, EPOCH, LEASE_EPOCH, 4, 5ULL * ZBS_BLOCK_SIZE,
				      ZBS_BLOCK_SIZE, buf, 0, &rep), 0);
	assert_int_equal(zbs_dc_write(f->sdc, PID, EPOCH, LEASE_EPOCH, 5,
				      3ULL * ZBS_BLOCK_SIZE + 100 * 512, 8192, buf, 0, &rep), 0);

	/* the chunk answers what was written since a gen */
	{
		uint8_t map[ZBS_WIRE_BLOCK_MAP_BYTES];

		assert_int_equal(zbs_dc_block_map_since(f->sdc, PID, EPOCH, 4, map, &rep), 0);
		assert_int_equal(map[0], (1U << 3) | (1U << 5));
		assert_int_equal(zbs_dc_block_map_since(f->sdc, PID, EPOCH, 5, map, &rep), 0);
		assert_int_equal(map[0], 1U << 3);
		assert_int_equal(zbs_dc_block_map_since(f->sdc, PID, EPOCH, 6, map, &rep), 0);
		assert_int_equal(map[0], 0);
		assert_int_equal(zbs_dc_block_map_since(f->sdc, PID, EPOCH, 0, map, &rep), 0);
		assert_int_equal(map[0], (1U << 0) | (1U << 3) | (1U << 5) | (1U << 7));
		/* dst finished a recovery at gen 4: tracked from there only */
		assert_int_equal(zbs_dc_block_map_since(f->ddc, PID, EPOCH, 3, map, &rep),
				 ZBS_ST_UNTRACKED);
		assert_int_equal(zbs_dc_block_map_since(f->ddc, PID, EPOCH, 4, map, &rep), 0);
	}

	/* not the gen dst is at: refused before anything is copied */
	c = make_cmd(f, 21);
	c.agile = true;
	c.since_gen = 3;
	res = run_one(f, &c);
	assert_false(res.ok);
	print_message("# %s\n", res.error);
	assert_non_null(strstr(res.error, "gen mismatch"));
	assert_int_equal(res.bytes_copied, 0);

	c = make_cmd(f, 22);
	c.agile = true;
	c.since_gen = 4;
	res = run_one(f, &c);
	assert_true(res.ok);
	assert_int_equal(res.gen, 6);
	assert_int_equal(res.bytes_copied, 2 * ZBS_BLOCK_SIZE);
	assert_int_equal(zbs_dc_simple(f->ddc, ZBS_OP_GET_INFO, PID, EPOCH, 0, 0, &rep), 0);
	assert_int_equal(rep.state, ZBS_RSTATE_NORMAL);
	assert_int_equal(rep.gen, 6);
	assert_dst_equals_src(f);

	/* src restarts: what it took before is not tracked any more */
	assert_int_equal(zbs_dc_write(f->sdc, PID, EPOCH, LEASE_EPOCH, 6, 0, 4096, buf, 0, &rep),
			 0);
	zbs_dc_close(f->sdc);
	f->sdc = NULL;
	chunkd_kill9(&f->src);
	snprintf(dir, sizeof(dir), "%s/src", f->tmp);
	assert_int_equal(chunkd_start(&f->src, dir, NULL), 0);
	assert_int_equal(zbs_dc_connect("127.0.0.1", f->src.port, &f->sdc), 0);
	c = make_cmd(f, 23);
	c.agile = true;
	c.since_gen = 6;
	res = run_one(f, &c);
	assert_false(res.ok);
	print_message("# %s\n", res.error);
	assert_non_null(strstr(res.error, "not tracked"));
	/* dst holds a block src never had: a full copy must not keep it */
	assert_int_equal(zbs_dc_write(f->ddc, PID, EPOCH, LEASE_EPOCH, 0, 9ULL * ZBS_BLOCK_SIZE,
				      4096, buf, 0, &rep), 0);
	/* a full one still does it */
	c = make_cmd(f, 24);
	res = run_one(f, &c);
	assert_true(res.ok);
	assert_int_equal(res.gen, 7);
	assert_dst_equals_src(f);
	assert_int_equal(zbs_dc_simple(f->sdc, ZBS_OP_GET_INFO, PID, EPOCH, 0, 0, &rep), 0);
	{
		uint32_t src_blocks = rep.alloc_blocks;

		assert_int_equal(zbs_dc_simple(f->ddc, ZBS_OP_GET_INFO, PID, EPOCH, 0, 0, &rep), 0);
		assert_int_equal(rep.alloc_blocks, src_blocks);
	}
	free(buf);
}

static void test_read_failure(void **state)
{
	struct fix *f = *state;
	struct chunk_session_recover c = make_cmd(f, 3);
	struct chunk_recover *r = start(f, true, 2 * ZBS_BLOCK_SIZE);	/* ~1 s */

	assert_int_equal(chunk_recover_submit(r, &c), 0);
	wait_copying(r);
	chunkd_kill9(&f->src);
	wait_done(f, 1);
	chunk_recover_stop(r);
	assert_int_equal(f->ndone, 1);
	assert_false(f->res[0].ok);
	print_message("# %s\n", f->res[0].error);
	assert_non_null(strstr(f->res[0].error, "src"));
	assert_dst_state(f, ZBS_RSTATE_RECOVERING);
	assert_true(map_current(f, false));	/* target gone */
}

static void test_revoke_aborts(void **state)
{
	struct fix *f = *state;
	struct chunk_session_recover c = make_cmd(f, 4);
	struct chunk_recover *r = start(f, true, 2 * ZBS_BLOCK_SIZE);

	assert_int_equal(chunk_recover_submit(r, &c), 0);
	wait_copying(r);
	chunk_agent_revoke_hook(f->agent, CHUNK_SESSION_REVOKE_PID, "", PID, 0);
	wait_done(f, 1);
	chunk_recover_stop(r);
	assert_int_equal(f->ndone, 1);
	assert_false(f->res[0].ok);
	assert_non_null(strstr(f->res[0].error, "revoked"));
	assert_dst_state(f, ZBS_RSTATE_RECOVERING);
	assert_true(map_current(f, false));
}

static void test_kernel_report_aborts(void **state)
{
	struct fix *f = *state;
	struct chunk_session_recover c = make_cmd(f, 5);
	struct chunk_recover *r = start(f, true, 2 * ZBS_BLOCK_SIZE);
	struct chunk_agent_conn *conn = chunk_agent_conn_new(f->agent);

	assert_non_null(conn);
	assert_int_equal(chunk_recover_submit(r, &c), 0);
	wait_copying(r);
	/* acknowledged at once, no meta asked (there is none here) */
	assert_int_equal(chunk_agent_replica_failed(conn, PID, EPOCH, LEASE_EPOCH, DST_CID, 4), 0);
	wait_done(f, 1);
	chunk_recover_stop(r);
	chunk_agent_conn_free(conn);
	assert_false(f->res[0].ok);
	assert_non_null(strstr(f->res[0].error, "kernel"));
	assert_dst_state(f, ZBS_RSTATE_RECOVERING);
}

/* The agent's side of a target: a failure report before the commit
 * aborts it, one after is answered -EAGAIN (sent again until the target
 * is gone, then removed through meta). */
static void test_target_commit(void **state)
{
	struct fix *f = *state;
	struct chunk_agent_conn *conn = chunk_agent_conn_new(f->agent);
	char why[160];

	assert_non_null(conn);
	assert_int_equal(chunk_agent_target_add(f->agent, PID, EPOCH, LEASE_EPOCH, DST_CID,
						"127.0.0.1:1"), 0);
	assert_int_equal(chunk_agent_target_add(f->agent, PID, EPOCH, LEASE_EPOCH, DST_CID,
						"127.0.0.1:1"), -EEXIST);
	assert_int_equal(chunk_agent_replica_failed(conn, PID, EPOCH, LEASE_EPOCH, DST_CID, 1), 0);
	assert_true(chunk_agent_target_aborted(f->agent, PID, why, sizeof(why)));
	assert_false(chunk_agent_target_commit(f->agent, PID));
	chunk_agent_target_del(f->agent, PID);

	assert_int_equal(chunk_agent_target_add(f->agent, PID, EPOCH, LEASE_EPOCH, DST_CID,
						"127.0.0.1:1"), 0);
	chunk_agent_target_finish(f->agent, PID);
	assert_true(chunk_agent_target_commit(f->agent, PID));
	assert_int_equal(chunk_agent_replica_failed(conn, PID, EPOCH, LEASE_EPOCH, DST_CID, 1),
			 -EAGAIN);
	assert_false(chunk_agent_target_aborted(f->agent, PID, NULL, 0));
	chunk_agent_target_del(f->agent, PID);
	assert_int_equal(chunk_agent_target_add(f->agent, PID, EPOCH, LEASE_EPOCH, DST_CID,
						"nonsense"), -EINVAL);
	chunk_agent_conn_free(conn);
}

static void test_nonsense(void **state)
{
	struct fix *f = *state;
	struct chunk_recover *r = start(f, true, 0);
	struct chunk_session_recover bad[6];
	unsigned n = sizeof(bad) / sizeof(bad[0]);

	for (unsigned i = 0; i < n; i++)
		bad[i] = make_cmd(f, 10 + i);
	bad[0].present = false;
	bad[1].pid = 0;
	bad[2].lease_epoch = 0;
	bad[3].dst_cid = SRC_CID;
	snprintf(bad[4].dst_addr, sizeof(bad[4].dst_addr), "nonsense");
	bad[5].replace_cid = DST_CID;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(chunk_recover_submit(r, &bad[i]), 0);
	wait_done(f, n);
	assert_int_equal(chunk_recover_submit(r, &bad[0]), -EEXIST);	/* done: still known */
	chunk_recover_stop(r);
	assert_int_equal(f->ndone, n);
	for (unsigned i = 0; i < n; i++) {
		assert_false(f->res[i].ok);
		assert_non_null(strstr(f->res[i].error, "invalid recover cmd"));
	}
	/* dst untouched */
	assert_int_equal(zbs_dc_simple(f->ddc, ZBS_OP_GET_INFO, PID, EPOCH, 0, 0, NULL),
			 ZBS_ST_NOENT);
}

static void test_stop_ends_all(void **state)
{
	struct fix *f = *state;
	struct chunk_recover *r = start(f, true, ZBS_BLOCK_SIZE);	/* ~2 s each */
	struct chunk_session_recover c = make_cmd(f, 20), d = make_cmd(f, 21);

	chunk_recover_set_limits(r, 1, ZBS_BLOCK_SIZE);
	d.pid = PID + 1;		/* no such replica: would fail anyway */
	assert_int_equal(chunk_recover_submit(r, &c), 0);
	assert_int_equal(chunk_recover_submit(r, &d), 0);
	wait_copying(r);
	chunk_recover_stop(r);		/* one running, one queued */
	assert_int_equal(f->ndone, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_false(f->res[i].ok);
		assert_non_null(strstr(f->res[i].error, "stopping"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_without_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pace_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_aborts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_report_aborts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonsense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_ends_all, setup, teardown),
	};
	return cmocka_run_group_tests_name("recover", tests, NULL, NULL);
}
