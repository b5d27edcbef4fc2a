#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A chunk at its connection limit is busy, not dead: it tells a refused
# connection BUSY before closing it (zbs_wire.h), and the kernel sends the
# legs of that connection again once a connection is free, instead of
# failing the replica. Chunk 3 serves 3 connections: a bystander holds one,
# the test agent one, the kernel's first of two the last; the kernel's
# second is refused until the bystander leaves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
PROBE=$ZBS_TOP/build/zbs-probe
ktap_plan 7
cluster_init
zbs_load conns_per_chunk=2 reconnect_ms=200 && wait_path /dev/zbs-control
chunk_start 1 && chunk_start 2 && chunk_start 3 --max-conns 3 || { ktap_fail "chunks start"; exit 1; }
agent_start 3 || { ktap_fail "agent starts"; exit 1; }
# the bystander: holds one connection to chunk 3 until killed
python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("connected", flush=True)
time.sleep(600)' "${CHUNK_PORTS[3]}" > "$ZBS_ST_TMP/bystander" &
bpid=$!
wait_for() { local i; for i in $(seq 100); do "$@" && return 0; sleep 0.1; done; return 1; }
wait_for grep -q connected "$ZBS_ST_TMP/bystander"
dev=$(dev_add --volume-id vol-busy --size 1G --replica-num 3 --stripe-num 4 --io-timeout-ms 30000) ||
	{ ktap_fail "attach"; exit 1; }
head -c 1048576 /dev/urandom > "$ZBS_ST_TMP/a"
before=$(dmesg | wc -l)
dd if="$ZBS_ST_TMP/a" of="$dev" bs=1M count=1 oflag=direct status=none 2>"$ZBS_ST_TMP/dd.err" &
ddpid=$!
sleep 2
D=/sys/kernel/debug/zbs
busy_seen=0
for _ in $(seq 20); do grep -q '(busy' $D/chunks && { busy_seen=1; break; }; sleep 0.05; done
sed 's/^/# chunks: /' $D/chunks | head -12
sleep 1
kill $bpid; wait $bpid 2>/dev/null	# a connection is free again
wait $ddpid; rc=$?
cat $D/devices > "$ZBS_ST_TMP/devices"
sed 's/^/# devices: /' "$ZBS_ST_TMP/devices" | head -8
ktap_info "dd: rc $rc $(cat "$ZBS_ST_TMP/dd.err")"
ktap_check "the chunk refused a kernel connection as busy" \
	bash -c "dmesg | tail -n +$((before + 1)) | grep -q 'busy (at its connection limit)'"
ktap_check "the write completes" [ $rc -eq 0 ]
ktap_check "no replica was reported failed" bash -c "! grep -q '^failed' $ZBS_ST_TMP/events"
ktap_check "it reads back" bash -c "dd if=$dev bs=1M count=1 iflag=direct status=none | cmp -s - $ZBS_ST_TMP/a"
agent_stop	# chunk 3 is full again (agent, kernel x2): the probe needs a slot
ok=1
for v in 0 1 2 3; do
	pid=$(sed -n "s/^map .*vext=$v pid=\([0-9]*\) .*/\1/p" "$ZBS_ST_TMP/events" | tail -n 1)
	le=$(sed -n "s/^map .*vext=$v pid=[0-9]* lease_epoch=\([0-9]*\).*/\1/p" "$ZBS_ST_TMP/events" | tail -n 1)
	for i in 1 2 3; do
		"$PROBE" -c 127.0.0.1:${CHUNK_PORTS[$i]} -p "$pid" -e 1 -L "${le:-1}" info 2>&1 |
			grep -q ' gen=1 ' || { ok=0; ktap_info "vextent $v pid $pid: chunk $i not at gen 1"; }
	done
done
ktap_check "every replica of the 4 vextents took its write (gen 1 on each chunk)" [ $ok -eq 1 ]
ktap_check "debugfs showed the refused connection as busy" [ $busy_seen = 1 ]
ktap_check "debugfs devices lists zbs0's maps with their replicas" \
	bash -c "grep -q '^zbs0 volume vol-busy' $ZBS_ST_TMP/devices && grep -q 'vext 0 pid [0-9]* .* map lease_epoch 1 .*replicas 1 2 3' $ZBS_ST_TMP/devices"
ktap_finish
