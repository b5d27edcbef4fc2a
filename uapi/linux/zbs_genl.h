/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ZBS generic netlink family "zbs": the kernel driver and its local agent
 * (zbs-chunkd) talk here. ARCHITECTURE.md sections 4 and 5.
 *
 * One agent per host registers (ZBS_CMD_AGENT_REGISTER); the kernel then
 * sends it unicast requests and notices its death through the netlink
 * release of its socket (all parked IO then waits for a new agent, bounded
 * by each device's IO timeout). All commands need CAP_NET_ADMIN; MAP_REPLY
 * and SESSION must come from the registered agent's socket. REVOKE may
 * come from any socket (it blocks until IO drains). Every
 * attribute has a strict policy; attributes are append-only.
 *
 * kernel -> agent (unicast to the registered agent):
 *   MAP_REQUEST      DEV_ID, VOLUME_ID, VEXTENT, REQ_ID, WRITE (flag):
 *                    the kernel needs the map of one vextent; one request
 *                    per vextent however many IOs wait for it.
 *   REPLICA_FAILED   DEV_ID, VOLUME_ID, VEXTENT, REQ_ID, PID, EPOCH,
 *                    LEASE_EPOCH, CID, GEN, ERRNO: a replica failed a write
 *                    (or a gen check) and was dropped from the map; GEN is
 *                    the extent's gen after the write it missed. The agent
 *                    removes it through meta under LEASE_EPOCH and answers
 *                    REPORT_ACK. Writes completed under the map are not
 *                    acknowledged to the block layer until then
 *                    (ARCHITECTURE.md 4 step 4).
 *   EXISTENCE        DEV_ID, VOLUME_ID, VEXTENT, REQ_ID, PID, EPOCH,
 *                    LEASE_EPOCH, GEN: the first write to a pid not yet
 *                    ever_exist succeeded; answered with REPORT_ACK once
 *                    meta recorded it.
 *                    Both reports are kept by the kernel until answered:
 *                    re-sent after map_retry_ms, and to a new agent before
 *                    any map request of that extent (which waits for them).
 *
 * agent -> kernel:
 *   AGENT_REGISTER   (LEASE_MS): become the agent; optional session lease.
 *   MAP_REPLY        REQ_ID, DEV_ID, VEXTENT, ERRNO, and when ERRNO is 0:
 *                    PID, EPOCH, LEASE_EPOCH, GEN, EVER_EXIST (flag),
 *                    EXPIRY_MS, REPLICAS (nested REPLICA entries of CID,
 *                    ADDR4, PORT, RFLAGS). A negative ERRNO fails the
 *                    waiting IO at once (e.g. -ENOSPC, -EROFS) except
 *                    -EAGAIN, which makes it wait and ask again.
 *   SESSION          LEASE_MS: the agent's session with meta is valid for
 *                    LEASE_MS from now (0: expired). Maps are used only
 *                    while both their own expiry and the session hold.
 *   REPORT_ACK       DEV_ID, VEXTENT, REQ_ID, ERRNO: the answer to a report.
 *                    0: done (the replica is out of meta's location, or
 *                    ever_exist recorded); -ESTALE: the lease moved on, so
 *                    the writes waiting for it are not acknowledged but
 *                    retried under a new map; -EAGAIN (or any other):
 *                    not now, the kernel sends the report again later.
 *   REVOKE           DEV_ID or VOLUME_ID and/or PID, or none (everything):
 *                    drop the matching maps and wait until IO issued under
 *                    them drained; the netlink ack then says it is done
 *                    (-ETIMEDOUT if it did not drain within the IO timeout).
 */
#ifndef _UAPI_LINUX_ZBS_GENL_H
#define _UAPI_LINUX_ZBS_GENL_H

#define ZBS_GENL_NAME		"zbs"
#define ZBS_GENL_VERSION	1
#define ZBS_GENL_MCGRP_EVENTS	"events"
#define ZBS_MAX_REPLICAS	4

enum zbs_genl_cmd {
	ZBS_CMD_UNSPEC,
	ZBS_CMD_AGENT_REGISTER,
	ZBS_CMD_MAP_REQUEST,
	ZBS_CMD_MAP_REPLY,
	ZBS_CMD_REPLICA_FAILED,
	ZBS_CMD_EXISTENCE,
	ZBS_CMD_SESSION,
	ZBS_CMD_REVOKE,
	ZBS_CMD_REPORT_ACK,
	__ZBS_CMD_MAX,
};
#define ZBS_CMD_MAX (__ZBS_CMD_MAX - 1)

enum zbs_genl_attr {
	ZBS_A_UNSPEC,
	ZBS_A_DEV_ID,		/* u32 */
	ZBS_A_VOLUME_ID,	/* NUL-terminated string, < ZBS_VOLUME_ID_LEN */
	ZBS_A_VEXTENT,		/* u64 */
	ZBS_A_REQ_ID,		/* u64 */
	ZBS_A_WRITE,		/* flag */
	ZBS_A_ERRNO,		/* s32, 0 or a negative errno */
	ZBS_A_PID,		/* u64 */
	ZBS_A_EPOCH,		/* u64 */
	ZBS_A_LEASE_EPOCH,	/* u64 */
	ZBS_A_GEN,		/* u64 */
	ZBS_A_EVER_EXIST,	/* flag */
	ZBS_A_EXPIRY_MS,	/* u32: the map is valid for this long */
	ZBS_A_REPLICAS,		/* nested: ZBS_A_REPLICA entries */
	ZBS_A_CID,		/* u32 */
	ZBS_A_LEASE_MS,		/* u32 */
	ZBS_A_PAD,
	__ZBS_A_MAX,
};
#define ZBS_A_MAX (__ZBS_A_MAX - 1)

/* Nested in ZBS_A_REPLICAS, in location order (slot 0 first). */
enum zbs_genl_replica_attr {
	ZBS_RA_UNSPEC,
	ZBS_RA_REPLICA,		/* nested: the attributes below */
	ZBS_RA_CID,		/* u32, non-zero */
	ZBS_RA_ADDR4,		/* u32, IPv4 address in network byte order */
	ZBS_RA_PORT,		/* u16, host byte order, non-zero */
	ZBS_RA_RFLAGS,		/* u32, ZBS_RF_* */
	__ZBS_RA_MAX,
};
#define ZBS_RA_MAX (__ZBS_RA_MAX - 1)

#define ZBS_RF_LOCAL		(1U << 0)	/* on this host: read it first */
#define ZBS_RF_RECOVERING	(1U << 1)	/* recovery target: writes only, no gen check */
#define ZBS_RF_ALL		(ZBS_RF_LOCAL | ZBS_RF_RECOVERING)

#endif /* _UAPI_LINUX_ZBS_GENL_H */
