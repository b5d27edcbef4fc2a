/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zbsctl: `zbsctl [global options] OBJECT [VERB] [args]`, in the manner of
 * ip(8) and rbd(8). Each object lives in its own cmd_<object>.c and
 * registers itself with ZBSCTL_OBJECT().
 *
 * Exit statuses (meaningful for scripts):
 */
#ifndef ZBSCTL_H
#define ZBSCTL_H

#include <stdbool.h>

enum {
	ZBSCTL_OK = 0,
	ZBSCTL_ERR = 1,		/* the operation failed */
	ZBSCTL_USAGE = 2,	/* bad command line */
	ZBSCTL_NOTFOUND = 3,	/* named object does not exist */
	ZBSCTL_UNAVAIL = 4,	/* module not loaded / meta unreachable */
};

struct zbsctl_opts {
	bool json;		/* --json: machine-readable output */
	const char *meta;	/* --meta HOST:PORT of zbs-metad */
	const char *control;	/* --control PATH of the control device */
};

struct zbsctl_object {
	const char *name;
	const char *summary;	/* one line for `zbsctl --help` */
	/* argv[0] is the object name; returns an exit status above. */
	int (*run)(const struct zbsctl_opts *o, int argc, char **argv);
	struct zbsctl_object *next;
};

void zbsctl_register(struct zbsctl_object *obj);

#define ZBSCTL_OBJECT(var)						\
	static void __attribute__((constructor)) var##_register(void)	\
	{								\
		zbsctl_register(&var);					\
	}

/* True if argv[i] is -h or --help. */
bool zbsctl_is_help(const char *arg);

/* Print "zbsctl: <msg>" to stderr. */
void zbsctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
