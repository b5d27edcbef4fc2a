# Native tests of the header-only code in uapi/linux/.
UNIT_TESTS += test_layout
test_layout_SRCS := uapi/test/test_layout.c
