# bench-chunk: zbs-chunkd on loopback vs the local file limit (see bench_chunk.c).
BINS += bench-chunk
bench-chunk_SRCS := tools/bench/bench_chunk.c daemon/chunkd/test/harness.c
bench-chunk_DEPS := zbs
bench-chunk_LIBS := -luring

bench-chunk: $(O)/bench-chunk $(O)/zbs-chunkd
	ZBS_BIN=$(TOP)/$(O) $(O)/bench-chunk --dir $(TOP)/$(O)

# make bench-meta: zbs-metad with 10^7 pextents over 10^4 volumes and 255
# chunks (BENCH_META_PEXTENTS=100000 for a quick run): bytes per pextent,
# cold start, lease grants/s and the longest loop stalls (see bench_meta.c).
BINS += bench-meta-client
bench-meta-client_SRCS := tools/bench/bench_meta.c
bench-meta-client_DEPS := zbsrpc zbsproto zbs
bench-meta-client_LIBS := -lprotobuf-c

bench-meta: $(O)/zbs-metad $(O)/bench-meta-client
	ZBS_BIN_PLAIN=$(TOP)/$(O) tools/bench/bench-meta.sh

# bench: fio on /dev/zbs0 (1 and 3 replicas) vs nbd and brd, in one VM boot.
bench:
	tools/bench/bench-block.sh

# make bench-recovery: recovery's copy rate vs a raw copy, the time to full
# redundancy and client p99 without and with recovery (bench-clientlat) on
# native daemons; client fio p99 without and with recovery (one VM boot);
# one table with the goals (bench-recovery.sh).
bench-recovery:
	tools/bench/bench-recovery.sh

# bench-clientlat: 4 KiB client IO to one pid's replicas at a fixed rate,
# p50/p99 from each op's due time (the latency part of bench-recovery).
BINS += bench-clientlat
bench-clientlat_SRCS := tools/bench/bench_clientlat.c
bench-clientlat_DEPS := zbs
