#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# zbs.ko loads and unloads cleanly, repeatedly; /dev/zbs-control exists
# only while it is loaded, as a root-only (0600) character device. Module
# parameters out of range are refused, at load and when written later.
. "$(dirname "$0")/lib.sh"
ktap_plan 14
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
ktap_check "insmod conn_timeout_ms=0 is refused (every request would be stuck)" \
	bash -c "! insmod '$ZBS_KO' conn_timeout_ms=0 2>/dev/null && ! grep -q '^zbs ' /proc/modules"
ktap_check "insmod conns_per_chunk=9 is refused (at most 8)" \
	bash -c "! insmod '$ZBS_KO' conns_per_chunk=9 2>/dev/null && ! grep -q '^zbs ' /proc/modules"
insmod "$ZBS_KO" conn_timeout_ms=5000 reconnect_ms=200
P=/sys/module/zbs/parameters
ktap_check "in-range values load and read back" \
	[ "$(cat $P/conn_timeout_ms 2>/dev/null)/$(cat $P/reconnect_ms 2>/dev/null)" = 5000/200 ]
ktap_check "writing 0 to conn_timeout_ms or map_retry_ms is refused, the value kept" \
	bash -c "! echo 0 > $P/conn_timeout_ms && ! echo 0 > $P/map_retry_ms && [ \$(cat $P/conn_timeout_ms) = 5000 ]" 2>/dev/null
ktap_check "an in-range write is taken" bash -c "echo 20000 > $P/conn_timeout_ms && [ \$(cat $P/conn_timeout_ms) = 20000 ]"
rmmod zbs
ktap_finish
