#!/bin/bash
# The demo itself (see tools/demo.sh): zbs-metad and three zbs-chunkd on
# loopback with data under a temporary directory, a 3-replica volume
# attached as /dev/zbsN, ext4 with files checked across detach/attach, a
# short fio --verify, the volume's extents and replicas, and a summary.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=$top/build
tmp=$(mktemp -d /tmp/zbs-demo.XXXXXX)
pids=()
step() { printf '\n== %s\n' "$*"; }
fail() {
	echo "DEMO FAILED: $*"
	for f in "$tmp"/*.log; do [ -s "$f" ] && { echo "-- ${f##*/} (tail)"; tail -n 15 "$f"; }; done
	echo "-- kernel log (zbs)"; dmesg | grep -i zbs | tail -n 20
	exit 1
}
cleanup() {
	[ -n "${mnt:-}" ] && umount "$mnt" 2>/dev/null
	for d in /dev/zbs[0-9]*; do [ -b "$d" ] && "$B/zbsctl" detach "$d" >/dev/null 2>&1; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -d /sys/module/zbs ] && rmmod zbs 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
export ZBS_META=127.0.0.1:10100

step "load zbs.ko"
[ -d /sys/module/zbs ] || insmod "$top/zbs.ko" || fail "insmod"
"$B/zbsctl" version

step "start zbs-metad and three zbs-chunkd on loopback (data in $tmp)"
ip link set lo up 2>/dev/null
# The three chunks share one filesystem: give each a third of its free space
# (less a margin), so together they never promise more than it holds.
mem_mib=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
fs_mib=$(df -Pm "$tmp" | awk 'NR == 2 {print $4}')
cap_mib=$(( (fs_mib - 128) / 3 / 64 * 64 ))
[ "$cap_mib" -ge 256 ] || fail "only $fs_mib MiB free in $tmp: 3 chunks need at least 256 MiB each"
echo "memory $mem_mib MiB; $fs_mib MiB free in $tmp ($(df -PT "$tmp" | awk 'NR == 2 {print $2}')), shared by the chunks: --capacity ${cap_mib}M each"
"$B/zbs-metad" -d "$tmp/meta" -l 127.0.0.1:10100 --log-level warn 2>"$tmp/metad.log" &
pids+=($!)
for i in 1 2 3; do
	extra=()
	[ $i -gt 1 ] && extra=(--no-kernel-agent)	# one agent per host: chunk 1
	"$B/zbs-chunkd" -d "$tmp/chunk$i" -l 127.0.0.1:1020$i --meta "$ZBS_META" \
		--capacity "${cap_mib}M" --log-level warn "${extra[@]}" 2>"$tmp/chunk$i.log" &
	pids+=($!)
done
for _ in $(seq 100); do
	[ "$("$B/zbsctl" chunk list 2>/dev/null | grep -c CONNECTED_HEALTHY)" -eq 3 ] && break
	sleep 0.2
done
"$B/zbsctl" chunk list || fail "chunks did not register"

step "create a 3-replica volume striped over 4 extents, and attach it"
"$B/zbsctl" volume create demo 4G --replica 3 --stripe-num 4 || fail "volume create"
dev=$("$B/zbsctl" attach demo) || fail "attach"
for _ in $(seq 50); do [ -b "$dev" ] && break; sleep 0.1; done
echo "attached as $dev"
"$B/zbsctl" device list

step "ext4 on $dev: write files, then check them across detach/attach"
modprobe ext4 2>/dev/null
mnt=$tmp/mnt
mkdir -p "$mnt"
mkfs.ext4 -q -F "$dev" || fail "mkfs"
mount "$dev" "$mnt" || fail "mount"
for i in $(seq 16); do head -c $((i * 65536)) /dev/urandom > "$mnt/file$i"; done
cp -r "$top/kernel" "$mnt/"
(cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$tmp/sums"
umount "$mnt"
"$B/zbsctl" detach "$dev" || fail "detach"
dev=$("$B/zbsctl" attach demo) || fail "re-attach"
for _ in $(seq 50); do [ -b "$dev" ] && break; sleep 0.1; done
mount "$dev" "$mnt" || fail "mount after re-attach"
(cd "$mnt" && sha256sum --quiet -c "$tmp/sums") || fail "checksums differ"
echo "$(wc -l < "$tmp/sums") files read back with matching sha256 after detach/attach"
umount "$mnt"

step "fio --verify=crc32c on the raw device"
fio --name=demo --filename="$dev" --ioengine=libaio --direct=1 --rw=randwrite --bs=4k \
	--iodepth=16 --size=16M --offset=3G --verify=crc32c --verify_fatal=1 \
	--output-format=terse --terse-version=3 > "$tmp/fio.out" 2>&1 || { cat "$tmp/fio.out"; fail "fio verify"; }
echo "fio: 16 MiB of 4 KiB random writes verified"

step "the volume's extents and their replicas (meta's view)"
"$B/zbsctl" volume show demo --pextents

step "detach"
"$B/zbsctl" detach "$dev" || fail "detach"
mnt=""
echo
echo "DEMO OK: metad + 3 chunkd (${cap_mib} MiB each), thin 3-replica volume 'demo' (4 GiB) as $dev: ext4 files and fio data verified."
