#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The history checker catches loss (the negative test the fault schedules
# rest on): on a loop device it finds nothing; behind a device-mapper
# "flakey" table that silently drops writes for one second in every two
# (drop_writes: they are acknowledged but never stored) it reports lost
# writes and fails.
. "$(dirname "$0")/lib.sh"
ktap_plan 2
T=$(mktemp -d /tmp/zbs-histcheck.XXXXXX)
LOOP=
cleanup() {
	dmsetup remove zbs-flaky 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
H=$ZBS_TOP/build/zbs-histcheck
modprobe loop 2>/dev/null
modprobe dm-flakey 2>/dev/null
truncate -s 32M "$T/img"
LOOP=$(losetup --find --show "$T/img") || { ktap_fail "losetup"; exit 1; }
out=$("$H" run --dev "$LOOP" --seconds 3 --seed 1 2>&1)
st=$?
ktap_info "$(grep -E '^run:' <<< "$out")"
ktap_check "loop device: no violation" [ $st -eq 0 ]
# a fresh image: what the first run left there is not this run's history
losetup -d "$LOOP"
truncate -s 32M "$T/img2"
LOOP=$(losetup --find --show "$T/img2") || { ktap_fail "losetup"; exit 1; }
sectors=$(blockdev --getsz "$LOOP")
# no udev in the VM: dmsetup makes the node itself
dmsetup create --noudevsync zbs-flaky --table "0 $sectors flakey $LOOP 0 1 1 1 drop_writes" &&
	dmsetup mknodes zbs-flaky || { ktap_fail "dm-flakey table"; exit 1; }
out=$("$H" run --dev /dev/mapper/zbs-flaky --seconds 5 --seed 2 2>&1)
st=$?
ktap_info "$(grep -E '^run:' <<< "$out" || tail -n 3 <<< "$out")"
lost=$(sed -n 's/^run: .* lost \([0-9]*\).*/\1/p' <<< "$out")
ktap_check "writes dropped by dm-flakey: reported lost (${lost:-?}), exit 1" \
	test $st -eq 1 -a "${lost:-0}" -gt 0
ktap_finish
