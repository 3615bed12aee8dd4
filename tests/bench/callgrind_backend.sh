#!/bin/bash
# tests/bench/callgrind_backend.sh: memcached's own user-space instructions
# per request under callgrind, serving rend (natively, in front of it:
# what a proxy costs its backend) or the load directly (the baseline).
# The count does not move with the load of a shared machine.
#
#   tests/bench/callgrind_backend.sh [rend-bench bench options...]
#   e.g.  tests/bench/callgrind_backend.sh --ratio 1 --mget 100 -P text
#         TARGET=direct tests/bench/callgrind_backend.sh --ratio 1 --mget 100 -P text
#
# TARGET=proxy (default): rend with tests/bench/conf/proxy.lua in front of
# the memcached (unix socket); TARGET=direct: rend-bench straight at it.
# ROOT= another build tree (its core/.libs and plugins/.libs).  rend-bench
# warms up with 2000 requests, the counters are zeroed, then N (default
# 2000) requests run with CONNS (10) connections.  memcached gets -c 19988:
# under valgrind it can only set the file limit valgrind reports (20000),
# and it asks for maxconns + 12.  Prints one "CALLGRIND_BACKEND ..." line,
# then rend-bench's RESULT.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${TARGET:=proxy}" "${N:=2000}" "${CONNS:=10}" "${ROOT:=$top}" "${MEMCACHED:=memcached}"
command -v valgrind >/dev/null || { echo "callgrind_backend.sh: no valgrind" >&2; exit 2; }
w=$(mktemp -d /tmp/rend-cgbe.XXXXXX) || exit 2
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT
wait_for() {
    for _ in $(seq 600); do
        [ -e "$1" ] && [ -s "$1" -o -S "$1" ] && return 0
        sleep 0.05
    done
    echo "callgrind_backend.sh: $1 did not appear" >&2
    exit 2
}

valgrind --tool=callgrind --callgrind-out-file="$w/mc.cg.%p" \
    "$MEMCACHED" -u root -s "$w/mc.sock" -t 1 -m 1024 -c 19988 2>"$w/vg.log" &
mpid=$!
pids+=("$mpid")
wait_for "$w/mc.sock"
if [ "$TARGET" = proxy ]; then
    LD_LIBRARY_PATH=$ROOT/core/.libs REND_PLUGIN_DIR=$ROOT/plugins/.libs \
        REND_MC_SERVERS=$w/mc.sock REND_UNIX=$w/rend.sock \
        "$ROOT/core/.libs/rend" --config "$here/conf/proxy.lua" -p 0 \
        --port-file "$w/port" -t 1 2>"$w/rend.log" &
    pids+=("$!")
    wait_for "$w/port"
    target=$(head -n 1 "$w/port")
    case $target in
    /*) wait_for "$target" ;;
    *) target=127.0.0.1:$target; sleep 0.5 ;;
    esac
else
    target=$w/mc.sock
fi
"$top/bench/rend-bench" bench --server "$target" -c "$CONNS" -n 2000 --warmup 0 -q "$@" >/dev/null 2>&1
callgrind_control -z "$mpid" >/dev/null 2>&1
out=$("$top/bench/rend-bench" bench --server "$target" -c "$CONNS" -n "$N" --warmup 0 --no-prefill -q "$@" 2>&1)
callgrind_control -d "$mpid" >/dev/null 2>&1
sleep 0.5
res=$(grep '^RESULT' <<<"$out")
reqs=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$res")
f=$(ls -t "$w"/mc.cg."$mpid".* 2>/dev/null | head -n 1)
ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
if [ -z "$reqs" ] || [ -z "$ir" ]; then
    echo "callgrind_backend.sh: no result: $out" >&2
    exit 2
fi
echo "CALLGRIND_BACKEND target=$TARGET args='$*' requests=$reqs memcached_ir=$ir ir_per_req=$(awk -v a="$ir" -v n="$reqs" 'BEGIN { printf "%.0f", a / n }')"
echo "$res"
