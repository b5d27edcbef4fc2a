#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Device removal while netlink handlers are inside the device
# (test_hooks=1): slot_delay_ms makes a handler sleep right after it looked
# up an extent slot, and the device is removed meanwhile. The slots must
# outlive every handler holding the device: an agent registering (it
# re-sends what every slot still wants) and a REVOKE (it waits for the
# slots' IO to drain) finish cleanly, and the removal returns only after
# they left the device. Before the fix the removal freed the slots under
# them: the registration walked a freed slot's report list (an oops).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
H=/sys/kernel/debug/zbs
ktap_plan 9
cluster_init
mount -t debugfs none /sys/kernel/debug 2>/dev/null
zbs_load test_hooks=1 && wait_path /dev/zbs-control

# a device with one extent slot: a read with no agent parks on vextent 0
# and fails after the IO timeout; the slot stays
slot_dev() {
	local d
	d=$(dev_add --volume-id "$1" --size 256M --io-timeout-ms 1000) || return 1
	dd if="$d" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null
	grep -q '^  vext 0 ' $H/devices || return 1
	echo "$d"
}

# ---- an agent registers while the device goes -------------------------
dev=$(slot_dev vol-td1)
ktap_check "a device with an extent slot ($dev)" test -n "$dev"
echo 4000 > $H/slot_delay_ms
"$ZBS_BIN_DIR/zbs-test-agent" --replicas 127.0.0.1:1 2>"$ZBS_ST_TMP/agent.log" &
AGENT_PID=$!
wait_for 10 bash -c "dmesg | grep -q 'zbs: agent registered'"
sleep 0.5		# the registration now sleeps in the device's slot
done0=$(cat $H/slot_delays_done)
start=$(date +%s%N)
"$ZBSCTL" device del "$dev" >/dev/null; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
done1=$(cat $H/slot_delays_done)
echo 0 > $H/slot_delay_ms
ktap_info "device del: rc $rc after $ms ms; slot delays ended: $done0 before, $done1 after"
ktap_check "removal during the agent's registration succeeds" [ $rc -eq 0 ]
# not a time: however slow the machine, the handler's sleep ended first
ktap_check "... once the registration left the device (its slot delay ended first)" \
	bash -c "[ $done0 -eq 0 ] && [ $done1 -ge 1 ]"
sleep 1
ktap_check "the agent is still running (its registration returned)" kill -0 "$AGENT_PID"
agent_stop

# ---- a REVOKE drains the device while it goes --------------------------
dev=$(slot_dev vol-td2)
ktap_check "a second device with an extent slot ($dev)" test -n "$dev"
echo 6000 > $H/slot_delay_ms
"$ZBS_BIN_DIR/zbs-test-agent" --revoke --dev-id "${dev#/dev/zbs}" 2>"$ZBS_ST_TMP/revoke.log" &
rpid=$!
sleep 1			# the revoke now sleeps in the device's slot
done0=$(cat $H/slot_delays_done)
start=$(date +%s%N)
"$ZBSCTL" device del "$dev" >/dev/null; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
done1=$(cat $H/slot_delays_done)
echo 0 > $H/slot_delay_ms
wait $rpid; rrc=$?
ktap_info "device del: rc $rc after $ms ms; revoke: rc $rrc $(tail -n 1 "$ZBS_ST_TMP/revoke.log")"
ktap_check "removal during a REVOKE succeeds" [ $rc -eq 0 ]
ktap_check "the REVOKE succeeds: no IO was in flight" [ $rrc -eq 0 ]
ktap_check "... and the removal returned after it (its slot delay ended first)" \
	bash -c "[ $done1 -gt $done0 ]"
ktap_check "the module unloads (nothing leaked)" rmmod zbs
ktap_finish
