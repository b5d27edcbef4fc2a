// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/zbs. Internals for debugging, and with
 * test_hooks=1 the test-only fault hooks the VM selftests use to prove that
 * kernel warnings are caught (inject_warn).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/bug.h>

#include "zbs_internal.h"

static struct dentry *zbs_debugfs_root;

static ssize_t zbs_inject_warn_write(struct file *file, const char __user *buf,
				     size_t count, loff_t *ppos)
{
	/* Deliberate: the VM runner must fail a run that logs a WARNING. */
	WARN(1, "zbs: test hook inject_warn triggered\n");
	return count;
}

static const struct file_operations zbs_inject_warn_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= zbs_inject_warn_write,
	.llseek	= noop_llseek,
};

void zbs_debugfs_setup(void)
{
	/* debugfs failures are not fatal: the driver works without it. */
	zbs_debugfs_root = debugfs_create_dir("zbs", NULL);
	if (zbs_test_hooks)
		debugfs_create_file("inject_warn", 0200, zbs_debugfs_root, NULL,
				    &zbs_inject_warn_fops);
}

void zbs_debugfs_release(void)
{
	debugfs_remove_recursive(zbs_debugfs_root);
	zbs_debugfs_root = NULL;
}
