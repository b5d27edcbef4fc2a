#!/usr/bin/env bash
# make demo: a ZBS cluster on this machine with a 3-replica volume, ext4 and
# fio on it. Builds what is missing (and installs Debian packages if any are
# missing), then runs tools/demo-guest.sh: natively when this kernel can load
# zbs.ko (root, a matching kernel), otherwise inside a VM of the installed
# Debian kernel (tools/vm/vm-run), as on machines booted with `nomodule`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
	tools/install-deps.sh | tail -n 1
fi
make -s all
vermagic=$(modinfo -F vermagic zbs.ko | cut -d' ' -f1)
native=0
if [ "$(id -u)" -eq 0 ] && [ "$vermagic" = "$(uname -r)" ] &&
   [ "$(cat /proc/sys/kernel/modules_disabled 2>/dev/null || echo 1)" = 0 ] &&
   ! grep -qw nomodule /proc/cmdline; then
	native=1
fi
if [ $native -eq 1 ]; then
	echo "== running natively on $(uname -r)"
	exec bash tools/demo-guest.sh
fi
echo "== this kernel ($(uname -r)) cannot load zbs.ko (built for $vermagic): running the demo in a VM"
exec tools/vm/vm-run --timeout 900 --mem 4096 -- bash tools/demo-guest.sh
