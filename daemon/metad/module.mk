# zbs-metad: the meta server. Its layers (meta.h: store, core, the tables,
# placement, the operations, handlers, server) form libzbsmeta so unit tests
# link them without main.
LIBS += zbsmeta
zbsmeta_SRCS := $(addprefix daemon/metad/,store.c core.c chunk.c topo.c session.c agile.c \
	pextent.c volume.c meta.c placement.c recovery.c rebalance.c owner.c provision.c scheduler.c \
	balance.c lease.c chunk_admin.c \
	report.c keepalive.c handlers.c server.c)

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

UNIT_TESTS += test_placement test_recovery test_rebalance test_meta test_scheduler
test_placement_SRCS := daemon/metad/test/test_placement.c
test_placement_DEPS := zbsmeta
test_recovery_SRCS := daemon/metad/test/test_recovery.c
test_recovery_DEPS := zbsmeta
test_rebalance_SRCS := daemon/metad/test/test_rebalance.c
test_rebalance_DEPS := zbsmeta
test_meta_SRCS := daemon/metad/test/test_meta.c
test_meta_DEPS := zbsmeta zbsrpc zbsproto zbs
test_meta_LIBS := $(META_LIBS)
test_scheduler_SRCS := daemon/metad/test/test_scheduler.c
test_scheduler_DEPS := zbsmeta zbsrpc zbsproto zbs
test_scheduler_LIBS := $(META_LIBS)
NATIVE_TESTS += daemon/metad/test/metad.sh daemon/metad/test/layers.sh daemon/metad/test/balance.sh

NATIVE_TESTS += daemon/metad/test/metad-chunkd.sh
