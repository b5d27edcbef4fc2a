// SPDX-License-Identifier: GPL-2.0
/*
 * Meta RPC handlers: decode a request, call the state function, encode the
 * reply. Protocol only; the rules are in the tables and operations (meta.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "chunk_admin.h"
#include "handlers.h"
#include "keepalive.h"
#include "lease.h"
#include "meta.pb-c.h"
#include "owner.h"
#include "provision.h"
#include "rpc.h"
#include "scheduler.h"

#define MSG(p) ((const ProtobufCMessage *)(p))

static void fill_space(Zbs__SpaceInfo *si, const struct meta_chunk *c)
{
	zbs__space_info__init(si);
	si->total = c->space.total;
	si->valid = c->space.valid;
	si->used = c->space.used;
	si->thin_used = c->space.thin_used;
	si->allocated = meta_provision_allocated(c);
	si->thick_pids = c->thick_pids;
	si->thin_pids = c->thin_pids;
}

static void fill_chunk(const struct meta *m, Zbs__Chunk *o, Zbs__SpaceInfo *si,
		       const struct meta_chunk *c)
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
	o->maintenance_until_ns = meta_chunk_in_maintenance(c, m->core.wall_ns) ?
				  c->maint_until_ns : 0;
	o->removing = c->admin & CHUNK_ADMIN_REMOVING;
	o->failslow = c->failslow;
}

static void fill_volume(struct meta *m, Zbs__Volume *o, const struct meta_volume *v)
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
	o->even = !!(v->flags & META_VOL_EVEN);
	o->iops = v->iops;
	o->bps = v->bps;
	o->iops_burst = v->iops_burst;
	o->bps_burst = v->bps_burst;
	o->created_ns = v->created_ns;
	o->vextents = v->nvext;
	o->allocated_pextents = v->allocated;
	meta_volume_reads(v, &m->sessions, &o->read_bytes_local, &o->read_bytes_remote);
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

/* a recover cmd as it goes out, with the addresses it names */
#define META_RECOVERS_PER_REPLY 1024
struct recover_out {
	Zbs__RecoverCmd rc;
	char src[64], dst[64];
};

static void chunk_addr(char *buf, size_t len, const struct meta_chunk *c)
{
	if (c)
		snprintf(buf, len, "%s:%u", c->data_ip, c->data_port);
	else
		buf[0] = '\0';
}

static void fill_recover(struct meta *m, struct recover_out *o, const struct meta_sched_cmd *c)
{
	const struct meta_pext *p = meta_pext(&m->pexts, c->rc.pid);

	zbs__recover_cmd__init(&o->rc);
	chunk_addr(o->src, sizeof(o->src), meta_chunk(&m->chunks, c->rc.src));
	chunk_addr(o->dst, sizeof(o->dst), meta_chunk(&m->chunks, c->rc.dst));
	o->rc.pid = c->rc.pid;
	o->rc.epoch = c->rc.epoch;
	o->rc.lease_epoch = p->lease_epoch;	/* checked valid: the cmd's */
	o->rc.src_cid = c->rc.src;
	o->rc.src_addr = o->src;
	o->rc.dst_cid = c->rc.dst;
	o->rc.dst_addr = o->dst;
	o->rc.replace_cid = c->rc.replace;
	o->rc.is_migrate = c->rc.is_migrate;
	o->rc.thick = c->thick;
	o->rc.meta_gen = p->meta_gen;
	o->rc.agile = c->agile;
	o->rc.since_gen = c->since_gen;
}

static void fill_recover_info(struct meta *m, Zbs__RecoverCmdInfo *o,
			      const struct meta_sched_cmd *c)
{
	uint64_t now = meta_sched_now_ms(m);

	zbs__recover_cmd_info__init(o);
	o->cmd_id = c->id;
	o->pid = c->rc.pid;
	o->epoch = c->rc.epoch;
	o->src_cid = c->rc.src;
	o->dst_cid = c->rc.dst;
	o->replace_cid = c->rc.replace;
	o->owner_cid = c->rc.owner;
	o->is_migrate = c->rc.is_migrate;
	o->agile = c->agile;
	o->delivered = c->acked;
	o->bytes_copied = c->bytes_copied;
	o->bytes_total = c->bytes_total;
	o->age_ms = now > c->rc.issued_ms ? now - c->rc.issued_ms : 0;
}

static void fill_recover_config(Zbs__RecoverConfig *o, const struct meta_sched_config *c)
{
	zbs__recover_config__init(o);
	o->slots = c->slots;
	o->concurrency = c->concurrency;
	o->bps = c->bps;
	o->timeout_ms = c->timeout_ms;
	o->scan_interval_ms = c->scan_interval_ms;
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
	fill_chunk(m, &ch, &si, c);
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
	/* a chunk that does not send failslow (an older one) is not failslow */
	struct meta_keepalive_in kin = {
		.space = spp, .report = q->has_data_report ? &rep : NULL,
		.caps = q->capabilities, .failslow = q->failslow,
	};
	ret = meta_keepalive_in(m, q->session_id, &kin, &s, e);
	free(reps);
	if (ret)
		return -1;
	for (size_t i = 0; i < q->n_revoke_acks; i++)
		meta_revoke_acked(m, s, q->revoke_acks[i]);
	for (size_t i = 0; i < q->n_recover_acks; i++)
		meta_sched_acked(m, s, q->recover_acks[i]);
	for (size_t i = 0; i < q->n_recover_progress; i++)
		meta_sched_progress(m, s, q->recover_progress[i]->cmd_id,
				    q->recover_progress[i]->bytes_copied,
				    q->recover_progress[i]->bytes_total);
	if (m->sched) {
		resp.recover_concurrency = m->sched->cfg.concurrency;
		resp.recover_bps = m->sched->cfg.bps;
	}
	for (size_t i = 0; i < q->n_volume_reads; i++) {
		const Zbs__VolumeReads *vr = q->volume_reads[i];
		struct meta_volume *v = vr->volume_id ? meta_volume_by_id(&m->vols, vr->volume_id) :
				       NULL;

		if (v)		/* a volume deleted meanwhile: nothing to keep */
			meta_volume_note_reads(v, &m->sessions, s->id, vr->local_bytes,
					       vr->remote_bytes);
	}
	resp.lease_ms = m->core.cfg.session_lease_ms;
	resp.report_ack = s->report_seq;
	resp.full_report_ms = m->core.cfg.alive_grace_ms / 3;
	fill_negotiation(m, &n, q->capabilities);
	resp.negotiation = &n;
	/* the one-time commands, every revoke not acknowledged yet, then every
	 * recover cmd not acknowledged yet */
	uint32_t nrv = s->nrevokes < META_REVOKES_PER_REPLY ? s->nrevokes : META_REVOKES_PER_REPLY;
	uint32_t nc = s->ncmds + nrv;
	struct meta_revoke *rv = TAILQ_FIRST(&s->revokes);
	struct meta_sched_cmd *rcs[META_RECOVERS_PER_REPLY];
	uint32_t nrc = meta_sched_to_send(m, s, rcs, META_RECOVERS_PER_REPLY);
	struct recover_out *ro = NULL;
	if (nc + nrc) {
		cmds = calloc(nc + nrc, sizeof(*cmds));
		cmdp = calloc(nc + nrc, sizeof(*cmdp));
		ro = calloc(nrc + 1, sizeof(*ro));
		if (!cmds || !cmdp || !ro)
			abort();
		for (uint32_t i = 0; i < nrc; i++) {
			fill_recover(m, &ro[i], rcs[i]);
			zbs__command__init(&cmds[nc + i]);
			cmds[nc + i].type = ZBS__COMMAND_TYPE__CMD_RECOVER;
			cmds[nc + i].volume_id = (char *)"";
			cmds[nc + i].pid = rcs[i]->rc.pid;
			cmds[nc + i].epoch = rcs[i]->rc.epoch;
			cmds[nc + i].id = rcs[i]->id;
			cmds[nc + i].recover = &ro[i].rc;
			cmdp[nc + i] = &cmds[nc + i];
		}
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
		resp.n_commands = nc + nrc;
		resp.commands = cmdp;
	}
	ret = meta_reply_msg(r, MSG(&resp));
	meta_session_cmds_sent(s);	/* delivered */
	free(cmds);
	free(cmdp);
	free(ro);
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
		fill_chunk(m, &chunks[n], &si[n], &m->chunks.by_cid[cid]);
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
	meta_sched_topo_changed(m, q->cid, q->id);	/* SPEC 5.6 */
	return meta_reply_msg(r, MSG(&resp));
}

static int reply_volume(struct meta *m, struct meta_reply *r, const struct meta_volume *v)
{
	Zbs__VolumeResponse resp = ZBS__VOLUME_RESPONSE__INIT;
	Zbs__Volume vo;

	fill_volume(m, &vo, v);
	resp.volume = &vo;
	return meta_reply_msg(r, MSG(&resp));
}

/* a volume created a slice at a time: reply once its extents are there */
static int create_step(struct meta *m, void *arg, struct meta_reply *r, struct merr *e)
{
	struct meta_volume *v = arg;
	int rc = meta_volume_create_step(m, v, META_CREATE_SLICE, e);

	if (rc)
		return rc > 0 ? 1 : -1;
	return r ? reply_volume(m, r, v) : 0;
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
		.prefer_cid = v->prefer_cid, .thin = v->thin, .even = v->even, .iops = v->iops,
		.bps = v->bps, .iops_burst = v->iops_burst, .bps_burst = v->bps_burst,
	};
	switch (meta_volume_create(m, &s, &vol, e)) {
	case 0:
		return reply_volume(m, r, vol);
	case META_CREATE_PENDING:
		return meta_reply_job(r, create_step, NULL, vol);	/* when its extents are there */
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
		fill_volume(m, &vo[n], m->vols.slots[i]);
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
	fill_volume(m, &vo, v);
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
	return reply_volume(m, r, v);
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

/* ---- cluster load and migrate plan ---- */

static int h_cluster_load(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			  struct merr *e)
{
	Zbs__ClusterLoadResponse resp = ZBS__CLUSTER_LOAD_RESPONSE__INIT;
	struct meta_cluster_load *cl = malloc(sizeof(*cl));
	Zbs__ChunkLoad *o = NULL, **po = NULL;
	int rc;

	(void)in;
	if (!cl)
		return merr_set(e, ZBS_RPC_EINTERNAL, "out of memory");
	meta_cluster_load(m, cl);
	if (cl->n) {
		o = calloc(cl->n, sizeof(*o));
		po = calloc(cl->n, sizeof(*po));
		if (!o || !po) {
			free(o);
			free(po);
			free(cl);
			return merr_set(e, ZBS_RPC_EINTERNAL, "out of memory");
		}
	}
	for (size_t i = 0; i < cl->n; i++) {
		const struct meta_chunk_load *l = &cl->chunks[i];

		zbs__chunk_load__init(&o[i]);
		o[i].cid = l->cid;
		o[i].healthy = l->healthy;
		o[i].failslow = l->failslow;
		o[i].valid = l->valid;
		o[i].used = l->used;
		o[i].allocated = l->split.allocated;
		o[i].thin = l->split.thin;
		o[i].new_thin = l->split.new_thin;
		o[i].thick = l->split.thick;
		o[i].reserve = l->split.reserve;
		o[i].rx = l->split.rx;
		o[i].ratio_permille = l->ratio_permille;
		o[i].level = (char *)meta_load_level_name(l->level);
		o[i].zone = l->topo.zone;
		o[i].rack = l->topo.rack;
		o[i].brick = l->topo.brick;
		po[i] = &o[i];
	}
	resp.n_chunks = cl->n;
	resp.chunks = po;
	resp.valid = cl->valid;
	resp.allocated = cl->allocated;
	resp.ratio_permille = cl->ratio_permille;
	resp.level = (char *)meta_load_level_name(cl->level);
	resp.medium_permille = cl->t.medium;
	resp.high_permille = cl->t.high;
	resp.very_high_permille = cl->t.very_high;
	resp.super_high_permille = cl->t.super_high;
	rc = meta_reply_msg(r, MSG(&resp));
	free(o);
	free(po);
	free(cl);
	return rc;
}

#define META_PLANS_MAX	2	/* plans computed at once */
static unsigned int plans_running;

struct plan_job {
	struct meta_plan *p;
	uint64_t start_ns;
	bool apply;
	uint32_t per_hour;
};

static void plan_done(void *arg)
{
	struct plan_job *j = arg;

	meta_plan_free(j->p);
	free(j);
	plans_running--;
}

/* the zone of cid (0: none), for the bytes per zone */
static uint64_t zone_of(struct meta *m, uint32_t cid)
{
	struct meta_chunk *c = meta_chunk(&m->chunks, cid);

	return c ? meta_provision_path(m, c).zone : 0;
}

static int plan_reply(struct meta *m, struct plan_job *j, struct meta_reply *r)
{
	Zbs__MigratePlanResponse resp = ZBS__MIGRATE_PLAN_RESPONSE__INIT;
	struct meta_rebal_plan info;
	size_t n, nc = 0, nz = 0;
	const struct meta_rebal_move *mv = meta_plan_moves(j->p, &n, &info);
	Zbs__PlannedMove *o = calloc(n ? n : 1, sizeof(*o));
	Zbs__PlannedMove **po = calloc(n ? n : 1, sizeof(*po));
	Zbs__PlanChunkBytes *ch = calloc(META_MAX_CID, sizeof(*ch));
	Zbs__PlanChunkBytes **pch = calloc(META_MAX_CID, sizeof(*pch));
	Zbs__PlanZoneBytes *zo = calloc(META_MAX_CID, sizeof(*zo));
	Zbs__PlanZoneBytes **pzo = calloc(META_MAX_CID, sizeof(*pzo));
	int rc = -1;

	if (!o || !po || !ch || !pch || !zo || !pzo)
		goto out;
	for (size_t i = 0; i < n; i++) {
		zbs__planned_move__init(&o[i]);
		o[i].pid = mv[i].pid;
		o[i].src_cid = mv[i].src;
		o[i].dst_cid = mv[i].dst;
		o[i].replace_cid = mv[i].replace;
		o[i].why = (char *)meta_rebal_why_name(mv[i].why);
		po[i] = &o[i];
		resp.bytes += ZBS_EXTENT_SIZE;
	}
	for (uint32_t cid = 1; cid <= META_MAX_CID; cid++) {
		struct meta_chunk *c = meta_chunk(&m->chunks, cid);
		uint64_t in = info.in_bytes[cid], out = info.out_bytes[cid], z;
		size_t k;

		if (!c || (!in && !out))
			continue;
		zbs__plan_chunk_bytes__init(&ch[nc]);
		ch[nc].cid = cid;
		ch[nc].in_bytes = in;
		ch[nc].out_bytes = out;
		ch[nc].ratio_before_permille = meta_plan_ratio_before(j->p, cid);
		if (c->space.valid) {
			uint64_t a = meta_provision_allocated(c) + in;
			a = a > out ? a - out : 0;
			ch[nc].ratio_after_permille = (uint32_t)(a * 1000 / c->space.valid);
		}
		pch[nc] = &ch[nc];
		nc++;
		z = zone_of(m, cid);
		for (k = 0; k < nz && zo[k].zone != z; k++)
			;
		if (k == nz) {
			struct meta_topo *t = z ? meta_topo_find(&m->topos, z) : NULL;

			zbs__plan_zone_bytes__init(&zo[nz]);
			zo[nz].zone = z;
			zo[nz].name = t ? t->name : (char *)"";
			pzo[nz] = &zo[nz];
			nz++;
		}
		zo[k].in_bytes += in;
		zo[k].out_bytes += out;
	}
	resp.level = (char *)meta_load_level_name(info.level);
	resp.n_moves = n;
	resp.moves = po;
	resp.n_chunks = nc;
	resp.chunks = pch;
	resp.n_zones = nz;
	resp.zones = pzo;
	resp.localize = info.localize;
	resp.topology = info.topology;
	resp.capacity = info.capacity;
	resp.even = info.even;
	resp.truncated = info.truncated;
	resp.scanned = meta_plan_scanned(j->p);
	if (m->sched) {
		struct meta_sched_status st;

		meta_sched_status(m, &st);
		resp.rate_bps = st.rate_bps;
		if (st.rate_bps)
			resp.eta_ms = resp.bytes * 1000 / st.rate_bps;
	}
	if (j->apply)
		resp.applied = (uint32_t)meta_balance_queue(m, mv, n, j->per_hour);
	resp.elapsed_ms = (m->core.now_ns - j->start_ns) / 1000000;
	rc = meta_reply_msg(r, MSG(&resp));
out:
	free(o);
	free(po);
	free(ch);
	free(pch);
	free(zo);
	free(pzo);
	return rc;
}

static int plan_step(struct meta *m, void *arg, struct meta_reply *r, struct merr *e)
{
	struct plan_job *j = arg;

	if (!r)
		return 0;		/* nobody waits for it */
	if (!meta_plan_step(m, j->p))
		return 1;
	if (plan_reply(m, j, r))
		return merr_set(e, ZBS_RPC_EINTERNAL, "out of memory");
	return 0;
}

static int h_migrate_plan(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			  struct merr *e)
{
	const Zbs__MigratePlanRequest *q = (const void *)in;
	struct plan_job *j;

	if (q->max_moves > META_PLAN_MAX_MOVES)
		return merr_set(e, ZBS_RPC_EINVAL, "max moves %u: at most %u", q->max_moves,
				META_PLAN_MAX_MOVES);
	if (q->apply && !m->balance)
		return merr_set(e, ZBS_RPC_EUNSUPP, "migrate plan --apply: no recovery scheduler");
	if (plans_running >= META_PLANS_MAX)
		return merr_set(e, ZBS_RPC_EAGAIN, "%u plans are being computed: try again",
				plans_running);
	j = calloc(1, sizeof(*j));
	if (!j || !(j->p = meta_plan_start(m, q->max_moves))) {
		free(j);
		return merr_set(e, ZBS_RPC_EINTERNAL, "out of memory");
	}
	j->start_ns = m->core.now_ns;
	j->apply = q->apply;
	j->per_hour = q->moves_per_hour;
	plans_running++;
	return meta_reply_job(r, plan_step, plan_done, j);
}

static int h_replace_replica(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			     struct merr *e)
{
	const Zbs__ReplaceReplicaRequest *q = (const void *)in;
	Zbs__Empty resp = ZBS__EMPTY__INIT;
	struct meta_sched_replace rq = {
		.sid = q->session_id, .cmd_id = q->cmd_id, .pid = q->pid, .epoch = q->epoch,
		.lease_epoch = q->lease_epoch, .gen = q->gen, .src = q->src_cid, .dst = q->dst_cid,
		.replace = q->replace_cid, .ok = q->ok, .error = q->error,
		.bytes_copied = q->bytes_copied,
	};

	if (meta_sched_replace(m, &rq, e))
		return -1;
	return meta_reply_msg(r, MSG(&resp));
}

static int reply_recover_status(struct meta *m, struct meta_reply *r, struct merr *e)
{
	Zbs__RecoverStatusResponse resp = ZBS__RECOVER_STATUS_RESPONSE__INIT;
	Zbs__RecoverConfig cfg;
	struct meta_sched_status st;

	if (!m->sched)
		return merr_set(e, ZBS_RPC_EUNSUPP, "this metad runs no recovery scheduler");
	meta_sched_status(m, &st);
	fill_recover_config(&cfg, &m->sched->cfg);
	resp.config = &cfg;
	resp.need_recover = st.stats.need_recover;
	resp.dead = st.stats.dead;
	resp.at_risk = st.stats.at_risk;
	resp.cmds_running = st.running;
	resp.cmds_waiting = st.waiting;
	resp.bytes_left = st.bytes_left;
	resp.rate_bps = st.rate_bps;
	resp.eta_ms = st.eta_ms;
	resp.done = st.done;
	resp.failed = st.failed;
	resp.last_scan_ms = st.last_scan_ago_ms;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_recover_status(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			    struct merr *e)
{
	return reply_recover_status(m, r, e);
}

static int h_recover_set(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			 struct merr *e)
{
	const Zbs__RecoverSetRequest *q = (const void *)in;
	struct meta_sched_config c = { 0 };

	if (!q->config)
		return merr_set(e, ZBS_RPC_EINVAL, "RecoverSet without a config");
	c.slots = q->config->slots;
	c.concurrency = q->config->concurrency;
	c.bps = q->config->bps;
	c.timeout_ms = q->config->timeout_ms;
	c.scan_interval_ms = q->config->scan_interval_ms;
	if (meta_sched_set(m, &c, e))
		return -1;
	return reply_recover_status(m, r, e);
}

static int h_recover_scan(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			  struct merr *e)
{
	Zbs__Empty resp = ZBS__EMPTY__INIT;

	if (!m->sched)
		return merr_set(e, ZBS_RPC_EUNSUPP, "this metad runs no recovery scheduler");
	meta_sched_scan_now(m);
	return meta_reply_msg(r, MSG(&resp));
}

static int h_recover_list(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			  struct merr *e)
{
	Zbs__RecoverListResponse resp = ZBS__RECOVER_LIST_RESPONSE__INIT;
	uint32_t n = m->sched ? m->sched->ncmds : 0, i = 0;
	Zbs__RecoverCmdInfo *o = calloc(n + 1, sizeof(*o));
	Zbs__RecoverCmdInfo **op = calloc(n + 1, sizeof(*op));
	const struct meta_sched_cmd *c;
	int ret;

	if (!o || !op)
		abort();
	if (!m->sched) {
		free(o);
		free(op);
		return merr_set(e, ZBS_RPC_EUNSUPP, "this metad runs no recovery scheduler");
	}
	TAILQ_FOREACH(c, &m->sched->cmds, link) {
		fill_recover_info(m, &o[i], c);
		op[i] = &o[i];
		i++;
	}
	resp.n_cmds = i;
	resp.cmds = op;
	ret = meta_reply_msg(r, MSG(&resp));
	free(o);
	free(op);
	return ret;
}

static int h_migrate_create(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			    struct merr *e)
{
	const Zbs__MigrateCreateRequest *q = (const void *)in;
	Zbs__MigrateCreateResponse resp = ZBS__MIGRATE_CREATE_RESPONSE__INIT;
	Zbs__RecoverCmdInfo info;
	struct meta_sched_cmd *c;

	if (meta_sched_migrate(m, q->pid, q->src_cid, q->dst_cid, q->replace_cid, &c, e))
		return -1;
	fill_recover_info(m, &info, c);
	resp.cmd = &info;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_chunk_maintenance(struct meta *m, const ProtobufCMessage *in,
			       struct meta_reply *r, struct merr *e)
{
	const Zbs__ChunkMaintenanceRequest *q = (const void *)in;
	Zbs__ChunkMaintenanceResponse resp = ZBS__CHUNK_MAINTENANCE_RESPONSE__INIT;
	struct meta_maint_result res;
	Zbs__Chunk ch;
	Zbs__SpaceInfo si;

	if (meta_chunk_maintenance(m, q->cid, q->on, q->expire_ms, &res, e))
		return -1;
	fill_chunk(m, &ch, &si, meta_chunk(&m->chunks, q->cid));
	resp.chunk = &ch;
	resp.leases_revoked = res.leases_revoked;
	resp.cmds_revoked = res.cmds_revoked;
	return meta_reply_msg(r, MSG(&resp));
}

static int h_chunk_remove(struct meta *m, const ProtobufCMessage *in, struct meta_reply *r,
			  struct merr *e)
{
	const Zbs__ChunkRemoveRequest *q = (const void *)in;
	Zbs__ChunkRemoveResponse resp = ZBS__CHUNK_REMOVE_RESPONSE__INIT;
	struct meta_remove_result res;
	Zbs__Chunk ch;
	Zbs__SpaceInfo si;

	if (meta_chunk_remove(m, q->cid, q->cancel, &res, e))
		return -1;
	fill_chunk(m, &ch, &si, meta_chunk(&m->chunks, q->cid));
	resp.chunk = &ch;
	resp.removing = res.removing;
	resp.pids_left = res.pids_left;
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
	[ZBS_M_CLUSTER_LOAD] = { &zbs__empty__descriptor, h_cluster_load },
	[ZBS_M_MIGRATE_PLAN] = { &zbs__migrate_plan_request__descriptor, h_migrate_plan },
	[ZBS_M_CHUNK_MAINTENANCE] = { &zbs__chunk_maintenance_request__descriptor,
				      h_chunk_maintenance },
	[ZBS_M_CHUNK_REMOVE] = { &zbs__chunk_remove_request__descriptor, h_chunk_remove },
	[ZBS_M_REPLACE_REPLICA] = { &zbs__replace_replica_request__descriptor, h_replace_replica },
	[ZBS_M_RECOVER_STATUS] = { &zbs__empty__descriptor, h_recover_status },
	[ZBS_M_RECOVER_LIST] = { &zbs__empty__descriptor, h_recover_list },
	[ZBS_M_RECOVER_SET] = { &zbs__recover_set_request__descriptor, h_recover_set },
	[ZBS_M_RECOVER_SCAN] = { &zbs__empty__descriptor, h_recover_scan },
	[ZBS_M_MIGRATE_CREATE] = { &zbs__migrate_create_request__descriptor, h_migrate_create },
};
