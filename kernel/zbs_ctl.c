// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/zbs-control: the misc device through which userspace manages ZBS
 * devices. Every ioctl argument starts with struct zbs_ioc_hdr; sizes,
 * flags and reserved fields are checked before anything else is done.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "zbs_internal.h"

static bool zbs_ctl_zeroed(const void *p, size_t len)
{
	return memchr_inv(p, 0, len) == NULL;
}

static long zbs_ctl_get_version(void __user *argp)
{
	struct zbs_ioc_version v;

	if (copy_from_user(&v, argp, sizeof(v)))
		return -EFAULT;
	if (v.hdr.size != sizeof(v) || v.hdr.flags)
		return -EINVAL;
	if (!zbs_ctl_zeroed(v.reserved, sizeof(v.reserved)))
		return -EINVAL;

	v.abi_major = ZBS_ABI_MAJOR;
	v.abi_minor = ZBS_ABI_MINOR;
	v.features = zbs_features();
	memset(v.version, 0, sizeof(v.version));
	strscpy(v.version, ZBS_MODULE_VERSION, sizeof(v.version));

	if (copy_to_user(argp, &v, sizeof(v)))
		return -EFAULT;
	return 0;
}

static long zbs_ctl_add_dev(void __user *argp)
{
	struct zbs_ioc_add_dev a;
	int ret;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.hdr.size != sizeof(a) || a.hdr.flags || a.pad ||
	    !zbs_ctl_zeroed(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	ret = zbs_dev_add(&a.cfg, &a.dev_id);
	if (ret)
		return ret;
	if (copy_to_user(argp, &a, sizeof(a))) {
		zbs_dev_del(a.dev_id);
		return -EFAULT;
	}
	return 0;
}

static long zbs_ctl_del_dev(void __user *argp)
{
	struct zbs_ioc_del_dev d;

	if (copy_from_user(&d, argp, sizeof(d)))
		return -EFAULT;
	if (d.hdr.size != sizeof(d) || d.hdr.flags || d.pad ||
	    !zbs_ctl_zeroed(d.reserved, sizeof(d.reserved)))
		return -EINVAL;
	return zbs_dev_del(d.dev_id);
}

static long zbs_ctl_get_info(void __user *argp)
{
	struct zbs_ioc_dev_info i;
	u32 id;
	int ret;

	if (copy_from_user(&i, argp, sizeof(i)))
		return -EFAULT;
	if (i.hdr.size != sizeof(i) || i.hdr.flags || i.read_bytes_local || i.read_bytes_remote ||
	    !zbs_ctl_zeroed(i.reserved, sizeof(i.reserved)))
		return -EINVAL;
	id = i.dev_id;
	memset(&i, 0, sizeof(i));
	i.hdr.size = sizeof(i);
	i.dev_id = id;
	ret = zbs_dev_info(id, &i);
	if (ret)
		return ret;
	return copy_to_user(argp, &i, sizeof(i)) ? -EFAULT : 0;
}

static long zbs_ctl_list(void __user *argp)
{
	struct zbs_ioc_list l;
	u32 *ids = NULL, n;
	int ret;

	if (copy_from_user(&l, argp, sizeof(l)))
		return -EFAULT;
	if (l.hdr.size != sizeof(l) || l.hdr.flags ||
	    !zbs_ctl_zeroed(l.reserved, sizeof(l.reserved)))
		return -EINVAL;
	if (l.capacity > ZBS_MAX_DEVS || (l.capacity && !l.ids))
		return -EINVAL;
	if (l.capacity) {
		ids = kcalloc(l.capacity, sizeof(*ids), GFP_KERNEL);
		if (!ids)
			return -ENOMEM;
	}
	ret = zbs_dev_list(ids, l.capacity, &l.count);
	n = min(l.count, l.capacity);
	if (!ret && n && copy_to_user(u64_to_user_ptr(l.ids), ids, n * sizeof(*ids)))
		ret = -EFAULT;
	kfree(ids);
	if (!ret && copy_to_user(argp, &l, sizeof(l)))
		ret = -EFAULT;
	return ret;
}

static long zbs_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	switch (cmd) {
	case ZBS_IOC_GET_VERSION:
		return zbs_ctl_get_version(argp);
	case ZBS_IOC_ADD_DEV:
		return zbs_ctl_add_dev(argp);
	case ZBS_IOC_DEL_DEV:
		return zbs_ctl_del_dev(argp);
	case ZBS_IOC_GET_INFO:
		return zbs_ctl_get_info(argp);
	case ZBS_IOC_LIST:
		return zbs_ctl_list(argp);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations zbs_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= zbs_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice zbs_ctl_dev = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= ZBS_CONTROL_NAME,
	.fops		= &zbs_ctl_fops,
	.mode		= 0600,
};

int zbs_ctl_setup(void)
{
	int ret = misc_register(&zbs_ctl_dev);

	if (ret)
		pr_err("cannot register %s: %d\n", ZBS_CONTROL_NAME, ret);
	return ret;
}

void zbs_ctl_release(void)
{
	misc_deregister(&zbs_ctl_dev);
}
