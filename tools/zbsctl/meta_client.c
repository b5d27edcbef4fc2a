// SPDX-License-Identifier: GPL-2.0
/* zbsctl: meta RPC helpers shared by the cmd_*.c of meta objects. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "location.h"
#include "meta_client.h"
#include "util.h"

int zc_connect(const struct zbsctl_opts *o, struct zbs_rpc_client *c)
{
	struct zbs_rpc_error err;
	int rc = zbs_rpc_connect(c, o->meta, 10000, &err);

	if (rc == -EINVAL) {
		zbsctl_err("%s", err.msg);
		return ZBSCTL_USAGE;
	}
	if (rc) {
		zbsctl_err("%s", err.msg);
		return ZBSCTL_UNAVAIL;
	}
	return ZBSCTL_OK;
}

int zc_call(struct zbs_rpc_client *c, uint16_t method, const void *req,
	    const ProtobufCMessageDescriptor *desc, void *resp)
{
	struct zbs_rpc_error err;
	int rc = zbs_rpc_call(c, method, req, desc, resp, &err);

	if (rc == 0)
		return ZBSCTL_OK;
	zbsctl_err("%s", err.msg);
	if (rc < 0)
		return ZBSCTL_UNAVAIL;
	switch (rc) {
	case ZBS_RPC_ENOENT:
		return ZBSCTL_NOTFOUND;
	case ZBS_RPC_EINVAL:
		return ZBSCTL_USAGE;
	default:
		return ZBSCTL_ERR;
	}
}

const char *zc_permille(uint32_t permille, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u%%", permille / 10, permille % 10);
	return buf;
}

const char *zc_size(uint64_t bytes, char *buf, size_t len)
{
	zbs_format_size(bytes, buf, len);
	return buf;
}

const char *zc_loc(uint32_t loc, char *buf, size_t len)
{
	return loc_format(loc, buf, len);
}

const char *zc_chunk_status(int s)
{
	switch (s) {
	case ZBS__CHUNK_STATUS__CHUNK_STATUS_INIT: return "INIT";
	case ZBS__CHUNK_STATUS__CHUNK_STATUS_CONNECTED_HEALTHY: return "CONNECTED_HEALTHY";
	case ZBS__CHUNK_STATUS__CHUNK_STATUS_SESSION_EXPIRED: return "SESSION_EXPIRED";
	default: return "UNKNOWN";
	}
}

void zc_print_json(struct json_object *j)
{
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
	json_object_put(j);
}

int zc_opt_size(const char *opt, const char *arg, uint64_t *out)
{
	if (zbs_parse_size(arg, out)) {
		zbsctl_err("%s '%s': want a size such as 10G, 256K or 4096", opt, arg);
		return -1;
	}
	return 0;
}

int zc_opt_u64(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	if (zbs_parse_u64(arg, min, max, out)) {
		zbsctl_err("%s '%s': want an integer from %llu to %llu", opt, arg,
			   (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
}
