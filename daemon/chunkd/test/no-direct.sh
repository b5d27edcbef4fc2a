#!/usr/bin/env bash
# The conformance suite (with its crash-durability checks) and the
# malformed-input suite with chunkd's replica files on buffered IO, as on a
# filesystem without O_DIRECT (tmpfs before Linux 6.6): ZBS_CHUNKD_NO_DIRECT=1
# forces that fallback, on the io_uring path and on the synchronous one.
bin=${ZBS_BIN:-build/san}
export ZBS_CHUNKD_NO_DIRECT=1 CMOCKA_MESSAGE_OUTPUT=TAP
st=0
"$bin/tests/test_chunkd" || st=1
ZBS_CHUNKD_NO_URING=1 "$bin/tests/test_chunkd" || st=1
"$bin/tests/test_malformed" || st=1
exit $st
