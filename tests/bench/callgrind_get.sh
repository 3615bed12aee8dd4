#!/bin/bash
# tests/bench/callgrind_get.sh: instructions (callgrind Ir) per GET hit in
# rend's inmem, a figure that a busy machine does not move.
#
# rend (conf/inmem.lua, -t 1) runs under callgrind; rend-bench sets KEYS
# keys of each value size, the counters are zeroed (callgrind_control -z),
# rend-bench sends N gets of those keys (DEPTH in flight on CONNS
# connections), the counters are dumped, and Ir / N is printed: every
# instruction of the process in user space (the kernel's work in the
# syscalls is not counted).
#
# Environment (defaults): SIZES="100 4096 102400" N=20000 KEYS=1000
#   CONNS=4 DEPTH=1 REND=core/rend REND_PLUGIN_DIR=plugins/.libs
#   PROTOCOL=text THREADS=1
#   RATIO=1   share of gets (0: every request a set of the same keys)
#   IDLE=0    that many more connections, open and silent during the gets
#             (rend-bench --idle; the script raises ulimit -n and rend -c)
# A benchmark, not a test.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${SIZES:=100 4096 102400}" "${N:=20000}" "${KEYS:=1000}" "${CONNS:=4}"
: "${DEPTH:=1}" "${PROTOCOL:=text}" "${IDLE:=0}" "${THREADS:=1}" "${RATIO:=1}"
: "${REND:=$top/core/rend}" "${REND_PLUGIN_DIR:=$top/plugins/.libs}"
LOADGEN=$top/bench/rend-bench
command -v valgrind >/dev/null || { echo "callgrind_get.sh: no valgrind" >&2; exit 0; }

work=$(mktemp -d /tmp/rend-cg.XXXXXX) || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
idle_args=()
if [ "$IDLE" -gt 0 ]; then
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    idle_args=(--idle "$IDLE")
fi

# total Ir of the newest dump in $work
dump_ir() {
    local f
    f=$(ls -t "$work"/cg.out.* 2>/dev/null | head -n 1)
    [ -n "$f" ] || { echo 0; return; }
    awk '/^summary:|^totals:/ { print $2; exit }' "$f"
}

for v in $SIZES; do
    rm -f "$work"/cg.out.* "$work/port"
    # a real (libev) rend; its own 1-second tick also runs, as in production
    env REND_PLUGIN_DIR="$REND_PLUGIN_DIR" valgrind --tool=callgrind \
        --callgrind-out-file="$work/cg.out.%p" "$REND" \
        --config "$top/conf/inmem.lua" -p 0 --port-file "$work/port" \
        -t "$THREADS" -c $((CONNS + IDLE + 100)) \
        2>"$work/vg.err" &
    pid=$!
    for _ in $(seq 600); do [ -s "$work/port" ] && break; sleep 0.1; done
    port=$(head -n 1 "$work/port")
    # prefill: every key once, no measured requests
    "$LOADGEN" bench --server "127.0.0.1:$port" --ratio 0 --dist sequential \
        --no-prefill -n "$KEYS" --keys "$KEYS" -v "$v" -c 1 --warmup 0 -q \
        -P "$PROTOCOL" >/dev/null 2>&1
    callgrind_control -z "$pid" >/dev/null 2>&1
    "$LOADGEN" bench --server "127.0.0.1:$port" --ratio "$RATIO" --no-prefill \
        -n "$N" --keys "$KEYS" -v "$v" -c "$CONNS" -d "$DEPTH" --warmup 0 -q \
        -P "$PROTOCOL" "${idle_args[@]}" >"$work/lg.out" 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    ir=$(dump_ir)
    [ -n "${KEEP:-}" ] && cp "$(ls -t "$work"/cg.out.* | head -n 1)" "$KEEP.$v"
    kill "$pid"
    wait "$pid" 2>/dev/null
    pid=
    hits=$(sed -n 's/.* hit_ratio=\([^ ]*\).*/\1/p' "$work/lg.out")
    awk -v v="$v" -v ir="$ir" -v n="$N" -v h="$hits" -v r="$REND" \
        -v c="$CONNS" -v i="$IDLE" -v t="$THREADS" -v g="$RATIO" 'BEGIN {
        printf "value %7d B  %10.0f Ir/req  (%d requests, %d conns + %d idle, -t %d, get ratio %s, hit ratio %s)  %s\n", v, ir / n, n, c, i, t, g, h, r }'
done
exit 0
