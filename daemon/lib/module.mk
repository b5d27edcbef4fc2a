# libzbs: code shared by the daemons and the tools.
# Pattern for other directories:
#   LIBS += name            -> $(O)/libname.a from name_SRCS
#   BINS += prog            -> $(O)/prog from prog_SRCS, prog_DEPS (our libs), prog_LIBS (-l...)
#   UNIT_TESTS += t         -> $(O)/tests/t (cmocka, linked with -lcmocka), run by `make check`
LIBS += zbs
# every .c directly in daemon/lib is part of libzbs.a (static: programs pull
# only the objects they use, and add the -l flags those need).
zbs_SRCS += $(wildcard daemon/lib/*.c)

UNIT_TESTS += test_util
test_util_SRCS := daemon/lib/test/test_util.c
test_util_DEPS := zbs

# kagent.c: the agent side of the "zbs" generic netlink family, on libnl.
# Programs that use it add $(KAGENT_LIBS) to their _LIBS.
KAGENT_CFLAGS := $(shell pkg-config --cflags libnl-genl-3.0 2>/dev/null || echo -I/usr/include/libnl3)
KAGENT_LIBS := $(shell pkg-config --libs libnl-genl-3.0 2>/dev/null || echo -lnl-genl-3 -lnl-3) -lpthread
$(O)/obj/daemon/lib/kagent.o: CFLAGS += $(KAGENT_CFLAGS)

# Message handling of kagent.c fed with well-formed and malformed messages
# (no kernel needed; includes kagent.c for its static helpers).
UNIT_TESTS += test_kagent
test_kagent_SRCS := daemon/lib/test/test_kagent.c
test_kagent_LIBS := $(KAGENT_LIBS)
test_kagent_DEPS := zbs
$(O)/obj/daemon/lib/test/test_kagent.o: CFLAGS += $(KAGENT_CFLAGS)
