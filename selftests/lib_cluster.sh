# SPDX-License-Identifier: GPL-2.0
# Helpers for selftests that need chunk servers and an agent inside the VM.
# Source after lib.sh. Everything lives under $ZBS_ST_TMP and is stopped by
# cluster_stop (installed as an EXIT trap by cluster_init).
ZBS_BIN_DIR=${ZBS_BIN_DIR:-$ZBS_TOP/build}
CHUNK_PIDS=() CHUNK_PORTS=() AGENT_PID=""

cluster_init() {
	ZBS_ST_TMP=$(mktemp -d /tmp/zbs-st.XXXXXX)
	trap cluster_stop EXIT
}

# chunk_start I [ARGS...]: start chunk I (1-based) on 127.0.0.1, any free port
chunk_start() {
	local i=$1 d=$ZBS_ST_TMP/c$1
	shift
	mkdir -p "$d"
	rm -f "$d.port"
	"$ZBS_BIN_DIR/zbs-chunkd" -d "$d" -l 127.0.0.1:${CHUNK_PORTS[$i]:-0} \
		--port-file "$d.port" --log-level "${CHUNK_LOG_LEVEL:-warn}" "$@" \
		2>>"$ZBS_ST_TMP/c$i.log" &
	CHUNK_PIDS[$i]=$!
	for _ in $(seq 100); do [ -s "$d.port" ] && break; sleep 0.1; done
	[ -s "$d.port" ] || { ktap_info "chunk $i did not start: $(tail -n 3 "$ZBS_ST_TMP/c$i.log")"; return 1; }
	CHUNK_PORTS[$i]=$(cat "$d.port")
}

chunks_start() {
	local i
	for i in $(seq "$1"); do chunk_start "$i" || return 1; done
}

chunk_kill() {
	kill -9 "${CHUNK_PIDS[$1]}" 2>/dev/null
	wait "${CHUNK_PIDS[$1]}" 2>/dev/null
	CHUNK_PIDS[$1]=""
}

# chunk_kconns I: established connections from the kernel to chunk I
# (kernel sockets have no owning process in ss -p; the agent's have)
chunk_kconns() {
	ss -tnpH state established "( dport = :${CHUNK_PORTS[$1]} )" | grep -vc 'users:'
}

# replica list for the first N chunks: 127.0.0.1:p1,127.0.0.1:p2,...
chunk_addrs() {
	local i out=""
	for i in $(seq "$1"); do out+="${out:+,}127.0.0.1:${CHUNK_PORTS[$i]}"; done
	echo "$out"
}

# agent_start N [ARGS...]: the test agent over the first N chunks
agent_start() {
	local n=$1; shift
	local before
	before=$(dmesg | grep -c 'zbs: agent registered')
	"$ZBS_BIN_DIR/zbs-test-agent" --replicas "$(chunk_addrs "$n")" \
		--local "127.0.0.1:${CHUNK_PORTS[1]}" \
		--events "$ZBS_ST_TMP/events" "$@" 2>>"$ZBS_ST_TMP/agent.log" &
	AGENT_PID=$!
	for _ in $(seq 100); do
		[ "$(dmesg | grep -c 'zbs: agent registered')" -gt "$before" ] && return 0
		sleep 0.1
	done
	ktap_info "agent did not register: $(tail -n 3 "$ZBS_ST_TMP/agent.log")"
	return 1
}

agent_stop() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
}

# dev_add ARGS...: zbsctl device add, prints the device once it exists
dev_add() {
	local d
	d=$("$ZBSCTL" device add "$@") || return 1
	wait_path "$d" && echo "$d"
}

cluster_stop() {
	local p
	for d in /dev/zbs[0-9]*; do [ -b "$d" ] && "$ZBSCTL" device del "$d" >/dev/null 2>&1; done
	agent_stop
	for p in "${CHUNK_PIDS[@]}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${ZBS_VM_OUT:-}" ] && [ -d "${ZBS_ST_TMP:-}" ]; then
		mkdir -p "$ZBS_VM_OUT/$(basename "$0" .sh)"
		cp "$ZBS_ST_TMP"/*.log "$ZBS_ST_TMP"/events "$ZBS_VM_OUT/$(basename "$0" .sh)/" 2>/dev/null
	fi
	rm -rf "${ZBS_ST_TMP:-/nonexistent}"
	zbs_unload 2>/dev/null
}

# fio_verify NAME DEV ARGS...: a fio job with crc32c verification; ok/fail
fio_verify() {
	local name=$1 dev=$2; shift 2
	local log=$ZBS_ST_TMP/fio-$name.log
	if fio --name="$name" --filename="$dev" --ioengine=libaio --direct=1 \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --group_reporting \
		--output-format=terse --terse-version=3 "$@" > "$log" 2>&1; then
		return 0
	fi
	sed 's/^/# /' "$log" | tail -n 15
	return 1
}
