#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Lost redundancy comes back by itself, under IO: zbs-metad and four
# zbs-chunkd (the first the kernel's agent), a 3-replica volume written by
# the history checker through /dev/zbsN; one chunk holding replicas is
# killed -9 in the middle and stays down (the full recovery of its dropped
# replicas waits 5 s for it, --recover-agile-wait-ms). The recovery
# scheduler and the owner's executor
# (the kernel writes to the recovering target meanwhile) bring every
# extent back to 3 replicas on live chunks; the checker finds no lost,
# stale or torn block, and the replicas of every extent hold the same
# bytes once IO stopped.
. "$(dirname "$0")/lib.sh"
B=$ZBS_TOP/build
T=$(mktemp -d /tmp/zbs-recover.XXXXXX)
M=127.0.0.1:10160
declare -A CPID
META_PID= DEV= HC=
cleanup() {
	[ -n "$HC" ] && kill -9 "$HC" 2>/dev/null
	if [ -n "${ZBS_VM_OUT:-}" ]; then	# the logs, for a failure
		mkdir -p "$ZBS_VM_OUT/recover_kill"
		cp "$T"/*.log "$T"/hc.out "$ZBS_VM_OUT/recover_kill/" 2>/dev/null
	fi
	[ -n "$DEV" ] && "$ZBSCTL" --meta $M detach "$DEV" >/dev/null 2>&1
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
zc() { "$ZBSCTL" --meta $M "$@"; }
locs() { # pid:cid,cid,... per line, alive ones
	zc --json volume show v --pextents | jq_ '"\n".join("%d:%s" % (p["pid"], ",".join(str(b) for b in p["alive_location"].to_bytes(4,"little") if b)) for p in d["pextents"])'
}

ktap_plan 6
ip link set lo up 2>/dev/null
zbs_load && wait_path /dev/zbs-control || { ktap_fail "module loads"; ktap_finish; exit 1; }
"$B/zbs-metad" -d "$T/meta" -l $M --session-lease-ms 3000 --recover-scan-interval-ms 2000 \
	--recover-agile-wait-ms 5000 \
	-v debug 2>"$T/metad.log" &
META_PID=$!
for i in 1 2 3 4; do
	extra=; [ $i -gt 1 ] && extra=--no-kernel-agent
	"$B/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:$((10260 + i)) --meta $M $extra \
		2>"$T/c$i.log" &
	CPID[$i]=$!
done
up() { [ "$(zc chunk list 2>/dev/null | grep -c CONNECTED_HEALTHY)" = 4 ] &&
	grep -q "registered as the kernel's agent" "$T/c1.log"; }
wait_for 60 up
ktap_check "metad and 4 chunkd up, the first the kernel's agent" up

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
agent_cid=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['data_port']==10261][0]")
victim_cid=$(locs | head -1 | cut -d: -f2 | tr ',' '\n' | grep -vx "$agent_cid" | head -1)
for i in 2 3 4; do
	[ "$(zc --json chunk list | jq_ "[c['data_port'] for c in d if c['cid']==$victim_cid][0]")" = $((10260 + i)) ] && victim=$i
done
sleep 5
kill -9 "${CPID[$victim]}"; wait "${CPID[$victim]}" 2>/dev/null; unset "CPID[$victim]"
ktap_info "killed chunk $victim (cid $victim_cid) under IO"
whole() {
	local l
	l=$(locs) || return 1
	[ "$(grep -c . <<< "$l")" = 4 ] || return 1
	! grep -qE "[:,]$victim_cid(,|$)" <<< "$l" && ! grep -qvE ':[0-9]+,[0-9]+,[0-9]+$' <<< "$l"
}
wait_for 600 whole
DIAG_L=$(locs | tr '\n' ' ')
ktap_check "every extent back to 3 live replicas, none on the dead chunk ($DIAG_L)" whole
ktap_info "$(zc recover status 2>&1 | tr '\n' ';')"
wait "$HC"; st=$?
HC=
ktap_info "$(grep -E '^run:' "$T/hc.out")"
ktap_check "history checker: no lost, stale or torn write" test $st -eq 0
if [ $st -ne 0 ]; then		# the timeline, for the failure
	{
		echo "== hc.out"; grep -v "^run:" "$T/hc.out" | head -12
		echo "== metad"; grep -E "RECOVER|REPLACE|Release owner|MARK GC|REMOVE|add recover" "$T/metad.log" | head -40
		echo "== chunk 1 (agent, executor)"; grep -iE "recover|target|revoke|failed|remove" "$T/c1.log" | head -60
		echo "== dmesg"; dmesg | grep zbs | tail -30
	} | sed 's/^/# /'
fi
zc detach "$DEV" >/dev/null 2>&1 && DEV=
# every extent's replicas hold the same bytes where the checker wrote (a
# chunk's files are named by pid; a file shorter than another reads as
# zeros past its end)
same_bytes() {
	local line pid cids c dirs
	while IFS= read -r line; do
		pid=${line%%:*} dirs=
		for c in $(tr ',' ' ' <<< "${line#*:}"); do
			port=$(zc --json chunk list | jq_ "[c['data_port'] for c in d if c['cid']==$c][0]")
			dirs="$dirs $T/c$((port - 10260))/replicas/$pid"
		done
		python3 -c '
import sys
fs = [open(f, "rb") for f in sys.argv[1:]]
for _ in range(32):	# the first 32 MiB: the checker wrote 24 MiB of each extent
    b = [f.read(1 << 20) for f in fs]
    if not any(b):
        break
    n = max(len(x) for x in b)
    if len({x.ljust(n, b"\0") for x in b}) != 1:
        print("differ:", *sys.argv[1:])
        sys.exit(1)
' $dirs || return 1
	done <<< "$(locs)"
}
ktap_check "the replicas of every extent are identical" same_bytes
ktap_check "meta logged the replacements ([REPLACE REPLICA])" grep -q "REPLACE REPLICA" "$T/metad.log"
ktap_finish
