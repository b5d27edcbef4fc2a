#!/usr/bin/env bash
# The conformance and malformed-input suites again, with chunkd forced onto
# its fallback path without io_uring (ZBS_CHUNKD_NO_URING=1): both data
# paths obey the same rules.
bin=${ZBS_BIN:-build/san}
export ZBS_CHUNKD_NO_URING=1 CMOCKA_MESSAGE_OUTPUT=TAP
st=0
"$bin/tests/test_chunkd" || st=1
"$bin/tests/test_malformed" || st=1
exit $st
