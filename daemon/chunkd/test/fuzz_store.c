// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for request execution: the byte stream is split into
 * frames as the server does, and every frame that passes the stateless
 * checks runs through chunk_store_exec() against a real store in a temp dir
 * (pids folded to 0..3 so requests meet existing replicas). Invariants: no
 * crash or sanitizer report; replies are well formed; a replica's gen moves
 * only through an accepted WRITE (+1) or RECOVER_END, or a re-creation.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "chunk_store.h"

static struct chunk_store *st;
static char dir[256];
static uint8_t out[ZBS_WIRE_MAX_IO];

static int rm_one(const char *p, const struct stat *sb, int f, struct FTW *w)
{
	(void)sb; (void)f; (void)w;
	return remove(p);
}

static void cleanup(void)
{
	chunk_store_close(st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[300];

	(void)argc; (void)argv;
	zbs_log_init("fuzz_store", ZBS_LOG_ERR);
	snprintf(dir, sizeof(dir), "%s/zbs-fuzz-store.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/data", dir);
	if (chunk_store_open(path, NULL, &st))
		abort();
	atexit(cleanup);
	return 0;
}

struct ctx {
	struct chunk_store_batch b;
};

static void on_frame(const struct zbs_req *r0, int status, const uint8_t *payload, uint32_t plen,
		     void *arg)
{
	struct ctx *c = arg;
	struct zbs_req r = *r0;
	struct chunk_replica_info before, after;
	struct zbs_reply rep;
	int had;

	if (status != ZBS_ST_OK)
		return;
	r.pid %= 4;
	r.epoch %= 3;
	r.lease_epoch %= 8;
	had = chunk_store_get_replica(st, r.pid, &before) == 0;
	chunk_store_exec(st, &c->b, &r, payload, out, &rep);
	if (rep.id != r.id || rep.opcode != r.opcode || rep.status > ZBS_ST_MAX)
		abort();
	if (rep.status && rep.length)
		abort();
	if (!rep.status && r.opcode == ZBS_OP_READ && rep.length != r.length)
		abort();
	if (!rep.status && r.opcode == ZBS_OP_GET_BLOCK_MAP && rep.length != ZBS_WIRE_BLOCK_MAP_BYTES)
		abort();
	if (had && chunk_store_get_replica(st, r.pid, &after) == 0 && after.epoch == before.epoch) {
		uint64_t want = before.gen;

		bool write = r.opcode == ZBS_OP_WRITE || r.opcode == ZBS_OP_WRITE_ZEROES;

		if (write && !rep.status && before.state == ZBS_RSTATE_NORMAL) {
			if (r.gen != before.gen)	/* only the next expected gen is accepted */
				abort();
			want++;
		}
		if (write && rep.status == ZBS_ST_GEN && r.gen == before.gen)
			abort();
		if (r.opcode == ZBS_OP_RECOVER_END && !rep.status)
			want = r.gen;
		if (after.gen != want)
			abort();
		if (after.lease_epoch < before.lease_epoch)
			abort();
	}
	(void)plen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c = { .b = { .n = 0 } };

	zbs_wire_parse_stream(data, size, on_frame, &c);
	chunk_store_batch_commit(st, &c.b);
	return 0;
}
