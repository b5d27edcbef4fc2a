// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-metad network side: one libuv loop, TCP connections speaking the
 * frame of rpc.h, a periodic tick for session expiry and pextent scans.
 *
 * Replies are queued per connection while requests are handled; the check
 * phase of every loop iteration commits the store transaction and only then
 * writes the queued replies (group commit: one fsync for every request
 * handled in the iteration).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "handlers.h"
#include "log.h"
#include "keepalive.h"
#include "meta.h"
#include "owner.h"
#include "provision.h"
#include "meta.pb-c.h"
#include "server.h"
#include "util.h"

struct meta_conn {
	uv_tcp_t tcp;
	struct meta_server *srv;
	struct meta_conn *next, **pprev;
	uint8_t *in;
	size_t inlen, incap;
	uint8_t *out;			/* replies being queued */
	size_t outlen, outcap;
	uint8_t *wbuf;			/* replies being written */
	size_t wcap;
	uv_write_t wreq;
	bool writing, closing;
	bool paused;			/* reading stopped: too much queued for it */
	char peer[64];
};

/*
 * A client that sends requests but does not read its replies must not make
 * metad queue them without bound: past this many bytes of replies queued
 * and not yet written, its requests stay unread (in the socket, then in the
 * client's own send buffer) until the replies drain.
 */
#define META_CONN_OUT_MAX (8U << 20)

/* a reply sent when its volume's extents are all allocated */
struct meta_later {
	struct meta_conn *c;		/* NULL once the connection is gone */
	struct zbs_rpc_hdr req;
	struct meta_volume *v;
	TAILQ_ENTRY(meta_later) link;
};

struct meta_reply {
	struct meta_conn *c;
	const struct zbs_rpc_hdr *req;
};

static void clock_now(struct meta *m)
{
	meta_set_clock(m, zbs_now_ns(), zbs_wall_ns());
}

static void out_append(struct meta_conn *c, const struct zbs_rpc_hdr *h,
		       const ProtobufCMessage *msg)
{
	size_t need = c->outlen + ZBS_RPC_HDR_LEN + h->len;

	if (need > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		while (cap < need)
			cap *= 2;
		c->out = realloc(c->out, cap);
		if (!c->out)
			abort();
		c->outcap = cap;
	}
	zbs_rpc_hdr_encode(h, c->out + c->outlen);
	protobuf_c_message_pack(msg, c->out + c->outlen + ZBS_RPC_HDR_LEN);
	c->outlen = need;
}

static void reply_hdr(struct zbs_rpc_hdr *h, const struct zbs_rpc_hdr *req, uint32_t status,
		      size_t len)
{
	*h = (struct zbs_rpc_hdr){
		.len = len, .service = req->service, .method = req->method, .status = status,
		.msg_id = req->msg_id, .flags = ZBS_RPC_F_REPLY,
	};
}

int meta_reply_msg(struct meta_reply *r, const ProtobufCMessage *msg)
{
	struct zbs_rpc_hdr h;

	reply_hdr(&h, r->req, ZBS_RPC_OK, protobuf_c_message_get_packed_size(msg));
	out_append(r->c, &h, msg);
	return 0;
}

static void reply_err(struct meta_conn *c, const struct zbs_rpc_hdr *req, const struct merr *e)
{
	Zbs__ErrorReply er = ZBS__ERROR_REPLY__INIT;
	struct zbs_rpc_hdr h;

	er.message = (char *)e->msg;
	er.owner_session = e->owner_session;
	er.owner_cid = e->owner_cid;
	reply_hdr(&h, req, e->status ? e->status : ZBS_RPC_EINTERNAL,
		  protobuf_c_message_get_packed_size(&er.base));
	out_append(c, &h, &er.base);
}

static void on_close(uv_handle_t *h)
{
	struct meta_conn *c = h->data;

	free(c->in);
	free(c->out);
	free(c->wbuf);
	free(c);
}

static void conn_close(struct meta_conn *c, const char *why)
{
	struct meta_later *l;

	if (c->closing)
		return;
	c->closing = true;
	TAILQ_FOREACH(l, &c->srv->later, link)
		if (l->c == c)
			l->c = NULL;	/* the work goes on, the reply nowhere */
	if (why)
		log_warn("closing connection from %s: %s", c->peer, why);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void flush(struct meta_conn *c);
static void process(struct meta_conn *c);
static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
	struct meta_conn *c = req->data;

	c->writing = false;
	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	if (c->outlen && !c->closing) {
		/* replies queued since: make their changes durable, then send */
		meta_store_commit(c->srv->store);
		flush(c);
	}
	if (c->paused && !c->closing && c->outlen < META_CONN_OUT_MAX) {
		c->paused = false;
		process(c);	/* the requests read before the pause */
		if (!c->closing && !c->paused)
			uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	}
}

static void flush(struct meta_conn *c)
{
	uv_buf_t b;
	uint8_t *t;
	size_t tc;
	int rc;

	if (c->writing || !c->outlen || c->closing)
		return;
	/* swap the queue into the write buffer */
	t = c->wbuf;
	c->wbuf = c->out;
	c->out = t;
	tc = c->outcap;
	c->outcap = c->wcap;
	c->wcap = tc;
	b = uv_buf_init((char *)c->wbuf, c->outlen);
	c->outlen = 0;
	c->writing = true;
	c->wreq.data = c;
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc < 0) {
		c->writing = false;
		conn_close(c, uv_strerror(rc));
	}
}

static void handle(struct meta_conn *c, const struct zbs_rpc_hdr *h, const uint8_t *body)
{
	struct meta *m = &c->srv->m;
	struct merr e = { 0 };
	const struct meta_method *mt;
	ProtobufCMessage *req;

	if (h->flags & ZBS_RPC_F_REPLY) {
		conn_close(c, "reply frame sent to the server");
		return;
	}
	if (h->service != ZBS_RPC_SVC_META || h->method == 0 || h->method >= ZBS_M__COUNT ||
	    !meta_methods[h->method].fn) {
		merr_set(&e, ZBS_RPC_EUNSUPP, "unknown service %u method %u", h->service, h->method);
		reply_err(c, h, &e);
		return;
	}
	mt = &meta_methods[h->method];
	req = protobuf_c_message_unpack(mt->req, NULL, h->len, body);
	if (!req) {
		merr_set(&e, ZBS_RPC_EINVAL, "cannot decode the %s request (%u bytes)",
			 zbs_meta_method_name(h->method), h->len);
		reply_err(c, h, &e);
		return;
	}
	clock_now(m);
	struct meta_reply r = { c, h };
	if (mt->fn(m, req, &r, &e) < 0) {
		log_debug("%s from %s: %s", zbs_meta_method_name(h->method), c->peer, e.msg);
		reply_err(c, h, &e);
	}
	protobuf_c_message_free_unpacked(req, NULL);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct meta_conn *c = hd->data;

	if (c->incap - c->inlen < 65536) {
		size_t cap = c->incap ? c->incap * 2 : 131072;
		c->in = realloc(c->in, cap);
		if (!c->in)
			abort();
		c->incap = cap;
	}
	*buf = uv_buf_init((char *)c->in + c->inlen, c->incap - c->inlen);
}

/* handle the whole frames read, until the replies queued reach the bound */
static void process(struct meta_conn *c)
{
	size_t off = 0;

	while (!c->closing && c->inlen - off >= ZBS_RPC_HDR_LEN) {
		struct zbs_rpc_hdr h;
		if (c->outlen >= META_CONN_OUT_MAX) {
			if (!c->paused)
				log_debug("%s: %zu bytes of replies queued: reading paused",
					  c->peer, c->outlen);
			c->paused = true;
			uv_read_stop((uv_stream_t *)&c->tcp);
			break;
		}
		if (zbs_rpc_hdr_decode(c->in + off, &h) < 0) {
			conn_close(c, "malformed frame header");
			return;
		}
		if (c->inlen - off < ZBS_RPC_HDR_LEN + h.len)
			break;
		handle(c, &h, c->in + off + ZBS_RPC_HDR_LEN);
		off += ZBS_RPC_HDR_LEN + h.len;
	}
	if (c->closing)
		return;
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	/* a big buffer left behind by one large frame is given back */
	if (c->incap > (1U << 20) && c->inlen < 65536) {
		c->in = realloc(c->in, 131072);
		c->incap = 131072;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct meta_conn *c = s->data;

	(void)buf;
	if (nread < 0) {
		conn_close(c, nread == UV_EOF ? NULL : uv_strerror(nread));
		return;
	}
	c->inlen += nread;
	process(c);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct meta_server *srv = ls->data;
	struct meta_conn *c;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->srv = srv;
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	c->next = srv->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &srv->conns;
	srv->conns = c;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c, "accept failed");
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	snprintf(c->peer, sizeof(c->peer), "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		char ip[32];
		uv_ip4_name(sin, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(sin->sin_port));
	}
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_idle(uv_idle_t *h)
{
	struct meta_server *srv = h->data;
	struct meta_later *l, *n;

	clock_now(&srv->m);
	for (l = TAILQ_FIRST(&srv->later); l; l = n) {
		struct merr e = { 0 };
		int rc;

		n = TAILQ_NEXT(l, link);
		rc = meta_volume_create_step(&srv->m, l->v, META_CREATE_SLICE, &e);
		if (rc > 0)
			continue;
		if (l->c) {
			struct meta_reply r = { l->c, &l->req };
			if (rc == 0)
				meta_reply_volume(&r, l->v);
			else
				reply_err(l->c, &l->req, &e);
		}
		TAILQ_REMOVE(&srv->later, l, link);
		free(l);
	}
	if (TAILQ_EMPTY(&srv->later))
		uv_idle_stop(&srv->idle);
}

int meta_reply_later(struct meta_reply *r, struct meta_volume *v)
{
	struct meta_server *srv = r->c->srv;
	struct meta_later *l = calloc(1, sizeof(*l));

	if (!l)
		abort();
	l->c = r->c;
	l->req = *r->req;
	l->v = v;
	TAILQ_INSERT_TAIL(&srv->later, l, link);
	uv_idle_start(&srv->idle, on_idle);	/* the loop does not sleep meanwhile */
	return 0;
}

static void on_check(uv_check_t *h)
{
	struct meta_server *srv = h->data;

	meta_store_commit(srv->store);
	for (struct meta_conn *c = srv->conns, *n; c; c = n) {
		n = c->next;
		flush(c);
	}
}

static uint64_t tick_ms(const struct meta_config *cfg)
{
	return cfg->session_lease_ms / 20 ? cfg->session_lease_ms / 20 : 1;
}

static void on_tick(uv_timer_t *t)
{
	struct meta_server *srv = t->data;
	struct meta *m = &srv->m;

	clock_now(m);
	meta_tick(m, tick_ms(&m->core.cfg) * 1000000);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct meta_server *srv = s->data;

	log_info("signal %d: shutting down", signum);
	uv_stop(srv->loop);
}

int meta_server_init(struct meta_server *srv, const struct meta_config *cfg, const char *datadir,
		const char *listen_addr)
{
	char err[256];
	struct sockaddr_storage ss;
	unsigned int sslen;
	struct sockaddr_in sin;
	int namelen = sizeof(sin), rc;

	memset(srv, 0, sizeof(*srv));
	srv->loop = uv_default_loop();
	TAILQ_INIT(&srv->later);
	meta_init(&srv->m, cfg);
	clock_now(&srv->m);
	if (meta_store_open(&srv->store, datadir, err, sizeof(err))) {
		log_err("%s", err);
		return -1;
	}
	if (meta_load(&srv->m, srv->store))
		return -1;
	/* the time the load takes counts as a stall: sessions reused from the
	 * store do not run out before their chunks can reach us */
	srv->m.core.last_tick_ns = srv->m.core.now_ns;
	meta_revokes_reload(&srv->m);	/* pending revokes are sent again */
	if (zbs_rpc_resolve(listen_addr, ZBS_META_DEFAULT_PORT, &ss, &sslen)) {
		log_err("bad listen address '%s'", listen_addr);
		return -1;
	}
	uv_tcp_init(srv->loop, &srv->listen);
	srv->listen.data = srv;
	if ((rc = uv_tcp_bind(&srv->listen, (struct sockaddr *)&ss, 0)) ||
	    (rc = uv_listen((uv_stream_t *)&srv->listen, 128, on_connection))) {
		log_err("cannot listen on %s: %s", listen_addr, uv_strerror(rc));
		return -1;
	}
	uv_tcp_getsockname(&srv->listen, (struct sockaddr *)&sin, &namelen);
	srv->port = ntohs(sin.sin_port);
	uv_idle_init(srv->loop, &srv->idle);
	srv->idle.data = srv;
	uv_check_init(srv->loop, &srv->check);
	srv->check.data = srv;
	uv_check_start(&srv->check, on_check);
	uv_timer_init(srv->loop, &srv->tick);
	srv->tick.data = srv;
	uv_timer_start(&srv->tick, on_tick, tick_ms(cfg), tick_ms(cfg));
	uv_signal_init(srv->loop, &srv->sigint);
	uv_signal_init(srv->loop, &srv->sigterm);
	srv->sigint.data = srv->sigterm.data = srv;
	uv_signal_start(&srv->sigint, on_signal, SIGINT);
	uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
	return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h->data != arg) {
		conn_close(h->data, NULL);	/* a connection */
		return;
	}
	uv_close(h, NULL);
}

void meta_server_run(struct meta_server *srv)
{
	uv_run(srv->loop, UV_RUN_DEFAULT);
}

void meta_server_fini(struct meta_server *srv)
{
	struct meta_later *l;

	while ((l = TAILQ_FIRST(&srv->later))) {	/* the load frees what they had */
		TAILQ_REMOVE(&srv->later, l, link);
		free(l);
	}
	meta_flush_keepalives(&srv->m);
	meta_store_commit(srv->store);
	uv_walk(srv->loop, close_walk, srv);
	uv_run(srv->loop, UV_RUN_DEFAULT);
	uv_loop_close(srv->loop);
	srv->m.core.store = NULL;
	meta_store_close(srv->store);
	meta_free(&srv->m);
}
