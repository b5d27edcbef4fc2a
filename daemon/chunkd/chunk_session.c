// SPDX-License-Identifier: GPL-2.0
/* Chunk side of the meta session: see chunk_session.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "meta.pb-c.h"
#include "chunk_session.h"
#include "rpc.h"
#include "util.h"

/* data report, revoke, GC, revoke acknowledgements, delta reports */
#define MS_CAPS 31ULL
#define CAP_REPORT_DELTA 16ULL
#define CAP_RECOVER 32ULL		/* with ops.recover */
#define MAX_PROGRESS 256		/* progress entries per keepalive */

struct id_set {
	uint64_t *ids;
	size_t n, cap;
};

struct chunk_session {
	struct chunk_session_config cfg;
	struct chunk_session_ops ops;
	char meta_addr[128], uuid[40], data_addr[64], rpc_addr[64];
	pthread_t thread;
	uv_loop_t loop;
	uv_timer_t timer;
	uv_async_t stop;
	uv_async_t kick;		/* chunk_session_report_soon() */
	uv_timer_t kick_timer;		/* coalesces kicks into one keepalive */
	struct zbs_rpc_client rpc;
	pthread_mutex_t lock;		/* protects the fields below */
	uint32_t cid;
	uint64_t sid;
	enum chunk_session_state state;
	uint64_t negotiated;
	uint64_t lease_until_ns;	/* our view of the session lease */
	struct id_set rv_busy;		/* revokes being done */
	struct id_set rv_acks;		/* revokes done, to acknowledge */
	struct id_set rc_acks;		/* recover cmds received, to acknowledge */
	/* thread-private */
	uint32_t lease_ms, keepalive_ms, rounds;
	Zbs__ReplicaReport *reps;	/* this round's replicas, sorted by pid */
	Zbs__ReplicaReport **repp;	/* what goes out: all, or the changes */
	size_t nreps, capreps;
	/* delta reports (CAP_REPORT_DELTA): the report meta holds (acked_seq,
	 * 0 = none: the next one is full) and its replicas, sorted by pid */
	struct report_entry { uint64_t pid, epoch, gen; } *acked, *sent;
	size_t nacked, nsent;
	uint64_t acked_seq, report_seq, last_full_ns;
	uint32_t full_report_ms;	/* meta's: a full report at least this often */
	uint64_t *removed;
	size_t capremoved;
	Zbs__RecoverProgress *progress;	/* this keepalive's, while it is sent */
};

static bool id_has(const struct id_set *x, uint64_t id)
{
	for (size_t i = 0; i < x->n; i++)
		if (x->ids[i] == id)
			return true;
	return false;
}

static void id_add(struct id_set *x, uint64_t id)
{
	if (id_has(x, id))
		return;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		uint64_t *p = realloc(x->ids, cap * sizeof(*p));
		if (!p) {
			log_err("meta session: out of memory: revoke %llu not acknowledged",
				(unsigned long long)id);
			return;		/* meta sends it again */
		}
		x->ids = p;
		x->cap = cap;
	}
	x->ids[x->n++] = id;
}

static void id_del(struct id_set *x, uint64_t id)
{
	for (size_t i = 0; i < x->n; i++)
		if (x->ids[i] == id) {
			x->ids[i] = x->ids[--x->n];
			return;
		}
}

static void set_state(struct chunk_session *s, enum chunk_session_state st)
{
	static const char *const n[] = { "Init", "KeepAlive", "Jeopardy", "Expired" };

	pthread_mutex_lock(&s->lock);
	if (s->state != st)
		log_info("meta session %llu: %s -> %s", (unsigned long long)s->sid, n[s->state], n[st]);
	s->state = st;
	pthread_mutex_unlock(&s->lock);
}

static void notify_lease(struct chunk_session *s)
{
	if (s->ops.lease)
		s->ops.lease(s->ops.lease_arg, chunk_session_lease_left_ms(s));
}

static bool ensure_connected(struct chunk_session *s)
{
	struct zbs_rpc_error err;

	if (s->rpc.fd >= 0)
		return true;
	if (zbs_rpc_connect(&s->rpc, s->meta_addr, s->cfg.rpc_timeout_ms, &err)) {
		log_debug("meta session: %s", err.msg);
		return false;
	}
	return true;
}

static int do_register(struct chunk_session *s)
{
	Zbs__RegisterChunkRequest req = ZBS__REGISTER_CHUNK_REQUEST__INIT;
	Zbs__RegisterChunkResponse *resp;
	struct zbs_rpc_error err;
	int rc;

	req.uuid = s->uuid;
	req.data_addr = s->data_addr;
	req.rpc_addr = s->rpc_addr;
	rc = zbs_rpc_call(&s->rpc, ZBS_M_REGISTER_CHUNK, &req.base,
			  &zbs__register_chunk_response__descriptor, (ProtobufCMessage **)&resp, &err);
	if (rc) {
		log_warn("meta session: register: %s", err.msg);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	s->cid = resp->chunk->cid;
	pthread_mutex_unlock(&s->lock);
	log_info("meta session: registered as chunk %u", resp->chunk->cid);
	zbs__register_chunk_response__free_unpacked(resp, NULL);
	return 0;
}

static int do_create(struct chunk_session *s)
{
	Zbs__CreateSessionRequest req = ZBS__CREATE_SESSION_REQUEST__INIT;
	Zbs__CreateSessionResponse *resp;
	struct zbs_rpc_error err;
	uint64_t t0 = zbs_now_ns();
	int rc;

	req.cid = s->cid;
	req.uuid = s->uuid;
	req.capabilities = s->cfg.capabilities;
	rc = zbs_rpc_call(&s->rpc, ZBS_M_CREATE_SESSION, &req.base,
			  &zbs__create_session_response__descriptor, (ProtobufCMessage **)&resp, &err);
	if (rc) {
		log_warn("meta session: create: %s", err.msg);
		if (rc == ZBS_RPC_ENOENT || rc == ZBS_RPC_EINVAL) {
			pthread_mutex_lock(&s->lock);
			s->cid = 0;	/* meta forgot us: register again */
			pthread_mutex_unlock(&s->lock);
		}
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	s->sid = resp->session_id;
	/* negotiated once before the first keepalive (SPEC 2.3) */
	s->negotiated = resp->negotiation ? resp->negotiation->negotiated : 0;
	pthread_mutex_unlock(&s->lock);
	s->lease_ms = resp->lease_ms;
	s->keepalive_ms = resp->keepalive_ms ? resp->keepalive_ms : resp->lease_ms / 4;
	pthread_mutex_lock(&s->lock);
	s->lease_until_ns = t0 + (uint64_t)s->lease_ms * 1000000;
	pthread_mutex_unlock(&s->lock);
	notify_lease(s);
	uv_timer_set_repeat(&s->timer, s->keepalive_ms ? s->keepalive_ms : 1);
	log_info("meta session: session %llu created (lease %u ms, negotiated 0x%llx)",
		 (unsigned long long)resp->session_id, s->lease_ms,
		 (unsigned long long)s->negotiated);
	zbs__create_session_response__free_unpacked(resp, NULL);
	set_state(s, CHUNK_SESSION_KEEPALIVE);
	return 0;
}

static int emit_replica(const struct chunk_session_replica *r, void *ctx)
{
	struct chunk_session *s = ctx;

	if (s->nreps == s->capreps) {
		size_t cap = s->capreps ? s->capreps * 2 : 256;
		Zbs__ReplicaReport *n = realloc(s->reps, cap * sizeof(*n));
		if (!n)
			return -1;
		s->reps = n;
		s->capreps = cap;
	}
	zbs__replica_report__init(&s->reps[s->nreps]);
	s->reps[s->nreps].pid = r->pid;
	s->reps[s->nreps].epoch = r->epoch;
	s->reps[s->nreps].gen = r->gen;
	s->nreps++;
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	const Zbs__ReplicaReport *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/*
 * This round's report in req: every replica, or, when meta holds one of
 * ours and a full one is not due, the replicas new or changed since it and
 * the pids gone since. What was sent is kept to become the acknowledged
 * report. -1: no report this round (out of memory).
 */
static int build_report(struct chunk_session *s, Zbs__KeepAliveRequest *req)
{
	uint64_t now = zbs_now_ns();
	bool delta = (s->negotiated & CAP_REPORT_DELTA) && s->acked_seq && s->full_report_ms &&
		     now - s->last_full_ns < (uint64_t)s->full_report_ms * 1000000;
	size_t n = 0, nrm = 0, j = 0;
	struct report_entry *sent;

	if (s->nreps)
		qsort(s->reps, s->nreps, sizeof(*s->reps), by_pid);
	s->repp = realloc(s->repp, (s->nreps + 1) * sizeof(*s->repp));
	sent = realloc(s->sent, (s->nreps + 1) * sizeof(*sent));
	if (sent)
		s->sent = sent;
	if (!s->repp || !sent)
		return -1;
	if (delta && s->nacked > s->capremoved) {
		uint64_t *rm = realloc(s->removed, s->nacked * sizeof(*rm));
		if (!rm)
			return -1;
		s->removed = rm;
		s->capremoved = s->nacked;
	}
	for (size_t i = 0; i < s->nreps; i++) {
		const Zbs__ReplicaReport *r = &s->reps[i];

		s->sent[i] = (struct report_entry){ r->pid, r->epoch, r->gen };
		if (!delta) {
			s->repp[n++] = &s->reps[i];
			continue;
		}
		while (j < s->nacked && s->acked[j].pid < r->pid)
			s->removed[nrm++] = s->acked[j++].pid;	/* gone since */
		if (j < s->nacked && s->acked[j].pid == r->pid) {
			if (s->acked[j].epoch != r->epoch || s->acked[j].gen != r->gen)
				s->repp[n++] = &s->reps[i];	/* changed */
			j++;
		} else {
			s->repp[n++] = &s->reps[i];		/* new */
		}
	}
	while (delta && j < s->nacked)
		s->removed[nrm++] = s->acked[j++].pid;
	s->nsent = s->nreps;
	req->has_data_report = 1;
	req->n_replicas = n;
	req->replicas = s->repp;
	req->report_seq = ++s->report_seq;
	req->report_base = delta ? s->acked_seq : 0;
	req->n_removed = nrm;
	req->removed = nrm ? s->removed : NULL;
	log_debug("meta session: data report %llu: %s, %zu replica(s), %zu removed",
		  (unsigned long long)req->report_seq, delta ? "delta" : "full", n, nrm);
	return 0;
}

/* meta answered the report in req */
static void report_acked(struct chunk_session *s, const Zbs__KeepAliveRequest *req,
			 const Zbs__KeepAliveResponse *resp, uint64_t t0)
{
	struct report_entry *t;

	s->full_report_ms = resp->full_report_ms;
	if (!req->has_data_report)
		return;
	if (resp->report_ack != req->report_seq) {
		s->acked_seq = 0;	/* meta holds none of ours: a full one next */
		return;
	}
	t = s->acked;
	s->acked = s->sent;
	s->nacked = s->nsent;
	s->sent = t;
	s->acked_seq = req->report_seq;
	if (!req->report_base)
		s->last_full_ns = t0;
}

static void lost_session(struct chunk_session *s, const char *why)
{
	log_warn("meta session %llu lost: %s; its leases are dropped", (unsigned long long)s->sid,
		 why);
	set_state(s, CHUNK_SESSION_EXPIRED);
	s->acked_seq = 0;	/* the next session starts with a full report */
	pthread_mutex_lock(&s->lock);
	s->sid = 0;
	s->lease_until_ns = 0;
	s->rv_busy.n = s->rv_acks.n = 0;	/* the session's revokes died with it */
	s->rc_acks.n = 0;			/* and its recover cmds (meta ends them) */
	pthread_mutex_unlock(&s->lock);
	notify_lease(s);
	if (s->ops.revoke)
		s->ops.revoke(s->ops.revoke_arg, CHUNK_SESSION_REVOKE_ALL, "", 0, 0);
}

/* A CMD_RECOVER as the executor takes it: copied as is, judged there. */
static void parse_recover(const Zbs__Command *c, struct chunk_session_recover *out)
{
	const Zbs__RecoverCmd *r = c->recover;

	memset(out, 0, sizeof(*out));
	out->id = c->id;
	if (!r)
		return;
	out->present = true;
	out->pid = r->pid;
	out->epoch = r->epoch;
	out->lease_epoch = r->lease_epoch;
	out->meta_gen = r->meta_gen;
	out->src_cid = r->src_cid;
	out->dst_cid = r->dst_cid;
	out->replace_cid = r->replace_cid;
	/* too long to be an address: left empty, refused as missing */
	if (r->src_addr && strlen(r->src_addr) < sizeof(out->src_addr))
		snprintf(out->src_addr, sizeof(out->src_addr), "%s", r->src_addr);
	if (r->dst_addr && strlen(r->dst_addr) < sizeof(out->dst_addr))
		snprintf(out->dst_addr, sizeof(out->dst_addr), "%s", r->dst_addr);
	out->is_migrate = r->is_migrate;
	out->thick = r->thick;
	out->agile = r->agile;
	out->since_gen = r->since_gen;
}

static void handle_recover(struct chunk_session *s, const Zbs__Command *c)
{
	struct chunk_session_recover rc;

	if (!c->id) {
		/* nothing to acknowledge or to answer with: meta's bug */
		log_warn("meta session: recover cmd without an id ignored (pid %llu)",
			 (unsigned long long)(c->recover ? c->recover->pid : 0));
		return;
	}
	if (!s->ops.recover) {
		log_warn("meta session: recover cmd %llu ignored: recovery not negotiated",
			 (unsigned long long)c->id);
		return;
	}
	parse_recover(c, &rc);
	pthread_mutex_lock(&s->lock);
	id_add(&s->rc_acks, c->id);	/* received: meta stops sending it */
	pthread_mutex_unlock(&s->lock);
	s->ops.recover(s->ops.recover_arg, &rc);
}

static void handle_commands(struct chunk_session *s, Zbs__KeepAliveResponse *r)
{
	size_t ngc = 0;

	for (size_t i = 0; i < r->n_commands; i++) {
		Zbs__Command *c = r->commands[i];
		switch (c->type) {
		case ZBS__COMMAND_TYPE__CMD_GC_DELETE:
			log_debug("meta session: GC delete pid %llu epoch %llu",
				  (unsigned long long)c->pid, (unsigned long long)c->epoch);
			if (s->ops.delete_replica)
				s->ops.delete_replica(s->ops.arg, c->pid, c->epoch);
			ngc++;
			break;
		case ZBS__COMMAND_TYPE__CMD_REVOKE_VOLUME:
		case ZBS__COMMAND_TYPE__CMD_REVOKE_PID:
		case ZBS__COMMAND_TYPE__CMD_REVOKE_ALL:
			if (c->id) {
				bool again;

				pthread_mutex_lock(&s->lock);
				again = id_has(&s->rv_busy, c->id) || id_has(&s->rv_acks, c->id);
				if (!again)
					id_add(&s->rv_busy, c->id);
				pthread_mutex_unlock(&s->lock);
				if (again)
					break;	/* being done, or its ack is on its way */
			}
			log_info("[REVOKE LEASE]: type %d vtable: %s pid %llu id %llu", c->type,
				 c->volume_id, (unsigned long long)c->pid, (unsigned long long)c->id);
			if (s->ops.revoke)
				s->ops.revoke(s->ops.revoke_arg, c->type, c->volume_id, c->pid, c->id);
			else if (c->id)
				chunk_session_revoke_done(s, c->id, true);
			break;
		case ZBS__COMMAND_TYPE__CMD_RECOVER:
			handle_recover(s, c);
			break;
		default:
			log_warn("meta session: unknown command %d ignored", c->type);
		}
	}
	if (ngc)
		log_info("meta session: %zu GC deletes accepted", ngc);
}

/* the progress of the running recover cmds into req (freed after the call) */
static void add_progress(struct chunk_session *s, Zbs__KeepAliveRequest *req)
{
	struct chunk_session_recover_progress p[MAX_PROGRESS];
	size_t n;

	if (!s->ops.recover_progress || !(s->negotiated & CAP_RECOVER))
		return;
	n = s->ops.recover_progress(s->ops.recover_arg, p, MAX_PROGRESS);
	if (!n)
		return;
	s->progress = calloc(n, sizeof(*s->progress));
	req->recover_progress = calloc(n, sizeof(*req->recover_progress));
	if (!s->progress || !req->recover_progress) {
		free(s->progress);
		free(req->recover_progress);
		s->progress = NULL;
		req->recover_progress = NULL;
		return;		/* none this round */
	}
	for (size_t i = 0; i < n; i++) {
		zbs__recover_progress__init(&s->progress[i]);
		s->progress[i].cmd_id = p[i].cmd_id;
		s->progress[i].bytes_copied = p[i].bytes_copied;
		s->progress[i].bytes_total = p[i].bytes_total;
		req->recover_progress[i] = &s->progress[i];
	}
	req->n_recover_progress = n;
}

/* full: with the data report when it is due (the regular rounds) */
static void do_keepalive(struct chunk_session *s, bool full)
{
	Zbs__KeepAliveRequest req = ZBS__KEEP_ALIVE_REQUEST__INIT;
	Zbs__SpaceInfo si = ZBS__SPACE_INFO__INIT;
	Zbs__KeepAliveResponse *resp;
	struct chunk_session_space sp;
	struct zbs_rpc_error err;
	uint64_t t0 = zbs_now_ns();
	int rc;

	req.session_id = s->sid;
	req.capabilities = s->cfg.capabilities;
	if (s->ops.space && s->ops.space(s->ops.arg, &sp) == 0) {
		si.total = sp.total;
		si.valid = sp.valid;
		si.used = sp.used;
		si.thin_used = sp.thin_used;
		req.space = &si;
	}
	if (s->ops.failslow)
		req.failslow = s->ops.failslow(s->ops.failslow_arg ? s->ops.failslow_arg :
					       s->ops.arg);
	if (full && s->ops.foreach_replica && s->rounds++ % s->cfg.data_report_every == 0) {
		s->nreps = 0;
		if (s->ops.foreach_replica(s->ops.arg, emit_replica, s) == 0 &&
		    build_report(s, &req))
			log_warn("meta session: out of memory: no data report this round");
	}
	struct chunk_session_reads rd[CHUNK_SESSION_READS_MAX];
	Zbs__VolumeReads vr[CHUNK_SESSION_READS_MAX], *pvr[CHUNK_SESSION_READS_MAX];
	int nrd = s->ops.reads ? s->ops.reads(s->ops.reads_arg ? s->ops.reads_arg : s->ops.arg,
					      rd, CHUNK_SESSION_READS_MAX) : 0;

	for (int i = 0; i < nrd; i++) {
		zbs__volume_reads__init(&vr[i]);
		vr[i].volume_id = rd[i].volume_id;
		vr[i].local_bytes = rd[i].local;
		vr[i].remote_bytes = rd[i].remote;
		pvr[i] = &vr[i];
	}
	req.n_volume_reads = nrd > 0 ? (size_t)nrd : 0;
	req.volume_reads = pvr;
	pthread_mutex_lock(&s->lock);
	uint64_t *acks = s->rv_acks.n ? malloc(s->rv_acks.n * sizeof(*acks)) : NULL;
	if (acks) {
		memcpy(acks, s->rv_acks.ids, s->rv_acks.n * sizeof(*acks));
		req.n_revoke_acks = s->rv_acks.n;
		req.revoke_acks = acks;
	}
	uint64_t *racks = s->rc_acks.n ? malloc(s->rc_acks.n * sizeof(*racks)) : NULL;
	if (racks) {
		memcpy(racks, s->rc_acks.ids, s->rc_acks.n * sizeof(*racks));
		req.n_recover_acks = s->rc_acks.n;
		req.recover_acks = racks;
	}
	pthread_mutex_unlock(&s->lock);
	add_progress(s, &req);
	rc = zbs_rpc_call(&s->rpc, ZBS_M_KEEPALIVE, &req.base,
			  &zbs__keep_alive_response__descriptor, (ProtobufCMessage **)&resp, &err);
	free(req.recover_progress);
	free(s->progress);
	s->progress = NULL;
	if (rc == ZBS_RPC_ESESSION) {
		free(acks);
		free(racks);
		lost_session(s, err.msg);
		return;
	}
	if (rc) {
		free(acks);
		free(racks);
		log_debug("meta session: keepalive: %s", err.msg);
		return;	/* the timer checks the lease; the acks go again */
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < req.n_revoke_acks; i++)
		id_del(&s->rv_acks, acks[i]);	/* meta has them */
	for (size_t i = 0; i < req.n_recover_acks; i++)
		id_del(&s->rc_acks, racks[i]);
	pthread_mutex_unlock(&s->lock);
	free(acks);
	free(racks);
	pthread_mutex_lock(&s->lock);
	s->lease_until_ns = t0 + (uint64_t)resp->lease_ms * 1000000;
	if (resp->negotiation)
		s->negotiated = resp->negotiation->negotiated;
	pthread_mutex_unlock(&s->lock);
	report_acked(s, &req, resp, t0);
	set_state(s, CHUNK_SESSION_KEEPALIVE);
	notify_lease(s);
	if (s->ops.recover_limits)
		s->ops.recover_limits(s->ops.recover_arg, resp->recover_concurrency,
				      resp->recover_bps);
	handle_commands(s, resp);
	zbs__keep_alive_response__free_unpacked(resp, NULL);
}

static void on_timer(uv_timer_t *t)
{
	struct chunk_session *s = t->data;
	uint64_t now = zbs_now_ns(), until;

	pthread_mutex_lock(&s->lock);
	until = s->lease_until_ns;
	pthread_mutex_unlock(&s->lock);
	/* our view of the lease, whatever meta can be reached */
	if (s->sid && now >= until) {
		lost_session(s, "lease ran out without a keepalive reply");
	} else if (s->sid && now + (uint64_t)s->lease_ms * 500000 >= until &&
		   chunk_session_state(s) == CHUNK_SESSION_KEEPALIVE) {
		set_state(s, CHUNK_SESSION_JEOPARDY);	/* half the lease without a reply */
	}
	if (!ensure_connected(s))
		return;
	if (!s->cid && do_register(s))
		return;
	if (!s->sid && do_create(s))
		return;
	do_keepalive(s, true);
}

static void on_kick_timer(uv_timer_t *t)
{
	struct chunk_session *s = t->data;

	if (s->sid && s->rpc.fd >= 0)
		do_keepalive(s, false);		/* the space report, now */
}

static void on_kick(uv_async_t *a)
{
	struct chunk_session *s = a->data;

	/* kicks within CHUNK_SESSION_KICK_MS make one keepalive */
	if (!uv_is_active((uv_handle_t *)&s->kick_timer))
		uv_timer_start(&s->kick_timer, on_kick_timer, CHUNK_SESSION_KICK_MS, 0);
}

void chunk_session_report_soon(struct chunk_session *s)
{
	if (s)
		uv_async_send(&s->kick);
}

void chunk_session_revoke_done(struct chunk_session *s, uint64_t id, bool ok)
{
	if (!s || !id)
		return;
	pthread_mutex_lock(&s->lock);
	if (id_has(&s->rv_busy, id)) {
		id_del(&s->rv_busy, id);
		if (ok)
			id_add(&s->rv_acks, id);
	}
	pthread_mutex_unlock(&s->lock);
	if (ok)
		chunk_session_report_soon(s);
}

static void on_stop(uv_async_t *a)
{
	struct chunk_session *s = a->data;

	uv_timer_stop(&s->timer);
	uv_timer_stop(&s->kick_timer);
	uv_close((uv_handle_t *)&s->timer, NULL);
	uv_close((uv_handle_t *)&s->kick_timer, NULL);
	uv_close((uv_handle_t *)&s->kick, NULL);
	uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *thread_main(void *arg)
{
	struct chunk_session *s = arg;

	uv_run(&s->loop, UV_RUN_DEFAULT);
	if (s->sid && s->rpc.fd >= 0) {
		Zbs__LeaveSessionRequest req = ZBS__LEAVE_SESSION_REQUEST__INIT;
		req.session_id = s->sid;
		zbs_rpc_call(&s->rpc, ZBS_M_LEAVE_SESSION, &req.base, &zbs__empty__descriptor,
			     NULL, NULL);
	}
	zbs_rpc_close(&s->rpc);
	return NULL;
}

struct chunk_session *chunk_session_start(const struct chunk_session_config *cfg,
						const struct chunk_session_ops *ops)
{
	struct chunk_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cfg = *cfg;
	s->ops = *ops;
	snprintf(s->meta_addr, sizeof(s->meta_addr), "%s", cfg->meta_addr);
	snprintf(s->uuid, sizeof(s->uuid), "%s", cfg->uuid);
	snprintf(s->data_addr, sizeof(s->data_addr), "%s", cfg->data_addr);
	snprintf(s->rpc_addr, sizeof(s->rpc_addr), "%s", cfg->rpc_addr);
	if (!s->cfg.capabilities)
		s->cfg.capabilities = MS_CAPS | (ops->recover ? CAP_RECOVER : 0);
	if (!ops->recover || !ops->recover_progress || !ops->recover_limits) {
		s->cfg.capabilities &= ~CAP_RECOVER;	/* all three or none */
		s->ops.recover = NULL;
		s->ops.recover_progress = NULL;
		s->ops.recover_limits = NULL;
	}
	if (!s->ops.recover_arg)
		s->ops.recover_arg = s->ops.arg;
	if (!s->cfg.data_report_every)
		s->cfg.data_report_every = 1;
	if (!s->ops.revoke_arg)
		s->ops.revoke_arg = s->ops.arg;
	if (!s->ops.lease_arg)
		s->ops.lease_arg = s->ops.arg;
	if (!s->cfg.rpc_timeout_ms)
		s->cfg.rpc_timeout_ms = 2000;
	s->rpc.fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	uv_loop_init(&s->loop);
	uv_timer_init(&s->loop, &s->timer);
	s->timer.data = s;
	uv_async_init(&s->loop, &s->stop, on_stop);
	s->stop.data = s;
	uv_async_init(&s->loop, &s->kick, on_kick);
	s->kick.data = s;
	uv_timer_init(&s->loop, &s->kick_timer);
	s->kick_timer.data = s;
	/* first round at once, then every keepalive interval (100 ms until known) */
	uv_timer_start(&s->timer, on_timer, 0, 100);
	if (pthread_create(&s->thread, NULL, thread_main, s)) {
		log_err("meta session: cannot start its thread");
		uv_loop_close(&s->loop);
		free(s);
		return NULL;
	}
	return s;
}

void chunk_session_stop(struct chunk_session *s)
{
	if (!s)
		return;
	uv_async_send(&s->stop);
	pthread_join(s->thread, NULL);
	uv_loop_close(&s->loop);
	pthread_mutex_destroy(&s->lock);
	free(s->reps);
	free(s->repp);
	free(s->acked);
	free(s->sent);
	free(s->removed);
	free(s->rv_busy.ids);
	free(s->rv_acks.ids);
	free(s->rc_acks.ids);
	free(s);
}

uint32_t chunk_session_cid(struct chunk_session *s)
{
	uint32_t v;

	pthread_mutex_lock(&s->lock);
	v = s->cid;
	pthread_mutex_unlock(&s->lock);
	return v;
}

uint64_t chunk_session_id(struct chunk_session *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	v = s->sid;
	pthread_mutex_unlock(&s->lock);
	return v;
}

enum chunk_session_state chunk_session_state(struct chunk_session *s)
{
	enum chunk_session_state v;

	pthread_mutex_lock(&s->lock);
	v = s->state;
	pthread_mutex_unlock(&s->lock);
	return v;
}

uint64_t chunk_session_negotiated(struct chunk_session *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->lock);
	v = s->negotiated;
	pthread_mutex_unlock(&s->lock);
	return v;
}

uint32_t chunk_session_lease_left_ms(struct chunk_session *s)
{
	uint64_t now = zbs_now_ns(), until;
	uint32_t left = 0;

	pthread_mutex_lock(&s->lock);
	until = s->sid ? s->lease_until_ns : 0;
	pthread_mutex_unlock(&s->lock);
	if (until > now)
		left = (uint32_t)((until - now) / 1000000);
	return left;
}
