#!/usr/bin/env bash
# `dkms install` end to end, as the module is meant to be used: install
# this tree's module through DKMS for the Debian kernel the VM boots, then
# in the VM (it shares this root) `modprobe zbs` loads it from
# /lib/modules, and resolving the generic netlink family "zbs" loads it
# through its alias. Everything installed is removed at the end (dkms
# remove, depmod). Needs root; skips (ok) when not root. Prints TAP.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
ver=$(cat "$top/VERSION")
echo "1..5"
if [ "$(id -u)" -ne 0 ]; then
	for i in 1 2 3 4 5; do echo "ok $i - # SKIP not root"; done
	exit 0
fi
k=$(ls /lib/modules | sort -V | tail -n 1)
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zbs-dkms-install.XXXXXX")
src=$tmp/src/zbs-$ver
D=(dkms --sourcetree "$tmp/src" --dkmstree "$tmp/tree")
cleanup() {
	"${D[@]}" remove -m zbs -v "$ver" --all >/dev/null 2>&1
	rm -f "/lib/modules/$k/updates/dkms/zbs.ko" "/lib/modules/$k/updates/dkms/zbs.ko.xz"
	depmod "$k" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
if modinfo -k "$k" -n zbs >/dev/null 2>&1; then
	echo "# a zbs module is already installed for $k: $(modinfo -k "$k" -n zbs); not touching it"
	for i in 1 2 3 4 5; do echo "ok $i - # SKIP zbs already installed"; done
	trap - EXIT; rm -rf "$tmp"
	exit 0
fi
mkdir -p "$src" "$tmp/tree"
(cd "$top" && cp -r Kbuild VERSION dkms.conf kernel uapi "$src/")
find "$src" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' -o -name '*.mod*' \) -delete
if "${D[@]}" add -m zbs -v "$ver" >"$tmp/log" 2>&1 &&
   "${D[@]}" install -m zbs -v "$ver" -k "$k" >>"$tmp/log" 2>&1; then
	ok "dkms install zbs/$ver for $k"
else
	sed 's/^/# /' "$tmp/log" | tail -n 20
	nok "dkms install zbs/$ver for $k"
fi
path=$(modinfo -k "$k" -n zbs 2>/dev/null)
case "$path" in
*/updates/dkms/zbs.ko*) ok "modinfo finds it in /lib/modules ($path)" ;;
*) nok "modinfo finds it in /lib/modules ('$path')" ;;
esac
# in the VM: modprobe, then the genl alias (CTRL_CMD_GETFAMILY "zbs")
cat > "$tmp/guest.sh" <<'EOF'
lsmod | grep -q '^zbs ' && rmmod zbs
if modprobe zbs && [ -d /sys/module/zbs ] && [ "$(cat /sys/module/zbs/version)" = "$1" ]; then
	echo "guest: modprobe ok"
fi
rmmod zbs
python3 - <<'PY'
import socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)   # NETLINK_GENERIC
name = b"zbs\0"
attr = struct.pack("=HH", 4 + len(name), 2) + name + b"\0" * ((4 - len(name) % 4) % 4)
body = struct.pack("=BBH", 3, 1, 0) + attr                  # CTRL_CMD_GETFAMILY, v1
s.send(struct.pack("=IHHII", 16 + len(body), 0x10, 1, 1, 0) + body)   # GENL_ID_CTRL, NLM_F_REQUEST
data = s.recv(4096)
err = struct.unpack("=i", data[16:20])[0] if struct.unpack("=H", data[4:6])[0] == 2 else 0
print("guest: family resolved" if err == 0 else "guest: resolve error %d" % err)
PY
[ -d /sys/module/zbs ] && echo "guest: loaded by alias"
rmmod zbs 2>/dev/null
EOF
# (the guest has its own /tmp: the script goes as an argument)
"$top/tools/vm/vm-run" --timeout 300 -- bash -c "$(cat "$tmp/guest.sh")" guest "$ver" \
	>"$tmp/vm.log" 2>&1
sed -n 's/^guest: /# guest: /p' "$tmp/vm.log"
if grep -q '^guest: modprobe ok' "$tmp/vm.log"; then
	ok "in the VM, modprobe zbs loads the installed module"
else
	tail -n 20 "$tmp/vm.log" | sed 's/^/# /'; nok "in the VM, modprobe zbs loads the installed module"
fi
if grep -q '^guest: family resolved' "$tmp/vm.log" && grep -q '^guest: loaded by alias' "$tmp/vm.log"; then
	ok "resolving the genl family 'zbs' loads it (MODULE_ALIAS_GENL_FAMILY)"
else
	nok "resolving the genl family 'zbs' loads it (MODULE_ALIAS_GENL_FAMILY)"
fi
cleanup
trap - EXIT
if modinfo -k "$k" -n zbs >/dev/null 2>&1; then
	nok "dkms remove and depmod leave nothing installed"
else
	ok "dkms remove and depmod leave nothing installed"
fi
exit $fail
