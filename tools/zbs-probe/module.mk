# zbs-probe: send one data-protocol request to a chunk (built on data_client).
BINS += zbs-probe
zbs-probe_SRCS := tools/zbs-probe/probe.c
zbs-probe_DEPS := zbs
NATIVE_TESTS += tools/zbs-probe/test-probe.sh
