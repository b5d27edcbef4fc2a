# zbs-metad: the meta server. Its state modules (cluster, volume, lease,
# placement, store) form libzbsmeta so unit tests link them without the
# network side.
LIBS += zbsmeta
zbsmeta_SRCS := daemon/metad/cluster.c daemon/metad/volume.c daemon/metad/lease.c \
	daemon/metad/placement.c daemon/metad/store.c daemon/metad/handlers.c \
	daemon/metad/server.c

META_LIBS := -lprotobuf-c -luv -llmdb -luuid
BINS += zbs-metad
zbs-metad_SRCS := daemon/metad/main.c
zbs-metad_DEPS := zbsmeta zbsrpc zbsproto zbs
zbs-metad_LIBS := $(META_LIBS)
CFLAGS += -I$(TOP)/daemon/metad

# Test tools: a chunk without a store, and a lease/malformed-frame driver.
BINS += zbs-fake-chunk zbs-meta-cli
zbs-fake-chunk_SRCS := daemon/metad/test/fake_chunk.c
zbs-fake-chunk_DEPS := zbschunksession zbsrpc zbsproto zbs
zbs-fake-chunk_LIBS := -lprotobuf-c -luv -lpthread
zbs-meta-cli_SRCS := daemon/metad/test/meta_cli.c
zbs-meta-cli_DEPS := zbsrpc zbsproto zbs
zbs-meta-cli_LIBS := -lprotobuf-c

UNIT_TESTS += test_placement test_meta
test_placement_SRCS := daemon/metad/test/test_placement.c
test_placement_DEPS := zbsmeta
test_meta_SRCS := daemon/metad/test/test_meta.c
test_meta_DEPS := zbsmeta zbsrpc zbsproto zbs
test_meta_LIBS := $(META_LIBS)
NATIVE_TESTS += daemon/metad/test/metad.sh

# make bench-meta: GetVExtentLease throughput/latency and memory per pextent,
# lease grants with 10^4 volumes present (finding a volume by name), and one
# keepalive whose data report queues 60000 GC deletes for one session.
BINS += bench-meta-client
bench-meta-client_SRCS := tools/bench/bench_meta.c
bench-meta-client_DEPS := zbsrpc zbsproto zbs
bench-meta-client_LIBS := -lprotobuf-c

bench-meta: $(O)/zbs-metad $(O)/bench-meta-client
	ZBS_BIN_PLAIN=$(TOP)/$(O) tools/bench/bench-meta.sh
NATIVE_TESTS += daemon/metad/test/metad-chunkd.sh
