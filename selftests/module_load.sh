#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# zbs.ko loads and unloads cleanly, repeatedly; /dev/zbs-control exists
# only while it is loaded, as a root-only (0600) character device.
. "$(dirname "$0")/lib.sh"
ktap_plan 9
zbs_unload 2>/dev/null
ktap_check "insmod zbs.ko" insmod "$ZBS_KO"
ktap_check "module listed in /proc/modules" grep -q '^zbs ' /proc/modules
if wait_path /dev/zbs-control && [ -c /dev/zbs-control ]; then
	ktap_ok "/dev/zbs-control is a character device"
else
	ktap_fail "/dev/zbs-control is a character device"
fi
mode=$(stat -c '%a %U %G' /dev/zbs-control 2>/dev/null)
ktap_info "mode: $mode"
ktap_check "/dev/zbs-control mode 0600 root:root" [ "$mode" = "600 root root" ]
ver=$(cat /sys/module/zbs/version 2>/dev/null)
ktap_check "module version $ver matches VERSION" [ "$ver" = "$(cat "$ZBS_TOP/VERSION")" ]
ktap_check "rmmod zbs" rmmod zbs
ktap_check "/dev/zbs-control removed on unload" wait_no_path /dev/zbs-control
ok=1
for i in 1 2 3 4 5; do
	insmod "$ZBS_KO" && wait_path /dev/zbs-control && rmmod zbs || { ok=0; break; }
done
ktap_check "5 load/unload cycles" [ $ok -eq 1 ]
ktap_check "module gone after cycles" bash -c '! grep -q "^zbs " /proc/modules'
ktap_finish
