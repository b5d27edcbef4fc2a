// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

int zbs_parse_hostport(const char *s, const char *default_host, uint16_t default_port,
		       unsigned int flags, char *host, size_t hostlen, uint16_t *port)
{
	const char *h = s, *ps, *colon;	/* ps: the port's digits, NULL: default_port */
	size_t hl;
	uint64_t p = default_port;

	if (!s)
		return -1;
	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(end - h);
		ps = end + 2;
	} else if ((colon = strrchr(s, ':'))) {
		hl = (size_t)(colon - s);
		ps = colon + 1;
	} else if (default_host && isdigit((unsigned char)*s)) {
		h = default_host;
		hl = strlen(h);
		ps = s;
	} else if (default_port) {
		hl = strlen(s);
		ps = NULL;
	} else {
		return -1;
	}
	if (ps && zbs_parse_u64(ps, 0, 65535, &p) < 0)
		return -1;
	if (hl == 0) {
		if (!(flags & ZBS_HP_ANY_HOST))
			return -1;
		h = "0.0.0.0";
		hl = strlen(h);
	}
	if (hl >= hostlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (uint16_t)p;
	return 0;
}

int zbs_write_port_file(const char *path, uint16_t port)
{
	char text[8];

	snprintf(text, sizeof(text), "%u\n", port);
	return zbs_replace_file(path, text);
}

static int resolve(const char *host, uint16_t port, int passive, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char ps[8];

	hints.ai_flags = passive ? AI_PASSIVE : 0;
	snprintf(ps, sizeof(ps), "%u", port);
	return getaddrinfo(host, ps, &hints, res) ? -EADDRNOTAVAIL : 0;
}

int zbs_tcp_listen(const char *host, uint16_t port, int backlog, uint16_t *bound)
{
	struct addrinfo *res, *ai;
	int fd = -EADDRNOTAVAIL, one = 1;

	if (resolve(host, port, 1, &res) < 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fd = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			break;
		int e = -errno;
		close(fd);
		fd = e;
	}
	freeaddrinfo(res);
	if (fd >= 0 && bound) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		getsockname(fd, (struct sockaddr *)&ss, &sl);
		*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							: ((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

int zbs_tcp_connect(const char *host, uint16_t port)
{
	return zbs_tcp_connect_timeout(host, port, 0);
}

int zbs_tcp_connect_timeout(const char *host, uint16_t port, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 }, none = { 0, 0 };
	struct addrinfo *res, *ai;
	int fd = -EADDRNOTAVAIL, one = 1;

	if (resolve(host, port, 0, &res) < 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fd = -errno;
			continue;
		}
		/* SO_SNDTIMEO bounds a blocking connect() on Linux */
		if (ms)
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			if (ms)
				setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
			break;
		}
		int e = errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : -errno;
		close(fd);
		fd = e;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int zbs_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int zbs_recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
