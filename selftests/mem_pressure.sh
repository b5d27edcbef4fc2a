#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# What must keep working when memory is short (issue 11 bug 5):
#  - a flush sent to several chunks while the flush-leg pool is all there
#    is, and holds fewer legs than chunks (test hook leg_pool_only=1: the
#    slab "fails", the pool keeps one leg). Before, a flush took its legs
#    one by one and waited for the next before sending any: it waited for
#    itself forever;
#  - the connection threads (they reconnect and create sockets) allocate
#    as PF_MEMALLOC_NOIO, never reclaiming through IO to the device they
#    serve;
#  - zbs-chunkd as the kernel's agent runs as an IO flusher
#    (PR_SET_IO_FLUSHER: every thread PF_MEMALLOC_NOIO) with its memory
#    locked, and says so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
H=/sys/kernel/debug/zbs
PF_MEMALLOC_NOIO=$((0x80000))
ktap_plan 7
cluster_init
mount -t debugfs none /sys/kernel/debug 2>/dev/null
zbs_load test_hooks=1 conns_per_chunk=1 && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
dev=$(dev_add --volume-id vol-mem --size 256M --replica-num 3 --io-timeout-ms 20000) ||
	{ ktap_fail "attach"; exit 1; }

# task flags (field 9 of /proc/PID/stat, after the parenthesised name)
noio() { [ $(( $(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f7) & PF_MEMALLOC_NOIO )) -ne 0 ]; }

head -c 65536 /dev/urandom > "$ZBS_ST_TMP/a"
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none
ktap_check "a write to 3 replicas" [ $? -eq 0 ]
echo 1 > $H/leg_pool_only || ktap_info "no leg_pool_only hook"
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct conv=fsync status=none &
ddpid=$!
wait_for 20 bash -c "! kill -0 $ddpid"; done_in_time=$?
echo 0 > $H/leg_pool_only	# lets a stuck flush go on (the pool grows back)
wait $ddpid; rc=$?
ktap_check "a flush to 3 chunks with a pool of 1 leg completes (rc $rc)" \
	bash -c "[ $done_in_time -eq 0 ] && [ $rc -eq 0 ]"

bad=0 n=0
for p in $(pgrep '^zbs-[rt]x/'); do
	n=$((n + 1))
	noio "$p" || { bad=$((bad + 1)); ktap_info "not NOIO: $(cat /proc/$p/comm)"; }
done
ktap_check "all $n connection threads allocate as PF_MEMALLOC_NOIO" \
	bash -c "[ $n -gt 0 ] && [ $bad -eq 0 ]"
"$ZBSCTL" device del "$dev" >/dev/null
agent_stop

# zbs-chunkd as the agent, with zbs-metad
M=127.0.0.1:$((20000 + RANDOM % 10000))
"$ZBS_BIN_DIR/zbs-metad" -d "$ZBS_ST_TMP/meta" -l $M 2>"$ZBS_ST_TMP/metad.log" &
mpid=$!
"$ZBS_BIN_DIR/zbs-chunkd" -d "$ZBS_ST_TMP/ca" -l 127.0.0.1:0 --meta $M \
	2>"$ZBS_ST_TMP/chunkd-agent.log" &
apid=$!
wait_for 30 grep -q "registered as the kernel's agent" "$ZBS_ST_TMP/chunkd-agent.log"
ktap_check "zbs-chunkd registers as the kernel's agent" [ $? -eq 0 ]
bad=0 n=0
for t in /proc/$apid/task/*; do
	n=$((n + 1))
	noio "${t#/proc/}" || bad=$((bad + 1))
done
ktap_check "all $n of the agent's threads are IO flushers (PF_MEMALLOC_NOIO)" \
	bash -c "[ $bad -eq 0 ]"
lck=$(awk '/^VmLck:/ { print $2 }' /proc/$apid/status)
ktap_check "its memory is locked (VmLck ${lck:-?} kB)" bash -c "[ '${lck:-0}' -gt 0 ]"
ktap_check "and it says so in its log" \
	grep -q "agent memory locked, allocating as an IO flusher" "$ZBS_ST_TMP/chunkd-agent.log"
kill $apid $mpid 2>/dev/null; wait $apid $mpid 2>/dev/null
ktap_finish
