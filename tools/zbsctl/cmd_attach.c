// SPDX-License-Identifier: GPL-2.0
/*
 * zbsctl attach VOLUME / zbsctl detach /dev/zbsN|VOLUME (ARCHITECTURE.md 4
 * step 1): attach asks meta for the volume (name or id) and creates its
 * block device with the volume's geometry through ZBS_IOC_ADD_DEV; detach
 * removes the device (zbsctl_dev_del of cmd_device.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl_dev.h"
#include "meta_client.h"
#include "util.h"
#include "zbsctl.h"
#include "zbsctl_device.h"

static void attach_usage(FILE *f)
{
	fprintf(f,
		"Usage: zbsctl [--meta HOST:PORT] attach VOLUME [--io-timeout-ms MS] [--read-only]\n"
		"       zbsctl detach /dev/zbsN|zbsN|N|VOLUME\n"
		"\n"
		"attach: ask zbs-metad for VOLUME (name or id) and create its block\n"
		"device with the volume's size, stripes and replicas; prints /dev/zbsN.\n"
		"detach: remove the device of an attached volume (refused while open).\n"
		"Exit status: 0 ok, 1 failed (e.g. already attached), 2 usage,\n"
		"3 no such volume or device, 4 module not loaded or meta unreachable.\n");
}

/* the device configuration of a volume from meta */
static int volume_config(const struct zbsctl_opts *o, const char *volume,
			 struct zbs_ioc_dev_config *cfg)
{
	Zbs__VolumeShowRequest req = ZBS__VOLUME_SHOW_REQUEST__INIT;
	Zbs__VolumeShowResponse *resp = NULL;
	struct zbs_rpc_client c;
	const Zbs__Volume *v;
	int st;

	st = zc_connect(o, &c);
	if (st)
		return st;
	req.volume = (char *)volume;
	st = zc_call(&c, ZBS_M_VOLUME_SHOW, &req, &zbs__volume_show_response__descriptor, &resp);
	zbs_rpc_close(&c);
	if (st)
		return st;
	v = resp->volume;
	if (!v || !v->id[0] || strlen(v->id) >= sizeof(cfg->volume_id)) {
		zbsctl_err("meta answered an unusable volume for '%s'", volume);
		zbs__volume_show_response__free_unpacked(resp, NULL);
		return ZBSCTL_ERR;
	}
	cfg->size = v->size;
	cfg->stripe_num = v->stripe_num;
	cfg->stripe_size = v->stripe_size;
	cfg->replica_num = v->replica_num;
	snprintf(cfg->volume_id, sizeof(cfg->volume_id), "%s", v->id);
	snprintf(cfg->volume_name, sizeof(cfg->volume_name), "%.*s",
		 (int)sizeof(cfg->volume_name) - 1, v->name);
	zbs__volume_show_response__free_unpacked(resp, NULL);
	return ZBSCTL_OK;
}

static int attach_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "io-timeout-ms", required_argument, NULL, 't' },
		{ "read-only", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zbs_ioc_dev_config cfg = { 0 };
	uint32_t id;
	uint64_t v;
	int c, fd, st;

	optind = 0;	/* glibc: 0 also resets the permutation state */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (zbs_parse_u64(optarg, 1, 3600 * 1000, &v)) {
				zbsctl_err("--io-timeout-ms '%s': 1..3600000", optarg);
				return ZBSCTL_USAGE;
			}
			cfg.io_timeout_ms = (uint32_t)v;
			break;
		case 'R':
			cfg.flags |= ZBS_DEV_F_READONLY;
			break;
		case 'h':
			attach_usage(stdout);
			return ZBSCTL_OK;
		default:
			attach_usage(stderr);
			return ZBSCTL_USAGE;
		}
	}
	if (optind + 1 != argc) {
		attach_usage(stderr);
		return ZBSCTL_USAGE;
	}
	st = volume_config(o, argv[optind], &cfg);
	if (st)
		return st;
	fd = zbsctl_ctl_open(o->control, &st);
	if (fd < 0)
		return st;
	if (zbsctl_dev_add(fd, &cfg, &id) < 0) {
		close(fd);
		return ZBSCTL_ERR;
	}
	close(fd);
	if (o->json)
		printf("{ \"device\": \"/dev/zbs%u\", \"volume_id\": \"%s\" }\n", id, cfg.volume_id);
	else
		printf("/dev/zbs%u\n", id);
	return ZBSCTL_OK;
}

static int detach_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	int fd, st;

	if (argc == 2 && zbsctl_is_help(argv[1])) {
		attach_usage(stdout);
		return ZBSCTL_OK;
	}
	if (argc != 2 || argv[1][0] == '-') {
		attach_usage(stderr);
		return ZBSCTL_USAGE;
	}
	fd = zbsctl_ctl_open(o->control, &st);
	if (fd < 0)
		return st;
	st = zbsctl_dev_del(fd, argv[1]);
	close(fd);
	return st;
}

static struct zbsctl_object attach_obj = {
	.name = "attach",
	.summary = "attach a volume as /dev/zbsN (geometry from zbs-metad)",
	.run = attach_run,
};
ZBSCTL_OBJECT(attach_obj)

static struct zbsctl_object detach_obj = {
	.name = "detach",
	.summary = "detach /dev/zbsN or an attached volume",
	.run = detach_run,
};
ZBSCTL_OBJECT(detach_obj)
