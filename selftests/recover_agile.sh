#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Agile recovery under IO (SPEC 4.8, daemon/metad/agile.h): zbs-metad and
# four zbs-chunkd (the first the kernel's agent), a 3-replica volume of 4
# extents with 8 MiB of each written first (32 blocks), then the history
# checker writing the first 4 MiB through /dev/zbsN (1 MiB, 4 blocks, of
# each extent). A chunk holding replicas is killed -9 and restarted 30 s
# later. Meta waits for it (--recover-agile-wait-ms) rather than copying
# its extents to the fourth chunk; back, each of its replicas is caught up
# with only the blocks written while it was away: at most the checker's 4
# blocks of that extent, not the 36 allocated, not 256 MiB. The checker
# finds no lost, stale or torn block and the replicas end identical.
# selftest-timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_recover.sh"

ktap_plan 7
ip link set lo up 2>/dev/null
zbs_load && wait_path /dev/zbs-control || { ktap_fail "module loads"; ktap_finish; exit 1; }
rc_metad --session-lease-ms 3000 --recover-scan-interval-ms 2000 --rebalance-interval-ms 0 \
	--recover-agile-wait-ms 120000 \
	-v debug
for i in 1 2 3 4; do rc_chunk $i; done
wait_for 60 rc_up 4
ktap_check "metad and 4 chunkd up, the first the kernel's agent" rc_up 4

zc volume create v 1G --replica 3 --stripe-num 4 >/dev/null
DEV=$(zc attach v --io-timeout-ms 120000 2>"$T/e")
dd if=/dev/urandom of="$DEV" bs=1M seek=32 count=32 oflag=direct status=none
"$B/zbs-histcheck" run --dev "$DEV" --size 4M --seconds 150 --seed 11 --state "$T/hc.state" \
	> "$T/hc.out" 2>&1 &
HC=$!
written() { [ "$(locs | grep -cE ':[0-9]+,[0-9]+,[0-9]+$')" = 4 ]; }
wait_for 120 written
ktap_check "8 MiB of each of 4 extents written, the checker writes: 3 live replicas each" written
agent_cid=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['data_port']==$((CPORT0 + 1))][0]")
victim_cid=$(locs | head -1 | cut -d: -f2 | tr ',' '\n' | grep -vx "$agent_cid" | head -1)
victim=$(rc_index "$victim_cid")
before=$(locs)
held=$(grep -cE "[:,]$victim_cid(,|$)" <<< "$before")
sleep 3
rc_chunk_kill "$victim"
ktap_info "killed chunk $victim (cid $victim_cid, $held of the 4 extents) under IO"
sleep 30
nofull() { ! grep -q "add recover cmd" "$T/metad.log"; }
ktap_check "30 s later no extent was copied elsewhere (meta waits for the chunk)" nofull
rc_chunk "$victim"
ktap_info "restarted chunk $victim"
# back: 3 live replicas each, the victim in every location it was in
back() {
	local l
	l=$(locs) || return 1
	[ "$(grep -cE ':[0-9]+,[0-9]+,[0-9]+$' <<< "$l")" = 4 ] &&
		[ "$(grep -cE "[:,]$victim_cid(,|$)" <<< "$l")" = "$held" ]
}
wait_for 300 back
DIAG_L=$(locs | tr '\n' ' ')
ktap_check "every extent back to 3 live replicas, the chunk back in its $held ($DIAG_L)" back
ktap_info "$(zc recover status 2>&1 | tr '\n' ';')"
# what each replacement onto the victim copied
copied=$(grep -E "REPLACE REPLICA\] cmd [0-9]+ pid [0-9]+ src [0-9]+ dst $victim_cid " "$T/metad.log" |
	sed -n 's/.*(\(agile\|full\), copied \([0-9]*\)).*/\1:\2/p')
ktap_info "replacements onto cid $victim_cid: $(echo $copied)"
agile_small() {
	local n=0 x
	for x in $copied; do
		[ "${x%%:*}" = agile ] || return 1
		[ "${x#*:}" -le $((4 * 262144)) ] || return 1
		n=$((n + 1))
	done
	[ $n -ge 1 ] && ! grep -q "(full, copied" "$T/metad.log"
}
ktap_check "only agile recoveries, each copied at most the checker's 4 blocks of its extent" \
	agile_small
wait "$HC"; st=$?
HC=
ktap_info "$(grep -E '^run:' "$T/hc.out")"
ktap_check "history checker: no lost, stale or torn write" test $st -eq 0
[ $st -ne 0 ] && rc_timeline
zc detach "$DEV" >/dev/null 2>&1 && DEV=
ktap_check "the replicas of every extent are identical" rc_same_bytes 64
ktap_finish
