#!/usr/bin/env bash
# zbs-metad's modules form a one-way chain of layers (daemon/metad/meta.h):
# a module includes metad headers of its own layer or those below, never
# one above, so there is no include circle. Prints TAP.
set -u
D=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/zbs-layers.XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/../../../tools/tap.sh"

# bottom to top; a module is NAME.c with NAME.h
LAYERS="store core chunk topo session pextent volume meta placement recovery rebalance
	owner provision agile scheduler balance chunk_admin lease report keepalive handlers server main"
declare -A rank
i=0
for l in $LAYERS; do rank[$l]=$i; i=$((i + 1)); done

# scan DIR: sets $unknown (modules or metad headers outside LAYERS) and
# $up (includes of a layer above the includer)
scan() {
	local f mod inc
	unknown="" up=""
	for f in "$1"/*.c "$1"/*.h; do
		mod=$(basename "$f"); mod=${mod%.*}
		[ -n "${rank[$mod]+x}" ] || { unknown="$unknown $mod"; continue; }
		for inc in $(sed -n 's/^#include "\([a-z_]*\)\.h".*/\1/p' "$f"); do
			[ -f "$1/$inc.h" ] || continue		# not metad's (lib, rpc, proto)
			[ "$inc" = "$mod" ] && continue
			if [ -z "${rank[$inc]+x}" ]; then
				unknown="$unknown $inc"
			elif [ "${rank[$inc]}" -gt "${rank[$mod]}" ]; then
				up="$up $(basename "$f")->$inc.h"
			fi
		done
	done
}

echo "1..3"
scan "$D"
if [ -z "$unknown" ]; then ok "every metad module has its place in the layers"
else not_ok "modules outside the layers:$unknown (add them to LAYERS and meta.h)"; fi
if [ -z "$up" ]; then ok "no module includes a layer above it (no include circle)"
else not_ok "includes of a layer above:$up"; fi

# the check itself: an include upwards is caught
mkdir "$T/d" && cp "$D"/*.[ch] "$T/d/" && echo '#include "lease.h"' >> "$T/d/chunk.c"
scan "$T/d"
if [ "$up" = " chunk.c->lease.h" ]; then ok "an include upwards is reported"
else not_ok "the check missed chunk.c -> lease.h" "$up"; fi
tap_exit
