#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Discard and write zeroes through /dev/zbsN. The block layer does not split
# them at stripe units, so the driver does: on a 3-replica volume striped
# over 4 extents with 64 KiB units, ranges that are 4 KiB aligned but not
# unit aligned, crossing many units and a stripe-group boundary, read back
# as zeros while everything around them keeps its pattern (also after
# detach/attach); mkfs.ext4 (which discards the whole device) and files on
# it; a replica failing under a discard; the same on a 1-replica volume.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 18
cluster_init
modprobe ext4 2>/dev/null
zbs_load && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
ktap_ok "3 chunk servers and the test agent run"

K=1024 M=$((1024 * 1024)) G=$((1024 * 1024 * 1024))
U=$((64 * K))				# stripe unit
T=$ZBS_ST_TMP

# region_write DEV OFF LEN NAME: random data at OFF; expected copy in $T/NAME
region_write() {
	head -c "$3" /dev/urandom > "$T/$4" &&
	dd if="$T/$4" of="$1" bs=1M seek="$2" oflag=direct,seek_bytes conv=fsync status=none
}

# region_zero NAME OFF LEN: the expected copy of region NAME gets zeros at
# OFF (relative to the region)
region_zero() {
	dd if=/dev/zero of="$T/$1" bs=4K seek="$2" count="$3" oflag=seek_bytes \
		iflag=count_bytes conv=notrunc status=none
}

# region_check DEV OFF NAME: the device at OFF holds exactly $T/NAME
region_check() {
	local len
	len=$(stat -c %s "$T/$3")
	dd if="$1" bs=1M skip="$2" count="$len" iflag=direct,skip_bytes,count_bytes \
		status=none | cmp - "$T/$3" >&2
}

# zeros_at DEV OFF LEN: the device reads as zeros there
zeros_at() {
	dd if="$1" bs=1M skip="$2" count="$3" iflag=direct,skip_bytes,count_bytes status=none |
		cmp -n "$3" - /dev/zero >&2
}

# ---- 3 replicas, stripe 4 x 64 KiB, two stripe groups -------------------
geom=(--volume-id vol-dz --size $((G + 16 * M)) --replica-num 3 --stripe-num 4
      --stripe-size 64K --io-timeout-ms 20000)
dev=$(dev_add "${geom[@]}") || { ktap_fail "attach"; exit 1; }
q=/sys/block/$(basename "$dev")/queue
ktap_check "discard and write zeroes advertised (discard_max_bytes $(cat $q/discard_max_bytes))" \
	bash -c "[ \$(cat $q/discard_max_bytes) -gt 0 ] && [ \$(cat $q/write_zeroes_max_bytes) -gt 0 ] &&
		 [ \$(cat $q/discard_granularity) -eq 4096 ]"

A=0 B=$((G - 16 * M))			# region A: 32 MiB in group 0; B: across groups
ok=1
region_write "$dev" $A $((32 * M)) a || ok=0
region_write "$dev" $B $((32 * M)) b || ok=0
ktap_check "pattern written: 32 MiB in group 0, 32 MiB across the group boundary" [ $ok -eq 1 ]

# 37 units and a bit, starting 12 KiB into unit 3: every extent of the group
o=$((3 * U + 12 * K)) l=$((37 * U + 20 * K))
blkdiscard -o $o -l $l "$dev"
ktap_check "blkdiscard of $l bytes at $o (not unit aligned) succeeds" [ $? -eq 0 ]
region_zero a $o $l
ktap_check "the discarded range reads as zeros" zeros_at "$dev" $o $l
ktap_check "the rest of region A keeps its pattern" region_check "$dev" $A a

# write zeroes across the group boundary at 1 GiB, 8 KiB before a unit end
o=$((G - 5 * U - 8 * K)) l=$((11 * U + 24 * K))
blkdiscard -z -o $o -l $l "$dev"
ktap_check "blkdiscard -z of $l bytes at $o (across stripe groups) succeeds" [ $? -eq 0 ]
region_zero b $((o - B)) $l
ktap_check "zeros there, the rest of region B keeps its pattern" \
	bash -c "$(declare -f zeros_at region_check); T=$T; zeros_at $dev $o $l && region_check $dev $B b"

# a larger discard: 3 MiB + 4 KiB, 4 KiB into region A
o=$((A + 4 * K)) l=$((3 * M + 4 * K))
blkdiscard -o $o -l $l "$dev" && region_zero a $o $l
ktap_check "a 3 MiB discard over every extent; region A as expected" region_check "$dev" $A a

ktap_check "detach" "$ZBSCTL" device del "$dev"
dev=$(dev_add "${geom[@]}") || { ktap_fail "re-attach"; exit 1; }
ktap_check "after detach/attach both regions read exactly as expected" \
	bash -c "$(declare -f region_check); T=$T; region_check $dev $A a && region_check $dev $B b"
"$ZBSCTL" device del "$dev"

# ---- ext4: mkfs discards the whole device --------------------------------
geom=(--volume-id vol-dz-ext4 --size 768M --replica-num 3 --stripe-num 4 --stripe-size 64K)
dev=$(dev_add "${geom[@]}") || { ktap_fail "attach ext4 volume"; exit 1; }
mnt=$T/mnt
mkdir -p "$mnt"
mkfs.ext4 -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev" > "$T/mkfs.log" 2>&1
rc=$?
sed 's/^/# /' "$T/mkfs.log" | grep -i discard
ktap_check "mkfs.ext4 discards the device and succeeds" \
	bash -c "[ $rc -eq 0 ] && grep -qi 'discarding device blocks:.*done' $T/mkfs.log"
ok=1
mount -o discard "$dev" "$mnt" || ok=0
for f in $(seq 24); do
	head -c $(( (RANDOM % 1024 + 1) * 1024 )) /dev/urandom > "$mnt/f$f" || ok=0
done
rm -f "$mnt/f3" "$mnt/f7" && sync && fstrim "$mnt" >/dev/null 2>&1
(cd "$mnt" && sha256sum f*) > "$T/sums" || ok=0
umount "$mnt" || ok=0
"$ZBSCTL" device del "$dev" || ok=0
dev=$(dev_add "${geom[@]}") || ok=0
fsck.ext4 -n -f "$dev" > "$T/fsck.log" 2>&1 || { ok=0; sed 's/^/# /' "$T/fsck.log" | tail -n 5; }
mount -o ro "$dev" "$mnt" && (cd "$mnt" && sha256sum --quiet -c "$T/sums") >&2 || ok=0
umount "$mnt"
ktap_check "ext4 (mounted -o discard, fstrim): files intact and fsck clean after detach/attach" \
	[ $ok -eq 1 ]
"$ZBSCTL" device del "$dev"

ktap_check "no replica failure reported so far" bash -c "! grep -q '^failed' '$T/events' 2>/dev/null"

# ---- a replica fails: the discard succeeds on the others ------------------
dev=$(dev_add --volume-id vol-dz-fail --size 64M --replica-num 3 --stripe-num 4 \
	--stripe-size 64K --io-timeout-ms 20000) || { ktap_fail "attach"; exit 1; }
ok=1
region_write "$dev" 0 $((16 * M)) d || ok=0
chunk_kill 3
o=$((2 * U + 8 * K)) l=$((50 * U + 4 * K))
blkdiscard -o $o -l $l "$dev" && region_zero d $o $l || ok=0
ktap_check "a chunk killed: the discard succeeds, zeros there, the pattern around kept" \
	bash -c "$(declare -f region_check); T=$T; [ $ok -eq 1 ] && region_check $dev 0 d"
ktap_check "the killed chunk's replicas were reported failed" grep -q '^failed' "$T/events"
"$ZBSCTL" device del "$dev"

# ---- 1 replica -------------------------------------------------------------
agent_stop
agent_start 1 || { ktap_fail "test agent over 1 chunk"; exit 1; }
dev=$(dev_add --volume-id vol-dz-1 --size 64M --replica-num 1 --stripe-num 2 \
	--stripe-size 64K) || { ktap_fail "attach 1-replica volume"; exit 1; }
ok=1
region_write "$dev" 0 $((16 * M)) c || ok=0
o=$((5 * U + 4 * K)) l=$((70 * U + 12 * K))
blkdiscard -o $o -l $l "$dev" && region_zero c $o $l || ok=0
o=$((100 * U + 60 * K)) l=$((9 * U + 8 * K))
blkdiscard -z -o $o -l $l "$dev" && region_zero c $o $l || ok=0
ktap_check "1 replica: discard and write zeroes, pattern around them kept" \
	bash -c "$(declare -f region_check); T=$T; [ $ok -eq 1 ] && region_check $dev 0 c"
ktap_check "1 replica: discard of the whole device, then zeros everywhere" \
	bash -c "$(declare -f zeros_at); blkdiscard $dev && zeros_at $dev 0 $((64 * M))"
"$ZBSCTL" device del "$dev"

ktap_finish
