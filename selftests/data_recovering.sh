#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A recovering target (ZBS_RF_RECOVERING) takes writes but never counts
# toward their success (ARCHITECTURE.md 4a, I1): a 1-replica volume whose
# maps carry chunk 2 as a recovery target (zbs-test-agent --recovering,
# the replica made recovering with RECOVER_BEGIN). With chunk 1 alive a
# write succeeds and reaches both; with chunk 1 killed the only leg that
# succeeds is the target's, and the write is not acknowledged: it fails
# after the IO timeout, and the target holds it without its gen moving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 5
cluster_init
zbs_load && wait_path /dev/zbs-control
chunks_start 2 || { ktap_fail "chunks start"; exit 1; }
agent_start 2 --recovering "127.0.0.1:${CHUNK_PORTS[2]}" || { ktap_fail "agent starts"; exit 1; }
vol=vol-rec
dev=$(dev_add --volume-id $vol --size 1G --replica-num 1 --io-timeout-ms 6000) ||
	{ ktap_fail "attach"; exit 1; }

# the test agent's pid of (vol, vextent 0): fnv1a32(vol) & 0x7fffffff, then 1
h=2166136261
for ((i = 0; i < ${#vol}; i++)); do
	printf -v b '%d' "'${vol:i:1}"
	h=$(( ((h ^ b) * 16777619) & 0xffffffff ))
done
pid=$(( ((h & 0x7fffffff) << 32) | 1 ))
"$ZBS_BIN_DIR/zbs-probe" -c "127.0.0.1:${CHUNK_PORTS[2]}" -p $pid -e 1 -L 1 recover-begin \
	>"$ZBS_ST_TMP/probe.out" 2>&1
ktap_check "chunk 2 holds pid $pid as a recovering replica" \
	grep -q 'status=0 .*state=1' "$ZBS_ST_TMP/probe.out"

head -c 4096 /dev/urandom > "$ZBS_ST_TMP/a"
ktap_check "a write with the current replica and the target up succeeds" \
	dd if="$ZBS_ST_TMP/a" of="$dev" bs=4k count=1 oflag=direct status=none
grep -q "map .*pid=$pid .*replicas=1,2r" "$ZBS_ST_TMP/events" ||
	ktap_info "maps: $(grep "pid=$pid" "$ZBS_ST_TMP/events" | head -3)"

chunk_kill 1
head -c 4096 /dev/urandom > "$ZBS_ST_TMP/b"
start=$(date +%s%N)
dd if="$ZBS_ST_TMP/b" of="$dev" bs=4k count=1 seek=1 oflag=direct status=none \
	2>"$ZBS_ST_TMP/dd.err"; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
ktap_info "dd with only the target up: rc $rc after $ms ms: $(tail -n 1 "$ZBS_ST_TMP/dd.err")"
ktap_check "a write only the recovering target took is not acknowledged" [ $rc -ne 0 ]
ktap_check "the target was never reported failed (it took every write)" \
	bash -c "! grep -q 'target-failed' $ZBS_ST_TMP/events"
ktap_check "the device can be detached" "$ZBSCTL" device del "$dev"
ktap_finish
