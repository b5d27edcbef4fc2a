#!/usr/bin/env bash
# The kernel module builds warning-free with W=1 and is sparse-clean
# (C=2 rechecks every file). Builds in a scratch copy so the tree's own
# build products are untouched. Prints TAP.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zbs-kbuild.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
kdir=$(make -s -C "$top" --no-print-directory print-kdir)
(cd "$top" && cp -r Kbuild VERSION kernel uapi "$tmp/")
find "$tmp" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' -o -name '*.mod*' \) -delete
echo "1..2"
make -C "$kdir" M="$tmp" W=1 modules > "$tmp/w1.log" 2>&1; rc=$?
w=$(grep -cE 'warning:|error:' "$tmp/w1.log")
grep -E 'warning:|error:' "$tmp/w1.log" | sed 's/^/# /'
if [ $rc -eq 0 ] && [ "$w" -eq 0 ]; then echo "ok 1 - W=1 build without warnings ($kdir)"; else echo "not ok 1 - W=1 build: rc $rc, $w warnings"; fi
make -C "$kdir" M="$tmp" W=1 C=2 CHECK="sparse -Wno-decl" modules > "$tmp/sparse.log" 2>&1; rc2=$?
s=$(grep -cE 'warning:|error:' "$tmp/sparse.log")
grep -E 'warning:|error:' "$tmp/sparse.log" | sed 's/^/# /'
if [ $rc2 -eq 0 ] && [ "$s" -eq 0 ]; then echo "ok 2 - sparse clean"; else echo "not ok 2 - sparse: rc $rc2, $s warnings"; fi
[ $rc -eq 0 ] && [ "$w" -eq 0 ] && [ $rc2 -eq 0 ] && [ "$s" -eq 0 ]
