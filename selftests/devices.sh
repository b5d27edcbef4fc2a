#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Device lifecycle through the ioctls, IO with no agent (fails only after
# the device's IO timeout), and module unload with devices present.
. "$(dirname "$0")/lib.sh"
zbs_unload 2>/dev/null
zbs_load && wait_path /dev/zbs-control
echo "# zbs_dev_test:"
"$ZBS_SELFTEST_BIN/zbs_dev_test" > /tmp/dev.out 2>&1; rc=$?
sed 's/^/#   /' /tmp/dev.out
ktap_plan 12
ktap_check "zbs_dev_test: every device ioctl check passes" [ $rc -eq 0 ]
dev=/dev/$(sed -n 's/^# left \(zbs[0-9]*\) attached$/\1/p' /tmp/dev.out)
ktap_check "a device is left for IO ($dev)" test -b "$dev"

# no agent: a read parks, then fails after io_timeout_ms (2 s)
start=$(date +%s%N)
dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2>/tmp/dd.err; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
ktap_info "dd: rc $rc after ${ms} ms: $(tail -n 1 /tmp/dd.err)"
ktap_check "read without an agent fails with ETIMEDOUT (BLK_STS_TIMEOUT)" \
	bash -c "[ $rc -ne 0 ] && grep -q 'Connection timed out' /tmp/dd.err"
ktap_check "... only after the IO timeout (${ms} ms >= 2000)" [ $ms -ge 2000 ]

exec 3<"$dev"
if rmmod zbs 2>/dev/null; then ktap_fail "rmmod refused while $dev is open"; else ktap_ok "rmmod refused while $dev is open"; fi
exec 3<&-
ktap_check "rmmod with an attached (closed) device removes it" \
	bash -c "rmmod zbs && [ ! -e $dev ]"

# the same through zbsctl device
zbs_load && wait_path /dev/zbs-control
out=$("$ZBSCTL" device add --volume-id vol-c --name cee --size 1G --stripe-num 4 --replica-num 3 2>&1)
ktap_info "device add: $out"
if [[ "$out" =~ ^/dev/zbs[0-9]+$ ]] && wait_path "$out" && [ -b "$out" ]; then
	ktap_ok "zbsctl device add prints the new device"
else
	ktap_fail "zbsctl device add prints the new device"
fi
cdev=$out
list=$("$ZBSCTL" device list 2>&1)
echo "$list" | sed 's/^/# /'
ktap_check "zbsctl device list shows device, volume, name, size, state" \
	grep -qE "^$cdev +vol-c +cee +1 GiB +live" <<<"$list"
json=$("$ZBSCTL" --json device show vol-c 2>&1)
ktap_check "zbsctl device show by volume id (--json)" \
	bash -c 'grep -q "\"stripe_num\":4" <<<"$0" && grep -q "\"replica_num\":3" <<<"$0"' "$(tr -d ' \n' <<<"$json")"
out=$("$ZBSCTL" device add --volume-id vol-c --size 1G 2>&1); rc=$?
ktap_check "attaching it again: exit 1, 'already attached' ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'already attached' <<<'$out'"
"$ZBSCTL" device del "$cdev"; rc1=$?
out=$("$ZBSCTL" device del "$cdev" 2>&1); rc2=$?
ktap_check "zbsctl device del removes it; again: exit 3 ($out)" \
	bash -c "[ $rc1 -eq 0 ] && [ $rc2 -eq 3 ] && [ ! -e $cdev ]"
out=$("$ZBSCTL" device add --volume-id x --size 1G --stripe-size 1M --stripe-num 300 2>&1); rc=$?
ktap_check "bad geometry rejected before the kernel: exit 2 ($out)" [ $rc -eq 2 ]
zbs_unload
ktap_finish
