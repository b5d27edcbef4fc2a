// SPDX-License-Identifier: GPL-2.0
/*
 * Device ioctls of /dev/zbs-control: ADD_DEV, GET_INFO, LIST, DEL_DEV,
 * the validation of their arguments, and the device's queue limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include <linux/zbs.h>

#include "ktap.h"

static int ctl;

static void cfg_init(struct zbs_ioc_add_dev *a, const char *vol)
{
	memset(a, 0, sizeof(*a));
	a->hdr.size = sizeof(*a);
	a->cfg.size = 8ULL << 30;
	a->cfg.stripe_num = 4;
	a->cfg.stripe_size = 256 * 1024;
	a->cfg.replica_num = 3;
	a->cfg.io_timeout_ms = 2000;
	snprintf(a->cfg.volume_id, sizeof(a->cfg.volume_id), "%s", vol);
	snprintf(a->cfg.volume_name, sizeof(a->cfg.volume_name), "name-%s", vol);
}

static int add_fails(struct zbs_ioc_add_dev *a, int want, const char *what)
{
	int r = ioctl(ctl, ZBS_IOC_ADD_DEV, a);

	if (r == 0) {
		printf("# %s: ADD_DEV succeeded (dev %u)\n", what, a->dev_id);
		return 0;
	}
	if (errno != want) {
		printf("# %s: errno %d, want %d\n", what, errno, want);
		return 0;
	}
	return 1;
}

static int sysfs_u64(const char *dev, const char *attr, unsigned long long *v)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", dev, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%llu", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

static int wait_path(const char *p)
{
	for (int i = 0; i < 50; i++) {
		if (access(p, F_OK) == 0)
			return 0;
		usleep(100000);
	}
	return -1;
}

int main(void)
{
	struct zbs_ioc_add_dev a, b;
	struct zbs_ioc_dev_info info;
	struct zbs_ioc_list l;
	struct zbs_ioc_del_dev d;
	char path[64], name[32];
	unsigned long long v;
	__u32 ids[8];
	int ok, fd;

	ktap_plan(13);
	ctl = open(ZBS_CONTROL_PATH, O_RDWR);
	if (ctl < 0) {
		printf("# open: %s\n", strerror(errno));
		return 1;
	}

	cfg_init(&a, "vol-a");
	ok = ioctl(ctl, ZBS_IOC_ADD_DEV, &a) == 0;
	snprintf(name, sizeof(name), "zbs%u", a.dev_id);
	snprintf(path, sizeof(path), "/dev/%s", name);
	ktap_result(ok && wait_path(path) == 0, "ADD_DEV creates %s", path);

	ok = sysfs_u64(name, "size", &v) == 0 && v == (8ULL << 30) / 512;
	ktap_result(ok, "capacity is the volume size (%llu sectors)", v);
	ok = sysfs_u64(name, "queue/logical_block_size", &v) == 0 && v == 512 &&
	     sysfs_u64(name, "queue/physical_block_size", &v) == 0 && v == 4096 &&
	     sysfs_u64(name, "queue/chunk_sectors", &v) == 0 && v == 512 &&
	     sysfs_u64(name, "queue/max_hw_sectors_kb", &v) == 0 && v == 256;
	ktap_result(ok, "queue limits: 512/4096 block sizes, chunk_sectors = stripe unit");
	{
		char wc[32] = "";
		char p2[128];
		FILE *f;

		snprintf(p2, sizeof(p2), "/sys/block/%s/queue/write_cache", name);
		f = fopen(p2, "r");
		if (f) {
			if (!fgets(wc, sizeof(wc), f))
				wc[0] = 0;
			fclose(f);
		}
		ok = sysfs_u64(name, "queue/fua", &v) == 0 && v == 1 &&
		     strncmp(wc, "write back", 10) == 0;
		ktap_result(ok, "write cache and FUA advertised");
	}

	memset(&info, 0, sizeof(info));
	info.hdr.size = sizeof(info);
	info.dev_id = a.dev_id;
	ok = ioctl(ctl, ZBS_IOC_GET_INFO, &info) == 0 && info.state == ZBS_DEV_LIVE &&
	     info.cfg.size == a.cfg.size && info.cfg.stripe_num == 4 &&
	     !strcmp(info.cfg.volume_id, "vol-a") && info.cfg.io_timeout_ms == 2000;
	ktap_result(ok, "GET_INFO returns the configuration");

	cfg_init(&b, "vol-a");
	ktap_result(add_fails(&b, EEXIST, "same volume"), "attaching an attached volume -> EEXIST");

	ok = 1;
	cfg_init(&b, "x"); b.cfg.size = 0; ok &= add_fails(&b, EINVAL, "size 0");
	cfg_init(&b, "x"); b.cfg.size = 4096 + 512; ok &= add_fails(&b, EINVAL, "unaligned size");
	cfg_init(&b, "x"); b.cfg.stripe_num = 0; ok &= add_fails(&b, EINVAL, "stripe_num 0");
	cfg_init(&b, "x"); b.cfg.stripe_size = 300000; ok &= add_fails(&b, EINVAL, "stripe_size");
	cfg_init(&b, "x"); b.cfg.replica_num = 4; ok &= add_fails(&b, EINVAL, "replica_num 4");
	cfg_init(&b, "x"); b.cfg.flags = 0x80; ok &= add_fails(&b, EINVAL, "flags");
	cfg_init(&b, "x"); b.cfg.reserved[2] = 1; ok &= add_fails(&b, EINVAL, "cfg.reserved");
	cfg_init(&b, "x"); b.reserved[0] = 1; ok &= add_fails(&b, EINVAL, "reserved");
	cfg_init(&b, "x"); b.pad = 1; ok &= add_fails(&b, EINVAL, "pad");
	cfg_init(&b, ""); ok &= add_fails(&b, EINVAL, "empty volume id");
	cfg_init(&b, "x"); memset(b.cfg.volume_id, 'a', sizeof(b.cfg.volume_id));
	ok &= add_fails(&b, EINVAL, "unterminated volume id");
	cfg_init(&b, "x"); b.hdr.size -= 8; ok &= add_fails(&b, EINVAL, "hdr.size");
	ktap_result(ok, "bad ADD_DEV arguments -> EINVAL, nothing created");

	cfg_init(&b, "vol-b");
	b.cfg.stripe_num = 1;
	ok = ioctl(ctl, ZBS_IOC_ADD_DEV, &b) == 0 && b.dev_id != a.dev_id;
	memset(&l, 0, sizeof(l));
	l.hdr.size = sizeof(l);
	l.capacity = 8;
	l.ids = (unsigned long)ids;
	ok = ok && ioctl(ctl, ZBS_IOC_LIST, &l) == 0 && l.count == 2 &&
	     ((ids[0] == a.dev_id && ids[1] == b.dev_id) || (ids[1] == a.dev_id && ids[0] == b.dev_id));
	ktap_result(ok, "LIST returns both devices (count %u)", l.count);
	l.capacity = 1;
	ok = ioctl(ctl, ZBS_IOC_LIST, &l) == 0 && l.count == 2;
	l.capacity = 4;
	l.ids = 0;
	ok = ok && ioctl(ctl, ZBS_IOC_LIST, &l) < 0 && errno == EINVAL;
	ktap_result(ok, "LIST with a short array reports the full count; NULL array -> EINVAL");

	/* removal refused while open */
	snprintf(path, sizeof(path), "/dev/zbs%u", b.dev_id);
	wait_path(path);
	fd = open(path, O_RDONLY);
	memset(&d, 0, sizeof(d));
	d.hdr.size = sizeof(d);
	d.dev_id = b.dev_id;
	ok = fd >= 0 && ioctl(ctl, ZBS_IOC_DEL_DEV, &d) < 0 && errno == EBUSY;
	ktap_result(ok, "DEL_DEV of an open device -> EBUSY");
	if (fd >= 0)
		close(fd);
	ok = ioctl(ctl, ZBS_IOC_DEL_DEV, &d) == 0;
	for (int i = 0; i < 50 && access(path, F_OK) == 0; i++)
		usleep(100000);
	ktap_result(ok && access(path, F_OK) != 0, "DEL_DEV after close removes %s", path);
	ok = ioctl(ctl, ZBS_IOC_DEL_DEV, &d) < 0 && errno == ENOENT;
	info.dev_id = b.dev_id;
	ok = ok && ioctl(ctl, ZBS_IOC_GET_INFO, &info) < 0 && errno == ENOENT;
	ktap_result(ok, "a removed device: DEL_DEV and GET_INFO -> ENOENT");
	d.dev_id = a.dev_id;
	d.pad = 1;
	ok = ioctl(ctl, ZBS_IOC_DEL_DEV, &d) < 0 && errno == EINVAL;
	d.pad = 0;
	d.hdr.flags = 1;
	ok = ok && ioctl(ctl, ZBS_IOC_DEL_DEV, &d) < 0 && errno == EINVAL;
	ktap_result(ok, "DEL_DEV with bad pad or flags -> EINVAL");
	close(ctl);
	/* vol-a stays: the script checks IO without an agent and unload */
	printf("# left %s attached\n", name);
	return ktap_finish();
}
