/* SPDX-License-Identifier: GPL-2.0 */
/* The control device's ioctls shared by zbsctl and zbs-chunkd (uapi/linux/zbs.h). */
#ifndef ZBS_CTLDEV_H
#define ZBS_CTLDEV_H

#include <stdint.h>
#include <string.h>
#include <linux/zbs.h>

/* zero an ioctl argument and set its header's size */
#define ZBS_IOC_INIT(arg) do {				\
		memset(&(arg), 0, sizeof(arg));		\
		(arg).hdr.size = sizeof(arg);		\
	} while (0)

/* ZBS_IOC_GET_INFO of device id; 0 or -1 (errno) */
int zbs_ctldev_info(int fd, uint32_t id, struct zbs_ioc_dev_info *info);
/* ids of all devices; returns the count (at most cap) or -1 (errno) */
int zbs_ctldev_list(int fd, uint32_t *ids, uint32_t cap);

#endif
