/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Meta RPC framing and the blocking client used by zbsctl, the chunk-side
 * session and the benchmark.
 *
 * A frame is a fixed 32-byte little-endian header followed by `len` bytes of
 * one protobuf-c message (daemon/proto/meta.proto):
 *
 *   0  u32 magic "ZBSR"       16 u64 msg_id   (echoed in the reply)
 *   4  u32 len  (body bytes)  24 u32 timeout_ms (0 = none)
 *   8  u16 service            28 u32 flags    (bit 0: this is a reply)
 *  10  u16 method
 *  12  u32 status (replies: 0 ok, else enum zbs_rpc_status; the body is then
 *      an ErrorReply naming what was wrong)
 *
 * A frame with a bad magic, a body over ZBS_RPC_MAX_BODY or reserved flag
 * bits set is malformed: the server closes the connection. A well-formed
 * frame with an unknown method or an undecodable body gets an error reply.
 */
#ifndef ZBS_RPC_H
#define ZBS_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#define ZBS_RPC_MAGIC		0x5253425aU	/* "ZBSR" as LE bytes */
#define ZBS_RPC_HDR_LEN		32
#define ZBS_RPC_MAX_BODY	(16U << 20)
#define ZBS_RPC_F_REPLY		1U
#define ZBS_META_DEFAULT_PORT	10100

enum { ZBS_RPC_SVC_META = 1 };

enum zbs_meta_method {
	ZBS_M_REGISTER_CHUNK = 1,
	ZBS_M_CREATE_SESSION,
	ZBS_M_KEEPALIVE,
	ZBS_M_LEAVE_SESSION,
	ZBS_M_LIST_CHUNKS,
	ZBS_M_LIST_SESSIONS,
	ZBS_M_TOPO_CREATE,
	ZBS_M_TOPO_LIST,
	ZBS_M_TOPO_MOVE,
	ZBS_M_VOLUME_CREATE,
	ZBS_M_VOLUME_LIST,
	ZBS_M_VOLUME_SHOW,
	ZBS_M_VOLUME_RESIZE,
	ZBS_M_VOLUME_DELETE,
	ZBS_M_GET_VEXTENT_LEASE,
	ZBS_M_RELEASE_LEASE,
	ZBS_M_REMOVE_REPLICA,
	ZBS_M_SET_PEXTENT_EXISTENCE,
	ZBS_M_REVOKE,
	ZBS_M_PEXTENT_SHOW,
	ZBS_M_REPLACE_REPLICA,		/* ReplaceReplicaRequest -> Empty */
	ZBS_M_RECOVER_STATUS,		/* Empty -> RecoverStatusResponse */
	ZBS_M_RECOVER_LIST,		/* Empty -> RecoverListResponse */
	ZBS_M_RECOVER_SET,		/* RecoverSetRequest -> RecoverStatusResponse */
	ZBS_M_RECOVER_SCAN,		/* Empty -> Empty: scan every pextent now */
	ZBS_M_MIGRATE_CREATE,		/* MigrateCreateRequest -> MigrateCreateResponse */
	ZBS_M_CLUSTER_LOAD,		/* Empty -> ClusterLoadResponse */
	ZBS_M_MIGRATE_PLAN,		/* MigratePlanRequest -> MigratePlanResponse */
	ZBS_M_CHUNK_MAINTENANCE,	/* ChunkMaintenanceRequest -> ChunkMaintenanceResponse */
	ZBS_M_CHUNK_REMOVE,		/* ChunkRemoveRequest -> ChunkRemoveResponse */
	ZBS_M__COUNT
};

enum zbs_rpc_status {
	ZBS_RPC_OK = 0,
	ZBS_RPC_EINVAL,		/* bad request: a field is wrong */
	ZBS_RPC_ENOENT,		/* named object does not exist */
	ZBS_RPC_EEXIST,		/* already exists */
	ZBS_RPC_ENOSPC,		/* not enough chunks or space */
	ZBS_RPC_EOWNED,		/* pid owned by another live session */
	ZBS_RPC_ESESSION,	/* session unknown or expired */
	ZBS_RPC_ESTALE,		/* stale epoch/gen */
	ZBS_RPC_ENOTOWNER,	/* caller is not the lease owner */
	ZBS_RPC_EUNSUPP,	/* unknown service or method */
	ZBS_RPC_EINTERNAL,
	ZBS_RPC_EAGAIN,		/* not now: retry (e.g. space figures pending) */
	ZBS_RPC__COUNT
};

struct zbs_rpc_hdr {
	uint32_t magic, len;
	uint16_t service, method;
	uint32_t status;
	uint64_t msg_id;
	uint32_t timeout_ms, flags;
};

void zbs_rpc_hdr_encode(const struct zbs_rpc_hdr *h, uint8_t out[ZBS_RPC_HDR_LEN]);
/* Decode and check magic, length and flags; returns 0 or -1 (malformed). */
int zbs_rpc_hdr_decode(const uint8_t in[ZBS_RPC_HDR_LEN], struct zbs_rpc_hdr *h);

const char *zbs_rpc_status_name(uint32_t status);
const char *zbs_meta_method_name(uint32_t method);

/* "host:port" (or "host" with the default port) -> IPv4 sockaddr; 0 or -1.
 * Parsed by zbs_parse_hostport (net.h). */
struct sockaddr_storage;
int zbs_rpc_resolve(const char *hostport, uint16_t defport,
		    struct sockaddr_storage *ss, unsigned int *sslen);

/* ---- blocking client -------------------------------------------------- */

struct zbs_rpc_client {
	int fd;
	uint64_t next_id;
	int timeout_ms;
};

struct zbs_rpc_error {
	char msg[512];
	uint64_t owner_session;
	uint32_t owner_cid;
};

/* Returns 0, or -errno with a message in err. */
int zbs_rpc_connect(struct zbs_rpc_client *c, const char *hostport,
		    int timeout_ms, struct zbs_rpc_error *err);
void zbs_rpc_close(struct zbs_rpc_client *c);

/*
 * One request/reply. Returns 0 and *resp (free it with
 * protobuf_c_message_free_unpacked), a positive enum zbs_rpc_status with
 * err filled from the server's ErrorReply, or -errno on a transport error
 * (the connection is then closed).
 */
int zbs_rpc_call(struct zbs_rpc_client *c, uint16_t method,
		 const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc,
		 ProtobufCMessage **resp, struct zbs_rpc_error *err);

/* Pipelining halves (benchmark): send one request; receive one frame. */
int zbs_rpc_send(struct zbs_rpc_client *c, uint16_t method,
		 const ProtobufCMessage *req, uint64_t *msg_id);
/* *body is malloc'ed (free it); returns 0 or -errno. */
int zbs_rpc_recv(struct zbs_rpc_client *c, struct zbs_rpc_hdr *h, uint8_t **body);

#endif
