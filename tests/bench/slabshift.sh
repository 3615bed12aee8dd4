#!/bin/sh
# slabshift.sh - issue 5, slab calcification: how much of a shifted value
# size survives in a memcached L1 behind rend, plain vs chunked.
#
#   tests/bench/slabshift.sh            (from the source tree, after make)
#
# For each mode (plain, chunked): start `memcached -m 64 -u root` on a unix
# socket and rend (memcached plugin, L1 only) in front of it; fill ~80 % of
# memcached's memory with 2,000-byte values through rend, rewrite the same
# keys with 5,000-byte values, read them all back and print the hit ratio
# of the new data.  Not part of make check (about 70 s).
# Environment: REND_BIN, REND_PLUGIN_DIR, REND_BUILDDIR (config.h), MEMCACHED,
# CC, SS_MEM_MB (64),
# SS_OLD (2000), SS_NEW (5000), SS_FILL_PCT (80), SS_SETTLE (30: seconds
# before a second rewrite and read, to show what memcached's slab automover
# recovers by itself), SS_SLABS ("1184": the chunked runs, one per
# slab_size; e.g. "1184 17352 103496" adds the larger chunk layouts).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
rend=${REND_BIN:-$top/core/rend}
plugins=${REND_PLUGIN_DIR:-$top/plugins/.libs}
memcached=${MEMCACHED:-memcached}
mem=${SS_MEM_MB:-64}
old=${SS_OLD:-2000}
new=${SS_NEW:-5000}
pct=${SS_FILL_PCT:-80}
settle=${SS_SETTLE:-30}
slabs=${SS_SLABS:-1184}

tmp=$(mktemp -d /tmp/rend-slabshift.XXXXXX)
mc_pid=
rend_pid=
cleanup() {
    [ -n "$rend_pid" ] && kill "$rend_pid" 2>/dev/null && wait "$rend_pid" 2>/dev/null
    [ -n "$mc_pid" ] && kill "$mc_pid" 2>/dev/null && wait "$mc_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

build=${REND_BUILDDIR:-$top}
${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -I"$build" -I"$top/tests/lib" \
    -o "$tmp/client" "$top/tests/bench/slabshift_client.c" \
    "$top/tests/lib/rend_client.c" "$top/tests/lib/rend_server.c"

wait_for() { # file
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1))
        [ "$i" -gt 500 ] && { echo "timed out waiting for $1" >&2; exit 1; }
        sleep 0.02
    done
}

run_mode() { # chunked: true|false, [slab_size]
    sock=$tmp/mc.sock
    rm -f "$sock" "$tmp/port"
    "$memcached" -u root -m "$mem" -s "$sock" -t 2 -U 0 2>"$tmp/mc.log" &
    mc_pid=$!
    wait_for "$sock"
    cat >"$tmp/rend.lua" <<EOF
local l1 = handler "memcached" { name = "l1", servers = "$sock",
                                 chunked = $1, slab_size = ${2:-1184} }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) } }
EOF
    "$rend" --plugin-dir "$plugins" --config "$tmp/rend.lua" -p 0 \
        --port-file "$tmp/port" -t 2 2>"$tmp/rend.log" &
    rend_pid=$!
    wait_for "$tmp/port"
    if [ "$1" = true ]; then
        printf 'chunked=true slab_size=%s ' "$2"
    else
        printf 'chunked=false '
    fi
    "$tmp/client" "$(head -n1 "$tmp/port")" "$sock" "$old" "$new" "$pct" \
        "$settle"
    kill "$rend_pid"; wait "$rend_pid" || true; rend_pid=
    kill "$mc_pid"; wait "$mc_pid" || true; mc_pid=
}

echo "memcached -m $mem, fill ${pct}% with ${old} B values, rewrite with ${new} B"
run_mode false
for slab in $slabs; do
    run_mode true "$slab"
done
