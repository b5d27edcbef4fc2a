#!/usr/bin/env bash
# zbs-metad with real zbs-chunkd processes (--meta): registration with the
# identity kept in the data dir, space and data reports, lease + data
# protocol writes, GC of a deleted volume's replicas, expiry of a killed
# chunk, reconnection after a metad restart. Prints TAP.
set -u
BIN=${ZBS_BIN:-$(cd "$(dirname "$0")/../../.." && pwd)/build/san}
T=$(mktemp -d /tmp/zbs-metad-chunkd.XXXXXX)
LEASE_MS=1500
META_PID= PORT=
declare -A CPID

cleanup() {
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/../../../tools/tap.sh"
zc() { "$BIN/zbsctl" --meta "127.0.0.1:$PORT" "$@"; }
cli() { "$BIN/zbs-meta-cli" "127.0.0.1:$PORT" "$@"; }
start_meta() {
	rm -f "$T/port"
	"$BIN/zbs-metad" -d "$T/meta" -l "127.0.0.1:${1:-0}" --port-file "$T/port" \
		--session-lease-ms $LEASE_MS --alive-grace-ms 2000 2>>"$T/metad.log" &
	META_PID=$!
	wait_for 10 test -s "$T/port" || return 1
	PORT=$(cat "$T/port")
}
start_chunk() {
	"$BIN/zbs-chunkd" -d "$T/c$1" -l 127.0.0.1:0 --meta "127.0.0.1:$PORT" 2>>"$T/chunk$1.log" &
	CPID[$1]=$!
}
healthy_is() { [ "$(zc chunk list | grep -c CONNECTED_HEALTHY)" = "$1" ]; }

echo "1..8"
start_meta || { echo "Bail out! metad"; exit 1; }
for i in 1 2 3; do start_chunk $i; done
if wait_for 15 healthy_is 3 &&
   zc --json chunk list | jq_ 'all(c["space"]["valid"] > 0 for c in d)' | grep -q True &&
   [ "$(zc --json chunk list | jq_ 'sorted(c["uuid"] for c in d)')" = \
     "$(python3 -c "import sys; print(sorted(open('$T/c%d/chunk-id' % i).read().strip() for i in (1,2,3)))")" ]; then
	ok "3 zbs-chunkd register with the uuid of their data dir and report space"
else not_ok "registration" "$(zc chunk list 2>&1)"; fi

zc volume create v 1G --replica 3 >/dev/null
zc volume create tk 256M --replica 2 --thick >/dev/null
sid=$(zc --json session list | jq_ 'd[0]["session_id"]')
cli lease v 0 write "$sid" > "$T/l"
pid=$(sed -n 's/^pid=//p' "$T/l"); ep=$(sed -n 's/^epoch=//p' "$T/l"); le=$(sed -n 's/^lease_epoch=//p' "$T/l")
okw=1
for a in $(sed -n 's/^chunk=[0-9]* //p' "$T/l"); do
	"$BIN/zbs-probe" -c "$a" -p "$pid" -e "$ep" -L "$le" --create sync >/dev/null || okw=0
	head -c 65536 /dev/urandom | "$BIN/zbs-probe" -c "$a" -p "$pid" -e "$ep" -L "$le" -g 0 write >/dev/null || okw=0
done
if [ $okw = 1 ] && [ "$(grep -c '^chunk=' "$T/l")" = 3 ]; then ok "lease from meta, sync and write on the 3 replicas it names"; else not_ok "lease+write" "$(cat "$T/l")"; fi

# after the grace period only reported replicas are alive: the written ones
# are, the thick extent nobody wrote is not (SPEC 4.6)
sleep 3
tkpid=$(zc --json volume show tk --pextents | jq_ 'd["pextents"][0]["pid"]')
if [ "$(zc --json lease show "$pid" | jq_ 'd["alive_location"]==d["location"]')" = True ] &&
   [ "$(zc --json lease show "$tkpid" | jq_ 'd["alive_location"]')" = 0 ]; then
	ok "data reports: written replicas stay alive past the grace, unreported ones do not"
else not_ok "alive" "$(zc lease show "$pid")" "$(zc lease show "$tkpid")"; fi

# with CAP_REPORT_DELTA an idle chunk's reports list no replica between the
# full ones (every alive grace / 3), and the replicas stay alive
delta_idle() { zc --json session list | jq_ 'any(s["report_delta"] and s["report_entries"] == 0 for s in d)' | grep -q True; }
full_seen() { zc --json session list | jq_ 'any(not s["report_delta"] and s["report_entries"] >= 1 for s in d)' | grep -q True; }
if wait_for 5 delta_idle && wait_for 5 full_seen && sleep 2.5 &&
   [ "$(zc --json lease show "$pid" | jq_ 'd["alive_location"]==d["location"]')" = True ]; then
	ok "data reports: deltas without entries when idle, full ones between, replicas alive"
else not_ok "delta reports" "$(zc --json session list 2>&1)" "$(zc lease show "$pid")"; fi

zc volume delete v >/dev/null
gone() { for a in $(sed -n 's/^chunk=[0-9]* //p' "$T/l"); do "$BIN/zbs-probe" -c "$a" -p "$pid" -e "$ep" info >/dev/null 2>&1 && return 1; done; return 0; }
if wait_for 10 gone; then ok "volume delete: every replica GC-deleted on the chunks"; else not_ok "GC"; fi

cid1=$(zc --json chunk list | jq_ "[c['cid'] for c in d if c['uuid']=='$(cat "$T/c1/chunk-id")'][0]")
kill -9 "${CPID[1]}"; wait "${CPID[1]}" 2>/dev/null
if wait_for 10 bash -c "$(declare -f zc); BIN=$BIN PORT=$PORT; zc chunk show $cid1 | grep -q SESSION_EXPIRED"; then ok "killed chunkd: SESSION_EXPIRED"; else not_ok "expiry"; fi
start_chunk 1
if wait_for 15 healthy_is 3 && [ "$(zc --json chunk list | jq_ 'len(d)')" = 3 ]; then ok "restarted chunkd keeps its cid"; else not_ok "restart keeps cid" "$(zc chunk list)"; fi

before=$(zc --json session list | jq_ 'sorted(s["session_id"] for s in d)')
kill -9 "$META_PID"; wait "$META_PID" 2>/dev/null
start_meta "$PORT" || { sleep 0.5; start_meta "$PORT"; }
sleep $((LEASE_MS * 2 / 1000 + 1))
if healthy_is 3 && [ "$(zc --json session list | jq_ 'sorted(s["session_id"] for s in d)')" = "$before" ] &&
   wait_for 5 delta_idle; then
	ok "metad kill -9 + restart: chunkd reconnect, sessions reused and renewed, deltas again after a full report"
else not_ok "reconnect" "$(zc session list 2>&1)"; fi
tap_exit
