#!/usr/bin/env bash
# Recovery end to end: zbs-metad's scheduler and the owner chunk's executor
# (chunk_recover.c). Three zbs-chunkd, a 2-replica volume whose vextent 0
# is written through zbs-agent-cli (map, then the writes on both replicas
# as the kernel sends them, then the existence report); chunk holding one
# replica is killed (-9); with a short session lease and scan interval the
# pid gets a new replica on the third chunk, whose bytes and gen equal the
# survivor's, and meta's location holds the survivor and the new one.
# Prints TAP.
E2E_NAME=recover-e2e
. "$(dirname "$0")/lib-e2e.sh"

e2e_meta --recover-scan-interval-ms 1000
for i in 1 2 3; do e2e_chunk $i; done

echo "1..4"
DIAG="$(zc chunk list 2>&1)"
check "3 chunkd hold sessions" wait_for 15 healthy_is 3
zc volume create v 1G --replica 2 >/dev/null

# vextent 0: the map, 4 writes (256 KiB at blocks 0, 5, 9, then 0 again) on
# both replicas at gens 0..3, the existence report; the agent then leaves
out=$(agent map v 0 w)
m=$(grep '^map' <<< "$out")
PID0=$(field pid "$m"); EP=$(field epoch "$m"); LE=$(field lease_epoch "$m")
REPS=$(field replicas "$m")
wrote=0
for k in 0 1 2 3; do
	off=$(( (k == 1 ? 5 : k == 2 ? 9 : 0) * 262144 ))
	head -c 262144 /dev/urandom > "$T/w$k"
	for r in ${REPS//,/ }; do
		"$BIN/zbs-probe" -c "${r#*@}" -p "$PID0" -e "$EP" -L "$LE" -g $k -o $off write \
			< "$T/w$k" >/dev/null && wrote=$((wrote + 1))
	done
done
agent map v 0 w exist "$PID0" "$EP" >/dev/null
DIAG="$m wrote=$wrote"
check "pid $PID0 written on its 2 replicas ($REPS) at gens 0..3" \
	test "$wrote" = 8 -a "$(loc "$PID0" | tr ',' '\n' | grep -c .)" = 2

# kill the chunk of the second replica
victim=${REPS#*,}; vcid=${victim%%@*}
scid=${REPS%%,*}; scid=${scid%%@*}
vi=$(chunk_of_cid "$vcid")
e2e_chunk_kill "$vi"
for c in 1 2 3; do
	ncid=$(zc --json chunk list | jq_ "[c['cid'] for c in d][$((c - 1))]")
	[ "$ncid" != "$vcid" ] && [ "$ncid" != "$scid" ] && break
done
recovered() { [ "$(loc "$PID0")" = "$scid,$ncid" ] || [ "$(loc "$PID0")" = "$ncid,$scid" ]; }
DIAG="location $(loc "$PID0"); $(zc recover status 2>&1 | head -8)"
check "chunk $vcid killed: pid $PID0 recovered onto chunk $ncid (location $scid,$ncid)" \
	wait_for 60 recovered

sa=$(addr_of_cid "$scid"); na=$(addr_of_cid "$ncid")
same=1
for b in 0 5 9; do
	"$BIN/zbs-probe" -c "$sa" -p "$PID0" -e "$EP" -o $((b * 262144)) -n 262144 read \
		> "$T/s$b" 2>/dev/null || same=0
	"$BIN/zbs-probe" -c "$na" -p "$PID0" -e "$EP" -o $((b * 262144)) -n 262144 read \
		> "$T/n$b" 2>/dev/null || same=0
	cmp -s "$T/s$b" "$T/n$b" || same=0
done
sg=$("$BIN/zbs-probe" -c "$sa" -p "$PID0" -e "$EP" info 2>&1)
ng=$("$BIN/zbs-probe" -c "$na" -p "$PID0" -e "$EP" info 2>&1)
DIAG="src: $sg / new: $ng"
check "the new replica's bytes, gen and state equal the survivor's (gen 4, normal)" \
	test "$same" = 1 -a "$(field gen "$ng")" = 4 -a "$(field gen "$sg")" = 4 -a \
	"$(field state "$ng")" = 0
tap_exit
