# bench-chunk: zbs-chunkd on loopback vs the local file limit (see bench_chunk.c).
BINS += bench-chunk
bench-chunk_SRCS := tools/bench/bench_chunk.c daemon/chunkd/test/harness.c
bench-chunk_DEPS := zbs
bench-chunk_LIBS := -luring

bench-chunk: $(O)/bench-chunk $(O)/zbs-chunkd
	ZBS_BIN=$(TOP)/$(O) $(O)/bench-chunk --dir $(TOP)/$(O)

# make bench-meta: GetVExtentLease throughput/latency and memory per pextent,
# lease grants with 10^4 volumes present (finding a volume by name), and one
# keepalive whose data report queues 60000 GC deletes for one session.
BINS += bench-meta-client
bench-meta-client_SRCS := tools/bench/bench_meta.c
bench-meta-client_DEPS := zbsrpc zbsproto zbs
bench-meta-client_LIBS := -lprotobuf-c

bench-meta: $(O)/zbs-metad $(O)/bench-meta-client
	ZBS_BIN_PLAIN=$(TOP)/$(O) tools/bench/bench-meta.sh

# bench: fio on /dev/zbs0 (1 and 3 replicas) vs nbd and brd, in one VM boot.
bench:
	tools/bench/bench-block.sh
