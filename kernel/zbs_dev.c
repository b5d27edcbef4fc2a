// SPDX-License-Identifier: GPL-2.0
/*
 * Volume devices /dev/zbsN: creation, lookup, removal and queue limits.
 *
 * Two counts, as nbd's refs and config_refs (zbs_internal.h): `active`
 * while the device is attached, `ref` while its memory is. The index (an
 * xarray under zbs_devs_lock) holds one of each on every device; ioctls
 * and netlink take theirs with refcount_inc_not_zero(&active) under the
 * lock. Removal drops the index's `active` first and waits until no
 * lookup is inside the device (a REVOKE draining, a MAP_REPLY, an agent's
 * registration re-sending), then tears the device down; the gendisk's
 * free_disk frees the extent slots and the device once the last `ref` is
 * gone.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/major.h>
#include <linux/slab.h>

#include <linux/seq_file.h>

#include "zbs_internal.h"

#define ZBS_PART_SHIFT	4

static DEFINE_MUTEX(zbs_devs_lock);	/* zbs_devs, and add/del of devices */
static DEFINE_XARRAY_ALLOC(zbs_devs);
static int zbs_major;

static void zbs_dev_free(struct kref *ref)
{
	struct zbs_dev *dev = container_of(ref, struct zbs_dev, ref);

	/* the disk owns the memory: free_disk frees it */
	put_disk(dev->disk);
}

/* Drop an `active` reference; removal waits for the last one. */
static void zbs_dev_put_active(struct zbs_dev *dev)
{
	if (refcount_dec_and_test(&dev->active))
		wake_up_var(&dev->active);
}

/* A lookup of an attached device: both references (zbs_devs_lock held). */
static bool __zbs_dev_tryget(struct zbs_dev *dev)
{
	lockdep_assert_held(&zbs_devs_lock);
	if (!refcount_inc_not_zero(&dev->active))
		return false;
	kref_get(&dev->ref);
	return true;
}

void zbs_dev_put(struct zbs_dev *dev)
{
	zbs_dev_put_active(dev);
	kref_put(&dev->ref, zbs_dev_free);
}

struct zbs_dev *zbs_dev_get(u32 id)
{
	struct zbs_dev *dev;

	mutex_lock(&zbs_devs_lock);
	dev = xa_load(&zbs_devs, id);
	if (dev && !__zbs_dev_tryget(dev))
		dev = NULL;
	mutex_unlock(&zbs_devs_lock);
	return dev;
}

struct zbs_dev *zbs_dev_get_next(u32 *id)
{
	struct zbs_dev *dev;
	unsigned long idx = *id;

	mutex_lock(&zbs_devs_lock);
	xa_for_each_start(&zbs_devs, idx, dev, *id) {
		if (__zbs_dev_tryget(dev)) {
			*id = idx;
			mutex_unlock(&zbs_devs_lock);
			return dev;
		}
	}
	mutex_unlock(&zbs_devs_lock);
	return NULL;
}

static int zbs_bdev_open(struct block_device *bdev, fmode_t mode)
{
	struct zbs_dev *dev = bdev->bd_disk->private_data;

	if (READ_ONCE(dev->dying))
		return -ENXIO;
	atomic_inc(&dev->open_count);
	return 0;
}

static void zbs_bdev_release(struct gendisk *disk, fmode_t mode)
{
	struct zbs_dev *dev = disk->private_data;

	atomic_dec(&dev->open_count);
}

/* The last reference to the disk: nobody can reach the device any more. */
static void zbs_free_disk(struct gendisk *disk)
{
	struct zbs_dev *dev = disk->private_data;

	if (!dev)
		return;		/* zbs_dev_add failed before add_disk */
	zbs_map_free_slots(dev);
	kfree(dev);
}

/*
 * /sys/block/zbsN/zbs/: what the device maps, for udev (the shipped rule
 * tools/udev/60-zbs.rules makes /dev/disk/by-id/zbs-<volume id>) and tools.
 * The disk's private_data is the device until free_disk.
 */
static struct zbs_dev *zbs_dev_of(struct device *d)
{
	return dev_to_disk(d)->private_data;
}

#define ZBS_DEV_ATTR(name, fmt, expr)						\
	static ssize_t name##_show(struct device *d, struct device_attribute *a,	\
				   char *buf)					\
	{									\
		const struct zbs_dev *dev = zbs_dev_of(d);			\
		return sysfs_emit(buf, fmt "\n", expr);				\
	}									\
	static DEVICE_ATTR_RO(name)

ZBS_DEV_ATTR(volume_id, "%s", dev->cfg.volume_id);
ZBS_DEV_ATTR(volume_name, "%s", dev->cfg.volume_name);
ZBS_DEV_ATTR(replicas, "%u", dev->cfg.replica_num);
ZBS_DEV_ATTR(stripe_num, "%u", dev->cfg.stripe_num);
ZBS_DEV_ATTR(stripe_size, "%u", dev->cfg.stripe_size);
ZBS_DEV_ATTR(io_timeout_ms, "%u", jiffies_to_msecs(dev->io_timeout));
ZBS_DEV_ATTR(read_only, "%d", !!(dev->cfg.flags & ZBS_DEV_F_READONLY));

static struct attribute *zbs_dev_attrs[] = {
	&dev_attr_volume_id.attr,
	&dev_attr_volume_name.attr,
	&dev_attr_replicas.attr,
	&dev_attr_stripe_num.attr,
	&dev_attr_stripe_size.attr,
	&dev_attr_io_timeout_ms.attr,
	&dev_attr_read_only.attr,
	NULL,
};

static const struct attribute_group zbs_dev_attr_group = {
	.name	= "zbs",
	.attrs	= zbs_dev_attrs,
};

static const struct attribute_group *zbs_dev_attr_groups[] = {
	&zbs_dev_attr_group,
	NULL,
};

static const struct block_device_operations zbs_bdev_fops = {
	.owner		= THIS_MODULE,
	.open		= zbs_bdev_open,
	.release	= zbs_bdev_release,
	.free_disk	= zbs_free_disk,
};

static enum blk_eh_timer_return zbs_timeout(struct request *rq)
{
	/* per-op deadlines of the request's legs (zbs_io.c, "Timeouts") */
	return zbs_cmd_timeout(rq);
}

static int zbs_init_request(struct blk_mq_tag_set *set, struct request *rq,
			    unsigned int hctx_idx, unsigned int numa_node)
{
	struct zbs_cmd *cmd = blk_mq_rq_to_pdu(rq);

	cmd->rq = rq;
	INIT_LIST_HEAD(&cmd->park);
	return 0;
}

static const struct blk_mq_ops zbs_mq_ops = {
	.queue_rq	= zbs_queue_rq,
	.timeout	= zbs_timeout,
	.init_request	= zbs_init_request,
};

static void zbs_dev_tick_work(struct work_struct *work)
{
	struct zbs_dev *dev = container_of(to_delayed_work(work), struct zbs_dev, tick_work);

	zbs_map_tick(dev);
	if (!READ_ONCE(dev->dying))
		queue_delayed_work(zbs_wq, &dev->tick_work, HZ / 5);
}

static int zbs_dev_check_config(const struct zbs_ioc_dev_config *cfg)
{
	if (cfg->pad || memchr_inv(cfg->reserved, 0, sizeof(cfg->reserved)))
		return -EINVAL;
	if (!cfg->size || cfg->size % 4096 || cfg->size > (1ULL << 60))
		return -EINVAL;
	if (zbs_layout_valid(cfg->stripe_num, cfg->stripe_size))
		return -EINVAL;
	if (cfg->replica_num < 1 || cfg->replica_num > 3)
		return -EINVAL;
	if (cfg->flags & ~ZBS_DEV_F_ALL)
		return -EINVAL;
	if (cfg->io_timeout_ms > 3600 * 1000)
		return -EINVAL;
	if (!cfg->volume_id[0] ||
	    strnlen(cfg->volume_id, ZBS_VOLUME_ID_LEN) == ZBS_VOLUME_ID_LEN ||
	    strnlen(cfg->volume_name, ZBS_VOLUME_NAME_LEN) == ZBS_VOLUME_NAME_LEN)
		return -EINVAL;
	return 0;
}

int zbs_dev_add(const struct zbs_ioc_dev_config *cfg, u32 *id)
{
	struct queue_limits *lim;
	struct zbs_dev *dev, *other;
	struct gendisk *disk;
	unsigned long idx;
	u32 io_sectors;
	int ret;

	ret = zbs_dev_check_config(cfg);
	if (ret)
		return ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	dev->cfg = *cfg;
	if (!dev->cfg.io_timeout_ms)
		dev->cfg.io_timeout_ms = ZBS_IO_TIMEOUT_DEFAULT_MS;
	dev->io_timeout = msecs_to_jiffies(dev->cfg.io_timeout_ms);
	kref_init(&dev->ref);
	refcount_set(&dev->active, 1);
	atomic_set(&dev->open_count, 0);
	atomic64_set(&dev->inflight, 0);
	xa_init(&dev->exts);
	spin_lock_init(&dev->dirty_lock);
	dev->sweep_at = jiffies;
	INIT_DELAYED_WORK(&dev->tick_work, zbs_dev_tick_work);

	mutex_lock(&zbs_devs_lock);
	xa_for_each(&zbs_devs, idx, other) {
		if (!strcmp(other->cfg.volume_id, cfg->volume_id)) {
			ret = -EEXIST;
			goto out_unlock;
		}
	}
	ret = xa_alloc(&zbs_devs, &dev->id, NULL, XA_LIMIT(0, ZBS_MAX_DEVS - 1), GFP_KERNEL);
	if (ret)
		goto out_unlock;	/* -EBUSY when full */

	dev->tag_set.ops = &zbs_mq_ops;
	dev->tag_set.nr_hw_queues = num_possible_cpus();
	dev->tag_set.queue_depth = 128;
	dev->tag_set.numa_node = NUMA_NO_NODE;
	dev->tag_set.cmd_size = sizeof(struct zbs_cmd);
	dev->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	dev->tag_set.driver_data = dev;
	ret = blk_mq_alloc_tag_set(&dev->tag_set);
	if (ret)
		goto out_id;

	disk = blk_mq_alloc_disk(&dev->tag_set, dev);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto out_tags;
	}
	dev->disk = disk;
	disk->major = zbs_major;
	disk->first_minor = dev->id << ZBS_PART_SHIFT;
	disk->minors = 1 << ZBS_PART_SHIFT;
	disk->fops = &zbs_bdev_fops;
	disk->private_data = dev;
	snprintf(disk->disk_name, DISK_NAME_LEN, "zbs%u", dev->id);
	set_capacity(disk, cfg->size >> SECTOR_SHIFT);

	/* Reads and writes never cross a stripe unit and fit one wire request. */
	io_sectors = min_t(u32, cfg->stripe_size, ZBS_MAX_IO_BYTES) >> SECTOR_SHIFT;
	blk_queue_logical_block_size(disk->queue, 512);
	blk_queue_physical_block_size(disk->queue, 4096);
	blk_queue_io_min(disk->queue, 4096);
	blk_queue_chunk_sectors(disk->queue, cfg->stripe_size >> SECTOR_SHIFT);
	blk_queue_max_hw_sectors(disk->queue, io_sectors);
	blk_queue_max_segments(disk->queue, USHRT_MAX);
	blk_queue_max_segment_size(disk->queue, UINT_MAX);
	/*
	 * Discard zeroes here: the chunks punch holes, and a discarded range
	 * reads back as zeros, exactly like write zeroes (both are
	 * WRITE_ZEROES on the wire). Neither is split at chunk_sectors by the
	 * block layer, and contiguous discards merge across stripe units: the
	 * driver splits them itself, one range per extent (zbs_io.c).
	 */
	blk_queue_max_discard_sectors(disk->queue, UINT_MAX >> SECTOR_SHIFT);
	blk_queue_max_write_zeroes_sectors(disk->queue, UINT_MAX >> SECTOR_SHIFT);
	disk->queue->limits.discard_granularity = 4096;
	blk_queue_write_cache(disk->queue, true, true);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	/*
	 * Every replica is sent the same pages at different moments: a page
	 * changed in between (mmap, a filesystem rewriting a buffer under
	 * writeback) would leave the replicas of one acknowledged write with
	 * different bytes, and a failover would return other data. Stable
	 * writes make writers wait for the page's writeback (as rbd does).
	 */
	blk_queue_flag_set(QUEUE_FLAG_STABLE_WRITES, disk->queue);
	blk_queue_flag_clear(QUEUE_FLAG_ADD_RANDOM, disk->queue);
	blk_queue_rq_timeout(disk->queue, dev->io_timeout + 30 * HZ);
	lim = &disk->queue->limits;
	lim->max_sectors = io_sectors;
	if (cfg->flags & ZBS_DEV_F_READONLY)
		set_disk_ro(disk, true);

	/* No partition scan at attach: it would read before an agent may be
	 * there (BLKRRPART scans later). The tick runs from now: requests
	 * must meet their deadlines even during add_disk. */
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	queue_delayed_work(zbs_wq, &dev->tick_work, HZ / 5);
	ret = device_add_disk(NULL, disk, zbs_dev_attr_groups);
	if (ret)
		goto out_tick;
	clear_bit(GD_SUPPRESS_PART_SCAN, &disk->state);

	/* publish only now that the disk exists */
	xa_store(&zbs_devs, dev->id, dev, GFP_KERNEL);
	*id = dev->id;
	mutex_unlock(&zbs_devs_lock);
	pr_info("zbs%u: volume %s (%s), %llu bytes, stripe %u x %u KiB, %u replicas\n",
		dev->id, cfg->volume_id, cfg->volume_name, cfg->size,
		cfg->stripe_num, cfg->stripe_size >> 10, cfg->replica_num);
	return 0;

out_tick:
	WRITE_ONCE(dev->dying, true);
	cancel_delayed_work_sync(&dev->tick_work);
	/* free_disk would free dev: detach it first */
	disk->private_data = NULL;
	dev->disk = NULL;
	put_disk(disk);
out_tags:
	blk_mq_free_tag_set(&dev->tag_set);
out_id:
	xa_erase(&zbs_devs, dev->id);
out_unlock:
	mutex_unlock(&zbs_devs_lock);
	kfree(dev);
	return ret;
}

/* Remove a device nobody has open (zbs_devs_lock held). */
static int __zbs_dev_del(struct zbs_dev *dev)
{
	lockdep_assert_held(&zbs_devs_lock);
	/* opens run under open_mutex: none can slip in between */
	mutex_lock(&dev->disk->open_mutex);
	if (atomic_read(&dev->open_count)) {
		mutex_unlock(&dev->disk->open_mutex);
		return -EBUSY;
	}
	WRITE_ONCE(dev->dying, true);
	mutex_unlock(&dev->disk->open_mutex);

	/* no lookup succeeds from now on: wait for those inside the device
	 * (a REVOKE may sleep there until its IO drained) */
	zbs_dev_put_active(dev);
	wait_var_event(&dev->active, !refcount_read(&dev->active));

	del_gendisk(dev->disk);		/* no opener: nothing new comes in */
	cancel_delayed_work_sync(&dev->tick_work);
	WARN_ON_ONCE(atomic64_read(&dev->inflight));
	zbs_map_shutdown(dev);
	blk_mq_free_tag_set(&dev->tag_set);
	xa_erase(&zbs_devs, dev->id);
	pr_info("zbs%u: removed\n", dev->id);
	kref_put(&dev->ref, zbs_dev_free);	/* the index's; free_disk frees the slots */
	return 0;
}

int zbs_dev_del(u32 id)
{
	struct zbs_dev *dev;
	int ret;

	mutex_lock(&zbs_devs_lock);
	dev = xa_load(&zbs_devs, id);
	ret = dev && !dev->dying ? __zbs_dev_del(dev) : -ENOENT;
	mutex_unlock(&zbs_devs_lock);
	return ret;
}

int zbs_dev_info(u32 id, struct zbs_ioc_dev_info *info)
{
	struct zbs_dev *dev = zbs_dev_get(id);

	if (!dev)
		return -ENOENT;
	info->state = dev->dying ? ZBS_DEV_DYING : ZBS_DEV_LIVE;
	info->cfg = dev->cfg;
	info->open_count = atomic_read(&dev->open_count);
	info->nr_maps = atomic_read(&dev->nr_maps);
	info->inflight = atomic64_read(&dev->inflight);
	zbs_dev_put(dev);
	return 0;
}

int zbs_dev_list(u32 *ids, u32 capacity, u32 *count)
{
	struct zbs_dev *dev;
	unsigned long idx;
	u32 n = 0;

	mutex_lock(&zbs_devs_lock);
	xa_for_each(&zbs_devs, idx, dev) {
		if (dev->dying)
			continue;
		if (n < capacity)
			ids[n] = idx;
		n++;
	}
	mutex_unlock(&zbs_devs_lock);
	*count = n;
	return 0;
}

int zbs_dev_setup(void)
{
	zbs_major = register_blkdev(0, "zbs");
	return zbs_major < 0 ? zbs_major : 0;
}

/* Module exit: no control file and no device is open (module refs). */
void zbs_dev_release(void)
{
	struct zbs_dev *dev;
	unsigned long idx;

	mutex_lock(&zbs_devs_lock);
	xa_for_each(&zbs_devs, idx, dev)
		WARN_ON_ONCE(__zbs_dev_del(dev));
	mutex_unlock(&zbs_devs_lock);
	xa_destroy(&zbs_devs);
	unregister_blkdev(zbs_major, "zbs");
}

/* debugfs zbs/devices: every device, its cached maps and what waits on them */
void zbs_dev_debugfs_show(struct seq_file *m)
{
	struct zbs_dev *dev;
	unsigned long idx, v;
	struct zbs_ext *ext;

	mutex_lock(&zbs_devs_lock);	/* no device is removed meanwhile */
	xa_for_each(&zbs_devs, idx, dev) {
		seq_printf(m, "zbs%u volume %s (%s) size %llu stripe %u x %u replicas %u%s\n",
			   dev->id, dev->cfg.volume_id, dev->cfg.volume_name, dev->cfg.size,
			   dev->cfg.stripe_num, dev->cfg.stripe_size, dev->cfg.replica_num,
			   dev->cfg.flags & ZBS_DEV_F_READONLY ? " read-only" : "");
		seq_printf(m, "  open %d inflight %lld parked %d reports %d maps %d\n",
			   atomic_read(&dev->open_count), (long long)atomic64_read(&dev->inflight),
			   atomic_read(&dev->nr_parked), atomic_read(&dev->nr_reports),
			   atomic_read(&dev->nr_maps));
		xa_for_each(&dev->exts, v, ext) {
			struct zbs_report *r;
			struct zbs_cmd *c;
			u32 parked = 0, reports = 0, ackwait = 0;
			u8 i;

			spin_lock(&ext->lock);
			list_for_each_entry(c, &ext->parked, park)
				parked++;
			list_for_each_entry(r, &ext->reports, node)
				reports++;
			list_for_each_entry(c, &ext->ackwait, park)
				ackwait++;
			seq_printf(m, "  vext %llu pid %llu inflight %u parked %u reports %u ackwait %u%s",
				   ext->vext, ext->pid, ext->inflight, parked, reports, ackwait,
				   ext->req_id ? (ext->req_write ? " map-requested(w)" : " map-requested(r)") : "");
			if (ext->map) {
				struct zbs_map *map = ext->map;

				seq_printf(m, " map lease_epoch %llu gen %llu expires_ms %ld replicas",
					   map->lease_epoch, map->next_gen,
					   (long)jiffies_to_msecs(map->expires - jiffies));
				for (i = 0; i < map->nr; i++)
					seq_printf(m, " %u%s", map->rep[i].cid,
						   test_bit(i, &map->failed) ? "(failed)" : "");
			}
			seq_putc(m, '\n');
			spin_unlock(&ext->lock);
		}
	}
	mutex_unlock(&zbs_devs_lock);
}
