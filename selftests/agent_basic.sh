#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The block device end to end without meta: zbs.ko, three zbs-chunkd on
# loopback (data in tmpfs) and zbs-test-agent answering the kernel's map
# requests. A pattern written with O_DIRECT reads back identically, every
# chunk holds every replica with the same data and gen; a burst of random
# writes over a 64 GiB volume gets hundreds of vextents mapped. Then one
# chunk is killed: writes still succeed, the kernel reports the replica
# failure and the agent drops it; a new vextent is mapped on the two live
# chunks. A revoke during a write drains it and forces new maps. Then
# everything is torn down (device, agent, chunks, module).
. "$(dirname "$0")/lib.sh"
BIN=${ZBS_BIN_PLAIN:-$ZBS_TOP/build}
VOL=agent-basic-vol-0001
MiB=$((1024 * 1024))

tmp=$(mktemp -d /tmp/zbs-agent-basic.XXXXXX) || exit 1
chunk_pids=() agent_pid="" dev=""
cleanup() {
	[ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
	for p in "${chunk_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "$dev" ] && [ -e "$dev" ]; then "$ZBSCTL" device del "$dev" 2>/dev/null; fi
	zbs_unload 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

dump_logs() {
	local f
	for f in "$tmp"/*.log "$tmp"/events; do
		[ -f "$f" ] || continue
		echo "# --- $(basename "$f") (last 30 lines)"
		tail -n 30 "$f" | sed 's/^/#   /'
	done
}

# cached maps of a device, from zbsctl device show --json
maps_of() { "$ZBSCTL" --json device show "$1" | sed -n 's/.*"cached_maps": *\([0-9]*\).*/\1/p'; }

# wait_file FILE SECONDS: until FILE is non-empty
wait_file() {
	local i
	for i in $(seq $(($2 * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
	return 1
}

# stop PID SECONDS: SIGTERM, then the exit status (124 if it did not exit)
stop() {
	local i
	kill -TERM "$1" 2>/dev/null || return 1
	for i in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
		sleep 0.1
	done
	return 124
}

ktap_plan 25

zbs_unload 2>/dev/null
zbs_load && wait_path /dev/zbs-control
ktap_check "zbs.ko loaded" test -c /dev/zbs-control

# 3 chunks on 127.0.0.1, any free port
ports=()
for i in 1 2 3; do
	"$BIN/zbs-chunkd" --data-dir "$tmp/chunk$i" --listen 127.0.0.1:0 \
		--port-file "$tmp/port$i" 2> "$tmp/chunkd$i.log" &
	chunk_pids+=($!)
done
ok=1
for i in 1 2 3; do
	wait_file "$tmp/port$i" 20 || ok=0
	ports+=("$(cat "$tmp/port$i" 2>/dev/null)")
done
ktap_check "three zbs-chunkd listening (ports ${ports[*]})" [ $ok -eq 1 ]

replicas="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
"$BIN/zbs-test-agent" --replicas "$replicas" --local "127.0.0.1:${ports[0]}" \
	--events "$tmp/events" --pid-file "$tmp/agent.pid" --session-ms 3000 --log-level debug \
	2> "$tmp/agent.log" &
agent_pid=$!
ktap_check "zbs-test-agent registered" wait_file "$tmp/agent.pid" 20

# 2 GiB, 2 stripes of 64 KiB: vextents 0,1 (first 512 MiB), 2,3, 4,5, ...
dev=$("$ZBSCTL" device add --volume-id "$VOL" --size 2G --stripe-num 2 --stripe-size 64K \
	--replica-num 3 --io-timeout-ms 20000)
ktap_info "zbsctl device add: $dev"
ktap_check "device $dev created" wait_path "$dev"

# 8 MiB at 0 (vextents 0 and 1) and 4 MiB at 600 MiB (vextents 2 and 3)
head -c $((12 * MiB)) /dev/urandom > "$tmp/pattern"
write_all() {
	timeout 120 dd if="$tmp/pattern" of="$dev" bs=1M count=8 oflag=direct conv=fsync status=none &&
	timeout 120 dd if="$tmp/pattern" of="$dev" bs=1M skip=8 seek=600 count=4 oflag=direct \
		conv=fsync status=none
}
ktap_check "write 8 MiB at 0 and 4 MiB at 600 MiB (O_DIRECT)" write_all

r() { timeout 120 dd if="$dev" bs=1M iflag=direct status=none "$@"; }
{ r count=8; r skip=600 count=4; } > "$tmp/readback" 2> "$tmp/read.err"
ktap_check "read back identical (O_DIRECT)" cmp "$tmp/pattern" "$tmp/readback"
r skip=300 count=1 > "$tmp/zeros" 2>> "$tmp/read.err"
ktap_check "never-written range reads as zeros" cmp -n $MiB "$tmp/zeros" /dev/zero

grep -E '^(map|map-error|removed|failed|exist|rejected) ' "$tmp/events" | sort | uniq -c | \
	sed 's/^/# events: /' | head -n 20
no_bad_events() { ! grep -qE '^(rejected|removed|failed|map-error) ' "$tmp/events"; }
ktap_check "no map reply rejected by the kernel, no replica removed" no_bad_events

# the four written vextents got maps with all three replicas
pid_of() { sed -n "s/^map dev=${dev#/dev/zbs} .* vext=$1 pid=\([0-9]*\) .*replicas=1,2,3.*/\1/p" "$tmp/events" | head -n 1; }
pids=("$(pid_of 0)" "$(pid_of 1)" "$(pid_of 2)" "$(pid_of 3)")
ktap_check "maps for vextents 0-3 with replicas 1,2,3 (pids ${pids[*]})" \
	test -n "${pids[0]}" -a -n "${pids[1]}" -a -n "${pids[2]}" -a -n "${pids[3]}"

# every chunk holds every replica at the same gen, with the data:
# volume [0, 64K) is vextent 0 at 0, [64K, 128K) is vextent 1 at 0
ok=1
for v in 0 1 2 3; do
	gens=""
	for i in 1 2 3; do
		out=$(timeout 10 "$BIN/zbs-probe" -c "127.0.0.1:${ports[$((i - 1))]}" -p "${pids[$v]}" -e 1 info 2>&1)
		g=$(sed -n 's/.*status=0 .* gen=\([0-9]*\) .*/\1/p' <<< "$out")
		[ -n "$g" ] && [ "$g" -gt 0 ] || { ok=0; ktap_info "chunk $i pid ${pids[$v]}: $out"; }
		gens+="$g "
	done
	ktap_info "vextent $v pid ${pids[$v]}: gen on chunks 1-3: $gens"
	[ "$(echo $gens | tr ' ' '\n' | sort -u | wc -l)" -eq 1 ] || ok=0
done
ktap_check "all chunks hold replicas of the 4 pids at the same gen > 0 (GET_INFO)" [ $ok -eq 1 ]
ok=1
for v in 0 1; do
	head -c $(((v + 1) * 65536)) "$tmp/pattern" | tail -c 65536 > "$tmp/unit$v"
	for i in 1 2 3; do
		timeout 10 "$BIN/zbs-probe" -c "127.0.0.1:${ports[$((i - 1))]}" -p "${pids[$v]}" -e 1 \
			-L 0 -o 0 -n 65536 read 2>/dev/null > "$tmp/replica$v.$i"
		cmp -s "$tmp/unit$v" "$tmp/replica$v.$i" || { ok=0; ktap_info "chunk $i vextent $v: data differs"; }
	done
done
ktap_check "each chunk's replicas hold the written data (unfenced READ)" [ $ok -eq 1 ]
grep -h 'O_DIRECT' "$tmp"/chunkd*.log | head -n 1 | sed 's/^/# chunkd: /'
# the session lease (3 s, renewed every second) held: one map per vextent
one_map_each() {
	local v
	for v in 0 1 2 3; do
		[ "$(grep -c "^map dev=${dev#/dev/zbs} .* vext=$v pid=" "$tmp/events")" -eq 1 ] || return 1
	done
}
ktap_check "session renewed: exactly one map answer per vextent" one_map_each

# ---- a burst of map requests: 4 KiB random writes over a 64 GiB volume
# (256 vextents) at queue depth 64
dev2=$("$ZBSCTL" device add --volume-id agent-basic-burst --size 64G --replica-num 3 \
	--io-timeout-ms 60000)
start=$(date +%s%N)
timeout 150 fio --name=burst --filename="$dev2" --ioengine=libaio --direct=1 --rw=randwrite \
	--bs=4k --iodepth=64 --number_ios=512 --size=64G > "$tmp/fio-burst.log" 2>&1; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
n=$(grep -c "^map dev=${dev2#/dev/zbs} vol=agent-basic-burst .*replicas=1,2,3" "$tmp/events")
nerr=$(grep -c "^map-error dev=${dev2#/dev/zbs} \|^rejected " "$tmp/events")
ktap_info "burst: fio rc $rc, $n vextents mapped (all 3 replicas), $nerr errors, in $ms ms"
grep "^map-error dev=${dev2#/dev/zbs} \|^rejected " "$tmp/events" | head -5 | sed 's/^/# /'
ktap_check "burst: fio succeeds, >= 150 vextents mapped, no map error or rejection" \
	test $rc -eq 0 -a "$n" -ge 150 -a "$nerr" -eq 0
"$ZBSCTL" device del "$dev2" || ktap_info "cannot detach $dev2"

# ---- chunk 3 dies: writes go on, the kernel reports it, the agent drops it
gen_before=$(timeout 10 "$BIN/zbs-probe" -c "127.0.0.1:${ports[0]}" -p "${pids[0]}" -e 1 info 2>&1 |
	sed -n 's/.* gen=\([0-9]*\) .*/\1/p')
kill -9 "${chunk_pids[2]}"; wait "${chunk_pids[2]}" 2>/dev/null
head -c $((4 * MiB)) /dev/urandom > "$tmp/pattern2"
timeout 120 dd if="$tmp/pattern2" of="$dev" bs=1M count=4 oflag=direct conv=fsync status=none
ktap_check "write with chunk 3 killed succeeds" [ $? -eq 0 ]
timeout 120 dd if="$dev" bs=1M count=4 iflag=direct status=none > "$tmp/readback2"
ktap_check "read back identical with chunk 3 down" cmp "$tmp/pattern2" "$tmp/readback2"
failed_reported() {
	grep -q "^failed pid=${pids[0]} cid=3 " "$tmp/events" &&
	grep -q "^failed pid=${pids[1]} cid=3 " "$tmp/events" &&
	grep -q "^removed pid=${pids[0]} cid=3 reason=replica-failed" "$tmp/events"
}
# the agent logs its events after it answered the kernel: give the lines time
for i in $(seq 100); do failed_reported && break; sleep 0.1; done
ktap_check "REPLICA_FAILED for cid 3 of vextents 0 and 1 reached the agent" failed_reported
ok=1
for v in 0 1; do
	g1=$(timeout 10 "$BIN/zbs-probe" -c "127.0.0.1:${ports[0]}" -p "${pids[$v]}" -e 1 info 2>&1 |
		sed -n 's/.* gen=\([0-9]*\) .*/\1/p')
	g2=$(timeout 10 "$BIN/zbs-probe" -c "127.0.0.1:${ports[1]}" -p "${pids[$v]}" -e 1 info 2>&1 |
		sed -n 's/.* gen=\([0-9]*\) .*/\1/p')
	ktap_info "vextent $v: gen $gen_before before, now $g1 on chunk 1, $g2 on chunk 2"
	[ -n "$g1" ] && [ "$g1" = "$g2" ] && [ "$g1" -gt "${gen_before:-0}" ] || ok=0
done
ktap_check "chunks 1 and 2 advanced together past the gen before the kill" [ $ok -eq 1 ]
# a vextent never mapped before: SYNC to chunk 3 fails, mapped on 1 and 2
# (no process substitution: the VM has no /dev/fd)
head -c $MiB "$tmp/pattern2" > "$tmp/pattern3"
timeout 120 dd if="$tmp/pattern3" of="$dev" bs=1M seek=1100 count=1 oflag=direct conv=fsync status=none &&
timeout 120 dd if="$dev" bs=1M skip=1100 count=1 iflag=direct status=none > "$tmp/readback3" &&
cmp "$tmp/pattern3" "$tmp/readback3"
ktap_check "new vextent written and read back with chunk 3 down" [ $? -eq 0 ]
new_map() {
	grep -qE "^removed pid=[0-9]+ cid=3 reason=sync-failed" "$tmp/events" &&
	grep -qE "^map dev=${dev#/dev/zbs} .* vext=4 .*replicas=1,2 write" "$tmp/events"
}
ktap_check "the agent dropped the dead chunk at sync and mapped vextent 4 on 1,2" new_map

# ---- revoke (on a socket of its own) while a write may be in flight: it
# returns once that IO drained, and the next IO needs new maps
nmaps4() { grep -c "^map dev=${dev#/dev/zbs} .* vext=4 " "$tmp/events"; }
head -c $((16 * MiB)) /dev/urandom > "$tmp/pattern4"
timeout 120 dd if="$tmp/pattern4" of="$dev" bs=256k seek=$((1200 * 4)) oflag=direct \
	conv=fsync status=none &
dd_pid=$!
sleep 0.5
maps_before=$(maps_of "$dev") n_before=$(nmaps4)
timeout 60 "$BIN/zbs-test-agent" --revoke --dev-id "${dev#/dev/zbs}" 2> "$tmp/revoke.log"; rc=$?
wait $dd_pid; dd_rc=$?
timeout 120 dd if="$dev" bs=256k skip=$((1200 * 4)) count=64 iflag=direct status=none > "$tmp/readback4"
n_after=$(nmaps4)
ktap_info "revoke: rc $rc, $maps_before maps cached before; vextent 4 answers $n_before -> $n_after"
ktap_info "revoke: $(tail -n 1 "$tmp/revoke.log")"
if [ $rc -ne 0 ] && grep -q 'Operation not permitted' "$tmp/revoke.log"; then
	ktap_skip "revoke drops the maps (this zbs.ko takes REVOKE only from the agent's socket)"
else
	ktap_check "revoke drops the maps: IO after it asked for a new map" \
		test $rc -eq 0 -a "${maps_before:-0}" -gt 0 -a "$n_after" -gt "$n_before"
fi
ktap_check "the write in flight during the revoke succeeded and reads back" \
	test $dd_rc -eq 0 -a "$(cmp "$tmp/pattern4" "$tmp/readback4" 2>&1; echo $?)" = 0

del_dev() { "$ZBSCTL" device del "$dev" && wait_no_path "$dev"; }
ktap_check "device $dev removed" del_dev
[ -e "$dev" ] || dev=""

stop "$agent_pid" 10; rc=$?
ktap_check "zbs-test-agent exits 0 on SIGTERM (rc $rc), pid file removed" \
	test $rc -eq 0 -a ! -e "$tmp/agent.pid"
[ $rc -ne 124 ] && agent_pid=""
ok=1
for i in 0 1; do
	stop "${chunk_pids[$i]}" 10 || ok=0
done
[ $ok -eq 1 ] && chunk_pids=()
ktap_check "zbs-chunkd instances exit 0 on SIGTERM" [ $ok -eq 1 ]
ktap_check "rmmod zbs" rmmod zbs

[ $_ktap_fail -eq 0 ] || dump_logs
ktap_finish
