#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Chunk removal and maintenance mode under IO (SPEC 5.10): zbs-metad and
# five zbs-chunkd (the first the kernel's agent), a 3-replica volume of 4
# extents written by the history checker through /dev/zbsN.
#  - `chunk remove` of a chunk holding replicas: every replica migrates off
#    it while IO runs, and no extent ever has fewer than 3 live replicas
#    (sampled throughout); its zbs-chunkd stopped, the chunk is forgotten.
#  - `chunk maintenance on` for another chunk, which is then killed (as an
#    upgrade restarts it): its extents stay on 2 live replicas and nothing is
#    copied elsewhere for 20 s (the writes drop its replicas from the
#    locations; they wait for it, not for --recover-agile-wait-ms, 0 here);
#    it restarts, its replicas still wait while the maintenance is on; off,
#    they are caught up (agile) and back: every extent on the same 3
#    chunks as before.
# The checker finds no lost, stale or torn block; the replicas end identical.
# selftest-timeout: 900
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_recover.sh"

ktap_plan 9
ip link set lo up 2>/dev/null
zbs_load && wait_path /dev/zbs-control || { ktap_fail "module loads"; ktap_finish; exit 1; }
rc_metad --session-lease-ms 3000 --recover-scan-interval-ms 2000 --rebalance-interval-ms 0 \
	--recover-agile-wait-ms 0 -v debug
for i in 1 2 3 4 5; do rc_chunk $i; done
wait_for 60 rc_up 5
ktap_check "metad and 5 chunkd up, the first the kernel's agent" rc_up 5
zc volume create v 1G --replica 3 --stripe-num 4 >/dev/null
DEV=$(zc attach v --io-timeout-ms 120000 2>"$T/e")
"$B/zbs-histcheck" run --dev "$DEV" --size 32M --seconds 200 --seed 31 --state "$T/hc.state" \
	> "$T/hc.out" 2>&1 &
HC=$!
all3() { [ "$(locs | grep -cE ':[0-9]+,[0-9]+,[0-9]+$')" = 4 ]; }
wait_for 120 all3
agent_cid=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['data_port']==$((CPORT0 + 1))][0]")

# ---- removal
R=$(locs | sed -n 1p | cut -d: -f2 | tr ',' '\n' | grep -vx "$agent_cid" | head -1)
ri=$(rc_index "$R")
held=$(locs | grep -cE "[:,]$R(,|$)")
zc recover set --bps 4M >/dev/null	# a drain long enough to sample
zc chunk remove "$R" > "$T/remove.out" 2>&1
ktap_info "$(cat "$T/remove.out")"
min=3 samples=0
drained() { ! locs | grep -qE "[:,]$R(,|$)"; }
for _ in $(seq 600); do
	l=$(locs)
	samples=$((samples + 1))
	while IFS= read -r line; do
		n=$(tr ',' '\n' <<< "${line#*:}" | grep -c .)
		[ "$n" -lt "$min" ] && min=$n
	done <<< "$l"
	drained && break
	sleep 0.5
done
DIAG_L=$(locs | tr '\n' ' ')
ktap_check "chunk $R removed under IO: its $held extents moved off ($DIAG_L)" drained
ktap_check "no extent had fewer than 3 live replicas in $samples samples of the drain (least $min)" \
	test "$min" -ge 3
zc recover set --bps unlimited >/dev/null
rc_chunk_kill "$ri"
forgotten() { [ "$(zc --json chunk list | jq_ "len([c for c in d if c['cid']==$R])")" = 0 ]; }
wait_for 60 forgotten
ktap_check "its zbs-chunkd stopped: chunk $R is forgotten" forgotten

# ---- maintenance
M2=$(locs | sed -n 1p | cut -d: -f2 | tr ',' '\n' | grep -vx "$agent_cid" | head -1)
mi=$(rc_index "$M2")
# pid:cids, the cids sorted: the same replicas in any order
locset() { locs | while IFS=: read -r p c; do echo "$p:$(tr ',' '\n' <<< "$c" | sort -n | paste -sd,)"; done | sort; }
before=$(locset)
zc chunk maintenance "$M2" on --expire 10m > "$T/maint.out" 2>&1
ktap_info "$(cat "$T/maint.out")"
rc_chunk_kill "$mi"
ktap_info "chunk $M2 in maintenance, its zbs-chunkd killed"
full_cmds() { grep -c "add recover cmd" "$T/metad.log"; }
cmds_before=$(full_cmds)
sleep 20
ktap_info "$(grep -E "REMOVE REPLICA.* cid $M2 " "$T/metad.log" | wc -l) replica(s) on it dropped by writes"
ktap_check "20 s later nothing was copied elsewhere for the chunk in maintenance" \
	test "$(full_cmds)" = "$cmds_before"
rc_chunk "$mi"
wait_for 60 rc_up 4
sleep 5
still() { [ "$(full_cmds)" = "$cmds_before" ]; }
ktap_check "back while in maintenance: its replicas wait, nothing copied elsewhere" still
zc chunk maintenance "$M2" off >/dev/null 2>&1
back() { [ "$(locset)" = "$before" ] && all3; }
wait_for 120 back
DIAG_L=$(locs | tr '\n' ' ')
ktap_check "chunk $M2 back, maintenance off: the same 3 live replicas per extent ($DIAG_L)" back
wait "$HC"; st=$?
HC=
ktap_info "$(grep -E '^run:' "$T/hc.out")"
ktap_check "history checker: no lost, stale or torn write" test $st -eq 0
[ $st -ne 0 ] && rc_timeline
zc detach "$DEV" >/dev/null 2>&1 && DEV=
ktap_check "the replicas of every extent are identical" rc_same_bytes 16
ktap_finish
