/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ZBS kernel module internals shared between its files.
 *
 * zbs_main.c     module init/exit, parameters
 * zbs_ctl.c      /dev/zbs-control misc device and its ioctls
 * zbs_debugfs.c  debugfs directory and test-only hooks
 */
#ifndef _ZBS_INTERNAL_H
#define _ZBS_INTERNAL_H

#include <linux/types.h>
#include <linux/zbs.h>

#ifndef ZBS_MODULE_VERSION
#define ZBS_MODULE_VERSION "unknown"
#endif

/* Module parameter: enables the test-only hooks in debugfs. */
extern bool zbs_test_hooks;

u64 zbs_features(void);

int zbs_ctl_setup(void);
void zbs_ctl_release(void);

void zbs_debugfs_setup(void);
void zbs_debugfs_release(void);

#endif /* _ZBS_INTERNAL_H */
