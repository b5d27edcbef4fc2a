#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A read-only mapping never writes. The block layer refuses writes through
# the read-only /dev/zbsN, but a write bio that does not come through its
# open (here a device-mapper table stacked on it) reaches the driver: on
# this kernel it is only warned about. The driver refuses it, asks no
# write lease (a write map request would fence the volume's real owner)
# and the replicas keep their data; reads work.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
DM=zbs-ro-test
ktap_plan 8
cluster_init
trap 'dmsetup remove $DM 2>/dev/null; cluster_stop' EXIT
zbs_load && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
# the volume's data, written through a read-write mapping first
rw=$(dev_add --volume-id vol-ro --size 1G --replica-num 3 --stripe-num 4) || { ktap_fail "attach rw"; exit 1; }
head -c 65536 /dev/urandom > "$ZBS_ST_TMP/a"
dd if="$ZBS_ST_TMP/a" of="$rw" bs=64k count=1 oflag=direct status=none
"$ZBSCTL" device del "$rw" >/dev/null
ro=$(dev_add --volume-id vol-ro --size 1G --replica-num 3 --stripe-num 4 --read-only) ||
	{ ktap_fail "attach read-only"; exit 1; }
ktap_check "read-only mapping $ro reads the volume's data" \
	bash -c "dd if=$ro bs=64k count=1 iflag=direct status=none | cmp -s - $ZBS_ST_TMP/a"
ktap_check "a write through $ro is refused by the block layer" \
	bash -c "! dd if=/dev/zero of=$ro bs=4k count=1 oflag=direct status=none 2>/dev/null"

maps_w0=$(grep -c '^map .* write$' "$ZBS_ST_TMP/events")
before=$(dmesg | wc -l)
sectors=$(blockdev --getsz "$ro")
dmsetup create --noudevsync $DM --table "0 $sectors linear $ro 0" && dmsetup mknodes $DM ||
	{ ktap_fail "dm-linear table on $ro"; exit 1; }
# at 256 KiB: vextent 1, which nothing mapped yet (a write would ask for its lease)
dd if="$ZBS_ST_TMP/a" of=/dev/mapper/$DM bs=4k seek=64 count=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd.err"
rc=$?
ktap_info "write through dm: rc $rc $(cat "$ZBS_ST_TMP/dd.err")"
ktap_check "a write bio past the open check fails" [ $rc -ne 0 ]
ktap_check "the driver refused it (read-only mapping)" \
	bash -c "dmesg | tail -n +$((before + 1)) | grep -q 'write to a read-only mapping refused'"
ktap_check "no write lease was asked for" [ "$(grep -c '^map .* write$' "$ZBS_ST_TMP/events")" = "$maps_w0" ]
head -c 4096 /dev/zero > "$ZBS_ST_TMP/z"
ktap_check "vextent 1 still reads zeros" \
	bash -c "dd if=$ro bs=4k skip=64 count=1 iflag=direct status=none | cmp -s - $ZBS_ST_TMP/z"
dmsetup remove $DM
ktap_check "the replicas still hold the data" \
	bash -c "dd if=$ro bs=64k count=1 iflag=direct status=none | cmp -s - $ZBS_ST_TMP/a"
ktap_check "a flush on the read-only mapping succeeds" \
	python3 -c "import os; fd = os.open('$ro', os.O_RDONLY); os.fsync(fd)"
ktap_finish
