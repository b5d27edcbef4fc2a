# libzbsrpc: meta RPC framing and the blocking client (zbsctl, chunk-side
# session, benchmark). Users also link zbsproto and -lprotobuf-c.
LIBS += zbsrpc
zbsrpc_SRCS := daemon/rpc/rpc.c daemon/rpc/client.c
CFLAGS += -I$(TOP)/daemon/rpc

UNIT_TESTS += test_rpc
test_rpc_SRCS := daemon/rpc/test/test_rpc.c
test_rpc_DEPS := zbsrpc zbs
