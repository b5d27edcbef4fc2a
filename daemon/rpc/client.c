// SPDX-License-Identifier: GPL-2.0
/* Meta RPC: blocking client (one request in flight, or pipelined halves). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "meta.pb-c.h"
#include "rpc.h"

static void __attribute__((format(printf, 2, 3)))
seterr(struct zbs_rpc_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->owner_session = 0;
		err->owner_cid = 0;
	}
}

int zbs_rpc_connect(struct zbs_rpc_client *c, const char *hostport,
		    int timeout_ms, struct zbs_rpc_error *err)
{
	struct sockaddr_storage ss;
	unsigned int sslen;
	int fd, one = 1;

	c->fd = -1;
	c->next_id = 1;
	c->timeout_ms = timeout_ms;
	if (zbs_rpc_resolve(hostport, ZBS_META_DEFAULT_PORT, &ss, &sslen) < 0) {
		seterr(err, "bad meta address '%s' (want HOST:PORT)", hostport);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		seterr(err, "socket for %s: %s", hostport, strerror(errno));
		return -errno;
	}
	if (timeout_ms > 0) {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
		int e = errno == EINPROGRESS ? ETIMEDOUT : errno;
		seterr(err, "cannot reach zbs-metad at %s: %s", hostport, strerror(e));
		close(fd);
		return -e;
	}
	c->fd = fd;
	return 0;
}

void zbs_rpc_close(struct zbs_rpc_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -(errno == EAGAIN ? ETIMEDOUT : errno);
		}
		p += w;
		n -= w;
	}
	return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -(errno == EAGAIN ? ETIMEDOUT : errno);
		}
		p += r;
		n -= r;
	}
	return 0;
}

int zbs_rpc_send(struct zbs_rpc_client *c, uint16_t method,
		 const ProtobufCMessage *req, uint64_t *msg_id)
{
	size_t len = req ? protobuf_c_message_get_packed_size(req) : 0;
	uint8_t stackbuf[1024], *buf = stackbuf;
	struct zbs_rpc_hdr h = {
		.len = len, .service = ZBS_RPC_SVC_META, .method = method,
		.msg_id = c->next_id++, .timeout_ms = c->timeout_ms,
	};
	int ret;

	if (c->fd < 0)
		return -ENOTCONN;
	if (len > ZBS_RPC_MAX_BODY)
		return -EMSGSIZE;
	if (ZBS_RPC_HDR_LEN + len > sizeof(stackbuf)) {
		buf = malloc(ZBS_RPC_HDR_LEN + len);
		if (!buf)
			return -ENOMEM;
	}
	zbs_rpc_hdr_encode(&h, buf);
	if (req)
		protobuf_c_message_pack(req, buf + ZBS_RPC_HDR_LEN);
	ret = write_all(c->fd, buf, ZBS_RPC_HDR_LEN + len);
	if (buf != stackbuf)
		free(buf);
	if (msg_id)
		*msg_id = h.msg_id;
	return ret;
}

int zbs_rpc_recv(struct zbs_rpc_client *c, struct zbs_rpc_hdr *h, uint8_t **body)
{
	uint8_t hb[ZBS_RPC_HDR_LEN];
	int ret;

	*body = NULL;
	ret = read_all(c->fd, hb, sizeof(hb));
	if (ret)
		return ret;
	if (zbs_rpc_hdr_decode(hb, h) < 0 || !(h->flags & ZBS_RPC_F_REPLY))
		return -EPROTO;
	*body = malloc(h->len ? h->len : 1);
	if (!*body)
		return -ENOMEM;
	ret = read_all(c->fd, *body, h->len);
	if (ret) {
		free(*body);
		*body = NULL;
	}
	return ret;
}

int zbs_rpc_call(struct zbs_rpc_client *c, uint16_t method,
		 const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc,
		 ProtobufCMessage **resp, struct zbs_rpc_error *err)
{
	struct zbs_rpc_hdr h;
	uint64_t id;
	uint8_t *body;
	int ret;

	if (resp)
		*resp = NULL;
	ret = zbs_rpc_send(c, method, req, &id);
	if (!ret)
		ret = zbs_rpc_recv(c, &h, &body);
	if (!ret && h.msg_id != id) {
		free(body);
		ret = -EPROTO;
	}
	if (ret) {
		seterr(err, "%s: %s", zbs_meta_method_name(method), strerror(-ret));
		zbs_rpc_close(c);
		return ret;
	}
	if (h.status != ZBS_RPC_OK) {
		Zbs__ErrorReply *e = zbs__error_reply__unpack(NULL, h.len, body);
		if (err) {
			snprintf(err->msg, sizeof(err->msg), "%s",
				 e && e->message[0] ? e->message : zbs_rpc_status_name(h.status));
			err->owner_session = e ? e->owner_session : 0;
			err->owner_cid = e ? e->owner_cid : 0;
		}
		if (e)
			zbs__error_reply__free_unpacked(e, NULL);
		free(body);
		return h.status < ZBS_RPC__COUNT ? (int)h.status : ZBS_RPC_EINTERNAL;
	}
	if (resp_desc) {
		ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, NULL, h.len, body);
		if (!m) {
			free(body);
			seterr(err, "%s: cannot decode the reply", zbs_meta_method_name(method));
			zbs_rpc_close(c);
			return -EPROTO;
		}
		if (resp)
			*resp = m;
		else
			protobuf_c_message_free_unpacked(m, NULL);
	}
	free(body);
	return 0;
}
