// SPDX-License-Identifier: GPL-2.0
/*
 * Data-port server. Measured choice (see README, bench-chunk): one thread
 * per connection with synchronous preadv/pwritev-style IO on the page cache
 * beats an io_uring ring here because a buffered 4 KiB write completes in a
 * few microseconds; what costs is the socket round trip, which we amortize by
 * reading many requests per recv() and sending all their replies with one
 * sendmsg().
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "server.h"
#include "store.h"
#include "wire.h"

#define HDR		((uint32_t)sizeof(struct zbs_wire_req))
#define INBUF_SIZE	(ZBS_WIRE_MAX_IO + 256 * 1024)
#define ARENA_SIZE	(2 * ZBS_WIRE_MAX_IO)
#define MAX_REPLIES	256

struct conn {
	struct zbs_server *srv;
	int fd;
	pthread_t thread;
	bool done;			/* srv->lock */
	struct conn *next;		/* srv->lock */
};

struct zbs_server {
	struct zbs_store *st;
	int lfd;
	uint16_t port;
	pthread_t accept_thread;
	pthread_mutex_t lock;
	struct conn *conns;		/* lock */
	unsigned nconns;		/* lock */
	bool stopping;			/* lock */
};

struct out_reply {
	struct zbs_wire_reply hdr;
	const void *data;
	uint32_t len;
	bool mutating;
};

struct conn_state {
	struct conn *c;
	struct zbs_store_batch batch;
	uint8_t *in;
	uint32_t have, pos;
	uint8_t *arena;
	uint32_t arena_used;
	struct out_reply rep[MAX_REPLIES];
	unsigned nrep;
	struct iovec iov[2 * MAX_REPLIES];
};

static int send_iov(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)(n > 1024 ? 1024 : n) };
		ssize_t s = sendmsg(fd, &m, MSG_NOSIGNAL);

		if (s < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)s >= iov->iov_len) {
			s -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + s;
			iov->iov_len -= (size_t)s;
		}
	}
	return 0;
}

/* Commit the batch's metadata, then send every queued reply. */
static int flush_replies(struct conn_state *cs)
{
	int st = zbs_store_batch_commit(cs->c->srv->st, &cs->batch);
	int n = 0, rc;

	for (unsigned i = 0; i < cs->nrep; i++) {
		struct out_reply *o = &cs->rep[i];

		if (st != ZBS_ST_OK && o->mutating && o->hdr.status == 0) {
			/* not persisted: must not be acknowledged */
			o->hdr.status = htole32(ZBS_ST_IO);
			o->hdr.length = 0;
			o->len = 0;
		}
		cs->iov[n++] = (struct iovec){ &o->hdr, sizeof(o->hdr) };
		if (o->len)
			cs->iov[n++] = (struct iovec){ (void *)o->data, o->len };
	}
	rc = n ? send_iov(cs->c->fd, cs->iov, n) : 0;
	cs->nrep = 0;
	cs->arena_used = 0;
	return rc;
}

static void queue_reply(struct conn_state *cs, const struct zbs_reply *r, const void *data,
			bool mutating)
{
	struct out_reply *o = &cs->rep[cs->nrep++];

	zbs_wire_encode_reply(r, &o->hdr);
	o->data = data;
	o->len = r->status ? 0 : r->length;
	o->mutating = mutating;
}

static uint32_t out_need(const struct zbs_req *r)
{
	if (r->opcode == ZBS_OP_READ)
		return r->length;
	if (r->opcode == ZBS_OP_GET_BLOCK_MAP)
		return ZBS_WIRE_BLOCK_MAP_BYTES;
	return 0;
}

/*
 * Handle every complete frame in the input buffer. Returns 0 to go on, or
 * -1 when the connection must close (protocol error, send failure).
 */
static int process_frames(struct conn_state *cs)
{
	struct zbs_store *st = cs->c->srv->st;

	while (cs->have - cs->pos >= HDR) {
		struct zbs_wire_req w;
		struct zbs_req req;
		struct zbs_reply rep;
		uint32_t plen, need;
		int status;

		memcpy(&w, cs->in + cs->pos, HDR);
		status = zbs_wire_decode_req(&w, &req, &plen);
		if (status == ZBS_ST_PROTO) {
			memset(&rep, 0, sizeof(rep));
			rep.opcode = req.opcode;
			rep.id = req.id;
			rep.status = ZBS_ST_PROTO;
			log_warn("connection %d: bad frame (magic/version/length): closing", cs->c->fd);
			if (cs->nrep == MAX_REPLIES && flush_replies(cs) < 0)
				return -1;
			queue_reply(cs, &rep, NULL, false);
			flush_replies(cs);
			return -1;
		}
		if (cs->have - cs->pos - HDR < plen)
			break;		/* wait for the rest of the payload */
		status = zbs_wire_check_req(&req);
		need = status == ZBS_ST_OK ? out_need(&req) : 0;
		if (cs->nrep == MAX_REPLIES || cs->arena_used + need > ARENA_SIZE) {
			if (flush_replies(cs) < 0)
				return -1;
		}
		if (status != ZBS_ST_OK) {
			memset(&rep, 0, sizeof(rep));
			rep.opcode = req.opcode;
			rep.id = req.id;
			rep.status = (uint32_t)status;
			log_debug("connection %d: %s id %lu: %s", cs->c->fd,
				  zbs_wire_op_str(req.opcode), (unsigned long)req.id,
				  zbs_wire_status_str((uint32_t)status));
			queue_reply(cs, &rep, NULL, false);
		} else {
			uint8_t *out = cs->arena + cs->arena_used;

			zbs_store_exec(st, &cs->batch, &req, cs->in + cs->pos + HDR, out, &rep);
			if (rep.status == ZBS_ST_OK)
				cs->arena_used += rep.length;
			queue_reply(cs, &rep, out,
				    req.opcode != ZBS_OP_READ && req.opcode != ZBS_OP_GET_INFO &&
				    req.opcode != ZBS_OP_GET_BLOCK_MAP);
		}
		cs->pos += HDR + plen;
	}
	return 0;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct conn_state *cs = calloc(1, sizeof(*cs));

	if (!cs)
		goto out;
	cs->c = c;
	cs->in = malloc(INBUF_SIZE);
	cs->arena = malloc(ARENA_SIZE);
	if (!cs->in || !cs->arena)
		goto out;
	for (;;) {
		ssize_t n;

		if (process_frames(cs) < 0)
			break;
		if (cs->nrep && flush_replies(cs) < 0)
			break;
		if (cs->pos) {
			memmove(cs->in, cs->in + cs->pos, cs->have - cs->pos);
			cs->have -= cs->pos;
			cs->pos = 0;
		}
		n = recv(c->fd, cs->in + cs->have, INBUF_SIZE - cs->have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (cs->have)
				log_debug("connection %d: closed inside a frame (%u bytes dropped)",
					  c->fd, cs->have);
			break;
		}
		cs->have += (uint32_t)n;
	}
out:
	if (cs) {
		zbs_store_batch_commit(c->srv->st, &cs->batch);
		free(cs->in);
		free(cs->arena);
		free(cs);
	}
	shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_lock(&c->srv->lock);
	c->done = true;
	pthread_mutex_unlock(&c->srv->lock);
	return NULL;
}

/* Join and free finished connections. Caller holds srv->lock. */
static void reap_conns(struct zbs_server *srv, bool all)
{
	struct conn **pp = &srv->conns;

	while (*pp) {
		struct conn *c = *pp;

		if (!c->done && !all) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		srv->nconns--;
		pthread_mutex_unlock(&srv->lock);
		pthread_join(c->thread, NULL);
		close(c->fd);
		free(c);
		pthread_mutex_lock(&srv->lock);
	}
}

static void *accept_main(void *arg)
{
	struct zbs_server *srv = arg;

	for (;;) {
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			pthread_mutex_lock(&srv->lock);
			bool stop = srv->stopping;
			pthread_mutex_unlock(&srv->lock);
			if (stop)
				break;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept: %m");
				usleep(10000);
				continue;
			}
			log_err("accept: %m");
			break;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		pthread_mutex_lock(&srv->lock);
		reap_conns(srv, false);
		if (srv->stopping || srv->nconns >= ZBS_SERVER_MAX_CONNS) {
			pthread_mutex_unlock(&srv->lock);
			log_warn("too many connections (%d): refusing one", ZBS_SERVER_MAX_CONNS);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			pthread_mutex_unlock(&srv->lock);
			close(fd);
			continue;
		}
		c->srv = srv;
		c->fd = fd;
		if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
			pthread_mutex_unlock(&srv->lock);
			log_warn("cannot start a connection thread");
			close(fd);
			free(c);
			continue;
		}
		c->next = srv->conns;
		srv->conns = c;
		srv->nconns++;
		pthread_mutex_unlock(&srv->lock);
	}
	return NULL;
}

int zbs_server_start(struct zbs_store *st, const char *host, uint16_t port,
		     struct zbs_server **out)
{
	struct zbs_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return -ENOMEM;
	srv->st = st;
	pthread_mutex_init(&srv->lock, NULL);
	srv->lfd = zbs_tcp_listen(host, port, 128, &srv->port);
	if (srv->lfd < 0) {
		int rc = srv->lfd;

		log_err("cannot listen on %s:%u: %s", host, port, strerror(-rc));
		pthread_mutex_destroy(&srv->lock);
		free(srv);
		return rc;
	}
	if (pthread_create(&srv->accept_thread, NULL, accept_main, srv) != 0) {
		close(srv->lfd);
		pthread_mutex_destroy(&srv->lock);
		free(srv);
		return -EAGAIN;
	}
	*out = srv;
	return 0;
}

uint16_t zbs_server_port(const struct zbs_server *srv)
{
	return srv->port;
}

void zbs_server_stop(struct zbs_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	shutdown(srv->lfd, SHUT_RDWR);
	pthread_join(srv->accept_thread, NULL);
	close(srv->lfd);
	pthread_mutex_lock(&srv->lock);
	for (struct conn *c = srv->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	reap_conns(srv, true);
	pthread_mutex_unlock(&srv->lock);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
