# Helpers for the native end-to-end scripts of this directory (recover-e2e,
# agile-e2e, remove-e2e): zbs-metad and zbs-chunkd processes on loopback
# (ports the kernel picks), the zbsctl and zbs-agent-cli wrappers, and the
# cleanup at exit. Source it first with E2E_NAME set; it sets BIN, T (the
# test's directory), PORT (metad's) and CPID (chunk I's process).
set -u
BIN=${ZBS_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build/san}
T=$(mktemp -d "/tmp/zbs-$E2E_NAME.XXXXXX")
LEASE_MS=${LEASE_MS:-1500}
META_PID= PORT=
declare -A CPID

e2e_cleanup() {
	for c in "${!CPID[@]}"; do kill -9 "${CPID[$c]}" 2>/dev/null; done
	[ -n "$META_PID" ] && kill -9 "$META_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap e2e_cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../../../tools/tap.sh"
zc() { "$BIN/zbsctl" --meta "127.0.0.1:$PORT" "$@"; }
UA=11111111-1111-4111-8111-111111111111
# the kernel's side: an access-only agent session of its own
agent() { "$BIN/zbs-agent-cli" --meta "127.0.0.1:$PORT" --uuid $UA wait "$@" 2>>"$T/agent.log"; }
# field NAME "a=1 b=2": the value of NAME
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<< " $2" | head -1; }
# loc PID: its location, cids comma-separated
loc() { zc --json lease show "$1" | jq_ '",".join(str(b) for b in d["location"].to_bytes(4,"little") if b)'; }
# chunk_of_cid CID: the I of the chunk registered as CID ("" for the agent)
chunk_of_cid() {
	local u f
	u=$(zc --json chunk list | jq_ "[c['uuid'] for c in d if c['cid']==$1][0]")
	for f in "$T"/c*/chunk-id; do
		[ "$(cat "$f")" = "$u" ] && { f=${f%/chunk-id}; echo "${f##*/c}"; }
	done
}
addr_of_cid() { zc --json chunk list | jq_ "[c['data_ip']+':'+str(c['data_port']) for c in d if c['cid']==$1][0]"; }
healthy_is() { [ "$(zc chunk list | grep -c CONNECTED_HEALTHY)" = "$1" ]; }

# e2e_meta ARGS...: zbs-metad with the short session lease, PORT once bound
e2e_meta() {
	"$BIN/zbs-metad" -d "$T/meta" -l 127.0.0.1:0 --port-file "$T/port" \
		--session-lease-ms "$LEASE_MS" "$@" 2>>"$T/metad.log" &
	META_PID=$!
	wait_for 10 test -s "$T/port" || { echo "Bail out! metad"; exit 1; }
	PORT=$(cat "$T/port")
}
# e2e_chunk I [ARGS...]: zbs-chunkd I without a kernel agent (again after a
# kill: same data dir, a new port)
e2e_chunk() {
	local i=$1
	shift
	"$BIN/zbs-chunkd" -d "$T/c$i" -l 127.0.0.1:0 --meta "127.0.0.1:$PORT" --no-kernel-agent \
		"$@" 2>>"$T/chunk$i.log" &
	CPID[$i]=$!
}
e2e_chunk_kill() {
	kill -9 "${CPID[$1]}"
	wait "${CPID[$1]}" 2>/dev/null
	unset "CPID[$1]"
}
