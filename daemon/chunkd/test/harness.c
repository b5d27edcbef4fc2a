// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

const char *chunkd_binary(void)
{
	static char path[1024];
	const char *bin = getenv("ZBS_BIN");
	const char *cands[] = { "build/san/zbs-chunkd", "build/zbs-chunkd" };

	if (bin) {
		snprintf(path, sizeof(path), "%s/zbs-chunkd", bin);
		return path;
	}
	for (size_t i = 0; i < 2; i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return "zbs-chunkd";
}

int harness_tmpdir(char *buf, size_t len)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, len, "%s/zbs-chunkd-test.XXXXXX", t ? t : "/tmp");
	return mkdtemp(buf) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

void harness_rmrf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int chunkd_start(struct chunkd_proc *p, const char *dir, const char *const *extra)
{
	char portfile[600], parent[400];
	const char *argv[32];
	int n = 0, status;

	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = 0;
	snprintf(portfile, sizeof(portfile), "%s/port.%d", parent, (int)getpid());
	snprintf(p->log, sizeof(p->log), "%s/chunkd.log", parent);
	unlink(portfile);
	argv[n++] = chunkd_binary();
	argv[n++] = "--data-dir";
	argv[n++] = dir;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	for (int i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* wait up to 30 s (sanitized builds start slowly on a loaded host) */
	for (int i = 0; i < 3000; i++) {
		FILE *f = fopen(portfile, "r");

		if (f) {
			unsigned port = 0;
			int ok = fscanf(f, "%u", &port) == 1;

			fclose(f);
			if (ok && port) {
				p->port = (uint16_t)port;
				unlink(portfile);
				return 0;
			}
		}
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			return WIFEXITED(status) ? (WEXITSTATUS(status) ? WEXITSTATUS(status) : -1) : -1;
		}
		sleep_ms(10);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
	return -1;
}

int chunkd_stop(struct chunkd_proc *p)
{
	int status;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < 3000; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		sleep_ms(10);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
	return 255;
}

void chunkd_kill9(struct chunkd_proc *p)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
}

int chunkd_log_has(const struct chunkd_proc *p, const char *s)
{
	char buf[65536];
	FILE *f = fopen(p->log, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, s) != NULL;
}

void harness_fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
}
