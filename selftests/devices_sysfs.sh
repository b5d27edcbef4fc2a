#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# /sys/block/zbsN/zbs/ names what a device maps (volume id and name,
# replicas, stripe, IO timeout, read-only), and the shipped udev rule
# (tools/udev/60-zbs.rules) turns it into /dev/disk/by-id/zbs-<volume id>
# (checked with udevadm test: the VM runs no udevd).
. "$(dirname "$0")/lib.sh"
RULE=$ZBS_TOP/tools/udev/60-zbs.rules
ktap_plan 4
trap 'rm -f /run/udev/rules.d/60-zbs.rules; zbs_unload 2>/dev/null' EXIT
zbs_unload 2>/dev/null
zbs_load && wait_path /dev/zbs-control
dev=$("$ZBSCTL" device add --volume-id 6f1c2a4e-vol --name data-7 --size 1G --stripe-num 4 \
	--replica-num 2 --io-timeout-ms 7000 --read-only) && wait_path "$dev" ||
	{ ktap_fail "device add"; exit 1; }
S=/sys/block/$(basename "$dev")/zbs
got=$(for a in volume_id volume_name replicas stripe_num stripe_size io_timeout_ms read_only; do
	printf '%s=%s ' $a "$(cat $S/$a 2>/dev/null)"; done)
ktap_info "$got"
ktap_check "sysfs names the mapping" [ "$got" = "volume_id=6f1c2a4e-vol volume_name=data-7 replicas=2 stripe_num=4 stripe_size=262144 io_timeout_ms=7000 read_only=1 " ]
ktap_check "the attributes are read-only" bash -c "! echo x > $S/volume_id 2>/dev/null"
mkdir -p /run/udev/rules.d && cp "$RULE" /run/udev/rules.d/
out=$(udevadm test --action=add "/sys/block/$(basename "$dev")" 2>&1)
links=$(grep '^DEVLINKS=' <<< "$out")
ktap_info "$links"
ktap_check "the udev rule links /dev/disk/by-id/zbs-6f1c2a4e-vol" \
	grep -q '/dev/disk/by-id/zbs-6f1c2a4e-vol\b' <<< "$links"
"$ZBSCTL" device del "$dev" >/dev/null
ktap_check "the device and its attributes are gone" bash -c "[ ! -e $dev ] && [ ! -e $S ]"
ktap_finish
