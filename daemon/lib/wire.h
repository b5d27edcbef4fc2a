/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace helpers for the data protocol (uapi/linux/zbs_wire.h): host-order
 * views of the headers, encoding, decoding and the request checks that do
 * not depend on stored state. Pure functions, shared by zbs-chunkd, the data
 * client library and the fuzz harness.
 */
#ifndef ZBS_WIRE_H
#define ZBS_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/zbs_wire.h>

struct zbs_req {
	uint16_t opcode;
	uint32_t flags;
	uint32_t length;
	uint64_t id, pid, epoch, lease_epoch, gen, offset;
};

struct zbs_reply {
	uint16_t opcode;
	uint32_t status;
	uint32_t length;
	uint64_t id, gen, epoch, lease_epoch;
	uint32_t state;
	uint32_t alloc_blocks;
};

void zbs_wire_encode_req(const struct zbs_req *r, struct zbs_wire_req *w);
void zbs_wire_encode_reply(const struct zbs_reply *r, struct zbs_wire_reply *w);

/*
 * Decode a request header. Returns ZBS_ST_OK and fills *r and *payload (bytes
 * of payload that follow the header on the wire), or ZBS_ST_PROTO when the
 * frame cannot be trusted (bad magic/version, oversized payload): the
 * connection must then be closed. *r is filled as far as it could be.
 */
int zbs_wire_decode_req(const struct zbs_wire_req *w, struct zbs_req *r, uint32_t *payload);

/* Decode a reply header; ZBS_ST_PROTO on bad magic/version/length. */
int zbs_wire_decode_reply(const struct zbs_wire_reply *w, struct zbs_reply *r);

/*
 * Stateless checks of a decoded request: opcode, flags, offset/length
 * ranges and alignment. Returns ZBS_ST_OK or the status to answer.
 */
int zbs_wire_check_req(const struct zbs_req *r);

/*
 * Split a byte stream into request frames, as the server does: calls
 * cb(req, status, payload, payload_len, arg) for every complete frame, where
 * status is the decode+check result. Stops after a ZBS_ST_PROTO frame.
 * Returns the number of bytes consumed (complete frames only).
 */
size_t zbs_wire_parse_stream(const uint8_t *buf, size_t len,
			     void (*cb)(const struct zbs_req *, int status,
					const uint8_t *payload, uint32_t plen, void *arg),
			     void *arg);

const char *zbs_wire_status_str(uint32_t status);
const char *zbs_wire_op_str(uint32_t op);

#endif
