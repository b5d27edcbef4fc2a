#!/usr/bin/env bash
# Agile recovery end to end (daemon/metad/agile.h): zbs-metad, three
# zbs-chunkd, a 2-replica volume whose vextent 0 is written through
# zbs-agent-cli and zbs-probe as the kernel would (40 writes of 256 KiB on
# both replicas). The chunk of the second replica is killed (-9) and its
# failure reported at gen 40 (RemoveReplica); the survivor alone then takes
# 5 writes touching 4 blocks. The killed chunk comes back 5 s later (its
# session expired meanwhile) with its replica at gen 40: meta waits for it
# (--recover-agile-wait-ms) instead of copying the extent to the third
# chunk, and the agile cmd copies exactly those 4 blocks (1 MiB, not the
# 10 MiB written nor 256 MiB). After it the replica is back in the location
# with the survivor's bytes and gen, and the third chunk never held the pid.
# Prints TAP.
E2E_NAME=agile-e2e
. "$(dirname "$0")/lib-e2e.sh"

e2e_meta --recover-scan-interval-ms 1000 --recover-agile-wait-ms 60000
for i in 1 2 3; do e2e_chunk $i; done

echo "1..6"
DIAG="$(zc chunk list 2>&1)"
check "3 chunkd hold sessions" wait_for 15 healthy_is 3
zc volume create v 1G --replica 2 >/dev/null

# vextent 0: 40 writes at gens 0..39 on blocks 0..39, on both replicas
out=$(agent map v 0 w)
m=$(grep '^map' <<< "$out")
PID0=$(field pid "$m"); EP=$(field epoch "$m"); LE=$(field lease_epoch "$m")
REPS=$(field replicas "$m")
head -c 262144 /dev/urandom > "$T/blk"
wrote=0
for k in $(seq 0 39); do
	for r in ${REPS//,/ }; do
		"$BIN/zbs-probe" -c "${r#*@}" -p "$PID0" -e "$EP" -L "$LE" -g $k -o $((k * 262144)) \
			write < "$T/blk" >/dev/null && wrote=$((wrote + 1))
	done
done
victim=${REPS#*,}; vcid=${victim%%@*}; vaddr=${victim#*@}
scid=${REPS%%,*}; scid=${scid%%@*}
vi=$(chunk_of_cid "$vcid")
sa=$(addr_of_cid "$scid")
# the victim dies; the owner reports its failure at gen 40 (the kernel's
# REPLICA_FAILED), then leaves
e2e_chunk_kill "$vi"
fo=$(agent map v 0 w exist "$PID0" "$EP" failed "$PID0" "$EP" "$vcid" 40)
LE=$(field lease_epoch "$(grep '^map' <<< "$fo")")	# the survivor's writes: this lease
DIAG="$m wrote=$wrote / $fo / location $(loc "$PID0")"
check "pid $PID0 written on both replicas, then cid $vcid dropped at gen 40" \
	test "$wrote" = 80 -a "$(loc "$PID0")" = "$scid" -a -n "$(grep 'failed err=0' <<< "$fo")"

# the survivor alone: gens 40..44 on blocks 3, 50, 3, 60 and 61 (4 blocks)
sw=0 g=40
for b in 3 50 3 60 61; do
	head -c 262144 /dev/urandom > "$T/n$g"
	"$BIN/zbs-probe" -c "$sa" -p "$PID0" -e "$EP" -L "$LE" -g $g -o $((b * 262144)) write \
		< "$T/n$g" >/dev/null && sw=$((sw + 1))
	g=$((g + 1))
done
sleep 5		# its session expires; no full recovery starts meanwhile
third=0
for c in $(zc --json chunk list | jq_ "' '.join(str(c['cid']) for c in d)"); do
	[ "$c" != "$vcid" ] && [ "$c" != "$scid" ] && [ -n "$(chunk_of_cid "$c")" ] && third=$c
done
DIAG="sw=$sw $(zc recover list 2>&1 | head -5)"
check "5 writes on the survivor alone; after 5 s no cmd copies the pid elsewhere" \
	test "$sw" = 5 -a "$(zc --json recover list | jq_ 'len(d)')" = 0

e2e_chunk "$vi"
back() { [ "$(loc "$PID0")" = "$scid,$vcid" ]; }
DIAG="location $(loc "$PID0"); $(grep -h 'RECOVER\|REPLACE' "$T"/metad.log "$T"/chunk*.log | tail -5)"
check "cid $vcid restarted: pid $PID0 back on it (location $scid,$vcid)" wait_for 60 back

line=$(grep -h "REPLACE REPLICA.*pid $PID0 " "$T/metad.log" | tail -1)
DIAG="$line"
check "an agile recovery copied 4 blocks (1048576 bytes)" \
	grep -q "(agile, copied 1048576)" <<< "$line"

vaddr=$(addr_of_cid "$vcid")	# a new port
same=1
for b in 0 3 39 50 60 61; do
	"$BIN/zbs-probe" -c "$sa" -p "$PID0" -e "$EP" -o $((b * 262144)) -n 262144 read \
		> "$T/s$b" 2>/dev/null || same=0
	"$BIN/zbs-probe" -c "$vaddr" -p "$PID0" -e "$EP" -o $((b * 262144)) -n 262144 read \
		> "$T/v$b" 2>/dev/null || same=0
	cmp -s "$T/s$b" "$T/v$b" || same=0
done
cmp -s "$T/v61" "$T/n44" || same=0
sg=$("$BIN/zbs-probe" -c "$sa" -p "$PID0" -e "$EP" info 2>&1)
vg=$("$BIN/zbs-probe" -c "$vaddr" -p "$PID0" -e "$EP" info 2>&1)
ta=$(addr_of_cid "$third")
tg=$("$BIN/zbs-probe" -c "$ta" -p "$PID0" -e "$EP" info 2>&1)
DIAG="survivor: $sg / back: $vg / third $third ($ta): $tg"
check "its bytes and gen (45) equal the survivor's; the third chunk never held the pid" \
	test "$same" = 1 -a "$(field gen "$vg")" = 45 -a "$(field gen "$sg")" = 45 -a \
	"$(field state "$vg")" = 0 -a "$(field status "$tg")" = 4
tap_exit
