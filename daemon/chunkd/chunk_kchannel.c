// SPDX-License-Identifier: GPL-2.0
/* zbs-chunkd's channel to the kernel: see chunk_kchannel.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ctldev.h"
#include "kagent.h"
#include "chunk_kchannel.h"
#include "log.h"
#include "util.h"

#define REOPEN_MS	1000	/* first retry; doubles up to REOPEN_MAX_MS */
#define REOPEN_MAX_MS	8000
#define REAP_BATCH	64

struct chunk_kchannel {
	pthread_rwlock_t lock;		/* ka: written by the loop, read by workers */
	struct zbs_kagent *ka;
	int wake;			/* eventfd: the session lease changed */
	struct chunk_agent *agent;	/* set by run */
	struct chunk_session *ms;
	bool kernel;			/* open the netlink channel at all */
};

struct chunk_kchannel *chunk_kchannel_new(bool kernel)
{
	struct chunk_kchannel *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->kernel = kernel;
	k->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (k->wake < 0) {
		free(k);
		return NULL;
	}
	pthread_rwlock_init(&k->lock, NULL);
	return k;
}

void chunk_kchannel_free(struct chunk_kchannel *k)
{
	if (!k)
		return;
	zbs_kagent_close(k->ka);
	close(k->wake);
	pthread_rwlock_destroy(&k->lock);
	free(k);
}

/* ---- from agent workers and the session thread ------------------------ */

int chunk_kchannel_revoke_op(void *arg, int type, const char *volume_id, uint64_t pid)
{
	struct chunk_kchannel *k = arg;
	int rc = 0;

	pthread_rwlock_rdlock(&k->lock);
	if (k->ka) {
		/* ALL: every map; VOLUME: the volume's; PID: the pid's. The
		 * kernel answers once the IO under them drained. */
		rc = zbs_kagent_revoke(k->ka, -1,
				       type == CHUNK_SESSION_REVOKE_VOLUME ? volume_id : NULL,
				       type == CHUNK_SESSION_REVOKE_PID ? pid : 0);
	}
	pthread_rwlock_unlock(&k->lock);
	if (rc == -ENODEV || rc == -ENOENT)
		rc = 0;		/* no such device or map: nothing to drain */
	if (rc)
		log_warn("kernel revoke (type %d volume '%s' pid %llu): %s", type, volume_id,
			 (unsigned long long)pid, strerror(-rc));
	return rc;
}

int chunk_kchannel_drain_op(void *arg, uint64_t pid)
{
	struct chunk_kchannel *k = arg;
	int rc = 0;

	pthread_rwlock_rdlock(&k->lock);
	if (k->ka)
		rc = zbs_kagent_revoke(k->ka, -1, NULL, pid);
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

int chunk_kchannel_reads_op(void *arg, struct chunk_session_reads *out, int max)
{
	struct chunk_kchannel *k = arg;
	uint32_t ids[ZBS_MAX_DEVS];
	int fd, n, got = 0;
	bool serving;

	pthread_rwlock_rdlock(&k->lock);
	serving = k->ka != NULL;
	pthread_rwlock_unlock(&k->lock);
	if (!serving)
		return 0;	/* not the node's agent: its devices are another's */
	fd = open(ZBS_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = zbs_ctldev_list(fd, ids, ZBS_MAX_DEVS);
	for (int i = 0; i < n && got < max; i++) {
		struct zbs_ioc_dev_info info;

		if (zbs_ctldev_info(fd, ids[i], &info) || info.state != ZBS_DEV_LIVE)
			continue;	/* gone meanwhile */
		snprintf(out[got].volume_id, sizeof(out[got].volume_id), "%s",
			 info.cfg.volume_id);
		out[got].local = info.read_bytes_local;
		out[got].remote = info.read_bytes_remote;
		got++;
	}
	close(fd);
	return got;
}

void chunk_kchannel_lease_op(void *arg, uint32_t lease_ms)
{
	struct chunk_kchannel *k = arg;
	uint64_t one = 1;

	if (write(k->wake, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("kernel channel: eventfd: %m");
}

/* ---- kernel -> agent (the loop's thread, from zbs_kagent_dispatch) ----- */

static void reply_now(struct chunk_kchannel *k, const struct zbs_kagent_map_req *r, int err)
{
	int64_t rc = zbs_kagent_map_reply(k->ka, r, err, NULL);

	if (rc < 0)
		log_warn("MAP_REPLY dev %u vextent %llu: %s", r->dev_id,
			 (unsigned long long)r->vextent, strerror((int)-rc));
}

static void on_map_request(void *arg, const struct zbs_kagent_map_req *r)
{
	struct chunk_kchannel *k = arg;
	struct chunk_agent_req q = { .type = CHUNK_AREQ_MAP, .dev_id = r->dev_id,
				     .vextent = r->vextent, .req_id = r->req_id, .write = r->write };
	int rc;

	snprintf(q.volume_id, sizeof(q.volume_id), "%s", r->volume_id);
	rc = chunk_agent_submit(k->agent, &q);
	if (rc) {
		log_warn("map request dev %u vextent %llu not queued: %s", r->dev_id,
			 (unsigned long long)r->vextent, strerror(-rc));
		reply_now(k, r, -EAGAIN);	/* the kernel asks again later */
	}
}

static void on_event(struct chunk_kchannel *k, int type, const struct zbs_kagent_event *ev)
{
	struct chunk_agent_req q = { .type = type, .dev_id = ev->dev_id, .vextent = ev->vextent,
				     .req_id = ev->req_id, .pid = ev->pid, .epoch = ev->epoch,
				     .lease_epoch = ev->lease_epoch, .gen = ev->gen,
				     .cid = ev->cid, .err = ev->err };
	int rc;

	snprintf(q.volume_id, sizeof(q.volume_id), "%s", ev->volume_id);
	rc = chunk_agent_submit(k->agent, &q);
	if (rc) {
		log_warn("%s of pid %llu not queued: %s; the kernel sends it again",
			 type == CHUNK_AREQ_EXISTENCE ? "existence report" : "replica failure",
			 (unsigned long long)ev->pid, strerror(-rc));
		if (zbs_kagent_report_ack(k->ka, ev->dev_id, ev->vextent, ev->req_id, -EAGAIN) < 0)
			log_warn("REPORT_ACK dev %u vextent %llu: not sent", ev->dev_id,
				 (unsigned long long)ev->vextent);
	}
}

static void on_replica_failed(void *arg, const struct zbs_kagent_event *ev)
{
	log_info("kernel: pid %llu replica cid %u failed (%d) at gen %llu",
		 (unsigned long long)ev->pid, ev->cid, ev->err, (unsigned long long)ev->gen);
	on_event(arg, CHUNK_AREQ_REPLICA_FAILED, ev);
}

static void on_existence(void *arg, const struct zbs_kagent_event *ev)
{
	on_event(arg, CHUNK_AREQ_EXISTENCE, ev);
}

static const struct zbs_kagent_ops kops = {
	.map_request = on_map_request,
	.replica_failed = on_replica_failed,
	.existence = on_existence,
};

/* ---- the loop --------------------------------------------------------- */

/* the session as the kernel must see it: 1 ms (expired at once) while there
 * is none, since 0 would register without a session lease */
static uint32_t lease_left(struct chunk_kchannel *k)
{
	uint32_t left = k->ms ? chunk_session_lease_left_ms(k->ms) : 0;

	return left ? left : 1;
}

static void try_open(struct chunk_kchannel *k, bool *said)
{
	struct zbs_kagent *ka;
	int rc = zbs_kagent_open(&kops, k, &ka);

	if (!rc) {
		rc = zbs_kagent_register(ka, lease_left(k));
		if (rc) {
			zbs_kagent_close(ka);
			ka = NULL;
		}
	}
	if (rc) {
		if (!*said)
			log_info("kernel channel: %s; retrying (at most every %u ms)",
				 rc == -ENOENT ? "the zbs module is not loaded" : strerror(-rc),
				 REOPEN_MAX_MS);
		*said = true;
		return;
	}
	*said = false;
	pthread_rwlock_wrlock(&k->lock);
	k->ka = ka;
	pthread_rwlock_unlock(&k->lock);
	/* maps cached by the kernel under an earlier agent are not ours to trust */
	chunk_agent_revoke_hook(k->agent, CHUNK_SESSION_REVOKE_ALL, "", 0, 0);
}

static void close_ka(struct chunk_kchannel *k)
{
	pthread_rwlock_wrlock(&k->lock);
	zbs_kagent_close(k->ka);
	k->ka = NULL;
	pthread_rwlock_unlock(&k->lock);
}

static void send_results(struct chunk_kchannel *k)
{
	struct chunk_agent_result res[REAP_BATCH];
	size_t n;

	while ((n = chunk_agent_reap(k->agent, res, REAP_BATCH)) > 0) {
		for (size_t i = 0; i < n; i++) {
			const struct chunk_agent_result *r = &res[i];
			struct zbs_kagent_map_req q = { .dev_id = r->req.dev_id,
							.vextent = r->req.vextent,
							.req_id = r->req.req_id,
							.write = r->req.write };
			struct zbs_kagent_map m = { 0 };
			int64_t rc;
			int err;

			if (!k->ka)
				continue;	/* no kernel: it asks a new agent again */
			if (r->req.type != CHUNK_AREQ_MAP) {
				/* a report: the kernel's writes wait for this */
				rc = zbs_kagent_report_ack(k->ka, r->req.dev_id, r->req.vextent,
							   r->req.req_id, r->err);
				if (rc < 0)
					log_warn("REPORT_ACK dev %u vextent %llu: %s", r->req.dev_id,
						 (unsigned long long)r->req.vextent,
						 strerror((int)-rc));
				continue;
			}
			snprintf(q.volume_id, sizeof(q.volume_id), "%s", r->req.volume_id);
			/* the pid's recovering target may have changed since the
			 * map was made: no target change until the kernel took it */
			chunk_agent_answer_lock(k->agent);
			err = r->err;
			if (!err && !chunk_agent_map_current(k->agent, &r->map)) {
				err = -EAGAIN;
				if (r->req.remade < CHUNK_AGENT_REMAKES) {
					/* made again now, not after the kernel's backoff */
					struct chunk_agent_req again = r->req;

					chunk_agent_answer_unlock(k->agent);
					again.remade++;
					if (!chunk_agent_submit(k->agent, &again))
						continue;
					chunk_agent_answer_lock(k->agent);
				}
			}
			if (!err) {
				m.pid = r->map.pid;
				m.epoch = r->map.epoch;
				m.lease_epoch = r->map.lease_epoch;
				m.gen = r->map.gen;
				m.ever_exist = r->map.ever_exist;
				m.expiry_ms = r->map.expiry_ms;
				m.nr = r->map.nr;
				for (unsigned j = 0; j < m.nr && j < ZBS_MAX_REPLICAS; j++) {
					m.rep[j].cid = r->map.rep[j].cid;
					m.rep[j].addr4 = r->map.rep[j].addr4;
					m.rep[j].port = r->map.rep[j].port;
					m.rep[j].flags =
						(r->map.rep[j].flags & CHUNK_AGENT_RF_LOCAL ?
						 ZBS_RF_LOCAL : 0) |
						(r->map.rep[j].flags & CHUNK_AGENT_RF_RECOVERING ?
						 ZBS_RF_RECOVERING : 0);
				}
			}
			rc = zbs_kagent_map_reply(k->ka, &q, err, err ? NULL : &m);
			chunk_agent_answer_unlock(k->agent);
			if (rc < 0)
				log_warn("MAP_REPLY dev %u vextent %llu: %s", q.dev_id,
					 (unsigned long long)q.vextent, strerror((int)-rc));
		}
	}
}

int chunk_kchannel_run(struct chunk_kchannel *k, struct chunk_agent *agent,
		       struct chunk_session *ms, const sigset_t *sigs)
{
	int sfd = signalfd(-1, sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	uint64_t next_open = 0;
	unsigned backoff = REOPEN_MS;
	bool said = false;

	if (sfd < 0)
		return -errno;
	k->agent = agent;
	k->ms = ms;
	for (;;) {
		struct pollfd p[4] = {
			{ sfd, POLLIN, 0 },
			{ chunk_agent_fd(agent), POLLIN, 0 },
			{ k->wake, POLLIN, 0 },
			{ -1, POLLIN, 0 },
		};
		uint64_t now = zbs_now_ns(), v;

		if (k->kernel && !k->ka && now >= next_open) {
			try_open(k, &said);
			next_open = now + (uint64_t)backoff * 1000000;
			backoff = k->ka ? REOPEN_MS : backoff * 2 > REOPEN_MAX_MS ? REOPEN_MAX_MS
										  : backoff * 2;
		}
		if (k->ka)
			p[3].fd = zbs_kagent_fd(k->ka);
		if (poll(p, 4, k->ka ? -1 : REOPEN_MS) < 0 && errno != EINTR) {
			log_err("kernel channel: poll: %m");
			break;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("signal %u: shutting down", si.ssi_signo);
				break;
			}
		}
		if ((p[2].revents & POLLIN) && read(k->wake, &v, sizeof(v)) == sizeof(v) && k->ka) {
			int64_t rc = zbs_kagent_session(k->ka, lease_left(k) > 1 ? lease_left(k) : 0);

			if (rc < 0)
				log_warn("SESSION: %s", strerror((int)-rc));
		}
		if (p[1].revents & POLLIN)
			send_results(k);
		if (k->ka && (p[3].revents & (POLLIN | POLLERR | POLLHUP))) {
			int rc = zbs_kagent_dispatch(k->ka);

			if (rc < 0) {
				log_warn("kernel channel: netlink socket failed (%s); reopening",
					 strerror(-rc));
				close_ka(k);
				next_open = 0;
			}
		}
	}
	close(sfd);
	close_ka(k);
	return 0;
}
