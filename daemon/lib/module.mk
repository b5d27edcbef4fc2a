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
