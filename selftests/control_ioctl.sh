#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The version ioctl round trip through zbsctl, and the ABI checks of the
# control device (zbs_ioctl_test: bad sizes, flags, reserved fields, unknown
# commands, permissions).
. "$(dirname "$0")/lib.sh"
zbs_unload 2>/dev/null
# zbsctl without the module: clear message, exit status 4
out=$("$ZBSCTL" version 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
ktap_plan 6
ktap_check "zbsctl version without module: exit 4 and a clear message" \
	bash -c '[ '$rc' -eq 4 ] && grep -q "module is not loaded" <<<"$0"' "$out"
zbs_load && wait_path /dev/zbs-control
out=$("$ZBSCTL" version 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
want="module: $(cat "$ZBS_TOP/VERSION") (abi 1.0, features control,devices,genl,report-ack)"
ktap_check "zbsctl version shows the module's version and features" \
	bash -c '[ '$rc' -eq 0 ] && grep -qxF "$1" <<<"$0"' "$out" "$want"
json=$("$ZBSCTL" --json version 2>&1)
ktap_check "zbsctl --json version reports the module" \
	bash -c 'grep -q "\"version\":\"$1\"" <<<"$0" && grep -q "\"features\":15" <<<"$0"' \
	"$(tr -d ' \n' <<<"$json")" "$(cat "$ZBS_TOP/VERSION")"
rmmod zbs
zbs_load test_hooks=1 && wait_path /dev/zbs-control
ktap_check "test-hooks feature shown when loaded with test_hooks=1" \
	bash -c '"$0" version | grep -q "features control,devices,genl,report-ack,test-hooks"' "$ZBSCTL"
rmmod zbs
zbs_load && wait_path /dev/zbs-control
echo "# zbs_ioctl_test:"
"$ZBS_SELFTEST_BIN/zbs_ioctl_test" > /tmp/ioctl.out 2>&1; rc=$?
sed 's/^/#   /' /tmp/ioctl.out
ktap_check "zbs_ioctl_test: every ABI check passes" [ $rc -eq 0 ]
ktap_check "zbs_ioctl_test ran all its cases" grep -q '^# totals: pass:1[0-9] fail:0' /tmp/ioctl.out
zbs_unload
ktap_finish
