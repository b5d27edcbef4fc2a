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
#define ZBS_FEAT_DEVICES	(1ULL << 1)	/* ADD_DEV/DEL_DEV/GET_INFO/LIST, block devices */
#define ZBS_FEAT_GENL		(1ULL << 2)	/* generic netlink family "zbs" */
#define ZBS_FEAT_REPORT_ACK	(1ULL << 3)	/* reports wait for REPORT_ACK (zbs_genl.h) */
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

#define ZBS_VOLUME_ID_LEN	40	/* volume id as text (a uuid), NUL-terminated */
#define ZBS_VOLUME_NAME_LEN	64
#define ZBS_MAX_DEVS		1024	/* device ids are 0..ZBS_MAX_DEVS-1 */
#define ZBS_IO_TIMEOUT_DEFAULT_MS 30000

/* zbs_ioc_dev_config.flags */
#define ZBS_DEV_F_READONLY	(1U << 0)
#define ZBS_DEV_F_ALL		ZBS_DEV_F_READONLY

/*
 * A volume as the kernel sees it. The kernel does not interpret volume_id:
 * it hands it to the agent in map requests.
 */
struct zbs_ioc_dev_config {
	__u64	size;		/* bytes, a multiple of 4096 */
	__u32	stripe_num;	/* 1..ZBS_STRIPE_NUM_MAX */
	__u32	stripe_size;	/* power of two, 4 KiB..256 MiB */
	__u32	replica_num;	/* 1..3, expected replicas (informational) */
	__u32	io_timeout_ms;	/* fail IO only after this; 0 = default */
	__u32	flags;		/* ZBS_DEV_F_* */
	__u32	pad;		/* must be zero */
	char	volume_id[ZBS_VOLUME_ID_LEN];	/* NUL-terminated, non-empty */
	char	volume_name[ZBS_VOLUME_NAME_LEN];	/* NUL-terminated */
	__u64	reserved[4];	/* must be zero */
};

/* ZBS_IOC_ADD_DEV: create /dev/zbsN for a volume (-EEXIST if attached). */
struct zbs_ioc_add_dev {
	struct zbs_ioc_hdr hdr;
	__u32	dev_id;		/* out: N of /dev/zbsN */
	__u32	pad;		/* must be zero */
	struct zbs_ioc_dev_config cfg;	/* in */
	__u64	reserved[4];	/* must be zero */
};

/* hdr.flags of ZBS_IOC_DEL_DEV */
#define ZBS_DEL_F_ALL		0

/* ZBS_IOC_DEL_DEV: remove /dev/zbsN; -EBUSY while it is open. */
struct zbs_ioc_del_dev {
	struct zbs_ioc_hdr hdr;
	__u32	dev_id;		/* in */
	__u32	pad;		/* must be zero */
	__u64	reserved[4];	/* must be zero */
};

/* zbs_ioc_dev_info.state */
enum zbs_dev_state {
	ZBS_DEV_LIVE	= 1,	/* serving IO */
	ZBS_DEV_DYING	= 2,	/* being removed */
};

/* ZBS_IOC_GET_INFO: one device's configuration and counters. */
struct zbs_ioc_dev_info {
	struct zbs_ioc_hdr hdr;
	__u32	dev_id;		/* in */
	__u32	state;		/* out: enum zbs_dev_state */
	struct zbs_ioc_dev_config cfg;	/* out */
	__u32	open_count;	/* out */
	__u32	nr_maps;	/* out: cached extent maps */
	__u64	inflight;	/* out: requests in flight */
	/* out: bytes read since attach from a replica on this host (the map
	 * flags it ZBS_RF_LOCAL) and from others; in: must be zero */
	__u64	read_bytes_local;
	__u64	read_bytes_remote;
	__u64	reserved[2];	/* must be zero */
};

/*
 * ZBS_IOC_LIST: ids of all devices. The caller passes an array of
 * `capacity` __u32 at `ids`; `count` returns the number of devices (which
 * may exceed capacity: then only the first `capacity` ids are written).
 */
struct zbs_ioc_list {
	struct zbs_ioc_hdr hdr;
	__u32	capacity;	/* in */
	__u32	count;		/* out */
	__u64	ids;		/* in: user pointer to __u32[capacity] */
	__u64	reserved[4];	/* must be zero */
};

#define ZBS_IOC_MAGIC		0xB5

#define ZBS_IOC_GET_VERSION	_IOWR(ZBS_IOC_MAGIC, 0x00, struct zbs_ioc_version)
#define ZBS_IOC_ADD_DEV		_IOWR(ZBS_IOC_MAGIC, 0x01, struct zbs_ioc_add_dev)
#define ZBS_IOC_DEL_DEV		_IOWR(ZBS_IOC_MAGIC, 0x02, struct zbs_ioc_del_dev)
#define ZBS_IOC_GET_INFO	_IOWR(ZBS_IOC_MAGIC, 0x03, struct zbs_ioc_dev_info)
#define ZBS_IOC_LIST		_IOWR(ZBS_IOC_MAGIC, 0x04, struct zbs_ioc_list)

#endif /* _UAPI_LINUX_ZBS_H */
