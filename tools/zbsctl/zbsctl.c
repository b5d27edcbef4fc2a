// SPDX-License-Identifier: GPL-2.0
/* zbsctl: entry point, global options and object dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/zbs.h>

#include "zbsctl.h"

static struct zbsctl_object *objects;

void zbsctl_register(struct zbsctl_object *obj)
{
	struct zbsctl_object **p = &objects;

	/* keep the list sorted by name for the help text */
	while (*p && strcmp((*p)->name, obj->name) < 0)
		p = &(*p)->next;
	obj->next = *p;
	*p = obj;
}

bool zbsctl_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 ||
	       strcmp(arg, "help") == 0;
}

void zbsctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("zbsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zbsctl [OPTIONS] OBJECT [VERB] [ARGS]\n"
		"\n"
		"Administer ZBS: block devices through %s, the cluster\n"
		"through zbs-metad.\n"
		"\n"
		"Options:\n"
		"  -j, --json            machine-readable JSON output\n"
		"  -m, --meta HOST:PORT  zbs-metad address (default $ZBS_META or 127.0.0.1:10100)\n"
		"  -c, --control PATH    control device (default %s)\n"
		"  -h, --help            this help; `zbsctl OBJECT --help` for an object\n"
		"\n"
		"Objects:\n", ZBS_CONTROL_PATH, ZBS_CONTROL_PATH);
	for (struct zbsctl_object *o = objects; o; o = o->next)
		fprintf(f, "  %-12s %s\n", o->name, o->summary);
	fprintf(f,
		"\n"
		"Exit status: 0 ok, 1 failed, 2 usage error, 3 not found, 4 unavailable.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "meta", required_argument, NULL, 'm' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zbsctl_opts o = {
		.meta = getenv("ZBS_META") ? getenv("ZBS_META") : "127.0.0.1:10100",
		.control = ZBS_CONTROL_PATH,
	};
	int c;

	/* '+': stop at the first non-option, the object name */
	while ((c = getopt_long(argc, argv, "+jm:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'm':
			o.meta = optarg;
			break;
		case 'c':
			o.control = optarg;
			break;
		case 'h':
			usage(stdout);
			return ZBSCTL_OK;
		default:
			usage(stderr);
			return ZBSCTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return ZBSCTL_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		usage(stdout);
		return ZBSCTL_OK;
	}
	for (struct zbsctl_object *obj = objects; obj; obj = obj->next) {
		if (strcmp(obj->name, argv[optind]) == 0) {
			/* options may also follow the object: zbsctl volume list --json */
			int n = argc - optind;
			char **av = argv + optind;
			int out = 1;
			for (int i = 1; i < n; i++) {
				if (strcmp(av[i], "--json") == 0 || strcmp(av[i], "-j") == 0)
					o.json = true;
				else
					av[out++] = av[i];
			}
			av[out] = NULL;
			return obj->run(&o, out, av);
		}
	}
	zbsctl_err("unknown object '%s'; see 'zbsctl --help'", argv[optind]);
	return ZBSCTL_USAGE;
}
