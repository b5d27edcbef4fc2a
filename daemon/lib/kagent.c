// SPDX-License-Identifier: GPL-2.0
/*
 * Agent side of the generic netlink family "zbs" (see kagent.h and
 * uapi/linux/zbs_genl.h). libnl builds and parses the messages and resolves
 * the family; the sockets are read and written directly (recv/send) so the
 * agent socket never blocks and errors keep their errno.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "kagent.h"
#include "log.h"
#include "util.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define KA_RBUF		(64 * 1024)	/* kernel messages are < NLMSG_GOODSIZE */
#define KA_RCVBUF	(8 << 20)
#define KA_PENDING	1024		/* sends remembered to describe their ack */
#define KA_REGISTER_MS	5000

struct ka_pending {
	uint32_t seq;
	uint8_t cmd;
	uint32_t dev_id;
	uint64_t vextent, req_id;
};

struct zbs_kagent {
	const struct zbs_kagent_ops *ops;
	void *arg;
	struct nl_sock *sk;		/* the agent socket */
	int fd;
	int family;
	uint8_t *rbuf;
	pthread_mutex_t lock;		/* seq, pend, reg_*: sends from any thread */
	uint32_t seq;			/* last sequence number used */
	struct ka_pending pend[KA_PENDING];
	/* zbs_kagent_register() waiting for its ack */
	uint32_t reg_seq;
	bool reg_done;
	int reg_err;

	pthread_mutex_t revoke_lock;	/* the revoke socket and its seq */
	struct nl_sock *rsk;
	uint32_t rseq;
};

/* Attribute policy of every kernel -> agent message (libnl checks lengths;
 * integers must have exactly their size, strings be NUL-terminated). */
static struct nla_policy ka_policy[ZBS_A_MAX + 1] = {
	[ZBS_A_DEV_ID]		= { .type = NLA_U32, .maxlen = sizeof(uint32_t) },
	[ZBS_A_VOLUME_ID]	= { .type = NLA_STRING, .maxlen = ZBS_VOLUME_ID_LEN },
	[ZBS_A_VEXTENT]		= { .type = NLA_U64, .maxlen = sizeof(uint64_t) },
	[ZBS_A_REQ_ID]		= { .type = NLA_U64, .maxlen = sizeof(uint64_t) },
	[ZBS_A_WRITE]		= { .type = NLA_FLAG },
	[ZBS_A_ERRNO]		= { .type = NLA_U32, .maxlen = sizeof(uint32_t) },
	[ZBS_A_PID]		= { .type = NLA_U64, .maxlen = sizeof(uint64_t) },
	[ZBS_A_EPOCH]		= { .type = NLA_U64, .maxlen = sizeof(uint64_t) },
	[ZBS_A_LEASE_EPOCH]	= { .type = NLA_U64, .maxlen = sizeof(uint64_t) },
	[ZBS_A_GEN]		= { .type = NLA_U64, .maxlen = sizeof(uint64_t) },
	[ZBS_A_EVER_EXIST]	= { .type = NLA_FLAG },
	[ZBS_A_EXPIRY_MS]	= { .type = NLA_U32, .maxlen = sizeof(uint32_t) },
	[ZBS_A_REPLICAS]	= { .type = NLA_NESTED },
	[ZBS_A_CID]		= { .type = NLA_U32, .maxlen = sizeof(uint32_t) },
	[ZBS_A_LEASE_MS]	= { .type = NLA_U32, .maxlen = sizeof(uint32_t) },
};

static const char *ka_cmd_name(uint8_t cmd)
{
	static const char *const names[] = {
		[ZBS_CMD_AGENT_REGISTER] = "AGENT_REGISTER",
		[ZBS_CMD_MAP_REQUEST] = "MAP_REQUEST",
		[ZBS_CMD_MAP_REPLY] = "MAP_REPLY",
		[ZBS_CMD_REPLICA_FAILED] = "REPLICA_FAILED",
		[ZBS_CMD_EXISTENCE] = "EXISTENCE",
		[ZBS_CMD_REPORT_ACK] = "REPORT_ACK",
		[ZBS_CMD_SESSION] = "SESSION",
		[ZBS_CMD_REVOKE] = "REVOKE",
	};

	return cmd < ARRAY_SIZE(names) && names[cmd] ? names[cmd] : "?";
}

/* ---- sockets ---------------------------------------------------------- */

static int ka_nlerr(int nlerr)
{
	switch (-nlerr) {
	case NLE_NOMEM: return -ENOMEM;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_PERM: return -EPERM;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_BUSY: return -EBUSY;
	default: return -EIO;
	}
}

/* A connected generic netlink socket with extended acks. */
static int ka_socket(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1, rc;

	if (!sk)
		return -ENOMEM;
	rc = genl_connect(sk);
	if (rc < 0) {
		nl_socket_free(sk);
		return ka_nlerr(rc);
	}
	/* errors carry only the header of our message, plus the kernel's text */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	*out = sk;
	return 0;
}

/* Send a built message with seq; 0 or -errno. */
static int ka_send(int fd, struct nl_msg *msg, uint32_t seq)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = 0;
	do {
		n = sendto(fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)nlh->nlmsg_len ? 0 : -EMSGSIZE;
}

static struct nl_msg *ka_msg(int family, uint8_t cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, cmd,
				ZBS_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/* Parse an NLMSG_ERROR: errno (<= 0) and the extack text into buf. */
static int ka_parse_error(const struct nlmsghdr *nlh, char *buf, size_t len, uint32_t *seq)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);
	size_t off;

	buf[0] = 0;
	*seq = 0;
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return -EBADMSG;
	*seq = e->msg.nlmsg_seq;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return e->error;
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len > NLMSG_HDRLEN)
		off += NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN);
	if (NLMSG_LENGTH(off) <= nlh->nlmsg_len) {
		struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { 0 };
		struct nla_policy pol[NLMSGERR_ATTR_MAX + 1] = {
			[NLMSGERR_ATTR_MSG] = { .type = NLA_STRING },
			[NLMSGERR_ATTR_MISS_TYPE] = { .type = NLA_U32, .maxlen = 4 },
		};

		if (nla_parse(tb, NLMSGERR_ATTR_MAX,
			      (struct nlattr *)((char *)NLMSG_DATA(nlh) + off),
			      (int)(nlh->nlmsg_len - NLMSG_LENGTH(off)), pol) == 0) {
			if (tb[NLMSGERR_ATTR_MSG])
				snprintf(buf, len, "%s", (const char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
			else if (tb[NLMSGERR_ATTR_MISS_TYPE])
				snprintf(buf, len, "missing attribute %u",
					 nla_get_u32(tb[NLMSGERR_ATTR_MISS_TYPE]));
		}
	}
	return e->error;
}

/* ---- the agent socket --------------------------------------------------- */

static int64_t ka_send_agent(struct zbs_kagent *ka, struct nl_msg *msg, uint8_t cmd,
			     const struct zbs_kagent_map_req *req)
{
	struct ka_pending *p;
	uint32_t seq;
	int rc;

	pthread_mutex_lock(&ka->lock);
	seq = ++ka->seq ?: ++ka->seq;
	p = &ka->pend[seq % KA_PENDING];
	*p = (struct ka_pending){ .seq = seq, .cmd = cmd };
	if (req) {
		p->dev_id = req->dev_id;
		p->vextent = req->vextent;
		p->req_id = req->req_id;
	}
	if (cmd == ZBS_CMD_AGENT_REGISTER) {
		ka->reg_seq = seq;
		ka->reg_done = false;
	}
	/* under the lock: the kernel answers inside this send, and the ack
	 * must find its pending entry (and seqs go out in order) */
	rc = ka_send(ka->fd, msg, seq);
	if (rc < 0)
		p->seq = 0;
	pthread_mutex_unlock(&ka->lock);
	nlmsg_free(msg);
	if (rc < 0) {
		log_warn("netlink: cannot send %s: %s", ka_cmd_name(cmd), strerror(-rc));
		return rc;
	}
	return seq;
}

static void ka_handle_ack(struct zbs_kagent *ka, const struct nlmsghdr *nlh)
{
	char text[256];
	struct zbs_kagent_ack ack = { 0 };
	struct ka_pending *p;

	ack.err = ka_parse_error(nlh, text, sizeof(text), &ack.seq);
	if (ack.err == -EBADMSG && !ack.seq) {
		log_warn("netlink: truncated error message ignored");
		return;
	}
	ack.msg = text[0] ? text : NULL;
	pthread_mutex_lock(&ka->lock);
	p = &ka->pend[ack.seq % KA_PENDING];
	if (ack.seq && p->seq == ack.seq) {
		ack.cmd = p->cmd;
		ack.dev_id = p->dev_id;
		ack.vextent = p->vextent;
		ack.req_id = p->req_id;
		p->seq = 0;
	}
	if (ack.seq && ack.seq == ka->reg_seq) {
		ka->reg_done = true;
		ka->reg_err = ack.err;
	}
	pthread_mutex_unlock(&ka->lock);
	if (ka->ops->ack) {
		ka->ops->ack(ka->arg, &ack);
	} else if (ack.err) {
		if (ack.cmd == ZBS_CMD_MAP_REPLY)
			log_warn("kernel rejected MAP_REPLY (dev %u vextent %" PRIu64 " req %" PRIu64
				 "): %s%s%s", ack.dev_id, ack.vextent, ack.req_id,
				 strerror(-ack.err), ack.msg ? ": " : "", ack.msg ? ack.msg : "");
		else
			log_warn("kernel rejected %s (seq %u): %s%s%s", ka_cmd_name(ack.cmd), ack.seq,
				 strerror(-ack.err), ack.msg ? ": " : "", ack.msg ? ack.msg : "");
	} else {
		log_debug("kernel accepted %s (seq %u)", ka_cmd_name(ack.cmd), ack.seq);
	}
}

static bool ka_need(struct nlattr **tb, const char *what, const int *attrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!tb[attrs[i]]) {
			log_warn("netlink: %s without attribute %d ignored", what, attrs[i]);
			return false;
		}
	}
	return true;
}

static bool ka_volume(struct nlattr *a, char *out)
{
	/* the policy guarantees 1..ZBS_VOLUME_ID_LEN bytes ending with NUL */
	memcpy(out, nla_data(a), (size_t)nla_len(a));
	if (!out[0]) {
		log_warn("netlink: message with an empty volume id ignored");
		return false;
	}
	return true;
}

static void ka_handle_genl(struct zbs_kagent *ka, struct nlmsghdr *nlh)
{
	static const int map_req_attrs[] = { ZBS_A_DEV_ID, ZBS_A_VOLUME_ID, ZBS_A_VEXTENT,
					     ZBS_A_REQ_ID };
	static const int failed_attrs[] = { ZBS_A_DEV_ID, ZBS_A_VOLUME_ID, ZBS_A_VEXTENT,
					    ZBS_A_REQ_ID, ZBS_A_PID, ZBS_A_EPOCH,
					    ZBS_A_LEASE_EPOCH, ZBS_A_CID, ZBS_A_GEN, ZBS_A_ERRNO };
	static const int exist_attrs[] = { ZBS_A_DEV_ID, ZBS_A_VOLUME_ID, ZBS_A_VEXTENT,
					   ZBS_A_REQ_ID, ZBS_A_PID, ZBS_A_EPOCH,
					   ZBS_A_LEASE_EPOCH, ZBS_A_GEN };
	struct nlattr *tb[ZBS_A_MAX + 1];
	struct genlmsghdr *gh;
	int rc;

	if (!genlmsg_valid_hdr(nlh, 0)) {
		log_warn("netlink: short generic netlink message ignored");
		return;
	}
	gh = nlmsg_data(nlh);
	rc = genlmsg_parse(nlh, 0, tb, ZBS_A_MAX, ka_policy);
	if (rc < 0) {
		log_warn("netlink: %s with a malformed attribute ignored (%s)",
			 ka_cmd_name(gh->cmd), nl_geterror(rc));
		return;
	}
	switch (gh->cmd) {
	case ZBS_CMD_MAP_REQUEST: {
		struct zbs_kagent_map_req req = { 0 };

		if (!ka_need(tb, "MAP_REQUEST", map_req_attrs, ARRAY_SIZE(map_req_attrs)) ||
		    !ka_volume(tb[ZBS_A_VOLUME_ID], req.volume_id))
			return;
		req.dev_id = nla_get_u32(tb[ZBS_A_DEV_ID]);
		req.vextent = nla_get_u64(tb[ZBS_A_VEXTENT]);
		req.req_id = nla_get_u64(tb[ZBS_A_REQ_ID]);
		req.write = tb[ZBS_A_WRITE] != NULL;
		log_debug("MAP_REQUEST dev %u volume %s vextent %" PRIu64 " req %" PRIu64 "%s",
			  req.dev_id, req.volume_id, req.vextent, req.req_id,
			  req.write ? " write" : "");
		if (ka->ops->map_request)
			ka->ops->map_request(ka->arg, &req);
		break;
	}
	case ZBS_CMD_REPLICA_FAILED:
	case ZBS_CMD_EXISTENCE: {
		bool failed = gh->cmd == ZBS_CMD_REPLICA_FAILED;
		struct zbs_kagent_event ev = { 0 };

		if (failed ? !ka_need(tb, "REPLICA_FAILED", failed_attrs, ARRAY_SIZE(failed_attrs))
			   : !ka_need(tb, "EXISTENCE", exist_attrs, ARRAY_SIZE(exist_attrs)))
			return;
		if (!ka_volume(tb[ZBS_A_VOLUME_ID], ev.volume_id))
			return;
		ev.dev_id = nla_get_u32(tb[ZBS_A_DEV_ID]);
		ev.vextent = nla_get_u64(tb[ZBS_A_VEXTENT]);
		ev.req_id = nla_get_u64(tb[ZBS_A_REQ_ID]);
		ev.pid = nla_get_u64(tb[ZBS_A_PID]);
		ev.epoch = nla_get_u64(tb[ZBS_A_EPOCH]);
		ev.lease_epoch = nla_get_u64(tb[ZBS_A_LEASE_EPOCH]);
		ev.gen = nla_get_u64(tb[ZBS_A_GEN]);
		if (failed) {
			ev.cid = nla_get_u32(tb[ZBS_A_CID]);
			ev.err = (int32_t)nla_get_u32(tb[ZBS_A_ERRNO]);
			if (ka->ops->replica_failed)
				ka->ops->replica_failed(ka->arg, &ev);
		} else if (ka->ops->existence) {
			ka->ops->existence(ka->arg, &ev);
		}
		break;
	}
	default:
		log_debug("netlink: unexpected command %u from the kernel ignored", gh->cmd);
		break;
	}
}

/* Handle one datagram's messages (split out for the unit test). */
static void ka_handle_buf(struct zbs_kagent *ka, void *buf, size_t len)
{
	struct nlmsghdr *nlh = buf;
	int rem = (int)len;

	for (; nlmsg_ok(nlh, rem); nlh = nlmsg_next(nlh, &rem)) {
		if (nlh->nlmsg_type == NLMSG_ERROR)
			ka_handle_ack(ka, nlh);
		else if (nlh->nlmsg_type == ka->family)
			ka_handle_genl(ka, nlh);
		else if (nlh->nlmsg_type >= NLMSG_MIN_TYPE)
			log_debug("netlink: message of type %u ignored", nlh->nlmsg_type);
	}
	if (rem > 0)
		log_warn("netlink: %d trailing bytes of a datagram ignored", rem);
}

int zbs_kagent_dispatch(struct zbs_kagent *ka)
{
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(ka->fd, ka->rbuf, KA_RBUF, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS) {
				log_warn("netlink: receive buffer overrun, messages lost "
					 "(the kernel re-sends unanswered map requests)");
				continue;
			}
			log_err("netlink: recv: %m");
			return -errno;
		}
		if (n > KA_RBUF) {
			log_warn("netlink: oversized datagram (%zd bytes) ignored", n);
			continue;
		}
		if (from.nl_family != AF_NETLINK || from.nl_pid != 0) {
			log_warn("netlink: datagram from port %u (not the kernel) ignored",
				 from.nl_pid);
			continue;
		}
		ka_handle_buf(ka, ka->rbuf, (size_t)n);
	}
}

int zbs_kagent_open(const struct zbs_kagent_ops *ops, void *arg, struct zbs_kagent **out)
{
	struct zbs_kagent *ka = calloc(1, sizeof(*ka));
	int rc, size = KA_RCVBUF;

	if (!ka)
		return -ENOMEM;
	ka->ops = ops;
	ka->arg = arg;
	pthread_mutex_init(&ka->revoke_lock, NULL);
	pthread_mutex_init(&ka->lock, NULL);
	ka->rbuf = malloc(KA_RBUF);
	if (!ka->rbuf) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = ka_socket(&ka->sk);
	if (rc < 0) {
		log_err("netlink: cannot open a generic netlink socket: %s", strerror(-rc));
		goto fail;
	}
	ka->fd = nl_socket_get_fd(ka->sk);
	ka->family = genl_ctrl_resolve(ka->sk, ZBS_GENL_NAME);
	if (ka->family < 0) {
		rc = ka->family == -NLE_OBJ_NOTFOUND ? -ENOENT : ka_nlerr(ka->family);
		log_err("netlink: family \"%s\" not found (is the zbs module loaded?)",
			ZBS_GENL_NAME);
		goto fail;
	}
	/* map requests come in bursts (one per vextent a workload touches) */
	if (setsockopt(ka->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(ka->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*out = ka;
	return 0;
fail:
	zbs_kagent_close(ka);
	return rc;
}

void zbs_kagent_close(struct zbs_kagent *ka)
{
	if (!ka)
		return;
	if (ka->sk)
		nl_socket_free(ka->sk);
	if (ka->rsk)
		nl_socket_free(ka->rsk);
	pthread_mutex_destroy(&ka->revoke_lock);
	pthread_mutex_destroy(&ka->lock);
	free(ka->rbuf);
	free(ka);
}

int zbs_kagent_fd(const struct zbs_kagent *ka)
{
	return ka->fd;
}

int zbs_kagent_register(struct zbs_kagent *ka, uint32_t lease_ms)
{
	struct nl_msg *msg = ka_msg(ka->family, ZBS_CMD_AGENT_REGISTER);
	uint64_t deadline = zbs_now_ns() + (uint64_t)KA_REGISTER_MS * 1000000;
	int64_t seq;
	bool done;
	int rc;

	if (!msg)
		return -ENOMEM;
	if (lease_ms && nla_put_u32(msg, ZBS_A_LEASE_MS, lease_ms) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	seq = ka_send_agent(ka, msg, ZBS_CMD_AGENT_REGISTER, NULL);
	if (seq < 0)
		return (int)seq;
	for (;;) {
		struct pollfd pfd = { .fd = ka->fd, .events = POLLIN };
		uint64_t now = zbs_now_ns();

		pthread_mutex_lock(&ka->lock);
		done = ka->reg_done;
		pthread_mutex_unlock(&ka->lock);
		if (done)
			break;
		if (now >= deadline) {
			pthread_mutex_lock(&ka->lock);
			ka->reg_seq = 0;
			pthread_mutex_unlock(&ka->lock);
			log_err("netlink: no answer to AGENT_REGISTER");
			return -ETIMEDOUT;
		}
		rc = poll(&pfd, 1, (int)((deadline - now) / 1000000) + 1);
		if (rc < 0 && errno != EINTR)
			return -errno;
		rc = zbs_kagent_dispatch(ka);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&ka->lock);
	ka->reg_seq = 0;
	rc = ka->reg_err;
	pthread_mutex_unlock(&ka->lock);
	if (rc)
		return rc;
	log_info("registered as the kernel's agent (%s)",
		 lease_ms ? "session lease" : "no session lease");
	return 0;
}

static int ka_put_map(struct nl_msg *msg, const struct zbs_kagent_map *map)
{
	struct nlattr *reps;

	if (nla_put_u64(msg, ZBS_A_PID, map->pid) < 0 ||
	    nla_put_u64(msg, ZBS_A_EPOCH, map->epoch) < 0 ||
	    nla_put_u64(msg, ZBS_A_LEASE_EPOCH, map->lease_epoch) < 0 ||
	    nla_put_u64(msg, ZBS_A_GEN, map->gen) < 0 ||
	    nla_put_u32(msg, ZBS_A_EXPIRY_MS, map->expiry_ms) < 0 ||
	    (map->ever_exist && nla_put_flag(msg, ZBS_A_EVER_EXIST) < 0))
		return -EMSGSIZE;
	reps = nla_nest_start(msg, ZBS_A_REPLICAS);
	if (!reps)
		return -EMSGSIZE;
	for (unsigned i = 0; i < map->nr; i++) {
		const struct zbs_kagent_replica *r = &map->rep[i];
		struct nlattr *one = nla_nest_start(msg, ZBS_RA_REPLICA);

		if (!one || nla_put_u32(msg, ZBS_RA_CID, r->cid) < 0 ||
		    nla_put_u32(msg, ZBS_RA_ADDR4, r->addr4) < 0 ||
		    nla_put_u16(msg, ZBS_RA_PORT, r->port) < 0 ||
		    nla_put_u32(msg, ZBS_RA_RFLAGS, r->flags) < 0)
			return -EMSGSIZE;
		nla_nest_end(msg, one);
	}
	nla_nest_end(msg, reps);
	return 0;
}

int64_t zbs_kagent_map_reply(struct zbs_kagent *ka, const struct zbs_kagent_map_req *req,
			     int err, const struct zbs_kagent_map *map)
{
	struct nl_msg *msg;

	if (err > 0 || err < -4095 || (!err && (!map || !map->nr || map->nr > ZBS_MAX_REPLICAS)))
		return -EINVAL;
	msg = ka_msg(ka->family, ZBS_CMD_MAP_REPLY);
	if (!msg)
		return -ENOMEM;
	if (nla_put_u64(msg, ZBS_A_REQ_ID, req->req_id) < 0 ||
	    nla_put_u32(msg, ZBS_A_DEV_ID, req->dev_id) < 0 ||
	    nla_put_u64(msg, ZBS_A_VEXTENT, req->vextent) < 0 ||
	    nla_put_u32(msg, ZBS_A_ERRNO, (uint32_t)err) < 0 ||
	    (!err && ka_put_map(msg, map) < 0)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return ka_send_agent(ka, msg, ZBS_CMD_MAP_REPLY, req);
}

int64_t zbs_kagent_report_ack(struct zbs_kagent *ka, uint32_t dev_id, uint64_t vextent,
			      uint64_t req_id, int err)
{
	struct zbs_kagent_map_req q = { .dev_id = dev_id, .vextent = vextent, .req_id = req_id };
	struct nl_msg *msg;

	if (err > 0 || err < -4095)
		return -EINVAL;
	msg = ka_msg(ka->family, ZBS_CMD_REPORT_ACK);
	if (!msg)
		return -ENOMEM;
	if (nla_put_u64(msg, ZBS_A_REQ_ID, req_id) < 0 ||
	    nla_put_u32(msg, ZBS_A_DEV_ID, dev_id) < 0 ||
	    nla_put_u64(msg, ZBS_A_VEXTENT, vextent) < 0 ||
	    nla_put_u32(msg, ZBS_A_ERRNO, (uint32_t)err) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return ka_send_agent(ka, msg, ZBS_CMD_REPORT_ACK, &q);
}

int64_t zbs_kagent_session(struct zbs_kagent *ka, uint32_t lease_ms)
{
	struct nl_msg *msg = ka_msg(ka->family, ZBS_CMD_SESSION);

	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, ZBS_A_LEASE_MS, lease_ms) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return ka_send_agent(ka, msg, ZBS_CMD_SESSION, NULL);
}

/* ---- revoke, on its own socket ----------------------------------------- */

/* Wait for the answer to seq on the revoke socket; errno <= 0. */
static int ka_revoke_wait(struct zbs_kagent *ka, uint32_t seq)
{
	int fd = nl_socket_get_fd(ka->rsk);
	char *buf = malloc(8192);
	int ret = -ETIMEDOUT;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		struct nlmsghdr *nlh;
		ssize_t n;
		int rem;

		/* the kernel answers before our send returned; be generous */
		n = poll(&pfd, 1, 30000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		n = recvfrom(fd, buf, 8192, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			ret = -errno;
			break;
		}
		if (from.nl_pid != 0)
			continue;
		rem = (int)n;
		for (nlh = (struct nlmsghdr *)buf; nlmsg_ok(nlh, rem); nlh = nlmsg_next(nlh, &rem)) {
			char text[256];
			uint32_t s;
			int e;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = ka_parse_error(nlh, text, sizeof(text), &s);
			if (s != seq)
				continue;
			if (e)
				log_warn("kernel: REVOKE failed: %s%s%s", strerror(-e),
					 text[0] ? ": " : "", text);
			free(buf);
			return e;
		}
	}
	free(buf);
	log_err("netlink: no answer to REVOKE");
	return ret;
}

int zbs_kagent_revoke(struct zbs_kagent *ka, int64_t dev_id, const char *volume_id,
		      uint64_t pid)
{
	struct nl_msg *msg;
	uint32_t seq;
	int rc;

	if (volume_id && (!volume_id[0] || strlen(volume_id) >= ZBS_VOLUME_ID_LEN))
		return -EINVAL;
	if (dev_id > UINT32_MAX)
		return -EINVAL;
	pthread_mutex_lock(&ka->revoke_lock);
	if (!ka->rsk) {
		rc = ka_socket(&ka->rsk);
		if (rc < 0) {
			pthread_mutex_unlock(&ka->revoke_lock);
			return rc;
		}
	}
	msg = ka_msg(ka->family, ZBS_CMD_REVOKE);
	if (!msg) {
		pthread_mutex_unlock(&ka->revoke_lock);
		return -ENOMEM;
	}
	if ((dev_id >= 0 && nla_put_u32(msg, ZBS_A_DEV_ID, (uint32_t)dev_id) < 0) ||
	    (volume_id && nla_put_string(msg, ZBS_A_VOLUME_ID, volume_id) < 0) ||
	    (pid && nla_put_u64(msg, ZBS_A_PID, pid) < 0)) {
		nlmsg_free(msg);
		pthread_mutex_unlock(&ka->revoke_lock);
		return -EMSGSIZE;
	}
	seq = ++ka->rseq ?: ++ka->rseq;
	/* the kernel drains in-flight IO inside this send */
	rc = ka_send(nl_socket_get_fd(ka->rsk), msg, seq);
	nlmsg_free(msg);
	if (rc == 0)
		rc = ka_revoke_wait(ka, seq);
	else
		log_warn("netlink: cannot send REVOKE: %s", strerror(-rc));
	pthread_mutex_unlock(&ka->revoke_lock);
	return rc;
}

void zbs_kagent_map_str(const struct zbs_kagent_map *map, char *buf, size_t len)
{
	size_t o;

	o = (size_t)snprintf(buf, len, "pid %" PRIu64 " epoch %" PRIu64 " lease_epoch %" PRIu64
			     " gen %" PRIu64 "%s [", map->pid, map->epoch, map->lease_epoch,
			     map->gen, map->ever_exist ? " exists" : "");
	for (unsigned i = 0; i < map->nr && o < len; i++) {
		char ip[INET_ADDRSTRLEN];
		struct in_addr a = { .s_addr = map->rep[i].addr4 };

		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		o += (size_t)snprintf(buf + o, len - o, "%s%u@%s:%u%s", i ? " " : "",
				      map->rep[i].cid, ip, map->rep[i].port,
				      map->rep[i].flags & ZBS_RF_LOCAL ? "(local)" : "");
	}
	if (o < len)
		snprintf(buf + o, len - o, "]");
}
