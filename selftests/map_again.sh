#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An -EAGAIN answer to a map request ("not now": the owner's recovery
# target finishing, meta away, no replica answering) is asked again after a
# short backoff that doubles while the answers stay -EAGAIN, not after
# map_retry_ms, which is for requests nobody answered. map_retry_ms is set
# to 600 s here: a write parked by -EAGAIN answers (the test agent's only
# replica is down) must complete soon after the replica is back, and the
# agent must not be asked at a fixed short period meanwhile.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 3
cluster_init
zbs_load && wait_path /dev/zbs-control
P=/sys/module/zbs/parameters/map_retry_ms
old_retry=$(cat $P)
trap 'echo "$old_retry" > $P; cluster_stop' EXIT
echo 600000 > $P || { ktap_fail "map_retry_ms 600000"; exit 1; }
chunk_start 1 || { ktap_fail "chunk starts"; exit 1; }
chunk_kill 1		# its port stays known: the agent's replica, down
agent_start 1 || { ktap_fail "agent starts"; exit 1; }
# a parked write fails after the IO timeout: 120 s, far below map_retry_ms
dev=$(dev_add --volume-id vol-again --size 1G --replica-num 1 --io-timeout-ms 120000) ||
	{ ktap_fail "attach"; exit 1; }

head -c 4096 /dev/urandom > "$ZBS_ST_TMP/a"
dd if="$ZBS_ST_TMP/a" of="$dev" bs=4k count=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd.err" &
dd_pid=$!
eagain() { grep -c 'map-error .*err=-11 ' "$ZBS_ST_TMP/events" 2>/dev/null; }
first() { [ "$(eagain)" -ge 1 ]; }
wait_for 60 first
ktap_check "the agent answers the parked write's map request -EAGAIN (its replica is down)" first
sleep 5			# the outage: answers stay -EAGAIN
n_out=$(eagain)
chunk_start 1 || { ktap_fail "chunk restarts"; exit 1; }
# done about 2x the outage after it ends; before, -EAGAIN waited
# map_retry_ms and the write failed at its IO timeout, still parked
done_dd() { ! kill -0 $dd_pid 2>/dev/null; }
wait_for 150 done_dd || kill -9 $dd_pid
wait $dd_pid; rc=$?
ktap_info "dd rc $rc $(tail -n 1 "$ZBS_ST_TMP/dd.err"); -EAGAIN answers: $n_out during the outage, $(eagain) in all"
ktap_check "the write succeeds once its replica is back, without waiting map_retry_ms (dd rc $rc)" \
	test "$rc" -eq 0
# doubling from 100 ms: about log2(outage / 100 ms) answers, where a fixed
# 200 ms tick would have asked 25 times in the 5 s alone
ktap_check "the re-asks back off: $n_out -EAGAIN answers in a 5 s outage (at most 12)" \
	test "$n_out" -le 12
ktap_finish
