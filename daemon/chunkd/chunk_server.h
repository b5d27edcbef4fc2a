/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The data port of zbs-chunkd: accepts TCP connections and serves the data
 * protocol (uapi/linux/zbs_wire.h) on them, one thread per connection
 * (connections run in parallel; requests on one connection are read ahead,
 * executed in arrival order and their replies sent in batches).
 */
#ifndef ZBS_CHUNKD_CHUNK_SERVER_H
#define ZBS_CHUNKD_CHUNK_SERVER_H

#include <stdbool.h>
#include <stdint.h>

struct chunk_iostat;

struct chunk_store;
struct chunk_server;

/*
 * Connections served at once by default: every node's kernel opens up to 8
 * per chunk and its agent a few more, so a hundred nodes fit. Beyond the
 * limit a connection is closed at once (the client retries).
 */
#define CHUNK_SERVER_MAX_CONNS 4096

/* Listen on host:port (port 0: any free port, see chunk_server_port());
 * max_conns 0 means CHUNK_SERVER_MAX_CONNS. */
int chunk_server_start(struct chunk_store *st, const char *host, uint16_t port,
		       unsigned max_conns, struct chunk_server **out);
uint16_t chunk_server_port(const struct chunk_server *srv);
/*
 * The latency of the client replica IO served (READ, WRITE, WRITE_ZEROES,
 * chunk_server.c says exactly what counts), averaged over the last 10 s:
 * what the failslow judge looks at. Valid until chunk_server_stop.
 */
struct chunk_iostat *chunk_server_iostat(struct chunk_server *srv);
/*
 * Recovery pacing (recover_gate.h): on from the start; off makes the
 * chunk serve recovery IO as fast as it comes (zbs-chunkd
 * --no-recover-pace). Thread-safe.
 */
void chunk_server_set_recover_pace(struct chunk_server *srv, bool on);
/*
 * Test-only fault (zbs-chunkd --inject-io-delay-ms): every client IO
 * waits ms before it runs (in its connection's thread; 0 = off), so the
 * chunk looks like a slow disk. Thread-safe.
 */
void chunk_server_inject_delay(struct chunk_server *srv, unsigned ms);
/* Close the port and every connection, wait for their threads. */
void chunk_server_stop(struct chunk_server *srv);

#endif
