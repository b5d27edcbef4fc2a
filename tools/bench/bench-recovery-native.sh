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
#   client latency (per mode of ZBS_BENCH_LAT_MODES, default "default nopace"; each
#   on a fresh cluster in $D/lat-MODE whose chunks get the mode's extra
#   args, see mode_args): bench-clientlat drives 4 KiB ops at a fixed rate
#   (ZBS_BENCH_LAT_IOPS, default 1000, for ZBS_BENCH_LAT_SECONDS, default 10)
#   on extent 0 of a 2-replica volume (replicas on chunks A and B, its first
#   64 MiB written), randwrite to both replicas, randread from the first;
#   without recovery and while a 1-replica 256 MiB extent (the mover) is
#   moved back and forth between A and B by migrate cmds, interleaved, for
#   ZBS_BENCH_LAT_ROUNDS (default 3) rounds. Medians over the rounds; with
#   the moves' copy rate and how much of each run they covered.
#   ZBS_BENCH_PARTS: which of the three parts run, default "copy redundancy
#   lat" (one part alone when looking into it).
#   ZBS_BENCH_SLOW_US=N: every client op of at least N us, with its wall
#   clock time, into $CD/slow.log (keep it with ZBS_BENCH_KEEP=1): to find
#   what the chunks' logs say happened then.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ZBS_BIN_PLAIN:-$top/build}
D=${ZBS_BENCH_DIR:-$top/build/bench-recovery}
N=${ZBS_BENCH_EXTENTS:-8}
EMIB=${ZBS_BENCH_EXTENT_MIB:-64}
LEASE_MS=${ZBS_BENCH_LEASE_MS:-3000}
LAT_MODES=${ZBS_BENCH_LAT_MODES:-default nopace}
LAT_ROUNDS=${ZBS_BENCH_LAT_ROUNDS:-3}
LAT_IOPS=${ZBS_BENCH_LAT_IOPS:-1000}
LAT_SECONDS=${ZBS_BENCH_LAT_SECONDS:-10}
LAT_SPAN_MIB=64
SLOW_US=${ZBS_BENCH_SLOW_US:-}
PARTS=" ${ZBS_BENCH_PARTS:-copy redundancy lat} "
part() { [[ $PARTS == *" $1 "* ]]; }
for p in $PARTS; do
	case $p in copy|redundancy|lat) ;; *) echo "# bench-recovery (native): ZBS_BENCH_PARTS: unknown part '$p' (known: copy redundancy lat)"; exit 1 ;; esac
done
META_PID= PORT= CD= MOVER_LOOP=
declare -A CPID
# stop the cluster (kill -9: nothing in it is kept)
stop_cluster() {
	local c
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	CPID=() META_PID= PORT=
}
cleanup() {
	[ -n "$MOVER_LOOP" ] && kill "$MOVER_LOOP" 2>/dev/null
	stop_cluster
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
# the cids of pid $1's replicas, "A,B": decoded in the shell, not by a python
# per call (the mover's polls run beside the client latency runs: a python
# start every 100 ms took a tenth of a core from the clients)
loc() {
	local j l s b out=
	j=$(zc --json lease show "$1") || return 1
	l=$(grep -o '"location": *[0-9]*' <<< "$j" | grep -o '[0-9]*$')
	[ -n "$l" ] || return 1
	for s in 0 8 16 24; do
		b=$(( (l >> s) & 255 ))
		[ "$b" -gt 0 ] && out+=${out:+,}$b
	done
	echo "$out"
}
chunk_of_cid() {	# the index i of chunk cid (its data dir $CD/c$i)
	local u i
	u=$(zc --json chunk list | jq_ "[c['uuid'] for c in d if c['cid']==$1][0]")
	for i in 1 2 3 4; do [ "$(cat "$CD/c$i/chunk-id" 2>/dev/null)" = "$u" ] && echo $i; done
}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null && echo 1 || echo 0; }
# log time (ms since the epoch) of a chunk log line: 2026-12-01T00:38:42.123Z ...
log_ms() { local t=${1%% *}; echo $(( $(date -d "${t%Z}Z" +%s) * 1000 + 10#$(sed 's/.*\.\([0-9]*\)Z$/\1/' <<< "$t") )); }

healthy() { [ "$(zc chunk list | grep -c CONNECTED_HEALTHY)" = 4 ]; }
# start_cluster DIR [CHUNKD_ARG...]: a fresh zbs-metad and 4 zbs-chunkd (with
# the extra args) on loopback, their data dirs and logs in DIR (becomes $CD)
start_cluster() {
	local i
	CD=$1; shift
	mkdir -p "$CD" || die "cannot create $CD"
	"$BIN/zbs-metad" -d "$CD/meta" -l 127.0.0.1:0 --port-file "$CD/port" \
		--session-lease-ms "$LEASE_MS" --recover-scan-interval-ms 1000 \
		2>>"$CD/metad.log" &
	META_PID=$!
	wait_for 10 test -s "$CD/port" || die "metad did not start (see $CD/metad.log)"
	PORT=$(cat "$CD/port")
	for i in 1 2 3 4; do
		"$BIN/zbs-chunkd" -d "$CD/c$i" -l 127.0.0.1:0 --meta "127.0.0.1:$PORT" \
			--no-kernel-agent --capacity 8G "$@" 2>>"$CD/chunk$i.log" &
		CPID[$i]=$!
	done
	wait_for 20 healthy || die "4 chunks not healthy (chunkd args: ${*:-none}; logs in" \
		"$CD): $(zc chunk list 2>&1)"
}

# MODE_ARGS=(the extra zbs-chunkd args of latency mode $1) and MODE_BPS
# (meta's recovery budget, `zbsctl recover set --bps`; empty: unlimited);
# dies on an unknown mode. A mode is one line here.
mode_args() {
	MODE_BPS=
	case $1 in
	default) MODE_ARGS=() ;;		# the chunks' recovery pacing on
	nopace) MODE_ARGS=(--no-recover-pace) ;;
	# the copy at the pacing's floor rate all along: the client latency
	# that recovery costs at the least bandwidth it may take
	floor) MODE_ARGS=(--no-recover-pace) MODE_BPS=4M ;;
	*) die "ZBS_BENCH_LAT_MODES: unknown mode '$1' (known: default nopace floor)" ;;
	esac
}
for m in $LAT_MODES; do mode_args "$m"; done
for v in LAT_ROUNDS LAT_IOPS LAT_SECONDS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "ZBS_BENCH_$v '${!v}': need a positive integer"
done

rm -rf "$D"; mkdir -p "$D" || die "cannot create $D"
start_cluster "$D"
echo "# data dirs in $D ($(df -T "$D" | awk 'NR == 2 { print $2 }')), lease ${LEASE_MS} ms"
head -c $((256 << 20)) /dev/urandom > "$D/rand"

# map vextent VE of volume VOL for writing; prints its pid, epoch,
# lease_epoch and replicas (CID@HOST:PORT,...)
map_extent() {
	local out m
	out=$(agent map "$1" "$2" w)
	m=$(grep '^map' <<< "$out")
	[ -n "$(field pid "$m")" ] || { echo "# map $1 $2: $out" >&2; return 1; }
	echo "$(field pid "$m") $(field epoch "$m") $(field lease_epoch "$m") $(field replicas "$m")"
}

# write MIB MiB of random bytes at the start of vextent VE of volume VOL on
# each of its replicas; prints the pid and its replicas' cids
fill_extent() {
	local vol=$1 ve=$2 mib=$3 pid ep le reps k r
	read -r pid ep le reps <<< "$(map_extent "$vol" "$ve")"
	[ -n "$pid" ] || return 1
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
if part copy; then
zc volume create copy 1G --replica 1 >/dev/null || die "volume create"
read -r PID_C REPS_C <<< "$(fill_extent copy 0 256)" || die "fill"
[ -n "${PID_C:-}" ] || die "fill: no pid"
A=$REPS_C; ai=$(chunk_of_cid "$A")
B=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['cid']!=$A][0]"); bi=$(chunk_of_cid "$B")
f="$CD/c$ai/replicas/$PID_C"
[ -f "$f" ] || die "no replica file $f"
direct=(iflag=direct oflag=direct)
dd if="$f" of="$CD/c$bi/raw.probe" bs=256K count=1 "${direct[@]}" status=none 2>/dev/null ||
	direct=()
rm -f "$CD/c$bi/raw.probe"
dropped=$(drop_caches)
t0=$(date +%s%N)
dd if="$f" of="$CD/c$bi/raw.copy" bs=256K "${direct[@]}" conv=fsync status=none
t1=$(date +%s%N)
raw_bytes=$(stat -c %s "$CD/c$bi/raw.copy")
rm -f "$CD/c$bi/raw.copy"
echo "# raw copy: dd ${direct[*]:-buffered} bs=256K conv=fsync, caches dropped: $dropped"
echo "RESULT raw_bytes $raw_bytes"
echo "RESULT raw_ms $(( (t1 - t0) / 1000000 ))"

drop_caches >/dev/null
zc migrate create "$PID_C" --src "$A" --dst "$B" --replace "$A" >/dev/null ||
	die "migrate create $PID_C --src $A --dst $B --replace $A"
moved() { [ "$(loc "$PID_C")" = "$B" ]; }
wait_for 300 moved || die "pid $PID_C not moved to $B: $(loc "$PID_C"); $(zc recover list 2>&1)"
sl=$(grep -h "\[RECOVER\] .* pid $PID_C " "$CD"/chunk*.log | tail -1)
el=$(grep -hE "\[(NORMAL|AGILE) RECOVER END\] .* pid $PID_C " "$CD"/chunk*.log | tail -1)
[ -n "$sl" ] && [ -n "$el" ] || die "no [RECOVER]/[RECOVER END] lines for pid $PID_C"
echo "RESULT recover_bytes $(sed 's/.* copied \([0-9]*\).*/\1/' <<< "$el")"
echo "RESULT recover_ms $(( $(log_ms "$el") - $(log_ms "$sl") ))"
fi

# ---- time to full redundancy ------------------------------------------------
if part redundancy; then
zc volume create red $((N * 256))M --replica 3 >/dev/null || die "volume create red"
PIDS=()
for ((v = 0; v < N; v++)); do
	read -r p reps <<< "$(fill_extent red "$v" "$EMIB")" || die "fill red $v"
	PIDS+=("$p")
done
# the victim: a chunk holding the first pid's replica other than B (so it
# is not the copy's chunk), killed -9
reps=$(loc "${PIDS[0]}")
for c in ${reps//,/ }; do [ "$c" != "${B:-}" ] && victim=$c; done
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
fi

# ---- client latency ---------------------------------------------------------
# Every mode runs on a fresh cluster started with its chunkd args (the one of
# the parts above is stopped first), so the mover cannot be part 1's pid: it
# is a new 1-replica volume whose extent is written in full on chunk A (moved
# there if it was placed elsewhere), A and B being the client's two replicas.
stop_cluster
part lat || exit 0
at() { [ "$(loc "$1")" = "$2" ]; }
median() { python3 -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
int() { printf '%.0f' "$1"; }
nrecover() { cat "$CD"/chunk*.log | grep -c "\[RECOVER\] .* pid $1 "; }

# mover_loop PID FROM TO STOPFILE: migrate PID from chunk FROM to TO, wait
# until it is there, then back, ... until STOPFILE exists (the move under
# way is finished first). One line per finished move.
# It polls once a second, not every 0.1 s as wait_for does: the processes of
# a poll (zbsctl, grep, date, sleep, subshells) every 0.1 s took 40% of a
# core on a 2-core machine (perf sched), from the clients of the runs with
# recovery only.
mover_loop() {
	local pid=$1 from=$2 to=$3 stop=$4 t i
	while [ ! -e "$stop" ]; do
		# refused while meta still revokes the lease the last move took
		# back ("try again"): asked again for up to 30 s
		for ((i = 0; i < 30; i++)); do
			zc migrate create "$pid" --src "$from" --dst "$to" --replace "$from" \
				>/dev/null 2>&1 && break
			sleep 1
		done
		[ "$i" -lt 30 ] || {
			echo "migrate create $pid --src $from --dst $to --replace $from:" \
				"$(zc migrate create "$pid" --src "$from" --dst "$to" --replace "$from" 2>&1)"
			return 1
		}
		for ((i = 0; i < 300; i++)); do
			sleep 1
			at "$pid" "$to" && break
		done
		[ "$i" -lt 300 ] ||
			{ echo "pid $pid not moved to $to in 300 s: at $(loc "$pid")"; return 1; }
		echo "moved $pid $from -> $to"
		t=$from from=$to to=$t
	done
}

# the moves of PID that overlapped [T0, T1] (ms since the epoch), from the
# chunks' [RECOVER] / [... RECOVER END] lines paired by cmd id: prints the
# number of moves, bytes they copied, ms they took and ms of [T0, T1] during
# which one ran
moves_during() {
	cat "$CD"/chunk*.log | python3 -c '
import datetime, re, sys
pid, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def ms(line):
    t = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
start, end = {}, {}
for line in sys.stdin:
    m = re.search(r"\[RECOVER\] cmd (\d+) pid (\d+) ", line)
    if m and m.group(2) == pid:
        start[m.group(1)] = ms(line)
    m = re.search(r"\[(NORMAL|AGILE) RECOVER END\] cmd (\d+) pid (\d+) .* copied (\d+)", line)
    if m and m.group(3) == pid:
        end[m.group(2)] = (ms(line), int(m.group(4)))
n = nbytes = took = busy = 0
for cmd, s in start.items():
    if cmd not in end or end[cmd][0] < t0 or s > t1:
        continue
    e, b = end[cmd]
    n, nbytes, took = n + 1, nbytes + b, took + e - s
    busy += min(e, t1) - max(s, t0)
print(n, nbytes, took, busy)' "$1" "$2" "$3"
}

# lat_run RW WITH: one bench-clientlat run on the client extent (WITH=1:
# while the mover moves); sets RUN to "p50 p99" or, WITH=1, "p50 p99 moves
# bytes move_ms busy_ms run_ms"
lat_run() {
	local rw=$1 with=$2 out cur other n0 t0 t1 st
	sync	# no writeback of earlier buffered writes (the fills' source) in the run
	if [ "$with" = 1 ]; then
		cur=$(loc "$MV")
		case $cur in "$A") other=$B ;; "$B") other=$A ;;
		*) die "mover pid $MV on $cur, not on $A or $B" ;; esac
		n0=$(nrecover "$MV")
		rm -f "$CD/mover.stop"
		mover_loop "$MV" "$cur" "$other" "$CD/mover.stop" >>"$CD/mover.out" 2>&1 &
		MOVER_LOOP=$!
		# the load starts once the first copy runs
		started() { [ "$(nrecover "$MV")" -gt "$n0" ]; }
		wait_for 30 started || die "no [RECOVER] of mover pid $MV in 30 s: $(tail -3 "$CD/mover.out")"
	fi
	t0=$(now_ms)
	out=$("$BIN/bench-clientlat" --pid "$CP" --epoch "$CE" --lease-epoch "$CL" \
		"${CREPS[@]}" --rw "$rw" --iops "$LAT_IOPS" --seconds "$LAT_SECONDS" \
		--span "${LAT_SPAN_MIB}M" ${SLOW_US:+--slow-us "$SLOW_US"} 2>&1)
	st=$?
	t1=$(now_ms)
	if [ "$with" = 1 ]; then
		touch "$CD/mover.stop"
		wait "$MOVER_LOOP" || die "mover: $(tail -3 "$CD/mover.out")"
		MOVER_LOOP=
	fi
	[ $st = 0 ] || die "bench-clientlat --rw $rw failed: $out"
	if [ -n "$SLOW_US" ]; then
		echo "== $MODE $rw with=$with $t0 $t1" >>"$CD/slow.log"
		grep '^slow' <<< "$out" >>"$CD/slow.log"
	fi
	out=$(grep '^clientlat' <<< "$out")
	echo "# $MODE $rw $([ "$with" = 1 ] && echo with || echo without) recovery: $out"
	RUN="$(field p50_us "$out") $(field p99_us "$out")"
	[ "$with" = 1 ] && RUN+=" $(moves_during "$MV" "$t0" "$t1") $((t1 - t0))"
}

echo "# client latency: 4 KiB at $LAT_IOPS iops for $LAT_SECONDS s per run, $LAT_ROUNDS rounds," \
	"modes: $LAT_MODES"
echo "RESULT lat_iops $LAT_IOPS"
echo "RESULT lat_rounds $LAT_ROUNDS"
for MODE in $LAT_MODES; do
	mode_args "$MODE"
	pfx=; [ "$MODE" = default ] || pfx=${MODE}_
	start_cluster "$D/lat-$MODE" "${MODE_ARGS[@]}"
	if [ -n "$MODE_BPS" ]; then
		zc recover set --bps "$MODE_BPS" >/dev/null || die "recover set --bps $MODE_BPS"
	fi
	zc volume create client 1G --replica 2 >/dev/null || die "volume create client"
	read -r _ A B <<< "$(fill_extent client 0 "$LAT_SPAN_MIB" | tr ',' ' ')"
	[ -n "${B:-}" ] || die "fill client: no two replicas"
	read -r CP CE CL reps <<< "$(map_extent client 0)"
	[ -n "$CP" ] || die "map client 0"
	CREPS=()
	for r in ${reps//,/ }; do CREPS+=(--replica "${r#*@}"); done
	zc volume create mover 1G --replica 1 >/dev/null || die "volume create mover"
	read -r MV X <<< "$(fill_extent mover 0 256)"
	[ -n "${X:-}" ] || die "fill mover: no pid"
	if [ "$X" != "$A" ] && [ "$X" != "$B" ]; then
		zc migrate create "$MV" --src "$X" --dst "$A" --replace "$X" >/dev/null ||
			die "migrate create $MV --src $X --dst $A --replace $X"
		wait_for 300 at "$MV" "$A" || die "mover pid $MV not moved to $A: $(loc "$MV")"
	fi
	echo "# mode $MODE (chunkd args: ${MODE_ARGS[*]:-none}; budget ${MODE_BPS:-none}): client pid $CP on chunks $A,$B;" \
		"mover pid $MV (256 MiB) on $(loc "$MV")"
	# not counted: the first run on a fresh cluster has had a p99 several
	# times that of the later ones
	echo "# warm-up runs, not counted:"
	lat_run randwrite 0
	lat_run randread 0
	declare -A P
	for ((k = 1; k <= LAT_ROUNDS; k++)); do
		for rw in randwrite randread; do
			lat_run "$rw" 0
			read -r p50 p99 <<< "$RUN"
			P[$rw,without,50]+=" $p50" P[$rw,without,99]+=" $p99"
			wo99=$p99
			lat_run "$rw" 1
			read -r p50 p99 n b took busy run <<< "$RUN"
			[ "${n:-0}" -gt 0 ] || die "no move overlapped the $rw run with recovery"
			P[$rw,with,50]+=" $p50" P[$rw,with,99]+=" $p99"
			P[$rw,mbps]+=" $(python3 -c "print($b / 1e3 / max(1, $took))")"
			P[$rw,busy]+=" $((busy * 100 / run))"
			P[$rw,moves]=$(( ${P[$rw,moves]:-0} + n )) P[$rw,bytes]=$(( ${P[$rw,bytes]:-0} + b ))
			echo "#   round $k $rw: p99 $wo99 -> $p99 us; $n moves, $((b >> 20)) MiB" \
				"copied at $(int "$(python3 -c "print($b / 1e3 / max(1, $took))")") MB/s," \
				"recovery ran $((busy * 100 / run))% of the run"
		done
	done
	all_mbps=
	for rw in randwrite randread; do
		for q in 50 99; do
			wo=$(int "$(median ${P[$rw,without,$q]})") wi=$(int "$(median ${P[$rw,with,$q]})")
			echo "RESULT lat_${pfx}${rw}_without_p${q}_us $wo"
			echo "RESULT lat_${pfx}${rw}_with_p${q}_us $wi"
			r=$(python3 -c "print('%.2f' % ($wi / max(1, $wo)))")
			if [ $q = 99 ]; then
				echo "RESULT lat_${pfx}${rw}_ratio $r"
			else
				echo "RESULT lat_${pfx}${rw}_p50_ratio $r"
			fi
		done
		echo "RESULT lat_${pfx}${rw}_copy_MBps $(int "$(median ${P[$rw,mbps]})")"
		echo "RESULT lat_${pfx}${rw}_recover_busy_pct $(int "$(median ${P[$rw,busy]})")"
		echo "RESULT lat_${pfx}${rw}_moves ${P[$rw,moves]}"
		echo "RESULT lat_${pfx}${rw}_copied_bytes ${P[$rw,bytes]}"
		all_mbps+=" ${P[$rw,mbps]}"
	done
	echo "RESULT lat_${pfx}copy_MBps $(int "$(median $all_mbps)")"
	unset P
	stop_cluster
done
