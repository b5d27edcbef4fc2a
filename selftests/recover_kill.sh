#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Lost redundancy comes back by itself, under IO: zbs-metad and four
# zbs-chunkd (the first the kernel's agent), a 3-replica volume written by
# the history checker through /dev/zbsN; one chunk holding replicas is
# killed -9 in the middle and stays down (the full recovery of its dropped
# replicas waits 5 s for it, --recover-agile-wait-ms). The recovery
# scheduler and the owner's executor (the kernel writes to the recovering
# target meanwhile) bring every extent back to 3 replicas on live chunks;
# the checker finds no lost, stale or torn block, and the replicas of every
# extent hold the same bytes once IO stopped.
# selftest-timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_recover.sh"

ktap_plan 6
ip link set lo up 2>/dev/null
zbs_load && wait_path /dev/zbs-control || { ktap_fail "module loads"; ktap_finish; exit 1; }
rc_metad --session-lease-ms 3000 --recover-scan-interval-ms 2000 --rebalance-interval-ms 0 \
	--recover-agile-wait-ms 5000 \
	-v debug
for i in 1 2 3 4; do rc_chunk $i; done
wait_for 60 rc_up 4
ktap_check "metad and 4 chunkd up, the first the kernel's agent" rc_up 4

# 96 MiB over 4 extents (stripe 4 x 256 KiB): the checker's blocks land on
# every extent, and a recovery copies at most 96 MiB
zc volume create v 1G --replica 3 --stripe-num 4 >/dev/null
DEV=$(zc attach v --io-timeout-ms 120000 2>"$T/e")
"$B/zbs-histcheck" run --dev "$DEV" --size 96M --seconds 150 --seed 7 --state "$T/hc.state" \
	> "$T/hc.out" 2>&1 &
HC=$!
written() { [ "$(locs | grep -cE ':[0-9]+,[0-9]+,[0-9]+$')" = 4 ]; }
wait_for 120 written
ktap_check "the checker writes: 4 extents allocated, 3 live replicas each" written
# the victim: a chunk in the first pextent's location, not the agent's
agent_cid=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['data_port']==$((CPORT0 + 1))][0]")
victim_cid=$(locs | head -1 | cut -d: -f2 | tr ',' '\n' | grep -vx "$agent_cid" | head -1)
victim=$(rc_index "$victim_cid")
sleep 5
rc_chunk_kill "$victim"
ktap_info "killed chunk $victim (cid $victim_cid) under IO"
wait_for 600 rc_whole 4 "$victim_cid"
DIAG_L=$(locs | tr '\n' ' ')
ktap_check "every extent back to 3 live replicas, none on the dead chunk ($DIAG_L)" \
	rc_whole 4 "$victim_cid"
ktap_info "$(zc recover status 2>&1 | tr '\n' ';')"
wait "$HC"; st=$?
HC=
ktap_info "$(grep -E '^run:' "$T/hc.out")"
ktap_check "history checker: no lost, stale or torn write" test $st -eq 0
[ $st -ne 0 ] && rc_timeline
zc detach "$DEV" >/dev/null 2>&1 && DEV=
# the checker wrote 24 MiB of each extent
ktap_check "the replicas of every extent are identical" rc_same_bytes 32
ktap_check "meta logged the replacements ([REPLACE REPLICA])" grep -q "REPLACE REPLICA" "$T/metad.log"
ktap_finish
