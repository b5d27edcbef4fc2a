// SPDX-License-Identifier: GPL-2.0
/* zbsctl version: tool version, and the module's when it is loaded. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <json-c/json.h>

#include "ctl_dev.h"
#include "zbsctl.h"

static const struct { unsigned long long bit; const char *name; } features[] = {
	{ ZBS_FEAT_CONTROL, "control" },
	{ ZBS_FEAT_DEVICES, "devices" },
	{ ZBS_FEAT_GENL, "genl" },
	{ ZBS_FEAT_REPORT_ACK, "report-ack" },
	{ ZBS_FEAT_TEST_HOOKS, "test-hooks" },
};

static void feature_string(unsigned long long f, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (!(f & features[i].bit))
			continue;
		n += snprintf(buf + n, len - n, "%s%s", n ? "," : "", features[i].name);
		f &= ~features[i].bit;
		if (n >= len)
			return;
	}
	if (f)
		snprintf(buf + n, len - n, "%s0x%llx", n ? "," : "", f);
}

static int version_run(const struct zbsctl_opts *o, int argc, char **argv)
{
	struct zbs_ioc_version v;
	char feats[256];
	int fd, status = ZBSCTL_OK, have_module = 0;

	if (argc > 1) {
		if (zbsctl_is_help(argv[1])) {
			printf("Usage: zbsctl [--json] version\n\n"
			       "Print the version of zbsctl and, when the zbs module is\n"
			       "loaded, its version, ABI and features.\n");
			return ZBSCTL_OK;
		}
		zbsctl_err("version takes no arguments");
		return ZBSCTL_USAGE;
	}

	/* A missing module is reported, but printing our version still works. */
	fd = zbsctl_ctl_open(o->control, &status);
	if (fd >= 0) {
		ZBSCTL_IOC_INIT(v);
		if (ioctl(fd, ZBS_IOC_GET_VERSION, &v) < 0) {
			zbsctl_err("ZBS_IOC_GET_VERSION: %s", strerror(errno));
			status = ZBSCTL_ERR;
		} else {
			have_module = 1;
			v.version[sizeof(v.version) - 1] = 0;
			feature_string(v.features, feats, sizeof(feats));
		}
		close(fd);
	}

	if (o->json) {
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "zbsctl", json_object_new_string(ZBS_VERSION));
		if (have_module) {
			struct json_object *m = json_object_new_object();
			json_object_object_add(m, "version", json_object_new_string(v.version));
			json_object_object_add(m, "abi_major", json_object_new_int(v.abi_major));
			json_object_object_add(m, "abi_minor", json_object_new_int(v.abi_minor));
			json_object_object_add(m, "features", json_object_new_uint64(v.features));
			json_object_object_add(j, "module", m);
		} else {
			json_object_object_add(j, "module", NULL);
		}
		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
		json_object_put(j);
	} else {
		printf("zbsctl: %s (abi %d.%d)\n", ZBS_VERSION, ZBS_ABI_MAJOR, ZBS_ABI_MINOR);
		if (have_module)
			printf("module: %s (abi %u.%u, features %s)\n", v.version,
			       v.abi_major, v.abi_minor, feats[0] ? feats : "none");
		else
			printf("module: not loaded\n");
	}
	return status;
}

static struct zbsctl_object version_obj = {
	.name = "version",
	.summary = "versions of zbsctl and the loaded zbs module",
	.run = version_run,
};
ZBSCTL_OBJECT(version_obj)
