#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Recovery survives faults of its own, under IO: zbs-metad and five
# zbs-chunkd (the first the kernel's agent), a 3-replica volume of 4
# extents; each phase runs the history checker on a region of its own and
# the copies are throttled (512 KiB/s a chunk) so a fault lands mid-copy.
#  1. dst killed: chunk V killed; once a cmd copies, its dst D is killed too
#     (its cmds fail); D restarted: every extent back to 3 live replicas,
#     none on V.
#  2. owner killed: chunk W killed; once a cmd copies, the owner (the
#     kernel's agent, chunk 1) is killed -9 and restarted: its cmds are
#     void, reissued and done.
#  3. two of three: V and W back (their replaced copies are GC'd), then two
#     chunks sharing an extent killed at once: that extent lives on one
#     replica until recovery brings all back to 3 on the three left; the
#     two come back one by one and their stale copies are GC'd.
# Every checker run finds no lost, stale or torn block; at the end every
# region is checked again and the replicas of every extent are identical.
# selftest-timeout: 1200
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_recover.sh"

ktap_plan 13
ip link set lo up 2>/dev/null
zbs_load && wait_path /dev/zbs-control || { ktap_fail "module loads"; ktap_finish; exit 1; }
rc_metad --session-lease-ms 3000 --recover-scan-interval-ms 2000 --rebalance-interval-ms 0 \
	--recover-agile-wait-ms 0 \
	-v debug
for i in 1 2 3 4 5; do rc_chunk $i; done
wait_for 60 rc_up 5
ktap_check "metad and 5 chunkd up, the first the kernel's agent" rc_up 5
zc recover set --bps 512K >/dev/null
zc volume create v 1G --replica 3 --stripe-num 4 >/dev/null
DEV=$(zc attach v --io-timeout-ms 120000 2>"$T/e")
agent_cid=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['data_port']==$((CPORT0 + 1))][0]")

# hc_start PHASE: the checker on its region (24 MiB at PHASE * 24 MiB)
hc_start() {
	"$B/zbs-histcheck" run --dev "$DEV" --size 24M --offset $(($1 * 24))M --seconds 80 \
		--seed $((20 + $1)) --state "$T/hc$1.state" > "$T/hc$1.out" 2>&1 &
	HC=$!
}
hc_end() {
	local st
	wait "$HC"; st=$?
	HC=
	ktap_info "phase $1: $(grep -E '^run:' "$T/hc$1.out")"
	[ $st -ne 0 ] && cp "$T/hc$1.out" "$T/hc.out" && rc_timeline
	return $st
}
# a non-agent chunk in the location of pextent $1 (line), not in $2
victim_of() {
	locs | sed -n "${1}p" | cut -d: -f2 | tr ',' '\n' | grep -vx "$agent_cid" |
		grep -vxE "${2:-0}" | head -1
}
# copying CID: a cmd has copied bytes; CID 0 = any; prints dst:owner
copying() {
	zc --json recover list 2>/dev/null |
		jq_ "' '.join('%d:%d' % (c['dst_cid'], c['owner_cid']) for c in d if c['bytes_copied'] > 0)"
}
# the first copy to a dst other than the kernel's agent (an extent the agent
# holds no replica of may be copied to it first: prefer local)
first_copying() {
	copying | tr ' ' '\n' | grep -vE "^$agent_cid:" | grep -m1 .
}
n_alive3() { locs | grep -cE ':[0-9]+,[0-9]+,[0-9]+$'; }
all3() { [ "$(n_alive3)" = 4 ]; }

# ---- 1: the dst dies mid-copy
hc_start 0
wait_for 120 all3
# V from an extent the agent holds: that extent's copy goes to a dst not the agent
agent_line=$(locs | grep -nE "[:,]$agent_cid(,|$)" | head -1 | cut -d: -f1)
V=$(victim_of "${agent_line:-1}"); vi=$(rc_index "$V")
sleep 3
rc_chunk_kill "$vi"
ktap_info "phase 1: killed chunk $vi (cid $V)"
wait_for 120 first_copying
cd=$(first_copying); D=${cd%%:*}
if [ -n "$D" ] && [ "$D" != "$agent_cid" ]; then
	di=$(rc_index "$D")
	rc_chunk_kill "$di"
	ktap_info "phase 1: killed the dst, chunk $di (cid $D), mid-copy"
	sleep 8
	rc_chunk "$di"
	ok1=1
else
	ktap_info "phase 1: no copy to a dst other than the agent's seen ($cd)"
	ok1=0
fi
wait_for 300 rc_whole 4 "$V"
DIAG_L=$(locs | tr '\n' ' ')
ktap_check "dst killed mid-copy: every extent back to 3 live replicas, none on cid $V ($DIAG_L)" \
	test "$ok1" = 1 -a "$(rc_whole 4 "$V"; echo $?)" = 0
ktap_check "phase 1 checker: no lost, stale or torn write" hc_end 0

# ---- 2: the owner dies mid-copy
hc_start 1
sleep 3
W=$(victim_of 1 "$V"); wi=$(rc_index "$W")
rc_chunk_kill "$wi"
ktap_info "phase 2: killed chunk $wi (cid $W)"
owner_copying() { copying | grep -q ":$agent_cid\b"; }
ok2=0
if wait_for 120 owner_copying; then
	rc_chunk_kill 1
	ktap_info "phase 2: killed the owner (chunk 1, the kernel's agent) mid-copy"
	sleep 2
	rc_chunk 1
	ok2=1
fi
wait_for 120 rc_up 3 || true
gone2() { rc_whole 4 "$W" && ! locs | grep -qE "[:,]$V(,|$)"; }
wait_for 300 gone2
DIAG_L=$(locs | tr '\n' ' ')
ktap_check "owner killed mid-copy: its cmds reissued, every extent on 3 live replicas, none on cid $W ($DIAG_L)" \
	test "$ok2" = 1 -a "$(gone2; echo $?)" = 0
ktap_check "phase 2 checker: no lost, stale or torn write" hc_end 1
ktap_check "the owner's executor voided and the cmds were reissued" \
	grep -qE "RECOVER (REVOKED|FAILED|TIMEOUT)" "$T/metad.log"

# ---- 3: two of three (the copies still throttled: the extent on one
# replica stays so until its first copy lands, long enough to be seen)
rc_chunk "$vi"; rc_chunk "$wi"
wait_for 60 rc_up 5
ktap_check "chunks $vi and $wi back: 5 chunkd up" rc_up 5
hc_start 2
sleep 3
X=$(victim_of 1); Y=$(locs | sed -n 1p | cut -d: -f2 | tr ',' '\n' | grep -vxE "$agent_cid|$X" | head -1)
xi=$(rc_index "$X"); yi=$(rc_index "$Y")
rc_chunk_kill "$xi"; rc_chunk_kill "$yi"
ktap_info "phase 3: killed chunks $xi and $yi (cids $X, $Y) at once"
at_risk() { [ "$(zc --json recover status | jq_ "d['at_risk']")" -ge 1 ]; }
# (at risk until the first copy lands: checked once, while waiting)
ktap_check "an extent lives on one replica: recover status counts it at risk" wait_for 60 at_risk
zc recover set --bps unlimited >/dev/null
both_gone() { rc_whole 4 "$X" && ! locs | grep -qE "[:,]$Y(,|$)"; }
wait_for 300 both_gone
DIAG_L=$(locs | tr '\n' ' ')
ktap_check "2 of 3 down: every extent back to 3 live replicas on the 3 left ($DIAG_L)" both_gone
rc_chunk "$xi"
wait_for 60 rc_up 4
rc_chunk "$yi"
wait_for 60 rc_up 5
ktap_check "phase 3 checker: no lost, stale or torn write" hc_end 2
# back one by one: their copies are outside whole locations, GC'd
stale_gone() {
	local i cid f pid l
	l=$(locs)
	for i in $xi $yi $vi $wi; do
		cid=$(zc --json chunk list | jq_ "[k['cid'] for k in d if k['data_port']==$((CPORT0 + i))][0]")
		for f in "$T/c$i/replicas/"*; do
			[ -e "$f" ] || continue
			pid=$(basename "$f")
			grep -qE "^$pid:(.*,)?$cid(,|$)" <<< "$l" || return 1
		done
	done
}
wait_for 120 stale_gone
ktap_check "the chunks that came back hold no replica outside the locations (GC'd)" stale_gone
zc detach "$DEV" >/dev/null 2>&1 && DEV=
DEV=$(zc attach v --io-timeout-ms 120000 2>"$T/e")
recheck() {
	local p
	for p in 0 1 2; do
		"$B/zbs-histcheck" check --dev "$DEV" --state "$T/hc$p.state" \
			> "$T/check$p.out" 2>&1 || return 1
	done
}
ktap_check "every phase's region checked again after all faults: nothing lost" recheck
zc detach "$DEV" >/dev/null 2>&1 && DEV=
ktap_check "the replicas of every extent are identical" rc_same_bytes 80
ktap_finish
