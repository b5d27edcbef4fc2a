#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fencing: once a new owner has synced the replicas of a pid with a higher
# lease_epoch (as a takeover does, ARCHITECTURE.md 4a), writes of the old
# owner (this kernel, still holding lease_epoch 1) are refused with ESTALE
# at every chunk and the map dropped; the agent's own SYNC is fenced too,
# so it answers ESTALE and the IO fails at once; nothing the old owner
# wrote lands. The new owner is played by zbs-probe.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
PROBE=$ZBS_TOP/build/zbs-probe
ktap_plan 6
cluster_init
zbs_load && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 --lease-epoch 1 || { ktap_fail "cluster starts"; exit 1; }
dev=$(dev_add --volume-id vol-x --size 1G --replica-num 3 --io-timeout-ms 6000) ||
	{ ktap_fail "attach"; exit 1; }
head -c 65536 /dev/urandom > "$ZBS_ST_TMP/a"
head -c 65536 /dev/urandom > "$ZBS_ST_TMP/b"
ktap_check "old owner writes A" dd if="$ZBS_ST_TMP/a" of="$dev" bs=64k count=1 oflag=direct status=none
pid=$(sed -n 's/^map .*vext=0 pid=\([0-9]*\) .*/\1/p' "$ZBS_ST_TMP/events" | tail -n 1)
ktap_info "vextent 0 is pid $pid"

ok=1
for i in 1 2 3; do
	"$PROBE" -c 127.0.0.1:${CHUNK_PORTS[$i]} -p "$pid" -e 1 -L 5 sync >/dev/null || ok=0
done
ktap_check "new owner syncs every replica with lease_epoch 5" [ $ok -eq 1 ]

start=$(date +%s%N)
dd if="$ZBS_ST_TMP/b" of="$dev" bs=64k count=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd.err"; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
ktap_info "old owner's write: rc $rc after $ms ms: $(tail -n 1 "$ZBS_ST_TMP/dd.err")"
ktap_check "the old owner's write fails" [ $rc -ne 0 ]
ktap_check "the agent found itself fenced and answered ESTALE" \
	grep -q '^map-error .*vext=0 err=-116' "$ZBS_ST_TMP/events"
ok=1
for i in 1 2 3; do
	"$PROBE" -c 127.0.0.1:${CHUNK_PORTS[$i]} -p "$pid" -e 1 -L 5 -o 0 -n 65536 read 2>/dev/null \
		> "$ZBS_ST_TMP/r$i" && cmp -s "$ZBS_ST_TMP/a" "$ZBS_ST_TMP/r$i" || ok=0
done
ktap_check "every replica still holds A: nothing of the old owner landed" [ $ok -eq 1 ]
ktap_check "the replicas' gen did not move (no write applied)" \
	bash -c "for p in ${CHUNK_PORTS[*]}; do '$PROBE' -c 127.0.0.1:\$p -p $pid -e 1 info | grep -q ' gen=1 ' || exit 1; done"
ktap_finish
