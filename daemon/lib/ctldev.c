// SPDX-License-Identifier: GPL-2.0
/* The control device's ioctls (see ctldev.h). */
#include <stdint.h>
#include <sys/ioctl.h>

#include "ctldev.h"

int zbs_ctldev_info(int fd, uint32_t id, struct zbs_ioc_dev_info *info)
{
	ZBS_IOC_INIT(*info);
	info->dev_id = id;
	return ioctl(fd, ZBS_IOC_GET_INFO, info);
}

int zbs_ctldev_list(int fd, uint32_t *ids, uint32_t cap)
{
	struct zbs_ioc_list l;

	ZBS_IOC_INIT(l);
	l.capacity = cap;
	l.ids = (uintptr_t)ids;
	if (ioctl(fd, ZBS_IOC_LIST, &l) < 0)
		return -1;
	return l.count < cap ? (int)l.count : (int)cap;
}
