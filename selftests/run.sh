#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run ZBS selftests inside the VM, kselftest style: each test prints its own
# KTAP; this runner adds a header per test, reports tests that exit non-zero
# without a failing case, and ends with a check of the kernel log.
cd "$(dirname "$0")" || exit 1
[ "$(id -u)" -eq 0 ] || { echo "selftests need root (run them in the VM: tools/vm/vm-run)"; exit 1; }
st=0
dmesg -C
for t in "$@"; do
	echo "# selftests: zbs: $t"
	out=$(mktemp)
	timeout -k 5 "${ZBS_SELFTEST_TIMEOUT:-300}" bash "./$t" > "$out" 2>&1
	rc=$?
	cat "$out"
	if [ $rc -ne 0 ]; then
		st=1
		grep -q '^not ok' "$out" || { echo "KTAP version 1"; echo "1..1"; echo "not ok 1 $t exited with status $rc"; }
	fi
	rm -f "$out"
	# leave a clean slate for the next test
	[ -d /sys/module/zbs ] && rmmod zbs 2>/dev/null
done
echo "# selftests: zbs: kernel log"
echo "KTAP version 1"
echo "1..1"
bad=$(cat ../tools/vm/kernel-problems)	# the list tools/vm/vm-run checks too
if dmesg | grep -E "$bad"; then
	echo "not ok 1 kernel log has no warnings, bugs or traces"
	st=1
else
	echo "ok 1 kernel log has no warnings, bugs or traces"
fi
exit $st
