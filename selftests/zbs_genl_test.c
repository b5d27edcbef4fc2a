// SPDX-License-Identifier: GPL-2.0
/*
 * The "zbs" generic netlink family rejects malformed and unauthorised
 * messages with an error and no kernel warning: missing or mistyped
 * attributes, out-of-range values, bad nested replica lists, answers from a
 * socket that is not the agent, unknown commands, random attribute soup.
 * Raw netlink, no library, so every byte is under the test's control.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/zbs_genl.h>

#include "ktap.h"

struct msg {
	struct nlmsghdr nh;
	struct genlmsghdr gh;
	char buf[4096];
};

static int seq = 1;

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void msg_init(struct msg *m, uint16_t type, uint8_t cmd)
{
	memset(m, 0, sizeof(*m));
	m->nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	m->nh.nlmsg_type = type;
	m->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	m->nh.nlmsg_seq = seq++;
	m->gh.cmd = cmd;
	m->gh.version = 1;
}

static struct nlattr *put(struct msg *m, uint16_t type, const void *data, int len)
{
	struct nlattr *a = (struct nlattr *)((char *)m + NLMSG_ALIGN(m->nh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	m->nh.nlmsg_len = NLMSG_ALIGN(m->nh.nlmsg_len) + NLA_ALIGN(a->nla_len);
	return a;
}

static void put_u32(struct msg *m, uint16_t t, uint32_t v) { put(m, t, &v, 4); }
static void put_u64(struct msg *m, uint16_t t, uint64_t v) { put(m, t, &v, 8); }
static void put_u16(struct msg *m, uint16_t t, uint16_t v) { put(m, t, &v, 2); }

static struct nlattr *nest_start(struct msg *m, uint16_t type)
{
	return put(m, type | NLA_F_NESTED, NULL, 0);
}

static void nest_end(struct msg *m, struct nlattr *a)
{
	a->nla_len = (char *)m + m->nh.nlmsg_len - (char *)a;
}

/* Send and return the ack's error (0 = accepted), or -1000 on no answer. */
static int xfer(int fd, struct msg *m)
{
	char rbuf[8192];
	ssize_t n;

	if (send(fd, m, m->nh.nlmsg_len, 0) < 0)
		return -1000 - errno;
	for (;;) {
		n = recv(fd, rbuf, sizeof(rbuf), 0);
		if (n < 0)
			return -1000;
		for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != m->nh.nlmsg_seq)
				continue;	/* e.g. a kernel request */
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
}

static int family_id(int fd)
{
	struct msg m;
	char rbuf[8192];
	ssize_t n;

	msg_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
	m.nh.nlmsg_flags = NLM_F_REQUEST;
	put(&m, CTRL_ATTR_FAMILY_NAME, ZBS_GENL_NAME, sizeof(ZBS_GENL_NAME));
	if (send(fd, &m, m.nh.nlmsg_len, 0) < 0)
		return -1;
	n = recv(fd, rbuf, sizeof(rbuf), 0);
	if (n < 0)
		return -1;
	struct nlmsghdr *h = (struct nlmsghdr *)rbuf;
	if (!NLMSG_OK(h, n) || h->nlmsg_type == NLMSG_ERROR)
		return -1;
	struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
	int left = h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	while (left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= left) {
		if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
			return *(uint16_t *)((char *)a + NLA_HDRLEN);
		left -= NLA_ALIGN(a->nla_len);
		a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
	}
	return -1;
}

/* A map reply with every required attribute; `skip` leaves one out. */
static void map_reply(struct msg *m, int fam, int skip)
{
	msg_init(m, fam, ZBS_CMD_MAP_REPLY);
	if (skip != ZBS_A_DEV_ID) put_u32(m, ZBS_A_DEV_ID, 0);
	if (skip != ZBS_A_VEXTENT) put_u64(m, ZBS_A_VEXTENT, 0);
	if (skip != ZBS_A_REQ_ID) put_u64(m, ZBS_A_REQ_ID, 12345);
	if (skip != ZBS_A_ERRNO) put_u32(m, ZBS_A_ERRNO, 0);
	if (skip != ZBS_A_PID) put_u64(m, ZBS_A_PID, 1);
	if (skip != ZBS_A_EPOCH) put_u64(m, ZBS_A_EPOCH, 1);
	if (skip != ZBS_A_LEASE_EPOCH) put_u64(m, ZBS_A_LEASE_EPOCH, 1);
	if (skip != ZBS_A_GEN) put_u64(m, ZBS_A_GEN, 0);
	if (skip != ZBS_A_EXPIRY_MS) put_u32(m, ZBS_A_EXPIRY_MS, 1000);
	if (skip != ZBS_A_REPLICAS) {
		struct nlattr *l = nest_start(m, ZBS_A_REPLICAS);
		struct nlattr *r = nest_start(m, ZBS_RA_REPLICA);
		put_u32(m, ZBS_RA_CID, 1);
		put_u32(m, ZBS_RA_ADDR4, 0x0100007f);
		put_u16(m, ZBS_RA_PORT, 9);
		nest_end(m, r);
		nest_end(m, l);
	}
}

int main(void)
{
	struct msg m;
	int agent, other, fam, e, ok;

	ktap_plan(12);
	agent = nl_open();
	other = nl_open();
	fam = agent < 0 ? -1 : family_id(agent);
	ktap_result(fam > 0, "family \"%s\" resolves (id %d)", ZBS_GENL_NAME, fam);
	if (fam <= 0)
		return ktap_finish();

	/* not registered yet: answers are refused */
	map_reply(&m, fam, -1);
	e = xfer(agent, &m);
	ktap_result(e == -EPERM, "MAP_REPLY from a socket that is not the agent -> EPERM (%d)", e);

	msg_init(&m, fam, ZBS_CMD_AGENT_REGISTER);
	put_u32(&m, ZBS_A_LEASE_MS, 30000);
	e = xfer(agent, &m);
	ktap_result(e == 0, "AGENT_REGISTER (%d)", e);
	msg_init(&m, fam, ZBS_CMD_AGENT_REGISTER);
	e = xfer(other, &m);
	ktap_result(e == -EBUSY, "a second agent while one is registered -> EBUSY (%d)", e);

	/* well-formed, but nobody asked: ENOENT (no device) */
	map_reply(&m, fam, -1);
	e = xfer(agent, &m);
	ktap_result(e == -ENOENT, "unsolicited MAP_REPLY for a missing device -> ENOENT (%d)", e);

	ok = 1;
	for (int skip = ZBS_A_DEV_ID; skip <= ZBS_A_REPLICAS; skip++) {
		if (skip == ZBS_A_WRITE || skip == ZBS_A_EVER_EXIST || skip == ZBS_A_VOLUME_ID)
			continue;
		map_reply(&m, fam, skip);
		e = xfer(agent, &m);
		if (e != -EINVAL) {
			printf("# without attr %d: %d\n", skip, e);
			ok = 0;
		}
	}
	ktap_result(ok, "MAP_REPLY missing any required attribute -> EINVAL");

	ok = 1;
	/* wrong sizes and out-of-range values */
	map_reply(&m, fam, ZBS_A_PID); put_u32(&m, ZBS_A_PID, 1);
	e = xfer(agent, &m); ok &= e == -ERANGE || e == -EINVAL;
	map_reply(&m, fam, ZBS_A_PID); put_u64(&m, ZBS_A_PID, 0);
	e = xfer(agent, &m); ok &= e == -ERANGE || e == -EINVAL;
	map_reply(&m, fam, ZBS_A_EXPIRY_MS); put_u32(&m, ZBS_A_EXPIRY_MS, 0);
	e = xfer(agent, &m); ok &= e == -ERANGE || e == -EINVAL;
	map_reply(&m, fam, ZBS_A_ERRNO); put_u32(&m, ZBS_A_ERRNO, 5);
	e = xfer(agent, &m); ok &= e == -ERANGE || e == -EINVAL;
	map_reply(&m, fam, ZBS_A_DEV_ID); put_u32(&m, ZBS_A_DEV_ID, 1u << 30);
	e = xfer(agent, &m); ok &= e == -ERANGE || e == -EINVAL;
	ktap_result(ok, "mistyped or out-of-range attributes -> ERANGE/EINVAL");

	ok = 1;
	{	/* replica list: empty, missing fields, bad flags, duplicates, too many */
		struct nlattr *l, *r;

		map_reply(&m, fam, ZBS_A_REPLICAS);
		l = nest_start(&m, ZBS_A_REPLICAS); nest_end(&m, l);
		e = xfer(agent, &m); ok &= e == -EINVAL;
		map_reply(&m, fam, ZBS_A_REPLICAS);
		l = nest_start(&m, ZBS_A_REPLICAS); r = nest_start(&m, 1);
		put_u32(&m, ZBS_RA_CID, 1); nest_end(&m, r); nest_end(&m, l);
		e = xfer(agent, &m); ok &= e == -EINVAL;
		map_reply(&m, fam, ZBS_A_REPLICAS);
		l = nest_start(&m, ZBS_A_REPLICAS); r = nest_start(&m, 1);
		put_u32(&m, ZBS_RA_CID, 1); put_u32(&m, ZBS_RA_ADDR4, 0x0100007f);
		put_u16(&m, ZBS_RA_PORT, 9); put_u32(&m, ZBS_RA_RFLAGS, 0x100);
		nest_end(&m, r); nest_end(&m, l);
		e = xfer(agent, &m); ok &= e == -EINVAL || e == -ERANGE;
		map_reply(&m, fam, ZBS_A_REPLICAS);
		l = nest_start(&m, ZBS_A_REPLICAS);
		for (int i = 0; i < 2; i++) {
			r = nest_start(&m, 1);
			put_u32(&m, ZBS_RA_CID, 7); put_u32(&m, ZBS_RA_ADDR4, 0x0100007f);
			put_u16(&m, ZBS_RA_PORT, 9 + i); nest_end(&m, r);
		}
		nest_end(&m, l);
		e = xfer(agent, &m); ok &= e == -EINVAL;
		map_reply(&m, fam, ZBS_A_REPLICAS);
		l = nest_start(&m, ZBS_A_REPLICAS);
		for (int i = 0; i < ZBS_MAX_REPLICAS + 1; i++) {
			r = nest_start(&m, 1);
			put_u32(&m, ZBS_RA_CID, 1 + i); put_u32(&m, ZBS_RA_ADDR4, 0x0100007f);
			put_u16(&m, ZBS_RA_PORT, 9); nest_end(&m, r);
		}
		nest_end(&m, l);
		e = xfer(agent, &m); ok &= e == -EINVAL;
		map_reply(&m, fam, ZBS_A_REPLICAS);
		put_u32(&m, ZBS_A_REPLICAS, 5);	/* not nested */
		e = xfer(agent, &m); ok &= e == -EINVAL || e == -ERANGE;
	}
	ktap_result(ok, "bad replica lists (empty, incomplete, bad flags, duplicate, too many, flat) -> EINVAL");

	msg_init(&m, fam, 200);
	e = xfer(agent, &m);
	ktap_result(e == -EOPNOTSUPP, "unknown command -> EOPNOTSUPP (%d)", e);
	msg_init(&m, fam, ZBS_CMD_MAP_REQUEST);	/* kernel-to-agent only */
	e = xfer(agent, &m);
	ktap_result(e == -EOPNOTSUPP, "a kernel-to-agent command sent to the kernel -> EOPNOTSUPP (%d)", e);

	/* attribute soup: random types and lengths, never a crash or warning */
	srandom(1121);
	ok = 1;
	for (int i = 0; i < 2000; i++) {
		static const uint8_t cmds[] = { ZBS_CMD_MAP_REPLY, ZBS_CMD_SESSION, ZBS_CMD_REVOKE,
						ZBS_CMD_AGENT_REGISTER };
		msg_init(&m, fam, cmds[random() % 4]);
		int na = random() % 8;
		for (int k = 0; k < na; k++) {
			char junk[64];
			int len = random() % 40;
			for (int b = 0; b < len; b++)
				junk[b] = random();
			put(&m, random() % (ZBS_A_MAX + 3), junk, len);
		}
		e = xfer(agent, &m);
		if (e == -1000)
			ok = 0;
	}
	ktap_result(ok, "2000 messages of random attributes all answered");

	/* the agent's death is noticed: another socket can register */
	close(agent);
	usleep(200000);
	msg_init(&m, fam, ZBS_CMD_AGENT_REGISTER);
	e = xfer(other, &m);
	ktap_result(e == 0, "after the agent's socket closes, another registers (%d)", e);
	close(other);
	return ktap_finish();
}
