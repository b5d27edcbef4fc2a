/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ZBS kernel module internals shared between its files.
 *
 * zbs_main.c     module init/exit, parameters
 * zbs_ctl.c      /dev/zbs-control misc device and its ioctls
 * zbs_dev.c      volume devices: lifecycle, blk-mq, request state machine
 * zbs_map.c      per-device extent-map cache, parking, upcalls
 * zbs_conn.c     chunk servers and the TCP connections to them
 * zbs_genl.c     generic netlink family "zbs" (the agent channel)
 * zbs_debugfs.c  debugfs directory and test-only hooks
 *
 * Object lifetimes
 *  - struct zbs_dev: one per /dev/zbsN, with two counts (nbd's refs and
 *    config_refs): `active` says the device is attached (the index holds
 *    one until removal starts, every ioctl or netlink lookup one; removal
 *    waits until the lookups inside the device are gone); `ref` keeps its
 *    memory and extent slots (the index and every lookup hold one; the
 *    last one puts the disk, whose free_disk frees the slots and the
 *    device).
 *  - struct zbs_map: one lease of one vextent, refcounted: the extent slot
 *    holds one ref, every command using it another.
 *  - struct zbs_chunk: one per chunk address, with its connections. Its
 *    `users` are the maps naming it, the devices with writes on it not yet
 *    flushed and the flush legs sent to it. A chunk nobody uses is not
 *    reconnected, and is closed and freed after chunk_idle_ms (libceph
 *    closes idle OSD sessions the same way).
 */
#ifndef _ZBS_INTERNAL_H
#define _ZBS_INTERNAL_H

#include <linux/types.h>
#include <linux/blk-mq.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/moduleparam.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <linux/workqueue.h>
#include <linux/zbs.h>
#include <linux/zbs_genl.h>
#include <linux/zbs_layout.h>
#include <linux/zbs_wire.h>

#ifndef ZBS_MODULE_VERSION
#define ZBS_MODULE_VERSION "unknown"
#endif

#define ZBS_MAX_CHUNKS		256	/* distinct chunk addresses per host */
#define ZBS_MAX_CONNS_PER_CHUNK	8
#define ZBS_MAX_IO_BYTES	(256U * 1024)	/* one request, <= ZBS_WIRE_MAX_IO */
#define ZBS_FLUSH_BATCH		16	/* flush legs of one request out at once */

/*
 * A module parameter of unsigned int in [lo, hi]: anything else is refused
 * with -EINVAL at load and at a later write (conn_timeout_ms=0 would call
 * every request stuck).
 */
#define ZBS_PARAM_RANGE(name, var, lo, hi)					\
	static int zbs_param_set_##name(const char *val,			\
					const struct kernel_param *kp)		\
	{									\
		return param_set_uint_minmax(val, kp, lo, hi);			\
	}									\
	static const struct kernel_param_ops zbs_param_ops_##name = {		\
		.set = zbs_param_set_##name,					\
		.get = param_get_uint,						\
	};									\
	module_param_cb(name, &zbs_param_ops_##name, &var, 0644)

/* Messages about one device go through its disk ("zbs zbs0: ..."). */
#define zbs_dev_warn_ratelimited(dev, fmt, ...)					\
	dev_warn_ratelimited(disk_to_dev((dev)->disk), fmt, ##__VA_ARGS__)
#define zbs_dev_err_ratelimited(dev, fmt, ...)					\
	dev_err_ratelimited(disk_to_dev((dev)->disk), fmt, ##__VA_ARGS__)

/* Module parameters. */
extern bool zbs_test_hooks;
extern unsigned int zbs_map_retry_ms;	/* re-send a map request after this */
#define ZBS_MAP_AGAIN_MS	100	/* first re-ask after an -EAGAIN answer */
extern unsigned int zbs_reconnect_ms;	/* between connection attempts */
extern unsigned int zbs_conn_timeout_ms;	/* a silent socket is dead after this */
extern unsigned int zbs_op_timeout_ms;	/* one attempt of one op (zbs_io.c) */

extern struct workqueue_struct *zbs_wq;

u64 zbs_features(void);

/* ---- chunks and connections (zbs_conn.c) ---------------------------- */
struct zbs_leg;
struct zbs_cmd;
struct zbs_dev;

struct zbs_sock;

struct zbs_conn {
	struct zbs_chunk	*chunk;
	int			idx;
	spinlock_t		lock;		/* sendq, cur, cookie, down_since, busy_cookie */
	struct zbs_sock		*cur;		/* connected socket, NULL while down */
	u32			cookie;		/* bumped at every connect */
	u32			next_id;	/* xa_alloc_cyclic hint */
	struct list_head	sendq;		/* legs to send, in order */
	struct xarray		inflight;	/* slot -> leg sent, awaiting reply */
	wait_queue_head_t	wait;		/* tx thread: sendq, state */
	wait_queue_head_t	rx_wait;	/* rx thread: a socket to read */
	struct task_struct	*tx_thread;
	struct task_struct	*rx_thread;
	void			*rx_scratch;	/* a page: reply payload nobody wants */
	unsigned long		down_since;	/* jiffies, 0 while up */
	/* the chunk refused a socket for its connection limit (BUSY): its
	 * legs wait in inflight to be sent again, not before busy_until */
	u32			busy_cookie;
	unsigned long		busy_until;
	u32			connects;	/* attempts (tx thread; debugfs) */
	/* legs a chunk answered BUSY (or, after that, GEN: an earlier write
	 * missing), to be sent again once retry_at of the first one passed;
	 * nothing else is sent meanwhile (gen order, and the chunk said it is
	 * overloaded) */
	struct list_head	retryq;		/* conn->lock */
	unsigned long		retry_until;	/* jiffies: GEN refusals retried until */
	unsigned long		last_rx;	/* jiffies of the last reply (or connect) */
};

struct zbs_chunk {
	u32			idx;		/* in the chunk table, while it exists */
	__be32			addr;
	u16			port;
	atomic_t		users;		/* maps, dirty devices, flush legs */
	unsigned long		idle_since;	/* jiffies users reached 0 (idle lock) */
	struct list_head	reap_node;
	u32			nr_conns;	/* conns_per_chunk at creation */
	struct zbs_conn		conns[ZBS_MAX_CONNS_PER_CHUNK];
};

/* Find or create the chunk at addr:port, as a user of it; NULL if none. */
struct zbs_chunk *zbs_chunk_get(__be32 addr, u16 port);
/* Another use of a chunk the caller already uses. */
static inline void zbs_chunk_hold(struct zbs_chunk *c)
{
	atomic_inc(&c->users);
}
void zbs_chunk_put(struct zbs_chunk *c);	/* any context */
/* The chunk at table index idx; the caller holds a use of it. */
struct zbs_chunk *zbs_chunk_by_idx(u32 idx);
void zbs_leg_submit(struct zbs_leg *leg, struct zbs_conn *conn);
/* blk-mq timeout: the deadline of a leg waiting for its reply (rcu read
 * lock held); lowers *next to the leg's next deadline */
void zbs_leg_check_timeout(struct zbs_leg *leg, unsigned long now, unsigned long *next);
void zbs_conn_release(void);

/* ---- extent maps (zbs_map.c) ------------------------------------------ */
struct zbs_replica {
	struct zbs_chunk	*chunk;
	u32			cid;
	u32			flags;		/* ZBS_RF_* */
};

/*
 * A report to the agent (REPLICA_FAILED or EXISTENCE) kept on its extent
 * until the agent answers REPORT_ACK; it lives in its map (each replica
 * fails at most once per map, existence is reported once) and holds a
 * reference to it while it is on the extent's list.
 */
struct zbs_report {
	struct list_head	node;		/* ext->reports */
	struct zbs_map		*map;
	u64			id;
	unsigned long		sent;		/* jiffies, 0: to send */
	u64			gen;
	int			err;
	s8			idx;		/* replica slot, -1 for existence */
	u8			cmd;		/* ZBS_CMD_REPLICA_FAILED/EXISTENCE */
};

/* One lease of one vextent, as the agent answered it. */
struct zbs_map {
	struct kref		ref;
	u64			pid, epoch, lease_epoch;
	u64			next_gen;	/* protected by the extent's lock */
	unsigned long		expires;	/* jiffies */
	bool			ever_exist;	/* protected by the extent's lock */
	u8			nr;
	unsigned long		failed;		/* bit per replica, atomic bitops */
	struct zbs_replica	rep[ZBS_MAX_REPLICAS];
	struct zbs_report	fail_rep[ZBS_MAX_REPLICAS];	/* ext->lock */
	struct zbs_report	exist_rep;			/* ext->lock */
};

/* The cache slot of one vextent of one device (lives as long as the device). */
struct zbs_ext {
	struct zbs_dev		*dev;
	u64			vext;
	spinlock_t		lock;		/* everything below */
	struct zbs_map		*map;		/* current lease, NULL if none */
	u64			pid;		/* pid of the last map (0: none yet) */
	u64			req_id;		/* wanted map request, 0 if none */
	unsigned long		req_sent;	/* jiffies it reached the agent, 0 if not */
	bool			req_write;	/* ask for a write lease */
	/*
	 * The agent answered -EAGAIN ("not now": a recovery target finishing,
	 * meta away): req_id is asked again req_backoff jiffies after
	 * req_sent, from ZBS_MAP_AGAIN_MS doubling up to map_retry_ms while
	 * the answers stay -EAGAIN; 0 after any other answer.
	 */
	bool			req_again;
	unsigned long		req_backoff;
	struct list_head	parked;		/* commands waiting for a map */
	u32			inflight;	/* commands issued under a map */
	u64			revoke_seq;	/* last revoke that dropped its map */
	/*
	 * Reports not yet acknowledged by the agent, and the writes that
	 * completed on their replicas but wait for those reports before they
	 * are acknowledged (ARCHITECTURE.md 4 step 4). No map request is sent
	 * while reports are pending. reissue: a report was refused because the
	 * lease moved on, so the waiting writes are retried under a new map.
	 */
	struct list_head	reports;
	struct list_head	ackwait;	/* commands, on cmd->park */
	bool			reissue;
	struct work_struct	upcall_work;	/* sends reports, then the map request */
};

void zbs_map_put(struct zbs_map *map);
struct zbs_map *zbs_map_alloc(gfp_t gfp);
struct zbs_ext *zbs_ext_get(struct zbs_dev *dev, u64 vext, gfp_t gfp);
/* Park a command on its extent until a map arrives (ext->lock held). */
void __zbs_ext_park(struct zbs_ext *ext, struct zbs_cmd *cmd);
/* Usable map of an extent, or NULL (ext->lock held). Drops expired maps. */
struct zbs_map *__zbs_ext_map(struct zbs_ext *ext);
/* Forget `map` if it is still the extent's current one (ext->lock held). */
void __zbs_ext_drop_map(struct zbs_ext *ext, struct zbs_map *map);
int zbs_map_reply(struct zbs_dev *dev, u64 vext, u64 req_id, int err,
		  struct zbs_map *map);		/* consumes map */
int zbs_map_revoke(struct zbs_dev *dev, bool all, u64 pid, unsigned long timeout);
/* Queue a report (ext->lock held); the caller then queues ext->upcall_work. */
void __zbs_ext_report(struct zbs_ext *ext, struct zbs_map *map, u8 cmd, int idx, u64 gen,
		      int err);
/* Hold a completed write until the extent's reports are answered (ext->lock
 * held); false when none is pending: complete it now. */
bool __zbs_ext_ackwait(struct zbs_ext *ext, struct zbs_cmd *cmd);
int zbs_map_report_ack(struct zbs_dev *dev, u64 vext, u64 req_id, int err);
void zbs_map_resend_all(void);			/* a new agent registered */
void zbs_map_tick(struct zbs_dev *dev);
/* Device removal, after del_gendisk: no upcall runs any more, no map or
 * report is kept (the slots stay for the handlers still holding the dev). */
void zbs_map_shutdown(struct zbs_dev *dev);
void zbs_map_free_slots(struct zbs_dev *dev);	/* free_disk */
extern wait_queue_head_t zbs_drain_wait;
extern atomic_t zbs_live_maps, zbs_live_exts;

/* ---- devices and IO (zbs_dev.c, zbs_io.c) -------------------------- */
struct zbs_dev {
	u32			id;
	struct kref		ref;		/* exists: memory, slots (free_disk) */
	refcount_t		active;		/* attached: index + lookups */
	struct zbs_ioc_dev_config cfg;
	unsigned long		io_timeout;	/* jiffies */
	struct gendisk		*disk;
	struct blk_mq_tag_set	tag_set;
	bool			dying;
	atomic_t		open_count;
	atomic64_t		inflight;	/* requests started, not ended */
	atomic_t		nr_parked;
	atomic_t		nr_reports;	/* pending reports and writes waiting for them */
	atomic_t		nr_maps;
	/* bytes read from a replica on this host (ZBS_RF_LOCAL) and others */
	atomic64_t		read_local, read_remote;
	struct xarray		exts;		/* vext -> struct zbs_ext */
	spinlock_t		dirty_lock;
	/* written since the last flush; each bit holds a use of its chunk */
	DECLARE_BITMAP(dirty_chunks, ZBS_MAX_CHUNKS);
	unsigned long		sweep_at;	/* jiffies: next drop of unusable maps */
	struct delayed_work	tick_work;	/* upcall re-send, deadlines */
};

struct zbs_leg {
	struct zbs_cmd		*cmd;
	struct zbs_conn		*conn;
	struct list_head	node;		/* conn sendq */
	struct zbs_wire_req	req;
	u8			rep_idx;	/* replica slot in cmd->map */
	struct zbs_chunk	*chunk;
	u32			sock_cookie;	/* socket it was sent on */
	unsigned long		busy_since;	/* first refused as BUSY, 0: never */
	/* ZBS_XMIT_*: the tx thread is sending it; a completion meanwhile is
	 * left to the sender (the request's pages must outlive the send) */
	atomic_t		xmit;
	unsigned long		sent_at;	/* jiffies */
	/*
	 * Per-op deadline (zbs_io.c, "Timeouts"): set when sent; the attempt
	 * ends at deadline, the leg fails once expires passed (tries attempts).
	 */
	unsigned long		deadline;
	unsigned long		expires;
	unsigned long		retry_at;	/* BUSY: send again after this */
	u8			tries;		/* attempts timed out so far */
	u8			busy_tries;	/* BUSY replies retried so far */
	int			status;		/* wire status, or -errno */
	u64			reply_gen;
};

enum { ZBS_XMIT_IDLE, ZBS_XMIT_SENDING, ZBS_XMIT_DEFERRED };

/* A leg's status is a wire status (>= 0) or a local -errno: the connection. */
static inline bool zbs_leg_transport_err(int status)
{
	return status < 0;
}

/* Per-request state in the blk-mq PDU. */
struct zbs_cmd {
	struct request		*rq;
	struct zbs_dev		*dev;
	struct zbs_ext		*ext;
	struct zbs_map		*map;		/* ref held while legs are out */
	u64			off;		/* in the extent */
	u32			len;
	u16			op;		/* ZBS_OP_READ/WRITE/WRITE_ZEROES/FLUSH */
	bool			fua;
	u64			gen;
	atomic_t		pending;	/* legs out */
	atomic_t		ok;		/* legs that succeeded */
	bool			map_bad;	/* fenced or inconsistent: drop the map */
	u8			tried;		/* read: replicas tried under this map */
	int			err;		/* errno to end with if it fails */
	unsigned long		deadline;	/* jiffies: fail after this */
	struct list_head	park;		/* on ext->parked */
	struct delayed_work	dwork;		/* completion, retry, flush (worker) */
	u8			nr_legs;	/* legs of the current attempt */
	bool			transport;	/* the last attempt failed on connections only */
	struct zbs_leg		legs[ZBS_MAX_REPLICAS];
	/*
	 * Flush: the chunks still to flush (each bit holds a use of its
	 * chunk, moved from the device's dirty set), sent in batches of legs
	 * from the flush-leg pool; flush_lost: a chunk failed a flush and
	 * some extent had no other live replica.
	 */
	DECLARE_BITMAP(flush_chunks, ZBS_MAX_CHUNKS);
	struct zbs_leg		*flush_legs[ZBS_FLUSH_BATCH];
	u8			nr_flush_legs;
	bool			flush_lost;
	/*
	 * Discard / write zeroes: the request is sent as one range per extent
	 * and stripe group, one after another (zbs_layout_col_range); off/len
	 * above are the current range, of vextent dz_vext.
	 */
	u64			dz_pos;		/* volume offset of the current group part */
	u64			dz_left;	/* bytes of the request from dz_pos on */
	u64			dz_vext;
	u32			dz_col;		/* next column of the group to look at */
};

/* zbs_io.c */
#define ZBS_OP_TRIES		4	/* attempts of op_timeout each (3 retries) */
#define ZBS_BUSY_RETRIES	6	/* BUSY replies retried per leg */
unsigned long zbs_leg_attempt(const struct zbs_leg *leg);	/* jiffies */
unsigned long zbs_busy_backoff(unsigned int tries);		/* jiffies */
enum blk_eh_timer_return zbs_cmd_timeout(struct request *rq);
int zbs_wire_errno(int st);
blk_status_t zbs_queue_rq(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd);
void zbs_cmd_issue(struct zbs_cmd *cmd);	/* route a command (ext unlocked) */
void zbs_cmd_end(struct zbs_cmd *cmd, blk_status_t st);
void zbs_leg_done(struct zbs_leg *leg);		/* a leg's reply or failure */
void zbs_cmd_zeroes_next(struct zbs_cmd *cmd);	/* range needs nothing: go on */
/* A write held for reports: acknowledge it (ok) or retry it under a new map. */
void zbs_cmd_report_done(struct zbs_cmd *cmd, bool ok);
int zbs_io_setup(void);
void zbs_io_release(void);

/* zbs_dev.c */
/* An attached device, with both references (zbs_dev_put), or NULL. */
struct zbs_dev *zbs_dev_get(u32 id);
struct zbs_dev *zbs_dev_get_next(u32 *id);	/* iteration from *id */
void zbs_dev_put(struct zbs_dev *dev);
int zbs_dev_add(const struct zbs_ioc_dev_config *cfg, u32 *id);
int zbs_dev_del(u32 id);
int zbs_dev_info(u32 id, struct zbs_ioc_dev_info *info);
int zbs_dev_list(u32 *ids, u32 capacity, u32 *count);
int zbs_dev_setup(void);
void zbs_dev_release(void);

/* ---- netlink (zbs_genl.c) ------------------------------------------- */
int zbs_genl_setup(void);
void zbs_genl_release(void);
bool zbs_genl_session_valid(void);
int zbs_genl_map_request(struct zbs_dev *dev, u64 vext, u64 req_id, bool write);
struct zbs_report_msg {
	u64 id, pid, epoch, lease_epoch, gen;
	u32 cid;
	int err;
	u8 cmd;
};
int zbs_genl_report(struct zbs_dev *dev, u64 vext, const struct zbs_report_msg *m);

/* ---- control device, debugfs ------------------------------------------ */
int zbs_ctl_setup(void);
void zbs_ctl_release(void);

void zbs_debugfs_setup(void);
struct seq_file;
void zbs_dev_debugfs_show(struct seq_file *m);		/* zbs_dev.c */
void zbs_conn_debugfs_show(struct seq_file *m);		/* zbs_conn.c */
/*
 * Test-only fault hooks (test_hooks=1, debugfs): a counter N > 0 makes the
 * N-th event from now fail (then it is 0 again).
 */
extern atomic_t zbs_fault_thread_start;	/* starting a connection thread */
bool zbs_fault_hit(atomic_t *f);
/* N > 0: sleep N ms between a request's header and its data (every send) */
extern atomic_t zbs_fault_send_delay_ms;
/* sleep *ms ms if > 0; ends early once *ms is set to 0 (debugfs) */
void zbs_fault_delay(atomic_t *ms);
/* N > 0: netlink handlers sleep N ms after looking up an extent slot */
extern atomic_t zbs_fault_slot_delay_ms;
/* N > 0: flush legs come only from a reserve of N (memory pressure) */
extern atomic_t zbs_fault_leg_pool_only;
int zbs_io_test_leg_pool(unsigned int n);	/* zbs_io.c */
void zbs_debugfs_release(void);

#endif /* _ZBS_INTERNAL_H */
