#!/usr/bin/env bash
# Install every Debian package ZBS needs to build, test, run the demo and
# benchmark. Idempotent; needs root (or sudo).
set -euo pipefail
pkgs=(
	# build
	build-essential make gcc pkg-config git kmod cpio
	linux-headers-amd64 sparse dkms
	# libraries
	libnl-3-dev libnl-genl-3-dev libprotobuf-c-dev protobuf-c-compiler
	liblmdb-dev libuv1-dev liburing-dev libcmocka-dev libjson-c-dev uuid-dev uthash-dev
	# fuzzing (libFuzzer) and sanitizers; python3 writes the fuzz seed corpus
	clang libclang-rt-14-dev python3
	# VM test runner: kernel to boot, qemu, busybox initramfs
	linux-image-amd64 qemu-system-x86 busybox-static
	# the debug kernel of `make check-debug` (tools/vm/build-debug-kernel)
	linux-source-6.1 flex bison bc libelf-dev libssl-dev xz-utils
	# workloads and peers for tests and benchmarks
	fio nbd-server nbd-client e2fsprogs iproute2 procps psmisc dmsetup udev
)
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "all ${#pkgs[@]} packages present"
	exit 0
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
