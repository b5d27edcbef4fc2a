// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ctl_dev.h"
#include "zbsctl.h"

int zbsctl_ctl_open(const char *path, int *status)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENXIO || errno == ENODEV) {
		zbsctl_err("the zbs kernel module is not loaded (%s: %s); "
			   "load it with 'modprobe zbs' or 'insmod zbs.ko'",
			   path, strerror(errno));
		*status = ZBSCTL_UNAVAIL;
	} else if (errno == EACCES || errno == EPERM) {
		zbsctl_err("%s: %s (run as root)", path, strerror(errno));
		*status = ZBSCTL_ERR;
	} else {
		zbsctl_err("%s: %s", path, strerror(errno));
		*status = ZBSCTL_ERR;
	}
	return -1;
}
