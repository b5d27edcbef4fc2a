# zbs-chunkd: the chunk server (extent store + data protocol server).
BINS += zbs-chunkd
zbs-chunkd_SRCS := daemon/chunkd/main.c daemon/chunkd/store.c daemon/chunkd/server.c
zbs-chunkd_DEPS := zbs
zbs-chunkd_LIBS := -llmdb -luuid -lpthread
