/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The data port of zbs-chunkd: accepts TCP connections and serves the data
 * protocol (uapi/linux/zbs_wire.h) on them, one thread per connection
 * (connections run in parallel; requests on one connection are read ahead,
 * executed in arrival order and their replies sent in batches).
 */
#ifndef ZBS_CHUNKD_SERVER_H
#define ZBS_CHUNKD_SERVER_H

#include <stdint.h>

struct zbs_store;
struct zbs_server;

/*
 * Connections served at once by default: every node's kernel opens up to 8
 * per chunk and its agent a few more, so a hundred nodes fit. Beyond the
 * limit a connection is closed at once (the client retries).
 */
#define ZBS_SERVER_MAX_CONNS 4096

/* Listen on host:port (port 0: any free port, see zbs_server_port());
 * max_conns 0 means ZBS_SERVER_MAX_CONNS. */
int zbs_server_start(struct zbs_store *st, const char *host, uint16_t port,
		     unsigned max_conns, struct zbs_server **out);
uint16_t zbs_server_port(const struct zbs_server *srv);
/* Close the port and every connection, wait for their threads. */
void zbs_server_stop(struct zbs_server *srv);

#endif
