#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Stable pages: the kernel sends one write to every replica at different
# moments, so a page changed in between would leave the replicas of one
# acknowledged write with different bytes (a later failover returns other
# data). A process rewrites 16 mmapped pages of the device in a loop while
# another forces writeback over and over. Every write the replicas took
# must be the same bytes on each of them (the chunks log a hash of every
# write they apply at debug level), and at the end every replica holds the
# same bytes, those the device reads.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
PROBE=$ZBS_TOP/build/zbs-probe
SECS=${STABLE_SECONDS:-8}
ktap_plan 5
cluster_init
CHUNK_LOG_LEVEL=debug
zbs_load conns_per_chunk=2 && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
dev=$(dev_add --volume-id vol-stable --size 1G --replica-num 3) || { ktap_fail "attach"; exit 1; }
ktap_check "the queue asks for stable writes" \
	[ "$(cat /sys/block/"$(basename "$dev")"/queue/stable_writes)" = 1 ]

# the writer: 16 pages, each filled with one byte value that changes every round
python3 - "$dev" "$SECS" > "$ZBS_ST_TMP/writer.out" 2>&1 <<'EOF' &
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 65536, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
end, i = time.time() + float(sys.argv[2]), 0
while time.time() < end:
    for k in range(16):
        m[k * 4096:(k + 1) * 4096] = bytes([(i + k) & 0xff]) * 4096
    i += 1
m.flush()
print("rounds", i)
EOF
wpid=$!
# the flusher: writeback of the dirty pages, again and again
python3 - "$dev" > "$ZBS_ST_TMP/flusher.out" 2>&1 <<'EOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
while True:
    os.fsync(fd)
EOF
fpid=$!
wait $wpid; wst=$?
kill $fpid 2>/dev/null; wait $fpid 2>/dev/null
sync
ktap_info "writer: $(cat "$ZBS_ST_TMP/writer.out")"
ktap_check "the writer ran" [ $wst -eq 0 ]

# per (pid, gen, offset): the hash each replica took
grep -h ' write pid ' "$ZBS_ST_TMP"/c[123].log | awk '{ k = $6 " " $8 " " $10; h[k] = h[k] " " $14; n[k]++ }
	END { for (k in h) { split(h[k], a, " "); d = 0; for (i in a) if (a[i] != a[1]) d = 1;
			     t++; if (n[k] == 3 && !d) same++; else if (d) diff++ }
	      printf "%d %d %d\n", t, same + 0, diff + 0 }' > "$ZBS_ST_TMP/cmp"
read -r total same diff < "$ZBS_ST_TMP/cmp"
ktap_info "writes seen: $total, on all 3 replicas with the same bytes: $same, differing: $diff"
ktap_check "every write went to the replicas with the same bytes" [ "${total:-0}" -gt 0 -a "${diff:-1}" = 0 ]

pid=$(sed -n 's/^map .*vext=0 pid=\([0-9]*\) .*/\1/p' "$ZBS_ST_TMP/events" | tail -n 1)
le=$(sed -n 's/^map .*vext=0 pid=[0-9]* .*lease_epoch=\([0-9]*\).*/\1/p' "$ZBS_ST_TMP/events" | tail -n 1)
ok=1
for i in 1 2 3; do
	"$PROBE" -c 127.0.0.1:${CHUNK_PORTS[$i]} -p "$pid" -e 1 -L "${le:-1}" -o 0 -n 65536 read \
		> "$ZBS_ST_TMP/r$i" 2>"$ZBS_ST_TMP/r$i.err" || { ok=0; ktap_info "$(cat "$ZBS_ST_TMP/r$i.err")"; }
done
for i in 2 3; do
	if ! cmp -s "$ZBS_ST_TMP/r1" "$ZBS_ST_TMP/r$i"; then
		ok=0
		ktap_info "replica $i differs from replica 1: $(cmp -l "$ZBS_ST_TMP/r1" "$ZBS_ST_TMP/r$i" | wc -l) byte(s)"
	fi
done
ktap_check "every replica holds the same bytes (pid $pid)" [ $ok -eq 1 ]
dd if="$dev" of="$ZBS_ST_TMP/dev" bs=64k count=1 iflag=direct status=none
ktap_check "and the device reads them" cmp -s "$ZBS_ST_TMP/r1" "$ZBS_ST_TMP/dev"
ktap_finish
