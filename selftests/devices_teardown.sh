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

# held_del DEV SECS: remove DEV while a netlink handler is held in its
# slot (slot_delay_ms is a minute: the handler sleeps until it is set to
# 0), then release the handler: once the removal has stayed asleep in the
# kernel (zbs_dev_del on its stack) for a second, or returned, or after
# SECS (the handler's client has a deadline of its own: zbs-test-agent
# waits 5 s for its registration). Sets rc (the removal's status), early
# (1: it returned while the handler was held) and done0/done1 (slot delays
# ended when the removal started and when it returned). States, not fixed
# waits: a slow machine can only make the hold end before the removal is
# seen waiting, which fails nothing.
held_del() {
	local pid now end since=
	done0=$(cat $H/slot_delays_done)
	start=$(date +%s%N)
	"$ZBSCTL" device del "$1" >/dev/null &
	pid=$!
	end=$((${EPOCHREALTIME//[.,]/} + $2 * 1000000))
	while kill -0 $pid 2>/dev/null; do
		now=${EPOCHREALTIME//[.,]/}
		[ "$now" -ge "$end" ] && break
		if grep -q zbs_dev_del /proc/$pid/stack 2>/dev/null; then
			since=${since:-$now}
			[ $((now - since)) -ge 1000000 ] && break
		fi
		sleep 0.1
	done
	early=0
	kill -0 $pid 2>/dev/null || early=1
	echo 0 > $H/slot_delay_ms	# the handler goes on
	wait $pid; rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	done1=$(cat $H/slot_delays_done)
}
# held N: wait until a handler entered a slot delay after N began (no
# process per poll: the registration's client is waiting)
held() {
	local i n
	for i in $(seq 600); do
		read -r n < $H/slot_delays_begun
		[ "$n" -gt "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- an agent registers while the device goes -------------------------
dev=$(slot_dev vol-td1)
ktap_check "a device with an extent slot ($dev)" test -n "$dev"
echo 60000 > $H/slot_delay_ms
begun=$(cat $H/slot_delays_begun)
"$ZBS_BIN_DIR/zbs-test-agent" --replicas 127.0.0.1:1 2>"$ZBS_ST_TMP/agent.log" &
AGENT_PID=$!
held "$begun"		# the registration sleeps in the device's slot
held_del "$dev" 2
ktap_info "device del: rc $rc after $ms ms; returned while held: $early; slot delays ended: $done0 before, $done1 after"
ktap_check "removal during the agent's registration succeeds" [ $rc -eq 0 ]
ktap_check "... once the registration left the device (not while it was held there)" \
	bash -c "[ $early -eq 0 ] && [ $done1 -gt $done0 ]"
sleep 1
ktap_check "the agent is still running (its registration returned)" kill -0 "$AGENT_PID"
agent_stop

# ---- a REVOKE drains the device while it goes --------------------------
dev=$(slot_dev vol-td2)
ktap_check "a second device with an extent slot ($dev)" test -n "$dev"
echo 60000 > $H/slot_delay_ms
begun=$(cat $H/slot_delays_begun)
"$ZBS_BIN_DIR/zbs-test-agent" --revoke --dev-id "${dev#/dev/zbs}" 2>"$ZBS_ST_TMP/revoke.log" &
rpid=$!
held "$begun"		# the revoke sleeps in the device's slot
held_del "$dev" 20
wait $rpid; rrc=$?
ktap_info "device del: rc $rc after $ms ms; returned while held: $early; revoke: rc $rrc $(tail -n 1 "$ZBS_ST_TMP/revoke.log")"
ktap_check "removal during a REVOKE succeeds" [ $rc -eq 0 ]
ktap_check "the REVOKE succeeds: no IO was in flight" [ $rrc -eq 0 ]
ktap_check "... and the removal returned after it (not while it was held there)" \
	bash -c "[ $early -eq 0 ] && [ $done1 -gt $done0 ]"
ktap_check "the module unloads (nothing leaked)" rmmod zbs
ktap_finish
