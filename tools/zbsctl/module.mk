# zbsctl: the admin tool. Every cmd_*.c registers its OBJECT with
# ZBSCTL_OBJECT(); nothing central has to be edited to add one.
BINS += zbsctl
zbsctl_SRCS := $(sort $(wildcard tools/zbsctl/*.c))
zbsctl_DEPS := zbsrpc zbsproto zbs
zbsctl_LIBS := -ljson-c -lprotobuf-c
