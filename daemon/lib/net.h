/* SPDX-License-Identifier: GPL-2.0 */
/* TCP helpers shared by daemons and tools: address parsing, listen, connect. */
#ifndef ZBS_NET_H
#define ZBS_NET_H

#include <stddef.h>
#include <stdint.h>

/* zbs_parse_hostport flags */
#define ZBS_HP_ANY_HOST	1	/* ":PORT" (empty host) means host "0.0.0.0" */

/*
 * The parser of every "host:port" in ZBS. Accepts "HOST:PORT" and
 * "[V6]:PORT", the port a decimal 0-65535, and also:
 *   ":PORT"	as "0.0.0.0:PORT" with ZBS_HP_ANY_HOST (else refused);
 *   "PORT"	alone, as default_host:PORT, when default_host is non-NULL;
 *   "HOST"	alone, as HOST:default_port, when default_port is non-zero.
 * Returns 0, or -1 (also when the host does not fit in hostlen).
 */
int zbs_parse_hostport(const char *s, const char *default_host, uint16_t default_port,
		       unsigned int flags, char *host, size_t hostlen, uint16_t *port);

/*
 * The --port-file of the daemons: "PORT\n", written with zbs_replace_file
 * so a reader waiting for the file sees the whole port. 0, or -1 (errno).
 */
int zbs_write_port_file(const char *path, uint16_t port);

/* Listening TCP socket (SO_REUSEADDR, CLOEXEC); port 0 picks a free port,
 * returned in *bound. Returns the fd or -errno. */
int zbs_tcp_listen(const char *host, uint16_t port, int backlog, uint16_t *bound);

/* Connected TCP socket with TCP_NODELAY; -errno on failure. */
int zbs_tcp_connect(const char *host, uint16_t port);
/* The same, giving up after ms milliseconds (-ETIMEDOUT); ms 0 = no bound. */
int zbs_tcp_connect_timeout(const char *host, uint16_t port, unsigned ms);

/* Full send/recv loops (EINTR-safe, MSG_NOSIGNAL); 0, or -errno, or
 * -ECONNRESET when the peer closed. */
int zbs_send_all(int fd, const void *buf, size_t len);
int zbs_recv_all(int fd, void *buf, size_t len);

#endif
