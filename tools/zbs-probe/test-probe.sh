#!/usr/bin/env bash
# zbs-probe against a sanitized zbs-chunkd: sync, write, read back, gen
# mismatch exit status, write-zeroes, blockmap, flush, no delete. TAP output.
set -u
bin=${ZBS_BIN:-build/san}
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid"
	rm -rf "$work"
}
trap cleanup EXIT
n=0 fail=0
t() {	# t NAME CMD...: one TAP line
	local name=$1; shift
	n=$((n + 1))
	if "$@" >>"$work/log" 2>&1; then echo "ok $n - $name"; else echo "not ok $n - $name"; fail=1; fi
}
echo "1..15"
"$bin/zbs-chunkd" --data-dir "$work/data" --listen 127.0.0.1:0 --port-file "$work/port" \
	2>"$work/chunkd.log" &
pid=$!
for _ in $(seq 300); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port" 2>/dev/null)
P() { "$bin/zbs-probe" -c "127.0.0.1:$port" "$@"; }
t "chunkd started" test -n "$port"
t "sync without --create: no such replica" bash -c "$(declare -f P); bin=$bin port=$port; P -p 5 -e 2 -L 1 sync 2>&1 | grep -q 'status=4 (no such replica)'"
t "sync --create creates the replica" bash -c "$(declare -f P); bin=$bin port=$port; P -p 5 -e 2 -L 1 --create sync | grep -q 'status=0 .* gen=0 epoch=2'"
head -c 8192 /dev/urandom > "$work/in"
t "write gen 0" bash -c "$(declare -f P); bin=$bin port=$port; P -p 5 -e 2 -L 1 -g 0 -o 1M write < $work/in | grep -q 'gen=1'"
t "read it back" bash -c "$(declare -f P); bin=$bin port=$port; P -p 5 -e 2 -L 1 -o 1M -n 8192 read > $work/out 2>/dev/null && cmp $work/in $work/out"
t "gen mismatch exits 1" bash -c "$(declare -f P); bin=$bin port=$port; P -p 5 -e 2 -L 1 -g 0 -o 0 write < $work/in; test \$? -eq 1"
t "write-zeroes gen 1, reads back zeros" bash -c "$(declare -f P); bin=$bin port=$port; P -p 5 -e 2 -L 1 -g 1 -o 1M -n 4096 write-zeroes | grep -q 'gen=2' && P -p 5 -e 2 -L 1 -o 1M -n 8192 read > $work/out 2>/dev/null && cmp -n 4096 $work/out /dev/zero && cmp -i 4096 $work/in $work/out"
t "blockmap lists block 4" bash -c "$(declare -f P); bin=$bin port=$port; P -p 5 -e 2 blockmap | grep -qx 'blocks: 4'"
t "flush" bash -c "$(declare -f P); bin=$bin port=$port; P flush | grep -q 'status=0'"
t "no delete over the data port (the probe has none)" bash -c "$(declare -f P); bin=$bin port=$port; P -p 5 -e 2 delete 2>&1 | grep -q 'unknown command' && P -p 5 -e 2 info | grep -q 'status=0'"
t "default connection limit 4096 (--help)" bash -c "'$bin/zbs-chunkd' --help | grep -q 'default 4096'"
# --max-conns 2: a third connection is refused, logged as such
"$bin/zbs-chunkd" --data-dir "$work/data2" --listen 127.0.0.1:0 --port-file "$work/port2" \
	--max-conns 2 2>"$work/chunkd2.log" &
pid2=$!
for _ in $(seq 300); do [ -s "$work/port2" ] && break; sleep 0.1; done
p2=$(cat "$work/port2" 2>/dev/null)
exec 5<>"/dev/tcp/127.0.0.1/$p2" 6<>"/dev/tcp/127.0.0.1/$p2" 7<>"/dev/tcp/127.0.0.1/$p2"
for _ in $(seq 50); do grep -q 'too many connections (2' "$work/chunkd2.log" && break; sleep 0.1; done
t "--max-conns 2: the third connection is refused" grep -q 'too many connections (2, --max-conns)' "$work/chunkd2.log"
t "a refused connection is told 'busy' (a retryable condition, not a dead chunk)" bash -c \
	"'$bin/zbs-probe' -c 127.0.0.1:$p2 flush 2>&1 | grep -q 'Device or resource busy'"
exec 5>&-
for _ in $(seq 50); do "$bin/zbs-probe" -c 127.0.0.1:$p2 flush 2>/dev/null | grep -q status=0 && break; sleep 0.1; done
t "once a connection closed, the next one is served" bash -c \
	"'$bin/zbs-probe' -c 127.0.0.1:$p2 flush | grep -q 'status=0'"
exec 6>&- 7>&-
kill "$pid2"; wait "$pid2"
kill "$pid"; wait "$pid"; st=$?; pid=
t "chunkd exits cleanly" test "$st" -eq 0
[ $fail -eq 0 ] || { sed 's/^/# /' "$work/log" "$work/chunkd.log"; exit 1; }
