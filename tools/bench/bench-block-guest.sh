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
results=$ZBS_ST_TMP/results
bench_dev() {	# LABEL DEV
	# fill first so reads hit written data on every device
	fio --name=fill --filename="$2" --ioengine=libaio --direct=1 --rw=write --bs=1M \
		--iodepth=8 --size=$size >/dev/null 2>&1
	for j in "${jobs[@]}"; do run "$1" "$2" $j | tee -a "$results"; done
}

for rep in 1 3; do
	agent_stop
	agent_start $rep || exit 1
	dev=$(dev_add --volume-id bench-r$rep --size $size --replica-num $rep --stripe-num 4) || exit 1
	bench_dev "zbs$rep" "$dev"
	"$ZBSCTL" device del "$dev"
done
bench_dev nbd /dev/nbd0
bench_dev brd /dev/ram0
nbd-client -d /dev/nbd0 >/dev/null 2>&1
# "iops=" is padded: the number may be its own field
iops() { awk -v l="$1" -v j="$2" '$1 == l && $2 == j { s = $0; sub(/.*iops= */, "", s); split(s, f, " "); print f[1] }' "$results"; }
for rep in 1 3; do
	a=$(iops zbs$rep randwrite-4k-qd32); b=$(iops nbd randwrite-4k-qd32)
	awk -v a="$a" -v b="$b" -v r=$rep 'BEGIN { printf "ratio zbs%d/nbd randwrite-4k-qd32: %.2f\n", r, (b > 0 ? a / b : 0) }'
done
a=$(iops zbs1 randwrite-4k-qd32); b=$(iops brd randwrite-4k-qd32)
awk -v a="$a" -v b="$b" 'BEGIN { printf "ratio zbs1/brd randwrite-4k-qd32: %.2f\n", (b > 0 ? a / b : 0) }'
