# SPDX-License-Identifier: GPL-2.0
# Small shell helpers shared by the native test scripts (through tools/tap.sh)
# and the VM selftests (through selftests/lib.sh). Source it from bash.
#   wait_for SECONDS CMD...   poll CMD every 0.1 s until it succeeds (bounded)
#   jq_ EXPR                  python expression over JSON on stdin as d
wait_for() {
	local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
	while ! "$@" > /dev/null 2>&1; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.1
	done
}
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
