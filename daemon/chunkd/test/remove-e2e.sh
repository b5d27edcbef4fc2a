#!/usr/bin/env bash
# Chunk removal end to end (SPEC 5.10): zbs-metad's drain and the owner
# chunk's executor. Four zbs-chunkd, a 2-replica volume whose vextent 0 is
# written through zbs-agent-cli; `zbsctl chunk remove` on the chunk of its
# first replica migrates it off (a copy on another chunk, then the replica
# dropped: never below 2 replicas), `chunk list` shows the progress; once
# drained and its chunkd stopped, the chunk is forgotten. Prints TAP.
E2E_NAME=remove-e2e
. "$(dirname "$0")/lib-e2e.sh"

e2e_meta --recover-scan-interval-ms 1000
for i in 1 2 3 4; do e2e_chunk $i; done

echo "1..6"
DIAG="$(zc chunk list 2>&1)"
check "4 chunkd hold sessions" wait_for 15 healthy_is 4
zc volume create v 1G --replica 2 >/dev/null

# vextent 0: the map, 3 writes on both replicas at gens 0..2, the
# existence report; the agent then leaves
out=$(agent map v 0 w)
m=$(grep '^map' <<< "$out")
PID0=$(field pid "$m"); EP=$(field epoch "$m"); LE=$(field lease_epoch "$m")
REPS=$(field replicas "$m")
wrote=0
for k in 0 1 2; do
	head -c 262144 /dev/urandom > "$T/w$k"
	for r in ${REPS//,/ }; do
		"$BIN/zbs-probe" -c "${r#*@}" -p "$PID0" -e "$EP" -L "$LE" -g $k -o $((k * 3 * 262144)) \
			write < "$T/w$k" >/dev/null && wrote=$((wrote + 1))
	done
done
agent map v 0 w exist "$PID0" "$EP" >/dev/null
DIAG="$m wrote=$wrote"
check "pid $PID0 written on its 2 replicas ($REPS)" \
	test "$wrote" = 6 -a "$(loc "$PID0" | tr ',' '\n' | grep -c .)" = 2

# remove the chunk of the first replica
vcid=${REPS%%,*}; vcid=${vcid%%@*}
scid=${REPS#*,}; scid=${scid%%@*}
vi=$(chunk_of_cid "$vcid")
out=$(zc chunk remove "$vcid" 2>&1); st=$?
listed=$(zc chunk list 2>&1)
DIAG="exit $st: $out / $listed"
check "chunk remove $vcid: accepted, chunk list shows it removing" \
	test $st = 0 -a -n "$(grep -E "^ +$vcid " <<< "$listed" | grep 'removing (')"

# drained: the pid on the survivor and a new chunk, never fewer than 2
min=2
drained() {
	local l n
	l=$(loc "$PID0")
	n=$(tr ',' '\n' <<< "$l" | grep -c .)
	[ "$n" -lt "$min" ] && min=$n
	[ "$n" = 2 ] && ! tr ',' '\n' <<< "$l" | grep -qx "$vcid" &&
		[ "$(zc --json chunk show "$vcid" | jq_ 'd["pids_left"]')" = 0 ]
}
DIAG="location $(loc "$PID0"); $(zc chunk list 2>&1); $(grep -i 'migrate\|replace' "$T/metad.log" | tail -5)"
check "chunk $vcid drained: pid $PID0 on $scid and another chunk" wait_for 60 drained
ncid=$(loc "$PID0" | tr ',' '\n' | grep -vx "$scid")
sa=$(addr_of_cid "$scid"); na=$(addr_of_cid "$ncid")
same=1
for k in 0 1 2; do
	"$BIN/zbs-probe" -c "$sa" -p "$PID0" -e "$EP" -o $((k * 3 * 262144)) -n 262144 read \
		> "$T/s$k" 2>/dev/null || same=0
	"$BIN/zbs-probe" -c "$na" -p "$PID0" -e "$EP" -o $((k * 3 * 262144)) -n 262144 read \
		> "$T/n$k" 2>/dev/null || same=0
	cmp -s "$T/s$k" "$T/n$k" || same=0
done
DIAG="min replicas $min, same $same, new $ncid; $(grep 'Migrate for removing' "$T/metad.log" | head -3)"
check "the new replica on chunk $ncid holds the survivor's bytes; never below 2 replicas; logged" \
	test "$same" = 1 -a "$min" = 2 -a -n "$(grep "Migrate for removing chunk $vcid: pid $PID0" "$T/metad.log")"

# its chunkd stops: forgotten
n0=$(zc --json chunk list | jq_ 'len(d)')
kill "${CPID[$vi]}"; wait "${CPID[$vi]}" 2>/dev/null; unset "CPID[$vi]"
gone() { [ "$(zc --json chunk list | jq_ "len([c for c in d if c['cid']==$vcid])")" = 0 ]; }
forgotten() {
	wait_for 15 gone || return 1
	zc chunk remove "$vcid" > "$T/rm" 2>&1; [ $? = 3 ] && grep -q "chunk $vcid not found" "$T/rm" &&
		[ "$(zc --json chunk list | jq_ 'len(d)')" = $((n0 - 1)) ] &&
		grep -q "\[REMOVE CHUNK\] chunk $vcid .* forgotten" "$T/metad.log"
}
DIAG="$(zc chunk list 2>&1)"
check "its zbs-chunkd stopped: chunk $vcid forgotten (chunk list, chunk remove: not found)" forgotten
tap_exit
