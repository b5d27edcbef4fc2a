// SPDX-License-Identifier: GPL-2.0
/*
 * ABI checks of /dev/zbs-control: the version ioctl round trip, and
 * rejection of wrong sizes, nonzero flags and reserved fields, unknown
 * commands, bad pointers and callers without CAP_SYS_ADMIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/zbs.h>

#include "ktap.h"

static int fd;

static void init(struct zbs_ioc_version *v)
{
	memset(v, 0, sizeof(*v));
	v->hdr.size = sizeof(*v);
}

/* ioctl expecting failure with errno `want`; returns 1 if so. */
static int fails_with(unsigned long cmd, void *arg, int want)
{
	int r = ioctl(fd, cmd, arg);

	if (r == 0) {
		printf("# ioctl 0x%lx unexpectedly succeeded\n", cmd);
		return 0;
	}
	if (errno != want) {
		printf("# ioctl 0x%lx: errno %d (%s), want %d\n", cmd, errno, strerror(errno), want);
		return 0;
	}
	return 1;
}

int main(void)
{
	struct zbs_ioc_version v;
	char modver[64] = "";
	FILE *f;
	int ok;

	ktap_plan(12);
	fd = open(ZBS_CONTROL_PATH, O_RDWR);
	if (fd < 0) {
		printf("# open %s: %s\n", ZBS_CONTROL_PATH, strerror(errno));
		return 1;
	}
	f = fopen("/sys/module/zbs/version", "r");
	if (f) {
		if (fscanf(f, "%63s", modver) != 1)
			modver[0] = 0;
		fclose(f);
	}

	init(&v);
	ok = ioctl(fd, ZBS_IOC_GET_VERSION, &v) == 0 &&
	     v.abi_major == ZBS_ABI_MAJOR && v.abi_minor == ZBS_ABI_MINOR &&
	     (v.features & ZBS_FEAT_CONTROL) && strcmp(v.version, modver) == 0 &&
	     v.hdr.size == sizeof(v);
	printf("# version '%s' abi %u.%u features 0x%llx\n", v.version, v.abi_major,
	       v.abi_minor, (unsigned long long)v.features);
	ktap_result(ok, "GET_VERSION round trip matches the module");

	init(&v);
	v.hdr.size = sizeof(v) - 8;
	ktap_result(fails_with(ZBS_IOC_GET_VERSION, &v, EINVAL), "short hdr.size -> EINVAL");
	init(&v);
	v.hdr.size = sizeof(v) + 8;
	ktap_result(fails_with(ZBS_IOC_GET_VERSION, &v, EINVAL), "long hdr.size -> EINVAL");
	init(&v);
	v.hdr.size = 0;
	ktap_result(fails_with(ZBS_IOC_GET_VERSION, &v, EINVAL), "zero hdr.size -> EINVAL");
	init(&v);
	v.hdr.flags = 1;
	ktap_result(fails_with(ZBS_IOC_GET_VERSION, &v, EINVAL), "nonzero flags -> EINVAL");

	ok = 1;
	for (unsigned i = 0; i < sizeof(v.reserved) / sizeof(v.reserved[0]); i++) {
		init(&v);
		v.reserved[i] = 1ull << (i * 7);
		ok &= fails_with(ZBS_IOC_GET_VERSION, &v, EINVAL);
	}
	ktap_result(ok, "each nonzero reserved word -> EINVAL");

	init(&v);
	ktap_result(fails_with(_IOWR(ZBS_IOC_MAGIC, 0x7f, struct zbs_ioc_version), &v, ENOTTY),
		    "unknown command number -> ENOTTY");
	ktap_result(fails_with(_IOWR('x', 0x00, struct zbs_ioc_version), &v, ENOTTY),
		    "foreign ioctl magic -> ENOTTY");
	ktap_result(fails_with(_IOWR(ZBS_IOC_MAGIC, 0x00, __u64), &v, ENOTTY),
		    "known number with wrong encoded size -> ENOTTY");
	ktap_result(fails_with(ZBS_IOC_GET_VERSION, NULL, EFAULT), "NULL argument -> EFAULT");

	/* Without CAP_SYS_ADMIN: the open file is not enough. */
	pid_t pid = fork();
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		init(&v);
		if (!fails_with(ZBS_IOC_GET_VERSION, &v, EPERM))
			_exit(1);
		/* and the device cannot be opened by others (mode 0600) */
		int fd2 = open(ZBS_CONTROL_PATH, O_RDWR);
		if (fd2 >= 0 || errno != EACCES)
			_exit(3);
		_exit(0);
	}
	int wst = 0;
	waitpid(pid, &wst, 0);
	printf("# unprivileged child exit %d\n", WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
	ktap_result(WIFEXITED(wst) && WEXITSTATUS(wst) == 0,
		    "unprivileged caller: ioctl -> EPERM, open -> EACCES");

	/* The good call still works after all the bad ones. */
	init(&v);
	ktap_result(ioctl(fd, ZBS_IOC_GET_VERSION, &v) == 0, "GET_VERSION still works");
	close(fd);
	return ktap_finish();
}
