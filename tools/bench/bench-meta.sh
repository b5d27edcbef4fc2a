#!/usr/bin/env bash
# make bench-meta: start a plain zbs-metad on a free loopback port with a
# fresh data directory, run bench-meta-client against it, stop it.
# BENCH_META_N grants, BENCH_META_WINDOW in flight, BENCH_META_VOLS extra
# volumes for the many-volumes line (0: skip it).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${ZBS_BIN_PLAIN:-$top/build}
n=${BENCH_META_N:-100000}
window=${BENCH_META_WINDOW:-64}
vols=${BENCH_META_VOLS:-10000}
dir=$(mktemp -d "${BENCH_META_DIR:-/tmp}/zbs-bench-meta.XXXXXX")
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$bin/zbs-metad" -d "$dir/meta" -l 127.0.0.1:0 --port-file "$dir/port" \
	--session-lease-ms 600000 -v warn &
pid=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
"$bin/bench-meta-client" "127.0.0.1:$(cat "$dir/port")" "$pid" "$n" "$window" "$vols"
extra=; [ "$vols" -gt 0 ] && extra=" and $vols one-extent volumes"
echo "metad data directory: $(du -sh "$dir/meta" | cut -f1) on disk for $n pextents$extra"
