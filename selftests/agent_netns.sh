#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The agent's death is noticed through the release of its netlink socket;
# a socket with the same portid in another network namespace closing is
# not the agent (zbs_genl.c): the agent stays registered and IO goes on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 3
cluster_init
NS=zbs-st-ns$$
trap 'ip netns del $NS 2>/dev/null; cluster_stop' EXIT
zbs_load && wait_path /dev/zbs-control
chunks_start 3 && agent_start 3 || { ktap_fail "cluster starts"; exit 1; }
port=$(dmesg | sed -n 's/.*zbs: agent registered (port \([0-9]*\)).*/\1/p' | tail -1)
ktap_check "the agent registered (portid ${port:-?})" test -n "$port"
ip netns add $NS || { ktap_fail "ip netns add"; exit 1; }
gone0=$(dmesg | grep -c 'agent went away')
ip netns exec $NS python3 -c '
import socket, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)	# NETLINK_GENERIC
s.bind((int(sys.argv[1]), 0))
s.close()' "$port" || ktap_info "could not bind portid $port in the namespace"
sleep 0.5
ktap_check "a socket with its portid closing in another namespace: the agent stays" \
	test "$(dmesg | grep -c 'agent went away')" = "$gone0"
dev=$(dev_add --volume-id vol-netns --size 64M --replica-num 3) || { ktap_fail "attach"; exit 1; }
head -c 1048576 /dev/urandom > "$ZBS_ST_TMP/a"
ktap_check "IO through the agent still works" \
	bash -c "dd if='$ZBS_ST_TMP/a' of='$dev' bs=1M oflag=direct status=none &&
		 dd if='$dev' of='$ZBS_ST_TMP/b' bs=1M count=1 iflag=direct status=none &&
		 cmp '$ZBS_ST_TMP/a' '$ZBS_ST_TMP/b'"
"$ZBSCTL" device del "$dev" >/dev/null
ktap_finish
