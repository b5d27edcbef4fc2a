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
/*
 * No reply now: the server runs step on its loop, a slice per turn, until
 * it returns 1 no more. 0: it replied through r (r is NULL when the client
 * went away: the work may go on or stop, nobody waits for the reply); -1:
 * the server replies e. Then done(arg) (may be NULL) frees what the job
 * held; at shutdown too. Returns 0 (for a handler to return).
 */
typedef int (*meta_job_step_fn)(struct meta *m, void *arg, struct meta_reply *r, struct merr *e);
int meta_reply_job(struct meta_reply *r, meta_job_step_fn step, void (*done)(void *arg),
		   void *arg);

struct meta_method {
	const ProtobufCMessageDescriptor *req;
	/* returns 0 after reply_msg(), or -1 with e set (nothing changed) */
	int (*fn)(struct meta *m, const ProtobufCMessage *req, struct meta_reply *r, struct merr *e);
};

extern const struct meta_method meta_methods[ZBS_M__COUNT];

#endif
