#!/usr/bin/env bash
# Prove dkms.conf works: `dkms add` and `dkms build` of this tree's module
# against every installed kernel with headers, in a private DKMS and source
# tree (nothing installed, nothing left behind). Prints TAP.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
ver=$(cat "$top/VERSION")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zbs-dkms.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
kvers=()
for b in /lib/modules/*/build; do [ -f "$b/Makefile" ] && kvers+=("$(basename "$(dirname "$b")")"); done
echo "1..$((3 + 2 * ${#kvers[@]}))"
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }
fail=0

dver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/dkms.conf")
[ "$dver" = "$ver" ] && ok "dkms.conf PACKAGE_VERSION $dver matches VERSION" || nok "dkms.conf PACKAGE_VERSION $dver != VERSION $ver"

src=$tmp/src/zbs-$ver
mkdir -p "$src" "$tmp/tree"
(cd "$top" && cp -r Kbuild VERSION dkms.conf kernel uapi "$src/")
# only sources: drop build products that may sit in the tree
find "$src" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' -o -name '*.mod*' \) -delete
D=(dkms --sourcetree "$tmp/src" --dkmstree "$tmp/tree")
if "${D[@]}" add -m zbs -v "$ver" > "$tmp/add.log" 2>&1; then
	ok "dkms add zbs/$ver"
else
	sed 's/^/# /' "$tmp/add.log"; nok "dkms add zbs/$ver"
fi
if [ ${#kvers[@]} -eq 0 ]; then
	nok "no kernel headers installed (linux-headers-amd64)"
fi
for k in "${kvers[@]}"; do
	if "${D[@]}" build -m zbs -v "$ver" -k "$k" > "$tmp/build.log" 2>&1; then
		ok "dkms build zbs/$ver for $k"
	else
		sed 's/^/# /' "$tmp/build.log"
		find "$tmp/tree" -name make.log -exec sed 's/^/# /' {} \;
		nok "dkms build zbs/$ver for $k"
	fi
	ko=$(find "$tmp/tree/zbs/$ver/$k" -name zbs.ko 2>/dev/null | head -n 1)
	vm=$( [ -n "$ko" ] && modinfo -F vermagic "$ko")
	mv=$( [ -n "$ko" ] && modinfo -F version "$ko")
	if [ -n "$ko" ] && [ "${vm%% *}" = "$k" ] && [ "$mv" = "$ver" ]; then
		ok "built zbs.ko has vermagic $k and version $mv"
	else
		nok "built zbs.ko for $k (found '$ko', vermagic '$vm', version '$mv')"
	fi
done
status=$("${D[@]}" status -m zbs -v "$ver" 2>&1)
echo "# $status"
case "$status" in *built*) ok "dkms status reports zbs built" ;; *) nok "dkms status reports zbs built" ;; esac
"${D[@]}" remove -m zbs -v "$ver" --all >/dev/null 2>&1
exit $fail
