#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Takeover with meta, end to end (ARCHITECTURE.md 4a): zbs-metad with a
# short session lease, 3 data zbs-chunkd and an access-only zbs-chunkd that
# is the kernel's agent. The kernel writes A to vextent 0 of a 3-replica
# volume; the agent is SIGSTOPped until meta expires its session; a second
# agent (zbs-agent-cli, its own session) takes the pid's write lease, which
# raises lease_epoch and fences the old one at the chunks (its SYNC), and,
# as the new owner, writes C to every replica with zbs-probe. The old
# owner's writes of B then fail, while the agent is stopped and after it
# resumed, and every replica holds C, never B. The resumed agent gets a new
# session and serves IO on another volume; detach works.
#
# Fencing path exercised by the kernel: while the agent is stopped, the
# kernel's own session lease (pushed by the agent, counted from before its
# last keepalive was sent, so it ends no later than meta's) has run out by
# the time meta lets the new owner in: the map is dropped on lookup and the
# write fails at the IO timeout, without reaching a chunk. After SIGCONT
# the agent drops every kernel map (its session was lost) and meta refuses
# it the lease (another live session owns the pid): the write fails again at
# the IO timeout. The chunks' ESTALE cannot be reached deterministically by
# the kernel here, by design: a map is only used while the session holds,
# and that ends before meta's session does (the map's own 60 s expiry does
# not matter); the chunk-level fence is asserted directly instead (the old
# lease_epoch is refused with ESTALE), as data_fence.sh does for the kernel
# without meta.
. "$(dirname "$0")/lib.sh"
BIN=$ZBS_TOP/build
T=$(mktemp -d /tmp/zbs-takeover.XXXXXX)
UA=aaaaaaaa-1111-4111-8111-111111111111	# the kernel's agent (access only)
UB=bbbbbbbb-2222-4222-8222-222222222222	# the new owner (zbs-agent-cli)
LEASE_MS=3000
IO_TIMEOUT_MS=6000
declare -A CPID
META_PID= CLI_PID= DEVS=()

cleanup() {
	local d p
	[ -n "${CPID[access]:-}" ] && kill -CONT "${CPID[access]}" 2>/dev/null
	for d in "${DEVS[@]}"; do [ -b "$d" ] && "$ZBSCTL" detach "$d" >/dev/null 2>&1; done
	for d in /dev/zbs[0-9]*; do [ -b "$d" ] && "$ZBSCTL" device del "$d" >/dev/null 2>&1; done
	[ -n "$CLI_PID" ] && kill -9 "$CLI_PID" 2>/dev/null
	for p in "${CPID[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	if [ -n "${ZBS_VM_OUT:-}" ]; then
		mkdir -p "$ZBS_VM_OUT/agent_takeover"
		cp "$T"/*.log "$T"/cli.out "$ZBS_VM_OUT/agent_takeover/" 2>/dev/null
	fi
	rm -rf "$T"
	zbs_unload 2>/dev/null
}
trap cleanup EXIT

# field NAME LINE: value of NAME=... in a result line
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<< " $2" | head -1; }
zc() { "$ZBSCTL" --meta "$M" "$@"; }
lease() { zc --json lease show "$PID" | jq_ "d['$1']"; }
# sid_of UUID: the alive session of that chunk uuid (empty when none)
sid_of() {
	zc --json session list |
		jq_ "' '.join(str(s['session_id']) for s in d if s['uuid']=='$1' and s['alive'])"
}
replicas() { tr ',' '\n' <<< "$REPS" | sed 's/^[0-9]*@//; s/L$//'; }
# all_hold FILE: every replica of the pid reads FILE back (new owner's credentials)
all_hold() {
	local r i=0
	for r in $(replicas); do
		i=$((i + 1))
		"$BIN/zbs-probe" -c "$r" -p "$PID" -e "$EPOCH" -L "$LB" -o 0 -n 65536 read \
			> "$T/r$i" 2>>"$T/probe.log" || return 1
		cmp -s "$1" "$T/r$i" || return 1
		cmp -s "$T/b" "$T/r$i" && return 1
	done
	[ $i = 3 ]
}
maps() { zc --json device show "$DEV" | jq_ 'd["cached_maps"]'; }
dmesg_since() { dmesg | tail -n +$((DMESG0 + 1)); }

ktap_plan 16
zbs_unload 2>/dev/null
zbs_load && wait_path /dev/zbs-control || { ktap_fail "load zbs.ko"; exit 1; }
ip link set lo up 2>/dev/null

"$BIN/zbs-metad" -d "$T/meta" -l 127.0.0.1:0 --port-file "$T/meta.port" \
	--session-lease-ms $LEASE_MS 2>"$T/metad.log" &
META_PID=$!
wait_for 20 test -s "$T/meta.port" || { ktap_fail "zbs-metad starts"; exit 1; }
M=127.0.0.1:$(cat "$T/meta.port")
for i in 1 2 3; do
	"$BIN/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:0 --meta "$M" --no-kernel-agent \
		2>"$T/c$i.log" &
	CPID[$i]=$!
done
"$BIN/zbs-chunkd" --meta "$M" --uuid $UA 2>"$T/access.log" &
CPID[access]=$!
up() {
	[ "$(zc chunk list 2>/dev/null | grep -c CONNECTED_HEALTHY)" = 4 ] &&
		grep -q "registered as the kernel's agent" "$T/access.log"
}
wait_for 60 up
ktap_check "metad, 3 data chunkd and the access-only agent up; the agent registered with the kernel" up ||
	{ ktap_info "$(tail -n 3 "$T/access.log")"; exit 1; }
SA=$(sid_of $UA)
ktap_info "the kernel's agent has session $SA"

# --- the kernel writes A through the first agent
zc volume create v 1G --replica 3 --stripe-num 1 >/dev/null
DEV=$(zc attach v --io-timeout-ms $IO_TIMEOUT_MS 2>"$T/e")
DEVS+=("$DEV")
head -c 65536 /dev/urandom > "$T/a"
head -c 65536 /dev/urandom > "$T/b"
head -c 65536 /dev/urandom > "$T/c"
write_a() {
	dd if="$T/a" of="$DEV" bs=64k count=1 oflag=direct status=none &&
		dd if="$DEV" of="$T/back" bs=64k count=1 iflag=direct status=none &&
		cmp -s "$T/a" "$T/back"
}
ktap_check "attach v ($DEV), write A to the first 64 KiB and read it back" write_a ||
	ktap_info "$(cat "$T/e")"
PID=$(zc --json volume show v --pextents | jq_ "[p['pid'] for p in d['pextents'] if p['vextent_no']==0][0]")
LA=$(lease lease_epoch)
ktap_info "vextent 0 is pid $PID, owner session $(lease owner_session), lease_epoch $LA"
ktap_check "meta: the kernel's agent owns pid $PID" [ "$(lease owner_session)" = "$SA" ]

# --- the first agent's session expires
MAPS0=$(maps)
kill -STOP "${CPID[access]}"
no_session() { [ -z "$(sid_of $UA)" ]; }
wait_for 60 no_session
ktap_check "agent stopped: meta expires its session" no_session
ktap_info "pid $PID after the expiry: owner session $(lease owner_session), lease_epoch $(lease lease_epoch)"

# --- the second agent takes over: map for write, SYNC with the new lease_epoch
took() { grep -q '^map pid=' "$T/cli.out"; }
for try in 1 2 3 4 5; do
	"$BIN/zbs-agent-cli" --meta "$M" --uuid $UB --data 127.0.0.1:9 wait map v 0 w hold \
		> "$T/cli.out" 2>>"$T/cli.log" &
	CLI_PID=$!
	wait_for 30 grep -q '^map' "$T/cli.out"
	took && break
	ktap_info "takeover try $try: $(grep '^map' "$T/cli.out")"
	kill -9 $CLI_PID; wait $CLI_PID 2>/dev/null; CLI_PID=
	sleep 1
done
m=$(grep '^map' "$T/cli.out")
ktap_info "new owner: $(grep '^session' "$T/cli.out"); $m"
SB=$(field sid "$(grep '^session' "$T/cli.out")")
LB=$(field lease_epoch "$m") EPOCH=$(field epoch "$m") GEN=$(field gen "$m") REPS=$(field replicas "$m")
ktap_check "a second agent takes the write lease of pid $PID: lease_epoch $LA -> $LB, 3 replicas" \
	[ "$(field pid "$m")" = "$PID" -a "${LB:-0}" -gt "$LA" -a "$(field nr "$m")" = 3 ]
ktap_check "meta: pid $PID owned by the new session $SB at lease_epoch $LB" \
	[ -n "$SB" -a "$(lease owner_session)" = "$SB" -a "$(lease lease_epoch)" = "$LB" ]
fenced() {
	local r
	for r in $(replicas); do
		"$BIN/zbs-probe" -c "$r" -p "$PID" -e "$EPOCH" -L "$LA" -o 0 -n 4096 read \
			2>&1 >/dev/null | grep -qi stale || return 1
	done
}
ktap_check "the old lease_epoch $LA is fenced at every replica (ESTALE)" fenced
write_c() {
	local r
	for r in $(replicas); do
		"$BIN/zbs-probe" -c "$r" -p "$PID" -e "$EPOCH" -L "$LB" -g "$GEN" -o 0 write \
			< "$T/c" >>"$T/probe.log" 2>&1 || return 1
	done
	all_hold "$T/c"
}
ktap_check "the new owner writes C at gen $GEN to every replica" write_c

# --- the old owner writes B: agent stopped
DMESG0=$(dmesg | wc -l)
dd if="$T/b" of="$DEV" bs=64k count=1 oflag=direct status=none 2>"$T/dd1.err"; rc=$?
ktap_info "old owner's write, agent stopped: rc $rc: $(tail -n 1 "$T/dd1.err")"
ktap_check "the old owner's write fails while its agent is stopped" [ $rc -ne 0 ]
MAPS1=$(maps)
dropped() { [ "$MAPS0" -ge 1 -a "$MAPS1" = 0 ] && dmesg_since | grep -q "vextent 0: no usable map"; }
ktap_check "the kernel dropped its map (cached maps $MAPS0 -> $MAPS1) and timed out without one" dropped
ktap_check "every replica still holds C, never B" all_hold "$T/c"

# --- the old agent resumes: a new session, no lease for the pid
kill -CONT "${CPID[access]}"
new_session() { local s; s=$(sid_of $UA); [ -n "$s" -a "$s" != "$SA" ]; }
wait_for 60 new_session
ktap_check "agent resumed: a new meta session ($SA -> $(sid_of $UA))" new_session
DMESG0=$(dmesg | wc -l)
dd if="$T/b" of="$DEV" bs=64k count=1 oflag=direct status=none 2>"$T/dd2.err"; rc=$?
ktap_info "old owner's write, agent resumed: rc $rc: $(tail -n 1 "$T/dd2.err")"
ktap_info "agent: $(grep -iE 'lost|revoke|EAGAIN|owned' "$T/access.log" | tail -n 3 | tr '\n' ' ')"
# the agent has a session again, so no map means meta refused it the lease
no_map() { [ $rc -ne 0 ] && dmesg_since | grep -q "vextent 0: no usable map"; }
ktap_check "the old owner's write fails after its agent resumed: no map (meta: another session owns the pid)" \
	no_map
still_c() { all_hold "$T/c" && [ "$(lease owner_session)" = "$SB" -a "$(lease lease_epoch)" = "$LB" ]; }
ktap_check "every replica still holds C, never B; meta: pid $PID still owned by $SB at lease_epoch $LB" \
	still_c

# --- the resumed agent serves IO on another volume
zc volume create w 1G --replica 3 >/dev/null
DEV2=$(zc attach w --io-timeout-ms 30000 2>"$T/e2")
DEVS+=("$DEV2")
head -c 1M /dev/urandom > "$T/d"
io_w() {
	dd if="$T/d" of="$DEV2" bs=1M count=1 oflag=direct status=none &&
		dd if="$DEV2" of="$T/dback" bs=1M count=1 iflag=direct status=none &&
		cmp -s "$T/d" "$T/dback"
}
ktap_check "the resumed agent serves a new volume ($DEV2): 1 MiB written and read back" io_w ||
	ktap_info "$(cat "$T/e2") $(tail -n 3 "$T/access.log")"

detach_all() {
	zc detach "$DEV" 2>>"$T/e3" && zc detach "$DEV2" 2>>"$T/e3" && [ ! -b "$DEV" -a ! -b "$DEV2" ]
}
ktap_check "zbsctl detach $DEV and $DEV2" detach_all || ktap_info "$(cat "$T/e3")"
DEVS=()
ktap_finish
