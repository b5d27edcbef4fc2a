#!/usr/bin/env bash
# zbs-histcheck on a plain file (O_DIRECT): a clean run has no violation;
# then blocks are damaged behind its back and `check` must report each kind:
# an acknowledged write replaced by zeros or by an older version of the
# block (lost), a sector from another block (foreign), a sector from an
# older write of the same block (torn). Prints TAP.
set -u
BIN=${ZBS_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/san}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "$TOP/build/histcheck-test.XXXXXX")	# on disk: O_DIRECT
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
. "$TOP/tools/tap.sh"
H() { "$BIN/zbs-histcheck" "$@"; }
field() { grep -E '^(run|check):' <<< "$2" | sed -n "s/.* $1 \([0-9]*\).*/\1/p"; }

echo "1..7"
truncate -s 4M "$T/dev"
out=$(H run --dev "$T/dev" --writers 4 --readers 2 --seconds 2 --seed 7 --state "$T/state")
st=$?
DIAG="$out"
check "a clean run: no violation, writes and reads were checked" \
	test $st -eq 0 -a "$(field violations "$out")" = 0 -a "$(field writes "$out")" -gt 100 -a \
	"$(grep -o 'reads [0-9]*' <<< "$out" | cut -d' ' -f2)" -gt 100
cp "$T/dev" "$T/snap"
out=$(H check --dev "$T/dev" --state "$T/state")
DIAG="$out"
check "check of the untouched device: no violation" test $? -eq 0 -a "$(field violations "$out")" = 0

# damage: which blocks were written is in the state file (2 x u64 per block after a 40-byte header)
written=$(python3 - "$T/state" <<'EOF'
import struct, sys
d = open(sys.argv[1], 'rb').read()
n = struct.unpack_from('<Q', d, 16)[0]
print(' '.join(str(b) for b in range(n) if struct.unpack_from('<QQ', d, 40 + 16 * b)[0] >= 2))
EOF
)
set -- $written
b1=$1 b2=$2 b3=$3
dd if=/dev/zero of="$T/dev" bs=4096 seek="$b1" count=1 conv=notrunc status=none
out=$(H check --dev "$T/dev" --state "$T/state")
st=$?
DIAG="$out"
check "an acknowledged block read back as zeros: lost (exit 1)" \
	test $st -eq 1 -a "$(field lost "$out")" = 1 -a "$(grep -c "block $b1:" <<< "$out")" = 1
dd if="$T/snap" of="$T/dev" bs=4096 skip="$b1" seek="$b1" count=1 conv=notrunc status=none
dd if="$T/dev" of="$T/dev" bs=512 skip=$((b3 * 8 + 3)) seek=$((b2 * 8 + 3)) count=1 conv=notrunc status=none
out=$(H check --dev "$T/dev" --state "$T/state")
DIAG="$out"
check "a sector of another block: foreign" test "$(field foreign "$out")" = 1
dd if="$T/snap" of="$T/dev" bs=4096 skip="$b2" seek="$b2" count=1 conv=notrunc status=none

# an older write of a block, a write never issued, two writes in one block
acked=$(python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(); print(*struct.unpack_from('<QQ', d, 40 + 16 * $b3))" "$T/state")
set -- $acked
H stamp --dev "$T/dev" --block "$b3" --seq $(($1 - 1)) --writers 4
out=$(H check --dev "$T/dev" --state "$T/state")
DIAG="$out"
check "an older write where seq $1 was acknowledged: lost" \
	test "$(field lost "$out")" = 1 -a "$(grep -c "block $b3: seq $(($1 - 1))" <<< "$out")" = 1
H stamp --dev "$T/dev" --block "$b3" --seq $(($2 + 5)) --writers 4
out=$(H check --dev "$T/dev" --state "$T/state")
DIAG="$out"
check "a seq above the last issued ($2): future" test "$(field future "$out")" = 1
dd if="$T/snap" of="$T/dev" bs=512 skip=$((b3 * 8)) seek=$((b3 * 8)) count=4 conv=notrunc status=none
out=$(H check --dev "$T/dev" --state "$T/state")
DIAG="$out"
check "sectors of two writes in one block: torn" test "$(field torn "$out")" = 1
tap_exit
