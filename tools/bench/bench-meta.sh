#!/usr/bin/env bash
# make bench-meta: zbs-metad at scale (issue 12). bench-meta-client starts
# zbs-metad itself on a fresh data directory (it stops and starts it for the
# cold start) and prints the table; see tools/bench/bench_meta.c.
#   BENCH_META_PEXTENTS  pextents to populate (default 10^7; 10^5 is a quick run)
#   BENCH_META_VOLUMES   thick volumes holding them (default 10^4)
#   BENCH_META_WINDOW    requests in flight on one connection (default 64)
#   BENCH_META_LEASE_MS  metad's session lease (default 10000, its own default)
#   BENCH_META_DIR       where the data directory is made (default /tmp)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${ZBS_BIN_PLAIN:-$top/build}
dir=$(mktemp -d "${BENCH_META_DIR:-/tmp}/zbs-bench-meta.XXXXXX")
cleanup() {
	# the client kills its metad; this is for a client killed itself
	if [ -s "$dir/metad.pid" ]; then
		kill -9 "$(cat "$dir/metad.pid")" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
start=$(date +%s)
if ! "$bin/bench-meta-client" --metad "$bin/zbs-metad" --dir "$dir" \
	--pextents "${BENCH_META_PEXTENTS:-10000000}" --volumes "${BENCH_META_VOLUMES:-10000}" \
	--window "${BENCH_META_WINDOW:-64}" --lease-ms "${BENCH_META_LEASE_MS:-10000}"; then
	echo "bench-meta: failed; the end of metad's log:" >&2
	tail -n 20 "$dir/metad.log" >&2 || true
	exit 1
fi
echo "metad data directory at the end: $(du -sh "$dir/meta" | cut -f1); bench-meta took $(($(date +%s) - start)) s"
