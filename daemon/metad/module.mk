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
