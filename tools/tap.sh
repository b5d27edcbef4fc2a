# SPDX-License-Identifier: GPL-2.0
# TAP helpers for the native test scripts (source it from bash after setting
# T, the test's temporary directory). The script prints its own plan
# ("1..N") and ends with tap_exit.
#   ok NAME / not_ok NAME [DIAG...]   one result; each DIAG line printed as "#   ..."
#   check NAME CMD...                 ok when CMD succeeds; on failure the
#                                     diagnostic is $DIAG when set, else the
#                                     last lines CMD printed (DIAG is reset)
#   wait_for SECONDS CMD...           poll CMD every 0.1 s until it succeeds
#   jq_ EXPR                          python expression over JSON stdin as d
n=0 failed=0 DIAG=
_tap_out=${T:?tap.sh: set T to the test directory first}/tap.out

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
	shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/#   /'
	return 0
}
check() {
	local name=$1; shift
	if "$@" > "$_tap_out" 2>&1; then
		ok "$name"
	elif [ -n "${DIAG:-}" ]; then
		not_ok "$name" "$DIAG"
	else
		not_ok "$name" "$(tail -n 5 "$_tap_out")"
	fi
	DIAG=
}
wait_for() {
	local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
	while ! "$@" > /dev/null 2>&1; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.1
	done
}
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
tap_exit() { exit $((failed > 0)); }
