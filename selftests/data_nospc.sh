#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Out of space at the chunks is a capacity condition, not a replica fault:
# three chunks share a small filesystem, a 3-replica volume larger than it is
# written sequentially with O_DIRECT until the filesystem is full. The writer
# gets ENOSPC (BLK_STS_NOSPC), not EIO after the IO timeout; every write it
# was told succeeded reads back; the chunks refused before taking the gen,
# so no replica is left in error and, once space is back, writing goes on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 5
cluster_init
FS=$(mktemp -d /tmp/zbs-nospc.XXXXXX)
trap 'cluster_stop; umount "$FS" 2>/dev/null; rmdir "$FS"' EXIT
mount -t tmpfs -o size=160M zbs-nospc "$FS" || { ktap_fail "tmpfs"; exit 1; }
ZBS_ST_TMP_LOGS=$ZBS_ST_TMP
# the chunks' data dirs on the small filesystem, their logs where they were
for i in 1 2 3; do mkdir -p "$FS/c$i" && ln -s "$FS/c$i" "$ZBS_ST_TMP/c$i"; done
zbs_load && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
ktap_ok "3 chunk servers on one 160 MiB filesystem and the test agent run"

M=$((1024 * 1024)) T=$ZBS_ST_TMP_LOGS
dev=$(dev_add --volume-id vol-nospc --size $((256 * M)) --replica-num 3 --stripe-num 1 \
	--io-timeout-ms 20000) || { ktap_fail "attach"; exit 1; }
head -c $((256 * M)) /dev/urandom > "$T/pattern"
before=$(dmesg | wc -l)
t0=$(date +%s)
dd if="$T/pattern" of="$dev" bs=1M oflag=direct 2> "$T/dd.err"
st=$?
t1=$(date +%s)
acked=$(sed -n 's/^\([0-9][0-9]*\) bytes.*copied.*/\1/p' "$T/dd.err")
ktap_info "dd: status $st after $((t1 - t0)) s, ${acked:-?} bytes acknowledged: $(head -n 1 "$T/dd.err")"
ktap_check "the writer gets ENOSPC, not EIO" \
	bash -c "[ $st -ne 0 ] && grep -q 'No space left on device' '$T/dd.err'"
# everything dd was told succeeded reads back (at least 40 MiB per replica
# fit in 160 MiB before the filesystem filled)
dd if="$dev" of="$T/readback" bs=1M iflag=direct status=none
ktap_check "the acknowledged writes read back (${acked:-?} bytes)" \
	bash -c "[ '${acked:-0}' -ge $((40 * M)) ] && cmp -n '$acked' '$T/pattern' '$T/readback'"
ktap_check "the kernel logged the failure as -28, never -5" \
	bash -c "dmesg | tail -n +$((before + 1)) | grep -q 'failed (-28)' &&
		 ! dmesg | tail -n +$((before + 1)) | grep -q 'failed (-5)'"
# space back: the same replicas take writes again (none was put in error)
"$ZBSCTL" device del "$dev" >/dev/null
dev=$(dev_add --volume-id vol-nospc --size $((256 * M)) --replica-num 3 --stripe-num 1 \
	--io-timeout-ms 20000) || { ktap_fail "re-attach"; exit 1; }
ktap_check "the first MiB is overwritten in place after ENOSPC (no replica in error)" \
	bash -c "dd if='$T/pattern' of='$dev' bs=1M count=1 oflag=direct status=none &&
		 dd if='$dev' of='$T/first' bs=1M count=1 iflag=direct status=none &&
		 cmp -n $M '$T/pattern' '$T/first'"
"$ZBSCTL" device del "$dev" >/dev/null
ktap_finish
