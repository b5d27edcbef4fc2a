#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Per-op deadlines and retries (zbs_io.c, "Timeouts"): a slow or busy chunk
# keeps its replicas; only one that answers nothing loses them, within the
# documented bound. Chunk 3 gets a test-only fault of zbs-chunkd
# (ZBS_CHUNKD_TEST_*, chunk_server.c) per case, each on a volume of its own:
#  a. it answers the first write BUSY: the write is sent again, no replica
#     is dropped (meta's location keeps cid 3);
#  b. every write takes 3 s: longer than an attempt (1.5 s) and the
#     connection timeout (1.5 s), shorter than the 4 attempts (6 s): kept;
#  c. SIGSTOPped: cid 3 is dropped, not before the op's 6 s budget and
#     within max(6 s, conn_timeout) + 1 s timer slack (+ slack for TCG);
#  d. a WRITE_ZEROES of a whole extent takes 4 s (16 ms per MiB): within
#     its deadline (1.5 s + 40 ms per MiB), so cid 3 is kept.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
PROBE=$ZBS_TOP/build/zbs-probe
ktap_plan 13
cluster_init
zbs_load conns_per_chunk=1 conn_timeout_ms=1500 op_timeout_ms=1500 reconnect_ms=200 &&
	wait_path /dev/zbs-control
chunks_start 3 || { ktap_fail "chunks start"; exit 1; }
head -c 65536 /dev/urandom > "$ZBS_ST_TMP/a"
EV=$ZBS_ST_TMP/events
touch "$EV"

# chunk3 [VAR=VALUE...]: restart chunk 3 (same port, same data) with these
# test faults, and the agent with fresh connections
chunk3() {
	agent_stop
	chunk_kill 3
	[ $# -eq 0 ] || export "$@"
	chunk_start 3
	local rc=$?
	unset ZBS_CHUNKD_TEST_BUSY ZBS_CHUNKD_TEST_DELAY_MS ZBS_CHUNKD_TEST_ZEROES_MS_PER_MIB
	[ $rc -eq 0 ] && agent_start 3
}
# pid_of VOL: the pid of VOL's vextent 0 (the test agent's map event);
# "failed ... vol=VOL" is the kernel's report, "removed pid=PID" meta's
# (the test agent's) change of the location
pid_of() { sed -n "s/^map .*vol=$1 vext=0 pid=\([0-9]*\) .*/\1/p" "$EV" | head -n 1; }
# gen_on VOL I: the gen replica VOL/vext 0 has on chunk I
gen_on() {
	local pid le
	pid=$(sed -n "s/^map .*vol=$1 vext=0 pid=\([0-9]*\) .*/\1/p" "$EV" | head -n 1)
	le=$(sed -n "s/^map .*vol=$1 vext=0 pid=[0-9]* lease_epoch=\([0-9]*\).*/\1/p" "$EV" | head -n 1)
	"$PROBE" -c 127.0.0.1:${CHUNK_PORTS[$2]} -p "$pid" -e 1 -L "${le:-1}" info 2>&1 |
		sed -n 's/.* gen=\([0-9]*\) .*/\1/p'
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# a. one BUSY reply
chunk3 ZBS_CHUNKD_TEST_BUSY=1 || { ktap_fail "chunk 3 (busy) and agent start"; exit 1; }
dev=$(dev_add --volume-id vol-sa --size 256M --replica-num 3 --io-timeout-ms 30000) ||
	{ ktap_fail "attach"; exit 1; }
before=$(dmesg | wc -l)
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd.err"
rc=$?
ktap_info "a: dd rc $rc $(cat "$ZBS_ST_TMP/dd.err"); gens: $(gen_on vol-sa 1) $(gen_on vol-sa 2) $(gen_on vol-sa 3)"
dmesg | tail -n +$((before + 1)) | grep 'zbs' | sed 's/^/# dmesg: /' | head -5
ktap_check "a. a write answered BUSY once by chunk 3 completes" [ $rc -eq 0 ]
ktap_check "a. no replica dropped: meta's location keeps cid 3" bash -c "! grep -q '^\(failed\|removed\) .*\(vol=vol-sa \|pid=$(pid_of vol-sa) \)' $EV"
ktap_check "a. chunk 3 took the write (gen 1) and it reads back" \
	bash -c "[ '$(gen_on vol-sa 3)' = 1 ] && dd if=$dev bs=64k count=1 iflag=direct status=none | cmp -s - $ZBS_ST_TMP/a"
"$ZBSCTL" device del "$dev" >/dev/null

# b. every write 3 s late
chunk3 ZBS_CHUNKD_TEST_DELAY_MS=3000 || { ktap_fail "chunk 3 (slow) and agent start"; exit 1; }
dev=$(dev_add --volume-id vol-sb --size 256M --replica-num 3 --io-timeout-ms 30000) ||
	{ ktap_fail "attach"; exit 1; }
before=$(dmesg | wc -l)
start=$(date +%s%N)
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd.err"
rc=$? ms=$(ms_since "$start")
ktap_info "b: dd rc $rc after $ms ms $(cat "$ZBS_ST_TMP/dd.err"); gens: $(gen_on vol-sb 1) $(gen_on vol-sb 2) $(gen_on vol-sb 3)"
dmesg | tail -n +$((before + 1)) | grep 'zbs' | sed 's/^/# dmesg: /' | head -5
ktap_check "b. a write slower than its deadline (3 s > 1.5 s) completes, after the delay" \
	[ $rc -eq 0 -a $ms -ge 3000 ]
ktap_check "b. no replica dropped: meta's location keeps cid 3" bash -c "! grep -q '^\(failed\|removed\) .*\(vol=vol-sb \|pid=$(pid_of vol-sb) \)' $EV"
ktap_check "b. chunk 3 took the write (gen 1), the connection was not closed" \
	bash -c "[ '$(gen_on vol-sb 3)' = 1 ] && ! dmesg | tail -n +$((before + 1)) | grep -q 'disconnected'"
"$ZBSCTL" device del "$dev" >/dev/null

# c. a chunk that answers nothing
chunk3 || { ktap_fail "chunk 3 and agent start"; exit 1; }
dev=$(dev_add --volume-id vol-sc --size 256M --replica-num 3 --io-timeout-ms 30000) ||
	{ ktap_fail "attach"; exit 1; }
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none	# map, connect
kill -STOP "${CHUNK_PIDS[3]}"
start=$(date +%s%N)
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 seek=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd.err"
rc=$? ms=$(ms_since "$start")
kill -CONT "${CHUNK_PIDS[3]}"
ktap_info "c: dd rc $rc after $ms ms $(cat "$ZBS_ST_TMP/dd.err")"
ktap_check "c. a write to a chunk that answers nothing completes on the others" [ $rc -eq 0 ]
ktap_check "c. the silent chunk's replica (cid 3) is dropped" grep -q '^failed .*cid=3 .*vol=vol-sc ' "$EV"
# budget 4 x 1.5 s = 6 s; bound max(6 s, 1.5 s) + 1 s; TCG and the report: +4 s
ktap_check "c. ... not before the op's retries (6 s) and within the bound ($ms ms in [5500, 11000])" \
	[ $ms -ge 5500 -a $ms -le 11000 ]
"$ZBSCTL" device del "$dev" >/dev/null

# d. a whole-extent WRITE_ZEROES on a slow chunk
chunk3 ZBS_CHUNKD_TEST_ZEROES_MS_PER_MIB=16 || { ktap_fail "chunk 3 (slow zeroes) and agent start"; exit 1; }
dev=$(dev_add --volume-id vol-sd --size 256M --replica-num 3 --io-timeout-ms 30000) ||
	{ ktap_fail "attach"; exit 1; }
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none	# the extent exists
before=$(dmesg | wc -l)
start=$(date +%s%N)
blkdiscard -z -o 0 -l 256M "$dev" 2>"$ZBS_ST_TMP/bd.err"
rc=$? ms=$(ms_since "$start")
ktap_info "d: blkdiscard -z rc $rc after $ms ms $(cat "$ZBS_ST_TMP/bd.err"); gens: $(gen_on vol-sd 1) $(gen_on vol-sd 2) $(gen_on vol-sd 3)"
dmesg | tail -n +$((before + 1)) | grep 'zbs' | sed 's/^/# dmesg: /' | head -5
ktap_check "d. zeroing a whole extent on a slow chunk (4 s) succeeds" [ $rc -eq 0 -a $ms -ge 4000 ]
ktap_check "d. no replica dropped: meta's location keeps cid 3" bash -c "! grep -q '^\(failed\|removed\) .*\(vol=vol-sd \|pid=$(pid_of vol-sd) \)' $EV"
ktap_check "d. chunk 3 took it (gen 2) and the volume reads zeros" \
	bash -c "[ '$(gen_on vol-sd 3)' = 2 ] && dd if=$dev bs=64k count=1 iflag=direct status=none | cmp -s -n 65536 - /dev/zero"
"$ZBSCTL" device del "$dev" >/dev/null
agent_stop
ktap_check "the module unloads" rmmod zbs
ktap_finish
