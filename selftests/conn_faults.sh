#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Connection set-up failures (test_hooks=1): a chunk whose connection
# threads cannot all be started is torn down cleanly (only what was
# started is stopped; no oops on the half-built connections), the map that
# needed it is answered again later, and the IO completes. Four
# connections per chunk, so the failure hits the middle of the set. Then
# a leg that fails while it is still being sent (send_delay_ms).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
H=/sys/kernel/debug/zbs
ktap_plan 7
cluster_init
mount -t debugfs none /sys/kernel/debug 2>/dev/null
zbs_load test_hooks=1 conns_per_chunk=4 map_retry_ms=500 && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
dev=$(dev_add --volume-id vol-cf --size 256M --replica-num 3 --io-timeout-ms 20000) ||
	{ ktap_fail "attach"; exit 1; }
# 3 chunks x 4 connections x (rx, tx): the 5th start is conn 2's rx of the
# first chunk; conns 2 and 3 were never started
echo 5 > $H/fail_thread_start
head -c 65536 /dev/urandom > "$ZBS_ST_TMP/a"
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd.err"
rc=$?
ktap_info "dd: rc $rc $(cat "$ZBS_ST_TMP/dd.err")"
ktap_check "the hook fired (counter back to 0)" [ "$(cat $H/fail_thread_start)" = 0 ]
ktap_check "the write completes once the map is answered again" [ $rc -eq 0 ]
ktap_check "it reads back" \
	bash -c "dd if=$dev bs=64k count=1 iflag=direct status=none | cmp -s - $ZBS_ST_TMP/a"
n=$(ps -e -o comm= | grep -c '^zbs-[rt]x/')
ktap_info "connection threads: $n"
ktap_check "every chunk has its 4 connections' threads, nothing left of the failed set" [ "$n" = 24 ]
"$ZBSCTL" device del "$dev" >/dev/null
agent_stop
agent_start 1 || { ktap_fail "agent over chunk 1"; exit 1; }

# A leg completed while the tx thread is still sending it: every send
# sleeps 1.5 s between header and data; the only replica's chunk dies
# meanwhile, so the rx thread fails the leg in that window. The completion
# must wait for the send to end (the request's pages are being sent, and a
# retry would re-queue the leg); the write is retried once the chunk is back.
dev=$(dev_add --volume-id vol-cf1 --size 256M --replica-num 1 --io-timeout-ms 30000) ||
	{ ktap_fail "attach 1 replica"; exit 1; }
dd if="$ZBS_ST_TMP/a" of="$dev" bs=4k count=1 oflag=direct status=none	# maps, connects
echo 1500 > $H/send_delay_ms
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd2.err" &
ddpid=$!
sleep 0.5
chunk_kill 1
sleep 1
echo 0 > $H/send_delay_ms
chunk_start 1
wait $ddpid; rc=$?
ktap_info "dd: rc $rc $(cat "$ZBS_ST_TMP/dd2.err")"
ktap_check "a write whose leg failed while it was being sent completes after the retry" [ $rc -eq 0 ]
ktap_check "and reads back" \
	bash -c "dd if=$dev bs=64k count=1 iflag=direct status=none | cmp -s - $ZBS_ST_TMP/a"
"$ZBSCTL" device del "$dev" >/dev/null
agent_stop
ktap_check "the module unloads (no leak, no hung thread)" rmmod zbs
ktap_finish
