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

static long zbs_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	switch (cmd) {
	case ZBS_IOC_GET_VERSION:
		return zbs_ctl_get_version(argp);
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
