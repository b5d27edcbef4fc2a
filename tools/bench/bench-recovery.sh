#!/usr/bin/env bash
# make bench-recovery: what recovery costs and how fast it is, one table
# from one run. Natively (bench-recovery-native.sh: zbs-metad and 4
# zbs-chunkd on loopback, data dirs on the disk under build/): the copy rate
# of a full 256 MiB extent by a migrate cmd vs a raw dd of the same replica
# file between the same two data dirs (goal: ratio >= 0.7), and the time to
# full redundancy for N extents of a 3-replica volume after a chunk is
# killed -9, and the client p99 latency of 4 KiB randwrite (to both
# replicas) and randread at a fixed rate (bench-clientlat) without recovery
# vs while migrate cmds copy an extent between the client's two chunks
# (goal: <= 2x), per chunkd mode. In one VM boot (bench-recovery-guest.sh:
# the kernel device): fio p99 latency of 4 KiB randwrite and randread at a
# fixed rate without recovery vs while recovery copies (goal: <= 2x), and
# once more under a static budget. A missed goal is printed as FAIL; the
# goals are the default chunkd's (pacing on): rows of runs with pacing off
# (mode nopace, the VM's "no pace" cluster) are references, no verdict. The
# exit status is 0 (a measurement) unless a part could not run. TCG makes
# the VM's numbers noisy (p99 of one job from ms to s within a boot): the
# native latency rows are the ones to go by.
#   ZBS_BENCH_EXTENTS (8), ZBS_BENCH_EXTENT_MIB (64), ZBS_BENCH_LEASE_MS (3000),
#   ZBS_BENCH_LAT_MODES ("default"), ZBS_BENCH_LAT_ROUNDS (3),
#   ZBS_BENCH_LAT_IOPS (1000), ZBS_BENCH_LAT_SECONDS (10),
#   ZBS_BENCH_DIR (build/bench-recovery) for the native part;
#   ZBS_BENCH_RUNTIME (10 s per fio job), ZBS_BENCH_IOPS (100),
#   ZBS_BENCH_BUDGET (8M), ZBS_BENCH_ROUNDS (3) for the VM; ZBS_BENCH_NO_VM=1 skips the VM.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d /tmp/zbs-bench-recovery.XXXXXX)
trap 'rm -rf "$out"' EXIT
if [ -n "${ZBS_BENCH_NO_VM:-}" ]; then
	make -s -C "$top" userspace || exit 1
else
	make -s -C "$top" all || exit 1
fi
st=0
echo "== native: copy rate, time to full redundancy, client latency without and with recovery"
ZBS_BIN_PLAIN=$top/build bash "$top/tools/bench/bench-recovery-native.sh" | tee "$out/native" ||
	st=1
if [ -z "${ZBS_BENCH_NO_VM:-}" ]; then
	echo "== VM: client fio latency without and with recovery"
	"$top/tools/vm/vm-run" --timeout 2400 --mem 4096 \
		--env ZBS_BENCH_RUNTIME="${ZBS_BENCH_RUNTIME:-10}" \
		--env ZBS_BENCH_IOPS="${ZBS_BENCH_IOPS:-100}" \
		--env ZBS_BENCH_BUDGET="${ZBS_BENCH_BUDGET:-8M}" \
		--env ZBS_BENCH_ROUNDS="${ZBS_BENCH_ROUNDS:-3}" \
		--env ZBS_BENCH_VM_CLUSTERS="${ZBS_BENCH_VM_CLUSTERS:-nopace pace}" \
		--env ZBS_BENCH_VM_JOBS="${ZBS_BENCH_VM_JOBS:-randwrite randread}" -- \
		bash "$top/tools/bench/bench-recovery-guest.sh" | tee "$out/vm"
	[ "${PIPESTATUS[0]}" = 0 ] || st=1
fi
echo
cat "$out"/native "$out"/vm 2>/dev/null | python3 -c '
import re, sys
r = {}
for line in sys.stdin:
    f = line.split()
    if len(f) == 3 and f[0] == "RESULT":
        r.setdefault(f[1], []).append(f[2])
def num(k):	# the median of the runs
    if k not in r:
        return None
    v = sorted(float(x) for x in r[k])
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2
def one(k, d="?"):
    return r[k][-1] if k in r else d
rows = []
def row(name, value, goal="", verdict=""):
    rows.append((name, value, goal, verdict))
def goal(ratio, paced):	# goal and verdict of a p99 ratio; pacing off: a reference
    if not paced:
        return "(ref)", "-"
    return "<= 2.00", "PASS" if ratio <= 2.0 else "FAIL"
raw_b, raw_ms = num("raw_bytes"), num("raw_ms")
rec_b, rec_ms = num("recover_bytes"), num("recover_ms")
if raw_b and raw_ms and rec_b and rec_ms:
    raw = raw_b / 1e3 / raw_ms
    rec = rec_b / 1e3 / rec_ms
    row("copy 256 MiB extent: recovery (migrate cmd)", "%.1f MB/s" % rec)
    row("copy 256 MiB extent: raw dd, same data dirs", "%.1f MB/s" % raw)
    ratio = rec / raw
    row("copy rate ratio recovery/raw", "%.2f" % ratio, ">= 0.70", "PASS" if ratio >= 0.7 else "FAIL")
else:
    row("copy rate", "not measured")
if "redundancy_ms" in r:
    row("time to full redundancy: %s extents x %d MiB, kill -9" % (one("redundancy_extents"),
        int(num("redundancy_bytes")) // int(num("redundancy_extents")) >> 20),
        "%.1f s" % (num("redundancy_ms") / 1e3))
    row("  of which until meta noticed (session lease)", "%.1f s" % (num("redundancy_notice_ms") / 1e3))
    row("  copy after that", "%.1f MB/s" % (num("redundancy_bytes") / 1e3 /
        max(1, num("redundancy_ms") - num("redundancy_notice_ms"))))
else:
    row("time to full redundancy", "not measured")
modes = sorted({m.group(1) or "" for m in (re.match(r"lat_(?:(\w+)_)?rand(?:write|read)_ratio$", k)
                                           for k in r) if m})
for mode in modes:	# "" is mode default
    pfx = mode + "_" if mode else ""
    for rw in ("randwrite", "randread"):
        k = "lat_%s%s_" % (pfx, rw)
        if k + "ratio" not in r:
            continue
        ratio = num(k + "ratio")
        row("client 4k %s p99 at %s iops%s: without -> with recovery" % (rw,
            one("lat_iops"), " [%s]" % mode if mode else ""),
            "%d -> %d us = %.2fx (median of %s; copy %d MB/s during %d%% of the run)" % (
            num(k + "without_p99_us"), num(k + "with_p99_us"), ratio, one("lat_rounds"),
            num(k + "copy_MBps"), num(k + "recover_busy_pct")),
            *goal(ratio, mode != "nopace"))
        row("  p50", "%d -> %d us = %.2fx" % (num(k + "without_p50_us"),
            num(k + "with_p50_us"), num(k + "p50_ratio")))
if not modes:
    row("client p99 latency (native)", "not measured")
for phase, base, label in (("recov", "base", "no pace, budget unlimited"),
                           ("budget", "base", "no pace, budget %s/s" % one("budget")),
                           ("pace", "pbase", "pace on, budget unlimited")):
    for job in ("randwrite-4k", "randread-4k"):
        b, w = num("fio_%s_%s_p99_us" % (base, job)), num("fio_%s_%s_p99_us" % (phase, job))
        if b is None or w is None:
            continue
        ratio = w / b if b else 0
        n = len(r["fio_%s_%s_p99_us" % (phase, job)])
        cp = num("copy_%s_%s_MBps" % (phase, job))
        row("fio %s p99: %s" % (job, label),
            "%d -> %d us = %.2fx (%s; copy %.1f MB/s)" % (b, w, ratio,
            "median of %d" % n if n > 1 else "1 run", cp or 0),
            *goal(ratio, phase == "pace"))
        row("  p50", "%d -> %d us" % (num("fio_%s_%s_p50_us" % (base, job)),
            num("fio_%s_%s_p50_us" % (phase, job))))
    if phase + "_cuts" in r:
        row("  copy rate cuts by the pace", one(phase + "_cuts"))
if not any(k.startswith("fio_") for k in r):
    row("client fio p99", "not measured (VM)")
w = max(len(x[0]) for x in rows)
v = max(len(x[1]) for x in rows)
print("%-*s  %-*s  %-8s %s" % (w, "bench-recovery", v, "measured", "goal", "result"))
for n, val, g, verdict in rows:
    print("%-*s  %-*s  %-8s %s" % (w, n, v, val, g, verdict))
'
exit $st
