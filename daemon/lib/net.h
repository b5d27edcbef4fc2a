/* SPDX-License-Identifier: GPL-2.0 */
/* TCP helpers shared by daemons and tools: address parsing, listen, connect. */
#ifndef ZBS_NET_H
#define ZBS_NET_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse "HOST:PORT", "[V6]:PORT" or ":PORT" (host "0.0.0.0"), or "PORT"
 * alone when default_host is non-NULL. Returns 0 or -1.
 */
int zbs_parse_hostport(const char *s, const char *default_host, char *host, size_t hostlen,
		       uint16_t *port);

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
