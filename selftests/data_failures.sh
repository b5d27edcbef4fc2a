#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Replica failures under IO on a 3-replica volume: kill one chunk in the
# middle of a fio verify run (fio finishes without error, the failed
# replica is reported and leaves the map), then a second (IO continues on
# the last replica), then the last (IO fails, only after the IO timeout,
# and the device can still be detached). Four connections per chunk.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 10
cluster_init
zbs_load conns_per_chunk=4 && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
dev=$(dev_add --volume-id vol-f --size 4G --replica-num 3 --stripe-num 4 --io-timeout-ms 8000) ||
	{ ktap_fail "attach"; exit 1; }
ktap_ok "cluster of 3 chunks, 3-replica volume $dev"

# the tracepoints see it all: requests started and ended, the replica dropped
TR=/sys/kernel/tracing
[ -d $TR/events ] || mount -t tracefs nodev $TR 2>/dev/null
echo 8192 > $TR/buffer_size_kb; echo > $TR/trace; echo 1 > $TR/events/zbs/enable

# 1. kill chunk 3 while fio writes and verifies
fio_verify kill1 "$dev" --rw=randwrite --bs=4k --iodepth=16 --size=64M --randseed=7 \
	--offset=0 > "$ZBS_ST_TMP/fio1.out" 2>&1 &
fio_pid=$!
# mid-run, however slow the machine: once 500 writes went through all three
# (fio's whole run is 16384), not after a fixed time
for i in $(seq 600); do
	[ "$(grep -c 'zbs_rq_end: zbs0 op 2 .* err 0' $TR/trace)" -ge 500 ] && break
	kill -0 $fio_pid 2>/dev/null || break
	sleep 0.1
done
ktap_info "chunk 3 killed after $(grep -c 'zbs_rq_end: zbs0 op 2 .* err 0' $TR/trace) writes"
chunk_kill 3
wait $fio_pid; rc=$?
cat "$ZBS_ST_TMP/fio1.out"
ktap_check "fio verify finishes without error when a replica dies mid-run" [ $rc -eq 0 ]
ktap_check "the failed replica (cid 3) was reported" grep -q 'failed.*cid=3' "$ZBS_ST_TMP/events"
echo 0 > $TR/events/zbs/enable
cp $TR/trace "$ZBS_ST_TMP/trace"
ktap_info "trace: $(grep -c 'zbs_rq_start:' "$ZBS_ST_TMP/trace") zbs_rq_start, $(grep -c 'zbs_rq_end:' "$ZBS_ST_TMP/trace") zbs_rq_end, $(grep -c 'zbs_replica_failed:' "$ZBS_ST_TMP/trace") zbs_replica_failed"
ktap_check "tracepoints: requests started and ended, and zbs_replica_failed for cid 3" \
	bash -c "grep -q 'zbs_rq_start: zbs0 op 2 ' $ZBS_ST_TMP/trace && grep -q 'zbs_rq_end: zbs0 op 2 .* err 0' $ZBS_ST_TMP/trace && grep -q 'zbs_replica_failed: zbs0 .* cid 3 ' $ZBS_ST_TMP/trace"
ktap_check "data verifies after the failure" \
	fio_verify kill1 "$dev" --rw=randwrite --bs=4k --iodepth=16 --size=64M --randseed=7 \
	--offset=0 --verify_only

# 2. kill chunk 2: the last replica carries on
chunk_kill 2
ktap_check "IO continues on the last replica" \
	fio_verify kill2 "$dev" --rw=write --bs=1M --iodepth=4 --size=64M --offset=1G
ktap_check "earlier data still verifies" \
	fio_verify kill1 "$dev" --rw=randwrite --bs=4k --iodepth=16 --size=64M --randseed=7 \
	--offset=0 --verify_only

# 3. kill the last one: IO fails, but only after the IO timeout (8 s)
chunk_kill 1
start=$(date +%s%N)
dd if=/dev/zero of="$dev" bs=4k count=1 seek=100 oflag=direct 2>"$ZBS_ST_TMP/dd.err"; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
ktap_info "dd: rc $rc after $ms ms: $(tail -n 1 "$ZBS_ST_TMP/dd.err")"
ktap_check "with every replica gone a write fails, as a transport error (ENOLINK)" \
	bash -c "[ $rc -ne 0 ] && grep -q 'Link has been severed' $ZBS_ST_TMP/dd.err"
ktap_check "... only after the IO timeout ($ms ms >= 8000)" [ $ms -ge 8000 ]
ktap_check "the device can be detached" "$ZBSCTL" device del "$dev"
ktap_finish
