// SPDX-License-Identifier: GPL-2.0
/*
 * Meta RPC handlers: decode a request, call the state function, encode the
 * reply. Protocol only; the rules are in the tables and operations (meta.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "keepalive.h"
#include "lease.h"
#include "meta.pb-c.h"
#include "owner.h"
#include "provision.h"
#include "rpc.h"

#define MSG(p) ((const ProtobufCMessage *)(p))

static void fill_space(Zbs__SpaceInfo *si, const struct meta_chunk *c)
{
	zbs__space_info__init(si);
	si->total = c->space.total;
	si->valid = c->space.valid;
	si->used = c->space.used;
	si->thin_used = c->space.thin_used;
	si->allocated = meta_chunk_allocated(c);
	si->thick_pids = c->thick_pids;
	si->thin_pids = c->thin_pids;
}

static void fill_chunk(Zbs__Chunk *o, Zbs__SpaceInfo *si, const struct meta_chunk *c)
{
	zbs__chunk__init(o);
	o->cid = c->cid;
	o->uuid = (char *)c->uuid;
	o->data_ip = (char *)c->data_ip;
	o->data_port = c->data_port;
	o->rpc_ip = (char *)c->rpc_ip;
	o->rpc_port = c->rpc_port;
	o->status = (Zbs__ChunkStatus)c->status;
	o->topo_id = c->topo_id;
	o->registered_ns = c->registered_ns;
	fill_space(si, c);
	o->space = si;
	o->session_id = c->session_id;
	o->capabilities = c->caps;
}

static void fill_volume(Zbs__Volume *o, const struct meta_volume *v)
{
	zbs__volume__init(o);
	o->id = (char *)v->id;
	o->name = (char *)v->name;
	o->size = v->size;
	o->replica_num = v->replica_num;
	o->stripe_num = v->stripe_num;
	o->stripe_size = v->stripe_size;
	o->thin = v->thin;
	o->prefer_cid = v->prefer_cid;
	o->iops = v->iops;
	o->bps = v->bps;
	o->iops_burst = v->iops_burst;
	o->bps_burst = v->bps_burst;
	o->created_ns = v->created_ns;
	o->vextents = v->nvext;
	o->allocated_pextents = v->allocated;
}

static void fill_pext(struct meta *m, Zbs__PExtent *o, uint64_t pid)
{
	const struct meta_pext *p = meta_pext(&m->pexts, pid);
	struct meta_session *s = p->owner ? meta_session_find(&m->sessions, p->owner) : NULL;
	const struct meta_volume *v = meta_volume_at(&m->vols, p->vol);

	zbs__pextent__init(o);
	o->pid = pid;
	o->epoch = p->epoch;
	o->location = p->location;
	o->alive_location = p->alive_location;
	o->meta_gen = p->meta_gen;
	o->ever_exist = !!(p->flags & PEXT_EVER_EXIST);
	o->expected_replica_num = p->expected;
	o->thin = !!(p->flags & PEXT_THIN);
	o->preferred_cid = p->preferred_cid;
	meta_pext_origin(&m->pexts, pid, &o->origin_pid, &o->origin_epoch);
	/* an ended session's leases are free, whether or not written back yet */
	o->owner_session = s && s->alive ? p->owner : 0;
	o->owner_cid = s && s->alive ? s->cid : 0;
	o->lease_epoch = p->lease_epoch;
	o->volume_id = v ? (char *)v->id : (char *)"";
	o->vextent_no = p->vextent_no;
}

static void fill_negotiation(struct meta *m, Zbs__Negotiation *n, uint64_t chunk_caps)
{
	zbs__negotiation__init(n);
	n->meta_capabilities = META_CAPS;
	n->negotiated = META_CAPS & chunk_caps;
	n->cluster_enabled = meta_cluster_caps(m);
}

/* ---- handlers ---------------------------------------------------------- */

static int h_register_chunk(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			    struct merr *e)
{
	const Zbs__RegisterChunkRequest *q = (const void *)in;
	Zbs__RegisterChunkResponse resp = ZBS__REGISTER_CHUNK_RESPONSE__INIT;
	Zbs__Chunk ch;
	Zbs__SpaceInfo si;
	struct meta_chunk *c;

	if (meta_chunk_register(&m->chunks, q->uuid, q->data_addr, q->rpc_addr, &c, e))
		return -1;
	fill_chunk(&ch, &si, c);
	resp.chunk = &ch;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_create_session(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			    struct merr *e)
{
	const Zbs__CreateSessionRequest *q = (const void *)in;
	Zbs__CreateSessionResponse resp = ZBS__CREATE_SESSION_RESPONSE__INIT;
	Zbs__Negotiation n;
	struct meta_session *s;

	if (meta_session_create(m, q->cid, q->uuid, q->capabilities, &s, e))
		return -1;
	resp.session_id = s->id;
	resp.lease_ms = m->core.cfg.session_lease_ms;
	resp.keepalive_ms = m->core.cfg.keepalive_ms;
	/* SPEC 2.3: negotiation info goes out before the first keepalive */
	fill_negotiation(m, &n, q->capabilities);
	resp.negotiation = &n;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_keepalive(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
		       struct merr *e)
{
	const Zbs__KeepAliveRequest *q = (const void *)in;
	Zbs__KeepAliveResponse resp = ZBS__KEEP_ALIVE_RESPONSE__INIT;
	Zbs__Negotiation n;
	struct meta_space sp, *spp = NULL;
	struct meta_replica_report *reps = NULL;
	struct meta_session *s;
	Zbs__Command *cmds = NULL, **cmdp = NULL;
	int ret;

	if (q->space) {
		sp.total = q->space->total;
		sp.valid = q->space->valid;
		sp.used = q->space->used;
		sp.thin_used = q->space->thin_used;
		spp = &sp;
	}
	if (q->n_replicas) {
		reps = calloc(q->n_replicas, sizeof(*reps));
		if (!reps)
			return merr_set(e, ZBS_RPC_EINTERNAL, "out of memory");
		for (size_t i = 0; i < q->n_replicas; i++) {
			reps[i].pid = q->replicas[i]->pid;
			reps[i].epoch = q->replicas[i]->epoch;
			reps[i].gen = q->replicas[i]->gen;
		}
	}
	struct meta_report rep = {
		.seq = q->report_seq, .base = q->report_base, .reps = reps, .n = q->n_replicas,
		.removed = q->removed, .nremoved = q->n_removed,
	};
	ret = meta_keepalive(m, q->session_id, spp, q->has_data_report ? &rep : NULL,
			     q->capabilities, &s, e);
	free(reps);
	if (ret)
		return -1;
	for (size_t i = 0; i < q->n_revoke_acks; i++)
		meta_revoke_acked(m, s, q->revoke_acks[i]);
	resp.lease_ms = m->core.cfg.session_lease_ms;
	resp.report_ack = s->report_seq;
	resp.full_report_ms = m->core.cfg.alive_grace_ms / 3;
	fill_negotiation(m, &n, q->capabilities);
	resp.negotiation = &n;
	/* the one-time commands, then every revoke not acknowledged yet */
	uint32_t nrv = s->nrevokes < META_REVOKES_PER_REPLY ? s->nrevokes : META_REVOKES_PER_REPLY;
	uint32_t nc = s->ncmds + nrv;
	struct meta_revoke *rv = TAILQ_FIRST(&s->revokes);
	if (nc) {
		cmds = calloc(nc, sizeof(*cmds));
		cmdp = calloc(nc, sizeof(*cmdp));
		if (!cmds || !cmdp)
			abort();
		for (uint32_t i = 0; i < nc; i++) {
			const struct meta_cmd *c = &s->cmds[i];

			if (i >= s->ncmds) {
				c = &rv->cmd;
				rv = TAILQ_NEXT(rv, link);
			}

			zbs__command__init(&cmds[i]);
			cmds[i].type = (Zbs__CommandType)c->type;
			cmds[i].volume_id = (char *)c->volume_id;
			cmds[i].pid = c->pid;
			cmds[i].epoch = c->epoch;
			cmds[i].id = c->id;
			cmdp[i] = &cmds[i];
		}
		resp.n_commands = nc;
		resp.commands = cmdp;
	}
	ret = meta_reply_msg(r, MSG(&resp));
	meta_session_cmds_sent(s);	/* delivered */
	free(cmds);
	free(cmdp);
	return ret;
}

static int h_leave_session(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			   struct merr *e)
{
	const Zbs__LeaveSessionRequest *q = (const void *)in;
	Zbs__Empty resp = ZBS__EMPTY__INIT;

	if (meta_session_leave(m, q->session_id, e))
		return -1;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_list_chunks(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			 struct merr *e)
{
	const Zbs__ListChunksRequest *q = (const void *)in;
	Zbs__ListChunksResponse resp = ZBS__LIST_CHUNKS_RESPONSE__INIT;
	Zbs__Chunk chunks[META_MAX_CID], *cp[META_MAX_CID];
	Zbs__SpaceInfo si[META_MAX_CID];
	size_t n = 0;

	if (q->cid && !meta_chunk(&m->chunks, q->cid))
		return merr_set(e, ZBS_RPC_ENOENT, "chunk %u not found", q->cid);
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		if (!m->chunks.by_cid[cid].cid || (q->cid && q->cid != cid))
			continue;
		fill_chunk(&chunks[n], &si[n], &m->chunks.by_cid[cid]);
		cp[n] = &chunks[n];
		n++;
	}
	resp.n_chunks = n;
	resp.chunks = cp;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_list_sessions(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			   struct merr *e)
{
	Zbs__ListSessionsResponse resp = ZBS__LIST_SESSIONS_RESPONSE__INIT;
	Zbs__Session *ss = calloc(m->sessions.n + 1, sizeof(*ss));
	Zbs__Session **sp = calloc(m->sessions.n + 1, sizeof(*sp));
	int ret;

	if (!ss || !sp)
		abort();
	for (uint32_t i = 0; i < m->sessions.n; i++) {
		struct meta_session *s = m->sessions.all[i];
		zbs__session__init(&ss[i]);
		ss[i].session_id = s->id;
		ss[i].cid = s->cid;
		ss[i].uuid = m->chunks.by_cid[s->cid].uuid;
		ss[i].alive = s->alive;
		ss[i].lease_remaining_ms = ((int64_t)s->expire_ns - (int64_t)m->core.now_ns) / 1000000;
		ss[i].leases = s->leases;
		ss[i].pending_commands = s->ncmds;
		ss[i].report_seq = s->report_seq;
		ss[i].report_delta = s->report_delta;
		ss[i].report_entries = s->report_entries;
		sp[i] = &ss[i];
	}
	resp.n_sessions = m->sessions.n;
	resp.sessions = sp;
	ret = meta_reply_msg(r, MSG(&resp));
	free(ss);
	free(sp);
	return ret;
}

static int h_topo_create(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			 struct merr *e)
{
	const Zbs__TopoCreateRequest *q = (const void *)in;
	Zbs__TopoCreateResponse resp = ZBS__TOPO_CREATE_RESPONSE__INIT;
	Zbs__TopoObj o = ZBS__TOPO_OBJ__INIT;
	struct meta_topo *t;

	if (meta_topo_create(&m->topos, q->type, q->name, q->parent_id, &t, e))
		return -1;
	o.id = t->id;
	o.type = (Zbs__TopoType)t->type;
	o.name = t->name;
	o.parent_id = t->parent;
	resp.obj = &o;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_topo_list(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
		       struct merr *e)
{
	Zbs__TopoListResponse resp = ZBS__TOPO_LIST_RESPONSE__INIT;
	const struct meta_topos *t = &m->topos;
	Zbs__TopoObj *o = calloc(t->n + 1, sizeof(*o));
	Zbs__TopoObj **op = calloc(t->n + 1, sizeof(*op));
	int ret;

	if (!o || !op)
		abort();
	for (uint32_t i = 0; i < t->n; i++) {
		zbs__topo_obj__init(&o[i]);
		o[i].id = t->objs[i].id;
		o[i].type = (Zbs__TopoType)t->objs[i].type;
		o[i].name = (char *)t->objs[i].name;
		o[i].parent_id = t->objs[i].parent;
		op[i] = &o[i];
	}
	resp.n_objs = t->n;
	resp.objs = op;
	ret = meta_reply_msg(r, MSG(&resp));
	free(o);
	free(op);
	return ret;
}

static int h_topo_move(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
		       struct merr *e)
{
	const Zbs__TopoMoveRequest *q = (const void *)in;
	Zbs__Empty resp = ZBS__EMPTY__INIT;

	if (!q->cid == !q->id)
		return merr_set(e, ZBS_RPC_EINVAL, "move needs exactly one of cid or topology id");
	if (meta_topo_move(&m->topos, &m->chunks, q->cid, q->id, q->new_parent_id, e))
		return -1;
	return meta_reply_msg(r, MSG(&resp));
}

int meta_reply_volume(struct meta_reply *r, const struct meta_volume *v)
{
	Zbs__VolumeResponse resp = ZBS__VOLUME_RESPONSE__INIT;
	Zbs__Volume vo;

	fill_volume(&vo, v);
	resp.volume = &vo;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_volume_create(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			   struct merr *e)
{
	const Zbs__VolumeCreateRequest *q = (const void *)in;
	const Zbs__Volume *v = q->volume;
	struct meta_volume_spec s;
	struct meta_volume *vol;

	if (!v)
		return merr_set(e, ZBS_RPC_EINVAL, "VolumeCreate without a volume");
	s = (struct meta_volume_spec){
		.name = v->name, .size = v->size, .replica_num = v->replica_num,
		.stripe_num = v->stripe_num ? v->stripe_num : 1,
		.stripe_size = v->stripe_size ? v->stripe_size : 256 << 10,
		.prefer_cid = v->prefer_cid, .thin = v->thin, .iops = v->iops, .bps = v->bps,
		.iops_burst = v->iops_burst, .bps_burst = v->bps_burst,
	};
	switch (meta_volume_create(m, &s, &vol, e)) {
	case 0:
		return meta_reply_volume(r, vol);
	case META_CREATE_PENDING:
		return meta_reply_later(r, vol);	/* when its extents are there */
	default:
		return -1;
	}
}

static int h_volume_list(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			 struct merr *e)
{
	Zbs__VolumeListResponse resp = ZBS__VOLUME_LIST_RESPONSE__INIT;
	Zbs__Volume *vo = calloc(m->vols.n + 1, sizeof(*vo));
	Zbs__Volume **vp = calloc(m->vols.n + 1, sizeof(*vp));
	size_t n = 0;
	int ret;

	if (!vo || !vp)
		abort();
	for (uint32_t i = 0; i < m->vols.n; i++) {
		if (!m->vols.slots[i] || m->vols.slots[i]->creating || m->vols.slots[i]->deleting)
			continue;
		fill_volume(&vo[n], m->vols.slots[i]);
		vp[n] = &vo[n];
		n++;
	}
	resp.n_volumes = n;
	resp.volumes = vp;
	ret = meta_reply_msg(r, MSG(&resp));
	free(vo);
	free(vp);
	return ret;
}

static int h_volume_show(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			 struct merr *e)
{
	const Zbs__VolumeShowRequest *q = (const void *)in;
	Zbs__VolumeShowResponse resp = ZBS__VOLUME_SHOW_RESPONSE__INIT;
	struct meta_volume *v = meta_volume_find(&m->vols, q->volume, e);
	Zbs__Volume vo;
	Zbs__PExtent *po = NULL, **pp = NULL;
	size_t n = 0;
	int ret;

	if (!v)
		return -1;
	fill_volume(&vo, v);
	resp.volume = &vo;
	if (q->pextents && v->allocated) {
		po = calloc(v->allocated, sizeof(*po));
		pp = calloc(v->allocated, sizeof(*pp));
		if (!po || !pp)
			abort();
		for (uint32_t i = 0; i < v->nvext && n < v->allocated; i++) {
			if (!v->vtable[i])
				continue;
			fill_pext(m, &po[n], v->vtable[i]);
			pp[n] = &po[n];
			n++;
		}
		resp.n_pextents = n;
		resp.pextents = pp;
	}
	ret = meta_reply_msg(r, MSG(&resp));
	free(po);
	free(pp);
	return ret;
}

static int h_volume_resize(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			   struct merr *e)
{
	const Zbs__VolumeResizeRequest *q = (const void *)in;
	struct meta_volume *v = meta_volume_find(&m->vols, q->volume, e);

	if (!v || meta_volume_resize(m, v, q->size, e))
		return -1;
	return meta_reply_volume(r, v);
}

static int h_volume_delete(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			   struct merr *e)
{
	const Zbs__VolumeRef *q = (const void *)in;
	Zbs__Empty resp = ZBS__EMPTY__INIT;
	struct meta_volume *v = meta_volume_find(&m->vols, q->volume, e);

	if (!v || meta_volume_delete(m, v, e))
		return -1;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_get_vextent_lease(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			       struct merr *e)
{
	const Zbs__GetVExtentLeaseRequest *q = (const void *)in;
	Zbs__GetVExtentLeaseResponse resp = ZBS__GET_VEXTENT_LEASE_RESPONSE__INIT;
	Zbs__Lease l = ZBS__LEASE__INIT;
	Zbs__LeaseChunk lc[ZBS_LOC_SLOTS], *lcp[ZBS_LOC_SLOTS];
	struct meta_volume *v = meta_volume_find(&m->vols, q->volume, e);
	struct meta_pext *p;
	uint64_t pid;

	if (!v || meta_get_vextent_lease(m, v, q->vextent_no, q->mode, q->session_id, &pid, e))
		return -1;
	resp.lease = &l;
	l.thin = v->thin;
	p = meta_pext(&m->pexts, pid);
	if (p) {
		int n = loc_count(p->location);
		l.pid = pid;
		l.epoch = p->epoch;
		l.lease_epoch = p->lease_epoch;
		l.meta_gen = p->meta_gen;
		l.location = p->location;
		l.alive_location = p->alive_location;
		l.expected_replica_num = p->expected;
		l.ever_exist = !!(p->flags & PEXT_EVER_EXIST);
		l.owner_session = p->owner;
		meta_pext_origin(&m->pexts, pid, &l.origin_pid, &l.origin_epoch);
		l.thin = !!(p->flags & PEXT_THIN);
		for (int i = 0; i < n; i++) {
			const struct meta_chunk *c = &m->chunks.by_cid[loc_get(p->location, i)];
			zbs__lease_chunk__init(&lc[i]);
			lc[i].cid = c->cid;
			lc[i].data_ip = (char *)c->data_ip;
			lc[i].data_port = c->data_port;
			lc[i].rpc_ip = (char *)c->rpc_ip;
			lc[i].rpc_port = c->rpc_port;
			lc[i].alive = loc_contains(p->alive_location, c->cid);
			lcp[i] = &lc[i];
		}
		l.n_chunks = n;
		l.chunks = lcp;
	}
	return meta_reply_msg(r, MSG(&resp));
}

static int h_release_lease(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			   struct merr *e)
{
	const Zbs__PidSessionRequest *q = (const void *)in;
	Zbs__Empty resp = ZBS__EMPTY__INIT;

	if (meta_release_lease(m, q->pid, q->session_id, e))
		return -1;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_remove_replica(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			    struct merr *e)
{
	const Zbs__RemoveReplicaRequest *q = (const void *)in;
	Zbs__Empty resp = ZBS__EMPTY__INIT;

	if (meta_remove_replica(m, q->pid, q->epoch, q->lease_epoch, q->cid, q->gen,
				q->session_id, e))
		return -1;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_set_existence(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			   struct merr *e)
{
	const Zbs__PidSessionRequest *q = (const void *)in;
	Zbs__Empty resp = ZBS__EMPTY__INIT;

	if (meta_set_existence(m, q->pid, q->epoch, q->session_id, e))
		return -1;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_revoke(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
		    struct merr *e)
{
	const Zbs__RevokeRequest *q = (const void *)in;
	Zbs__RevokeResponse resp = ZBS__REVOKE_RESPONSE__INIT;
	struct meta_volume *v = NULL;
	int n;

	if (!!q->volume[0] + !!q->pid + !!q->session_id != 1)
		return merr_set(e, ZBS_RPC_EINVAL, "revoke needs exactly one of volume, pid, session");
	if (q->volume[0] && !(v = meta_volume_find(&m->vols, q->volume, e)))
		return -1;
	n = meta_revoke(m, v, q->pid, q->session_id, e);
	if (n < 0)
		return -1;
	resp.released = n;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_pextent_show(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			  struct merr *e)
{
	const Zbs__PExtentShowRequest *q = (const void *)in;
	Zbs__PExtentShowResponse resp = ZBS__PEXTENT_SHOW_RESPONSE__INIT;
	Zbs__PExtent po;

	if (!meta_pext(&m->pexts, q->pid))
		return merr_set(e, ZBS_RPC_ENOENT, "pid %llu not found", (unsigned long long)q->pid);
	fill_pext(m, &po, q->pid);
	resp.pextent = &po;
	return meta_reply_msg(r, MSG(&resp));
}

const struct meta_method meta_methods[ZBS_M__COUNT] = {
	[ZBS_M_REGISTER_CHUNK] = { &zbs__register_chunk_request__descriptor, h_register_chunk },
	[ZBS_M_CREATE_SESSION] = { &zbs__create_session_request__descriptor, h_create_session },
	[ZBS_M_KEEPALIVE] = { &zbs__keep_alive_request__descriptor, h_keepalive },
	[ZBS_M_LEAVE_SESSION] = { &zbs__leave_session_request__descriptor, h_leave_session },
	[ZBS_M_LIST_CHUNKS] = { &zbs__list_chunks_request__descriptor, h_list_chunks },
	[ZBS_M_LIST_SESSIONS] = { &zbs__empty__descriptor, h_list_sessions },
	[ZBS_M_TOPO_CREATE] = { &zbs__topo_create_request__descriptor, h_topo_create },
	[ZBS_M_TOPO_LIST] = { &zbs__empty__descriptor, h_topo_list },
	[ZBS_M_TOPO_MOVE] = { &zbs__topo_move_request__descriptor, h_topo_move },
	[ZBS_M_VOLUME_CREATE] = { &zbs__volume_create_request__descriptor, h_volume_create },
	[ZBS_M_VOLUME_LIST] = { &zbs__empty__descriptor, h_volume_list },
	[ZBS_M_VOLUME_SHOW] = { &zbs__volume_show_request__descriptor, h_volume_show },
	[ZBS_M_VOLUME_RESIZE] = { &zbs__volume_resize_request__descriptor, h_volume_resize },
	[ZBS_M_VOLUME_DELETE] = { &zbs__volume_ref__descriptor, h_volume_delete },
	[ZBS_M_GET_VEXTENT_LEASE] = { &zbs__get_vextent_lease_request__descriptor, h_get_vextent_lease },
	[ZBS_M_RELEASE_LEASE] = { &zbs__pid_session_request__descriptor, h_release_lease },
	[ZBS_M_REMOVE_REPLICA] = { &zbs__remove_replica_request__descriptor, h_remove_replica },
	[ZBS_M_SET_PEXTENT_EXISTENCE] = { &zbs__pid_session_request__descriptor, h_set_existence },
	[ZBS_M_REVOKE] = { &zbs__revoke_request__descriptor, h_revoke },
	[ZBS_M_PEXTENT_SHOW] = { &zbs__pextent_show_request__descriptor, h_pextent_show },
};
