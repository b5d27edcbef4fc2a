# zbs-chunkd: the chunk server (extent store + data protocol server).

# The chunk side of the meta session (meta_session.[ch], --meta): a lib so
# test programs use it without the store. Users link zbsrpc, zbsproto, zbs
# and -lprotobuf-c -luv -lpthread.
LIBS += zbschunksession
zbschunksession_SRCS := daemon/chunkd/chunk_session.c
CFLAGS += -I$(TOP)/daemon/chunkd

# IO latency statistics and the failslow judge (chunk_iostat.[ch]): a lib
# so other modules (and their tests) use it. Users link -lpthread.
LIBS += zbschunkiostat
zbschunkiostat_SRCS := daemon/chunkd/chunk_iostat.c
UNIT_TESTS += test_iostat
test_iostat_SRCS := daemon/chunkd/test/test_iostat.c
test_iostat_DEPS := zbschunkiostat
test_iostat_LIBS := -lpthread

BINS += zbs-chunkd
zbs-chunkd_SRCS := daemon/chunkd/main.c daemon/chunkd/chunk_store.c daemon/chunkd/chunk_server.c \
	daemon/chunkd/chunk_kchannel.c daemon/chunkd/recover_gate.c daemon/chunkd/recover_pace.c
zbs-chunkd_DEPS := zbschunkrecover zbschunkagent zbschunksession zbschunkiostat zbsrpc zbsproto zbs
zbs-chunkd_LIBS = -llmdb -luuid -luring -lpthread -lprotobuf-c -luv $(KAGENT_LIBS)
$(O)/obj/daemon/chunkd/kchannel.o: CFLAGS += $(KAGENT_CFLAGS)

# Conformance tests against a real zbs-chunkd process ($ZBS_BIN/zbs-chunkd).
UNIT_TESTS += test_chunkd
test_chunkd_SRCS := daemon/chunkd/test/test_chunkd.c daemon/chunkd/test/harness.c
test_chunkd_DEPS := zbs
test_chunkd_LIBS := -lpthread

# Malformed input on raw sockets against a real zbs-chunkd.
UNIT_TESTS += test_malformed
test_malformed_SRCS := daemon/chunkd/test/test_malformed.c daemon/chunkd/test/harness.c
test_malformed_DEPS := zbs

# libFuzzer harness of the request decoder, built with clang and run briefly.
NATIVE_TESTS += daemon/chunkd/test/fuzz-wire.sh

# In-process tests of the store API (includes chunk_store.c for its static helpers).
UNIT_TESTS += test_store
test_store_SRCS := daemon/chunkd/test/test_store.c daemon/chunkd/test/harness.c
test_store_DEPS := zbs
test_store_LIBS := -llmdb -luuid -lpthread

# The conformance suite once more on the synchronous (no io_uring) path.
NATIVE_TESTS += daemon/chunkd/test/sync-mode.sh

# Both data paths again on buffered IO (the fallback without O_DIRECT).
NATIVE_TESTS += daemon/chunkd/test/no-direct.sh

# Table tests of the protocol helpers in daemon/lib (wire.c, net.c).
UNIT_TESTS += test_wire
test_wire_SRCS := daemon/chunkd/test/test_wire.c
test_wire_DEPS := zbs

# The access agent's meta-facing core (agent.[ch]): a lib so the test
# driver below uses it without netlink.
LIBS += zbschunkagent
zbschunkagent_SRCS := daemon/chunkd/chunk_agent.c

# The recover cmd executor (chunk_recover.[ch]): a lib so its test runs it
# against real chunk servers without meta.
LIBS += zbschunkrecover
zbschunkrecover_SRCS := daemon/chunkd/chunk_recover.c

# zbs-agent-cli: runs the agent core as the kernel would (native tests).
BINS += zbs-agent-cli
zbs-agent-cli_SRCS := daemon/chunkd/test/agent_cli.c
zbs-agent-cli_DEPS := zbschunkagent zbschunksession zbsrpc zbsproto zbs
zbs-agent-cli_LIBS := -lprotobuf-c -luv -luuid -lpthread
NATIVE_TESTS += daemon/chunkd/test/agent.sh daemon/chunkd/test/space.sh

# A big GC against a real zbs-chunkd and a meta of the test's own: the
# session holds while the deletes run, and they hold across a crash.
UNIT_TESTS += test_gc_session
test_gc_session_SRCS := daemon/chunkd/test/test_gc_session.c daemon/chunkd/test/harness.c
test_gc_session_DEPS := zbsrpc zbsproto zbs
test_gc_session_LIBS := -llmdb -luuid -lpthread -lprotobuf-c

# The recover cmd executor against two real zbs-chunkd (src, dst), no meta.
UNIT_TESTS += test_recover
test_recover_SRCS := daemon/chunkd/test/test_recover.c daemon/chunkd/test/harness.c
test_recover_DEPS := zbschunkrecover zbschunkagent zbschunksession zbsrpc zbsproto zbs
test_recover_LIBS := -lprotobuf-c -luv -luuid -lpthread

# Recovery end to end: zbs-metad's scheduler and the owner chunk's executor.
NATIVE_TESTS += daemon/chunkd/test/recover-e2e.sh daemon/chunkd/test/agile-e2e.sh
# Chunk removal end to end: the drain's migrates run by the chunks.
NATIVE_TESTS += daemon/chunkd/test/remove-e2e.sh

# Failslow end to end: a chunk made slow (--inject-io-delay-ms) reports it,
# meta shows it in cluster load and places new pextents elsewhere.
NATIVE_TESTS += daemon/chunkd/test/failslow.sh

# The recovery pacing controller (recover_pace.[ch], pure) and the chunk's
# brake built on it (recover_gate.[ch]): table tests with a fake clock.
UNIT_TESTS += test_recover_pace
test_recover_pace_SRCS := daemon/chunkd/test/test_recover_pace.c daemon/chunkd/recover_pace.c \
	daemon/chunkd/recover_gate.c
test_recover_pace_DEPS := zbschunkiostat zbs
test_recover_pace_LIBS := -lpthread
