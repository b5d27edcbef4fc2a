# SPDX-License-Identifier: GPL-2.0
# Shared helpers for ZBS selftest scripts: KTAP output and module handling.
# Source it: . "$(dirname "$0")/lib.sh"
ZBS_TOP=${ZBS_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ZBS_KO=${ZBS_KO:-$ZBS_TOP/zbs.ko}	# make check-debug: one built for its kernel
ZBSCTL=$ZBS_TOP/build/zbsctl
ZBS_SELFTEST_BIN=${ZBS_SELFTEST_BIN:-$ZBS_TOP/build/selftests}
_ktap_n=0 _ktap_fail=0
. "$ZBS_TOP/tools/sh-util.sh"	# wait_for, jq_

ktap_plan() { echo "KTAP version 1"; echo "1..$1"; }
ktap_ok()   { _ktap_n=$((_ktap_n + 1)); echo "ok $_ktap_n $*"; }
ktap_fail() { _ktap_n=$((_ktap_n + 1)); _ktap_fail=$((_ktap_fail + 1)); echo "not ok $_ktap_n $*"; }
ktap_skip() { _ktap_n=$((_ktap_n + 1)); echo "ok $_ktap_n $* # SKIP"; }
ktap_info() { echo "# $*"; }
# ktap_check DESC CMD...: one result from a command's exit status.
ktap_check() {
	local desc=$1; shift
	if "$@"; then ktap_ok "$desc"; else ktap_fail "$desc"; fi
}
ktap_finish() {
	echo "# totals: pass:$((_ktap_n - _ktap_fail)) fail:$_ktap_fail"
	[ $_ktap_fail -eq 0 ]
}

zbs_loaded() { [ -d /sys/module/zbs ]; }
zbs_load() { zbs_loaded || insmod "$ZBS_KO" "$@"; }
zbs_unload() { ! zbs_loaded || rmmod zbs; }
# Wait (bounded) for a path to appear or vanish: udev is not running, the
# kernel's devtmpfs creates /dev nodes itself.
wait_path() { local i; for i in $(seq 50); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }
wait_no_path() { local i; for i in $(seq 50); do [ -e "$1" ] || return 0; sleep 0.1; done; return 1; }
