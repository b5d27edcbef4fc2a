// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-probe: talk the data protocol to a zbs-chunkd by hand, through the
 * data client library. One request per run; prints the reply fields.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_client.h"
#include "net.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zbs-probe [-c HOST:PORT] [options] COMMAND\n"
		"commands: sync info read write write-zeroes flush blockmap\n"
		"          recover-begin recover-write recover-end\n"
		"  -c, --connect HOST:PORT  chunk data port (default 127.0.0.1:%u)\n"
		"  -p, --pid N          -e, --epoch N       -L, --lease-epoch N\n"
		"  -g, --gen N          -o, --offset BYTES  -n, --length BYTES\n"
		"      --fua            --thick             --create (sync: create if missing)\n"
		"read writes the data to stdout; write and recover-write take it from\n"
		"stdin (length = bytes read, a multiple of 512 up to 1 MiB);\n"
		"write-zeroes zeroes --length bytes at --offset (up to 256 MiB).\n"
		"Exit status: 0 ok, 1 the chunk answered an error, 2 usage/transport.\n",
		ZBS_WIRE_DEFAULT_PORT);
}

static const struct {
	const char *name;
	uint16_t op;
} cmds[] = {
	{ "sync", ZBS_OP_SYNC }, { "info", ZBS_OP_GET_INFO }, { "read", ZBS_OP_READ },
	{ "write", ZBS_OP_WRITE }, { "write-zeroes", ZBS_OP_WRITE_ZEROES },
	{ "flush", ZBS_OP_FLUSH },
	{ "blockmap", ZBS_OP_GET_BLOCK_MAP }, { "recover-begin", ZBS_OP_RECOVER_BEGIN },
	{ "recover-write", ZBS_OP_RECOVER_WRITE }, { "recover-end", ZBS_OP_RECOVER_END },
};

static int num(const char *s, uint64_t *v)
{
	if (zbs_parse_size(s, v) < 0) {
		fprintf(stderr, "zbs-probe: bad number '%s'\n", s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", required_argument, NULL, 'c' }, { "pid", required_argument, NULL, 'p' },
		{ "epoch", required_argument, NULL, 'e' },
		{ "lease-epoch", required_argument, NULL, 'L' },
		{ "gen", required_argument, NULL, 'g' }, { "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'n' }, { "fua", no_argument, NULL, 'F' },
		{ "thick", no_argument, NULL, 'T' }, { "create", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char host[256] = "127.0.0.1";
	uint16_t port = ZBS_WIRE_DEFAULT_PORT;
	struct zbs_dc_op op = { 0 };
	struct zbs_dc *dc;
	uint64_t len = 0;
	void *buf = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:p:e:L:g:o:n:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (zbs_parse_hostport(optarg, "127.0.0.1", 0, ZBS_HP_ANY_HOST, host,
					       sizeof(host), &port) < 0) {
				fprintf(stderr, "zbs-probe: bad address '%s'\n", optarg);
				return 2;
			}
			break;
		case 'p': if (num(optarg, &op.req.pid)) return 2; break;
		case 'e': if (num(optarg, &op.req.epoch)) return 2; break;
		case 'L': if (num(optarg, &op.req.lease_epoch)) return 2; break;
		case 'g': if (num(optarg, &op.req.gen)) return 2; break;
		case 'o': if (num(optarg, &op.req.offset)) return 2; break;
		case 'n': if (num(optarg, &len)) return 2; break;
		case 'F': op.req.flags |= ZBS_WF_FUA; break;
		case 'T': op.req.flags |= ZBS_SF_THICK; break;
		case 'C': op.req.flags |= ZBS_SF_CREATE; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (strcmp(argv[optind], cmds[i].name) == 0)
			op.req.opcode = cmds[i].op;
	if (!op.req.opcode) {
		fprintf(stderr, "zbs-probe: unknown command '%s'\n", argv[optind]);
		return 2;
	}
	if (op.req.opcode == ZBS_OP_READ) {
		if (len == 0 || len > ZBS_WIRE_MAX_IO) {
			fprintf(stderr, "zbs-probe: read needs --length (1..1M)\n");
			return 2;
		}
		op.req.length = (uint32_t)len;
		buf = malloc(len);
	} else if (op.req.opcode == ZBS_OP_WRITE_ZEROES) {
		if (len == 0 || len > ZBS_EXTENT_SIZE) {
			fprintf(stderr, "zbs-probe: write-zeroes needs --length (1..256M)\n");
			return 2;
		}
		op.req.length = (uint32_t)len;
	} else if (zbs_wire_op_has_payload(op.req.opcode)) {
		size_t cap = ZBS_WIRE_MAX_IO, n = 0;
		ssize_t r;

		buf = malloc(cap);
		while (buf && n < cap && (r = read(0, (char *)buf + n, cap - n)) > 0)
			n += (size_t)r;
		op.req.length = (uint32_t)n;
	} else if (op.req.opcode == ZBS_OP_GET_BLOCK_MAP) {
		buf = malloc(ZBS_WIRE_BLOCK_MAP_BYTES);
	}
	op.buf = buf;
	rc = zbs_dc_connect(host, port, &dc);
	if (rc < 0) {
		fprintf(stderr, "zbs-probe: connect %s:%u: %s\n", host, port, strerror(-rc));
		free(buf);
		return 2;
	}
	rc = zbs_dc_call(dc, &op);
	zbs_dc_close(dc);
	if (rc < 0) {
		fprintf(stderr, "zbs-probe: %s: %s\n", argv[optind], strerror(-rc));
		free(buf);
		return 2;
	}
	fprintf(rc || op.req.opcode == ZBS_OP_READ ? stderr : stdout,
		"status=%u (%s) gen=%llu epoch=%llu lease_epoch=%llu state=%u alloc_blocks=%u\n",
		op.reply.status, zbs_wire_status_str(op.reply.status),
		(unsigned long long)op.reply.gen, (unsigned long long)op.reply.epoch,
		(unsigned long long)op.reply.lease_epoch, op.reply.state, op.reply.alloc_blocks);
	if (!rc && op.req.opcode == ZBS_OP_READ)
		fwrite(buf, 1, op.reply.length, stdout);
	if (!rc && op.req.opcode == ZBS_OP_GET_BLOCK_MAP) {
		const uint8_t *m = buf;

		printf("blocks:");
		for (unsigned i = 0; i < ZBS_BLOCKS_PER_EXTENT; i++)
			if (m[i / 8] & (1U << (i % 8)))
				printf(" %u", i);
		printf("\n");
	}
	free(buf);
	return rc ? 1 : 0;
}
