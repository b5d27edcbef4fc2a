#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fault schedules under the history checker (tools/zbs-histcheck), against
# real zbs-metad and three zbs-chunkd (chunk 1 is the node's agent): a
# 3-replica volume takes stamped O_DIRECT writes and reads while one fault
# schedule runs; every read is judged online and every touched block once
# more at the end. Invariant I1 (ARCHITECTURE.md 4a): zero lost, stale,
# torn or foreign blocks is the only pass.
#
#   chunk        kill -9 of a non-agent chunk, restarted
#   agent        kill -9 of the agent's chunkd (agent and replica), restarted
#   metad        kill -9 of metad, restarted
#   metad-chunk  metad killed, then a non-agent chunk while metad is down,
#                both restarted
#
# FAULT_SCHEDULES (default all), FAULT_SEEDS (default 1), FAULT_SECONDS per
# run (default 12). Prints KTAP and one "# table" line per run:
#   # table SCHEDULE SEED writes=N reads=N violations=N max_stall_ms=N max_write_stall_ms=N
. "$(dirname "$0")/lib.sh"
BIN=$ZBS_TOP/build
SCHEDULES=${FAULT_SCHEDULES:-chunk agent metad metad-chunk}
SEEDS=${FAULT_SEEDS:-1}
SECS=${FAULT_SECONDS:-12}
M=127.0.0.1:10100
T=$(mktemp -d /tmp/zbs-faults.XXXXXX)
declare -A CPID
META_PID= DEV=

zc() { "$ZBSCTL" --meta "$M" "$@"; }
meta_start() {
	"$BIN/zbs-metad" -d "$T/meta" -l $M --log-level info 2>>"$T/metad.log" &
	META_PID=$!
}
chunk_start() {
	local extra=
	[ "$1" -gt 1 ] && extra=--no-kernel-agent
	"$BIN/zbs-chunkd" -d "$T/c$1" -l 127.0.0.1:$((10200 + $1)) --meta $M $extra \
		2>>"$T/c$1.log" &
	CPID[$1]=$!
}
kill9() { [ -n "$1" ] && kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
stop_all() {
	local p
	[ -n "$DEV" ] && [ -b "$DEV" ] && "$ZBSCTL" device del "$DEV" >/dev/null 2>&1
	DEV=
	for p in "${CPID[@]}"; do kill9 "$p"; done
	kill9 "$META_PID"
	META_PID=
}
cleanup() {
	stop_all
	if [ -n "${ZBS_VM_OUT:-}" ]; then
		mkdir -p "$ZBS_VM_OUT/faults"
		cp "$T"/*.log "$ZBS_VM_OUT/faults/" 2>/dev/null
	fi
	rm -rf "$T"
	zbs_unload 2>/dev/null
}
trap cleanup EXIT
up() {
	[ "$(zc chunk list 2>/dev/null | grep -c CONNECTED_HEALTHY)" = 3 ] &&
		grep -q "registered as the kernel's agent" "$T/c1.log"
}

# at FRACTION CMD...: run CMD at FRACTION (percent) of the run
at() {
	local pct=$1; shift
	sleep "$(awk -v s="$SECS" -v p="$pct" -v t="$ELAPSED" 'BEGIN { d = s * p / 100 - t; print (d > 0 ? d : 0) }')"
	ELAPSED=$(awk -v s="$SECS" -v p="$pct" 'BEGIN { print s * p / 100 }')
	"$@"
}

schedule() {
	ELAPSED=0
	case $1 in
	chunk)		at 25 kill9 "${CPID[3]}"; at 50 chunk_start 3 ;;
	agent)		at 25 kill9 "${CPID[1]}"; at 50 chunk_start 1 ;;
	metad)		at 25 kill9 "$META_PID"; at 50 meta_start ;;
	metad-chunk)	at 20 kill9 "$META_PID"; at 30 kill9 "${CPID[3]}"
			at 50 meta_start; at 60 chunk_start 3 ;;
	esac
}

n=0
for s in $SCHEDULES; do for seed in $(seq "$SEEDS"); do n=$((n + 1)); done; done
ktap_plan $n
ip link set lo up 2>/dev/null
zbs_unload 2>/dev/null
zbs_load && wait_path /dev/zbs-control || { echo "Bail out! zbs.ko"; exit 1; }

for s in $SCHEDULES; do
	for seed in $(seq "$SEEDS"); do
		rm -rf "$T"/meta "$T"/c? "$T"/*.log
		meta_start
		for i in 1 2 3; do chunk_start $i; done
		wait_for 60 up || { ktap_fail "$s seed $seed: cluster up"; stop_all; continue; }
		zc volume create v 1G --replica 3 --stripe-num 4 >/dev/null
		DEV=$(zc attach v 2>"$T/attach.log")
		if [ ! -b "${DEV:-/nonexistent}" ]; then
			ktap_fail "$s seed $seed: attach ($(cat "$T/attach.log"))"
			stop_all
			continue
		fi
		"$BIN/zbs-histcheck" run --dev "$DEV" --size 64M --writers 4 --readers 2 \
			--seconds "$SECS" --seed "$seed" > "$T/hist.out" 2>&1 &
		hpid=$!
		schedule "$s"
		wait $hpid
		st=$?
		sum=$(grep -E '^run:' "$T/hist.out")
		get() { sed -n "s/.* $1 \([0-9]*\)$2.*/\1/p" <<< "$sum"; }
		echo "# table $s $seed writes=$(get writes ' (acknowledged)') reads=$(get reads ' (ok)')" \
			"violations=$(get violations) max_stall_ms=$(get max_stall_ms)" \
			"max_write_stall_ms=$(get max_write_stall_ms)"
		if [ $st -eq 0 ] && [ -n "$sum" ]; then
			ktap_ok "$s seed $seed: no violation ($sum)"
		else
			grep -m 20 VIOLATION "$T/hist.out" | sed 's/^/# /'
			ktap_info "$sum"
			ktap_fail "$s seed $seed: I1 holds under the schedule"
		fi
		stop_all
	done
done
ktap_finish
