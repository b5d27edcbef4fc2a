# libzbs: code shared by the daemons and the tools.
# Pattern for other directories:
#   LIBS += name            -> $(O)/libname.a from name_SRCS
#   BINS += prog            -> $(O)/prog from prog_SRCS, prog_DEPS (our libs), prog_LIBS (-l...)
#   UNIT_TESTS += t         -> $(O)/tests/t (cmocka, linked with -lcmocka), run by `make check`
LIBS += zbs
zbs_SRCS := daemon/lib/log.c daemon/lib/util.c

UNIT_TESTS += test_util
test_util_SRCS := daemon/lib/test/test_util.c
test_util_DEPS := zbs
