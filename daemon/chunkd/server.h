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

#define ZBS_SERVER_MAX_CONNS 128

/* Listen on host:port (port 0: any free port, see zbs_server_port()). */
int zbs_server_start(struct zbs_store *st, const char *host, uint16_t port,
		     struct zbs_server **out);
uint16_t zbs_server_port(const struct zbs_server *srv);
/* Close the port and every connection, wait for their threads. */
void zbs_server_stop(struct zbs_server *srv);

#endif
