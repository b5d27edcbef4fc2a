# ZBS top-level Makefile.
#
#   make              build zbs.ko, the daemons and the tools
#   make check        the whole test suite (native + VM selftests)
#   make check-debug  the VM selftests on a KASAN/lockdep/kmemleak kernel (built once)
#   make demo         run a demo cluster (see README)
#   make torture      fault schedules under the history checker, long (a table)
#   make deps         install the Debian packages the project needs
#   make sparse       run sparse over the kernel module
#   make SAN=1        build userspace with AddressSanitizer/UBSan into build/san
#
# Userspace is built non-recursively: every directory with code has a
# module.mk fragment that appends to BINS / LIBS / UNIT_TESTS (see
# daemon/lib/module.mk for the pattern). Outputs go to $(O): binaries at
# $(O)/<name>, objects under $(O)/obj, native test binaries under $(O)/tests.

VERSION := $(shell cat VERSION)
TOP := $(CURDIR)

# Kernel build tree: the running kernel's if it has one, else the newest
# installed under /lib/modules.
KVER_RUNNING := $(shell uname -r)
ifeq ($(KDIR),)
  ifneq ($(wildcard /lib/modules/$(KVER_RUNNING)/build/Makefile),)
    KDIR := /lib/modules/$(KVER_RUNNING)/build
  else
    KDIR := $(lastword $(shell ls -d /lib/modules/*/build 2>/dev/null | sort -V))
  endif
endif

SAN ?= 0
ifeq ($(SAN),1)
  O ?= build/san
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
  O ?= build
  SANFLAGS :=
endif

CC ?= gcc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	  -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
	  -D_GNU_SOURCE -DZBS_VERSION=\"$(VERSION)\" \
	  -I$(TOP)/uapi -I$(TOP)/daemon/lib -I$(O)/gen $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)

BINS :=
LIBS :=
UNIT_TESTS :=
GEN_HDRS :=
NATIVE_TESTS :=

.PHONY: all module userspace check test tests demo deps sparse clean bench \
	bench-chunk bench-meta bench-recovery dkms-check selftests-build native-tests-list torture \
	check-debug debug-kernel
all: module userspace selftests-build

selftests-build:
	$(MAKE) -C selftests all

include $(sort $(wildcard */module.mk */*/module.mk))

# ---- generic rules -------------------------------------------------------
OBJ = $(patsubst %.c,$(O)/obj/%.o,$(1))

$(O)/obj/%.o: %.c | $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# $(1) = name; $(1)_SRCS, $(1)_LIBS (link flags), $(1)_DEPS (our static libs)
define link_bin
$(O)/$(1): $(call OBJ,$($(1)_SRCS)) $(foreach l,$($(1)_DEPS),$(O)/lib$(l).a)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(foreach l,$($(1)_DEPS),$(O)/lib$(l).a) $($(1)_LIBS)
endef

define link_lib
$(O)/lib$(1).a: $(call OBJ,$($(1)_SRCS))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $$(AR) rcs $$@ $$^
endef

define link_test
$(O)/tests/$(1): $(call OBJ,$($(1)_SRCS)) $(foreach l,$($(1)_DEPS),$(O)/lib$(l).a)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(foreach l,$($(1)_DEPS),$(O)/lib$(l).a) $($(1)_LIBS) -lcmocka
endef

$(foreach l,$(LIBS),$(eval $(call link_lib,$(l))))
$(foreach b,$(BINS),$(eval $(call link_bin,$(b))))
$(foreach t,$(UNIT_TESTS),$(eval $(call link_test,$(t))))

userspace: $(addprefix $(O)/,$(BINS))
tests: $(addprefix $(O)/tests/,$(UNIT_TESTS))
	@mkdir -p $(O)
	@printf '%s\n' $(UNIT_TESTS) > $(O)/tests/unit-tests.list

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)

# ---- kernel module -------------------------------------------------------
module:
	@test -n "$(KDIR)" -a -f "$(KDIR)/Makefile" || \
	  { echo "no kernel build tree found; install linux-headers-amd64 or pass KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(TOP) W=1 modules

sparse:
	@mkdir -p $(O)
	$(MAKE) -C $(KDIR) M=$(TOP) W=1 C=2 CHECK="sparse -Wno-decl" modules 2>&1 | tee $(O)/sparse.log
	@! grep -E 'warning:|error:' $(O)/sparse.log

# ---- tests, demo, deps ---------------------------------------------------
check test:
	tools/run-tests

check-debug:
	tools/run-tests --debug-kernel

debug-kernel:
	tools/vm/build-debug-kernel

demo:
	tools/demo.sh

deps:
	tools/install-deps.sh

dkms-check:
	tools/dkms-check.sh

torture:
	tools/torture.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(TOP) clean >/dev/null 2>&1
	rm -rf build

# Native test scripts registered by module.mk fragments (NATIVE_TESTS += path).
native-tests-list:
	@mkdir -p $(O)/tests
	@printf '%s\n' $(NATIVE_TESTS) > $(O)/tests/native-tests.list

print-kdir:
	@echo $(KDIR)
