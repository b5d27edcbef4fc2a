#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Chunks no map uses any more are closed and freed (chunk_idle_ms), and a
# chunk that went away is not reconnected once nothing uses it. Two chunks,
# two replicas; chunk 2 dies, a write drops it from the map (the agent
# removes it from the location), a revoke drops the old map and a flushed
# write gets a new one on chunk 1 only: chunk 2 has no user left. It must
# see no more connection attempts, and leave debugfs zbs/chunks (its
# threads gone) after chunk_idle_ms; chunk 1, still mapped, stays. When
# the device goes, chunk 1 goes too. Before, every chunk ever named stayed
# until module unload, and a dead one was reconnected every reconnect_ms.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
C=/sys/kernel/debug/zbs/chunks
ktap_plan 10
cluster_init
mount -t debugfs none /sys/kernel/debug 2>/dev/null
zbs_load reconnect_ms=100 conns_per_chunk=1 && wait_path /dev/zbs-control
echo 10000 > /sys/module/zbs/parameters/chunk_idle_ms 2>/dev/null ||
	ktap_info "no chunk_idle_ms parameter"
chunks_start 2 && agent_start 2 || { ktap_fail "cluster starts"; exit 1; }
dev=$(dev_add --volume-id vol-reap --size 256M --replica-num 2 --io-timeout-ms 20000) ||
	{ ktap_fail "attach"; exit 1; }
p1=${CHUNK_PORTS[1]} p2=${CHUNK_PORTS[2]}

# the chunk's line and its connection lines in debugfs, or nothing
chunk_state() { awk -v a="127.0.0.1:$1" '$1 == "chunk" { on = ($3 == a) } on' $C; }
connects() { chunk_state "$1" | sed -n 's/.* connects \([0-9]*\).*/\1/p'; }
threads() { ps -e -o comm= | grep -c '^zbs-[rt]x/'; }

head -c 65536 /dev/urandom > "$ZBS_ST_TMP/a"
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none
ktap_check "both chunks are in use after a write" \
	bash -c "[ -n '$(chunk_state "$p1" | head -n 1)' ] && [ -n '$(chunk_state "$p2" | head -n 1)' ]"

chunk_kill 2
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none; rc=$?
ktap_check "a write with chunk 2 dead succeeds on chunk 1" [ $rc -eq 0 ]
timeout 60 "$ZBS_BIN_DIR/zbs-test-agent" --revoke --dev-id "${dev#/dev/zbs}" 2>/dev/null; rc=$?
# a new map (chunk 1 only), and a flush: the dirty set lets go of chunk 2
dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct conv=fsync status=none; rc2=$?
ktap_check "revoke, then a flushed write under a new map (rc $rc, $rc2)" \
	bash -c "[ $rc -eq 0 ] && [ $rc2 -eq 0 ]"
# chunk 2 comes back on its port: nothing uses it, so the kernel must not
# connect to it again (before, it retried every reconnect_ms)
chunk_start 2 || { ktap_fail "chunk 2 restarts"; exit 1; }
n1=$(connects "$p2"); sleep 1.5; n2=$(connects "$p2")
chunk_state "$p2" | sed 's/^/# chunk 2: /'
ktap_info "chunk 2 connection attempts: $n1, 1.5 s later $n2 (reconnect_ms=100)"
# (n2 is empty if it was closed meanwhile)
ktap_check "chunk 2, used by nobody, is not reconnected ($(chunk_kconns 2) connections)" \
	bash -c "[ $(chunk_kconns 2) = 0 ] && [ -n '$n1' ] && [ -z '$n2' -o '$n1' = '$n2' ]"
wait_for 30 bash -c "! awk '\$1 == \"chunk\"' $C | grep -q ':$p2 '"; rc=$?
cat $C | sed 's/^/# /'
ktap_check "chunk 2 leaves debugfs zbs/chunks after chunk_idle_ms" [ $rc -eq 0 ]
ktap_check "chunk 1, still mapped, stays" test -n "$(chunk_state "$p1")"
ktap_check "only chunk 1's connection threads are left ($(threads))" [ "$(threads)" = 2 ]
ktap_check "the data reads back" \
	bash -c "dd if=$dev bs=64k count=1 iflag=direct status=none | cmp -s - $ZBS_ST_TMP/a"

"$ZBSCTL" device del "$dev" >/dev/null
wait_for 30 bash -c "[ -z \"\$(cat $C)\" ]"; rc=$?
ktap_check "once the device is gone, chunk 1 is closed too (no chunk, $(threads) threads)" \
	bash -c "[ $rc -eq 0 ] && [ $(threads) = 0 ]"
agent_stop
ktap_check "the module unloads (no chunk still in use)" rmmod zbs
ktap_finish
