// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of daemon/lib/kagent.c without a kernel: messages built with
 * libnl as the zbs module sends them (and broken ones) are fed to the
 * agent's message handler; the MAP_REPLY encoding is parsed back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "kagent.c"

#define FAMILY 0x1d

struct seen {
	int map_requests, failed, existence, acks;
	struct zbs_kagent_map_req req;
	struct zbs_kagent_event ev;
	struct zbs_kagent_ack ack;
	char ack_msg[256];
};

static void on_map_request(void *arg, const struct zbs_kagent_map_req *req)
{
	struct seen *s = arg;

	s->map_requests++;
	s->req = *req;
}

static void on_failed(void *arg, const struct zbs_kagent_event *ev)
{
	struct seen *s = arg;

	s->failed++;
	s->ev = *ev;
}

static void on_existence(void *arg, const struct zbs_kagent_event *ev)
{
	struct seen *s = arg;

	s->existence++;
	s->ev = *ev;
}

static void on_ack(void *arg, const struct zbs_kagent_ack *ack)
{
	struct seen *s = arg;

	s->acks++;
	s->ack = *ack;
	snprintf(s->ack_msg, sizeof(s->ack_msg), "%s", ack->msg ? ack->msg : "");
	s->ack.msg = NULL;
}

static const struct zbs_kagent_ops test_ops = {
	.map_request = on_map_request,
	.replica_failed = on_failed,
	.existence = on_existence,
	.ack = on_ack,
};

static struct zbs_kagent *fake_agent(struct seen *s)
{
	struct zbs_kagent *ka = calloc(1, sizeof(*ka));

	assert_non_null(ka);
	memset(s, 0, sizeof(*s));
	ka->ops = &test_ops;
	ka->arg = s;
	ka->family = FAMILY;
	ka->fd = -1;
	pthread_mutex_init(&ka->revoke_lock, NULL);
	pthread_mutex_init(&ka->lock, NULL);
	return ka;
}

static struct nl_msg *kmsg(uint8_t cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	assert_non_null(msg);
	assert_non_null(genlmsg_put(msg, 0, 0, FAMILY, 0, 0, cmd, ZBS_GENL_VERSION));
	return msg;
}

static void feed(struct zbs_kagent *ka, struct nl_msg *msg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	ka_handle_buf(ka, nlh, nlh->nlmsg_len);
	nlmsg_free(msg);
}

static struct nl_msg *map_request(uint64_t vext, uint64_t req_id, bool write)
{
	struct nl_msg *msg = kmsg(ZBS_CMD_MAP_REQUEST);

	assert_int_equal(nla_put_u32(msg, ZBS_A_DEV_ID, 3), 0);
	assert_int_equal(nla_put_string(msg, ZBS_A_VOLUME_ID, "vol-1"), 0);
	assert_int_equal(nla_put_u64(msg, ZBS_A_VEXTENT, vext), 0);
	assert_int_equal(nla_put_u64(msg, ZBS_A_REQ_ID, req_id), 0);
	if (write)
		assert_int_equal(nla_put_flag(msg, ZBS_A_WRITE), 0);
	return msg;
}

static void test_map_request(void **state)
{
	struct seen s;
	struct zbs_kagent *ka = fake_agent(&s);

	feed(ka, map_request(7, 99, true));
	assert_int_equal(s.map_requests, 1);
	assert_int_equal(s.req.dev_id, 3);
	assert_string_equal(s.req.volume_id, "vol-1");
	assert_int_equal(s.req.vextent, 7);
	assert_int_equal(s.req.req_id, 99);
	assert_true(s.req.write);

	feed(ka, map_request(8, 100, false));
	assert_int_equal(s.map_requests, 2);
	assert_false(s.req.write);

	/* two messages in one datagram: both handled */
	struct nl_msg *a = map_request(1, 1, false), *b = map_request(2, 2, false);
	size_t la = nlmsg_hdr(a)->nlmsg_len, lb = nlmsg_hdr(b)->nlmsg_len;
	char buf[1024];

	memcpy(buf, nlmsg_hdr(a), la);
	memcpy(buf + NLMSG_ALIGN(la), nlmsg_hdr(b), lb);
	ka_handle_buf(ka, buf, NLMSG_ALIGN(la) + lb);
	assert_int_equal(s.map_requests, 4);
	assert_int_equal(s.req.vextent, 2);
	nlmsg_free(a);
	nlmsg_free(b);
	zbs_kagent_close(ka);
}

static void test_map_request_bad(void **state)
{
	struct seen s;
	struct zbs_kagent *ka = fake_agent(&s);
	struct nl_msg *msg;
	char longname[80];

	/* missing REQ_ID */
	msg = kmsg(ZBS_CMD_MAP_REQUEST);
	nla_put_u32(msg, ZBS_A_DEV_ID, 3);
	nla_put_string(msg, ZBS_A_VOLUME_ID, "vol-1");
	nla_put_u64(msg, ZBS_A_VEXTENT, 1);
	feed(ka, msg);

	/* DEV_ID of 8 bytes (oversized) */
	msg = kmsg(ZBS_CMD_MAP_REQUEST);
	nla_put_u64(msg, ZBS_A_DEV_ID, 3);
	nla_put_string(msg, ZBS_A_VOLUME_ID, "vol-1");
	nla_put_u64(msg, ZBS_A_VEXTENT, 1);
	nla_put_u64(msg, ZBS_A_REQ_ID, 1);
	feed(ka, msg);

	/* VEXTENT of 4 bytes (short) */
	msg = kmsg(ZBS_CMD_MAP_REQUEST);
	nla_put_u32(msg, ZBS_A_DEV_ID, 3);
	nla_put_string(msg, ZBS_A_VOLUME_ID, "vol-1");
	nla_put_u32(msg, ZBS_A_VEXTENT, 1);
	nla_put_u64(msg, ZBS_A_REQ_ID, 1);
	feed(ka, msg);

	/* volume id longer than ZBS_VOLUME_ID_LEN */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	msg = kmsg(ZBS_CMD_MAP_REQUEST);
	nla_put_u32(msg, ZBS_A_DEV_ID, 3);
	nla_put_string(msg, ZBS_A_VOLUME_ID, longname);
	nla_put_u64(msg, ZBS_A_VEXTENT, 1);
	nla_put_u64(msg, ZBS_A_REQ_ID, 1);
	feed(ka, msg);

	/* volume id not NUL-terminated */
	msg = kmsg(ZBS_CMD_MAP_REQUEST);
	nla_put_u32(msg, ZBS_A_DEV_ID, 3);
	nla_put(msg, ZBS_A_VOLUME_ID, 5, "vol-1");
	nla_put_u64(msg, ZBS_A_VEXTENT, 1);
	nla_put_u64(msg, ZBS_A_REQ_ID, 1);
	feed(ka, msg);

	/* empty volume id */
	msg = kmsg(ZBS_CMD_MAP_REQUEST);
	nla_put_u32(msg, ZBS_A_DEV_ID, 3);
	nla_put_string(msg, ZBS_A_VOLUME_ID, "");
	nla_put_u64(msg, ZBS_A_VEXTENT, 1);
	nla_put_u64(msg, ZBS_A_REQ_ID, 1);
	feed(ka, msg);

	/* a truncated datagram: the header claims more than arrived */
	msg = map_request(1, 1, false);
	ka_handle_buf(ka, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len - 8);
	nlmsg_free(msg);

	/* shorter than a genl header */
	msg = nlmsg_alloc_simple(FAMILY, 0);
	feed(ka, msg);

	/* another family's message */
	msg = map_request(1, 1, false);
	nlmsg_hdr(msg)->nlmsg_type = FAMILY + 1;
	feed(ka, msg);

	assert_int_equal(s.map_requests, 0);
	zbs_kagent_close(ka);
}

static struct nl_msg *pextent_event(uint8_t cmd, bool with_cid)
{
	struct nl_msg *msg = kmsg(cmd);

	nla_put_u32(msg, ZBS_A_DEV_ID, 0);
	nla_put_string(msg, ZBS_A_VOLUME_ID, "v");
	nla_put_u64(msg, ZBS_A_VEXTENT, 5);
	nla_put_u64(msg, ZBS_A_REQ_ID, 77);
	nla_put_u64(msg, ZBS_A_LEASE_EPOCH, 3);
	nla_put_u64(msg, ZBS_A_PID, 1234);
	nla_put_u64(msg, ZBS_A_EPOCH, 1);
	nla_put_u64(msg, ZBS_A_GEN, 42);
	if (with_cid) {
		nla_put_u32(msg, ZBS_A_CID, 2);
		nla_put_u32(msg, ZBS_A_ERRNO, (uint32_t)-ECONNREFUSED);
	}
	return msg;
}

static void test_events(void **state)
{
	struct seen s;
	struct zbs_kagent *ka = fake_agent(&s);

	feed(ka, pextent_event(ZBS_CMD_REPLICA_FAILED, true));
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.ev.pid, 1234);
	assert_int_equal(s.ev.cid, 2);
	assert_int_equal(s.ev.gen, 42);
	assert_int_equal(s.ev.vextent, 5);
	assert_int_equal(s.ev.err, -ECONNREFUSED);
	assert_int_equal(s.ev.req_id, 77);	/* answered with REPORT_ACK */
	assert_int_equal(s.ev.lease_epoch, 3);

	feed(ka, pextent_event(ZBS_CMD_EXISTENCE, false));
	assert_int_equal(s.existence, 1);
	assert_int_equal(s.ev.pid, 1234);
	assert_int_equal(s.ev.cid, 0);

	/* a failure report without CID/ERRNO is ignored */
	feed(ka, pextent_event(ZBS_CMD_REPLICA_FAILED, false));
	assert_int_equal(s.failed, 1);
	/* commands the agent does not take */
	feed(ka, pextent_event(ZBS_CMD_MAP_REPLY, true));
	feed(ka, pextent_event(200, true));
	assert_int_equal(s.failed + s.existence + s.map_requests, 2);
	zbs_kagent_close(ka);
}

/* An NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK/EXT_ACK. */
static size_t make_error(char *buf, uint32_t seq, int err, const char *text)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct nlmsgerr *e = NLMSG_DATA(nlh);
	size_t len = NLMSG_LENGTH(sizeof(*e));

	memset(buf, 0, 512);
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = NLM_F_CAPPED;
	nlh->nlmsg_seq = seq;
	e->error = err;
	e->msg.nlmsg_len = 200;
	e->msg.nlmsg_type = FAMILY;
	e->msg.nlmsg_seq = seq;
	if (text) {
		struct nlattr *a = (struct nlattr *)(buf + NLMSG_ALIGN(len));

		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		a->nla_type = NLMSGERR_ATTR_MSG;
		a->nla_len = (uint16_t)(NLA_HDRLEN + strlen(text) + 1);
		memcpy((char *)a + NLA_HDRLEN, text, strlen(text) + 1);
		len = NLMSG_ALIGN(len) + NLA_ALIGN(a->nla_len);
	}
	nlh->nlmsg_len = (uint32_t)len;
	return len;
}

static void test_acks(void **state)
{
	struct seen s;
	struct zbs_kagent *ka = fake_agent(&s);
	struct zbs_kagent_map_req req = { .dev_id = 4, .vextent = 11, .req_id = 77 };
	char buf[512];
	size_t len;

	/* remember a MAP_REPLY as sent with seq 5 */
	ka->pend[5] = (struct ka_pending){ .seq = 5, .cmd = ZBS_CMD_MAP_REPLY,
					   .dev_id = req.dev_id, .vextent = req.vextent,
					   .req_id = req.req_id };
	len = make_error(buf, 5, -EINVAL, "duplicate replica");
	ka_handle_buf(ka, buf, len);
	assert_int_equal(s.acks, 1);
	assert_int_equal(s.ack.seq, 5);
	assert_int_equal(s.ack.cmd, ZBS_CMD_MAP_REPLY);
	assert_int_equal(s.ack.err, -EINVAL);
	assert_int_equal(s.ack.dev_id, 4);
	assert_int_equal(s.ack.vextent, 11);
	assert_int_equal(s.ack.req_id, 77);
	assert_string_equal(s.ack_msg, "duplicate replica");

	/* a plain ack of an unknown seq */
	len = make_error(buf, 9, 0, NULL);
	ka_handle_buf(ka, buf, len);
	assert_int_equal(s.acks, 2);
	assert_int_equal(s.ack.err, 0);
	assert_int_equal(s.ack.cmd, 0);

	/* the registration waiter sees its answer */
	ka->reg_seq = 12;
	len = make_error(buf, 12, -EBUSY, "another agent is registered");
	ka_handle_buf(ka, buf, len);
	assert_true(ka->reg_done);
	assert_int_equal(ka->reg_err, -EBUSY);

	/* truncated error message */
	len = make_error(buf, 13, -EINVAL, NULL);
	((struct nlmsghdr *)buf)->nlmsg_len = NLMSG_HDRLEN + 4;
	ka_handle_buf(ka, buf, NLMSG_HDRLEN + 4);
	assert_int_equal(s.acks, 3);
	zbs_kagent_close(ka);
}

/* The MAP_REPLY attributes, parsed back with the layout the kernel expects. */
static void test_map_reply_encoding(void **state)
{
	struct zbs_kagent_map map = {
		.pid = 1000, .epoch = 1, .lease_epoch = 3, .gen = 17, .ever_exist = true,
		.expiry_ms = 60000, .nr = 2,
		.rep = { { .cid = 1, .addr4 = htonl(0x7f000001), .port = 10201,
			   .flags = ZBS_RF_LOCAL },
			 { .cid = 2, .addr4 = htonl(0x0a000002), .port = 10202 } },
	};
	struct nl_msg *msg = kmsg(ZBS_CMD_MAP_REPLY);
	struct nlattr *tb[ZBS_A_MAX + 1], *nest;
	char text[256];
	int rem, i = 0;

	assert_int_equal(ka_put_map(msg, &map), 0);
	assert_int_equal(genlmsg_parse(nlmsg_hdr(msg), 0, tb, ZBS_A_MAX, ka_policy), 0);
	assert_int_equal(nla_get_u64(tb[ZBS_A_PID]), 1000);
	assert_int_equal(nla_get_u64(tb[ZBS_A_LEASE_EPOCH]), 3);
	assert_int_equal(nla_get_u64(tb[ZBS_A_GEN]), 17);
	assert_non_null(tb[ZBS_A_EVER_EXIST]);
	assert_int_equal(nla_get_u32(tb[ZBS_A_EXPIRY_MS]), 60000);
	/* the kernel's strict validation wants NLA_F_NESTED on nests */
	assert_true(tb[ZBS_A_REPLICAS]->nla_type & NLA_F_NESTED);
	nla_for_each_nested(nest, tb[ZBS_A_REPLICAS], rem) {
		struct nlattr *ra[ZBS_RA_MAX + 1];

		assert_int_equal(nla_type(nest), ZBS_RA_REPLICA);
		assert_int_equal(nla_parse_nested(ra, ZBS_RA_MAX, nest, NULL), 0);
		assert_int_equal(nla_get_u32(ra[ZBS_RA_CID]), map.rep[i].cid);
		assert_int_equal(nla_get_u32(ra[ZBS_RA_ADDR4]), map.rep[i].addr4);
		assert_int_equal(nla_len(ra[ZBS_RA_PORT]), 2);
		assert_int_equal(nla_get_u16(ra[ZBS_RA_PORT]), map.rep[i].port);
		assert_int_equal(nla_get_u32(ra[ZBS_RA_RFLAGS]), map.rep[i].flags);
		i++;
	}
	assert_int_equal(i, 2);
	nlmsg_free(msg);

	zbs_kagent_map_str(&map, text, sizeof(text));
	assert_string_equal(text, "pid 1000 epoch 1 lease_epoch 3 gen 17 exists "
				  "[1@127.0.0.1:10201(local) 2@10.0.0.2:10202]");
}

/* Random corruption of valid messages never crashes (ASan watches). */
static void test_mutations(void **state)
{
	struct seen s;
	struct zbs_kagent *ka = fake_agent(&s);
	unsigned seed = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		struct nl_msg *msg = iter % 3 == 0 ? map_request(iter, iter + 1, iter & 1)
				   : pextent_event(iter % 3 == 1 ? ZBS_CMD_REPLICA_FAILED
								 : ZBS_CMD_EXISTENCE, iter % 3 == 1);
		struct nlmsghdr *nlh = nlmsg_hdr(msg);
		size_t len = nlh->nlmsg_len;
		uint8_t *buf = malloc(len);

		memcpy(buf, nlh, len);
		for (int k = 0; k < 1 + iter % 4; k++) {
			seed = seed * 1103515245 + 12345;
			size_t at = (seed >> 8) % len;

			buf[at] = (uint8_t)(seed >> 20);
		}
		seed = seed * 1103515245 + 12345;
		ka_handle_buf(ka, buf, (seed >> 4) % 7 ? len : (seed >> 8) % len);
		free(buf);
		nlmsg_free(msg);
	}
	zbs_kagent_close(ka);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_request),
		cmocka_unit_test(test_map_request_bad),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_acks),
		cmocka_unit_test(test_map_reply_encoding),
		cmocka_unit_test(test_mutations),
	};

	zbs_log_init("test_kagent", ZBS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
