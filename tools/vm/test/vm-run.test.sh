#!/usr/bin/env bash
# Tests of tools/vm/vm-run itself: exit status, output, working directory,
# artifacts, timeout, detection of a kernel WARNING raised on purpose through
# the module's test-only hook, and that nothing is left behind. Prints TAP.
set -u
top=$(cd "$(dirname "$0")/../../.." && pwd)
vm=$top/tools/vm/vm-run
cd "$top"
[ -f zbs.ko ] || make -s module >/dev/null
echo "1..11"
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zbs-vmtest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# vm-run keeps its files under $TMPDIR: a private one shows what it leaves
export TMPDIR=$tmp/vmtmp
mkdir -p "$TMPDIR"

# 1-4: status, output, cwd, artifacts
out=$("$vm" --timeout 120 --out "$tmp/art" --env ZBS_T=42 -- \
	bash -c 'echo "cwd=$PWD t=$ZBS_T uid=$(id -u)"; echo data > "$ZBS_VM_OUT/file.txt"; exit 7' 2>"$tmp/err")
rc=$?
echo "$out" | sed 's/^/# /'
check "command's exit status comes back (7)" [ $rc -eq 7 ]
check "command runs as root in the caller's directory with --env" \
	grep -qxF "cwd=$top t=42 uid=0" <<<"$out"
check "artifacts copied back from \$ZBS_VM_OUT" grep -qx data "$tmp/art/file.txt"
check "guest kernel log copied with the artifacts" grep -q 'Linux version' "$tmp/art/dmesg.log"

# 5: timeout
start=$SECONDS
"$vm" --timeout 3 -- sleep 600 >/dev/null 2>&1
rc=$?
check "timeout: exit 124 well before the command would end (rc $rc, $((SECONDS - start))s)" \
	[ $rc -eq 124 -a $((SECONDS - start)) -lt 300 ]

# 6-7: a WARNING from the test hook fails a run whose script passed
out=$("$vm" --timeout 120 -- bash -c '
	insmod zbs.ko test_hooks=1 || exit 1
	echo 1 > /sys/kernel/debug/zbs/inject_warn
	rmmod zbs
	exit 0' 2>"$tmp/err")
rc=$?
sed 's/^/# /' "$tmp/err" | head -n 8
check "kernel WARNING fails a passing script (exit 70, got $rc)" [ $rc -eq 70 ]
check "the warning is reported" grep -q 'WARNING:.*zbs' "$tmp/err"

# 8: the same script without the hook passes (control)
"$vm" --timeout 120 -- bash -c 'insmod zbs.ko test_hooks=1 && rmmod zbs' >/dev/null 2>&1
rc=$?
check "control run without triggering the hook passes (rc $rc)" [ $rc -eq 0 ]

# 9: --modules-dir: a tree of just the 9p modules (made with depmod) is what
# the guest sees as /lib/modules/<release>, and modprobe resolves in it
kver=$(ls /boot/vmlinuz-* | sort -V | tail -n 1); kver=${kver##*/vmlinuz-}
mr=$tmp/modroot/lib/modules/$kver
mkdir -p "$mr/kernel"
for m in virtio_pci 9pnet_virtio 9p; do modprobe -S "$kver" --show-depends $m; done |
	awk '/^insmod/ {print $2}' | sort -u | xargs -r cp -t "$mr/kernel/"
cp /lib/modules/"$kver"/modules.builtin* "$mr/" 2>/dev/null
ls "$mr/kernel" | sed 's|^|kernel/|' > "$mr/modules.order"
depmod -b "$tmp/modroot" "$kver"
out=$("$vm" --timeout 120 --modules-dir "$mr" -- bash -c \
	'echo "n=$(ls /lib/modules/$(uname -r)/kernel | wc -l)"; modprobe 9p && echo modprobe-ok' 2>"$tmp/err")
rc=$?
echo "$out" | sed 's/^/# /'
check "--modules-dir is the guest's /lib/modules/<release> (rc $rc)" \
	grep -qx "n=$(ls "$mr/kernel" | wc -l)" <<<"$out"
check "modprobe in the guest resolves in it" grep -qx modprobe-ok <<<"$out"

# 11: nothing left behind
left=$(ls -A "$TMPDIR" | wc -l)
qemus=$(pgrep -f "[q]emu-system-x86_64.*$TMPDIR/" | wc -l)
check "no temporary files ($left) or qemu processes ($qemus) left" \
	[ "$left" -eq 0 -a "$qemus" -eq 0 ]
exit $fail
