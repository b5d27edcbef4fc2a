// SPDX-License-Identifier: GPL-2.0
/*
 * zbsctl device: the block devices of this host, through the control
 * device's ioctls. `device add` is the low-level attach that takes the
 * volume's geometry on the command line (`zbsctl attach` asks meta for it).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <json-c/json.h>

#include "ctl_dev.h"
#include "ctldev.h"
#include "util.h"
#include "zbsctl.h"
#include "zbsctl_device.h"

static void device_usage(FILE *f)
{
	fprintf(f,
		"Usage: zbsctl device list\n"
		"       zbsctl device show DEVICE\n"
		"       zbsctl device add --volume-id ID --size SIZE [--name NAME]\n"
		"                         [--stripe-num N] [--stripe-size SIZE] [--replica-num N]\n"
		"                         [--io-timeout-ms MS] [--read-only]\n"
		"       zbsctl device del DEVICE\n"
		"\n"
		"DEVICE is /dev/zbsN, zbsN, N, or the id or name of an attached volume.\n"
		"`device add` attaches a volume whose geometry is given here; it prints\n"
		"/dev/zbsN. Sizes take units (256K, 10G). Defaults: stripe-num 1,\n"
		"stripe-size 256K, replica-num 2, io-timeout-ms %u.\n",
		ZBS_IO_TIMEOUT_DEFAULT_MS);
}

int zbsctl_dev_info(int fd, uint32_t id, struct zbs_ioc_dev_info *info)
{
	return zbs_ctldev_info(fd, id, info);
}

int zbsctl_dev_list(int fd, uint32_t *ids, uint32_t cap)
{
	return zbs_ctldev_list(fd, ids, cap);
}

int zbsctl_dev_resolve(int fd, const char *arg, uint32_t *id)
{
	static uint32_t ids[ZBS_MAX_DEVS];
	const char *p = arg;
	uint64_t v;
	int n;

	if (strncmp(p, "/dev/", 5) == 0)
		p += 5;
	if (strncmp(p, "zbs", 3) == 0 && p[3] >= '0' && p[3] <= '9')
		p += 3;
	if (zbs_parse_u64(p, 0, ZBS_MAX_DEVS - 1, &v) == 0) {
		*id = (uint32_t)v;
		return 0;
	}
	n = zbsctl_dev_list(fd, ids, ZBS_MAX_DEVS);
	for (int i = 0; i < n; i++) {
		struct zbs_ioc_dev_info info;

		if (zbsctl_dev_info(fd, ids[i], &info) == 0 &&
		    (!strcmp(info.cfg.volume_id, arg) || !strcmp(info.cfg.volume_name, arg))) {
			*id = ids[i];
			return 0;
		}
	}
	return -1;
}

static json_object *info_json(const struct zbs_ioc_dev_info *i)
{
	json_object *j = json_object_new_object();
	char dev[32];

	snprintf(dev, sizeof(dev), "/dev/zbs%u", i->dev_id);
	json_object_object_add(j, "device", json_object_new_string(dev));
	json_object_object_add(j, "volume_id", json_object_new_string(i->cfg.volume_id));
	json_object_object_add(j, "volume_name", json_object_new_string(i->cfg.volume_name));
	json_object_object_add(j, "size", json_object_new_uint64(i->cfg.size));
	json_object_object_add(j, "stripe_num", json_object_new_int(i->cfg.stripe_num));
	json_object_object_add(j, "stripe_size", json_object_new_int(i->cfg.stripe_size));
	json_object_object_add(j, "replica_num", json_object_new_int(i->cfg.replica_num));
	json_object_object_add(j, "io_timeout_ms", json_object_new_int(i->cfg.io_timeout_ms));
	json_object_object_add(j, "read_only",
			       json_object_new_boolean(i->cfg.flags & ZBS_DEV_F_READONLY));
	json_object_object_add(j, "state", json_object_new_string(
				       i->state == ZBS_DEV_LIVE ? "live" : "dying"));
	json_object_object_add(j, "open_count", json_object_new_int(i->open_count));
	json_object_object_add(j, "cached_maps", json_object_new_int(i->nr_maps));
	json_object_object_add(j, "inflight", json_object_new_uint64(i->inflight));
	json_object_object_add(j, "read_bytes_local", json_object_new_uint64(i->read_bytes_local));
	json_object_object_add(j, "read_bytes_remote",
			       json_object_new_uint64(i->read_bytes_remote));
	return j;
}

static int device_list(const struct zbsctl_opts *o, int fd)
{
	static uint32_t ids[ZBS_MAX_DEVS];
	json_object *arr = o->json ? json_object_new_array() : NULL;
	int n = zbsctl_dev_list(fd, ids, ZBS_MAX_DEVS);

	if (n < 0) {
		zbsctl_err("ZBS_IOC_LIST: %s", strerror(errno));
		json_object_put(arr);
		return ZBSCTL_ERR;
	}
	if (!o->json)
		printf("%-12s %-38s %-20s %10s %-6s\n", "DEVICE", "VOLUME", "NAME", "SIZE", "STATE");
	for (int i = 0; i < n; i++) {
		struct zbs_ioc_dev_info info;
		char size[32], dev[32];

		if (zbsctl_dev_info(fd, ids[i], &info) < 0)
			continue;	/* removed meanwhile */
		if (arr) {
			json_object_array_add(arr, info_json(&info));
			continue;
		}
		zbs_format_size(info.cfg.size, size, sizeof(size));
		snprintf(dev, sizeof(dev), "/dev/zbs%u", info.dev_id);
		printf("%-12s %-38s %-20s %10s %-6s\n", dev, info.cfg.volume_id,
		       info.cfg.volume_name, size, info.state == ZBS_DEV_LIVE ? "live" : "dying");
	}
	if (arr) {
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
	}
	return ZBSCTL_OK;
}

static int device_show(const struct zbsctl_opts *o, int fd, const char *arg)
{
	struct zbs_ioc_dev_info info;
	json_object *j;
	uint32_t id;

	if (zbsctl_dev_resolve(fd, arg, &id) < 0 || zbsctl_dev_info(fd, id, &info) < 0) {
		zbsctl_err("no such device: %s", arg);
		return ZBSCTL_NOTFOUND;
	}
	j = info_json(&info);
	if (o->json) {
		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
	} else {
		json_object_object_foreach(j, k, v)
			printf("%-14s %s\n", k, json_object_get_string(v));
	}
	json_object_put(j);
	return ZBSCTL_OK;
}

int zbsctl_dev_add(int fd, const struct zbs_ioc_dev_config *cfg, uint32_t *id)
{
	struct zbs_ioc_add_dev a;

	ZBSCTL_IOC_INIT(a);
	a.cfg = *cfg;
	if (ioctl(fd, ZBS_IOC_ADD_DEV, &a) < 0) {
		if (errno == EEXIST)
			zbsctl_err("volume %s is already attached", cfg->volume_id);
		else if (errno == EINVAL)
			zbsctl_err("the kernel rejected the volume geometry (size %llu, stripe %u x %u)",
				   (unsigned long long)cfg->size, cfg->stripe_num, cfg->stripe_size);
		else if (errno == EBUSY)
			zbsctl_err("no free device number (at most %u devices)", ZBS_MAX_DEVS);
		else
			zbsctl_err("ZBS_IOC_ADD_DEV: %s", strerror(errno));
		return -1;
	}
	*id = a.dev_id;
	return 0;
}

/* Parse `device add` options; returns -1 when done (help), else a status. */
static int device_add_parse(int argc, char **argv, struct zbs_ioc_dev_config *out)
{
	static const struct option opts[] = {
		{ "volume-id", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "stripe-num", required_argument, NULL, 'N' },
		{ "stripe-size", required_argument, NULL, 'S' },
		{ "replica-num", required_argument, NULL, 'r' },
		{ "io-timeout-ms", required_argument, NULL, 't' },
		{ "read-only", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct zbs_ioc_dev_config cfg = {
		.stripe_num = 1, .stripe_size = ZBS_STRIPE_SIZE_DEFAULT, .replica_num = 2,
	};
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!*optarg || strlen(optarg) >= sizeof(cfg.volume_id)) {
				zbsctl_err("--volume-id must be 1..%zu characters", sizeof(cfg.volume_id) - 1);
				return ZBSCTL_USAGE;
			}
			strcpy(cfg.volume_id, optarg);
			break;
		case 'n':
			if (strlen(optarg) >= sizeof(cfg.volume_name)) {
				zbsctl_err("--name is longer than %zu characters", sizeof(cfg.volume_name) - 1);
				return ZBSCTL_USAGE;
			}
			strcpy(cfg.volume_name, optarg);
			break;
		case 's':
			if (zbs_parse_size(optarg, &v) || !v || v % 4096) {
				zbsctl_err("--size '%s': a size that is a multiple of 4 KiB, e.g. 10G", optarg);
				return ZBSCTL_USAGE;
			}
			cfg.size = v;
			break;
		case 'N':
			if (zbs_parse_u64(optarg, 1, ZBS_STRIPE_NUM_MAX, &v)) {
				zbsctl_err("--stripe-num '%s': 1..%u", optarg, ZBS_STRIPE_NUM_MAX);
				return ZBSCTL_USAGE;
			}
			cfg.stripe_num = (uint32_t)v;
			break;
		case 'S':
			if (zbs_parse_size(optarg, &v) || v > ZBS_EXTENT_SIZE ||
			    zbs_layout_valid(1, (uint32_t)v)) {
				zbsctl_err("--stripe-size '%s': a power of two from 4K to 256M", optarg);
				return ZBSCTL_USAGE;
			}
			cfg.stripe_size = (uint32_t)v;
			break;
		case 'r':
			if (zbs_parse_u64(optarg, 1, 3, &v)) {
				zbsctl_err("--replica-num '%s': 1, 2 or 3", optarg);
				return ZBSCTL_USAGE;
			}
			cfg.replica_num = (uint32_t)v;
			break;
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
		default:
			device_usage(stderr);
			return ZBSCTL_USAGE;
		}
	}
	if (optind != argc || !cfg.volume_id[0] || !cfg.size) {
		zbsctl_err("device add needs --volume-id and --size (see 'zbsctl device --help')");
		return ZBSCTL_USAGE;
	}
	if (!cfg.volume_name[0])
		snprintf(cfg.volume_name, sizeof(cfg.volume_name), "%.*s",
			 (int)sizeof(cfg.volume_name) - 1, cfg.volume_id);
	*out = cfg;
	return ZBSCTL_OK;
}

static int device_add(const struct zbsctl_opts *o, int fd, const struct zbs_ioc_dev_config *cfg)
{
	uint32_t id;

	if (zbsctl_dev_add(fd, cfg, &id) < 0)
		return ZBSCTL_ERR;
	if (o->json)
		printf("{ \"device\": \"/dev/zbs%u\" }\n", id);
	else
		printf("/dev/zbs%u\n", id);
	return ZBSCTL_OK;
}

int zbsctl_dev_del(int fd, const char *arg)
{
	struct zbs_ioc_del_dev d;
	uint32_t id;

	if (zbsctl_dev_resolve(fd, arg, &id) < 0) {
		zbsctl_err("no such device: %s", arg);
		return ZBSCTL_NOTFOUND;
	}
	ZBSCTL_IOC_INIT(d);
	d.dev_id = id;
	if (ioctl(fd, ZBS_IOC_DEL_DEV, &d) < 0) {
		if (errno == EBUSY)
			zbsctl_err("/dev/zbs%u is open (mounted or in use); close it first", id);
		else if (errno == ENOENT)
			zbsctl_err("no such device: /dev/zbs%u", id);
		else
			zbsctl_err("ZBS_IOC_DEL_DEV: %s", strerror(errno));
		return errno == ENOENT ? ZBSCTL_NOTFOUND : ZBSCTL_ERR;
	}
	return ZBSCTL_OK;
}

static int device_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL;
	struct zbs_ioc_dev_config cfg;
	int fd, st = ZBSCTL_OK;

	if (!verb || zbsctl_is_help(verb)) {
		device_usage(verb ? stdout : stderr);
		return verb ? ZBSCTL_OK : ZBSCTL_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (zbsctl_is_help(argv[i])) {
			device_usage(stdout);
			return ZBSCTL_OK;
		}
	}
	if (strcmp(verb, "list") && strcmp(verb, "show") && strcmp(verb, "add") &&
	    strcmp(verb, "del") && strcmp(verb, "detach")) {
		zbsctl_err("unknown verb 'device %s'; see 'zbsctl device --help'", verb);
		return ZBSCTL_USAGE;
	}
	if ((!strcmp(verb, "list") && argc != 2) ||
	    ((!strcmp(verb, "show") || !strcmp(verb, "del") || !strcmp(verb, "detach")) && argc != 3)) {
		device_usage(stderr);
		return ZBSCTL_USAGE;
	}
	if (!strcmp(verb, "add")) {
		st = device_add_parse(argc - 1, argv + 1, &cfg);
		if (st != ZBSCTL_OK)
			return st;
	}
	fd = zbsctl_ctl_open(o->control, &st);
	if (fd < 0)
		return st;
	if (!strcmp(verb, "list"))
		st = device_list(o, fd);
	else if (!strcmp(verb, "show"))
		st = device_show(o, fd, argv[2]);
	else if (!strcmp(verb, "add"))
		st = device_add(o, fd, &cfg);
	else
		st = zbsctl_dev_del(fd, argv[2]);
	close(fd);
	return st;
}

static struct zbsctl_object device_obj = {
	.name = "device",
	.summary = "block devices of this host: list, show, add (low level), del",
	.run = device_run,
};
ZBSCTL_OBJECT(device_obj)
