// SPDX-License-Identifier: GPL-2.0
/*
 * ZBS block driver: module entry points.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/init.h>

#include "zbs_internal.h"

bool zbs_test_hooks;
module_param_named(test_hooks, zbs_test_hooks, bool, 0444);
MODULE_PARM_DESC(test_hooks, "Enable test-only fault hooks in debugfs (default: off)");

u64 zbs_features(void)
{
	u64 f = ZBS_FEAT_CONTROL;

	if (zbs_test_hooks)
		f |= ZBS_FEAT_TEST_HOOKS;
	return f;
}

static int __init zbs_init(void)
{
	int ret;

	zbs_debugfs_setup();

	ret = zbs_ctl_setup();
	if (ret)
		goto out_debugfs;

	pr_info("loaded, version %s, abi %u.%u%s\n", ZBS_MODULE_VERSION,
		ZBS_ABI_MAJOR, ZBS_ABI_MINOR,
		zbs_test_hooks ? ", test hooks enabled" : "");
	return 0;

out_debugfs:
	zbs_debugfs_release();
	return ret;
}

static void __exit zbs_exit(void)
{
	/* Close entry points first, in reverse order of setup. */
	zbs_ctl_release();
	zbs_debugfs_release();
	pr_info("unloaded\n");
}

module_init(zbs_init);
module_exit(zbs_exit);

MODULE_DESCRIPTION("ZBS distributed block storage driver");
MODULE_AUTHOR("ZBS developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(ZBS_MODULE_VERSION);
