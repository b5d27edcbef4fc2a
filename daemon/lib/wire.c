// SPDX-License-Identifier: GPL-2.0
#include <endian.h>
#include <string.h>

#include "wire.h"

_Static_assert(sizeof(struct zbs_wire_req) == 64, "request header is 64 bytes");
_Static_assert(sizeof(struct zbs_wire_reply) == 64, "reply header is 64 bytes");

void zbs_wire_encode_req(const struct zbs_req *r, struct zbs_wire_req *w)
{
	memset(w, 0, sizeof(*w));
	w->magic = htole32(ZBS_WIRE_REQ_MAGIC);
	w->version = htole16(ZBS_WIRE_VERSION);
	w->opcode = htole16(r->opcode);
	w->flags = htole32(r->flags);
	w->length = htole32(r->length);
	w->id = htole64(r->id);
	w->pid = htole64(r->pid);
	w->epoch = htole64(r->epoch);
	w->lease_epoch = htole64(r->lease_epoch);
	w->gen = htole64(r->gen);
	w->offset = htole64(r->offset);
}

void zbs_wire_encode_reply(const struct zbs_reply *r, struct zbs_wire_reply *w)
{
	memset(w, 0, sizeof(*w));
	w->magic = htole32(ZBS_WIRE_REPLY_MAGIC);
	w->version = htole16(ZBS_WIRE_VERSION);
	w->opcode = htole16(r->opcode);
	w->status = htole32(r->status);
	w->length = htole32(r->length);
	w->id = htole64(r->id);
	w->gen = htole64(r->gen);
	w->epoch = htole64(r->epoch);
	w->lease_epoch = htole64(r->lease_epoch);
	w->state = htole32(r->state);
	w->alloc_blocks = htole32(r->alloc_blocks);
}

int zbs_wire_decode_req(const struct zbs_wire_req *w, struct zbs_req *r, uint32_t *payload)
{
	r->opcode = le16toh(w->opcode);
	r->flags = le32toh(w->flags);
	r->length = le32toh(w->length);
	r->id = le64toh(w->id);
	r->pid = le64toh(w->pid);
	r->epoch = le64toh(w->epoch);
	r->lease_epoch = le64toh(w->lease_epoch);
	r->gen = le64toh(w->gen);
	r->offset = le64toh(w->offset);
	*payload = 0;
	if (le32toh(w->magic) != ZBS_WIRE_REQ_MAGIC || le16toh(w->version) != ZBS_WIRE_VERSION)
		return ZBS_ST_PROTO;
	if (zbs_wire_op_has_payload(r->opcode)) {
		if (r->length > ZBS_WIRE_MAX_IO)
			return ZBS_ST_PROTO;
		*payload = r->length;
	}
	return ZBS_ST_OK;
}

int zbs_wire_decode_reply(const struct zbs_wire_reply *w, struct zbs_reply *r)
{
	r->opcode = le16toh(w->opcode);
	r->status = le32toh(w->status);
	r->length = le32toh(w->length);
	r->id = le64toh(w->id);
	r->gen = le64toh(w->gen);
	r->epoch = le64toh(w->epoch);
	r->lease_epoch = le64toh(w->lease_epoch);
	r->state = le32toh(w->state);
	r->alloc_blocks = le32toh(w->alloc_blocks);
	if (le32toh(w->magic) != ZBS_WIRE_REPLY_MAGIC || le16toh(w->version) != ZBS_WIRE_VERSION)
		return ZBS_ST_PROTO;
	if (r->length > ZBS_WIRE_MAX_IO || (r->status != ZBS_ST_OK && r->length))
		return ZBS_ST_PROTO;
	return ZBS_ST_OK;
}

static int check_range(const struct zbs_req *r, uint64_t max_len)
{
	if (r->length == 0 || r->length > max_len)
		return ZBS_ST_INVAL;
	if ((r->length | r->offset) & (ZBS_SECTOR_SIZE - 1))
		return ZBS_ST_INVAL;
	if (r->offset >= ZBS_EXTENT_SIZE || r->length > ZBS_EXTENT_SIZE - r->offset)
		return ZBS_ST_INVAL;
	return ZBS_ST_OK;
}

static int check_noio(const struct zbs_req *r, uint32_t allowed_flags)
{
	if (r->flags & ~allowed_flags)
		return ZBS_ST_INVAL;
	if (r->length || r->offset)
		return ZBS_ST_INVAL;
	return ZBS_ST_OK;
}

int zbs_wire_check_req(const struct zbs_req *r)
{
	switch (r->opcode) {
	case ZBS_OP_READ:
		if (r->flags & ~ZBS_DF_RECOVERY)
			return ZBS_ST_INVAL;
		return check_range(r, ZBS_WIRE_MAX_IO);
	case ZBS_OP_WRITE:
	case ZBS_OP_RECOVER_WRITE:
		if (r->flags & ~ZBS_WF_FUA)
			return ZBS_ST_INVAL;
		return check_range(r, ZBS_WIRE_MAX_IO);
	case ZBS_OP_WRITE_ZEROES:
		if (r->flags & ~ZBS_WF_FUA)
			return ZBS_ST_INVAL;
		return check_range(r, ZBS_EXTENT_SIZE);
	case ZBS_OP_SYNC:
		return check_noio(r, ZBS_SF_THICK | ZBS_SF_CREATE);
	case ZBS_OP_RECOVER_BEGIN:
		return check_noio(r, ZBS_SF_THICK | ZBS_RF_AGILE);
	case ZBS_OP_GET_BLOCK_MAP:
		return check_noio(r, ZBS_BF_SINCE);
	case ZBS_OP_FLUSH:
	case ZBS_OP_GET_INFO:
	case ZBS_OP_RECOVER_END:
		return check_noio(r, 0);
	default:
		return ZBS_ST_BADOP;
	}
}

size_t zbs_wire_parse_stream(const uint8_t *buf, size_t len,
			     void (*cb)(const struct zbs_req *, int status,
					const uint8_t *payload, uint32_t plen, void *arg),
			     void *arg)
{
	size_t pos = 0;

	while (len - pos >= sizeof(struct zbs_wire_req)) {
		struct zbs_wire_req w;
		struct zbs_req r;
		uint32_t plen;
		int st;

		memcpy(&w, buf + pos, sizeof(w));
		st = zbs_wire_decode_req(&w, &r, &plen);
		if (st == ZBS_ST_PROTO) {
			cb(&r, st, NULL, 0, arg);
			return pos + sizeof(w);
		}
		if (len - pos - sizeof(w) < plen)
			break;
		st = zbs_wire_check_req(&r);
		cb(&r, st, buf + pos + sizeof(w), plen, arg);
		pos += sizeof(w) + plen;
	}
	return pos;
}

const char *zbs_wire_status_str(uint32_t status)
{
	static const char *const names[] = {
		[ZBS_ST_OK] = "ok",
		[ZBS_ST_INVAL] = "invalid request",
		[ZBS_ST_BADOP] = "unknown opcode",
		[ZBS_ST_PROTO] = "protocol error",
		[ZBS_ST_NOENT] = "no such replica",
		[ZBS_ST_EPOCH] = "epoch mismatch",
		[ZBS_ST_STALE] = "stale lease_epoch (ESTALE)",
		[ZBS_ST_GEN] = "gen mismatch",
		[ZBS_ST_IO] = "IO error",
		[ZBS_ST_NOSPC] = "no space",
		[ZBS_ST_RECOVERING] = "replica recovering",
		[ZBS_ST_BUSY] = "busy",
		[ZBS_ST_UNTRACKED] = "writes since that gen not tracked",
	};
	if (status < sizeof(names) / sizeof(names[0]) && names[status])
		return names[status];
	return "unknown status";
}

const char *zbs_wire_op_str(uint32_t op)
{
	static const char *const names[] = {
		[ZBS_OP_READ] = "READ",
		[ZBS_OP_WRITE] = "WRITE",
		[ZBS_OP_FLUSH] = "FLUSH",
		[ZBS_OP_SYNC] = "SYNC",
		[ZBS_OP_GET_INFO] = "GET_INFO",
		[ZBS_OP_GET_BLOCK_MAP] = "GET_BLOCK_MAP",
		[ZBS_OP_RECOVER_BEGIN] = "RECOVER_BEGIN",
		[ZBS_OP_RECOVER_WRITE] = "RECOVER_WRITE",
		[ZBS_OP_RECOVER_END] = "RECOVER_END",
		[ZBS_OP_WRITE_ZEROES] = "WRITE_ZEROES",
	};
	if (op < sizeof(names) / sizeof(names[0]) && names[op])
		return names[op];
	return "UNKNOWN";
}
