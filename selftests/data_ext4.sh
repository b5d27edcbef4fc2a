#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ext4 on a 3-replica striped volume: a tree of files keeps its checksums
# across unmount, detach and attach; fsck finds the filesystem clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 7
cluster_init
modprobe ext4 2>/dev/null
zbs_load && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
geom=(--volume-id vol-e --size 2G --replica-num 3 --stripe-num 4)
dev=$(dev_add "${geom[@]}") || { ktap_fail "attach"; exit 1; }
mnt=$ZBS_ST_TMP/mnt
mkdir -p "$mnt"
ktap_check "mkfs.ext4 on $dev" mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev"
# default conns_per_chunk: one per two CPUs, 1..4
want=$(( $(nproc) / 2 )); [ $want -lt 1 ] && want=1; [ $want -gt 4 ] && want=4
ktap_check "default: $want kernel connection(s) per chunk on $(nproc) CPUs" \
	[ "$(chunk_kconns 1)" -eq $want ]
ok=1
mount "$dev" "$mnt" || ok=0
for d in 1 2 3 4; do
	mkdir -p "$mnt/d$d"
	for f in $(seq 20); do
		head -c $(( (RANDOM % 512 + 1) * 1024 )) /dev/urandom > "$mnt/d$d/f$f" || ok=0
	done
done
dd if=/dev/urandom of="$mnt/big" bs=1M count=24 status=none || ok=0
(cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$ZBS_ST_TMP/sums"
umount "$mnt" || ok=0
ktap_check "a tree of 81 files written and unmounted" [ $ok -eq 1 ]
ktap_check "detach" "$ZBSCTL" device del "$dev"
dev=$(dev_add "${geom[@]}")
ktap_check "fsck after re-attach: clean" fsck.ext4 -n -f "$dev"
mount -o ro "$dev" "$mnt" && (cd "$mnt" && sha256sum --quiet -c "$ZBS_ST_TMP/sums") > "$ZBS_ST_TMP/check" 2>&1
ok=$?
sed 's/^/# /' "$ZBS_ST_TMP/check" | head
ktap_check "every file checksum matches after detach/attach" [ $ok -eq 0 ]
umount "$mnt"
ktap_check "detach again" "$ZBSCTL" device del "$dev"
ktap_finish
