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
#   agent-stop   the agent's chunkd SIGSTOPped until meta expired its session;
#                a second agent (zbs-agent-cli, as another node would) takes
#                the volume's write leases (raising lease_epoch, fencing the
#                stopped one) and leaves; then SIGCONT
#   partition    the client node (kernel and agent chunk) cut off from meta
#                but not from the chunks (network namespaces: metad and
#                chunks 2, 3 in their own, reached over two veth links; the
#                client's link to meta goes down, then up again)
#
# agent-stop and partition run at least 30 s: the session lease (10 s by
# default) must run out inside the run.
#
# FAULT_SCHEDULES (default all), FAULT_SEEDS (default 1), FAULT_SECONDS per
# run (default 12). Prints KTAP and one "# table" line per run:
#   # table SCHEDULE SEED writes=N reads=N violations=N max_stall_ms=N max_write_stall_ms=N
. "$(dirname "$0")/lib.sh"
BIN=$ZBS_TOP/build
SCHEDULES=${FAULT_SCHEDULES:-chunk agent metad metad-chunk agent-stop partition}
SEEDS=${FAULT_SEEDS:-1}
SECS=${FAULT_SECONDS:-12}
M=127.0.0.1:10100
T=$(mktemp -d /tmp/zbs-faults.XXXXXX)
NS=zbs-faults-meta
declare -A CPID
META_PID= DEV= SPLIT=

zc() { "$ZBSCTL" --meta "$M" "$@"; }
# SPLIT (partition): metad and chunks 2, 3 in namespace $NS, reached by the
# client over 10.98.0.2 (meta, link zbsm0) and 10.99.0.2 (chunks, zbsd0)
# spawn CMD... &: CMD in the namespace when split; exec, so $! is CMD's pid
spawn() { if [ -n "$SPLIT" ]; then exec ip netns exec $NS "$@"; else exec "$@"; fi; }
meta_start() {
	spawn "$BIN/zbs-metad" -d "$T/meta" -l 0.0.0.0:10100 --log-level info \
		2>>"$T/metad.log" &
	META_PID=$!
}
chunk_start() {
	local args=(-d "$T/c$1" -l 127.0.0.1:$((10200 + $1)) --meta 127.0.0.1:10100)

	if [ "$1" -gt 1 ]; then
		args+=(--no-kernel-agent)
		[ -n "$SPLIT" ] && args[3]=0.0.0.0:$((10200 + $1)) && args+=(--advertise 10.99.0.2)
		spawn "$BIN/zbs-chunkd" "${args[@]}" 2>>"$T/c$1.log" &
	else
		[ -n "$SPLIT" ] && args[5]=10.98.0.2:10100
		"$BIN/zbs-chunkd" "${args[@]}" 2>>"$T/c$1.log" &
	fi
	CPID[$1]=$!
}
split_setup() {
	ip netns add $NS || return 1
	ip -n $NS link set lo up
	ip link add zbsm0 type veth peer name zbsm1 netns $NS || return 1
	ip link add zbsd0 type veth peer name zbsd1 netns $NS || return 1
	ip addr add 10.98.0.1/24 dev zbsm0 && ip link set zbsm0 up &&
	ip addr add 10.99.0.1/24 dev zbsd0 && ip link set zbsd0 up &&
	ip -n $NS addr add 10.98.0.2/24 dev zbsm1 && ip -n $NS link set zbsm1 up &&
	ip -n $NS addr add 10.99.0.2/24 dev zbsd1 && ip -n $NS link set zbsd1 up || return 1
	SPLIT=1 M=10.98.0.2:10100
}
split_teardown() {
	ip link del zbsm0 2>/dev/null
	ip link del zbsd0 2>/dev/null
	ip netns del $NS 2>/dev/null
	SPLIT= M=127.0.0.1:10100
}
cid_of_c1() { zc --json chunk list | python3 -c 'import json,sys; u=sys.argv[1]; print([c["cid"] for c in json.load(sys.stdin) if c["uuid"]==u][0])' "$(cat "$T/c1/chunk-id")"; }
c1_expired() { zc chunk show "$C1" 2>/dev/null | grep -q SESSION_EXPIRED; }
# a second agent takes every write lease the load uses (vextents 0-3), as
# another node attaching the volume would, then leaves its session
takeover() {
	wait_for 60 c1_expired || echo "# agent-stop: chunk $C1's session did not expire"
	"$BIN/zbs-agent-cli" --meta "$M" --uuid cccccccc-3333-4333-8333-333333333333 wait \
		map v 0 w map v 1 w map v 2 w map v 3 w >"$T/takeover.out" 2>>"$T/takeover.log"
	sed 's/^/# takeover: /' "$T/takeover.out" | grep -E 'map' | head -4
}
kill9() { [ -n "$1" ] && kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
stop_all() {
	local p
	[ -n "$DEV" ] && [ -b "$DEV" ] && "$ZBSCTL" device del "$DEV" >/dev/null 2>&1
	DEV=
	for p in "${CPID[@]}"; do kill9 "$p"; done
	kill9 "$META_PID"
	pkill -9 -f -- "$T/" 2>/dev/null	# nothing of this run outlives it
	META_PID=
}
cleanup() {
	stop_all
	rm -rf "$T"
	split_teardown
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
	agent-stop)	C1=$(cid_of_c1)
			at 15 kill -STOP "${CPID[1]}"; takeover; kill -CONT "${CPID[1]}" ;;
	partition)	at 15 ip link set zbsm0 down; at 60 ip link set zbsm0 up ;;
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
		SECS=${FAULT_SECONDS:-12}
		case $s in agent-stop|partition) [ "$SECS" -lt 30 ] && SECS=30 ;; esac
		if [ $s = partition ] && ! split_setup; then
			ktap_fail "$s seed $seed: network namespaces"
			split_teardown
			continue
		fi
		meta_start
		for i in 1 2 3; do chunk_start $i; done
		wait_for 60 up || { ktap_fail "$s seed $seed: cluster up"; stop_all; continue; }
		notd=
		for p in "$META_PID" "${CPID[@]}"; do	# the pids are the daemons'
			grep -q '^zbs-' /proc/$p/comm 2>/dev/null || notd+=" $p"
		done
		[ -z "$notd" ] || { ktap_fail "$s seed $seed: not daemon pids:$notd"; stop_all; continue; }
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
		if [ -n "${ZBS_VM_OUT:-}" ]; then	# every run's logs, for the timeline
			mkdir -p "$ZBS_VM_OUT/faults/$s-$seed"
			cp "$T"/*.log "$T"/*.out "$ZBS_VM_OUT/faults/$s-$seed/" 2>/dev/null
		fi
		[ $s = partition ] && split_teardown
	done
done
ktap_finish
