# zbs-chunkd: the chunk server (extent store + data protocol server).
BINS += zbs-chunkd
zbs-chunkd_SRCS := daemon/chunkd/main.c daemon/chunkd/store.c daemon/chunkd/server.c
zbs-chunkd_DEPS := zbs
zbs-chunkd_LIBS := -llmdb -luuid -lpthread

# Conformance tests against a real zbs-chunkd process ($ZBS_BIN/zbs-chunkd).
UNIT_TESTS += test_chunkd
test_chunkd_SRCS := daemon/chunkd/test/test_chunkd.c daemon/chunkd/test/harness.c
test_chunkd_DEPS := zbs
test_chunkd_LIBS := -lpthread
