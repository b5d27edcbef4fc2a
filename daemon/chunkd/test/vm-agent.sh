#!/usr/bin/env bash
# zbs-chunkd as the kernel's agent, end to end, inside the VM:
#   tools/vm/vm-run -- bash daemon/chunkd/test/vm-agent.sh
# metad + 3 chunkd (the first one serves the zbs module), zbsctl attach,
# O_DIRECT write/read back, fio verify while one chunkd is killed (its
# replica leaves meta's location through the kernel's failure report), the
# existence report, discard (zeros; a never-written extent stays
# unallocated: the kernel asks for a read lease), meta's revoke relayed to
# the kernel, attach/detach
# errors. Prints TAP. Needs root and the module (ZBS_KO, default ./zbs.ko
# when not loaded yet). ACCESS_ONLY=1: the agent is a fourth, access-only
# zbs-chunkd (no data dir) and the 3 data chunkds leave the kernel alone.
set -u
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${ZBS_BIN_PLAIN:-$TOP/build}
T=$(mktemp -d /tmp/zbs-vm-agent.XXXXXX)
M=127.0.0.1:10100
declare -A CPID
META_PID=

cleanup() {
	[ -n "${DEV:-}" ] && "$BIN/zbsctl" detach "$DEV" >/dev/null 2>&1
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/../../../tools/tap.sh"
zc() { "$BIN/zbsctl" --meta $M "$@"; }

echo "1..10"
ip link set lo up 2>/dev/null
[ -e /dev/zbs-control ] || insmod "${ZBS_KO:-$TOP/zbs.ko}" || { echo "Bail out! cannot load zbs.ko"; exit 1; }
"$BIN/zbs-metad" -d "$T/meta" -l $M --session-lease-ms 3000 2>"$T/metad.log" &
META_PID=$!
AGENT_LOG=$T/c1.log NCHUNK=3 WHO="the first"
for i in 1 2 3; do
	extra=; [ $i -gt 1 ] || [ -n "${ACCESS_ONLY:-}" ] && extra=--no-kernel-agent
	"$BIN/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:$((10200 + i)) --meta $M $extra 2>"$T/c$i.log" &
	CPID[$i]=$!
done
if [ -n "${ACCESS_ONLY:-}" ]; then
	"$BIN/zbs-chunkd" --meta $M 2>"$T/access.log" &
	CPID[access]=$! AGENT_LOG=$T/access.log NCHUNK=4 WHO="the access-only one"
fi
up() {
	[ "$(zc chunk list 2>/dev/null | grep -c CONNECTED_HEALTHY)" = $NCHUNK ] &&
		grep -q "registered as the kernel's agent" "$AGENT_LOG"
}
wait_for 30 up
DIAG="$(tail -3 "$AGENT_LOG")"
check "metad and $NCHUNK chunkd up; $WHO registered as the kernel's agent" up

zc volume create v 1G --replica 3 >/dev/null
DEV=$(zc attach v --io-timeout-ms 30000 2>"$T/e")
DIAG="$(cat "$T/e")"
check "zbsctl attach v -> $DEV" test -b "${DEV:-/nonexistent}"
zc attach v >/dev/null 2>"$T/e"; st=$?
DIAG="$(cat "$T/e")"
check "attaching it again: exit 1, 'already attached'" test $st = 1 -a -n "$(grep 'already attached' "$T/e")"

# never written: meta answers the read lease with nothing allocated, the
# agent says -ENODATA, the kernel reads zeroes; nothing gets allocated
zero_read() {
	dd if="$DEV" of="$T/z" bs=1M count=4 skip=512 iflag=direct 2>/dev/null || return 1
	[ "$(stat -c %s "$T/z")" = 4194304 ] && cmp -n 4194304 "$T/z" /dev/zero || return 1
	zc volume show v --pextents
	[ "$(zc --json volume show v --pextents | jq_ "len(d['pextents'])")" = 0 ]
}
check "a read of never-written space returns zeroes and allocates nothing" zero_read

head -c 8M /dev/urandom > "$T/data"
dd if="$T/data" of="$DEV" bs=1M oflag=direct 2>/dev/null &&
	dd if="$DEV" of="$T/back" bs=1M count=8 iflag=direct 2>/dev/null
j=$(zc --json volume show v --pextents)
DIAG="$j"
data_ok() {
	cmp -s "$T/data" "$T/back" &&
	[ "$(jq_ "[p['ever_exist'] and len([b for b in p['location'].to_bytes(4,'little') if b]) == 3 for p in d['pextents']]" <<< "$j")" = "[True]" ]
}
check "8 MiB written and read back identical; meta: ever_exist, 3 replicas" data_ok

# discard: zeros where data was; a never-written extent is not allocated
blkdiscard -o 4M -l 2M "$DEV" && blkdiscard -o 512M -l 256M "$DEV" &&
	dd if="$DEV" of="$T/back" bs=1M count=8 iflag=direct 2>/dev/null &&
	dd if="$DEV" of="$T/back3" bs=1M skip=512 count=8 iflag=direct 2>/dev/null
j=$(zc --json volume show v --pextents)
DIAG="$j"
dd if=/dev/zero of="$T/data" bs=1M seek=4 count=2 conv=notrunc 2>/dev/null
discard_ok() {
	cmp -s "$T/data" "$T/back" && cmp -s -n 8388608 "$T/back3" /dev/zero &&
	[ "$(jq_ "len(d['pextents'])" <<< "$j")" = 1 ]
}
check "discard: 2 MiB read back as zeros, the rest intact; a never-written extent stays unallocated" \
	discard_ok

fio --name=w --filename="$DEV" --rw=randwrite --bs=4k --size=64M --offset=0 --ioengine=libaio \
	--direct=1 --iodepth=16 --verify=crc32c --verify_fatal=1 --do_verify=0 \
	--output="$T/fio1" > /dev/null 2>&1 &
F=$!
sleep 3
kill -9 "${CPID[3]}"; wait "${CPID[3]}" 2>/dev/null; unset 'CPID[3]'
wait $F; st=$?
fio --name=w --filename="$DEV" --rw=randwrite --bs=4k --size=64M --offset=0 --ioengine=libaio \
	--direct=1 --iodepth=16 --verify=crc32c --verify_fatal=1 --verify_only \
	--output="$T/fio2" > /dev/null 2>&1; vst=$?
DIAG="$(grep -h 'err=' "$T/fio1" "$T/fio2")"
check "fio randwrite with a chunkd killed midway: no error, verify passes" test $st = 0 -a $vst = 0
j=$(zc --json volume show v --pextents)
DIAG="$j $(grep -E 'agent|kernel:' "$AGENT_LOG" | tail -5)"
check "the killed chunk's replica left meta's location (kernel report -> RemoveReplica)" \
	test "$(jq_ "[len([b for b in p['location'].to_bytes(4,'little') if b]) for p in d['pextents']]" <<< "$j")" = "[2]"

maps() { zc --json device show "$DEV" | jq_ 'd["cached_maps"]'; }
pid=$(jq_ "d['pextents'][0]['pid']" <<< "$j")
before=$(maps)
zc lease revoke --pid "$pid" >/dev/null
nomaps() { [ "$(maps)" = 0 ]; }
wait_for 10 nomaps
after=$(maps)
dd if="$DEV" of="$T/back2" bs=1M count=8 iflag=direct 2>/dev/null
DIAG="maps $before -> $after; $(grep -E 'revoke' "$AGENT_LOG" | tail -3)"
check "meta's revoke of pid $pid reaches the kernel (cached maps $before -> 0), IO maps again" \
	test "$before" = 1 -a "$after" = 0 -a "$(maps)" = 1

zc detach "$DEV" 2>"$T/e"; st=$?
DIAG="$(cat "$T/e")"
check "zbsctl detach $DEV" test $st = 0 -a ! -b "$DEV"
DEV=
tap_exit
