#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Data integrity through /dev/zbsN: fio --verify=crc32c for 4 KiB random
# writes and 1 MiB sequential writes on replica_num 1, 2, 3 and stripe_num
# 1 and 4; the data read back after detach and attach; every replica holds
# the same data (checked through each chunk alone). Three connections per
# chunk, so writes of different extents go on different connections.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cluster.sh"
ktap_plan 15
cluster_init
zbs_load conns_per_chunk=3 && wait_path /dev/zbs-control
chunks_start 3 || { ktap_fail "3 chunk servers start"; exit 1; }
ktap_ok "3 chunk servers run"
each_chunk_kconns() { local i; for i in 1 2 3; do [ "$(chunk_kconns $i)" -eq "$1" ] || return 1; done; }

for rep in 1 2 3; do
	for stripe in 1 4; do
		vol="r${rep}s${stripe}"
		dev=$(dev_add --volume-id "$vol" --size 2G --replica-num $rep --stripe-num $stripe \
			--io-timeout-ms 20000) || { ktap_fail "$vol: attach"; continue; }
		# the test agent places every extent on its replica list: one
		# agent per volume, over the first $rep chunks
		agent_stop
		agent_start $rep || { ktap_fail "$vol: test agent registers"; continue; }
		ok=1
		fio_verify "$vol-rand" "$dev" --rw=randwrite --bs=4k --iodepth=16 --size=12M \
			--offset=256M --randseed=4242 || ok=0
		fio_verify "$vol-seq" "$dev" --rw=write --bs=1M --iodepth=4 --size=32M \
			--offset=1000M || ok=0
		ktap_check "$vol: fio verify 4k randwrite + 1M seqwrite" [ $ok -eq 1 ]
		[ "$vol" = r3s4 ] && ktap_check "3 kernel connections to each chunk" each_chunk_kconns 3
		"$ZBSCTL" device del "$dev" || ktap_info "detach failed"
		dev=$(dev_add --volume-id "$vol" --size 2G --replica-num $rep --stripe-num $stripe) ||
			{ ktap_fail "$vol: re-attach"; continue; }
		ok=1
		fio_verify "$vol-rand" "$dev" --rw=randwrite --bs=4k --iodepth=16 --size=12M \
			--offset=256M --randseed=4242 --verify_only || ok=0
		fio_verify "$vol-seq" "$dev" --rw=write --bs=1M --iodepth=4 --size=32M \
			--offset=1000M --verify_only || ok=0
		ktap_check "$vol: data verifies after detach/attach" [ $ok -eq 1 ]
		"$ZBSCTL" device del "$dev"
	done
done
ktap_check "no replica failure reported" bash -c "! grep -q '^failed' '$ZBS_ST_TMP/events' 2>/dev/null"
ktap_finish
