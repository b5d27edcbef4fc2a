#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang (-fsanitize=fuzzer,address,undefined)
# and run each briefly from a seed corpus of valid frames: fuzz_wire (the
# request decoder) and fuzz_store (decoded requests executed against a real
# store in a temp dir). TAP output.
set -u
top=${ZBS_TOP:-$(cd "$(dirname "$0")/../../.." && pwd)}
secs=${ZBS_FUZZ_SECONDS:-12}
out=$top/build/fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/corpus"
echo "1..4"
if ! command -v clang >/dev/null; then
	echo "not ok 1 - clang not installed (tools/install-deps.sh)"
	exit 1
fi
CF=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -I"$top/uapi" -I"$top/daemon/lib" -I"$top/daemon/chunkd")
if clang "${CF[@]}" -o "$out/fuzz_wire" "$top/daemon/chunkd/test/fuzz_wire.c" \
	"$top/daemon/lib/wire.c" > "$work/build.log" 2>&1; then
	echo "ok 1 - build fuzz_wire with libFuzzer"
else
	sed 's/^/# /' "$work/build.log"
	echo "not ok 1 - build fuzz_wire with libFuzzer"
	exit 1
fi
if clang "${CF[@]}" -o "$out/fuzz_store" "$top/daemon/chunkd/test/fuzz_store.c" \
	"$top/daemon/chunkd/chunk_store.c" "$top/daemon/lib/wire.c" "$top/daemon/lib/log.c" \
	-llmdb -luuid -lpthread > "$work/build.log" 2>&1; then
	echo "ok 2 - build fuzz_store with libFuzzer"
else
	sed 's/^/# /' "$work/build.log"
	echo "not ok 2 - build fuzz_store with libFuzzer"
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
seeds.append(req(4) + b''.join(req(2, length=512, gen=g, off=g * 512) + bytes([g]) * 512 for g in range(3))
             + req(1, length=2048) + req(7) + req(5) + req(8, pid=6) + req(2, pid=6, length=512)
             + bytes(512) + req(9, pid=6, length=1024) + bytes(1024) + req(10, pid=6, gen=9)
             + req(3) + req(6))
for i, s in enumerate(seeds):
    open(os.path.join(d, 'seed%02d' % i), 'wb').write(s)
PY
st=0
n=3
for f in fuzz_wire fuzz_store; do
	if TMPDIR=$work "$out/$f" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
		-artifact_prefix="$out/$f-" "$work/corpus" > "$work/$f.log" 2>&1; then
		grep -E 'stat::number_of_executed_units' "$work/$f.log" | sed 's/^/# /'
		echo "ok $n - $f ran ${secs}s without a finding"
	else
		tail -40 "$work/$f.log" | sed 's/^/# /'
		echo "not ok $n - $f found a crash (input saved under $out/$f-*)"
		st=1
	fi
	n=$((n + 1))
done
exit $st
