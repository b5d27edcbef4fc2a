#!/usr/bin/env bash
# make bench: block-device benchmark in one VM boot (the kernel module needs
# the VM here). fio (libaio, direct) on /dev/zbs0 with replica_num 1 and 3,
# on /dev/nbd0 backed by nbd-server on loopback (a file in tmpfs), and on
# brd (the local limit): 4 KiB randwrite/randread at QD1 and QD32, 1 MiB
# sequential write at QD8. TCG makes absolute numbers meaningless: compare
# the ratios printed at the end, measured in the same boot. The table is
# one run of each job; the ratio lines take the median of ZBS_BENCH_ROUNDS
# interleaved runs of randwrite-4k-qd32 on every device (noise is large).
#   ZBS_BENCH_RUNTIME=SEC per job (default 6), ZBS_BENCH_ROUNDS=N (default 3)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$top" all
exec "$top/tools/vm/vm-run" --timeout 1200 --mem 4096 \
	--env ZBS_BENCH_RUNTIME="${ZBS_BENCH_RUNTIME:-6}" \
	--env ZBS_BENCH_ROUNDS="${ZBS_BENCH_ROUNDS:-3}" -- \
	bash "$top/tools/bench/bench-block-guest.sh"
