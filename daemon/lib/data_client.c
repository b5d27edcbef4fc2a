// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "data_client.h"
#include "net.h"

#define RBUF_SIZE (64 * 1024)
#define SQ_IOV 256		/* queued iovecs before an automatic push */
#define SQ_BYTES (512 * 1024)

struct zbs_dc {
	int fd;
	uint64_t next_id;
	struct zbs_dc_op *inflight;	/* sent, no reply yet */
	struct zbs_dc_op *ready;	/* replied, not yet returned (FIFO) */
	struct zbs_dc_op **ready_tail;
	unsigned ninflight;
	uint8_t *rbuf;
	uint32_t rpos, rlen;
	struct iovec sq[SQ_IOV];	/* queued, not yet sent */
	int nsq;
	size_t sq_bytes;
};

int zbs_dc_connect(const char *host, uint16_t port, struct zbs_dc **out)
{
	return zbs_dc_connect_timeout(host, port, 0, out);
}

int zbs_dc_connect_timeout(const char *host, uint16_t port, unsigned ms, struct zbs_dc **out)
{
	struct zbs_dc *dc = calloc(1, sizeof(*dc));
	int fd;

	if (!dc)
		return -ENOMEM;
	dc->rbuf = malloc(RBUF_SIZE);
	if (!dc->rbuf) {
		free(dc);
		return -ENOMEM;
	}
	fd = zbs_tcp_connect_timeout(host, port, ms);
	if (fd < 0) {
		free(dc->rbuf);
		free(dc);
		return fd;
	}
	dc->fd = fd;
	dc->next_id = 1;
	dc->ready_tail = &dc->ready;
	if (ms) {
		int rc = zbs_dc_set_timeout(dc, ms);

		if (rc) {
			zbs_dc_close(dc);
			return rc;
		}
	}
	*out = dc;
	return 0;
}

void zbs_dc_close(struct zbs_dc *dc)
{
	if (!dc)
		return;
	close(dc->fd);
	free(dc->rbuf);
	free(dc);
}

int zbs_dc_set_timeout(struct zbs_dc *dc, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (setsockopt(dc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(dc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

unsigned zbs_dc_inflight(const struct zbs_dc *dc)
{
	return dc->ninflight;
}

int zbs_dc_fd(const struct zbs_dc *dc)
{
	return dc->fd;
}

int zbs_dc_buffered(const struct zbs_dc *dc)
{
	return dc->ready != NULL || dc->rpos < dc->rlen;
}

int zbs_dc_push(struct zbs_dc *dc)
{
	struct iovec *v = dc->sq;
	int n = dc->nsq;

	while (n > 0) {
		struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)n };
		ssize_t s = sendmsg(dc->fd, &m, MSG_NOSIGNAL);

		if (s < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		while (n > 0 && (size_t)s >= v->iov_len) {
			s -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + s;
			v->iov_len -= (size_t)s;
		}
	}
	dc->nsq = 0;
	dc->sq_bytes = 0;
	return 0;
}

int zbs_dc_submit(struct zbs_dc *dc, struct zbs_dc_op *op)
{
	bool payload = zbs_wire_op_has_payload(op->req.opcode) && op->req.length;
	int rc;

	if (dc->nsq + 2 > SQ_IOV) {
		rc = zbs_dc_push(dc);
		if (rc)
			return rc;
	}
	op->req.id = dc->next_id++;
	memset(&op->reply, 0, sizeof(op->reply));
	zbs_wire_encode_req(&op->req, &op->wire_);
	dc->sq[dc->nsq++] = (struct iovec){ &op->wire_, sizeof(op->wire_) };
	dc->sq_bytes += sizeof(op->wire_);
	if (payload) {
		dc->sq[dc->nsq++] = (struct iovec){ op->buf, op->req.length };
		dc->sq_bytes += op->req.length;
	}
	op->next_ = dc->inflight;
	dc->inflight = op;
	dc->ninflight++;
	if (dc->sq_bytes >= SQ_BYTES)
		return zbs_dc_push(dc);
	return 0;
}

/* Read exactly len bytes through the receive buffer. */
static int dc_read(struct zbs_dc *dc, void *dst, size_t len)
{
	char *p = dst;

	while (len) {
		size_t avail = dc->rlen - dc->rpos;
		ssize_t n;

		if (avail) {
			size_t k = avail < len ? avail : len;

			if (p)
				memcpy(p, dc->rbuf + dc->rpos, k);
			dc->rpos += (uint32_t)k;
			if (p)
				p += k;
			len -= k;
			continue;
		}
		if (dc->nsq) {		/* about to block: send what is queued */
			int rc = zbs_dc_push(dc);

			if (rc)
				return rc;
		}
		if (p && len >= RBUF_SIZE / 2) {	/* large payload: straight in */
			n = recv(dc->fd, p, len, 0);
			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
		} else {
			dc->rpos = dc->rlen = 0;
			n = recv(dc->fd, dc->rbuf, RBUF_SIZE, 0);
			if (n > 0) {
				dc->rlen = (uint32_t)n;
				continue;
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -ETIMEDOUT;
		return n == 0 ? -ECONNRESET : -errno;
	}
	return 0;
}

static uint32_t expected_payload(const struct zbs_dc_op *op)
{
	if (op->req.opcode == ZBS_OP_READ)
		return op->req.length;
	if (op->req.opcode == ZBS_OP_GET_BLOCK_MAP)
		return ZBS_WIRE_BLOCK_MAP_BYTES;
	return 0;
}

/* Receive one reply and move its op to the ready list. */
static int dc_recv_one(struct zbs_dc *dc)
{
	struct zbs_wire_reply w;
	struct zbs_reply r;
	struct zbs_dc_op **pp, *op;
	int rc;

	rc = dc_read(dc, &w, sizeof(w));
	if (rc)
		return rc;
	if (zbs_wire_decode_reply(&w, &r) != ZBS_ST_OK)
		return -EPROTO;
	for (pp = &dc->inflight; *pp; pp = &(*pp)->next_)
		if ((*pp)->req.id == r.id)
			break;
	op = *pp;
	if (!op) {
		/* a PROTO reply may not carry our id: the server closes next;
		 * id 0 BUSY: the server is at its connection limit */
		if (r.status == ZBS_ST_BUSY && !r.id)
			return -EBUSY;
		return r.status == ZBS_ST_PROTO ? -ECONNRESET : -EPROTO;
	}
	if (r.length && r.length != expected_payload(op))
		return -EPROTO;
	rc = dc_read(dc, op->buf, r.length);
	if (rc)
		return rc;
	*pp = op->next_;
	dc->ninflight--;
	op->reply = r;
	op->next_ = NULL;
	*dc->ready_tail = op;
	dc->ready_tail = &op->next_;
	return 0;
}

int zbs_dc_complete(struct zbs_dc *dc, struct zbs_dc_op **done)
{
	int rc;

	if (!dc->ready) {
		if (!dc->ninflight)
			return -EINVAL;
		rc = dc_recv_one(dc);
		if (rc)
			return rc;
	}
	*done = dc->ready;
	dc->ready = dc->ready->next_;
	if (!dc->ready)
		dc->ready_tail = &dc->ready;
	return 0;
}

int zbs_dc_call(struct zbs_dc *dc, struct zbs_dc_op *op)
{
	int rc = zbs_dc_submit(dc, op);

	if (rc)
		return rc;
	for (;;) {
		struct zbs_dc_op **pp;

		for (pp = &dc->ready; *pp; pp = &(*pp)->next_) {
			if (*pp == op) {
				*pp = op->next_;
				if (!*pp)
					dc->ready_tail = pp;
				return (int)op->reply.status;
			}
		}
		rc = dc_recv_one(dc);
		if (rc)
			return rc;
	}
}

static int call_fill(struct zbs_dc *dc, struct zbs_dc_op *op, struct zbs_reply *rep)
{
	int rc = zbs_dc_call(dc, op);

	if (rep)
		*rep = op->reply;
	return rc;
}

int zbs_dc_read(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
		uint64_t off, uint32_t len, void *buf, struct zbs_reply *rep)
{
	struct zbs_dc_op op = {
		.req = { .opcode = ZBS_OP_READ, .pid = pid, .epoch = epoch,
			 .lease_epoch = lease_epoch, .offset = off, .length = len },
		.buf = buf,
	};
	return call_fill(dc, &op, rep);
}

int zbs_dc_write(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
		 uint64_t gen, uint64_t off, uint32_t len, const void *buf, uint32_t flags,
		 struct zbs_reply *rep)
{
	struct zbs_dc_op op = {
		.req = { .opcode = ZBS_OP_WRITE, .pid = pid, .epoch = epoch, .flags = flags,
			 .lease_epoch = lease_epoch, .gen = gen, .offset = off, .length = len },
		.buf = (void *)buf,
	};
	return call_fill(dc, &op, rep);
}

int zbs_dc_write_zeroes(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
			uint64_t gen, uint64_t off, uint32_t len, uint32_t flags,
			struct zbs_reply *rep)
{
	struct zbs_dc_op op = {
		.req = { .opcode = ZBS_OP_WRITE_ZEROES, .pid = pid, .epoch = epoch,
			 .flags = flags, .lease_epoch = lease_epoch, .gen = gen, .offset = off,
			 .length = len },
	};
	return call_fill(dc, &op, rep);
}

int zbs_dc_recover_write(struct zbs_dc *dc, uint64_t pid, uint64_t epoch,
			 uint64_t lease_epoch, uint64_t off, uint32_t len, const void *buf,
			 uint32_t flags, struct zbs_reply *rep)
{
	struct zbs_dc_op op = {
		.req = { .opcode = ZBS_OP_RECOVER_WRITE, .pid = pid, .epoch = epoch,
			 .flags = flags, .lease_epoch = lease_epoch, .offset = off, .length = len },
		.buf = (void *)buf,
	};
	return call_fill(dc, &op, rep);
}

int zbs_dc_sync(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t lease_epoch,
		uint32_t flags, struct zbs_reply *rep)
{
	struct zbs_dc_op op = {
		.req = { .opcode = ZBS_OP_SYNC, .pid = pid, .epoch = epoch, .flags = flags,
			 .lease_epoch = lease_epoch },
	};
	return call_fill(dc, &op, rep);
}

int zbs_dc_block_map(struct zbs_dc *dc, uint64_t pid, uint64_t epoch,
		     uint8_t map[ZBS_WIRE_BLOCK_MAP_BYTES], struct zbs_reply *rep)
{
	struct zbs_dc_op op = {
		.req = { .opcode = ZBS_OP_GET_BLOCK_MAP, .pid = pid, .epoch = epoch },
		.buf = map,
	};
	return call_fill(dc, &op, rep);
}

int zbs_dc_block_map_since(struct zbs_dc *dc, uint64_t pid, uint64_t epoch, uint64_t since,
			   uint8_t map[ZBS_WIRE_BLOCK_MAP_BYTES], struct zbs_reply *rep)
{
	struct zbs_dc_op op = {
		.req = { .opcode = ZBS_OP_GET_BLOCK_MAP, .flags = ZBS_BF_SINCE, .pid = pid,
			 .epoch = epoch, .gen = since },
		.buf = map,
	};
	return call_fill(dc, &op, rep);
}

int zbs_dc_simple(struct zbs_dc *dc, uint16_t opcode, uint64_t pid, uint64_t epoch,
		  uint64_t lease_epoch, uint64_t gen, struct zbs_reply *rep)
{
	struct zbs_dc_op op = {
		.req = { .opcode = opcode, .pid = pid, .epoch = epoch,
			 .lease_epoch = lease_epoch, .gen = gen },
	};
	return call_fill(dc, &op, rep);
}
