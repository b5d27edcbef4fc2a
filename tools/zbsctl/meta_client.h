/* SPDX-License-Identifier: GPL-2.0 */
/* zbsctl side of the meta RPC: connect, call, map errors to exit codes. */
#ifndef ZBSCTL_META_CLIENT_H
#define ZBSCTL_META_CLIENT_H

#include <stdint.h>
#include <json-c/json.h>

#include "meta.pb-c.h"
#include "rpc.h"
#include "zbsctl.h"

/* Connect to o->meta; prints the error; returns a zbsctl exit status. */
int zc_connect(const struct zbsctl_opts *o, struct zbs_rpc_client *c);
/* One call; prints the server's message on error; returns an exit status. */
int zc_call(struct zbs_rpc_client *c, uint16_t method, const void *req,
	    const ProtobufCMessageDescriptor *desc, void *resp);
/* "10 GiB" */
const char *zc_size(uint64_t bytes, char *buf, size_t len);
/* "61.7%" of a permille figure */
const char *zc_permille(uint32_t permille, char *buf, size_t len);
const char *zc_loc(uint32_t loc, char *buf, size_t len);
const char *zc_chunk_status(int s);
void zc_print_json(struct json_object *j);
/* getopt helpers: parse a size / u64 option, printing a clear message */
int zc_opt_size(const char *opt, const char *arg, uint64_t *out);
int zc_opt_u64(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out);

/* zbsctl migrate create PID --src --dst --replace (argv[0] "migrate", argv[1] "create") */
int zc_migrate_create(const struct zbsctl_opts *o, int argc, char **argv);

#endif
