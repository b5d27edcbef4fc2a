/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent side of the generic netlink family "zbs" (uapi/linux/zbs_genl.h):
 * what zbs-chunkd (and zbs-test-agent) use to serve the kernel's map
 * requests. Built on libnl-genl-3 (link with -lnl-genl-3 -lnl-3).
 *
 * One struct zbs_kagent owns the *agent socket*: the one that registers
 * (ZBS_CMD_AGENT_REGISTER) and on which the kernel sends MAP_REQUEST,
 * REPLICA_FAILED and EXISTENCE. MAP_REPLY and SESSION must go out on that
 * same socket (the kernel checks the sender's port id), so they are sent on
 * it without waiting: the kernel's ack or error arrives later and is handed
 * to ops->ack from zbs_kagent_dispatch() (or logged when ops->ack is NULL),
 * so a rejected reply is always visible.
 *
 * Receive in one thread: poll zbs_kagent_fd() for POLLIN, call
 * zbs_kagent_dispatch(), which reads everything queued and calls the ops.
 * zbs_kagent_map_reply() and zbs_kagent_session() may be called from any
 * thread (callbacks included), e.g. by workers that answered a request
 * after asking meta.
 *
 * REVOKE blocks in the kernel until the IO issued under the revoked maps
 * drained, so zbs_kagent_revoke() sends it on a second socket of its own
 * and waits for the kernel's answer; it is thread-safe and may be called
 * from any thread while the agent socket keeps serving map requests.
 *
 * Every incoming message is validated against a policy: a message with a
 * missing, malformed or oversized attribute is logged and ignored.
 */
#ifndef ZBS_KAGENT_H
#define ZBS_KAGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/zbs.h>
#include <linux/zbs_genl.h>

struct zbs_kagent;

/* MAP_REQUEST: the kernel wants the map of one vextent. */
struct zbs_kagent_map_req {
	uint32_t dev_id;
	char volume_id[ZBS_VOLUME_ID_LEN];
	uint64_t vextent;
	uint64_t req_id;
	bool write;		/* a write lease is wanted */
};

struct zbs_kagent_replica {
	uint32_t cid;		/* non-zero */
	uint32_t addr4;		/* IPv4 address, network byte order */
	uint16_t port;		/* host byte order, non-zero */
	uint32_t flags;		/* ZBS_RF_* */
};

/* The answer to a MAP_REQUEST when it succeeds. */
struct zbs_kagent_map {
	uint64_t pid, epoch, lease_epoch, gen;
	bool ever_exist;
	uint32_t expiry_ms;	/* 1 .. 24 h */
	unsigned nr;		/* 1 .. ZBS_MAX_REPLICAS */
	struct zbs_kagent_replica rep[ZBS_MAX_REPLICAS];	/* location order */
};

/* REPLICA_FAILED (cid, err set) and EXISTENCE (cid 0, err 0); answer each
 * with zbs_kagent_report_ack() (req_id), or the kernel's writes wait. */
struct zbs_kagent_event {
	uint32_t dev_id;
	char volume_id[ZBS_VOLUME_ID_LEN];
	uint64_t vextent, req_id, pid, epoch, lease_epoch, gen;
	uint32_t cid;
	int32_t err;		/* the replica's error, a negative errno */
};

/* The kernel's answer to something sent on the agent socket. */
struct zbs_kagent_ack {
	uint32_t seq;		/* as returned by the send */
	uint8_t cmd;		/* ZBS_CMD_* sent with that seq, 0 if unknown */
	int err;		/* 0 (accepted) or a negative errno */
	const char *msg;	/* the kernel's extack message, or NULL */
	/* for MAP_REPLY: what it answered */
	uint32_t dev_id;
	uint64_t vextent, req_id;
};

struct zbs_kagent_ops {
	void (*map_request)(void *arg, const struct zbs_kagent_map_req *req);
	void (*replica_failed)(void *arg, const struct zbs_kagent_event *ev);
	void (*existence)(void *arg, const struct zbs_kagent_event *ev);
	/* Optional: every ack/error for the agent socket. NULL: errors are
	 * logged as warnings, acks at debug level. */
	void (*ack)(void *arg, const struct zbs_kagent_ack *ack);
};

/*
 * Open the agent socket and resolve the family. Does not register yet.
 * Returns 0 or a negative errno (-ENOENT: the zbs module is not loaded).
 */
int zbs_kagent_open(const struct zbs_kagent_ops *ops, void *arg, struct zbs_kagent **out);
void zbs_kagent_close(struct zbs_kagent *ka);

/* The agent socket's fd, to poll for POLLIN. */
int zbs_kagent_fd(const struct zbs_kagent *ka);

/*
 * Read every message queued on the agent socket (never blocks) and call
 * the ops. Returns 0, or a negative errno when the socket failed (lost
 * messages because the receive buffer overflowed are logged and return 0:
 * the kernel re-sends unanswered map requests).
 */
int zbs_kagent_dispatch(struct zbs_kagent *ka);

/*
 * Become the kernel's agent. lease_ms 0 registers without a session lease
 * (maps are then bounded only by their own expiry); otherwise the session
 * holds lease_ms from now and must be renewed with zbs_kagent_session().
 * Waits for the kernel's answer (up to 5 s, dispatching any request that
 * arrives meanwhile). Returns 0 or a negative errno (-EBUSY: another agent
 * is registered).
 */
int zbs_kagent_register(struct zbs_kagent *ka, uint32_t lease_ms);

/*
 * Answer map request `req`: err 0 with `map`, or a negative errno (map
 * ignored; -EAGAIN makes the kernel ask again later, -ENODATA says the
 * vextent was never written). Sent without waiting; returns the message's
 * sequence number (> 0, matched by ops->ack) or a negative errno when it
 * could not be sent.
 */
int64_t zbs_kagent_map_reply(struct zbs_kagent *ka, const struct zbs_kagent_map_req *req,
			     int err, const struct zbs_kagent_map *map);

/*
 * Answer a report (REPLICA_FAILED / EXISTENCE) of device dev_id, vextent,
 * req_id: 0 done, -ESTALE the lease moved on, -EAGAIN not now (the kernel
 * sends it again). Sent without waiting; the message's sequence number or
 * a negative errno.
 */
int64_t zbs_kagent_report_ack(struct zbs_kagent *ka, uint32_t dev_id, uint64_t vextent,
			      uint64_t req_id, int err);

/* The session with meta holds lease_ms from now (0: it expired). Sent
 * without waiting; the sequence number or a negative errno. */
int64_t zbs_kagent_session(struct zbs_kagent *ka, uint32_t lease_ms);

/*
 * Revoke maps and wait until IO issued under them drained: dev_id (-1 for
 * any device), volume_id (NULL for any), pid (0 for any); all three unset
 * revokes everything. Blocks, on its own socket, until the kernel answers.
 * Returns 0, -ETIMEDOUT (did not drain within the device's IO timeout), or
 * another negative errno.
 */
int zbs_kagent_revoke(struct zbs_kagent *ka, int64_t dev_id, const char *volume_id,
		      uint64_t pid);

/* Format a map for logs: "pid 3 epoch 1 le 2 gen 5 [1@127.0.0.1:10201 L,...]". */
void zbs_kagent_map_str(const struct zbs_kagent_map *map, char *buf, size_t len);

#endif
