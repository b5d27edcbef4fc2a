// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink family "zbs": the channel to the local agent
 * (uapi/linux/zbs_genl.h has the protocol). Strict policies on every
 * attribute, CAP_NET_ADMIN on every command, and every command but
 * AGENT_REGISTER only from the registered agent's socket. The agent's
 * death is noticed through the netlink release of its socket.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/notifier.h>
#include <linux/netlink.h>
#include <net/genetlink.h>

#include "zbs_internal.h"

static DEFINE_SPINLOCK(zbs_agent_lock);	/* the three below */
static u32 zbs_agent_portid;		/* 0: no agent */
static unsigned long zbs_session_until;	/* jiffies; valid while before it */
static bool zbs_session_forever;	/* registered without a lease */

static struct genl_family zbs_genl_family;

static struct netlink_range_validation zbs_expiry_range __ro_after_init = {
	.min = 1, .max = 24 * 3600 * 1000,
};
static struct netlink_range_validation zbs_lease_range __ro_after_init = {
	.min = 0, .max = 24 * 3600 * 1000,
};

static const struct nla_policy zbs_replica_policy[ZBS_RA_MAX + 1] = {
	[ZBS_RA_CID]	= NLA_POLICY_MIN(NLA_U32, 1),
	[ZBS_RA_ADDR4]	= { .type = NLA_U32 },
	[ZBS_RA_PORT]	= NLA_POLICY_MIN(NLA_U16, 1),
	[ZBS_RA_RFLAGS]	= NLA_POLICY_MASK(NLA_U32, ZBS_RF_ALL),
};

static const struct nla_policy zbs_genl_policy[ZBS_A_MAX + 1] = {
	[ZBS_A_DEV_ID]		= NLA_POLICY_MAX(NLA_U32, ZBS_MAX_DEVS - 1),
	[ZBS_A_VOLUME_ID]	= { .type = NLA_NUL_STRING, .len = ZBS_VOLUME_ID_LEN - 1 },
	[ZBS_A_VEXTENT]		= { .type = NLA_U64 },
	[ZBS_A_REQ_ID]		= { .type = NLA_U64 },
	[ZBS_A_WRITE]		= { .type = NLA_FLAG },
	[ZBS_A_ERRNO]		= NLA_POLICY_RANGE(NLA_S32, -4095, 0),
	[ZBS_A_PID]		= NLA_POLICY_MIN(NLA_U64, 1),
	[ZBS_A_EPOCH]		= { .type = NLA_U64 },
	[ZBS_A_LEASE_EPOCH]	= { .type = NLA_U64 },
	[ZBS_A_GEN]		= { .type = NLA_U64 },
	[ZBS_A_EVER_EXIST]	= { .type = NLA_FLAG },
	[ZBS_A_EXPIRY_MS]	= NLA_POLICY_FULL_RANGE(NLA_U32, &zbs_expiry_range),
	[ZBS_A_REPLICAS]	= NLA_POLICY_NESTED_ARRAY(zbs_replica_policy),
	[ZBS_A_CID]		= { .type = NLA_U32 },
	[ZBS_A_LEASE_MS]	= NLA_POLICY_FULL_RANGE(NLA_U32, &zbs_lease_range),
};

static bool zbs_from_agent(const struct genl_info *info)
{
	bool ok;

	spin_lock(&zbs_agent_lock);
	ok = zbs_agent_portid && zbs_agent_portid == info->snd_portid;
	spin_unlock(&zbs_agent_lock);
	return ok;
}

bool zbs_genl_session_valid(void)
{
	bool ok;

	spin_lock(&zbs_agent_lock);
	ok = zbs_agent_portid &&
	     (zbs_session_forever || time_before(jiffies, zbs_session_until));
	spin_unlock(&zbs_agent_lock);
	return ok;
}

static void zbs_set_session(u32 lease_ms, bool forever)
{
	zbs_session_forever = forever;
	zbs_session_until = jiffies + msecs_to_jiffies(lease_ms);
}

static int zbs_genl_register(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *lease = info->attrs[ZBS_A_LEASE_MS];
	u32 old;

	spin_lock(&zbs_agent_lock);
	old = zbs_agent_portid;
	if (old && old != info->snd_portid) {
		spin_unlock(&zbs_agent_lock);
		NL_SET_ERR_MSG(info->extack, "another agent is registered");
		return -EBUSY;
	}
	zbs_agent_portid = info->snd_portid;
	zbs_set_session(lease ? nla_get_u32(lease) : 0, !lease);
	spin_unlock(&zbs_agent_lock);
	if (!old) {
		pr_info("agent registered (port %u)\n", info->snd_portid);
		zbs_map_resend_all();
	}
	return 0;
}

static int zbs_genl_session(struct sk_buff *skb, struct genl_info *info)
{
	if (!zbs_from_agent(info))
		return -EPERM;
	if (GENL_REQ_ATTR_CHECK(info, ZBS_A_LEASE_MS))
		return -EINVAL;
	spin_lock(&zbs_agent_lock);
	zbs_set_session(nla_get_u32(info->attrs[ZBS_A_LEASE_MS]), false);
	spin_unlock(&zbs_agent_lock);
	return 0;
}

static int zbs_parse_replica(struct nlattr *nest, struct zbs_replica *rep,
			     struct netlink_ext_ack *extack)
{
	struct nlattr *tb[ZBS_RA_MAX + 1];
	int ret;

	ret = nla_parse_nested(tb, ZBS_RA_MAX, nest, zbs_replica_policy, extack);
	if (ret)
		return ret;
	if (!tb[ZBS_RA_CID] || !tb[ZBS_RA_ADDR4] || !tb[ZBS_RA_PORT]) {
		NL_SET_ERR_MSG(extack, "replica needs CID, ADDR4 and PORT");
		return -EINVAL;
	}
	rep->cid = nla_get_u32(tb[ZBS_RA_CID]);
	rep->flags = tb[ZBS_RA_RFLAGS] ? nla_get_u32(tb[ZBS_RA_RFLAGS]) : 0;
	rep->chunk = zbs_chunk_get((__force __be32)nla_get_u32(tb[ZBS_RA_ADDR4]),
				   nla_get_u16(tb[ZBS_RA_PORT]));
	return rep->chunk ? 0 : -ENOMEM;
}

/* MAP_REPLY and REPORT_ACK: from the agent, with DEV_ID, VEXTENT, REQ_ID, ERRNO. */
static int zbs_genl_answer_check(struct genl_info *info)
{
	if (!zbs_from_agent(info))
		return -EPERM;
	if (GENL_REQ_ATTR_CHECK(info, ZBS_A_DEV_ID) ||
	    GENL_REQ_ATTR_CHECK(info, ZBS_A_VEXTENT) ||
	    GENL_REQ_ATTR_CHECK(info, ZBS_A_REQ_ID) ||
	    GENL_REQ_ATTR_CHECK(info, ZBS_A_ERRNO))
		return -EINVAL;
	return 0;
}

static int zbs_genl_map_reply(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **a = info->attrs;
	struct zbs_map *map = NULL;
	struct zbs_dev *dev;
	struct nlattr *nest;
	int err, rem, i, ret;

	ret = zbs_genl_answer_check(info);
	if (ret)
		return ret;
	err = nla_get_s32(a[ZBS_A_ERRNO]);

	if (!err) {
		if (GENL_REQ_ATTR_CHECK(info, ZBS_A_PID) ||
		    GENL_REQ_ATTR_CHECK(info, ZBS_A_EPOCH) ||
		    GENL_REQ_ATTR_CHECK(info, ZBS_A_LEASE_EPOCH) ||
		    GENL_REQ_ATTR_CHECK(info, ZBS_A_GEN) ||
		    GENL_REQ_ATTR_CHECK(info, ZBS_A_EXPIRY_MS) ||
		    GENL_REQ_ATTR_CHECK(info, ZBS_A_REPLICAS))
			return -EINVAL;
		map = zbs_map_alloc(GFP_KERNEL);
		if (!map)
			return -ENOMEM;
		map->pid = nla_get_u64(a[ZBS_A_PID]);
		map->epoch = nla_get_u64(a[ZBS_A_EPOCH]);
		map->lease_epoch = nla_get_u64(a[ZBS_A_LEASE_EPOCH]);
		map->next_gen = nla_get_u64(a[ZBS_A_GEN]);
		map->ever_exist = nla_get_flag(a[ZBS_A_EVER_EXIST]);
		map->expires = jiffies + msecs_to_jiffies(nla_get_u32(a[ZBS_A_EXPIRY_MS]));
		nla_for_each_nested(nest, a[ZBS_A_REPLICAS], rem) {
			if (map->nr == ZBS_MAX_REPLICAS) {
				NL_SET_ERR_MSG(info->extack, "too many replicas");
				ret = -EINVAL;
				goto out_map;
			}
			ret = zbs_parse_replica(nest, &map->rep[map->nr], info->extack);
			if (ret)
				goto out_map;
			for (i = 0; i < map->nr; i++) {
				if (map->rep[i].cid == map->rep[map->nr].cid ||
				    map->rep[i].chunk == map->rep[map->nr].chunk) {
					NL_SET_ERR_MSG(info->extack, "duplicate replica");
					ret = -EINVAL;
					goto out_map;
				}
			}
			map->nr++;
		}
		if (!map->nr) {
			NL_SET_ERR_MSG(info->extack, "a map needs at least one replica");
			ret = -EINVAL;
			goto out_map;
		}
	}

	dev = zbs_dev_get(nla_get_u32(a[ZBS_A_DEV_ID]));
	if (!dev) {
		ret = -ENOENT;
		goto out_map;
	}
	ret = zbs_map_reply(dev, nla_get_u64(a[ZBS_A_VEXTENT]),
			    nla_get_u64(a[ZBS_A_REQ_ID]), err, map);
	zbs_dev_put(dev);
	return ret;

out_map:
	zbs_map_put(map);
	return ret;
}

static int zbs_genl_revoke(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **a = info->attrs;
	const char *vol = a[ZBS_A_VOLUME_ID] ? nla_data(a[ZBS_A_VOLUME_ID]) : NULL;
	bool all = !a[ZBS_A_PID];
	u64 pid = all ? 0 : nla_get_u64(a[ZBS_A_PID]);
	struct zbs_dev *dev;
	u32 id = 0;
	int ret = 0;

	/* any CAP_NET_ADMIN socket may revoke: it blocks while IO drains,
	 * so the agent sends it on a socket of its own */
	if (a[ZBS_A_DEV_ID])
		id = nla_get_u32(a[ZBS_A_DEV_ID]);
	while ((dev = zbs_dev_get_next(&id))) {
		bool match = (!a[ZBS_A_DEV_ID] || dev->id == nla_get_u32(a[ZBS_A_DEV_ID])) &&
			     (!vol || !strcmp(vol, dev->cfg.volume_id));

		if (match) {
			int r = zbs_map_revoke(dev, all, pid, dev->io_timeout);

			if (r && !ret) {
				NL_SET_ERR_MSG(info->extack, "in-flight IO did not drain in time");
				ret = r;
			}
		}
		zbs_dev_put(dev);
		if (a[ZBS_A_DEV_ID])
			break;
		id++;
	}
	return ret;
}

static int zbs_genl_report_ack(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **a = info->attrs;
	struct zbs_dev *dev;
	int ret;

	ret = zbs_genl_answer_check(info);
	if (ret)
		return ret;
	dev = zbs_dev_get(nla_get_u32(a[ZBS_A_DEV_ID]));
	if (!dev)
		return -ENOENT;
	ret = zbs_map_report_ack(dev, nla_get_u64(a[ZBS_A_VEXTENT]),
				 nla_get_u64(a[ZBS_A_REQ_ID]), nla_get_s32(a[ZBS_A_ERRNO]));
	zbs_dev_put(dev);
	return ret;
}

static const struct genl_small_ops zbs_genl_ops[] = {
	{ .cmd = ZBS_CMD_REPORT_ACK, .doit = zbs_genl_report_ack, .flags = GENL_ADMIN_PERM },
	{ .cmd = ZBS_CMD_AGENT_REGISTER, .doit = zbs_genl_register, .flags = GENL_ADMIN_PERM },
	{ .cmd = ZBS_CMD_MAP_REPLY, .doit = zbs_genl_map_reply, .flags = GENL_ADMIN_PERM },
	{ .cmd = ZBS_CMD_SESSION, .doit = zbs_genl_session, .flags = GENL_ADMIN_PERM },
	{ .cmd = ZBS_CMD_REVOKE, .doit = zbs_genl_revoke, .flags = GENL_ADMIN_PERM },
};

static const struct genl_multicast_group zbs_genl_mcgrps[] = {
	{ .name = ZBS_GENL_MCGRP_EVENTS },
};

static struct genl_family zbs_genl_family __ro_after_init = {
	.name		= ZBS_GENL_NAME,
	.version	= ZBS_GENL_VERSION,
	.maxattr	= ZBS_A_MAX,
	.policy		= zbs_genl_policy,
	.module		= THIS_MODULE,
	.parallel_ops	= true,		/* REVOKE sleeps while IO drains */
	.small_ops	= zbs_genl_ops,
	.n_small_ops	= ARRAY_SIZE(zbs_genl_ops),
	.mcgrps		= zbs_genl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(zbs_genl_mcgrps),
};

/* Build a message for the agent; NULL when there is none. */
static struct sk_buff *zbs_genl_new(u8 cmd, u32 *portid, void **hdr)
{
	struct sk_buff *skb;

	spin_lock(&zbs_agent_lock);
	*portid = zbs_agent_portid;
	spin_unlock(&zbs_agent_lock);
	if (!*portid)
		return NULL;
	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_NOIO);
	if (!skb)
		return NULL;
	*hdr = genlmsg_put(skb, 0, 0, &zbs_genl_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

/* Send to the agent, and a copy to the events group for observers. */
static int zbs_genl_send(struct sk_buff *skb, void *hdr, u32 portid, bool event)
{
	genlmsg_end(skb, hdr);
	if (event) {
		struct sk_buff *copy = skb_clone(skb, GFP_NOIO);

		if (copy)
			genlmsg_multicast(&zbs_genl_family, copy, 0, 0, GFP_NOIO);
	}
	return genlmsg_unicast(&init_net, skb, portid);
}

static int zbs_put_dev(struct sk_buff *skb, struct zbs_dev *dev, u64 vext)
{
	return nla_put_u32(skb, ZBS_A_DEV_ID, dev->id) ||
	       nla_put_string(skb, ZBS_A_VOLUME_ID, dev->cfg.volume_id) ||
	       nla_put_u64_64bit(skb, ZBS_A_VEXTENT, vext, ZBS_A_PAD);
}

int zbs_genl_map_request(struct zbs_dev *dev, u64 vext, u64 req_id, bool write)
{
	u32 portid;
	void *hdr;
	struct sk_buff *skb = zbs_genl_new(ZBS_CMD_MAP_REQUEST, &portid, &hdr);

	if (!skb)
		return -ENOTCONN;
	if (zbs_put_dev(skb, dev, vext) ||
	    nla_put_u64_64bit(skb, ZBS_A_REQ_ID, req_id, ZBS_A_PAD) ||
	    (write && nla_put_flag(skb, ZBS_A_WRITE))) {
		nlmsg_free(skb);
		return -EMSGSIZE;
	}
	return zbs_genl_send(skb, hdr, portid, false);
}

/* A report to the agent (REPLICA_FAILED / EXISTENCE): 0 once handed over. */
int zbs_genl_report(struct zbs_dev *dev, u64 vext, const struct zbs_report_msg *m)
{
	bool failed = m->cmd == ZBS_CMD_REPLICA_FAILED;
	u32 portid;
	void *hdr;
	struct sk_buff *skb = zbs_genl_new(m->cmd, &portid, &hdr);
	int ret;

	if (!skb) {
		zbs_dev_warn_ratelimited(dev, "no agent to report pid %llu (%s): kept until one registers\n",
				    m->pid, failed ? "replica failure" : "existence");
		return -ENOTCONN;
	}
	if (zbs_put_dev(skb, dev, vext) ||
	    nla_put_u64_64bit(skb, ZBS_A_REQ_ID, m->id, ZBS_A_PAD) ||
	    nla_put_u64_64bit(skb, ZBS_A_PID, m->pid, ZBS_A_PAD) ||
	    nla_put_u64_64bit(skb, ZBS_A_EPOCH, m->epoch, ZBS_A_PAD) ||
	    nla_put_u64_64bit(skb, ZBS_A_LEASE_EPOCH, m->lease_epoch, ZBS_A_PAD) ||
	    nla_put_u64_64bit(skb, ZBS_A_GEN, m->gen, ZBS_A_PAD) ||
	    (failed && (nla_put_u32(skb, ZBS_A_CID, m->cid) ||
			nla_put_s32(skb, ZBS_A_ERRNO, m->err)))) {
		nlmsg_free(skb);
		return -EMSGSIZE;
	}
	ret = zbs_genl_send(skb, hdr, portid, true);
	if (ret)
		zbs_dev_warn_ratelimited(dev, "cannot report pid %llu to the agent (%d)\n",
				    m->pid, ret);
	return ret;
}

static int zbs_genl_notify(struct notifier_block *nb, unsigned long state, void *data)
{
	struct netlink_notify *n = data;
	bool gone = false;

	/* the family lives in init_net only (not netnsok): a socket of another
	 * namespace with the agent's portid is not the agent */
	if (state != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC || n->net != &init_net)
		return NOTIFY_DONE;
	spin_lock(&zbs_agent_lock);
	if (zbs_agent_portid && n->portid == zbs_agent_portid) {
		zbs_agent_portid = 0;
		gone = true;
	}
	spin_unlock(&zbs_agent_lock);
	if (gone)
		pr_warn("agent went away: IO waits for a new one (bounded by the IO timeout)\n");
	return NOTIFY_DONE;
}

static struct notifier_block zbs_genl_nb = {
	.notifier_call = zbs_genl_notify,
};

int zbs_genl_setup(void)
{
	int ret = netlink_register_notifier(&zbs_genl_nb);

	if (ret)
		return ret;
	ret = genl_register_family(&zbs_genl_family);
	if (ret)
		netlink_unregister_notifier(&zbs_genl_nb);
	return ret;
}

void zbs_genl_release(void)
{
	genl_unregister_family(&zbs_genl_family);
	netlink_unregister_notifier(&zbs_genl_nb);
}
