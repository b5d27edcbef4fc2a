#!/usr/bin/env bash
# The native half of make bench-recovery (see bench-recovery.sh): zbs-metad
# and 4 zbs-chunkd on loopback, their data dirs in $ZBS_BENCH_DIR (default
# build/bench-recovery, the disk's filesystem; never tmpfs unless asked).
# Prints "RESULT key value" lines (and "# " notes):
#   copy rate: one extent filled (256 x 1 MiB writes of random bytes through
#   zbs-probe on its one replica, chunk A), then a raw copy of its replica
#   file from A's data dir into B's (dd, 256 KiB requests, O_DIRECT like the
#   chunk when the filesystem takes it, caches dropped when allowed), then
#   `zbsctl migrate create PID --src A --dst B --replace A`: the owner
#   chunk's log times the cmd from [RECOVER] to [RECOVER END] (ReplaceReplica
#   is sent right after).
#   time to full redundancy: N extents (ZBS_BENCH_EXTENTS, default 8) of a
#   3-replica volume, each with ZBS_BENCH_EXTENT_MIB (default 64) written;
#   a chunk holding replicas is killed -9; the time until `zbsctl recover
#   status` shows nothing to recover and no cmd running or waiting, and
#   every pid has 3 live replicas, none on the dead chunk. The session lease
#   (ZBS_BENCH_LEASE_MS, default 3000) is part of it: meta notices the death
#   when the lease runs out.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ZBS_BIN_PLAIN:-$top/build}
D=${ZBS_BENCH_DIR:-$top/build/bench-recovery}
N=${ZBS_BENCH_EXTENTS:-8}
EMIB=${ZBS_BENCH_EXTENT_MIB:-64}
LEASE_MS=${ZBS_BENCH_LEASE_MS:-3000}
META_PID= PORT=
declare -A CPID
cleanup() {
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	[ -n "${ZBS_BENCH_KEEP:-}" ] || rm -rf "$D"
}
trap cleanup EXIT
. "$top/tools/sh-util.sh"
die() { echo "# bench-recovery (native): $*"; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
zc() { "$BIN/zbsctl" --meta "127.0.0.1:$PORT" "$@"; }
UA=11111111-1111-4111-8111-111111111111
agent() { "$BIN/zbs-agent-cli" --meta "127.0.0.1:$PORT" --uuid $UA wait "$@" 2>>"$D/agent.log"; }
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<< " $2" | head -1; }
loc() { zc --json lease show "$1" | jq_ '",".join(str(b) for b in d["location"].to_bytes(4,"little") if b)'; }
chunk_of_cid() {	# the index i of chunk cid (its data dir $D/c$i)
	local u i
	u=$(zc --json chunk list | jq_ "[c['uuid'] for c in d if c['cid']==$1][0]")
	for i in 1 2 3 4; do [ "$(cat "$D/c$i/chunk-id" 2>/dev/null)" = "$u" ] && echo $i; done
}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null && echo 1 || echo 0; }
# log time (ms since the epoch) of a chunk log line: 2026-12-01T00:38:42.123Z ...
log_ms() { local t=${1%% *}; echo $(( $(date -d "${t%Z}Z" +%s) * 1000 + 10#$(sed 's/.*\.\([0-9]*\)Z$/\1/' <<< "$t") )); }

rm -rf "$D"; mkdir -p "$D" || die "cannot create $D"
"$BIN/zbs-metad" -d "$D/meta" -l 127.0.0.1:0 --port-file "$D/port" \
	--session-lease-ms "$LEASE_MS" --recover-scan-interval-ms 1000 2>>"$D/metad.log" &
META_PID=$!
wait_for 10 test -s "$D/port" || die "metad did not start"
PORT=$(cat "$D/port")
for i in 1 2 3 4; do
	"$BIN/zbs-chunkd" -d "$D/c$i" -l 127.0.0.1:0 --meta "127.0.0.1:$PORT" --no-kernel-agent \
		--capacity 8G 2>>"$D/chunk$i.log" &
	CPID[$i]=$!
done
healthy() { [ "$(zc chunk list | grep -c CONNECTED_HEALTHY)" = 4 ]; }
wait_for 20 healthy || die "4 chunks not healthy: $(zc chunk list 2>&1)"
echo "# data dirs in $D ($(df -T "$D" | awk 'NR == 2 { print $2 }')), lease ${LEASE_MS} ms"
head -c $((256 << 20)) /dev/urandom > "$D/rand"

# write MIB MiB of random bytes at the start of vextent VE of volume VOL on
# each of its replicas; prints the pid and its replicas' cids
fill_extent() {
	local vol=$1 ve=$2 mib=$3 out m pid ep le reps k r
	out=$(agent map "$vol" "$ve" w)
	m=$(grep '^map' <<< "$out")
	pid=$(field pid "$m") ep=$(field epoch "$m") le=$(field lease_epoch "$m")
	reps=$(field replicas "$m")
	[ -n "$pid" ] || { echo "# map $vol $ve: $out" >&2; return 1; }
	for ((k = 0; k < mib; k++)); do
		for r in ${reps//,/ }; do
			dd if="$D/rand" bs=1M skip=$k count=1 status=none |
				"$BIN/zbs-probe" -c "${r#*@}" -p "$pid" -e "$ep" -L "$le" -g $k \
					-o $((k << 20)) write >/dev/null || return 1
		done
	done
	agent map "$vol" "$ve" w exist "$pid" "$ep" >/dev/null
	echo "$pid $(sed 's/@[^,]*//g' <<< "$reps")"
}

# ---- copy rate --------------------------------------------------------------
zc volume create copy 1G --replica 1 >/dev/null || die "volume create"
read -r PID_C REPS_C <<< "$(fill_extent copy 0 256)" || die "fill"
[ -n "${PID_C:-}" ] || die "fill: no pid"
A=$REPS_C; ai=$(chunk_of_cid "$A")
B=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['cid']!=$A][0]"); bi=$(chunk_of_cid "$B")
f="$D/c$ai/replicas/$PID_C"
[ -f "$f" ] || die "no replica file $f"
direct=(iflag=direct oflag=direct)
dd if="$f" of="$D/c$bi/raw.probe" bs=256K count=1 "${direct[@]}" status=none 2>/dev/null ||
	direct=()
rm -f "$D/c$bi/raw.probe"
dropped=$(drop_caches)
t0=$(date +%s%N)
dd if="$f" of="$D/c$bi/raw.copy" bs=256K "${direct[@]}" conv=fsync status=none
t1=$(date +%s%N)
raw_bytes=$(stat -c %s "$D/c$bi/raw.copy")
rm -f "$D/c$bi/raw.copy"
echo "# raw copy: dd ${direct[*]:-buffered} bs=256K conv=fsync, caches dropped: $dropped"
echo "RESULT raw_bytes $raw_bytes"
echo "RESULT raw_ms $(( (t1 - t0) / 1000000 ))"

drop_caches >/dev/null
zc migrate create "$PID_C" --src "$A" --dst "$B" --replace "$A" >/dev/null ||
	die "migrate create $PID_C --src $A --dst $B --replace $A"
moved() { [ "$(loc "$PID_C")" = "$B" ]; }
wait_for 300 moved || die "pid $PID_C not moved to $B: $(loc "$PID_C"); $(zc recover list 2>&1)"
sl=$(grep -h "\[RECOVER\] .* pid $PID_C " "$D"/chunk*.log | tail -1)
el=$(grep -hE "\[(NORMAL|AGILE) RECOVER END\] .* pid $PID_C " "$D"/chunk*.log | tail -1)
[ -n "$sl" ] && [ -n "$el" ] || die "no [RECOVER]/[RECOVER END] lines for pid $PID_C"
echo "RESULT recover_bytes $(sed 's/.* copied \([0-9]*\).*/\1/' <<< "$el")"
echo "RESULT recover_ms $(( $(log_ms "$el") - $(log_ms "$sl") ))"

# ---- time to full redundancy ------------------------------------------------
zc volume create red $((N * 256))M --replica 3 >/dev/null || die "volume create red"
PIDS=()
for ((v = 0; v < N; v++)); do
	read -r p reps <<< "$(fill_extent red "$v" "$EMIB")" || die "fill red $v"
	PIDS+=("$p")
done
# the victim: a chunk holding the first pid's replica other than B (so it
# is not the copy's chunk), killed -9
read -r _ reps <<< "$(zc --json lease show "${PIDS[0]}" |
	jq_ '"x " + ",".join(str(b) for b in d["location"].to_bytes(4,"little") if b)')"
for c in ${reps//,/ }; do [ "$c" != "$B" ] && victim=$c; done
vi=$(chunk_of_cid "$victim")
echo "# $N extents x $EMIB MiB written on 3 replicas; killing chunk cid $victim"
t0=$(now_ms)
kill -9 "${CPID[$vi]}"; wait "${CPID[$vi]}" 2>/dev/null; unset "CPID[$vi]"
whole() {
	local s p l
	s=$(zc --json recover status) || return 1
	[ "$(jq_ 'd["need_recover"] + d["cmds_running"] + d["cmds_waiting"]' <<< "$s")" = 0 ] ||
		return 1
	for p in "${PIDS[@]}"; do
		l=$(loc "$p") || return 1
		[ "$(tr ',' '\n' <<< "$l" | grep -c .)" = 3 ] || return 1
		grep -qE "(^|,)$victim(,|$)" <<< "$l" && return 1
	done
	return 0
}
# meta first has to notice: wait for something to need recovery (or be done)
noticed() { [ "$(zc --json recover status |
	jq_ 'd["need_recover"] + d["cmds_running"] + d["cmds_waiting"]')" -gt 0 ]; }
wait_for 60 noticed
t_notice=$(now_ms)
wait_for 600 whole || die "not whole after 600 s: $(zc recover status 2>&1 | tr '\n' ';')"
t1=$(now_ms)
echo "RESULT redundancy_extents $N"
echo "RESULT redundancy_bytes $((N * EMIB << 20))"
echo "RESULT redundancy_ms $((t1 - t0))"
echo "RESULT redundancy_notice_ms $((t_notice - t0))"
