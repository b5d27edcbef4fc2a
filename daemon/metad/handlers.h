/* SPDX-License-Identifier: GPL-2.0 */
/* Meta RPC method table: request descriptor + handler per method number. */
#ifndef ZBS_META_HANDLERS_H
#define ZBS_META_HANDLERS_H

#include <protobuf-c/protobuf-c.h>

#include "meta.h"
#include "rpc.h"

struct meta_reply;	/* the server's reply sink */

/* Pack msg as the OK reply; returns 0. */
int meta_reply_msg(struct meta_reply *r, const ProtobufCMessage *msg);
/* the OK reply of a volume request: the volume */
int meta_reply_volume(struct meta_reply *r, const struct meta_volume *v);
/* no reply now: the server creates v a slice at a time (on its loop) and
 * replies with meta_reply_volume, or the error, when it is done; 0 */
int meta_reply_later(struct meta_reply *r, struct meta_volume *v);

struct meta_method {
	const ProtobufCMessageDescriptor *req;
	/* returns 0 after reply_msg(), or -1 with e set (nothing changed) */
	int (*fn)(struct meta *m, const ProtobufCMessage *req, struct meta_reply *r, struct merr *e);
};

extern const struct meta_method meta_methods[ZBS_M__COUNT];

#endif
