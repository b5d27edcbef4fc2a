#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Unloading zbs while /dev/zbs-control is open is refused (the file holds a
# module reference); the open file keeps working; after close, unload works.
. "$(dirname "$0")/lib.sh"
ktap_plan 5
zbs_unload 2>/dev/null
zbs_load && wait_path /dev/zbs-control
exec 3<>/dev/zbs-control
refs=$(cat /sys/module/zbs/refcnt)
ktap_check "open file holds a module reference (refcnt $refs)" [ "$refs" -ge 1 ]
if rmmod zbs 2>/tmp/rmmod.err; then
	ktap_fail "rmmod refused while the control device is open"
else
	ktap_info "$(cat /tmp/rmmod.err)"
	ktap_ok "rmmod refused while the control device is open"
fi
ktap_check "module still loaded and device present" bash -c '[ -d /sys/module/zbs ] && [ -c /dev/zbs-control ]'
ktap_check "zbsctl version still works" "$ZBSCTL" version
exec 3<&-
ktap_check "rmmod after close" rmmod zbs
ktap_finish
