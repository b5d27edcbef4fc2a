#!/usr/bin/env bash
# Build the libFuzzer harness of the data-protocol request decoder with clang
# (-fsanitize=fuzzer,address,undefined) and run it briefly from a seed corpus
# of valid frames. TAP output.
set -u
top=${ZBS_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
secs=${ZBS_FUZZ_SECONDS:-20}
out=$top/build/fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/corpus"
echo "1..2"
if ! command -v clang >/dev/null; then
	echo "not ok 1 - clang not installed (tools/install-deps.sh)"
	echo "not ok 2 - fuzz run skipped"
	exit 1
fi
if clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -I"$top/uapi" -I"$top/daemon/lib" \
	-o "$out/fuzz_wire" "$top/daemon/chunkd/test/fuzz_wire.c" "$top/daemon/lib/wire.c" \
	> "$work/build.log" 2>&1; then
	echo "ok 1 - build fuzz_wire with libFuzzer"
else
	cat "$work/build.log" | sed 's/^/# /'
	echo "not ok 1 - build fuzz_wire with libFuzzer"
	echo "not ok 2 - fuzz run skipped"
	exit 1
fi
# seeds: valid requests of every opcode, a write with payload, a pipeline
python3 - "$work/corpus" <<'PY'
import struct, sys, os
d = sys.argv[1]
def req(op, flags=0, length=0, rid=1, pid=7, epoch=1, le=1, gen=0, off=0):
    return struct.pack('<IHHIIQQQQQQ', 0x5152425a, 1, op, flags, length, rid, pid, epoch, le, gen, off)
seeds = [req(op) for op in range(0, 12)]
seeds.append(req(1, length=4096, off=8192))
seeds.append(req(2, flags=1, length=512, off=512) + b'\xab' * 512)
seeds.append(req(9, length=1024, off=4096) + b'\x01' * 1024)
seeds.append(b''.join(req(2, length=512, gen=g, rid=g) + bytes(512) for g in range(4)))
seeds.append(req(2, length=(1 << 20) + 512))
for i, s in enumerate(seeds):
    open(os.path.join(d, 'seed%02d' % i), 'wb').write(s)
PY
if "$out/fuzz_wire" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/" \
	"$work/corpus" > "$work/fuzz.log" 2>&1; then
	grep -E 'stat::number_of_executed_units|Done' "$work/fuzz.log" | sed 's/^/# /'
	echo "ok 2 - fuzz_wire ran ${secs}s without a finding"
else
	tail -40 "$work/fuzz.log" | sed 's/^/# /'
	echo "not ok 2 - fuzz_wire found a crash"
	exit 1
fi
