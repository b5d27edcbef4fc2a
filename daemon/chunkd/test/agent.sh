#!/usr/bin/env bash
# The access agent's core (daemon/chunkd/chunk_agent.c) against real zbs-metad and
# zbs-chunkd processes, driven by zbs-agent-cli as the kernel would drive it:
# leases, generation sync, stale/dead replica removal, kernel reports,
# lease_epoch takeover, revoke relay, the worker pool; zbs-chunkd access
# only; zbsctl attach/detach error paths. Prints TAP.
set -u
BIN=${ZBS_BIN:-$(cd "$(dirname "$0")/../../.." && pwd)/build/san}
T=$(mktemp -d /tmp/zbs-agent.XXXXXX)
LEASE_MS=1500
META_PID= PORT=
declare -A CPID
BGPIDS=()

cleanup() {
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	for p in "${BGPIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/../../../tools/tap.sh"
zc() { "$BIN/zbsctl" --meta "127.0.0.1:$PORT" "$@"; }
UA=11111111-1111-4111-8111-111111111111
UB=22222222-2222-4222-8222-222222222222
agent() { local u=$1; shift; "$BIN/zbs-agent-cli" --meta "127.0.0.1:$PORT" --uuid "$u" wait "$@" 2>>"$T/agent.log"; }
# field NAME LINE: value of NAME=... in a result line
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<< " $2" | head -1; }
pext() { zc --json lease show "$1"; }
loc_count() { pext "$1" | jq_ 'len([b for b in d["location"].to_bytes(4,"little") if b])'; }
cid_of() { zc --json chunk list | jq_ "[c['cid'] for c in d if c['uuid']=='$(cat "$T/c$1/chunk-id")'][0]"; }
addr_of_cid() { zc --json chunk list | jq_ "[c['data_ip']+':'+str(c['data_port']) for c in d if c['cid']==$1][0]"; }

"$BIN/zbs-metad" -d "$T/meta" -l 127.0.0.1:0 --port-file "$T/port" \
	--session-lease-ms $LEASE_MS 2>>"$T/metad.log" &
META_PID=$!
wait_for 10 test -s "$T/port" || { echo "Bail out! metad"; exit 1; }
PORT=$(cat "$T/port")
for i in 1 2 3; do
	# no recover cmds: the leases of the pids its reports leave short of
	# replicas stay with the test's agent sessions
	"$BIN/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:0 --meta "127.0.0.1:$PORT" --no-recover \
		2>>"$T/chunk$i.log" &
	CPID[$i]=$!
done
"$BIN/zbs-chunkd" --meta "127.0.0.1:$PORT" --uuid 33333333-3333-4333-8333-333333333333 --no-recover \
	2>>"$T/access.log" &
CPID[access]=$!
healthy_is() { [ "$(zc chunk list | grep -c CONNECTED_HEALTHY)" = "$1" ]; }

echo "1..32"
DIAG="$(zc chunk list 2>&1)"
check "3 chunkd and 1 access-only chunkd (no --data-dir) hold sessions" wait_for 15 healthy_is 4
ACID=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['uuid']=='33333333-3333-4333-8333-333333333333'][0]")
zc volume create v 2G --replica 3 >/dev/null
zc volume create big 4G --replica 3 >/dev/null

# --- read of a never-written vextent
out=$(agent $UA map v 0 r)
DIAG="$out"
check "read map of an unallocated vextent: -ENODATA, nothing allocated" \
	test "$(field err "$(grep '^map' <<< "$out")")" = -61 -a \
	"$(zc --json volume show v | jq_ 'd["allocated_pextents"]')" = 0

# --- first write allocates
out=$(agent $UA map v 0 w leases)
m=$(grep '^map' <<< "$out")
PID0=$(field pid "$m"); EP0=$(field epoch "$m"); LE0=$(field lease_epoch "$m")
DIAG="$out"
check "first write map: 3 replicas, gen 0, lease_epoch >= 1, cached" \
	test "$(field nr "$m")" = 3 -a "$(field gen "$m")" = 0 -a "${LE0:-0}" -ge 1 -a \
	"$(grep -c '^leases 1' <<< "$out")" = 1
DIAG="$(zc volume show v --pextents)"
check "meta: the pextent is allocated and its location has 3 replicas, none on the access-only chunk" \
	test "$(loc_count "$PID0")" = 3 -a \
	"$(pext "$PID0" | jq_ "$ACID in d['location'].to_bytes(4,'little')")" = False
REPS0=$(field replicas "$m")

# --- gen sync: one replica one write ahead is removed
victim=${REPS0%%,*}; vcid=${victim%%@*}; vaddr=${victim#*@}
head -c 4096 /dev/urandom | "$BIN/zbs-probe" -c "$vaddr" -p "$PID0" -e "$EP0" -L "$LE0" -g 0 write >/dev/null
out=$(agent $UA map v 0 w)
m=$(grep '^map' <<< "$out")
DIAG="$out $(zc lease show "$PID0")"
check "gen sync: the replica whose gen differs (cid $vcid) is removed, map has 2 at gen 0" \
	test "$(field nr "$m")" = 2 -a "$(field gen "$m")" = 0 -a \
	"$(grep -c "[=,]$vcid@" <<< "$m")" = 0 -a "$(loc_count "$PID0")" = 2
LE1=$(field lease_epoch "$m")
check "a new session's lease raises lease_epoch ($LE0 -> $LE1)" test "${LE1:-0}" -gt "$LE0"

# --- kernel reports: replica failure (with its gen) and existence
out=$(agent $UA map v 1 w)
m=$(grep '^map' <<< "$out")
P1=$(field pid "$m"); E1=$(field epoch "$m"); L1=$(field lease_epoch "$m"); R1=$(field replicas "$m")
for r in ${R1//,/ }; do
	head -c 4096 /dev/urandom | "$BIN/zbs-probe" -c "${r#*@}" -p "$P1" -e "$E1" -L "$L1" -g 0 write >/dev/null
done
fcid=${R1%%@*}
out=$(agent $UA map v 1 w failed "$P1" "$E1" "$fcid" 1 exist "$P1" "$E1")
j=$(pext "$P1")
DIAG="$out $j"
check "replica-failure report: cid $fcid leaves location, meta_gen becomes 1" \
	test "$(grep -c '^failed err=0' <<< "$out")" = 1 -a "$(loc_count "$P1")" = 2 -a \
	"$(jq_ 'd["meta_gen"]' <<< "$j")" = 1
check "existence report: ever_exist is set" \
	test "$(grep -c '^exist err=0' <<< "$out")" = 1 -a \
	"$(zc --json volume show v --pextents | jq_ "[p['ever_exist'] for p in d['pextents'] if p['pid']==$P1][0]")" = True
out=$(agent $UA map v 1 r drains map v 1 r drains)
m=$(grep '^map' <<< "$out" | head -1)
DIAG="$out"
check "next map keeps the 2 replicas at gen 1 (>= meta_gen) and says ever_exist" \
	test "$(field nr "$m")" = 2 -a "$(field gen "$m")" = 1 -a "$(field ever_exist "$m")" = 1
check "asking again for a pid mapped before drains its IO first (drain hook 0 -> 1)" \
	test "$(grep '^drains' <<< "$out" | tr '\n' ' ')" = "drains 0 drains 1 "

# --- a lost replica is never re-created by SYNC over written data (its
# existence report lost too: meta still says never written)
out=$(agent $UA map v 4 w)
m=$(grep '^map' <<< "$out")
P4=$(field pid "$m"); E4=$(field epoch "$m"); L4=$(field lease_epoch "$m"); R4=$(field replicas "$m")
for r in ${R4//,/ }; do
	head -c 4096 /dev/urandom | "$BIN/zbs-probe" -c "${r#*@}" -p "$P4" -e "$E4" -L "$L4" -g 0 write >/dev/null
done
lost=${R4%%,*}; lcid=${lost%%@*}
# the chunk loses the replica: stopped, --drop-replica, started again (no one
# can delete a replica over the data port)
for i in 1 2 3; do [ "$(cid_of $i)" = "$lcid" ] && li=$i; done
kill "${CPID[$li]}"; wait "${CPID[$li]}"
"$BIN/zbs-chunkd" -d "$T/c$li" --drop-replica "$P4" 2>>"$T/chunk$li.log"
dropst=$?
"$BIN/zbs-chunkd" -d "$T/c$li" -l 127.0.0.1:0 --meta "127.0.0.1:$PORT" --no-recover 2>>"$T/chunk$li.log" &
CPID[$li]=$!
wait_for 15 healthy_is 4
lost=$lcid@$(addr_of_cid "$lcid")
out2=$("$BIN/zbs-probe" -c "${lost#*@}" -p "$P4" -e "$E4" -L "$L4" sync 2>&1)
DIAG="$out2"
check "SYNC without --create of a missing replica: no such replica, nothing created" \
	test $dropst = 0 -a "$(grep -c 'status=4' <<< "$out2")" = 1 -a -z "$("$BIN/zbs-probe" -c "${lost#*@}" -p "$P4" -e "$E4" info 2>/dev/null | grep 'status=0')"
out=$(agent $UB map v 4 w)
m=$(grep '^map' <<< "$out")
DIAG="$out $(zc lease show "$P4")"
check "next owner: the missing replica (cid $lcid) is removed, not re-created at gen 0; map has the 2 others at gen 1" \
	test "$(field nr "$m")" = 2 -a "$(field gen "$m")" = 1 -a \
	"$(grep -c "[=,]$lcid@" <<< "$m")" = 0 -a "$(loc_count "$P4")" = 2
out=$(agent $UA map v 5 w)
m=$(grep '^map' <<< "$out")
DIAG="$out"
check "a never-written extent's replicas are still created on first use (3 at gen 0)" \
	test "$(field nr "$m")" = 3 -a "$(field gen "$m")" = 0

# --- a chunk at its connection limit is busy, not dead: the map is deferred
# (-EAGAIN, the kernel asks again), its replica is not removed
restart_chunk() {	# restart_chunk CID [chunkd options]: same dir, new port
	local cid=$1 i; shift
	for i in 1 2 3; do [ "$(cid_of $i)" = "$cid" ] && break; done
	kill "${CPID[$i]}"; wait "${CPID[$i]}"
	"$BIN/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:0 --meta "127.0.0.1:$PORT" --no-recover "$@" \
		2>>"$T/chunk$i.log" &
	CPID[$i]=$!
	wait_for 15 healthy_is 4
}
out=$(agent $UA map v 6 w)
m=$(grep '^map' <<< "$out")
P6=$(field pid "$m"); R6=$(field replicas "$m")
bcid=${R6%%,*}; bcid=${bcid%%@*}
restart_chunk "$bcid" --max-conns 1
baddr=$(addr_of_cid "$bcid")
exec 8<>"/dev/tcp/${baddr%:*}/${baddr#*:}"	# takes the chunk's one connection
out=$(agent $UB map v 6 w)
m=$(grep '^map' <<< "$out")
DIAG="$out $(zc lease show "$P6" 2>&1)"
check "a chunk at its connection limit (busy): map deferred with -EAGAIN, its replica kept (3 in location)" \
	test "$(field err "$m")" = -11 -a "$(loc_count "$P6")" = 3
exec 8>&-
out=
for _ in $(seq 50); do
	out=$(agent $UB map v 6 w)
	[ "$(field nr "$(grep '^map' <<< "$out")")" = 3 ] && break
	sleep 0.1
done
DIAG="$out"
check "once a connection is free, the map has all 3 replicas" \
	test "$(field nr "$(grep '^map' <<< "$out")")" = 3
restart_chunk "$bcid"

# --- the worker pool: many vextents at once
out=$(agent $UA amap big 0 16 w amap big 0 16 r leases)
DIAG="$(tail -5 <<< "$out")"
check "16 write maps at once through the pool: all answered, 3 replicas each, then 16 read maps" \
	test "$(grep -c '^amap done 16 ok 16' <<< "$out")" = 2 -a \
	"$(grep '^amap vext' <<< "$out" | grep -c ' nr=3 ')" = 32 -a \
	"$(grep -c '^leases 16' <<< "$out")" = 1
out=$("$BIN/zbs-agent-cli" --meta "127.0.0.1:$PORT" --uuid $UA wait amap v 2 2 r 2>>"$T/agent.log")
DIAG="$out"
check "pool: read maps of unallocated vextents answer -ENODATA" \
	test "$(grep -c 'err=-61' <<< "$out")" = 2

# --- a recovering target: in the pid's maps while it copies; while it
# finishes, the pid's map requests wait in the agent and are answered once
# it ended (not -EAGAIN, which the kernel would ask again only after its
# backoff, its writes on the extent parked meanwhile)
out=$(agent $UA map big 0 w target "$ACID" 127.0.0.1:1 amap big 0 1 w \
	target-finish target-del-after 1500 amap big 0 1 w)
DIAG="$out"
am=$(grep '^amap vext' <<< "$out")
check "a recovering target is in the pid's map as one more replica (4)" \
	test "$(grep -c '^target err=0' <<< "$out")" = 1 -a \
	"$(field nr "$(sed -n 1p <<< "$am")")" = 4
wms=$(grep '^amap took_ms' <<< "$out" | sed -n '2s/.* //p')
check "a map request while the target finishes waits for its end (${wms:-?} ms) and gets the 3 replicas" \
	test "$(field nr "$(sed -n 2p <<< "$am")")" = 3 -a "${wms:-0}" -ge 1000

# --- a pid asked for again whose replicas stay different: removed after settling
"$BIN/zbs-agent-cli" --meta "127.0.0.1:$PORT" --uuid $UA wait map big 5 w sleep 1500 map big 5 w \
	> "$T/st" 2>>"$T/agent.log" &
stpid=$!; BGPIDS+=($stpid)
wait_for 5 grep -q '^map' "$T/st"
m=$(grep '^map' "$T/st"); r=$(field replicas "$m"); r=${r%%,*}
head -c 4096 /dev/urandom | "$BIN/zbs-probe" -c "${r#*@}" -p "$(field pid "$m")" -e "$(field epoch "$m")" \
	-L "$(field lease_epoch "$m")" -g 0 write >/dev/null
wait $stpid
m2=$(grep '^map' "$T/st" | tail -1); took=$(grep '^took_ms' "$T/st" | tail -1 | cut -d' ' -f2)
DIAG="$(cat "$T/st")"
check "re-asked pid with a replica one write ahead for good: removed once stable (${took:-?} ms)" \
	test "$(field nr "$m2")" = 2 -a "$(grep -c "[=,]${r%%@*}@" <<< "$m2")" = 0 -a "${took:-9999}" -lt 1500

# --- revoke relay: meta revokes a pid through the keepalive
agent $UA map v 3 w sleep 2500 revokes leases > "$T/rv" &
BGPIDS+=($!); rvpid=$!
wait_for 5 grep -q '^map' "$T/rv"
P3=$(field pid "$(grep '^map' "$T/rv")")
owner3() { zc --json lease show "$P3" | jq_ 'd["owner_session"]'; }
o3=$(owner3)
zc lease revoke --pid "$P3" >/dev/null
wait_for 2 test "$(owner3)" = 0; o3b=$(owner3)	# the agent is still there (sleep 2500)
wait "$rvpid"
DIAG="$(cat "$T/rv") owner $o3 -> $o3b; $(grep 'REVOKE' "$T/metad.log" | tail -3)"
relayed() { grep -q "^revokes 1 type=2 volume= pid=$P3\$" "$T/rv" && grep -q '^leases 0' "$T/rv"; }
check "meta's revoke of pid $P3 is relayed through the hook and drops the cached lease" relayed
check "the agent acknowledges the revoke: meta releases the owner while its session lives" \
	test "$o3" != 0 -a "$o3b" = 0 -a -n "$(grep "REVOKE ACKED.*pid $P3 " "$T/metad.log")"

# --- takeover by another session after the first one expired; fencing
"$BIN/zbs-agent-cli" --meta "127.0.0.1:$PORT" --uuid $UA wait map v 2 w hold > "$T/a" 2>>"$T/agent.log" &
apid=$!; BGPIDS+=($apid)
wait_for 5 grep -q '^map' "$T/a"
m=$(grep '^map' "$T/a"); P2=$(field pid "$m"); E2=$(field epoch "$m"); LA=$(field lease_epoch "$m")
out=$(agent $UB map v 2 w)
DIAG="$out"
check "a second session asking while the owner lives gets -EAGAIN" \
	test "$(field err "$(grep '^map' <<< "$out")")" = -11
kill -9 $apid; wait $apid 2>/dev/null
takeover() { out=$(agent $UB map v 2 w); [ -n "$(field pid "$(grep '^map' <<< "$out")")" ]; }
wait_for 15 takeover
m=$(grep '^map' <<< "$out"); LB=$(field lease_epoch "$m")
DIAG="$out"
check "after the first session expired the second takes the lease: lease_epoch $LA -> $LB" \
	test -n "$LB" -a "${LB:-0}" -gt "$LA" -a "$(field nr "$m")" = 3
r=$(field replicas "$m"); r=${r%%,*}
st=$(head -c 4096 /dev/urandom | "$BIN/zbs-probe" -c "${r#*@}" -p "$P2" -e "$E2" -L "$LA" -g 0 write 2>&1)
DIAG="$st"
check "the old owner's lease_epoch is fenced at the chunk (ESTALE)" grep -qi stale <<< "$st"

# --- a killed chunk's replica is removed on the next map
kcid=$(cid_of 2)
kill -9 "${CPID[2]}"; wait "${CPID[2]}" 2>/dev/null; unset 'CPID[2]'
out=$(agent $UB map v 2 w)
m=$(grep '^map' <<< "$out")
DIAG="$out $(zc lease show "$P2")"
check "killed chunk (cid $kcid): its replica is dropped from the map and from meta's location" \
	test "$(field nr "$m")" = 2 -a "$(grep -c "[=,]$kcid@" <<< "$m")" = 0 -a \
	"$(loc_count "$P2")" = 2

# --- a replica that accepts but never answers: bounded by the data timeout
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$T/bhport" &
BGPIDS+=($!)
wait_for 5 test -s "$T/bhport"
"$BIN/zbs-fake-chunk" --meta "127.0.0.1:$PORT" --uuid 44444444-4444-4444-8444-444444444444 \
	--data "127.0.0.1:$(cat "$T/bhport")" --rpc "127.0.0.1:$(cat "$T/bhport")" 2>>"$T/fake.log" &
BGPIDS+=($!)
expired() { zc chunk show "$kcid" | grep -q SESSION_EXPIRED; }
wait_for 10 expired	# the killed chunk must not be placed
wait_for 10 healthy_is 4
BH=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['uuid']=='44444444-4444-4444-8444-444444444444'][0]")
zc volume create bh 256M --replica 3 --prefer-cid "$BH" >/dev/null
out=$("$BIN/zbs-agent-cli" --meta "127.0.0.1:$PORT" --uuid $UB --data-timeout-ms 1000 \
	wait map bh 0 w 2>>"$T/agent.log")
m=$(grep '^map' <<< "$out"); took=$(sed -n 's/^took_ms //p' <<< "$out")
PB=$(field pid "$m")
DIAG="$out $(zc lease show "$PB" 2>&1)"
check "a replica that never answers SYNC is removed after the data timeout (${took:-?} ms), map has the 2 others" \
	test "$(field nr "$m")" = 2 -a "$(grep -c "[=,]$BH@" <<< "$m")" = 0 -a \
	"${took:-99999}" -lt 5000 -a "$(loc_count "$PB")" = 2

# --- zbsctl attach/detach error paths (no module on this host)
zc attach nosuchvol >/dev/null 2>"$T/e"; st=$?
DIAG="$(cat "$T/e")"
check "attach of an unknown volume: exit 3" test $st = 3
zc --control "$T/no-control" attach v --io-timeout-ms 5000 >/dev/null 2>"$T/e"; st=$?
DIAG="$(cat "$T/e")"
check "attach with no module: exit 4 and says the module is not loaded" \
	test $st = 4 -a -n "$(grep 'module is not loaded' "$T/e")"

kill -TERM "${CPID[access]}"; wait "${CPID[access]}"; st=$?; unset 'CPID[access]'
check "access-only chunkd leaves on SIGTERM with exit 0" test $st = 0
# an access-only chunkd without --uuid keeps its identity across restarts
nchunks() { zc --json chunk list | jq_ 'len(d)'; }
n0=$(nchunks)
for run in 1 2; do
	"$BIN/zbs-chunkd" --meta "127.0.0.1:$PORT" --no-recover 2>>"$T/access2.log" &
	p=$!
	wait_for 15 test "$(grep -c 'registered as chunk' "$T/access2.log")" = $run
	kill -TERM $p; wait $p
done
DIAG="$(zc chunk list)"
check "an access-only chunkd restarted without --uuid registers as the same chunk (1 new, not 2)" \
	test "$(grep -c 'registered as chunk' "$T/access2.log")" = 2 -a "$(nchunks)" = $((n0 + 1))
DIAG="$(grep -h -A5 -E 'Sanitizer|runtime error' "$T"/*.log | head -20)"
check "no sanitizer report from any agent or chunkd process" \
	test -z "$(grep -l -E 'Sanitizer|runtime error' "$T"/*.log)"
tap_exit
