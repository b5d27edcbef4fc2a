// SPDX-License-Identifier: GPL-2.0
/*
 * Helper of agent_basic.sh until `zbsctl device add/del` exists: the
 * device ioctls on /dev/zbs-control, nothing else.
 *
 *   agent_dev add VOLUME_ID SIZE STRIPE_NUM STRIPE_SIZE REPLICA_NUM IO_TIMEOUT_MS
 *       -> prints /dev/zbsN
 *   agent_dev info /dev/zbsN   -> "state S open O maps M inflight I"
 *   agent_dev del /dev/zbsN
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/zbs.h>

static int ctl(void)
{
	int fd = open(ZBS_CONTROL_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		perror(ZBS_CONTROL_PATH);
		exit(1);
	}
	return fd;
}

static unsigned dev_id(const char *path)
{
	unsigned id;

	if (sscanf(path, "/dev/zbs%u", &id) != 1) {
		fprintf(stderr, "agent_dev: '%s' is not /dev/zbsN\n", path);
		exit(2);
	}
	return id;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "add")) {
		struct zbs_ioc_add_dev a;

		memset(&a, 0, sizeof(a));
		a.hdr.size = sizeof(a);
		snprintf(a.cfg.volume_id, sizeof(a.cfg.volume_id), "%s", argv[2]);
		snprintf(a.cfg.volume_name, sizeof(a.cfg.volume_name), "%s", argv[2]);
		a.cfg.size = strtoull(argv[3], NULL, 0);
		a.cfg.stripe_num = (unsigned)strtoul(argv[4], NULL, 0);
		a.cfg.stripe_size = (unsigned)strtoul(argv[5], NULL, 0);
		a.cfg.replica_num = (unsigned)strtoul(argv[6], NULL, 0);
		a.cfg.io_timeout_ms = (unsigned)strtoul(argv[7], NULL, 0);
		if (ioctl(ctl(), ZBS_IOC_ADD_DEV, &a) < 0) {
			perror("ZBS_IOC_ADD_DEV");
			return 1;
		}
		printf("/dev/zbs%u\n", a.dev_id);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "info")) {
		struct zbs_ioc_dev_info i;

		memset(&i, 0, sizeof(i));
		i.hdr.size = sizeof(i);
		i.dev_id = dev_id(argv[2]);
		if (ioctl(ctl(), ZBS_IOC_GET_INFO, &i) < 0) {
			perror("ZBS_IOC_GET_INFO");
			return 1;
		}
		printf("state %u open %u maps %u inflight %llu\n", i.state, i.open_count,
		       i.nr_maps, (unsigned long long)i.inflight);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "del")) {
		struct zbs_ioc_del_dev d;

		memset(&d, 0, sizeof(d));
		d.hdr.size = sizeof(d);
		d.dev_id = dev_id(argv[2]);
		if (ioctl(ctl(), ZBS_IOC_DEL_DEV, &d) < 0) {
			perror("ZBS_IOC_DEL_DEV");
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: agent_dev add VOLUME_ID SIZE STRIPE_NUM STRIPE_SIZE "
			"REPLICA_NUM IO_TIMEOUT_MS | info /dev/zbsN | del /dev/zbsN\n");
	return 2;
}
