/* SPDX-License-Identifier: GPL-2.0 */
/* Access to /dev/zbs-control for zbsctl objects. */
#ifndef ZBSCTL_CTL_DEV_H
#define ZBSCTL_CTL_DEV_H

#include <linux/zbs.h>

/*
 * Open the control device. On failure prints a clear message (module not
 * loaded, permission) and returns -1 with *status set to an exit status.
 */
int zbsctl_ctl_open(const char *path, int *status);

/* Fill in the ioctl header of a zeroed argument struct. */
#include "ctldev.h"

#define ZBSCTL_IOC_INIT(arg) ZBS_IOC_INIT(arg)

#endif
