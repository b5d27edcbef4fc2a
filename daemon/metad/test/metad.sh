#!/usr/bin/env bash
# Integration tests of zbs-metad on loopback: fake chunks (the real chunk-side
# session code without a store), zbsctl and the lease RPCs through the client
# library, persistence across kill -9, malformed frames. Prints TAP.
set -u
BIN=${ZBS_BIN:-$(cd "$(dirname "$0")/../../.." && pwd)/build/san}
T=$(mktemp -d /tmp/zbs-metad-test.XXXXXX)
LEASE_MS=1500
META_PID= PORT=
declare -A CHUNK_PID CHUNK_UUID

KEEPER=
cleanup() {
	[ -n "$KEEPER" ] && kill "$KEEPER" 2>/dev/null
	for c in "${!CHUNK_PID[@]}"; do kill -9 "${CHUNK_PID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/../../../tools/tap.sh"

zc() { "$BIN/zbsctl" --meta "127.0.0.1:$PORT" "$@"; }
cli() { "$BIN/zbs-meta-cli" "127.0.0.1:$PORT" "$@"; }

start_meta() { # start_meta [PORT]
	rm -f "$T/port"
	"$BIN/zbs-metad" -d "$T/meta" -l "127.0.0.1:${1:-0}" --port-file "$T/port" \
		--session-lease-ms $LEASE_MS --alive-grace-ms 3000 -v debug 2>>"$T/metad.log" &
	META_PID=$!
	wait_for 10 test -s "$T/port" || return 1
	PORT=$(cat "$T/port")
}
start_chunk() { # start_chunk IDX
	local i=$1
	[ -n "${CHUNK_UUID[$i]:-}" ] || CHUNK_UUID[$i]=$(cat /proc/sys/kernel/random/uuid)
	touch "$T/rep$i"
	"$BIN/zbs-fake-chunk" --meta "127.0.0.1:$PORT" --uuid "${CHUNK_UUID[$i]}" \
		--data "127.0.0.$i:$((20000 + i))" --rpc "127.0.0.$i:$((21000 + i))" \
		--space 100G --replicas "$T/rep$i" --events "$T/ev$i" 2>>"$T/chunk$i.log" &
	CHUNK_PID[$i]=$!
}
healthy_count() { zc chunk list | grep -c CONNECTED_HEALTHY; }
healthy_is() { [ "$(healthy_count)" = "$1" ]; }
sid_of() { zc --json session list | jq_ "[s['session_id'] for s in d if s['cid']==$1][0]"; }
cid_of() { zc --json chunk list | jq_ "[c['cid'] for c in d if c['uuid']=='${CHUNK_UUID[$1]}'][0]"; }

echo "1..45"

# ---- startup, registration, sessions --------------------------------------
if start_meta; then ok "metad starts and listens (port $PORT)"; else not_ok "metad starts"; echo "Bail out!"; exit 1; fi
check "default topology zone > rack > brick" bash -c "$(declare -f zc); PORT=$PORT BIN=$BIN; zc topo list | grep -q 'brick  default'"
for i in 1 2 3; do start_chunk $i; done
if wait_for 10 healthy_is 3; then ok "3 chunks register and become CONNECTED_HEALTHY"; else not_ok "3 chunks healthy" "$(zc chunk list)"; fi
c1=$(cid_of 1) c2=$(cid_of 2) c3=$(cid_of 3)
if [ "$(printf '%s\n' "$c1" "$c2" "$c3" | sort -n | tr '\n' ' ')" = "1 2 3 " ]; then ok "cids 1..3 bound to the uuids"; else not_ok "cids" "$c1 $c2 $c3"; fi
kill "${CHUNK_PID[3]}"; wait "${CHUNK_PID[3]}" 2>/dev/null
if wait_for 10 healthy_is 2 && zc chunk show "$c3" | grep -q SESSION_EXPIRED; then
	ok "chunk leaving its session turns SESSION_EXPIRED"
else not_ok "leave session" "$(zc chunk list)"; fi
start_chunk 3
if wait_for 10 healthy_is 3 && [ "$(cid_of 3)" = "$c3" ] && [ "$(zc --json chunk list | jq_ 'len(d)')" = 3 ]; then
	ok "re-registration with the same uuid keeps the cid"
else not_ok "re-registration" "$(zc chunk list)"; fi
if [ "$(zc --json session list | jq_ 'sum(1 for s in d if s["alive"])')" = 3 ]; then ok "session list: 3 alive sessions"; else not_ok "session list" "$(zc session list)"; fi

# ---- volumes ---------------------------------------------------------------
zc volume create v1 1000 > "$T/out" 2>&1; st=$?
if [ $st = 2 ] && grep -q "multiple of the sector" "$T/out"; then ok "size not a multiple of the sector: exit 2 with a message"; else not_ok "sector size" "exit $st" "$(cat "$T/out")"; fi
zc volume create v1 10X > "$T/out" 2>&1; st=$?
if [ $st = 2 ] && grep -q "want a size" "$T/out"; then ok "bad size unit: exit 2"; else not_ok "bad size unit" "exit $st"; fi
zc volume create big 200G --thick --replica 3 > "$T/out" 2>&1; st=$?
if [ $st = 1 ] && grep -q "not enough space" "$T/out" && ! zc volume list | grep -q big; then ok "thick volume beyond free space refused, nothing created"; else not_ok "thick space" "exit $st" "$(cat "$T/out")"; fi
zc volume show nosuch > "$T/out" 2>&1; st=$?
if [ $st = 3 ] && grep -q "volume 'nosuch' not found" "$T/out"; then ok "unknown volume: exit 3"; else not_ok "unknown volume" "exit $st"; fi
if zc volume create v1 10G --replica 3 --stripe-num 4 --iops 1000 --bps 100M >/dev/null &&
   zc --json volume show v1 | jq_ 'd["size"]==10737418240 and d["replica_num"]==3 and d["stripe_num"]==4 and d["thin"] and d["vextents"]==40 and d["bps"]==104857600' | grep -q True &&
   zc volume resize v1 20G >/dev/null && [ "$(zc --json volume show v1 | jq_ 'd["vextents"]')" = 80 ]; then
	ok "thin volume create, show, resize (grow)"
else not_ok "volume create/show/resize" "$(zc volume show v1 2>&1)"; fi
zc volume resize v1 1G > "$T/out" 2>&1; st=$?
if [ $st = 2 ] && grep -q "shrinking" "$T/out"; then ok "shrink refused"; else not_ok "shrink" "exit $st"; fi
zc volume create v1 1G > "$T/out" 2>&1; st=$?
if [ $st = 1 ] && grep -q "already exists" "$T/out"; then ok "duplicate volume name refused"; else not_ok "duplicate" "exit $st"; fi
if zc volume create tk 1G --thick --replica 2 >/dev/null &&
   [ "$(zc --json volume show tk --pextents | jq_ 'len(d["pextents"])')" = 4 ] &&
   zc --json volume show tk --pextents | jq_ 'all(p["location"]>255 and p["location"]<65536 and p["expected_replica_num"]==2 for p in d["pextents"])' | grep -q True; then
	ok "thick volume reserves every extent with 2 replicas at creation"
else not_ok "thick volume" "$(zc volume show tk --pextents 2>&1)"; fi

# ---- leases ------------------------------------------------------------------
s1=$(sid_of "$c1") s2=$(sid_of "$c2")
cli lease v1 0 write "$s1" > "$T/l1"; st1=$?
pid=$(sed -n 's/^pid=//p' "$T/l1"); epoch=$(sed -n 's/^epoch=//p' "$T/l1")
if [ $st1 = 0 ] && grep -q '^lease_epoch=1$' "$T/l1" && grep -q "^owner=$s1$" "$T/l1" &&
   [ "$(grep -c '^chunk=' "$T/l1")" = 3 ] && grep -q "^loc=\[$c1 " "$T/l1"; then
	ok "first write lease allocates pid $pid on 3 chunks, prefer-local first, lease_epoch 1"
else not_ok "first write lease" "$(cat "$T/l1")"; fi
cli lease v1 0 write "$s2" > "$T/l2"; st=$?
if [ $st = 5 ] && grep -q "owned by session $s1 (cid $c1)" "$T/l2"; then ok "another live session gets 'owned by'"; else not_ok "owned by" "exit $st" "$(cat "$T/l2")"; fi
cli lease v1 0 read "$s1" > "$T/l3"
if grep -q '^lease_epoch=1$' "$T/l3" && grep -q "^pid=$pid$" "$T/l3"; then ok "repeat grant keeps lease_epoch"; else not_ok "repeat grant" "$(cat "$T/l3")"; fi
if cli release "$pid" "$s1" >/dev/null && cli lease v1 0 write "$s2" > "$T/l4" && grep -q '^lease_epoch=2$' "$T/l4" &&
   [ "$(zc --json lease show "$pid" | jq_ 'd["owner_cid"]')" = "$c2" ]; then
	ok "after release the owner changes and lease_epoch rises to 2"
else not_ok "owner change" "$(cat "$T/l4")"; fi

# ---- expiry: stop the owner's chunk ------------------------------------------------
kill -9 "${CHUNK_PID[2]}"; wait "${CHUNK_PID[2]}" 2>/dev/null; unset "CHUNK_PID[2]"
owner_gone() { [ "$(zc --json lease show "$pid" | jq_ 'd["owner_session"]')" = 0 ]; }
if wait_for 10 owner_gone && zc chunk show "$c2" | grep -q SESSION_EXPIRED; then
	ok "killed chunk: session expires, chunk SESSION_EXPIRED, its leases released"
else not_ok "expiry" "$(zc lease show "$pid" 2>&1)"; fi
if cli lease v1 0 write "$s1" | grep -q '^lease_epoch=3$'; then ok "lease granted to another session after expiry (lease_epoch 3)"; else not_ok "grant after expiry"; fi

# ---- data report, revoke and GC through keepalive replies --------------------------
vid=$(zc --json volume show v1 | jq_ 'd["id"]')
echo "$pid $epoch 0" > "$T/rep1"
echo "$pid $epoch 0" > "$T/rep3"
zc volume delete v1 >/dev/null
gc_seen() { grep -q "^gc $pid $epoch$" "$T/ev1" && grep -q "^gc $pid $epoch$" "$T/ev3"; }
if wait_for 10 gc_seen && grep -q "^revoke 1 $vid" "$T/ev1" && ! zc volume list | grep -q '^v1 '; then
	ok "volume delete: revoke delivered, replicas GC-deleted on chunks via keepalive replies"
else not_ok "GC" "$(cat "$T/ev1" 2>&1)"; fi

# ---- persistence across kill -9 ---------------------------------------------------
zc volume create p1 5G --replica 2 >/dev/null
pv=$(zc --json volume show p1 | jq_ 'd["id"]')
cli lease p1 3 write "$s1" > "$T/lp"
ppid=$(sed -n 's/^pid=//p' "$T/lp"); ploc=$(sed -n 's/^location=//p' "$T/lp")
sessions_before=$(zc --json session list | jq_ 'sorted(s["session_id"] for s in d)')
kill -9 "$META_PID"; wait "$META_PID" 2>/dev/null
start_meta "$PORT" || { sleep 0.5; start_meta "$PORT"; }
if [ "$(zc --json volume show p1 | jq_ 'd["id"]')" = "$pv" ] &&
   [ "$(zc --json lease show "$ppid" | jq_ 'd["location"]')" = "$ploc" ] &&
   [ "$(zc --json lease show "$ppid" | jq_ 'd["owner_session"]')" = "$s1" ] &&
   zc volume show tk >/dev/null; then
	ok "kill -9 and restart: volumes, pextents, lease owner kept"
else not_ok "persistence" "$(zc volume list 2>&1)"; fi
sleep $((LEASE_MS * 2 / 1000 + 1))	# longer than a lease: renewals must work
if [ "$(zc --json session list | jq_ 'sorted(s["session_id"] for s in d)')" = "$sessions_before" ] && wait_for 5 healthy_is 2; then
	ok "sessions survive a quick restart and keep being renewed"
else not_ok "session reuse" "$sessions_before vs $(zc session list 2>&1)"; fi

# ---- kill -9 under load: every acknowledged create survives -------------------------
( i=0; while :; do i=$((i + 1)); zc volume create "k$i" 1G >/dev/null 2>&1 && echo "k$i" >> "$T/acked" || exit 0; done ) &
loader=$!
wait_for 10 test -s "$T/acked"; sleep 0.3
kill -9 "$META_PID"; wait "$META_PID" 2>/dev/null; wait "$loader" 2>/dev/null
start_meta "$PORT" || { sleep 0.5; start_meta "$PORT"; }
zc --json volume list | jq_ '"\n".join(v["name"] for v in d)' > "$T/listed"
missing=$(grep -vxFf "$T/listed" "$T/acked" | tr '\n' ' ')
if [ -s "$T/acked" ] && [ -z "$missing" ]; then ok "kill -9 under load: all $(wc -l < "$T/acked") acknowledged creates survive"; else not_ok "kill -9 under load" "missing: $missing"; fi

# ---- meta down longer than a lease: chunks notice, get new sessions ------------------
old_sessions=$(zc --json session list | jq_ 'sorted(s["session_id"] for s in d)')
kill -9 "$META_PID"; wait "$META_PID" 2>/dev/null
sleep $((LEASE_MS * 2 / 1000 + 1))
start_meta "$PORT" || { sleep 0.5; start_meta "$PORT"; }
new_sessions() { [ "$(healthy_count)" = 2 ] && [ "$(zc --json session list | jq_ 'sorted(s["session_id"] for s in d)')" != "$old_sessions" ]; }
if wait_for 10 new_sessions && grep -q "^revoke 3 " "$T/ev1" && [ "$(zc --json lease show "$ppid" | jq_ 'd["owner_session"]')" = 0 ]; then
	ok "meta down beyond the lease: chunks drop their leases and create new sessions; old owners released"
else not_ok "session re-creation" "$(zc session list 2>&1)" "$(cat "$T/ev1")"; fi
s1=$(sid_of "$c1")
cli lease p1 3 write "$s1" >/dev/null

"$BIN/zbs-metad" -d "$T/meta" -l 127.0.0.1:0 > "$T/second" 2>&1; st=$?
if [ $st = 1 ] && grep -q "in use by another zbs-metad" "$T/second" && zc volume list >/dev/null; then
	ok "a second metad on the same data dir refuses to start"
else not_ok "data dir lock" "exit $st" "$(cat "$T/second")"; fi

# ---- revoke by pid through zbsctl, delivered on the keepalive reply ------------------
if [ "$(zc --json lease revoke --pid "$ppid" | jq_ 'd["released"]')" = 1 ] &&
   wait_for 5 grep -q "^revoke 2 - $ppid$" "$T/ev1" &&
   wait_for 5 test "$(zc --json lease show "$ppid" | jq_ 'd["owner_session"]')" = 0; then
	ok "lease revoke --pid: chunk told on its keepalive, owner released on its acknowledgement"
else not_ok "revoke pid" "$(cat "$T/ev1")"; fi

# ---- malformed frames ---------------------------------------------------------------
bad=""
for c in bad-magic oversize bad-flags reply-flag garbage-body unknown-field unknown-method unknown-service truncated send-and-close; do
	cli raw $c > "$T/raw" 2>&1 || bad="$bad $c($(tr '\n' ' ' < "$T/raw"))"
done
if [ -z "$bad" ] && kill -0 "$META_PID" && zc volume list >/dev/null; then
	ok "malformed frames closed, bad bodies/methods answered, unknown fields ignored, server keeps serving"
else not_ok "malformed" "$bad"; fi

# ---- a client that never reads its replies: metad's queue for it is bounded ---------
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$META_PID/status"; }
rss0=$(rss_kb)
ZBS_FLOOD_HOLD_S=4 cli raw flood > "$T/flood" 2>&1 &
flood=$!
wait_for 10 grep -q "^sent=" "$T/flood"
rss1=$(rss_kb)
if grep -q "^sent=" "$T/flood" && zc volume list >/dev/null && [ $((rss1 - rss0)) -lt 65536 ]; then
	ok "a client flooding requests unread: $(sed -n 's/^sent=//p' "$T/flood") sent, metad grew $(((rss1 - rss0) / 1024)) MiB and serves others"
else not_ok "flood" "rss $rss0 -> $rss1 kB" "$(cat "$T/flood")"; fi
wait "$flood"

# ---- recovery: status, config, scan, list, migrate errors -----------------------------
# chunk 2 is gone: its replicas need recovering, but no fake chunk runs recover
# cmds (no CAP_RECOVER), so none is issued
zc volume create mg 256M --thick --replica 2 >/dev/null
mpid=$(zc --json volume show mg --pextents | jq_ 'd["pextents"][0]["pid"]')
mepoch=$(zc --json lease show "$mpid" | jq_ 'd["epoch"]')
echo "$mpid $mepoch 0" >> "$T/rep1"	# reported: its replicas stay alive
echo "$mpid $mepoch 0" >> "$T/rep3"
scanned() { zc --json recover status | jq_ 'd["last_scan_ms"] < 3000 and d["need_recover"] + d["dead"] >= 1 and d["cmds_running"] + d["cmds_waiting"] == 0' | grep -q True; }
if zc recover scan | grep -q "scan started" && wait_for 10 scanned &&
   zc --json recover status | jq_ 'd["config"] == {"slots": 128, "concurrency": 32, "bps": 0, "timeout_ms": 1080000, "scan_interval_ms": 60000}' | grep -q True &&
   [ "$(zc --json recover list | jq_ 'len(d)')" = 0 ] && zc recover status | grep -q "need recover:"; then
	ok "recover scan/status/list: the lost chunk's pextents need recovery, defaults shown, no cmd without CAP_RECOVER"
else not_ok "recover status" "$(zc --json recover status 2>&1)" "$(zc --json recover list 2>&1)"; fi
zc recover set --slots 0 > "$T/out" 2>&1; st1=$?
zc recover set --slots 100001 > "$T/out2" 2>&1; st2=$?
zc recover set > "$T/out3" 2>&1; st3=$?
if [ $st1 = 2 ] && [ $st2 = 2 ] && grep -q "slots 100001: want 1..100000" "$T/out2" && [ $st3 = 2 ] &&
   grep -q "needs at least one of" "$T/out3"; then
	ok "recover set refuses nonsense (slots 0, slots > 100000, nothing to set): exit 2"
else not_ok "recover set validation" "$st1 $(cat "$T/out")" "$st2 $(cat "$T/out2")" "$st3 $(cat "$T/out3")"; fi
zc --json recover set --slots 64 --bps 10M --timeout-ms 600000 --scan-interval-ms 5000 > "$T/set"
kill -9 "$META_PID"; wait "$META_PID" 2>/dev/null
start_meta "$PORT" || { sleep 0.5; start_meta "$PORT"; }
if jq_ 'd["config"] == {"slots": 64, "concurrency": 32, "bps": 10485760, "timeout_ms": 600000, "scan_interval_ms": 5000}' < "$T/set" | grep -q True &&
   zc --json recover status | jq_ 'd["config"]["slots"] == 64 and d["config"]["bps"] == 10485760 and d["config"]["scan_interval_ms"] == 5000' | grep -q True &&
   zc --json recover set --bps unlimited | jq_ 'd["config"]["bps"] == 0 and d["config"]["slots"] == 64' | grep -q True; then
	ok "recover set: changed online, kept across a kill -9 restart, 0 keeps a field, bps back to unlimited"
else not_ok "recover set persistence" "$(zc recover status 2>&1)"; fi
mloc=$(zc --json lease show "$mpid" | jq_ 'd["location"]')
ma=$((mloc & 255)) mb=$((mloc >> 8 & 255))
zc migrate create 999999 --src "$ma" --dst "$c2" --replace "$mb" > "$T/out" 2>&1; st1=$?
zc migrate create "$mpid" --src "$ma" --dst "$mb" --replace "$mb" > "$T/out2" 2>&1; st2=$?
zc migrate create "$mpid" --src "$ma" --dst "$c2" --replace "$mb" > "$T/out3" 2>&1; st3=$?
zc migrate create "$mpid" --src "$ma" --dst "$c2" > "$T/out4" 2>&1; st4=$?
if [ $st1 = 3 ] && grep -q "pid 999999 not found" "$T/out" &&
   [ $st2 = 2 ] && grep -q "(dst has the replica)" "$T/out2" &&
   [ $st3 = 2 ] && grep -q "(dst unusable)" "$T/out3" &&
   [ $st4 = 2 ] && grep -q "needs PID, --src, --dst and --replace" "$T/out4"; then
	ok "migrate create errors name the check: unknown pid exit 3, dst holding it / dst down exit 2, missing --replace exit 2"
else not_ok "migrate create errors" "$st1 $(cat "$T/out")" "$st2 $(cat "$T/out2")" "$st3 $(cat "$T/out3")" "$st4 $(cat "$T/out4")"; fi
start_chunk 4
c4=
has_space() { c4=$(cid_of 4) && [ -n "$c4" ] && [ "$(zc --json chunk show "$c4" | jq_ 'd["space"].get("valid", 0) > 0 and d["status"] == "CONNECTED_HEALTHY"')" = True ]; }
wait_for 10 has_space
zc --json migrate create "$mpid" --src "$ma" --dst "$c4" --replace "$mb" > "$T/out" 2>&1; st=$?
if [ $st = 1 ] && grep -q "(no owner)" "$T/out" && [ "$(zc --json recover list | jq_ 'len(d)')" = 0 ]; then
	ok "migrate create with no chunk running recover cmds: refused (no owner), nothing left behind"
else not_ok "migrate no owner" "exit $st" "$(cat "$T/out")"; fi
# a chunk that runs recover cmds (zbs-meta-cli plays it; no CAP_REVOKE_ACK,
# so leases given back are released at once): it owns the migrate, gets it
# in every keepalive reply until it acknowledges it, and ends it with
# ReplaceReplica. The scheduler gives it recovers of its own meanwhile (the
# pextents chunk 2 left): only the migrate's pid is looked at.
CX_CAPS=55
cli chunk "$(cat /proc/sys/kernel/random/uuid)" 127.0.0.9:20009 127.0.0.9:21009 $CX_CAPS > "$T/cx"
cx=$(sed -n 's/^cid=//p' "$T/cx") sx=$(sed -n 's/^session=//p' "$T/cx")
ka() { cli keepalive "$sx" $CX_CAPS "$@"; }
mine() { zc --json recover list | jq_ "[c['delivered'] for c in d if c['pid'] == $mpid]"; }
( while :; do ka >/dev/null; sleep 0.2; done ) &	# its session stays alive
KEEPER=$!
wait_for 5 ka >/dev/null
zc --json migrate create "$mpid" --src "$ma" --dst "$cx" --replace "$mb" > "$T/mc" 2>&1; st=$?
rid=$(jq_ 'd["cmd_id"]' < "$T/mc" 2>/dev/null)
ka > "$T/ka1"; ka > "$T/ka2"
rle=$(sed -n "s/^recover id=$rid .* lease_epoch=\([0-9]*\) .*/\1/p" "$T/ka1")
ka "$rid" > "$T/ka3"
if [ $st = 0 ] && jq_ "d['owner_cid'] == $cx and d['dst_cid'] == $cx and d['is_migrate'] and not d['delivered']" < "$T/mc" | grep -q True &&
   grep -q "^recover id=$rid pid=$mpid epoch=$mepoch lease_epoch=$rle src=$ma@127.0.0.$ma:2000$ma dst=$cx@127.0.0.9:20009 replace=$mb migrate=1 thick=1 " "$T/ka1" &&
   grep -q "^recover id=$rid " "$T/ka2" && ! grep -q "^recover id=$rid " "$T/ka3" && grep -q "^recover_concurrency=32$" "$T/ka3" &&
   [ "$(mine)" = "[True]" ]; then
	ok "migrate onto a chunk that runs cmds: it owns it; CMD_RECOVER in every keepalive reply until acknowledged"
else not_ok "recover cmd delivery" "exit $st $(cat "$T/mc")" "$(cat "$T/ka1")" "$(cat "$T/ka3")"; fi
cli replace "$sx" "$rid" "$mpid" "$mepoch" $((rle - 1)) "$cx" "$mb" 0 ok > "$T/rr1"; st1=$?
cli replace "$sx" 12345 "$mpid" "$mepoch" "$rle" "$cx" "$mb" 0 ok > "$T/rr2"; st2=$?
if [ $st1 = 7 ] && grep -q "lease_epoch" "$T/rr1" && [ $st2 = 2 ] && grep -q "no live recover cmd 12345" "$T/rr2" &&
   [ "$(mine)" = "[]" ] && zc --json recover status | jq_ 'd["failed"] >= 1' | grep -q True &&
   [ "$(zc --json lease show "$mpid" | jq_ 'd["owner_session"]')" = 0 ]; then
	ok "ReplaceReplica refused: a stale lease_epoch from the owner ends the cmd (owner released), an unknown cmd id is an error"
else not_ok "replace refusals" "$st1 $(cat "$T/rr1")" "$st2 $(cat "$T/rr2")" "$(mine)"; fi
zc --json migrate create "$mpid" --src "$ma" --dst "$cx" --replace "$mb" > "$T/mc" 2>&1
rid=$(jq_ 'd["cmd_id"]' < "$T/mc" 2>/dev/null)
ka > "$T/ka1"
rle=$(sed -n "s/^recover id=$rid .* lease_epoch=\([0-9]*\) .*/\1/p" "$T/ka1")
ka "$rid" >/dev/null
gc_of_replaced() { grep -q "^gc $mpid $mepoch$" "$T/ev1" || grep -q "^gc $mpid $mepoch$" "$T/ev3"; }
if cli replace "$sx" "$rid" "$mpid" "$mepoch" "$rle" "$cx" "$mb" 0 ok >/dev/null &&
   loc=$(zc --json lease show "$mpid" | jq_ 'd["location"]') && [ $((loc & 255)) = "$ma" ] && [ $((loc >> 8 & 255)) = "$cx" ] &&
   zc --json lease show "$mpid" | jq_ "d['alive_location'] == d['location']" | grep -q True &&
   zc --json recover status | jq_ 'd["done"] == 1' | grep -q True && [ "$(mine)" = "[]" ] && wait_for 5 gc_of_replaced &&
   grep -q "\[REPLACE REPLICA\] cmd $rid pid $mpid" "$T/metad.log" && grep -q "\[RECOVER\] cmd $rid pid $mpid" "$T/metad.log" &&
   grep -q "add recover cmd by rpc for pid: $mpid src: $ma dst: $cx replace: $mb owner: $cx" "$T/metad.log"; then
	ok "ReplaceReplica ok: dst takes replace's slot, alive at once, the replaced replica GC'd on its chunk; logged"
else not_ok "replace replica" "$(cat "$T/mc")" "$(grep -i 'recover\|replace' "$T/metad.log" | tail -12)" "$(zc lease show "$mpid" 2>&1)" "$(zc recover status 2>&1)"; fi
kill "$KEEPER"; wait "$KEEPER" 2>/dev/null; KEEPER=
if grep -q "Set recover config: slots 64" "$T/metad.log" && grep -q "recover scan done:" "$T/metad.log"; then
	ok "the log names the config change and the scans"
else not_ok "recover log lines"; fi

# ---- chunk maintenance mode (SPEC 5.10) ----------------------------------------------
mc=$(zc --json chunk list | jq_ 'd[0]["cid"]')
zc chunk maintenance 200 on > "$T/mm1" 2>&1; st1=$?
zc chunk maintenance "$mc" on --expire 5x > "$T/mm2" 2>&1; st2=$?
zc chunk maintenance "$mc" on --expire 0s > "$T/mm3" 2>&1; st3=$?
zc chunk maintenance "$mc" off --expire 1h > "$T/mm4" 2>&1; st4=$?
zc chunk maintenance "$mc" sideways > "$T/mm5" 2>&1; st5=$?
if [ $st1 = 3 ] && grep -q "chunk 200 not found" "$T/mm1" && [ $st2 = 2 ] && grep -q "want a duration" "$T/mm2" &&
   [ $st3 = 2 ] && [ $st4 = 2 ] && [ $st5 = 2 ] &&
   [ "$(zc --json chunk show "$mc" | jq_ 'd["maintenance"]')" = False ]; then
	ok "chunk maintenance: an unknown cid, a bad duration, --expire with off, a bad mode are refused, nothing changes"
else not_ok "maintenance errors" "$st1 $(cat "$T/mm1")" "$st2 $(cat "$T/mm2")" "$st3 $st4 $st5"; fi
now_ns=$(($(date +%s) * 1000000000))
zc chunk maintenance "$mc" on --expire 2h > "$T/mm1" 2>&1; st1=$?
until_ns=$(zc --json chunk show "$mc" | jq_ 'd["maintenance_until_ns"]')
if [ $st1 = 0 ] && grep -q "chunk $mc: maintenance until" "$T/mm1" &&
   [ "$until_ns" -ge $((now_ns + 7190 * 1000000000)) ] && [ "$until_ns" -le $((now_ns + 7210 * 1000000000)) ] &&
   zc chunk list | grep -E "^ +$mc " | grep -q "maintenance until" &&
   [ "$(zc --json chunk list | jq_ "[c['maintenance'] for c in d if c['cid']==$mc][0]")" = True ] &&
   grep -q "Set chunk maintenance mode: cid $mc on for 7200 s" "$T/metad.log"; then
	ok "chunk maintenance on --expire 2h: shown in chunk list and --json until now + 2 h; logged"
else not_ok "maintenance on" "$st1 $(cat "$T/mm1")" "$until_ns vs $now_ns" "$(zc chunk list 2>&1)"; fi
zc --json chunk maintenance "$mc" off > "$T/mm1" 2>&1; st1=$?
if [ $st1 = 0 ] && [ "$(jq_ 'd["maintenance"]' < "$T/mm1")" = False ] &&
   zc chunk list | grep -E "^ +$mc " | grep -qv "maintenance" &&
   grep -q "Set chunk maintenance mode: cid $mc off" "$T/metad.log"; then
	ok "chunk maintenance off: gone from chunk list; logged"
else not_ok "maintenance off" "$st1 $(cat "$T/mm1")" "$(zc chunk list 2>&1)"; fi

zc chunk remove 200 > "$T/mm1" 2>&1; st1=$?
zc chunk remove "$mc" --now > "$T/mm2" 2>&1; st2=$?
zc chunk remove > "$T/mm3" 2>&1; st3=$?
zc chunk remove "$mc" --cancel > "$T/mm4" 2>&1; st4=$?
if [ $st1 = 3 ] && grep -q "chunk 200 not found" "$T/mm1" && [ $st2 = 2 ] && [ $st3 = 2 ] &&
   [ $st4 = 0 ] && grep -q "chunk $mc: not being removed" "$T/mm4" &&
   [ "$(zc --json chunk show "$mc" | jq_ 'd["removing"]')" = False ]; then
	ok "chunk remove: an unknown cid, bad arguments refused; --cancel of a chunk not being removed changes nothing"
else not_ok "chunk remove errors" "$st1 $(cat "$T/mm1")" "$st2 $st3" "$st4 $(cat "$T/mm4")"; fi

# ---- CLI conventions ----------------------------------------------------------------
helpok=1
for o in chunk topo volume lease session recover migrate; do "$BIN/zbsctl" $o --help | grep -q Usage || helpok=0; done
"$BIN/zbsctl" volume create --help | grep -q "create NAME SIZE" || helpok=0
"$BIN/zbsctl" volume frob >/dev/null 2>&1; [ $? = 2 ] || helpok=0
"$BIN/zbsctl" --meta 127.0.0.1:1 volume list >/dev/null 2>&1; [ $? = 4 ] || helpok=0
if [ $helpok = 1 ]; then ok "--help at every level, usage exit 2, unreachable meta exit 4"; else not_ok "cli conventions"; fi

kill -TERM "$META_PID"; wait "$META_PID"; st=$?; META_PID=
if [ $st = 0 ]; then ok "metad shuts down cleanly on SIGTERM (sanitizers quiet)"; else not_ok "clean shutdown" "exit $st" "$(tail -5 "$T/metad.log")"; fi
[ $failed = 0 ] || { echo "# metad log tail:"; tail -30 "$T/metad.log" | sed 's/^/#   /'; }
tap_exit
