#!/usr/bin/env bash
# zbsctl cluster load and migrate plan against a real zbs-metad with fake
# chunks: the space split and levels, a topology violation made by moving
# chunks into racks after a volume was placed, and the dry-run plan that
# repairs it (nothing committed). The fake chunks report no replicas, so
# the alive grace is long: the never-written replicas stay alive. Prints TAP.
set -u
BIN=${ZBS_BIN:-$(cd "$(dirname "$0")/../../.." && pwd)/build/san}
T=$(mktemp -d /tmp/zbs-balance-test.XXXXXX)
META_PID= PORT=
declare -A CHUNK_PID

cleanup() {
	for c in "${!CHUNK_PID[@]}"; do kill -9 "${CHUNK_PID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/../../../tools/tap.sh"

zc() { "$BIN/zbsctl" --meta "127.0.0.1:$PORT" "$@"; }
healthy_is() { [ "$(zc chunk list | grep -c CONNECTED_HEALTHY)" = "$1" ]; }

echo "1..13"
rm -f "$T/port"
"$BIN/zbs-metad" -d "$T/meta" -l 127.0.0.1:0 --port-file "$T/port" --session-lease-ms 1500 \
	--alive-grace-ms 3600000 2>>"$T/metad.log" &
META_PID=$!
wait_for 10 test -s "$T/port" || { echo "Bail out! metad did not start"; exit 1; }
PORT=$(cat "$T/port")
for i in 1 2 3 4; do
	touch "$T/rep$i"
	"$BIN/zbs-fake-chunk" --meta "127.0.0.1:$PORT" --uuid "$(cat /proc/sys/kernel/random/uuid)" \
		--data "127.0.0.$i:$((22000 + i))" --rpc "127.0.0.$i:$((23000 + i))" \
		--space 100G --replicas "$T/rep$i" 2>>"$T/chunk$i.log" &
	CHUNK_PID[$i]=$!
done
wait_for 15 healthy_is 4 || { echo "Bail out! chunks not healthy: $(zc chunk list)"; exit 1; }

# ---- cluster load ----------------------------------------------------------
zc --json cluster load > "$T/load0"
if jq_ 'len(d["chunks"])==4 and d["allocated"]==0 and d["level"]=="low" and d["valid"]>0 and abs(d["thresholds"]["medium"]-0.5)<1e-9' < "$T/load0" | grep -q True; then
	ok "cluster load: 4 chunks, nothing allocated, level low"
else not_ok "empty cluster load" "$(cat "$T/load0")"; fi
zc volume create v 60G --thick --replica 2 > /dev/null
zc --json cluster load > "$T/load1"
if jq_ 'd["allocated"]==120<<30 and sum(c["thick"] for c in d["chunks"])==120<<30 and all(c["allocated"]==c["thick"]+c["thin"]+c["new_thin"]+c["reserve"]+c["rx"] for c in d["chunks"]) and d["level"]=="low" and abs(d["ratio"]-0.3)<0.01' < "$T/load1" | grep -q True; then
	ok "cluster load: a 60G thick 2-replica volume is 120G allocated, split thick, level low"
else not_ok "cluster load after a volume" "$(cat "$T/load1")"; fi
if zc cluster load | grep -q "^cluster: 120 GiB allocated of .* level low"; then
	ok "cluster load: text summary"
else not_ok "cluster load text" "$(zc cluster load)"; fi
zc cluster load extra > "$T/out" 2>&1; st=$?
if [ $st = 2 ] && grep -q "takes no arguments" "$T/out"; then ok "cluster load with an argument: usage error"; else not_ok "cluster load extra" "exit $st $(cat "$T/out")"; fi

# ---- a topology violation and its plan -------------------------------------
zone=$(zc --json topo list | jq_ '[o["id"] for o in d if o["type"]=="zone"][0]')
r1=$(zc --json topo create rack r1 --parent "$zone" | jq_ 'd["id"]')
r2=$(zc --json topo create rack r2 --parent "$zone" | jq_ 'd["id"]')
b1=$(zc --json topo create brick b1 --parent "$r1" | jq_ 'd["id"]')
b2=$(zc --json topo create brick b2 --parent "$r2" | jq_ 'd["id"]')
{ zc topo move chunk 1 "$b1" && zc topo move chunk 2 "$b1" && zc topo move chunk 3 "$b2" && zc topo move chunk 4 "$b2"; } > /dev/null
zc --json volume show v --pextents > "$T/vol0"
zc --json cluster load > "$T/load2"
zc --json migrate plan > "$T/plan"
cat > "$T/check.py" <<'PY'
import json, sys
vol = json.load(open(sys.argv[1])); load = json.load(open(sys.argv[2])); plan = json.load(open(sys.argv[3]))
rack = {c["cid"]: c["rack"] for c in load["chunks"]}
def cids(loc): return [(loc >> (8 * i)) & 0xff for i in range(4) if (loc >> (8 * i)) & 0xff]
locs = {p["pid"]: cids(p["location"]) for p in vol["pextents"]}
bad = {pid for pid, l in locs.items() if len({rack[c] for c in l}) < len(l)}
moves = plan["moves"]
errs = []
if not bad: errs.append("no violation to repair")
if {m["pid"] for m in moves} != bad: errs.append("moved %d pids, %d violate" % (len(moves), len(bad)))
for m in moves:
    l = locs[m["pid"]]
    other = [c for c in l if c != m["replace"]]
    if m["why"] != "topology" or m["replace"] not in l or m["dst"] in l or \
       rack[m["dst"]] == rack[other[0]] or m["src"] not in l:
        errs.append("bad move %s of %s" % (m, l))
if plan["topology"] != len(moves) or plan["capacity"] or plan["level"] != "low": errs.append("counts")
if sum(c["in_bytes"] for c in plan["chunks"]) != len(moves) << 28 or plan["bytes"] != len(moves) << 28: errs.append("bytes")
print("OK %d moves" % len(moves) if not errs else "\n".join(errs[:5]))
PY
res=$(python3 "$T/check.py" "$T/vol0" "$T/load2" "$T/plan")
if [[ $res == OK* ]]; then ok "migrate plan: every pid with both replicas in one rack moves one to the other rack ($res)"
else not_ok "migrate plan topology" "$res"; fi
zc --json volume show v --pextents > "$T/vol1"
if cmp -s "$T/vol0" "$T/vol1"; then ok "migrate plan is a dry run: no location changed"; else not_ok "dry run changed something"; fi
zc --json migrate plan --max 3 > "$T/plan3"
if jq_ 'len(d["moves"])==3 and d["truncated"]' < "$T/plan3" | grep -q True; then ok "migrate plan --max 3: 3 moves, truncated"; else not_ok "--max" "$(cat "$T/plan3")"; fi
zc migrate plan --max 0 > "$T/out" 2>&1; st=$?
if [ $st = 2 ] && grep -q -- "--max" "$T/out"; then ok "migrate plan --max 0: usage error"; else not_ok "--max 0" "exit $st $(cat "$T/out")"; fi
if zc migrate plan --summary | grep -q "^level low: .* moves (0 localize, .* topology, 0 capacity, 0 even)" &&
   ! zc migrate plan --summary | grep -q "^ *PID"; then
	ok "migrate plan --summary: totals without the list"
else not_ok "--summary" "$(zc migrate plan --summary)"; fi
zc migrate plan --dry-run --apply > "$T/out" 2>&1; st=$?
if [ $st = 2 ] && grep -q "exclude each other" "$T/out"; then ok "migrate plan --dry-run --apply: usage error"; else not_ok "dry-run apply" "exit $st $(cat "$T/out")"; fi
# fake chunks cannot run cmds: the moves stay queued, handed out as they can
zc --json migrate plan --apply --moves-per-hour 60 > "$T/plan4"
if jq_ 'd["applied"]==len(d["moves"])>0' < "$T/plan4" | grep -q True &&
   grep -q "rebalance: .* move(s) queued for the scheduler, at most 60 an hour" "$T/metad.log"; then
	ok "migrate plan --apply: every move queued for the scheduler at the rate asked"
else not_ok "--apply" "$(head -c 300 "$T/plan4")" "$(grep rebalance "$T/metad.log" | tail -3)"; fi

# ---- even distribution (SPEC 6.8) -----------------------------------------
# 32 thick extents x 2 replicas on the 4 chunks: 16 each, prefer cid ignored
zc volume create ev 8G --thick --replica 2 --even --prefer-cid 1 > /dev/null
zc --json volume show ev --pextents > "$T/ev"
if jq_ 'd["even"] and all(p["preferred_cid"]==0 for p in d["pextents"]) and
	sorted(sum([[b for b in p["location"].to_bytes(4,"little") if b] for p in d["pextents"]], [])).count(1)==16 and
	all(sorted(sum([[b for b in p["location"].to_bytes(4,"little") if b] for p in d["pextents"]], [])).count(c)==16 for c in set(sum([[b for b in p["location"].to_bytes(4,"little") if b] for p in d["pextents"]], [])))' \
	< "$T/ev" | grep -q True && zc volume show ev | grep -q "^distribution: even"; then
	ok "volume create --even: shown even, its 64 replicas 16 on each of the 4 chunks"
else not_ok "even volume" "$(head -c 600 "$T/ev")"; fi
zc --json migrate plan > "$T/plan5"
if jq_ 'd["even"]==0 and not any(m["why"]=="even" for m in d["moves"])' < "$T/plan5" | grep -q True; then
	ok "migrate plan: an even volume placed evenly needs no even move"
else not_ok "even plan" "$(head -c 300 "$T/plan5")"; fi
tap_exit
