#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A write is acknowledged only after the failed replica is out of meta's
# location (ARCHITECTURE.md 4 step 4, invariant I1). With the test agent as
# meta: a chunk dies under a write while the agent does not answer the
# kernel's replica-failure report; the write must not complete. The agent
# dies and a new one registers: the kernel sends it the report again, before
# any map request of the extent; it answers, and the write completes with
# its data on the surviving replicas. A report refused because the lease
# moved on (another lease_epoch) is not an acknowledgement: the write is
# retried under a new map.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 7
cluster_init
zbs_load && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
ktap_ok "3 chunk servers and the test agent run"

M=$((1024 * 1024)) T=$ZBS_ST_TMP
dev=$(dev_add --volume-id vol-reports --size $((64 * M)) --replica-num 3 --stripe-num 1 \
	--io-timeout-ms 120000) || { ktap_fail "attach"; exit 1; }
head -c $((4 * M)) /dev/urandom > "$T/a"
head -c $((4 * M)) /dev/urandom > "$T/b"
dd if="$T/a" of="$dev" bs=1M oflag=direct status=none || { ktap_fail "first write"; exit 1; }

# the agent that never answers reports takes over (same lease_epoch)
agent_stop
agent_start 3 --ignore-reports || { ktap_fail "agent that ignores reports"; exit 1; }
chunk_kill 3
dd if="$T/b" of="$dev" bs=1M count=4 oflag=direct status=none 2>"$T/dd.err" &
ddpid=$!
unanswered() { grep -q '^unanswered' "$T/events"; }
for _ in $(seq 600); do unanswered && break; sleep 0.1; done
ktap_check "the kernel reports the failed replica to the agent" unanswered
sleep 1
ktap_check "the write is not acknowledged while the report is unanswered" kill -0 $ddpid

before=$(grep -c '^failed' "$T/events")
agent_stop
agent_start 3 || { ktap_fail "a new agent"; exit 1; }
wait $ddpid
st=$?
ktap_check "a new agent gets the report again, answers, and the write completes (status $st)" \
	bash -c "[ $st -eq 0 ] && [ \$(grep -c '^failed' '$T/events') -gt $before ]"
ktap_check "the data is there, read from the surviving replicas" \
	bash -c "dd if='$dev' bs=1M count=4 iflag=direct status=none | cmp - '$T/b'"

# a report refused because the lease moved on: retried under a new map
agent_stop
agent_start 3 --lease-epoch 3 --ignore-reports || { ktap_fail "agent with lease_epoch 3"; exit 1; }
# the kernel's map still carries lease_epoch 1 (the test agent does not revoke)
chunk_kill 2
dd if="$T/b" of="$dev" bs=1M count=1 oflag=direct status=none 2>"$T/dd2.err" &
ddpid=$!
for _ in $(seq 600); do [ "$(grep -c '^unanswered' "$T/events")" -ge 2 ] && break; sleep 0.1; done
agent_stop
agent_start 3 --lease-epoch 3 || { ktap_fail "agent with lease_epoch 3 answering"; exit 1; }
wait $ddpid
st=$?
ktap_check "a report under an older lease is refused (ESTALE) and the write retried under a new map (status $st)" \
	bash -c "[ $st -eq 0 ] && grep -q '^map .*lease_epoch=3' '$T/events'"
ktap_check "its data reads back" \
	bash -c "dd if='$dev' of='$T/r1' bs=1M count=1 iflag=direct status=none &&
		 cmp -n $M '$T/r1' '$T/b'"
"$ZBSCTL" device del "$dev" >/dev/null
ktap_finish
