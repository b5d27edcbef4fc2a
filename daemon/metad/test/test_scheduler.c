// SPDX-License-Identifier: GPL-2.0
/*
 * The recovery scheduler over the tables, without the network: a fake
 * clock, chunks whose sessions keep alive (or not), cmds issued by the scan,
 * handed out until acknowledged, ended by ReplaceReplica, refusals,
 * timeouts and revocations; the config through the store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agile.h"
#include "balance.h"
#include "chunk_admin.h"
#include "keepalive.h"
#include "lease.h"
#include "meta.h"
#include "provision.h"
#include "report.h"
#include "rpc.h"
#include "scheduler.h"

#define MS 1000000ULL
#define G (1ULL << 30)
#define E (256ULL << 20)
/* data reports, revokes, GC and recover cmds; no CAP_REVOKE_ACK: a
 * revoked lease is released at once */
#define CAPS_REC (CAP_DATA_REPORT | CAP_REVOKE | CAP_GC | CAP_RECOVER)
#define CAPS_OLD (CAP_DATA_REPORT | CAP_REVOKE | CAP_GC)

static const struct meta_config cfg = {
	.session_lease_ms = 1000, .keepalive_ms = 250,
	.alive_grace_ms = 60000, .idle_release_ms = 600000,
};

static const char *uuids[] = {
	"", "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
	"33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444",
	"55555555-5555-4555-8555-555555555555",
};

struct fix {
	struct meta m;
	uint64_t t;
	uint64_t sid[6];
	uint64_t caps[6];
	bool dead[6];		/* its keepalives stopped */
	struct { uint32_t cid; uint64_t pid; } gc[64];	/* GC deletes sent */
	uint32_t ngc;
};

static void clock_to(struct fix *f, uint64_t ms)
{
	f->t += ms * MS;
	meta_set_clock(&f->m, f->t, 1700000000ULL * 1000 * MS + f->t);
}

static struct meta_session *sess(struct fix *f, int cid)
{
	return meta_session_find(&f->m.sessions, f->sid[cid]);
}

/* ms of life: the live chunks keep alive, the loop ticks, every 100 ms */
static void run(struct fix *f, uint64_t ms)
{
	struct meta_session *s;
	struct merr e;

	for (uint64_t t = 0; t < ms; t += 100) {
		clock_to(f, 100);
		for (int c = 1; c <= 5; c++) {
			if (!f->sid[c] || f->dead[c])
				continue;
			assert_int_equal(meta_keepalive(&f->m, f->sid[c], NULL, NULL, f->caps[c],
							&s, &e), 0);
			/* the reply takes the queued commands (h_keepalive) */
			for (uint32_t i = 0; i < s->ncmds; i++)
				if (s->cmds[i].type == CMD_GC_DELETE && f->ngc < 64)
					f->gc[f->ngc].cid = c, f->gc[f->ngc++].pid = s->cmds[i].pid;
			meta_session_cmds_sent(s);
		}
		meta_tick(&f->m, 100 * MS);
	}
}

static void add_chunks(struct fix *f, int n, uint64_t caps)
{
	struct meta_space sp = { 1000 * G, 1000 * G, 0, 0 };
	struct meta_chunk *c;
	struct meta_session *s;
	struct merr e;
	char d[32], r[32];

	for (int i = 1; i <= n; i++) {
		snprintf(d, sizeof(d), "10.0.0.%d:10201", i);
		snprintf(r, sizeof(r), "10.0.0.%d:10200", i);
		assert_int_equal(meta_chunk_register(&f->m.chunks, uuids[i], d, r, &c, &e), 0);
		assert_int_equal(meta_session_create(&f->m, i, uuids[i], caps, &s, &e), 0);
		f->sid[i] = s->id;
		f->caps[i] = caps;
		assert_int_equal(meta_keepalive(&f->m, s->id, &sp, NULL, caps, &s, &e), 0);
	}
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	meta_init(&f->m, &cfg);
	f->t = 1000 * MS;
	clock_to(f, 0);
	assert_int_equal(meta_sched_init(&f->m, NULL), 0);
	clock_to(f, 2 * cfg.session_lease_ms);	/* past the quiet start */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	meta_sched_free(&f->m);
	meta_free(&f->m);
	free(f);
	return 0;
}

/* a thick volume of n extents, 2 replicas each */
static struct meta_volume *mkvol(struct fix *f, uint32_t n)
{
	struct meta_volume_spec s = { .name = "v", .size = n * E, .replica_num = 2,
				      .stripe_num = 1, .stripe_size = 256 << 10 };
	struct meta_volume *v;
	struct merr e;

	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), 0);
	return v;
}

/* the one cmd */
static struct meta_sched_cmd *the_cmd(struct fix *f)
{
	assert_int_equal(f->m.sched->ncmds, 1);
	return TAILQ_FIRST(&f->m.sched->cmds);
}

static bool slots_empty(struct fix *f)
{
	static const struct meta_recover_load zero[META_MAX_CID + 1];

	return !memcmp(f->m.sched->slots.by_cid, zero, sizeof(zero));
}

/* is a GC of pid queued for cid's chunk, or sent to it? */
static bool gc_queued(struct fix *f, int cid, uint64_t pid)
{
	struct meta_session *s = sess(f, cid);

	for (uint32_t i = 0; i < f->ngc; i++)
		if (f->gc[i].cid == (uint32_t)cid && f->gc[i].pid == pid)
			return true;

	for (uint32_t i = 0; s && i < s->ncmds; i++)
		if (s->cmds[i].type == CMD_GC_DELETE && s->cmds[i].pid == pid)
			return true;
	return false;
}

static bool waiting(struct fix *f, uint64_t pid)
{
	struct meta_sched_wait *w;

	HASH_FIND(hh, f->m.sched->waiting, &pid, sizeof(pid), w);
	return w != NULL;
}

/* a volume of one extent on two of four chunks; the first replica's chunk
 * dies: its pid gets a cmd. Returns the pid, *dead the dead cid. */
static uint64_t kill_one(struct fix *f, uint64_t caps, int *dead)
{
	struct meta_volume *v;
	struct meta_pext *p;

	add_chunks(f, 4, caps);
	v = mkvol(f, 1);
	p = meta_pext(&f->m.pexts, v->vtable[0]);
	assert_int_equal(loc_count(p->location), 2);
	*dead = loc_get(p->location, 0);
	f->dead[*dead] = true;
	run(f, 1500);		/* its session expires (1 s lease) */
	assert_null(sess(f, *dead));
	return v->vtable[0];
}

static void replace_req(struct fix *f, const struct meta_sched_cmd *c,
			struct meta_sched_replace *r)
{
	const struct meta_pext *p = meta_pext(&f->m.pexts, c->rc.pid);

	*r = (struct meta_sched_replace){
		.sid = c->sid, .cmd_id = c->id, .pid = c->rc.pid, .epoch = p->epoch,
		.lease_epoch = p->lease_epoch, .gen = p->meta_gen, .src = c->rc.src,
		.dst = c->rc.dst, .replace = c->rc.replace, .ok = true,
		.bytes_copied = E,
	};
}

/* kill → cmd (replace the dead, dst elsewhere, owner src) → sent until
 * acknowledged → ReplaceReplica → the pextent is whole again */
static void test_kill_recover(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c, *out[4];
	struct meta_sched_replace r;
	struct merr e;
	int dead, live;
	uint64_t pid = kill_one(f, CAPS_REC, &dead), lease_epoch, cid;
	struct meta_pext *p = meta_pext(&f->m.pexts, pid);
	struct meta_session *owner;

	live = loc_get(p->location, 1);
	c = the_cmd(f);
	assert_int_equal(c->rc.pid, pid);
	assert_int_equal(c->rc.replace, dead);
	assert_int_equal(c->rc.src, live);
	assert_int_not_equal(c->rc.dst, dead);
	assert_int_not_equal(c->rc.dst, live);
	/* SPEC 3.4: no owner, so the src; it got the lease */
	assert_int_equal(c->rc.owner, live);
	assert_true(c->rc.owner_new);
	owner = sess(f, live);
	assert_int_equal(p->owner, owner->id);
	assert_int_equal(c->lease_epoch, p->lease_epoch);
	assert_int_equal(p->lease_epoch, 1);
	lease_epoch = p->lease_epoch;
	/* in every keepalive reply of the owner until acknowledged, no one else's */
	assert_int_equal(meta_sched_to_send(&f->m, owner, out, 4), 1);
	assert_ptr_equal(out[0], c);
	assert_int_equal(meta_sched_to_send(&f->m, owner, out, 4), 1);
	assert_int_equal(meta_sched_to_send(&f->m, sess(f, c->rc.dst), out, 4), 0);
	assert_int_equal(c->rc.start_ms, 0);
	meta_sched_acked(&f->m, sess(f, c->rc.dst), c->id);	/* not its owner: nothing */
	assert_false(c->acked);
	meta_sched_acked(&f->m, owner, c->id);
	assert_true(c->acked);
	assert_int_not_equal(c->rc.start_ms, 0);
	assert_int_equal(meta_sched_to_send(&f->m, owner, out, 4), 0);
	/* progress, for recover list */
	meta_sched_progress(&f->m, owner, c->id, E / 2, E);
	assert_int_equal(c->bytes_copied, E / 2);
	/* at most one cmd per pid: a scan does not add another */
	meta_sched_scan_now(&f->m);
	run(f, 500);
	c = the_cmd(f);
	/* done: dst takes the dead one's slot, alive at once */
	cid = c->rc.dst;
	replace_req(f, c, &r);
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(f->m.sched->done, 1);
	assert_int_equal(loc_get(p->location, 0), cid);
	assert_int_equal(loc_get(p->location, 1), live);
	assert_true(loc_contains(p->alive_location, cid));
	assert_int_equal(p->lease_epoch, lease_epoch);
	/* the lease given for the cmd goes back (no CAP_REVOKE_ACK: at once),
	 * so an agent asking for the pid next is not refused as owned */
	assert_int_equal(p->owner, 0);
	assert_true(slots_empty(f));
	/* whole: the next scan finds nothing to do */
	meta_sched_scan_now(&f->m);
	run(f, 500);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(f->m.sched->stats.need_recover, 0);
	assert_int_equal(f->m.sched->stats.dead, 0);
	/* the same request again: the cmd is gone */
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
}

/* four chunks, a volume of one extent: its pextent on *a and *b */
static struct meta_pext *one_extent(struct fix *f, struct meta_volume **v, uint32_t *a,
				    uint32_t *b)
{
	struct meta_pext *p;

	add_chunks(f, 4, CAPS_REC);
	*v = mkvol(f, 1);
	run(f, 200);
	p = meta_pext(&f->m.pexts, (*v)->vtable[0]);
	*a = loc_get(p->location, 0);
	*b = loc_get(p->location, 1);
	return p;
}

/* RemoveReplica queues the pid at once; the cmd adds a replica (replace 0)
 * under the pid's existing owner, which keeps its lease whatever happens */
static void test_remove_replica_immediate(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c;
	struct meta_sched_replace r;
	struct meta_volume *v;
	struct meta_pext *p;
	struct merr e;
	uint64_t pid, lease_epoch, sid;
	uint32_t a, b;

	p = one_extent(f, &v, &a, &b);
	sid = f->sid[a];
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, sid, &pid, &e), 0);
	lease_epoch = p->lease_epoch;
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, lease_epoch, b, 0, sid, &e), 0);
	assert_true(waiting(f, pid));
	assert_int_equal(f->m.sched->ncmds, 0);
	run(f, 100);		/* the next tick, not the next scan */
	c = the_cmd(f);
	assert_int_equal(c->rc.replace, 0);
	assert_int_equal(c->rc.src, a);
	assert_int_equal(c->rc.owner, a);
	assert_false(c->rc.owner_new);
	assert_int_equal(c->sid, sid);
	assert_int_equal(p->lease_epoch, lease_epoch);	/* no new owner, no new lease */
	replace_req(f, c, &r);
	r.ok = false;
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	assert_int_equal(p->owner, sid);		/* its own lease: kept */
	run(f, META_SCHED_BACKOFF_MS + 500);
	c = the_cmd(f);
	replace_req(f, c, &r);
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	assert_int_equal(loc_count(p->location), 2);	/* appended */
	assert_int_equal(loc_get(p->location, 0), a);
	assert_int_equal(p->owner, sid);
}

/* two chunks, one extent on both; its owner reports the replica on the
 * other failed: that chunk is no recover dst while it keeps that session,
 * for the hold (the session lease by default) */
static uint64_t fail_other(struct fix *f, uint32_t *a, uint32_t *b)
{
	struct meta_volume *v;
	struct meta_pext *p;
	struct merr e;
	uint64_t pid;

	add_chunks(f, 2, CAPS_REC);
	v = mkvol(f, 1);
	run(f, 200);
	p = meta_pext(&f->m.pexts, v->vtable[0]);
	*a = loc_get(p->location, 0);
	*b = loc_get(p->location, 1);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[*a], &pid, &e),
			 0);
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, *b, 0,
					     f->sid[*a], &e), 0);
	assert_true(meta_sched_chunk_failing(&f->m, *b));
	assert_false(meta_sched_chunk_failing(&f->m, *a));
	return pid;
}

static void test_failing_dst_hold(void **state)
{
	struct fix *f = *state;
	uint32_t a, b;
	uint64_t pid = fail_other(f, &a, &b);

	/* b is the only chunk outside the location: nothing while held */
	run(f, cfg.session_lease_ms - 300);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_true(waiting(f, pid));
	assert_true(meta_sched_chunk_failing(&f->m, b));
	/* the hold is over (b kept its session: it was not dying) */
	run(f, 500);
	assert_false(meta_sched_chunk_failing(&f->m, b));
	assert_int_equal(the_cmd(f)->rc.dst, b);
	assert_int_equal(the_cmd(f)->rc.pid, pid);
}

static void test_failing_dst_new_session(void **state)
{
	struct fix *f = *state;
	struct meta_session *s;
	struct merr e;
	uint32_t a, b;
	uint64_t pid;

	f->m.sched->cfg.failed_hold_ms = 60000;	/* only the new session clears it */
	pid = fail_other(f, &a, &b);
	run(f, 300);
	assert_int_equal(f->m.sched->ncmds, 0);
	/* b's chunkd restarts: a new session clears it at once */
	assert_int_equal(meta_session_create(&f->m, b, uuids[b], CAPS_REC, &s, &e), 0);
	f->sid[b] = s->id;
	assert_false(meta_sched_chunk_failing(&f->m, b));
	run(f, META_SCHED_RETRY_MS + 200);	/* the pid's next try */
	assert_int_equal(the_cmd(f)->rc.dst, b);
	assert_int_equal(the_cmd(f)->rc.pid, pid);
}

/* maintenance (SPEC 5.10): leases revoked, no new replica on the chunk,
 * the recovery of its replicas waits for the expiry */
static void test_maintenance(void **state)
{
	struct fix *f = *state;
	struct meta_maint_result res;
	struct meta_volume *v, *v2;
	struct meta_pext *p;
	struct merr e;
	uint64_t pid;
	uint32_t a, b;

	p = one_extent(f, &v, &a, &b);
	assert_int_equal(meta_get_vextent_lease(&f->m, v, 0, LEASE_WRITE, f->sid[a], &pid, &e), 0);
	assert_int_equal(p->owner, f->sid[a]);
	/* errors change nothing */
	assert_int_equal(meta_chunk_maintenance(&f->m, 9, true, 0, &res, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
	assert_int_equal(meta_chunk_maintenance(&f->m, a, true, 999, &res, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EINVAL);
	assert_int_equal(meta_chunk_maintenance(&f->m, a, true, META_MAINT_MAX_MS + 1, &res, &e),
			 -1);
	assert_int_equal(meta_chunk_maintenance(&f->m, a, false, 5000, &res, &e), -1);
	assert_false(meta_chunk_in_maintenance(meta_chunk(&f->m.chunks, a), f->m.core.wall_ns));
	assert_int_equal(p->owner, f->sid[a]);
	/* on for 5 s: its lease is revoked (no CAP_REVOKE_ACK: released at once) */
	assert_int_equal(meta_chunk_maintenance(&f->m, a, true, 5000, &res, &e), 0);
	assert_int_equal(res.leases_revoked, 1);
	assert_int_equal(p->owner, 0);
	assert_true(meta_chunk_in_maintenance(meta_chunk(&f->m.chunks, a), f->m.core.wall_ns));
	/* no new replica on it: a volume over the other three chunks */
	struct meta_volume_spec vs = { .name = "v2", .size = 6 * E, .replica_num = 2,
				       .stripe_num = 1, .stripe_size = 256 << 10 };
	assert_int_equal(meta_volume_create(&f->m, &vs, &v2, &e), 0);
	for (uint32_t i = 0; i < 6; i++)
		assert_false(loc_contains(meta_pext(&f->m.pexts, v2->vtable[i])->location, a));
	/* it goes down: its replica still counts, nothing is recovered */
	f->dead[a] = true;
	run(f, 1500);
	assert_null(sess(f, a));
	meta_sched_scan_now(&f->m);
	run(f, 1000);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(f->m.sched->stats.need_recover, 0);
	/* expired (5 s after it began): recovered at once, elsewhere */
	run(f, 3000);
	assert_false(meta_chunk_in_maintenance(meta_chunk(&f->m.chunks, a), f->m.core.wall_ns));
	assert_int_equal(meta_chunk(&f->m.chunks, a)->maint_until_ns, 0);
	assert_true(f->m.sched->ncmds >= 1);
	for (struct meta_sched_cmd *c = TAILQ_FIRST(&f->m.sched->cmds); c;
	     c = TAILQ_NEXT(c, link)) {
		assert_int_equal(c->rc.replace, a);
		assert_int_not_equal(c->rc.dst, a);
	}
	assert_true(meta_sched_has_cmd(&f->m, pid));
}

/*
 * One extent on *a and *b (one_extent); b in maintenance for maint_ms when
 * that is not 0; its owner on a drops b's replica at gen 10 (RemoveReplica,
 * as after a failed write). Returns the pid; *pp its pextent.
 */
static uint64_t drop_b(struct fix *f, uint64_t maint_ms, struct meta_volume **v,
		       struct meta_pext **pp, uint32_t *a, uint32_t *b)
{
	struct meta_maint_result res;
	struct meta_pext *p;
	struct merr e;
	uint64_t pid;

	p = one_extent(f, v, a, b);
	if (maint_ms)
		assert_int_equal(meta_chunk_maintenance(&f->m, *b, true, maint_ms, &res, &e), 0);
	assert_int_equal(meta_get_vextent_lease(&f->m, *v, 0, LEASE_WRITE, f->sid[*a], &pid, &e),
			 0);
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, *b, 10,
					     f->sid[*a], &e), 0);
	*pp = p;
	return pid;
}

/* a replica of a chunk in maintenance dropped by a failed write waits for
 * the chunk as long as the maintenance lasts, whatever the agile wait */
static void test_maintenance_dropped_waits(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	struct meta_pext *p;
	uint64_t pid;
	uint32_t a, b;

	f->m.core.cfg.agile_wait_ms = 0;
	pid = drop_b(f, 5000, &v, &p, &a, &b);
	f->dead[b] = true;	/* restarted for an upgrade, say */
	run(f, 3000);
	assert_null(sess(f, b));
	assert_int_equal(f->m.sched->ncmds, 0);		/* waits for b */
	assert_true(waiting(f, pid));
	/* maintenance over, b not back: a full recovery elsewhere */
	run(f, 2500);
	assert_true(f->m.sched->ncmds >= 1);
	assert_false(the_cmd(f)->agile);
	assert_int_not_equal(the_cmd(f)->rc.dst, b);
}

static void report(struct fix *f, int cid, uint64_t pid, uint64_t gen);

/* the chunk in maintenance comes back: its dropped replica waits until
 * the maintenance is off, then is caught up (agile), not copied elsewhere */
static void test_maintenance_back_agile(void **state)
{
	struct fix *f = *state;
	struct meta_maint_result res;
	struct meta_volume *v;
	struct meta_pext *p;
	struct merr e;
	uint64_t pid;
	uint32_t a, b;

	f->m.core.cfg.agile_wait_ms = 0;
	pid = drop_b(f, 60000, &v, &p, &a, &b);
	report(f, b, pid, 9);		/* back (same session here), in maintenance */
	run(f, 3000);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(meta_chunk_maintenance(&f->m, b, false, 0, &res, &e), 0);
	run(f, 1500);
	assert_true(the_cmd(f)->agile);
	assert_int_equal(the_cmd(f)->rc.dst, b);
	assert_int_equal(the_cmd(f)->since_gen, 9);
}

/* maintenance off: the recovery it held back starts at once */
static void test_maintenance_off(void **state)
{
	struct fix *f = *state;
	struct meta_maint_result res;
	struct meta_volume *v;
	struct merr e;
	uint32_t a, b;

	one_extent(f, &v, &a, &b);
	assert_int_equal(meta_chunk_maintenance(&f->m, b, true, 0, &res, &e), 0);
	assert_int_equal(res.leases_revoked, 0);
	assert_true(meta_chunk(&f->m.chunks, b)->maint_until_ns >=
		    f->m.core.wall_ns + META_MAINT_DEFAULT_MS * MS - 1000 * MS);
	f->dead[b] = true;
	run(f, 3000);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(meta_chunk_maintenance(&f->m, b, false, 0, &res, &e), 0);
	run(f, 300);
	assert_int_equal(the_cmd(f)->rc.replace, b);
	assert_int_equal(the_cmd(f)->rc.pid, v->vtable[0]);
	/* off again: nothing changes */
	assert_int_equal(meta_chunk_maintenance(&f->m, b, false, 0, &res, &e), 0);
}

/* every pextent of v holds at least n replicas, all alive */
static void assert_redundancy(struct fix *f, const struct meta_volume *v, uint32_t n)
{
	for (uint32_t i = 0; i < v->nvext; i++) {
		const struct meta_pext *p = meta_pext(&f->m.pexts, v->vtable[i]);
		assert_true((uint32_t)loc_count(p->location) >= n);
		assert_int_equal(p->alive_location & p->location, p->location);
	}
}

/* chunk removal: every replica migrates off within the cmd slots, the
 * pextents never below their replicas; drained and stopped, forgotten */
static void test_remove_drain(void **state)
{
	struct fix *f = *state;
	struct meta_sched_config one = { .slots = 1 };
	struct meta_remove_result res;
	struct meta_sched_replace r;
	struct meta_volume *v;
	struct merr e;
	uint32_t x, rounds = 0;
	uint64_t left;

	add_chunks(f, 4, CAPS_REC);
	v = mkvol(f, 8);
	run(f, 200);
	x = loc_get(meta_pext(&f->m.pexts, v->vtable[0])->location, 0);
	left = meta_chunk_pids(meta_chunk(&f->m.chunks, x));
	assert_true(left >= 1);
	assert_int_equal(meta_sched_set(&f->m, &one, &e), 0);
	assert_int_equal(meta_chunk_remove(&f->m, 9, false, &res, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
	assert_int_equal(meta_chunk_remove(&f->m, x, false, &res, &e), 0);
	assert_true(res.removing);
	assert_int_equal(res.pids_left, left);
	assert_false(meta_chunk_takes_replicas(meta_chunk(&f->m.chunks, x), f->m.core.wall_ns));
	while (meta_chunk_pids(meta_chunk(&f->m.chunks, x))) {
		struct meta_sched_cmd *c, *next;

		assert_true(++rounds < 50);
		run(f, META_SCHED_RETRY_MS + 100);
		assert_true(f->m.sched->ncmds >= 1);
		for (uint32_t cid = 1; cid <= 4; cid++)
			assert_true(f->m.sched->slots.by_cid[cid].cmds <= 1);
		for (c = TAILQ_FIRST(&f->m.sched->cmds); c; c = next) {
			next = TAILQ_NEXT(c, link);
			assert_int_equal(c->rc.replace, x);
			assert_true(c->rc.is_migrate);
			assert_int_not_equal(c->rc.dst, x);
			replace_req(f, c, &r);
			assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
			assert_redundancy(f, v, 2);
		}
		assert_int_equal(meta_chunk_remove(&f->m, x, false, &res, &e), 0);
		assert_int_equal(res.pids_left, meta_chunk_pids(meta_chunk(&f->m.chunks, x)));
	}
	assert_redundancy(f, v, 2);
	for (uint32_t i = 0; i < v->nvext; i++)
		assert_false(loc_contains(meta_pext(&f->m.pexts, v->vtable[i])->location, x));
	/* drained, its chunkd still running: kept */
	run(f, 1000);
	assert_non_null(meta_chunk(&f->m.chunks, x));
	assert_int_equal(f->m.sched->ncmds, 0);
	/* stopped: forgotten, and nothing needs recovery */
	f->dead[x] = true;
	run(f, 1500);
	assert_null(meta_chunk(&f->m.chunks, x));
	meta_sched_scan_now(&f->m);
	run(f, 500);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(f->m.sched->stats.need_recover, 0);
	assert_int_equal(meta_chunk_remove(&f->m, x, false, &res, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
}

/* a failslow chunk (SPEC 4.7 rule 2): its replicas migrate off, a copy
 * first; where no chunk can take them they stay, not retried every tick */
static void test_failslow_drain(void **state)
{
	struct fix *f = *state;
	struct meta_sched_replace r;
	struct meta_volume *v;
	struct merr e;
	uint32_t x, rounds = 0;

	add_chunks(f, 4, CAPS_REC);
	v = mkvol(f, 4);
	run(f, 200);
	x = loc_get(meta_pext(&f->m.pexts, v->vtable[0])->location, 0);
	meta_chunk(&f->m.chunks, x)->failslow = true;
	meta_sched_scan_now(&f->m);
	while (meta_chunk_pids(meta_chunk(&f->m.chunks, x))) {
		struct meta_sched_cmd *c, *next;

		assert_true(++rounds < 20);
		run(f, META_SCHED_RETRY_MS + 100);
		assert_true(f->m.sched->ncmds >= 1);
		for (c = TAILQ_FIRST(&f->m.sched->cmds); c; c = next) {
			next = TAILQ_NEXT(c, link);
			assert_int_equal(c->rc.replace, x);
			assert_true(c->rc.is_migrate);
			assert_int_not_equal(c->rc.dst, x);
			assert_int_not_equal(c->rc.src, x);	/* another replica reads */
			replace_req(f, c, &r);
			assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
			assert_redundancy(f, v, 2);
		}
	}
	for (uint32_t i = 0; i < v->nvext; i++)
		assert_false(loc_contains(meta_pext(&f->m.pexts, v->vtable[i])->location, x));
}

static void test_failslow_nowhere(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	uint32_t x;

	add_chunks(f, 2, CAPS_REC);
	v = mkvol(f, 1);
	run(f, 200);
	x = loc_get(meta_pext(&f->m.pexts, v->vtable[0])->location, 0);
	meta_chunk(&f->m.chunks, x)->failslow = true;
	meta_sched_scan_now(&f->m);
	run(f, 500);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_false(waiting(f, v->vtable[0]));		/* until the next scan */
	assert_true(loc_contains(meta_pext(&f->m.pexts, v->vtable[0])->location, x));
}

/* a removal that cannot complete is refused; a cancel stops it */
static void test_remove_refused_cancel(void **state)
{
	struct fix *f = *state;
	struct meta_remove_result res;
	struct meta_volume *v;
	struct meta_pext *p;
	struct merr e;
	uint32_t a, b;

	p = one_extent(f, &v, &a, &b);
	(void)p;
	/* 4 chunks, 2 replicas: fine; but not with two of the others gone */
	for (uint32_t cid = 1; cid <= 4; cid++)
		if (cid != a && cid != b)
			f->dead[cid] = true;
	run(f, 1500);
	assert_int_equal(meta_chunk_remove(&f->m, a, false, &res, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOSPC);
	assert_non_null(strstr(e.msg, "only 1 other chunk(s)"));
	assert_true(meta_chunk_takes_replicas(meta_chunk(&f->m.chunks, a), f->m.core.wall_ns));
	/* a chunk without replicas can always go; cancel brings it back */
	for (uint32_t cid = 1; cid <= 4; cid++)
		if (cid != a && cid != b) {
			assert_int_equal(meta_chunk_remove(&f->m, cid, false, &res, &e), 0);
			assert_int_equal(res.pids_left, 0);
			assert_int_equal(meta_chunk_remove(&f->m, cid, true, &res, &e), 0);
			assert_false(res.removing);
			assert_false(meta_chunk(&f->m.chunks, cid)->admin & CHUNK_ADMIN_REMOVING);
		}
	run(f, 500);
	assert_int_equal(f->m.sched->ncmds, 0);
}

/* the scheduler gives recovery the chunks' topology: racks A {1, 2},
 * B {3}, C {4, 5}; a 3-replica extent, one per rack; its rack-C chunk dies:
 * the replica comes back in rack C, though a spare chunk of rack A has a
 * lower cid and as much space */
static void test_recover_racks(void **state)
{
	struct fix *f = *state;
	static const char *const racks[] = { "ra", "rb", "rc" };
	static const int rack_of[6] = { 0, 0, 0, 1, 2, 2 };
	struct meta_volume_spec vs = { .name = "v3", .size = E, .replica_num = 3,
				       .stripe_num = 1, .stripe_size = 256 << 10 };
	uint64_t brick[3];
	struct meta_volume *v;
	struct meta_pext *p;
	struct meta_topo *t;
	struct merr e;
	uint32_t dead = 0;
	int seen[3] = { 0 };

	add_chunks(f, 5, CAPS_REC);
	for (int r = 0; r < 3; r++) {
		char b[8];
		assert_int_equal(meta_topo_create(&f->m.topos, TOPO_RACK, racks[r], TOPO_DEFAULT_ZONE,
						  &t, &e), 0);
		snprintf(b, sizeof(b), "b%d", r);
		assert_int_equal(meta_topo_create(&f->m.topos, TOPO_BRICK, b, t->id, &t, &e), 0);
		brick[r] = t->id;
	}
	for (uint32_t cid = 1; cid <= 5; cid++)
		assert_int_equal(meta_topo_move(&f->m.topos, &f->m.chunks, cid, 0,
						brick[rack_of[cid]], &e), 0);
	assert_int_equal(meta_volume_create(&f->m, &vs, &v, &e), 0);
	run(f, 200);
	p = meta_pext(&f->m.pexts, v->vtable[0]);
	assert_int_equal(loc_count(p->location), 3);
	for (int i = 0; i < 3; i++) {
		uint32_t cid = loc_get(p->location, i);
		seen[rack_of[cid]]++;
		if (rack_of[cid] == 2)
			dead = cid;
	}
	assert_int_equal(seen[0] * seen[1] * seen[2], 1);	/* one per rack */
	f->dead[dead] = true;
	run(f, 1500);
	assert_int_equal(the_cmd(f)->rc.replace, dead);
	assert_int_equal(the_cmd(f)->rc.dst, dead == 4 ? 5 : 4);
}

/* chunk cid reports holding pid at gen (a full report) */
static void report(struct fix *f, int cid, uint64_t pid, uint64_t gen)
{
	const struct meta_pext *p = meta_pext(&f->m.pexts, pid);
	struct meta_replica_report r = { .pid = pid, .epoch = p->epoch, .gen = gen };
	struct meta_report rep = { .seq = ++sess(f, cid)->report_seq + 100, .reps = &r, .n = 1 };

	meta_data_report(&f->m, sess(f, cid), &rep);
}

/*
 * Agile recovery (agile.h): a replica dropped by RemoveReplica at gen 10
 * keeps its pid from a full recovery for the wait; back at gen 7 it gets
 * an agile add (dst = its chunk, since_gen 7), which puts it back in the
 * location. Back above the drop gen, or after an agile cmd failed, or once
 * the wait ran out, the recovery is a full one elsewhere; and a returning
 * replica whose pid is whole again is GC'd.
 */
static void test_agile(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c;
	struct meta_sched_replace r;
	struct meta_volume *v;
	struct meta_pext *p;
	struct merr e;
	uint64_t pid;
	uint32_t a, b;

	f->m.core.cfg.agile_wait_ms = 30000;
	pid = drop_b(f, 0, &v, &p, &a, &b);
	assert_int_equal(meta_agile_count(&f->m), 1);
	run(f, 5000);
	assert_int_equal(f->m.sched->ncmds, 0);		/* waits for b */
	assert_true(waiting(f, pid));
	/* b is back at gen 7: caught up from there */
	report(f, b, pid, 7);
	run(f, 200);
	c = the_cmd(f);
	assert_true(c->agile);
	assert_int_equal(c->since_gen, 7);
	assert_int_equal(c->rc.dst, b);
	assert_int_equal(c->rc.src, a);
	assert_int_equal(c->rc.replace, 0);
	/* the agile cmd fails (src no longer tracked that far back): full next */
	replace_req(f, c, &r);
	r.ok = false;
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	run(f, META_SCHED_BACKOFF_MS + 500);
	c = the_cmd(f);
	assert_false(c->agile);
	replace_req(f, c, &r);
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	assert_int_equal(loc_count(p->location), 2);
	assert_int_equal(meta_agile_count(&f->m), 0);		/* whole: forgotten */
}

static void test_agile_done_and_gc(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c;
	struct meta_sched_replace r;
	struct meta_volume *v;
	struct meta_pext *p;
	struct merr e;
	uint64_t pid, sid;
	uint32_t a, b, other;

	f->m.core.cfg.agile_wait_ms = 30000;
	pid = drop_b(f, 0, &v, &p, &a, &b);
	sid = f->sid[a];
	report(f, b, pid, 10);		/* at the drop gen: fits */
	run(f, 200);
	c = the_cmd(f);
	assert_true(c->agile);
	assert_int_equal(c->since_gen, 10);
	replace_req(f, c, &r);
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	assert_true(loc_contains(p->location, b));
	assert_true(loc_contains(p->alive_location, b));
	assert_int_equal(meta_agile_count(&f->m), 0);

	/* dropped again, back above the drop gen: it took writes the others
	 * did not, so it is not caught up but recovered in full elsewhere */
	assert_int_equal(meta_remove_replica(&f->m, pid, p->epoch, p->lease_epoch, b, 20, sid, &e),
			 0);
	report(f, b, pid, 21);
	run(f, 200);
	c = the_cmd(f);
	assert_false(c->agile);
	replace_req(f, c, &r);
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	assert_int_equal(loc_count(p->location), 2);
	/* a copy outside the whole location is garbage; none while a cmd of
	 * the pid runs (it may be that cmd's dst) */
	for (other = 1; loc_contains(p->location, other); other++)
		;
	assert_int_equal(meta_sched_migrate(&f->m, pid, a, other, loc_get(p->location, 1) == a ?
					    loc_get(p->location, 0) : loc_get(p->location, 1),
					    &c, &e), 0);
	report(f, other, pid, 21);
	assert_false(gc_queued(f, other, pid));
	replace_req(f, c, &r);
	r.ok = false;
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	f->ngc = 0;
	meta_session_cmds_sent(sess(f, other));
	assert_false(gc_queued(f, other, pid));
	report(f, other, pid, 21);
	assert_true(gc_queued(f, other, pid));
}

/* nobody comes back: the full recovery starts once the wait ran out */
static void test_agile_wait_ends(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c;
	struct meta_volume *v;
	struct meta_pext *p;
	uint32_t a, b;

	f->m.core.cfg.agile_wait_ms = 3000;
	drop_b(f, 0, &v, &p, &a, &b);
	run(f, 2500);
	assert_int_equal(f->m.sched->ncmds, 0);
	run(f, 1500);
	c = the_cmd(f);
	assert_false(c->agile);
}

/* a migrate (replace alive) that succeeds: the replaced replica is GC'd */
static void test_replace_gc(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c, *out[4];
	struct meta_sched_replace r;
	struct merr e;
	struct meta_volume *v;
	struct meta_pext *p;
	uint32_t a, b, dst = 0;

	p = one_extent(f, &v, &a, &b);
	for (uint32_t i = 1; i <= 4 && !dst; i++)
		if (i != a && i != b)
			dst = i;
	/* errors name the check */
	assert_int_equal(meta_sched_migrate(&f->m, v->vtable[0], a, a, b, &c, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EINVAL);
	assert_non_null(strstr(e.msg, "dst has the replica"));
	assert_int_equal(meta_sched_migrate(&f->m, 999, a, dst, b, &c, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
	assert_int_equal(meta_sched_migrate(&f->m, v->vtable[0], a, dst, b, &c, &e), 0);
	assert_int_equal(meta_sched_migrate(&f->m, v->vtable[0], a, dst, b, &c, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EEXIST);
	c = the_cmd(f);
	assert_true(c->rc.is_migrate);
	assert_int_equal(meta_sched_to_send(&f->m, sess(f, c->rc.owner), out, 4), 1);
	replace_req(f, c, &r);
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	assert_true(loc_contains(p->location, dst));
	assert_false(loc_contains(p->location, b));
	assert_true(gc_queued(f, b, v->vtable[0]));
	assert_false(gc_queued(f, dst, v->vtable[0]));
}

/* ReplaceReplica refused: a bad request changes nothing, the owner's
 * refused one ends the cmd with its undo */
static void test_replace_refusals(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c, *out[4];
	struct meta_sched_replace r;
	struct merr e;
	int dead;
	uint64_t pid = kill_one(f, CAPS_REC, &dead), backoff;
	struct meta_pext *p = meta_pext(&f->m.pexts, pid);
	struct meta_sched_wait *w;
	uint32_t dst;

	c = the_cmd(f);
	dst = c->rc.dst;
	assert_int_equal(meta_sched_to_send(&f->m, sess(f, c->rc.owner), out, 4), 1);
	/* unknown cmd id */
	replace_req(f, c, &r);
	r.cmd_id = c->id + 1000;
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOENT);
	/* another session */
	replace_req(f, c, &r);
	r.sid = f->sid[dst];
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ENOTOWNER);
	/* an unknown session */
	r.sid = 12345;
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ESESSION);
	assert_ptr_equal(the_cmd(f), c);	/* none of those changed anything */
	/* from the owner, a stale lease_epoch: the cmd ends, its undo done */
	replace_req(f, c, &r);
	r.lease_epoch--;
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ESTALE);
	assert_non_null(strstr(e.msg, "lease_epoch"));
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(f->m.sched->failed, 1);
	assert_true(slots_empty(f));
	assert_int_equal(p->owner, 0);		/* the owner it was given: back */
	assert_true(gc_queued(f, dst, pid));	/* it went out: its partial dst */
	assert_false(loc_contains(p->location, dst));
	/* no cmd writes to dst before the GC of its leftovers went out */
	assert_int_equal(meta_sched_migrate(&f->m, pid, r.src, dst, r.replace, &c, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EAGAIN);
	assert_non_null(strstr(e.msg, "GC"));
	HASH_FIND(hh, f->m.sched->waiting, &pid, sizeof(pid), w);
	backoff = w->not_before_ms;
	w->not_before_ms = 0;		/* no backoff: the GC alone holds it */
	meta_sched_tick(&f->m);
	assert_int_equal(f->m.sched->ncmds, 0);
	HASH_FIND(hh, f->m.sched->waiting, &pid, sizeof(pid), w);
	w->not_before_ms = backoff;
	/* waits: not reissued at once, but after the backoff */
	assert_true(waiting(f, pid));
	run(f, META_SCHED_BACKOFF_MS / 2);
	assert_int_equal(f->m.sched->ncmds, 0);
	run(f, META_SCHED_BACKOFF_MS / 2 + 500);
	c = the_cmd(f);
	/* gen below meta_gen */
	p->meta_gen = 7;
	replace_req(f, c, &r);
	r.gen = 6;
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_ESTALE);
	assert_non_null(strstr(e.msg, "meta_gen"));
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(f->m.sched->failed, 2);
	/* ok = false: taken, the cmd fails */
	run(f, META_SCHED_BACKOFF_MS + 500);
	c = the_cmd(f);
	dst = c->rc.dst;
	replace_req(f, c, &r);
	r.ok = false;
	r.error = "copy failed";
	assert_int_equal(meta_sched_replace(&f->m, &r, &e), 0);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(f->m.sched->failed, 3);
	assert_true(slots_empty(f));
	assert_false(loc_contains(p->location, dst));
}

/* a cmd that runs out of time: its dst GC'd, the owner given back, issued
 * again after the backoff */
static void test_timeout(void **state)
{
	struct fix *f = *state;
	struct meta_sched_config set = { .timeout_ms = 3000 };
	struct meta_sched_cmd *c, *out[4];
	struct merr e;
	int dead;
	uint64_t pid, id;
	uint32_t dst;
	struct meta_pext *p;

	assert_int_equal(meta_sched_set(&f->m, &set, &e), 0);
	pid = kill_one(f, CAPS_REC, &dead);
	p = meta_pext(&f->m.pexts, pid);
	c = the_cmd(f);
	id = c->id;
	dst = c->rc.dst;
	assert_int_equal(meta_sched_to_send(&f->m, sess(f, c->rc.owner), out, 4), 1);
	meta_sched_acked(&f->m, sess(f, c->rc.owner), c->id);
	run(f, 2500);
	assert_ptr_equal(the_cmd(f), c);
	run(f, 700);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_int_equal(f->m.sched->failed, 1);
	assert_true(gc_queued(f, dst, pid));
	assert_int_equal(p->owner, 0);
	assert_true(slots_empty(f));
	run(f, META_SCHED_BACKOFF_MS + 500);
	c = the_cmd(f);
	assert_int_not_equal(c->id, id);
	assert_int_equal(c->rc.pid, pid);
}

/* SPEC 11 item 8: the topology of the cmd's src changes before the cmd went
 * out; the cmd goes, and with it its slots, rx space and owner */
static void test_topo_race(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c, *out[4];
	struct meta_topo *brick;
	struct merr e;
	int dead;
	uint64_t pid = kill_one(f, CAPS_REC, &dead);
	struct meta_pext *p = meta_pext(&f->m.pexts, pid);
	uint32_t src, dst;
	uint64_t lease_epoch;

	c = the_cmd(f);
	src = c->rc.src;
	dst = c->rc.dst;
	assert_int_equal(f->m.sched->slots.by_cid[dst].rx_pids, 1);
	assert_int_not_equal(p->owner, 0);
	lease_epoch = p->lease_epoch;
	/* as h_topo_move does */
	assert_int_equal(meta_topo_create(&f->m.topos, TOPO_BRICK, "b2", TOPO_DEFAULT_RACK, &brick,
					  &e), 0);
	assert_int_equal(meta_topo_move(&f->m.topos, &f->m.chunks, src, 0, brick->id, &e), 0);
	assert_int_equal(meta_sched_topo_changed(&f->m, src, 0), 1);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_true(slots_empty(f));
	assert_int_equal(p->owner, 0);
	assert_int_equal(p->lease_epoch, lease_epoch);
	assert_int_equal(meta_sched_to_send(&f->m, sess(f, src), out, 4), 0);
	assert_false(gc_queued(f, dst, pid));	/* it never went out */
	/* a move of an object above a chunk counts too */
	run(f, META_SCHED_BACKOFF_MS + 500);
	c = the_cmd(f);
	assert_int_equal(meta_sched_topo_changed(&f->m, 0, TOPO_DEFAULT_ZONE), 1);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_true(slots_empty(f));
}

/* a cmd is void when its owner's session ends or its pextent goes */
static void test_void(void **state)
{
	struct fix *f = *state;
	struct meta_sched_cmd *c;
	struct meta_session *s;
	struct meta_volume *v;
	struct merr e;
	int dead;
	uint64_t pid = kill_one(f, CAPS_REC, &dead), id;
	uint32_t owner;

	c = the_cmd(f);
	id = c->id;
	owner = c->rc.owner;
	/* the owner's chunk restarts: a new session ends the old one */
	assert_int_equal(meta_session_create(&f->m, owner, uuids[owner], CAPS_REC, &s, &e), 0);
	f->sid[owner] = s->id;
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_true(slots_empty(f));
	assert_true(waiting(f, pid));
	run(f, META_SCHED_BACKOFF_MS + 500);
	c = the_cmd(f);
	assert_int_not_equal(c->id, id);
	assert_int_equal(c->sid, s->id);
	/* the volume goes: its cmd goes with it */
	v = meta_volume_find(&f->m.vols, "v", &e);
	assert_non_null(v);
	assert_int_equal(meta_volume_delete(&f->m, v, &e), 0);
	assert_null(meta_pext(&f->m.pexts, pid));
	run(f, 300);
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_true(slots_empty(f));
	assert_false(waiting(f, pid));
}

/* only a session that runs recover cmds owns one: else the pid waits */
static void test_needs_cap(void **state)
{
	struct fix *f = *state;
	int dead;
	uint64_t pid = kill_one(f, CAPS_OLD, &dead);

	assert_int_equal(f->m.sched->ncmds, 0);
	assert_true(waiting(f, pid));
	assert_int_equal(f->m.sched->stats.need_recover, 1);
	assert_int_equal(f->m.sched->stats.at_risk, 1);
	/* its chunks learn to: the next try issues it */
	for (int c = 1; c <= 4; c++)
		f->caps[c] = CAPS_REC;
	run(f, META_SCHED_RETRY_MS + 500);
	assert_int_equal(the_cmd(f)->rc.pid, pid);
}

/* after a start the chunks have two session leases to come back before a
 * scan takes them for lost */
static void test_quiet_start(void **state)
{
	struct fix *f = *state;
	struct meta_volume *v;
	uint32_t a, b;
	uint64_t pid;

	one_extent(f, &v, &a, &b);
	pid = v->vtable[0];
	meta_sched_free(&f->m);		/* as a metad that starts now */
	assert_int_equal(meta_sched_init(&f->m, NULL), 0);
	f->dead[a] = true;
	run(f, 1500);
	assert_null(sess(f, a));
	assert_int_equal(f->m.sched->ncmds, 0);
	assert_false(f->m.sched->scanning);
	run(f, 1000);
	assert_int_equal(the_cmd(f)->rc.pid, pid);
	assert_int_equal(the_cmd(f)->rc.replace, a);
}

/* the scan looks at META_SCHED_SLICE pextents a tick; a tick issues at
 * most META_SCHED_ISSUE cmds */
static void test_slices(void **state)
{
	struct fix *f = *state;
	struct meta_sched *sc = f->m.sched;
	struct meta_sched_config set = { .slots = 100000 };
	struct meta_volume_spec s = { .name = "big", .size = 5000 * E, .replica_num = 2,
				      .stripe_num = 1, .stripe_size = 256 << 10, .thin = true };
	struct meta_volume *v;
	struct merr e;
	uint64_t pid;

	assert_int_equal(meta_sched_set(&f->m, &set, &e), 0);
	add_chunks(f, 3, CAPS_REC);
	assert_int_equal(meta_volume_create(&f->m, &s, &v, &e), 0);
	for (uint32_t i = 0; i < 5000; i++)
		assert_int_equal(meta_get_vextent_lease(&f->m, v, i, LEASE_WRITE, f->sid[1], &pid,
							&e), 0);
	f->dead[3] = true;
	run(f, 1000);
	assert_null(sess(f, 3));
	/* the scan its expiry started: one slice, then the rest */
	assert_true(sc->scanning);
	assert_true(sc->scan_pid <= META_SCHED_SLICE + 1);
	assert_true(sc->ncmds <= META_SCHED_ISSUE);
	run(f, 100);
	assert_false(sc->scanning);
	assert_true(sc->ncmds <= 2 * META_SCHED_ISSUE);
	assert_true(sc->stats.need_recover > 1000);
}

/* the config: validated, 0 keeps a field, stored, read back after a restart */
static void test_config(void **state)
{
	struct fix *f = *state;
	char dir[] = "/tmp/zbs-test-sched-XXXXXX", err[256], cmd[300];
	struct meta_sched_config set = { .slots = 7, .timeout_ms = 5000 }, bad = { .slots = 100001 };
	struct meta_sched_status st;
	struct meta_store *store;
	struct meta m2;
	struct merr e;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(meta_store_open(&store, dir, err, sizeof(err)), 0);
	f->m.core.store = store;
	assert_int_equal(f->m.sched->cfg.slots, 128);
	assert_int_equal(f->m.sched->cfg.concurrency, 32);
	assert_int_equal(f->m.sched->cfg.timeout_ms, 18 * 60 * 1000);
	assert_int_equal(f->m.sched->cfg.scan_interval_ms, 60000);
	assert_int_equal(meta_sched_set(&f->m, &bad, &e), -1);
	assert_int_equal(e.status, ZBS_RPC_EINVAL);
	assert_non_null(strstr(e.msg, "slots"));
	bad = (struct meta_sched_config){ .timeout_ms = 5 };
	assert_int_equal(meta_sched_set(&f->m, &bad, &e), -1);
	assert_non_null(strstr(e.msg, "timeout_ms"));
	assert_int_equal(f->m.sched->cfg.slots, 128);
	assert_int_equal(meta_sched_set(&f->m, &set, &e), 0);
	assert_int_equal(f->m.sched->slots.max, 7);
	set = (struct meta_sched_config){ .bps = 1000 };
	assert_int_equal(meta_sched_set(&f->m, &set, &e), 0);
	assert_int_equal(f->m.sched->cfg.slots, 7);	/* kept */
	assert_int_equal(f->m.sched->cfg.bps, 1000);
	meta_store_commit(store);
	meta_sched_status(&f->m, &st);
	assert_int_equal(st.running + st.waiting, 0);
	/* a restart: the stored config wins over the defaults */
	meta_init(&m2, &cfg);
	meta_set_clock(&m2, f->t + 1, f->m.core.wall_ns);
	assert_int_equal(meta_load(&m2, store), 0);
	assert_int_equal(meta_sched_init(&m2, NULL), 0);
	assert_int_equal(m2.sched->cfg.slots, 7);
	assert_int_equal(m2.sched->cfg.timeout_ms, 5000);
	assert_int_equal(m2.sched->cfg.bps, 1000);
	assert_int_equal(m2.sched->cfg.concurrency, 32);
	/* bps back to unlimited */
	set = (struct meta_sched_config){ .bps = UINT64_MAX };
	assert_int_equal(meta_sched_set(&m2, &set, &e), 0);
	assert_int_equal(m2.sched->cfg.bps, 0);
	m2.core.store = NULL;
	meta_sched_free(&m2);
	meta_free(&m2);
	f->m.core.store = NULL;
	meta_store_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}


/* rebalance's moves reach the scheduler as migrate cmds, at most the rate
 * asked; one it refuses (dst holds the pid already) is dropped */
static void test_rebalance_feed(void **state)
{
	struct fix *f = *state;
	struct meta_rebal_move mv[6];
	struct meta_volume *v;
	uint32_t n = 0;

	assert_int_equal(meta_balance_init(&f->m), 0);
	add_chunks(f, 4, CAPS_REC);
	v = mkvol(f, 5);
	run(f, 100);
	for (uint32_t i = 0; i < 5; i++) {
		const struct meta_pext *p = meta_pext(&f->m.pexts, v->vtable[i]);
		uint32_t a = loc_get(p->location, 0), other = 0;

		for (uint32_t c = 1; c <= 4 && !other; c++)
			if (!loc_contains(p->location, c))
				other = c;
		mv[n++] = (struct meta_rebal_move){ v->vtable[i], a, other, a,
						    META_REBAL_CAPACITY };
	}
	/* a bad one first: dst is in the location */
	mv[5] = mv[0];
	mv[0].dst = loc_get(meta_pext(&f->m.pexts, mv[0].pid)->location, 1);
	assert_int_equal(meta_balance_queue(&f->m, mv, 6, 3600), 6);	/* 1 a second */
	run(f, 1000);
	/* the bad one dropped, one handed out */
	assert_int_equal(f->m.balance->dropped, 1);
	assert_int_equal(f->m.balance->applied, 1);
	assert_int_equal(f->m.sched->ncmds, 1);
	assert_true(TAILQ_FIRST(&f->m.sched->cmds)->rc.is_migrate);
	run(f, 2000);
	assert_int_equal(f->m.balance->applied, 3);
	run(f, 10000);
	assert_int_equal(f->m.balance->applied, 5);	/* every good one, no more */
	assert_int_equal(f->m.sched->ncmds, 5);
	/* a new queue replaces what is left */
	assert_int_equal(meta_balance_queue(&f->m, NULL, 0, 0), 0);
	meta_balance_free(&f->m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_replica_immediate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_racks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_dst_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maintenance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maintenance_dropped_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maintenance_back_agile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maintenance_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failslow_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failslow_nowhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_refused_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_dst_new_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agile_done_and_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agile_wait_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topo_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_void, setup, teardown),
		cmocka_unit_test_setup_teardown(test_needs_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebalance_feed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
