# bench-chunk: zbs-chunkd on loopback vs the local file limit (see bench_chunk.c).
BINS += bench-chunk
bench-chunk_SRCS := tools/bench/bench_chunk.c daemon/chunkd/test/harness.c
bench-chunk_DEPS := zbs
bench-chunk_LIBS := -luring

bench-chunk: $(O)/bench-chunk $(O)/zbs-chunkd
	ZBS_BIN=$(TOP)/$(O) $(O)/bench-chunk --dir $(TOP)/$(O)

# bench: fio on /dev/zbs0 (1 and 3 replicas) vs nbd and brd, in one VM boot.
bench:
	tools/bench/bench-block.sh
