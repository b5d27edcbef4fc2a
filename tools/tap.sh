# SPDX-License-Identifier: GPL-2.0
# TAP helpers for the native test scripts (source it from bash after setting
# T, the test's temporary directory). The script prints its own plan
# ("1..N") and ends with tap_exit.
#   ok NAME / not_ok NAME [DIAG...]   one result; each DIAG line printed as "#   ..."
#   check NAME CMD...                 ok when CMD succeeds; on failure the
#                                     diagnostic is $DIAG when set, else the
#                                     last lines CMD printed (DIAG is reset)
#   and wait_for, jq_ from tools/sh-util.sh
. "$(dirname "${BASH_SOURCE[0]}")/sh-util.sh"
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
tap_exit() { exit $((failed > 0)); }
