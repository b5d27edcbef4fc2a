// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/zbs. devices (each device's cached maps, the
 * IO parked or waiting for reports) and chunks (each chunk's connections:
 * up or down, legs queued and in flight) for debugging; with
 * test_hooks=1 the test-only fault hooks the VM selftests use: inject_warn
 * (kernel warnings are caught), fail_thread_start (N: the N-th connection
 * thread started from now fails to start), send_delay_ms (every send
 * sleeps between a request's header and its data), slot_delay_ms (the
 * netlink handlers MAP_REPLY, REPORT_ACK, REVOKE and AGENT_REGISTER sleep
 * after looking up an extent slot; slot_delays_begun and slot_delays_done
 * count those sleeps), leg_pool_only (N: flush legs come only from a
 * reserve of N, as under memory pressure; 0: normal again). A delay ends
 * early when its file is set to 0: a test holds a handler where it wants it
 * for as long as it needs, however slow the machine.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/bug.h>
#include <linux/wait.h>
#include <linux/seq_file.h>

#include "zbs_internal.h"

static struct dentry *zbs_debugfs_root;

atomic_t zbs_fault_thread_start = ATOMIC_INIT(0);
atomic_t zbs_fault_send_delay_ms = ATOMIC_INIT(0);
atomic_t zbs_fault_slot_delay_ms = ATOMIC_INIT(0);
/* slot delays entered and ended: a test sees a handler enter and leave the slot */
static atomic_t zbs_fault_slot_delays_begun = ATOMIC_INIT(0);
static atomic_t zbs_fault_slot_delays_done = ATOMIC_INIT(0);
atomic_t zbs_fault_leg_pool_only = ATOMIC_INIT(0);
/* the delays sleeping: woken when a delay's file is set to 0 */
static DECLARE_WAIT_QUEUE_HEAD(zbs_fault_delay_wait);

void zbs_fault_delay(atomic_t *ms)
{
	bool slot = ms == &zbs_fault_slot_delay_ms;
	int n = atomic_read(ms);

	if (n <= 0)
		return;
	if (slot)
		atomic_inc(&zbs_fault_slot_delays_begun);
	wait_event_timeout(zbs_fault_delay_wait, atomic_read(ms) <= 0, msecs_to_jiffies(n));
	if (slot)
		atomic_inc(&zbs_fault_slot_delays_done);
}

bool zbs_fault_hit(atomic_t *f)
{
	int n = atomic_read(f);

	while (n > 0) {
		if (atomic_try_cmpxchg(f, &n, n - 1))
			return n == 1;
	}
	return false;
}

static int zbs_fault_get(void *data, u64 *val)
{
	*val = atomic_read((atomic_t *)data);
	return 0;
}

static int zbs_fault_set(void *data, u64 val)
{
	if (val > INT_MAX)
		return -EINVAL;
	atomic_set((atomic_t *)data, (int)val);
	wake_up_all(&zbs_fault_delay_wait);	/* a delay set to 0 ends */
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(zbs_fault_fops, zbs_fault_get, zbs_fault_set, "%llu\n");

static int zbs_leg_pool_set(void *data, u64 val)
{
	return val > INT_MAX ? -EINVAL : zbs_io_test_leg_pool((unsigned int)val);
}
DEFINE_DEBUGFS_ATTRIBUTE(zbs_leg_pool_fops, zbs_fault_get, zbs_leg_pool_set, "%llu\n");

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

static int zbs_devices_show(struct seq_file *m, void *v)
{
	zbs_dev_debugfs_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(zbs_devices);

static int zbs_chunks_show(struct seq_file *m, void *v)
{
	zbs_conn_debugfs_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(zbs_chunks);

void zbs_debugfs_setup(void)
{
	/* debugfs failures are not fatal: the driver works without it. */
	zbs_debugfs_root = debugfs_create_dir("zbs", NULL);
	debugfs_create_file("devices", 0400, zbs_debugfs_root, NULL, &zbs_devices_fops);
	debugfs_create_file("chunks", 0400, zbs_debugfs_root, NULL, &zbs_chunks_fops);
	if (!zbs_test_hooks)
		return;
	debugfs_create_file("inject_warn", 0200, zbs_debugfs_root, NULL, &zbs_inject_warn_fops);
	debugfs_create_file_unsafe("fail_thread_start", 0600, zbs_debugfs_root,
				   &zbs_fault_thread_start, &zbs_fault_fops);
	debugfs_create_file_unsafe("send_delay_ms", 0600, zbs_debugfs_root,
				   &zbs_fault_send_delay_ms, &zbs_fault_fops);
	debugfs_create_file_unsafe("slot_delay_ms", 0600, zbs_debugfs_root,
				   &zbs_fault_slot_delay_ms, &zbs_fault_fops);
	debugfs_create_atomic_t("slot_delays_begun", 0400, zbs_debugfs_root,
				&zbs_fault_slot_delays_begun);
	debugfs_create_atomic_t("slot_delays_done", 0400, zbs_debugfs_root,
				&zbs_fault_slot_delays_done);
	debugfs_create_file_unsafe("leg_pool_only", 0600, zbs_debugfs_root,
				   &zbs_fault_leg_pool_only, &zbs_leg_pool_fops);
}

void zbs_debugfs_release(void)
{
	debugfs_remove_recursive(zbs_debugfs_root);
	zbs_debugfs_root = NULL;
}
