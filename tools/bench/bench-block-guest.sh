#!/bin/bash
# Inside the VM: set up the devices and run the fio matrix (see bench-block.sh).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/selftests/lib.sh"
. "$top/selftests/lib_cluster.sh"
rt=${ZBS_BENCH_RUNTIME:-6}
size=256M
cluster_init
zbs_load && wait_path /dev/zbs-control || { echo "cannot load zbs.ko"; exit 1; }
chunks_start 3 || exit 1

# peers: brd (RAM disk) and nbd over loopback from a tmpfs file
modprobe brd rd_nr=1 rd_size=$((256 * 1024))
modprobe nbd nbds_max=1
truncate -s $size "$ZBS_ST_TMP/nbd.img"
cat > "$ZBS_ST_TMP/nbd.conf" <<NBD
[generic]
user = root
group = root
listenaddr = 127.0.0.1
port = 10809
allowlist = true
[bench]
exportname = $ZBS_ST_TMP/nbd.img
NBD
nbd-server -C "$ZBS_ST_TMP/nbd.conf" > "$ZBS_ST_TMP/nbd-server.log" 2>&1
for _ in $(seq 50); do
	nbd-client -N bench 127.0.0.1 10809 /dev/nbd0 -b 4096 > "$ZBS_ST_TMP/nbd-client.log" 2>&1 && break
	sleep 0.2
done
[ -b /dev/ram0 ] && [ "$(cat /sys/block/nbd0/size)" -gt 0 ] || {
	echo "peer devices not ready:"; cat "$ZBS_ST_TMP"/nbd-*.log; ls -la /dev/ram0 /dev/nbd0; }

json=$ZBS_ST_TMP/fio.json
run() {	# run DEVLABEL DEV JOB RW BS QD
	local label=$1 dev=$2 job=$3 rw=$4 bs=$5 qd=$6
	fio --name="$job" --filename="$dev" --ioengine=libaio --direct=1 --rw="$rw" \
		--bs="$bs" --iodepth="$qd" --size=$size --time_based --runtime="$rt" \
		--ramp_time=1 --randseed=1 --output-format=json > "$json" 2>"$json.err" ||
		{ echo "$label $job: fio failed: $(tail -n 2 "$json.err")"; return; }
	python3 - "$label" "$job" "$json" <<'PY'
import json, sys
label, job, path = sys.argv[1:4]
j = json.load(open(path))["jobs"][0]
side = j["write"] if j["write"]["io_bytes"] else j["read"]
pct = side.get("clat_ns", {}).get("percentile", {})
p50 = pct.get("50.000000", 0) / 1000.0
p99 = pct.get("99.000000", 0) / 1000.0
print(f"{label:<6} {job:<18} iops={side['iops']:>9.0f} MB/s={side['bw_bytes']/1e6:>8.1f} "
      f"p50={p50:>9.1f}us p99={p99:>9.1f}us")
PY
}

jobs=("randwrite-4k-qd1 randwrite 4k 1" "randwrite-4k-qd32 randwrite 4k 32"
      "randread-4k-qd1 randread 4k 1" "randread-4k-qd32 randread 4k 32"
      "seqwrite-1m-qd8 write 1M 8")
ratio_job="randwrite-4k-qd32 randwrite 4k 32"
rounds=${ZBS_BENCH_ROUNDS:-3}
results=$ZBS_ST_TMP/results extra=$ZBS_ST_TMP/extra
fill() { fio --name=fill --filename="$1" --ioengine=libaio --direct=1 --rw=write --bs=1M \
	--iodepth=8 --size=$size >/dev/null 2>&1; }

# zbsN_phase REP ROUND: the test agent over REP chunks, the volume attached,
# the whole job list in round 1 (filled first so reads hit written data),
# the ratio job alone in later rounds
zbs_phase() {
	local rep=$1 round=$2 dev j
	agent_stop
	agent_start "$rep" || exit 1
	dev=$(dev_add --volume-id "bench-r$rep" --size $size --replica-num "$rep" --stripe-num 4) || exit 1
	if [ "$round" = 1 ]; then
		fill "$dev"
		for j in "${jobs[@]}"; do run "zbs$rep" "$dev" $j | tee -a "$results"; done
	else
		run "zbs$rep" "$dev" $ratio_job >> "$extra"
	fi
	"$ZBSCTL" device del "$dev"
}
other_phase() {	# LABEL DEV ROUND
	local j
	if [ "$3" = 1 ]; then
		fill "$2"
		for j in "${jobs[@]}"; do run "$1" "$2" $j | tee -a "$results"; done
	else
		run "$1" "$2" $ratio_job >> "$extra"
	fi
}

# Run-to-run noise under TCG is large (nbd alone varies by 1.5x within one
# boot): the ratio lines use the median of $rounds interleaved runs of the
# ratio job on every device; the table shows round 1.
for round in $(seq "$rounds"); do
	zbs_phase 1 "$round"
	zbs_phase 3 "$round"
	other_phase nbd /dev/nbd0 "$round"
	other_phase brd /dev/ram0 "$round"
done
nbd-client -d /dev/nbd0 >/dev/null 2>&1
# "iops=" is padded: the number may be its own field
iops_all() { cat "$results" "$extra" 2>/dev/null | awk -v l="$1" -v j="${ratio_job%% *}" \
	'$1 == l && $2 == j { s = $0; sub(/.*iops= */, "", s); split(s, f, " "); print f[1] }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
for d in zbs1 zbs3 nbd brd; do
	echo "# ${ratio_job%% *} $d runs: $(iops_all $d | tr '\n' ' ')(median $(iops_all $d | median))"
done
ratio() {	# A B
	awk -v a="$(iops_all "$1" | median)" -v b="$(iops_all "$2" | median)" \
		-v l="$1/$2 ${ratio_job%% *}" 'BEGIN { printf "ratio %s: %.2f\n", l, (b > 0 ? a / b : 0) }'
}
ratio zbs1 brd
ratio zbs1 nbd
ratio zbs3 nbd
