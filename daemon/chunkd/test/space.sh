#!/usr/bin/env bash
# Space on small chunks, against real zbs-metad and zbs-chunkd processes
# (driven by zbs-agent-cli as the kernel would drive the agent):
#  - a burst of first writes to a thin volume (many write leases for distinct
#    extents within one report interval) all succeed while real space
#    remains: meta answers EAGAIN while only its pending "new thin" charges
#    (SPEC 7.1) are short, and the chunks report soon after creating replicas;
#  - true exhaustion still fails with ENOSPC, and the message names the chunks;
#  - --capacity is the chunk's total, and bad values are refused.
# Prints TAP.
set -u
BIN=${ZBS_BIN:-$(cd "$(dirname "$0")/../../.." && pwd)/build/san}
T=$(mktemp -d /tmp/zbs-space.XXXXXX)
META_PID= PORT=
CPIDS=()

cleanup() {
	for p in "${CPIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/../../../tools/tap.sh"
zc() { "$BIN/zbsctl" --meta "127.0.0.1:$PORT" "$@"; }
agent() { "$BIN/zbs-agent-cli" --meta "127.0.0.1:$PORT" --uuid "$1" wait "${@:2}" 2>>"$T/agent.log"; }
CAP=$((320 << 20))	# room for one new thin extent per chunk until it reports

echo "1..8"
out=$("$BIN/zbs-chunkd" -d "$T/bad" -l 127.0.0.1:0 --capacity 100M 2>&1)
st=$?
DIAG="$out"
check "--capacity below one extent is refused with a clear message" \
	test $st -eq 2 -a "$(grep -c 'at least 256M' <<< "$out")" = 1

"$BIN/zbs-metad" -d "$T/meta" -l 127.0.0.1:0 --port-file "$T/port" 2>>"$T/metad.log" &
META_PID=$!
wait_for 10 test -s "$T/port" || { echo "Bail out! metad"; exit 1; }
PORT=$(cat "$T/port")
for i in 1 2 3; do
	"$BIN/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:0 --meta "127.0.0.1:$PORT" --capacity 320M \
		2>>"$T/chunk$i.log" &
	CPIDS+=($!)
done
healthy_is() { [ "$(zc chunk list | grep -c CONNECTED_HEALTHY)" = "$1" ]; }
check "3 chunkd with --capacity 320M hold sessions" wait_for 15 healthy_is 3
totals() { zc --json chunk list | jq_ "sorted(set(c['space'].get('total', 0) for c in d))"; }
DIAG="$(zc --json chunk list)"
check "each reports its capacity as total (320 MiB)" wait_for 5 test "$(totals)" = "[$CAP]"

# --- the burst: 16 first-write leases at once, 1 extent of room per chunk
zc volume create v 4G --replica 3 >/dev/null
out=$(agent 11111111-1111-4111-8111-111111111111 amap-retry v 0 16 w)
DIAG="$out"
check "burst: 16 first-write leases of distinct extents all succeed" \
	test "$(grep -c '^amap done 16 ok 16' <<< "$out")" = 1
retries=$(sed -n 's/^amap done .* retries \([0-9]*\)/\1/p' <<< "$out")
DIAG="$out"
check "burst: meta made some wait (EAGAIN) rather than fail them (retries: ${retries:-?})" \
	test "${retries:-0}" -gt 0 -a "$(grep -c 'ENOSPC' <<< "$out")" = 0
allocated_zero() { [ "$(zc --json chunk list | jq_ "sum(c['space'].get('allocated', 0) for c in d)")" = 0 ]; }
DIAG="$(zc chunk list)"
check "the chunks' reports settle the new-thin charges (allocated back to 0)" \
	wait_for 10 allocated_zero

# --- true exhaustion: a thick extent takes 256 of the 320 MiB on every chunk
zc volume create t 256M --replica 3 --thick >/dev/null
zc volume create w 1G --replica 3 >/dev/null
out=$(agent 22222222-2222-4222-8222-222222222222 amap-retry w 0 1 w)
DIAG="$out"
check "exhausted: a first write lease fails with ENOSPC (not EAGAIN forever)" \
	test "$(grep -c 'err=-28 ENOSPC' <<< "$out")" = 1
out=$(zc volume create t2 256M --replica 3 --thick 2>&1)
st=$?
DIAG="$out"
check "exhausted: a thick volume is refused with a message naming the chunks" \
	test $st -ne 0 -a "$(grep -c 'cid 1.*cid 2.*cid 3' <<< "$out")" = 1
tap_exit
