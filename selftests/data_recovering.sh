#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A recovering target (ZBS_RF_RECOVERING) takes writes but never counts
# toward their success (ARCHITECTURE.md 4a, I1): a 1-replica volume whose
# maps carry chunk 2 as a recovery target (zbs-test-agent --recovering,
# the replica made recovering with RECOVER_BEGIN). With chunk 1 alive a
# write succeeds and reaches both; a write whose only successful leg is the
# target's (chunk 1 refused it: gen mismatch) is not acknowledged as it is
# but retried under a new map, and lands on chunk 1.
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

# chunk 1 takes a write of another writer at gen 1: the kernel's next write
# (gen 1) fails there (gen mismatch, a replica failure) and only the
# target takes it. Not acknowledged as it is: under a new map (synced at
# gen 2) it is written again and lands on chunk 1, the current replica;
# chunk 1 is never reported failed nor removed (before the fix it was, and
# the write was acknowledged while only the target held it)
head -c 4096 /dev/urandom > "$ZBS_ST_TMP/other"
"$ZBS_BIN_DIR/zbs-probe" -c "127.0.0.1:${CHUNK_PORTS[1]}" -p $pid -e 1 -L 1 -g 1 -o 8192 \
	write < "$ZBS_ST_TMP/other" > "$ZBS_ST_TMP/probe2.out" 2>&1 ||
	ktap_info "probe write: $(cat "$ZBS_ST_TMP/probe2.out")"
head -c 4096 /dev/urandom > "$ZBS_ST_TMP/b"
dd if="$ZBS_ST_TMP/b" of="$dev" bs=4k count=1 seek=1 oflag=direct status=none \
	2>"$ZBS_ST_TMP/dd.err"; rc=$?
ktap_info "dd: rc $rc $(tail -n 1 "$ZBS_ST_TMP/dd.err"); agent: $(tail -n 4 "$ZBS_ST_TMP/events" | tr '\n' ' ' | cut -c1-400)"
"$ZBS_BIN_DIR/zbs-probe" -c "127.0.0.1:${CHUNK_PORTS[1]}" -p $pid -e 1 -o 4096 -n 4096 read \
	> "$ZBS_ST_TMP/b1" 2>/dev/null
ktap_check "a write only the recovering target took is not acknowledged: it is on chunk 1 once it is" \
	bash -c "[ $rc -eq 0 ] && cmp -s $ZBS_ST_TMP/b $ZBS_ST_TMP/b1"
ktap_check "the current replica (cid 1) was never reported failed nor removed" \
	bash -c "! grep -qE '(failed|removed) pid=$pid cid=1 ' $ZBS_ST_TMP/events"
ktap_check "the device can be detached" "$ZBSCTL" device del "$dev"
ktap_finish
