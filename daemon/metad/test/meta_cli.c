// SPDX-License-Identifier: GPL-2.0
/*
 * zbs-meta-cli: drive zbs-metad's lease RPCs, be a chunk that runs recover
 * cmds, and send malformed frames, for the integration tests. Prints key=value lines; exit status 0, the RPC
 * status on an error reply, 100 on a transport error, 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "location.h"
#include "meta.pb-c.h"
#include "rpc.h"
#include "util.h"

static struct zbs_rpc_client c;

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

static int call(uint16_t m, const void *req, const ProtobufCMessageDescriptor *d, void *resp)
{
	struct zbs_rpc_error err;
	int rc = zbs_rpc_call(&c, m, req, d, resp, &err);

	if (rc) {
		printf("error=%s\n", err.msg);
		if (err.owner_session)
			printf("owner_session=%llu\nowner_cid=%u\n",
			       (unsigned long long)err.owner_session, err.owner_cid);
		return rc < 0 ? 100 : rc;
	}
	return 0;
}

/* raw frames: returns 0 when the server behaved as expected */
static int raw(const char *what)
{
	uint8_t buf[ZBS_RPC_HDR_LEN + 64];
	struct zbs_rpc_hdr h = { .service = ZBS_RPC_SVC_META, .method = ZBS_M_VOLUME_LIST,
				 .msg_id = 7 };
	size_t len = ZBS_RPC_HDR_LEN;
	bool expect_close = true;
	uint32_t expect_status = 0;

	if (!strcmp(what, "bad-magic")) {
		zbs_rpc_hdr_encode(&h, buf);
		buf[0] ^= 0xff;
	} else if (!strcmp(what, "oversize")) {
		h.len = ZBS_RPC_MAX_BODY + 1;
		zbs_rpc_hdr_encode(&h, buf);
	} else if (!strcmp(what, "bad-flags")) {
		h.flags = 0x80;
		zbs_rpc_hdr_encode(&h, buf);
	} else if (!strcmp(what, "reply-flag")) {
		h.flags = ZBS_RPC_F_REPLY;
		zbs_rpc_hdr_encode(&h, buf);
	} else if (!strcmp(what, "garbage-body")) {
		h.method = ZBS_M_VOLUME_CREATE;
		h.len = 16;
		zbs_rpc_hdr_encode(&h, buf);
		memset(buf + ZBS_RPC_HDR_LEN, 0xff, 16);
		len += 16;
		expect_close = false;
		expect_status = ZBS_RPC_EINVAL;
	} else if (!strcmp(what, "unknown-field")) {
		/* ListChunksRequest{cid=0} plus field 99 (varint 5): ignored */
		static const uint8_t body[] = { 0x98, 0x06, 0x05 };
		h.method = ZBS_M_LIST_CHUNKS;
		h.len = sizeof(body);
		zbs_rpc_hdr_encode(&h, buf);
		memcpy(buf + ZBS_RPC_HDR_LEN, body, sizeof(body));
		len += sizeof(body);
		expect_close = false;
		expect_status = ZBS_RPC_OK;
	} else if (!strcmp(what, "unknown-method")) {
		h.method = 999;
		zbs_rpc_hdr_encode(&h, buf);
		expect_close = false;
		expect_status = ZBS_RPC_EUNSUPP;
	} else if (!strcmp(what, "unknown-service")) {
		h.service = 42;
		zbs_rpc_hdr_encode(&h, buf);
		expect_close = false;
		expect_status = ZBS_RPC_EUNSUPP;
	} else if (!strcmp(what, "send-and-close")) {
		/* many requests, then gone before the replies: EPIPE/ECONNRESET */
		Zbs__VolumeShowRequest q = ZBS__VOLUME_SHOW_REQUEST__INIT;
		q.volume = "tk";
		q.pextents = 1;
		for (int i = 0; i < 2000; i++)
			if (zbs_rpc_send(&c, ZBS_M_VOLUME_SHOW, &q.base, NULL))
				break;
		struct linger lg = { 1, 0 };	/* close with RST */
		setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		printf("sent=send-and-close\n");
		return 0;
	} else if (!strcmp(what, "flood")) {
		/* requests for 3 s without reading a reply; then hold on for
		 * ZBS_FLOOD_HOLD_S (default 5) before closing */
		Zbs__ListChunksRequest q = ZBS__LIST_CHUNKS_REQUEST__INIT;
		uint8_t fr[ZBS_RPC_HDR_LEN + 16];
		size_t blen = protobuf_c_message_pack(&q.base, fr + ZBS_RPC_HDR_LEN);
		const char *hold = getenv("ZBS_FLOOD_HOLD_S");
		uint64_t sent = 0, end = zbs_now_ns() + 3000000000ULL;

		h.method = ZBS_M_LIST_CHUNKS;
		h.len = blen;
		zbs_rpc_hdr_encode(&h, fr);
		size_t at = 0, flen = ZBS_RPC_HDR_LEN + blen;
		while (zbs_now_ns() < end) {
			ssize_t n = send(c.fd, fr + at, flen - at, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				usleep(1000);	/* metad stopped reading: wait */
				continue;
			}
			if (n < 0)
				return 100;
			at += n;
			if (at == flen) {
				at = 0;
				sent++;
			}
		}
		printf("sent=%llu\n", (unsigned long long)sent);
		fflush(stdout);
		sleep(hold ? atoi(hold) : 5);
		return 0;
	} else if (!strcmp(what, "truncated")) {
		h.len = 40;
		zbs_rpc_hdr_encode(&h, buf);
		len += 8;	/* 8 of the 40 bytes, then close */
		memset(buf + ZBS_RPC_HDR_LEN, 0, 8);
		send(c.fd, buf, len, MSG_NOSIGNAL);
		printf("sent=truncated\n");
		return 0;
	} else {
		fprintf(stderr, "unknown raw case %s\n", what);
		return 2;
	}
	if (send(c.fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		return 100;
	uint8_t *body;
	struct zbs_rpc_hdr rh;
	int rc = zbs_rpc_recv(&c, &rh, &body);
	if (expect_close) {
		printf("closed=%s\n", rc == -ECONNRESET ? "yes" : "no");
		free(body);
		return rc == -ECONNRESET ? 0 : 1;
	}
	if (rc) {
		printf("error=%s\n", strerror(-rc));
		return 1;
	}
	Zbs__ErrorReply *e = rh.status ? zbs__error_reply__unpack(NULL, rh.len, body) : NULL;
	printf("status=%u\nmessage=%s\n", rh.status, e ? e->message : "-");
	if (e)
		zbs__error_reply__free_unpacked(e, NULL);
	free(body);
	return rh.status == expect_status && rh.msg_id == 7 ? 0 : 1;
}

/* a chunk of our own with caps: registered, a session, a first keepalive */
static int chunk(char **argv)
{
	Zbs__RegisterChunkRequest rq = ZBS__REGISTER_CHUNK_REQUEST__INIT;
	Zbs__RegisterChunkResponse *rr;
	Zbs__CreateSessionRequest sq = ZBS__CREATE_SESSION_REQUEST__INIT;
	Zbs__CreateSessionResponse *sr;
	int rc;

	rq.uuid = argv[0];
	rq.data_addr = argv[1];
	rq.rpc_addr = argv[2];
	if ((rc = call(ZBS_M_REGISTER_CHUNK, &rq, &zbs__register_chunk_response__descriptor, &rr)))
		return rc;
	sq.cid = rr->chunk->cid;
	sq.uuid = argv[0];
	sq.capabilities = num(argv[3]);
	printf("cid=%u\n", rr->chunk->cid);
	zbs__register_chunk_response__free_unpacked(rr, NULL);
	if ((rc = call(ZBS_M_CREATE_SESSION, &sq, &zbs__create_session_response__descriptor, &sr)))
		return rc;
	printf("session=%llu\n", (unsigned long long)sr->session_id);
	zbs__create_session_response__free_unpacked(sr, NULL);
	return 0;
}

/* a keepalive with 100 GiB free, acknowledging the recover cmd ids given;
 * prints the commands of the reply */
static int keepalive(uint64_t sid, uint64_t caps, int nack, char **acks)
{
	Zbs__KeepAliveRequest q = ZBS__KEEP_ALIVE_REQUEST__INIT;
	Zbs__KeepAliveResponse *r;
	Zbs__SpaceInfo sp = ZBS__SPACE_INFO__INIT;
	uint64_t ids[16];
	int rc;

	sp.total = sp.valid = 100ULL << 30;
	q.session_id = sid;
	q.capabilities = caps;
	q.space = &sp;
	for (int i = 0; i < nack && i < 16; i++)
		ids[i] = num(acks[i]);
	q.n_recover_acks = nack < 16 ? nack : 16;
	q.recover_acks = ids;
	if ((rc = call(ZBS_M_KEEPALIVE, &q, &zbs__keep_alive_response__descriptor, &r)))
		return rc;
	printf("recover_concurrency=%u\nrecover_bps=%llu\n", r->recover_concurrency,
	       (unsigned long long)r->recover_bps);
	for (size_t i = 0; i < r->n_commands; i++) {
		const Zbs__Command *k = r->commands[i];
		const Zbs__RecoverCmd *x = k->recover;
		printf("cmd type=%d id=%llu pid=%llu epoch=%llu\n", k->type,
		       (unsigned long long)k->id, (unsigned long long)k->pid,
		       (unsigned long long)k->epoch);
		if (x)
			printf("recover id=%llu pid=%llu epoch=%llu lease_epoch=%llu src=%u@%s "
			       "dst=%u@%s replace=%u migrate=%d thick=%d meta_gen=%llu\n",
			       (unsigned long long)k->id, (unsigned long long)x->pid,
			       (unsigned long long)x->epoch, (unsigned long long)x->lease_epoch,
			       x->src_cid, x->src_addr, x->dst_cid, x->dst_addr, x->replace_cid,
			       x->is_migrate, x->thick, (unsigned long long)x->meta_gen);
	}
	zbs__keep_alive_response__free_unpacked(r, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct zbs_rpc_error err;
	int rc;

	if (argc < 3) {
		fprintf(stderr,
			"usage: zbs-meta-cli HOST:PORT lease VOL VNO read|write SID\n"
			"       ... release PID SID | existence PID EPOCH SID\n"
			"       ... remove-replica PID EPOCH CID GEN SID\n"
			"       ... revoke volume|pid|session X\n"
			"       ... chunk UUID DATA RPC CAPS | keepalive SID CAPS [ACK_ID...]\n"
			"       ... replace SID CMD PID EPOCH LEASE_EPOCH DST REPLACE GEN ok|fail\n"
			"       ... raw bad-magic|oversize|bad-flags|reply-flag|garbage-body|"
			"unknown-field|unknown-method|unknown-service|truncated\n");
		return 2;
	}
	if (zbs_rpc_connect(&c, argv[1], 5000, &err)) {
		printf("error=%s\n", err.msg);
		return 100;
	}
	const char *cmd = argv[2];
	if (!strcmp(cmd, "lease") && argc == 7) {
		Zbs__GetVExtentLeaseRequest q = ZBS__GET_VEXTENT_LEASE_REQUEST__INIT;
		Zbs__GetVExtentLeaseResponse *r;
		char l[32];
		q.volume = argv[3];
		q.vextent_no = num(argv[4]);
		q.mode = !strcmp(argv[5], "write") ? ZBS__LEASE_MODE__LEASE_WRITE :
			 !strcmp(argv[5], "read") ? ZBS__LEASE_MODE__LEASE_READ : 7;
		q.session_id = num(argv[6]);
		rc = call(ZBS_M_GET_VEXTENT_LEASE, &q, &zbs__get_vextent_lease_response__descriptor, &r);
		if (!rc) {
			Zbs__Lease *x = r->lease;
			printf("pid=%llu\nepoch=%llu\nlease_epoch=%llu\nmeta_gen=%llu\nlocation=%u\n"
			       "loc=%s\nexpected=%u\nowner=%llu\never_exist=%d\n",
			       (unsigned long long)x->pid, (unsigned long long)x->epoch,
			       (unsigned long long)x->lease_epoch, (unsigned long long)x->meta_gen,
			       x->location, loc_format(x->location, l, sizeof(l)),
			       x->expected_replica_num, (unsigned long long)x->owner_session,
			       x->ever_exist);
			for (size_t i = 0; i < x->n_chunks; i++)
				printf("chunk=%u %s:%u\n", x->chunks[i]->cid, x->chunks[i]->data_ip,
				       x->chunks[i]->data_port);
			zbs__get_vextent_lease_response__free_unpacked(r, NULL);
		}
	} else if ((!strcmp(cmd, "release") && argc == 5) ||
		   (!strcmp(cmd, "existence") && argc == 6)) {
		Zbs__PidSessionRequest q = ZBS__PID_SESSION_REQUEST__INIT;
		bool rel = !strcmp(cmd, "release");
		q.pid = num(argv[3]);
		q.epoch = rel ? 0 : num(argv[4]);
		q.session_id = num(argv[rel ? 4 : 5]);
		rc = call(rel ? ZBS_M_RELEASE_LEASE : ZBS_M_SET_PEXTENT_EXISTENCE, &q,
			  &zbs__empty__descriptor, NULL);
	} else if (!strcmp(cmd, "remove-replica") && argc == 8) {
		Zbs__RemoveReplicaRequest q = ZBS__REMOVE_REPLICA_REQUEST__INIT;
		q.pid = num(argv[3]);
		q.epoch = num(argv[4]);
		q.cid = num(argv[5]);
		q.gen = num(argv[6]);
		q.session_id = num(argv[7]);
		rc = call(ZBS_M_REMOVE_REPLICA, &q, &zbs__empty__descriptor, NULL);
	} else if (!strcmp(cmd, "revoke") && argc == 5) {
		Zbs__RevokeRequest q = ZBS__REVOKE_REQUEST__INIT;
		Zbs__RevokeResponse *r;
		if (!strcmp(argv[3], "volume"))
			q.volume = argv[4];
		else if (!strcmp(argv[3], "pid"))
			q.pid = num(argv[4]);
		else
			q.session_id = num(argv[4]);
		rc = call(ZBS_M_REVOKE, &q, &zbs__revoke_response__descriptor, &r);
		if (!rc) {
			printf("released=%u\n", r->released);
			zbs__revoke_response__free_unpacked(r, NULL);
		}
	} else if (!strcmp(cmd, "chunk") && argc == 7) {
		rc = chunk(argv + 3);
	} else if (!strcmp(cmd, "keepalive") && argc >= 5) {
		rc = keepalive(num(argv[3]), num(argv[4]), argc - 5, argv + 5);
	} else if (!strcmp(cmd, "replace") && argc == 12) {
		Zbs__ReplaceReplicaRequest q = ZBS__REPLACE_REPLICA_REQUEST__INIT;
		q.session_id = num(argv[3]);
		q.cmd_id = num(argv[4]);
		q.pid = num(argv[5]);
		q.epoch = num(argv[6]);
		q.lease_epoch = num(argv[7]);
		q.dst_cid = num(argv[8]);
		q.replace_cid = num(argv[9]);
		q.gen = num(argv[10]);
		q.ok = !strcmp(argv[11], "ok");
		q.error = q.ok ? "" : "failed by zbs-meta-cli";
		rc = call(ZBS_M_REPLACE_REPLICA, &q, &zbs__empty__descriptor, NULL);
	} else if (!strcmp(cmd, "raw") && argc == 4) {
		rc = raw(argv[3]);
	} else {
		fprintf(stderr, "zbs-meta-cli: bad command\n");
		rc = 2;
	}
	zbs_rpc_close(&c);
	return rc;
}
