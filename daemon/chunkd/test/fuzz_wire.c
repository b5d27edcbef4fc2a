// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the data-protocol request decoder: the byte stream a
 * chunk reads from a socket, split into frames exactly as the server does
 * (zbs_wire_parse_stream), decoded and checked. Invariants: a frame that
 * passes the checks is inside the extent, aligned and bounded; encoding a
 * decoded request gives back the same header; the stream is consumed
 * monotonically and never past its end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

struct ctx {
	const uint8_t *base;
	size_t len;
	size_t frames;
};

static void on_frame(const struct zbs_req *r, int status, const uint8_t *payload, uint32_t plen,
		     void *arg)
{
	struct ctx *c = arg;

	c->frames++;
	if (status == ZBS_ST_PROTO)
		return;
	if (plen && (payload < c->base || payload + plen > c->base + c->len))
		abort();
	if (plen != (zbs_wire_op_has_payload(r->opcode) ? r->length : 0))
		abort();
	if (status == ZBS_ST_OK) {
		if (r->opcode < 1 || r->opcode > ZBS_OP_MAX)
			abort();
		if (r->opcode == ZBS_OP_READ || r->opcode == ZBS_OP_WRITE ||
		    r->opcode == ZBS_OP_RECOVER_WRITE || r->opcode == ZBS_OP_WRITE_ZEROES) {
			uint64_t max = r->opcode == ZBS_OP_WRITE_ZEROES ? ZBS_EXTENT_SIZE
									 : ZBS_WIRE_MAX_IO;

			if (r->length == 0 || r->length > max ||
			    r->length % ZBS_SECTOR_SIZE || r->offset % ZBS_SECTOR_SIZE ||
			    r->offset + r->length > ZBS_EXTENT_SIZE || r->offset >= ZBS_EXTENT_SIZE)
				abort();
		} else if (r->length || r->offset) {
			abort();
		}
		if (r->flags & ~ZBS_WF_ALL)
			abort();
	} else if (status <= 0 || status > ZBS_ST_MAX) {
		abort();
	}
	/* round trip */
	{
		struct zbs_wire_req w;
		struct zbs_req back;
		uint32_t pl;

		zbs_wire_encode_req(r, &w);
		if (zbs_wire_decode_req(&w, &back, &pl) != ZBS_ST_OK || pl != plen ||
		    back.opcode != r->opcode || back.flags != r->flags ||
		    back.length != r->length || back.id != r->id || back.pid != r->pid ||
		    back.epoch != r->epoch || back.lease_epoch != r->lease_epoch ||
		    back.gen != r->gen || back.offset != r->offset)
			abort();
	}
	(void)zbs_wire_status_str((uint32_t)status);
	(void)zbs_wire_op_str(r->opcode);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c = { data, size, 0 };
	size_t used = zbs_wire_parse_stream(data, size, on_frame, &c);
	struct zbs_reply rep;

	if (used > size)
		abort();
	if (size >= sizeof(struct zbs_wire_reply)) {
		struct zbs_wire_reply w;

		memcpy(&w, data, sizeof(w));
		if (zbs_wire_decode_reply(&w, &rep) == ZBS_ST_OK &&
		    (rep.length > ZBS_WIRE_MAX_IO || (rep.status && rep.length)))
			abort();
	}
	return 0;
}
