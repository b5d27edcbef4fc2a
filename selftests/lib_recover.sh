# SPDX-License-Identifier: GPL-2.0
# Helpers for the recovery selftests (recover_kill.sh, recover_agile.sh):
# zbs-metad and zbs-chunkd I (the first the kernel's agent, the others
# --no-kernel-agent) on fixed loopback ports, the live locations of volume
# v's pextents, and the comparison of the replicas' files. Source after
# lib.sh; everything lives in $T and is stopped at exit (logs copied to
# $ZBS_VM_OUT/NAME first, NAME the test's).
B=$ZBS_TOP/build
T=$(mktemp -d /tmp/zbs-recover.XXXXXX)
M=127.0.0.1:10160
CPORT0=10260		# chunk I listens on CPORT0 + I
declare -A CPID
META_PID= DEV= HC=
rc_cleanup() {
	[ -n "$HC" ] && kill -9 "$HC" 2>/dev/null
	if [ -n "${ZBS_VM_OUT:-}" ]; then	# the logs, for a failure
		local name
		name=$(basename "$0" .sh)
		mkdir -p "$ZBS_VM_OUT/$name"
		cp "$T"/*.log "$T"/hc.out "$ZBS_VM_OUT/$name/" 2>/dev/null
	fi
	[ -n "$DEV" ] && "$ZBSCTL" --meta $M detach "$DEV" >/dev/null 2>&1
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap rc_cleanup EXIT
zc() { "$ZBSCTL" --meta $M "$@"; }

# rc_metad ARGS...: zbs-metad on $M, log in $T/metad.log
rc_metad() {
	"$B/zbs-metad" -d "$T/meta" -l $M "$@" 2>>"$T/metad.log" &
	META_PID=$!
}
# rc_chunk I: chunk I (again, on the same data dir and port after a kill)
rc_chunk() {
	local extra=
	[ "$1" -gt 1 ] && extra=--no-kernel-agent
	"$B/zbs-chunkd" -d "$T/c$1" -l 127.0.0.1:$((CPORT0 + $1)) --meta $M $extra \
		2>>"$T/c$1.log" &
	CPID[$1]=$!
}
rc_chunk_kill() {
	kill -9 "${CPID[$1]}"
	wait "${CPID[$1]}" 2>/dev/null
	unset "CPID[$1]"
}
# rc_up N: N chunks healthy, the first registered as the kernel's agent
rc_up() {
	[ "$(zc chunk list 2>/dev/null | grep -c CONNECTED_HEALTHY)" = "$1" ] &&
		grep -q "registered as the kernel's agent" "$T/c1.log"
}
# rc_index CID: the I of chunk cid CID (by its port)
rc_index() {
	echo $(( $(zc --json chunk list | jq_ "[c['data_port'] for c in d if c['cid']==$1][0]") - CPORT0 ))
}
# pid:cid,cid,... per line: the alive locations of volume v's pextents
locs() {
	zc --json volume show v --pextents | jq_ '"\n".join("%d:%s" % (p["pid"], ",".join(str(b) for b in p["alive_location"].to_bytes(4,"little") if b)) for p in d["pextents"])'
}
# rc_whole N CID: every one of the N pextents on 3 live replicas, none on CID
rc_whole() {
	local l
	l=$(locs) || return 1
	[ "$(grep -c . <<< "$l")" = "$1" ] || return 1
	! grep -qE "[:,]$2(,|$)" <<< "$l" && ! grep -qvE ':[0-9]+,[0-9]+,[0-9]+$' <<< "$l"
}
# rc_same_bytes MIB: the replicas of every pextent hold the same first MIB
# MiB (a chunk's files are named by pid; a file shorter than another reads
# as zeros past its end)
rc_same_bytes() {
	local line pid c dirs
	while IFS= read -r line; do
		pid=${line%%:*} dirs=
		for c in $(tr ',' ' ' <<< "${line#*:}"); do
			dirs="$dirs $T/c$(rc_index "$c")/replicas/$pid"
		done
		python3 -c '
import sys
fs = [open(f, "rb") for f in sys.argv[2:]]
for _ in range(int(sys.argv[1])):
    b = [f.read(1 << 20) for f in fs]
    if not any(b):
        break
    n = max(len(x) for x in b)
    if len({x.ljust(n, b"\0") for x in b}) != 1:
        print("differ:", *sys.argv[2:])
        sys.exit(1)
' "$1" $dirs || return 1
	done <<< "$(locs)"
}
# rc_timeline: what happened, for a failure
rc_timeline() {
	{
		echo "== hc.out"; grep -v "^run:" "$T/hc.out" | head -12
		echo "== metad"; grep -E "RECOVER|REPLACE|Release owner|MARK GC|REMOVE|add .*recover|agile" "$T/metad.log" | head -40
		echo "== chunk 1 (agent, executor)"; grep -iE "recover|target|revoke|failed|remove" "$T/c1.log" | head -60
		echo "== dmesg"; dmesg | grep zbs | tail -30
	} | sed 's/^/# /'
}
