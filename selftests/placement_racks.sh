#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Topology-safe placement end to end: zbs-metad and six zbs-chunkd, two in
# each of three racks, the first one the kernel's agent. A 3-replica volume
# written through /dev/zbsN gets every extent on three racks, at first and
# after a chunk of one rack died (its rack keeps one chunk); a 2-replica
# volume gets two racks. fio verifies the data. The first volume prefers
# the agent's chunk, so its reads are all served locally: the device's
# counters and meta's volume show (the agent reports them) say so.
. "$(dirname "$0")/lib.sh"
B=$ZBS_TOP/build
T=$(mktemp -d /tmp/zbs-racks.XXXXXX)
M=127.0.0.1:10150
declare -A CPID
META_PID= DEV= DEV2=
cleanup() {
	[ -n "$DEV" ] && "$ZBSCTL" --meta $M detach "$DEV" >/dev/null 2>&1
	[ -n "$DEV2" ] && "$ZBSCTL" --meta $M detach "$DEV2" >/dev/null 2>&1
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
zc() { "$ZBSCTL" --meta $M "$@"; }

ktap_plan 9
ip link set lo up 2>/dev/null
zbs_load && wait_path /dev/zbs-control || { ktap_fail "module loads"; ktap_finish; exit 1; }
"$B/zbs-metad" -d "$T/meta" -l $M --session-lease-ms 3000 2>"$T/metad.log" &
META_PID=$!
# --no-recover: placement alone; the killed chunk's replicas are not
# recovered meanwhile (recover_kill.sh tests recovery)
for i in 1 2 3 4 5 6; do
	extra=--no-recover; [ $i -gt 1 ] && extra="$extra --no-kernel-agent"
	"$B/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:$((10250 + i)) --meta $M $extra \
		2>"$T/c$i.log" &
	CPID[$i]=$!
done
healthy() { [ "$(zc chunk list 2>/dev/null | grep -c CONNECTED_HEALTHY)" = "$1" ]; }
up() { healthy 6 && grep -q "registered as the kernel's agent" "$T/c1.log"; }
wait_for 60 up
ktap_check "metad and 6 chunkd up, the first the kernel's agent" up

# racks r1 r2 r3 with a brick each; the chunk on port 10250+i goes to rack (i+1)/2
racks_made() {
	local zone r b i cid
	zone=$(zc --json topo list | jq_ '[o["id"] for o in d if o["type"]=="zone"][0]') || return 1
	for r in 1 2 3; do
		rid=$(zc --json topo create rack "r$r" --parent "$zone" | jq_ 'd["id"]') || return 1
		BRICK[$r]=$(zc --json topo create brick "b$r" --parent "$rid" | jq_ 'd["id"]') || return 1
	done
	for i in 1 2 3 4 5 6; do
		cid=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['data_port']==$((10250 + i))][0]")
		RACK_OF_CID[$cid]=$(((i + 1) / 2))
		CID_OF[$i]=$cid
		zc topo move chunk "$cid" "${BRICK[$(((i + 1) / 2))]}" >/dev/null || return 1
	done
}
declare -A BRICK RACK_OF_CID CID_OF
ktap_check "three racks of two chunks each" racks_made

# every pextent of volume $1 on $2 distinct racks
racks_ok() {
	local j bad
	j=$(zc --json volume show "$1" --pextents) || return 1
	bad=$(python3 -c '
import json, sys, re
want = int(sys.argv[1])
rack = {int(k): int(v) for k, v in re.findall(r"\[(\d+)\]=\"?(\d+)\"?", sys.argv[2])}
d = json.load(sys.stdin)
bad = 0
for p in d["pextents"]:
    l = [b for b in p["location"].to_bytes(4, "little") if b]
    if len(l) != want or len({rack[c] for c in l}) != want:
        bad += 1
        print("pid %d on %s" % (p["pid"], l), file=sys.stderr)
print(bad if d["pextents"] else -1)
' "$2" "$(declare -p RACK_OF_CID)" <<< "$j")
	[ "$bad" = 0 ]
}
fio_run() { # fio_run DEV NAME OFFSET SIZE [--verify_only]
	fio --name="$2" --filename="$1" --rw=write --bs=1M --size="$4" --offset="$3" \
		--ioengine=libaio --direct=1 --iodepth=4 \
		--verify=crc32c --verify_fatal=1 ${5:-} --output="$T/$2.fio" >/dev/null 2>&1
}
# one MiB at the start of each of the first 24 extents
write_spread() { # write_spread DEV NAME
	local k
	for k in $(seq 0 23); do
		dd if=/dev/urandom of="$1" bs=1M count=1 seek=$((k * 256)) oflag=direct \
			2>/dev/null || return 1
	done
	fio_run "$1" "$2" 0 64M
}

zc volume create v3 8G --replica 3 --prefer-cid "${CID_OF[1]}" >/dev/null
DEV=$(zc attach v3 --io-timeout-ms 60000 2>"$T/e")
ktap_check "24 extents and 64 MiB fio written to a 3-replica volume" write_spread "$DEV" v3a
ktap_check "every extent of the 3-replica volume on three racks" racks_ok v3 3

# a chunk of rack 2 dies: rack 2 still has one; new extents still use three racks
kill -9 "${CPID[3]}"; wait "${CPID[3]}" 2>/dev/null; unset 'CPID[3]'
wait_for 60 healthy 5
zc volume create v3b 8G --replica 3 >/dev/null
DEV2=$(zc attach v3b --io-timeout-ms 60000 2>"$T/e")
ktap_check "with a chunk of rack 2 gone, a new 3-replica volume on three racks" \
	bash -c "$(declare -f write_spread fio_run racks_ok zc); $(declare -p RACK_OF_CID); T=$T M=$M ZBSCTL=$ZBSCTL; write_spread $DEV2 v3b && racks_ok v3b 3"
zc detach "$DEV2" >/dev/null 2>&1; DEV2=

zc volume create v2 8G --replica 2 >/dev/null
DEV2=$(zc attach v2 --io-timeout-ms 60000 2>"$T/e")
ktap_check "every extent of a 2-replica volume on two racks" \
	bash -c "$(declare -f write_spread fio_run racks_ok zc); $(declare -p RACK_OF_CID); T=$T M=$M ZBSCTL=$ZBSCTL; write_spread $DEV2 v2 && racks_ok v2 2"
ktap_check "the first volume's data verifies" fio_run "$DEV" v3a 0 64M --verify_only
# 64 MiB read back by the verify, all from the agent's own chunk
dev_reads() { zc --json device show "$DEV" | jq_ "d['read_bytes_$1']"; }
DIAG_L=$(dev_reads local) DIAG_R=$(dev_reads remote)
ktap_check "device counters: the verify's reads were local (local $DIAG_L, remote $DIAG_R)" \
	test "$DIAG_L" -ge $((64 << 20)) -a "$DIAG_R" = 0
meta_reads() {
	[ "$(zc --json volume show v3 | jq_ "d['read_bytes_local']")" = "$(dev_reads local)" ] &&
		[ "$(zc --json volume show v3 | jq_ "d['read_bytes_remote']")" = 0 ] &&
		zc volume show v3 | grep -q "^reads local: *100.0%"
}
wait_for 30 meta_reads
ktap_check "meta's volume show: reads 100% local, as the agent reported them" meta_reads
ktap_finish
