// SPDX-License-Identifier: GPL-2.0
/*
 * ZBS block driver: module entry points.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/init.h>
#include <net/genetlink.h>

#include "zbs_internal.h"

bool zbs_test_hooks;
module_param_named(test_hooks, zbs_test_hooks, bool, 0444);
MODULE_PARM_DESC(test_hooks, "Enable test-only fault hooks in debugfs (default: off)");

unsigned int zbs_reconnect_ms = 500;
ZBS_PARAM_RANGE(reconnect_ms, zbs_reconnect_ms, 10, 600000);
MODULE_PARM_DESC(reconnect_ms, "Delay between connection attempts to a chunk, 10-600000 (default 500)");

struct workqueue_struct *zbs_wq;

u64 zbs_features(void)
{
	u64 f = ZBS_FEAT_CONTROL | ZBS_FEAT_DEVICES | ZBS_FEAT_GENL | ZBS_FEAT_REPORT_ACK;

	if (zbs_test_hooks)
		f |= ZBS_FEAT_TEST_HOOKS;
	return f;
}

static int __init zbs_init(void)
{
	int ret;

	zbs_debugfs_setup();

	zbs_wq = alloc_workqueue("zbs", WQ_MEM_RECLAIM | WQ_HIGHPRI, 0);
	if (!zbs_wq) {
		ret = -ENOMEM;
		goto out_debugfs;
	}
	ret = zbs_io_setup();
	if (ret)
		goto out_wq;
	ret = zbs_dev_setup();
	if (ret)
		goto out_io;
	ret = zbs_genl_setup();
	if (ret)
		goto out_dev;
	ret = zbs_ctl_setup();
	if (ret)
		goto out_genl;

	pr_info("loaded, version %s, abi %u.%u%s\n", ZBS_MODULE_VERSION,
		ZBS_ABI_MAJOR, ZBS_ABI_MINOR,
		zbs_test_hooks ? ", test hooks enabled" : "");
	return 0;

out_genl:
	zbs_genl_release();
out_dev:
	zbs_dev_release();
out_io:
	zbs_io_release();
out_wq:
	destroy_workqueue(zbs_wq);
out_debugfs:
	zbs_debugfs_release();
	return ret;
}

static void __exit zbs_exit(void)
{
	/* Close entry points first: debugfs, netlink, the control device. */
	zbs_debugfs_release();
	zbs_genl_release();
	zbs_ctl_release();
	zbs_dev_release();
	zbs_conn_release();
	zbs_io_release();
	destroy_workqueue(zbs_wq);
	/* everything is gone now: anything still counted leaked */
	WARN(atomic_read(&zbs_live_maps) || atomic_read(&zbs_live_exts),
	     "zbs: leaked %d extent maps and %d extent slots\n",
	     atomic_read(&zbs_live_maps), atomic_read(&zbs_live_exts));
	pr_info("unloaded\n");
}

module_init(zbs_init);
module_exit(zbs_exit);

MODULE_DESCRIPTION("ZBS distributed block storage driver");
/* resolving the generic netlink family "zbs" loads the module; the control
 * device has a dynamic minor, so there is no static node to alias */
MODULE_ALIAS_GENL_FAMILY(ZBS_GENL_NAME);
MODULE_AUTHOR("ZBS developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(ZBS_MODULE_VERSION);
