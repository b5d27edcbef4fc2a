#!/bin/bash
# Inside the VM, the client half of make bench-recovery (see
# bench-recovery.sh): zbs-metad and 4 zbs-chunkd (the first the kernel's
# agent, so it owns the volume's leases and runs the recover cmds), a
# 3-replica volume attached as /dev/zbsN, its first 128 MiB (4 extents x
# 32 MiB, stripe 4) filled. The same fio jobs (4 KiB randwrite and randread,
# libaio direct, a fixed rate of ZBS_BENCH_IOPS at iodepth 8) run without
# recovery, then while recovery copies: rounds of one migrate cmd per
# extent at once (`zbsctl migrate create`, each replica but the owner's
# moved to the chunk that has none, the executor's full copy path with the
# kernel writing to the recovering target), round after round until the
# job ends. On a fresh cluster each: the chunks without the pace
# (--no-recover-pace: meta's budget alone, unlimited by default; then once
# more under a static budget, zbsctl recover set --bps $ZBS_BENCH_BUDGET),
# with the pace (the default: each chunk holds the copy back while its
# client IO latency rises, recover_gate.h). ZBS_BENCH_ROUNDS (3)
# interleaved without/with runs of each job on each cluster. Prints
# "RESULT key value" lines. ZBS_BENCH_VM_CLUSTERS ("nopace pace") and
# ZBS_BENCH_VM_JOBS ("randwrite randread") choose a part of it.
. "$(dirname "$0")/../../selftests/lib.sh"
B=$ZBS_TOP/build
T=$(mktemp -d /tmp/zbs-benchrec.XXXXXX)
M=127.0.0.1:10160
RT=${ZBS_BENCH_RUNTIME:-10}
IOPS=${ZBS_BENCH_IOPS:-100}
BUDGET=${ZBS_BENCH_BUDGET:-8M}
ROUNDS=${ZBS_BENCH_ROUNDS:-3}
CLUSTERS=${ZBS_BENCH_VM_CLUSTERS:-nopace pace}
JOBS=${ZBS_BENCH_VM_JOBS:-randwrite randread}
declare -A CPID
META_PID= DEV= MIG= M=
cluster_down() {
	[ -n "$MIG" ] && kill "$MIG" 2>/dev/null
	[ -n "$DEV" ] && "$ZBSCTL" --meta $M detach "$DEV" >/dev/null 2>&1
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	CPID=() META_PID= DEV= MIG=
	rm -rf "$T/meta" "$T"/c[0-9]
}
trap 'cluster_down; rm -rf "$T"' EXIT
die() { echo "# bench-recovery (VM): $*"; exit 1; }
zc() { "$ZBSCTL" --meta $M "$@"; }
# pid:cid,cid,... per line. No python here: it is polled while the client
# runs, and in the emulated machine one python3 start takes 0.3-0.7 s of CPU
# (of 2): polled every 0.1 s, as it was, it held a CPU for the runs with
# recovery only.
locs() {
	zc volume show v --pextents | awk '/^ *VEXT /	{ p = 1; next }
		p && match($0, /\[[^]]*\]/) {
			l = substr($0, RSTART + 1, RLENGTH - 2); gsub(/ +/, ",", l); print $2 ":" l }'
}

ip link set lo up 2>/dev/null
zbs_load && wait_path /dev/zbs-control || die "cannot load zbs.ko"
# cluster_up BASEPORT [ARGS for the owner's chunk]: metad, 4 chunks, the
# volume attached and filled
cluster_up() {
	local bp=$1 i extra; shift
	M=127.0.0.1:$bp
	"$B/zbs-metad" -d "$T/meta" -l $M --session-lease-ms 3000 \
		--recover-scan-interval-ms 2000 2>"$T/metad.log" &
	META_PID=$!
	for i in 1 2 3 4; do
		extra=("$@"); [ $i -gt 1 ] && extra+=(--no-kernel-agent)
		"$B/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:$((bp + 100 + i)) --meta $M "${extra[@]}" \
			2>"$T/c$i.log" &
		CPID[$i]=$!
	done
	up() { [ "$(zc chunk list 2>/dev/null | grep -c CONNECTED_HEALTHY)" = 4 ] &&
		grep -q "registered as the kernel's agent" "$T/c1.log"; }
	wait_for 60 up || die "metad and 4 chunks not up"
	zc volume create v 1G --replica 3 --stripe-num 4 >/dev/null || die "volume create"
	DEV=$(zc attach v --io-timeout-ms 120000 2>"$T/e") || die "attach: $(cat "$T/e")"
	wait_path "$DEV" || die "no $DEV"
	fio --name=fill --filename="$DEV" --ioengine=libaio --direct=1 --rw=write --bs=1M \
		--iodepth=8 --size=128M >/dev/null 2>&1 || die "fill"
	agent_cid=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['data_port']==$((bp + 101))][0]")
	all_cids=$(zc --json chunk list | jq_ '" ".join(str(c["cid"]) for c in d)')
	echo "# $(locs | grep -c :) extents: $(locs | tr '\n' ' '); the owner's chunk is cid $agent_cid"
}

# rounds of migrates until $T/stop: each pid's replica on the lowest cid
# other than the owner's goes to the chunk that has none
mig_round() {
	local line pid l c src dst want="" i
	for line in $(locs); do
		pid=${line%%:*} l=,${line#*:}, src= dst=
		for c in $all_cids; do
			case "$l" in *",$c,"*) [ -z "$src" ] && [ "$c" != "$agent_cid" ] && src=$c ;;
				     *) dst=$c ;; esac
		done
		[ -n "$src" ] && [ -n "$dst" ] || continue
		zc migrate create "$pid" --src "$src" --dst "$dst" --replace "$src" >/dev/null 2>&1 &&
			want+=" $pid:$dst"
	done
	moved() {
		local w l
		l=$(locs) || return 1
		for w in $want; do grep -qE "^${w%%:*}:(.*,)?${w#*:}(,|$)" <<< "$l" || return 1; done
	}
	# polled once a second (not wait_for's 0.1 s): the poll's own processes
	# are CPU the client would not have without recovery
	for ((i = 0; i < 300; i++)); do
		sleep 1
		moved && return 0
	done
	return 1
}
mig_loop() {
	while [ ! -e "$T/stop" ]; do
		mig_round
		echo x >> "$T/rounds"
	done
}

json=$T/fio.json
run() {	# run PHASE JOB RW
	local phase=$1 job=$2 rw=$3
	fio --name="$job" --filename="$DEV" --ioengine=libaio --direct=1 --rw="$rw" --bs=4k \
		--iodepth=8 --rate_iops="$IOPS" --size=128M --time_based --runtime="$RT" \
		--ramp_time=1 --randseed=1 --output-format=json > "$json" 2>"$json.err" ||
		{ echo "# $phase $job: fio failed: $(tail -n 2 "$json.err")"; return; }
	python3 - "$phase" "$job" "$json" <<'PY'
import json, sys
phase, job, path = sys.argv[1:4]
j = json.load(open(path))["jobs"][0]
side = j["write"] if j["write"]["io_bytes"] else j["read"]
pct = side.get("clat_ns", {}).get("percentile", {})
print(f"RESULT fio_{phase}_{job}_iops {side['iops']:.0f}")
print(f"RESULT fio_{phase}_{job}_p50_us {pct.get('50.000000', 0) / 1000.0:.0f}")
print(f"RESULT fio_{phase}_{job}_p99_us {pct.get('99.000000', 0) / 1000.0:.0f}")
PY
}
# bytes copied so far: the ended cmds' (their END lines) and the running
# ones' progress (a slow budget may end none within a fio run)
copied() {
	{ cat "$T"/c*.log | grep -hE "\[(NORMAL|AGILE) RECOVER END\]" | awk '{ print $NF }'
	  zc recover list --json | grep -oE '"bytes_copied": *[0-9]+' | grep -oE '[0-9]+$'
	} | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
phase() {	# phase NAME with|without
	local j before t0
	for j in $JOBS; do
		j="$j-4k $j"
		if [ "$2" = with ]; then
			rm -f "$T/stop" "$T/rounds"
			before=$(copied)
			mig_loop & MIG=$!
			sleep 1		# the first cmds are running
		fi
		t0=$(date +%s%N)
		run "$1" $j
		if [ "$2" = with ]; then
			echo "RESULT copy_${1}_${j%% *}_MBps $(awk -v b=$(( $(copied) - before )) \
				-v t=$(( ($(date +%s%N) - t0) / 1000000 )) 'BEGIN { printf "%.1f", b / 1e3 / t }')"
			touch "$T/stop"; wait "$MIG"; MIG=
			echo "# $1 ${j%% *}: $(grep -c . "$T/rounds" 2>/dev/null || echo 0) migrate rounds"
		fi
	done
}
cuts() { echo "RESULT ${1}_cuts $(cat "$T"/c[1-4].log | grep -c 'recover pace: copy rate cut')"
	grep -h 'recover pace: copy rate cut' "$T"/c[1-4].log | sed -n '1p;$p' | sed 's/^/# /'; }
case " $CLUSTERS " in *" nopace "*)
	cluster_up 10160 --no-recover-pace
	for _ in $(seq "$ROUNDS"); do phase base without; phase recov with; done
	zc recover set --bps "$BUDGET" >/dev/null || die "recover set --bps $BUDGET"
	sleep 4		# the budget reaches the chunks with their keepalives
	echo "RESULT budget $BUDGET"
	phase budget with
	echo "# recover: $(zc recover status | tr '\n' ';')"
	cluster_down ;;
esac
case " $CLUSTERS " in *" pace "*)
	cluster_up 10560
	for _ in $(seq "$ROUNDS"); do phase pbase without; phase pace with; done
	cuts pace
	cluster_down ;;
esac
