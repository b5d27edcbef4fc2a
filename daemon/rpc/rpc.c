// SPDX-License-Identifier: GPL-2.0
/* Meta RPC: frame encoding, names, address parsing. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net.h"
#include "rpc.h"

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }
static uint16_t get16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

void zbs_rpc_hdr_encode(const struct zbs_rpc_hdr *h, uint8_t out[ZBS_RPC_HDR_LEN])
{
	put32(out, ZBS_RPC_MAGIC);
	put32(out + 4, h->len);
	put16(out + 8, h->service);
	put16(out + 10, h->method);
	put32(out + 12, h->status);
	put64(out + 16, h->msg_id);
	put32(out + 24, h->timeout_ms);
	put32(out + 28, h->flags);
}

int zbs_rpc_hdr_decode(const uint8_t in[ZBS_RPC_HDR_LEN], struct zbs_rpc_hdr *h)
{
	h->magic = get32(in);
	h->len = get32(in + 4);
	h->service = get16(in + 8);
	h->method = get16(in + 10);
	h->status = get32(in + 12);
	h->msg_id = get64(in + 16);
	h->timeout_ms = get32(in + 24);
	h->flags = get32(in + 28);
	if (h->magic != ZBS_RPC_MAGIC || h->len > ZBS_RPC_MAX_BODY ||
	    (h->flags & ~ZBS_RPC_F_REPLY))
		return -1;
	return 0;
}

const char *zbs_rpc_status_name(uint32_t status)
{
	static const char *const names[] = {
		[ZBS_RPC_OK] = "ok",
		[ZBS_RPC_EINVAL] = "invalid request",
		[ZBS_RPC_ENOENT] = "not found",
		[ZBS_RPC_EEXIST] = "already exists",
		[ZBS_RPC_ENOSPC] = "no space",
		[ZBS_RPC_EOWNED] = "owned by another session",
		[ZBS_RPC_ESESSION] = "session expired",
		[ZBS_RPC_ESTALE] = "stale",
		[ZBS_RPC_ENOTOWNER] = "not the lease owner",
		[ZBS_RPC_EUNSUPP] = "unsupported",
		[ZBS_RPC_EINTERNAL] = "internal error",
		[ZBS_RPC_EAGAIN] = "try again",
	};
	return status < ZBS_RPC__COUNT ? names[status] : "unknown status";
}

const char *zbs_meta_method_name(uint32_t m)
{
	static const char *const names[] = {
		[ZBS_M_REGISTER_CHUNK] = "RegisterChunk",
		[ZBS_M_CREATE_SESSION] = "CreateSession",
		[ZBS_M_KEEPALIVE] = "KeepAlive",
		[ZBS_M_LEAVE_SESSION] = "LeaveSession",
		[ZBS_M_LIST_CHUNKS] = "ListChunks",
		[ZBS_M_LIST_SESSIONS] = "ListSessions",
		[ZBS_M_TOPO_CREATE] = "TopoCreate",
		[ZBS_M_TOPO_LIST] = "TopoList",
		[ZBS_M_TOPO_MOVE] = "TopoMove",
		[ZBS_M_VOLUME_CREATE] = "VolumeCreate",
		[ZBS_M_VOLUME_LIST] = "VolumeList",
		[ZBS_M_VOLUME_SHOW] = "VolumeShow",
		[ZBS_M_VOLUME_RESIZE] = "VolumeResize",
		[ZBS_M_VOLUME_DELETE] = "VolumeDelete",
		[ZBS_M_GET_VEXTENT_LEASE] = "GetVExtentLease",
		[ZBS_M_RELEASE_LEASE] = "ReleaseLease",
		[ZBS_M_REMOVE_REPLICA] = "RemoveReplica",
		[ZBS_M_SET_PEXTENT_EXISTENCE] = "SetPExtentExistence",
		[ZBS_M_REVOKE] = "Revoke",
		[ZBS_M_PEXTENT_SHOW] = "PExtentShow",
		[ZBS_M_REPLACE_REPLICA] = "ReplaceReplica",
		[ZBS_M_RECOVER_STATUS] = "RecoverStatus",
		[ZBS_M_RECOVER_LIST] = "RecoverList",
		[ZBS_M_RECOVER_SET] = "RecoverSet",
		[ZBS_M_RECOVER_SCAN] = "RecoverScan",
		[ZBS_M_MIGRATE_CREATE] = "MigrateCreate",
		[ZBS_M_CLUSTER_LOAD] = "ClusterLoad",
		[ZBS_M_MIGRATE_PLAN] = "MigratePlan",
		[ZBS_M_CHUNK_MAINTENANCE] = "ChunkMaintenance",
		[ZBS_M_CHUNK_REMOVE] = "ChunkRemove",
	};
	return m > 0 && m < ZBS_M__COUNT ? names[m] : "unknown";
}

int zbs_rpc_resolve(const char *hostport, uint16_t defport,
		    struct sockaddr_storage *ss, unsigned int *sslen)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	char host[256], port[8];
	uint16_t p;

	if (zbs_parse_hostport(hostport, NULL, defport, 0, host, sizeof(host), &p))
		return -1;
	snprintf(port, sizeof(port), "%u", p);
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}
