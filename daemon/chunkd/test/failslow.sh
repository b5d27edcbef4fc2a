#!/usr/bin/env bash
# Failslow end to end (SPEC 4.7): zbs-metad and four zbs-chunkd, the fourth
# made slow with the test fault --inject-io-delay-ms (every client IO waits
# 300 ms) and judged with --failslow-ms 100. A few client reads on it and
# on a fast chunk (zbs-probe); the slow one tells meta in its keepalive:
# `zbsctl cluster load --json` shows it failslow with no valid space, the
# fast ones not, and a new volume's pextents avoid it. Prints TAP.
E2E_NAME=failslow
. "$(dirname "$0")/lib-e2e.sh"
cid_of() { zc --json chunk list | jq_ "[c['cid'] for c in d if c['uuid']=='$(cat "$T/c$1/chunk-id")'][0]"; }
# N client reads (of a pid the chunk does not hold: answered "no such
# replica", after the injected wait) on chunk i
reads() {
	for _ in $(seq "$2"); do
		"$BIN/zbs-probe" -c "127.0.0.1:$(cat "$T/port$1")" -p 999 -e 1 -o 0 -n 4096 read \
			>/dev/null 2>&1
	done
}
load() { zc --json cluster load; }
failslow_of() { load | jq_ "[c['failslow'] for c in d['chunks'] if c['cid']==$1][0]"; }

echo "1..6"
e2e_meta
for i in 1 2 3 4; do
	extra=
	[ $i = 4 ] && extra="--inject-io-delay-ms 300 --failslow-ms 100"
	e2e_chunk $i --port-file "$T/port$i" --no-recover --capacity 20G $extra
done
wait_for 20 healthy_is 4 || { echo "Bail out! chunks: $(zc chunk list 2>&1)"; exit 1; }
SLOW=$(cid_of 4)
FAST=$(cid_of 1)

DIAG="$(load 2>&1)"
check "no chunk is failslow before any IO" \
	test "$(load | jq_ "any(c['failslow'] for c in d['chunks'])")" = False

reads 4 5
reads 1 5
is_slow() { [ "$(failslow_of "$SLOW")" = True ]; }
DIAG="$(grep -i "failslow:" "$T/chunk4.log")"
check "cid $SLOW (IO 300 ms, --failslow-ms 100) is failslow in cluster load" wait_for 15 is_slow

load > "$T/load"
DIAG="$(cat "$T/load")"
check "its valid space is 0, the cluster's valid is the 3 others' (60G), cid $FAST not failslow" \
	test "$(jq_ "[c['valid'] for c in d['chunks'] if c['cid']==$SLOW][0]==0 and
		d['valid']==60<<30 and
		not any(c['failslow'] for c in d['chunks'] if c['cid']!=$SLOW)" < "$T/load")" = True

zc volume create v 4G --thick --replica 2 >/dev/null
zc --json volume show v --pextents > "$T/v"
DIAG="$(cat "$T/v")"
check "a new volume's 16 pextents (2 replicas) avoid cid $SLOW" \
	test "$(jq_ "len(d['pextents'])==16 and
		all(len([b for b in p['location'].to_bytes(4,'little') if b])==2 and
		    $SLOW not in p['location'].to_bytes(4,'little') for p in d['pextents'])" \
		< "$T/v")" = True

DIAG="$(zc chunk list 2>&1)"
check "chunk list shows cid $SLOW failslow (its MODE, and --json)" \
	test "$(zc --json chunk list | jq_ "[c['failslow'] for c in d if c['cid']==$SLOW][0]")" = True -a \
	-n "$(zc chunk list | grep -E "^ *$SLOW .*failslow")"

DIAG="$(grep -i failslow "$T/metad.log")"
check "meta logged the change" grep -q "FAILSLOW.*chunk $SLOW" "$T/metad.log"
tap_exit
