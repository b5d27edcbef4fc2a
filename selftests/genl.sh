#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The netlink family under malformed input (zbs_genl_test), with a device
# attached so answers reach real lookups.
. "$(dirname "$0")/lib.sh"
zbs_unload 2>/dev/null
zbs_load && wait_path /dev/zbs-control
ktap_plan 2
"$ZBS_SELFTEST_BIN/zbs_genl_test" > /tmp/genl.out 2>&1; rc=$?
sed 's/^/#   /' /tmp/genl.out
ktap_check "zbs_genl_test: every malformed message rejected" [ $rc -eq 0 ]
ktap_check "zbs_genl_test ran all its cases" grep -q '^# totals: pass:12 fail:0' /tmp/genl.out
zbs_unload
ktap_finish
