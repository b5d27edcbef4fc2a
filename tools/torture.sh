#!/usr/bin/env bash
# make torture: the fault schedules of selftests/faults.sh (all six), long, in one VM
# boot: every schedule with several seeds (TORTURE_SEEDS, default 5) for
# TORTURE_SECONDS each (default 60) under the history checker, then a table:
# schedule, runs, acknowledged writes, reads, violations, longest IO stall
# (no operation completed) and longest write stall (no write completed).
# Exit status 1 when any run had a violation or failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seeds=${TORTURE_SEEDS:-5} secs=${TORTURE_SECONDS:-60}
schedules=${TORTURE_SCHEDULES:-chunk agent metad metad-chunk agent-stop partition}
make -s all >/dev/null || exit 1
n=$(wc -w <<< "$schedules")
budget=$(( n * seeds * (secs + 60) + 120 ))
out=$(mktemp)
tools/vm/vm-run --timeout $((budget + 300)) -- env FAULT_SEEDS="$seeds" FAULT_SECONDS="$secs" \
	FAULT_SCHEDULES="$schedules" ZBS_SELFTEST_TIMEOUT="$budget" \
	make -s -C selftests run_tests T=faults.sh | tee "$out" | grep -E '^(not ok|# table)'
st=${PIPESTATUS[0]}
echo
awk '/^# table/ {
	s = $3; runs[s]++
	for (i = 5; i <= NF; i++) { split($i, kv, "="); v[s, kv[1]] += kv[2]
		if (kv[1] == "max_stall_ms" && kv[2] > stall[s]) stall[s] = kv[2]
		if (kv[1] == "max_write_stall_ms" && kv[2] > wstall[s]) wstall[s] = kv[2] }
	if (!(s in order)) { order[s] = ++k; name[k] = s }
}
END {
	printf "%-12s %5s %12s %12s %11s %13s %19s\n", "schedule", "runs", "ack-writes", "reads", "violations", "max-stall-ms", "max-write-stall-ms"
	for (i = 1; i <= k; i++) { s = name[i]
		printf "%-12s %5d %12d %12d %11d %13d %19d\n", s, runs[s], v[s, "writes"], v[s, "reads"], v[s, "violations"], stall[s], wstall[s] }
}' "$out"
fails=$(grep -c '^not ok' "$out")
rm -f "$out"
[ "$st" -eq 0 ] && [ "$fails" -eq 0 ]
