/* SPDX-License-Identifier: GPL-2.0 */
/* zbs-metad network side (see server.c). */
#ifndef ZBS_META_SERVER_H
#define ZBS_META_SERVER_H

#include <sys/queue.h>
#include <uv.h>

#include "meta.h"
#include "store.h"

struct meta_conn;
struct meta_later;

struct meta_server {
	uv_loop_t *loop;
	uv_tcp_t listen;
	uv_check_t check;
	uv_idle_t idle;			/* runs while volumes are being created */
	TAILQ_HEAD(, meta_later) later;	/* replies waiting for them */
	uv_timer_t tick;
	uv_signal_t sigint, sigterm;
	struct meta m;
	struct meta_store *store;
	struct meta_conn *conns;
	unsigned int port;	/* bound port (listen on port 0 picks one) */
};

int meta_server_init(struct meta_server *srv, const struct meta_config *cfg, const char *datadir,
		const char *listen_addr);
void meta_server_run(struct meta_server *srv);
void meta_server_fini(struct meta_server *srv);

#endif
