/* SPDX-License-Identifier: GPL-2.0 */
/* Run zbs-chunkd as a child process for tests and benchmarks. */
#ifndef ZBS_CHUNKD_HARNESS_H
#define ZBS_CHUNKD_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

struct chunkd_proc {
	pid_t pid;
	uint16_t port;
	char dir[512];		/* data dir */
	char log[600];		/* its stderr */
};

/* Path of the zbs-chunkd binary: $ZBS_BIN/zbs-chunkd, else build/san/, build/. */
const char *chunkd_binary(void);

/* A fresh temp dir (mktemp -d style) in buf; 0 or -1. */
int harness_tmpdir(char *buf, size_t len);
/* rm -rf dir. */
void harness_rmrf(const char *dir);

/*
 * Start zbs-chunkd on data dir `dir` listening on 127.0.0.1 (free port),
 * extra NULL-terminated argv. Waits (bounded) until it listens.
 * Returns 0, or the child's exit status (> 0) if it exited, or -1.
 */
int chunkd_start(struct chunkd_proc *p, const char *dir, const char *const *extra);
/* SIGTERM + wait; returns the exit status (0 clean), or 128+signal. */
int chunkd_stop(struct chunkd_proc *p);
/* SIGKILL + wait. */
void chunkd_kill9(struct chunkd_proc *p);
/* Fill buf with a pseudo-random pattern of seed (the same seed, the same bytes). */
void harness_fill(void *buf, size_t len, uint64_t seed);
/* 1 if the log contains s. */
int chunkd_log_has(const struct chunkd_proc *p, const char *s);

#endif
