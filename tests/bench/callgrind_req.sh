#!/bin/bash
# tests/bench/callgrind_req.sh: user-space instructions per request of rend
# under callgrind, a figure that does not move with the load of a shared
# machine (batching aside: under valgrind rend is slower, so its batches are
# larger than natively).
#
#   tests/bench/callgrind_req.sh [rend-bench bench options...]
#   e.g.  N=50000 tests/bench/callgrind_req.sh --ratio 0.9
#         MODE=inmem N=3000 tests/bench/callgrind_req.sh --ratio 1 --mget 100 -P binary
#
# MODE=proxy (default): rend with tests/bench/conf/proxy.lua in front of a
# memcached on a unix socket (memcached runs natively: only rend is
# counted; MC_POOL=n: a pool of n of them); MODE=inmem: rend with
# conf/inmem.lua.  CONF= another config
# (e.g. one with admin{} for the metrics cost).  REND= and REND_PLUGIN_DIR=
# another build; CG_OUT=file keeps the callgrind profile.  rend-bench fills the key space and warms up with 20000
# requests first; the counters are then zeroed, N requests (default
# 100000) run with 50 connections, and the dump is divided by them.
# Prints one line: "CALLGRIND ... ir_per_req=...", then rend-bench's RESULT.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${MODE:=proxy}" "${N:=100000}" "${CONNS:=50}" "${MEMCACHED:=memcached}"
: "${REND:=$top/core/rend}" "${REND_PLUGIN_DIR:=$top/plugins/.libs}"
# A libtool wrapper script would run the real binary outside valgrind
# (no --trace-children): run the binary behind it, with its library path.
if [ -x "$(dirname "$REND")/.libs/$(basename "$REND")" ] && head -c 2 "$REND" | grep -q '#!'; then
    export LD_LIBRARY_PATH="$(cd "$(dirname "$REND")" && pwd)/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    REND=$(dirname "$REND")/.libs/$(basename "$REND")
fi
LOADGEN=$top/bench/rend-bench
command -v valgrind >/dev/null || { echo "callgrind_req.sh: no valgrind" >&2; exit 2; }
w=$(mktemp -d /tmp/rend-cgreq.XXXXXX) || exit 2
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

wait_for() {
    for _ in $(seq 400); do
        [ -e "$1" ] && [ -s "$1" -o -S "$1" ] && return 0
        sleep 0.05
    done
    echo "callgrind_req.sh: $1 did not appear" >&2
    exit 2
}

servers=$w/mc.sock
if [ "$MODE" = proxy ]; then
    "$MEMCACHED" -u root -s "$w/mc.sock" -t 1 -m 1024 &
    pids+=("$!")
    wait_for "$w/mc.sock"
    for ((i = 2; i <= ${MC_POOL:-1}; i++)); do
        "$MEMCACHED" -u root -s "$w/mc$i.sock" -t 1 -m 1024 &
        pids+=("$!")
        wait_for "$w/mc$i.sock"
        servers=$servers,$w/mc$i.sock
    done
    conf=${CONF:-$here/conf/proxy.lua}
else
    conf=${CONF:-$top/conf/inmem.lua}
fi
REND_PLUGIN_DIR=$REND_PLUGIN_DIR REND_MC_SERVERS=$servers REND_UNIX=$w/rend.sock \
    valgrind --tool=callgrind --compress-strings=no \
    --callgrind-out-file="$w/rend.cg.%p" "$REND" --config "$conf" -p 0 \
    --port-file "$w/port" -t 1 2>"$w/vg.log" &
rpid=$!
pids+=("$rpid")
wait_for "$w/port"
target=$(head -n 1 "$w/port")
case $target in
/*) wait_for "$target" ;;
*) target=127.0.0.1:$target; sleep 1 ;;
esac
"$LOADGEN" bench --server "$target" -c "$CONNS" -n 20000 --warmup 0 -q "$@" >/dev/null 2>&1
callgrind_control -z "$rpid" >/dev/null 2>&1
out=$("$LOADGEN" bench --server "$target" -c "$CONNS" -n "$N" --warmup 0 --no-prefill -q "$@" 2>&1)
callgrind_control -d "$rpid" >/dev/null 2>&1
sleep 0.5
res=$(grep '^RESULT' <<<"$out")
reqs=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$res")
f=$(ls -t "$w"/rend.cg."$rpid".* 2>/dev/null | head -n 1)
if [ -n "${CG_OUT:-}" ] && [ -n "$f" ]; then cp "$f" "$CG_OUT"; fi  # keep the profile
ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
if [ -z "$reqs" ] || [ -z "$ir" ]; then
    echo "callgrind_req.sh: no result: $out" >&2
    exit 2
fi
echo "CALLGRIND mode=$MODE conf=$(basename "$conf") args='$*' requests=$reqs ir=$ir ir_per_req=$(awk -v a="$ir" -v n="$reqs" 'BEGIN { printf "%.0f", a / n }')"
echo "$res"
