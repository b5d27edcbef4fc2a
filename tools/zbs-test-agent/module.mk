# zbs-test-agent: the kernel's agent without zbs-metad, for tests and debugging.
BINS += zbs-test-agent
zbs-test-agent_SRCS := tools/zbs-test-agent/agent.c
zbs-test-agent_DEPS := zbs
zbs-test-agent_LIBS := $(KAGENT_LIBS)
$(O)/obj/tools/zbs-test-agent/agent.o: CFLAGS += $(KAGENT_CFLAGS)
