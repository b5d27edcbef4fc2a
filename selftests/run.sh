#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run ZBS selftests inside the VM, kselftest style: each test prints its own
# KTAP; this runner adds a header per test, reports tests that exit non-zero
# without a failing case, and ends with a check of the kernel log. After each
# test it shows what that test made the kernel log as a problem (a WARNING,
# KASAN, lockdep, ... report: tools/vm/kernel-problems) and, on a kernel with
# kmemleak, the leaks a scan finds; either fails the test. Leaks go to the
# kernel log too, so the final check and vm-run see them. kmemleak reports an
# object once two scans saw it unreferenced and unchanged, and a scan takes
# 15-20 s under TCG: one scan per test, so a leak shows after the test that
# made it or after the next one (its allocation stack says where).
cd "$(dirname "$0")" || exit 1
[ "$(id -u)" -eq 0 ] || { echo "selftests need root (run them in the VM: tools/vm/vm-run)"; exit 1; }
bad=$(cat ../tools/vm/kernel-problems)	# the list tools/vm/vm-run checks too
kml=/sys/kernel/debug/kmemleak
[ -w $kml ] || kml=""
# what is already unreferenced at the start is not the tests'
[ -n "$kml" ] && { echo scan > $kml; echo scan > $kml; echo clear > $kml; }
st=0
dmesg -C
for t in "$@"; do
	echo "# selftests: zbs: $t"
	klines=$(dmesg | wc -l)
	out=$(mktemp)
	# a test may need more than the default: a line "# selftest-timeout: N"
	to=$(sed -n 's/^# selftest-timeout: \([0-9]*\)$/\1/p' "./$t" | head -1)
	[ -n "$to" ] && [ "$to" -gt "${ZBS_SELFTEST_TIMEOUT:-300}" ] || to=${ZBS_SELFTEST_TIMEOUT:-300}
	timeout -k 5 "$to" bash "./$t" > "$out" 2>&1
	rc=$?
	cat "$out"
	# leave a clean slate for the next test
	[ -d /sys/module/zbs ] && rmmod zbs 2>/dev/null
	if [ -n "$kml" ]; then
		echo scan > $kml
		leaks=$(cat $kml)
		echo clear > $kml
		if [ -n "$leaks" ]; then
			while IFS= read -r l; do echo "zbs-selftests: $t: kmemleak: $l"; done <<<"$leaks" > /dev/kmsg
		fi
	fi
	problems=$(dmesg | tail -n +$((klines + 1)) | grep -E "$bad")
	if [ -n "$problems" ]; then
		echo "# kernel log during $t:"
		dmesg | tail -n +$((klines + 1)) | head -n 400 | sed 's/^/# /'
		echo "KTAP version 1"; echo "1..1"
		echo "not ok 1 $t: the kernel logged: $(head -n 1 <<<"$problems")"
		st=1
	fi
	if [ $rc -ne 0 ]; then
		st=1
		grep -q '^not ok' "$out" || { echo "KTAP version 1"; echo "1..1"; echo "not ok 1 $t exited with status $rc"; }
	fi
	rm -f "$out"
done
echo "# selftests: zbs: kernel log"
echo "KTAP version 1"
echo "1..1"
if dmesg | grep -E "$bad"; then
	echo "not ok 1 kernel log has no warnings, bugs or traces"
	st=1
else
	echo "ok 1 kernel log has no warnings, bugs or traces"
fi
exit $st
