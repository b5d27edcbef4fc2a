#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# zbs-chunkd as the kernel's agent with zbs-metad, end to end
# (daemon/chunkd/test/vm-agent.sh); the agent is an access-only
# zbs-chunkd with no store, the data chunkds leave the kernel alone
. "$(dirname "$0")/lib.sh"
zbs_unload 2>/dev/null
zbs_load && wait_path /dev/zbs-control
export ACCESS_ONLY=1
ZBS_KO=$ZBS_KO bash "$ZBS_TOP/daemon/chunkd/test/vm-agent.sh"; rc=$?
zbs_unload
exit $rc
