# zbs-histcheck: the history checker for block devices (stamped writes and
# reads under faults; lost, stale, torn, foreign blocks; the longest stall).
BINS += zbs-histcheck
zbs-histcheck_SRCS := tools/zbs-histcheck/histcheck.c
zbs-histcheck_DEPS := zbs
zbs-histcheck_LIBS := -lpthread
NATIVE_TESTS += tools/zbs-histcheck/test-histcheck.sh
