/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ZBS control device ABI: ioctls on /dev/zbs-control.
 *
 * Rules every command follows:
 *  - the argument starts with a struct zbs_ioc_hdr: `size` is the caller's
 *    sizeof() of the whole argument and must equal the kernel's, `flags`
 *    holds command flags (unknown bits are rejected with -EINVAL);
 *  - every field named reserved/pad must be zero on input (-EINVAL);
 *  - unknown command numbers fail with -ENOTTY;
 *  - all fields are fixed width, little-endian host order, naturally
 *    aligned, with explicit padding, so the layout is the same for 32 and
 *    64-bit callers.
 * New fields are carved out of reserved space; a new struct layout gets a
 * new command number.
 */
#ifndef _UAPI_LINUX_ZBS_H
#define _UAPI_LINUX_ZBS_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define ZBS_CONTROL_NAME	"zbs-control"
#define ZBS_CONTROL_PATH	"/dev/" ZBS_CONTROL_NAME

/* ABI version of this header; bumped on any incompatible change. */
#define ZBS_ABI_MAJOR		1
#define ZBS_ABI_MINOR		0

#define ZBS_VERSION_LEN		32

/* Feature bits reported by ZBS_IOC_GET_VERSION. */
#define ZBS_FEAT_CONTROL	(1ULL << 0)	/* control device and version ioctl */
#define ZBS_FEAT_TEST_HOOKS	(1ULL << 63)	/* loaded with test_hooks=1 */

struct zbs_ioc_hdr {
	__u32	size;		/* in: sizeof(the whole argument) */
	__u32	flags;		/* in: command flags, 0 if none defined */
};

struct zbs_ioc_version {
	struct zbs_ioc_hdr hdr;
	__u32	abi_major;	/* out */
	__u32	abi_minor;	/* out */
	__u64	features;	/* out: ZBS_FEAT_* */
	char	version[ZBS_VERSION_LEN];	/* out: NUL-terminated module version */
	__u64	reserved[8];	/* must be zero */
};

#define ZBS_IOC_MAGIC		0xB5

#define ZBS_IOC_GET_VERSION	_IOWR(ZBS_IOC_MAGIC, 0x00, struct zbs_ioc_version)

#endif /* _UAPI_LINUX_ZBS_H */
