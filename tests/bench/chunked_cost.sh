#!/bin/bash
# tests/bench/chunked_cost.sh: what one request costs the server side of
# memcached direct and of rend's chunked memcached L1 (rend + its
# memcached), counted rather than timed, so that a busy machine (other
# builds, other benchmarks) moves the figures little:
#   syscalls/req    raw_syscalls:sys_enter of the server processes
#   cs/req          their context switches
#   cpu us/req      their task-clock (this one does depend on the machine)
#   Ir/req          with CALLGRIND=1, rend's user-space instructions
#                   (valgrind --tool=callgrind; memcached not counted)
# Each target serves the same fixed load: `rend-bench bench -n OPS`
# (prefill included in the request count) with CONNS connections.
#
# Environment (defaults): VALUE_SIZE=102400 KEYS=500 OPS=20000 CONNS=4
#   RATIOS="0.9 0.1" (get share: get90, set90)
#   SLABS="1184 17352 103496" (rend's slab_size values to try)
#   CALLGRIND=0  MC_OPTS="-I 2m"  SERVER_CPU=0 CLIENT_CPU=1
# Prints one table row per target and mix.  Not a test: exits 0.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${VALUE_SIZE:=102400}" "${KEYS:=500}" "${OPS:=20000}" "${CONNS:=4}"
: "${RATIOS:=0.9 0.1}" "${SLABS:=1184 17352 103496}" "${CALLGRIND:=0}"
: "${MC_OPTS:=-I 2m}" "${SERVER_CPU:=0}" "${CLIENT_CPU:=1}"
: "${MEMCACHED:=memcached}" "${REND:=$top/core/rend}"
: "${REND_PLUGIN_DIR:=$top/plugins/.libs}"
LOADGEN=$top/bench/rend-bench

work=$(mktemp -d /tmp/rend-ccost.XXXXXX) || exit 1
pids=()
stop_all() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

wait_path() {
    for _ in $(seq 400); do
        [ -S "$1" ] || [ -s "$1" ] && return 0
        sleep 0.05
    done
    echo "chunked_cost.sh: $1 did not appear" >&2
    return 1
}

start_mc() { # sets mc_pid
    rm -f "$work/mc.sock"
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" "$MEMCACHED" -u root -s "$work/mc.sock" -t 1 \
        -m 1024 $MC_OPTS &
    mc_pid=$!
    pids+=("$mc_pid")
    wait_path "$work/mc.sock"
}

start_rend() { # SLAB: sets rend_pid
    local pre=()
    rm -f "$work/rend.sock" "$work/port"
    [ "$CALLGRIND" = 1 ] && pre=(valgrind -q --tool=callgrind
        "--callgrind-out-file=$work/cg.out" --dump-instr=no)
    REND_MC_SERVERS="$work/mc.sock" REND_UNIX="$work/rend.sock" \
        REND_MC_SLAB="$1" REND_MC_TIMEOUT_MS=30000 REND_PLUGIN_DIR="$REND_PLUGIN_DIR" \
        taskset -c "$SERVER_CPU" "${pre[@]}" "$REND" \
        --config "$here/conf/proxy-chunked.lua" -p 0 \
        --port-file "$work/port" -t 1 &
    rend_pid=$!
    pids+=("$rend_pid")
    wait_path "$work/rend.sock"
}

# measure LABEL ADDR RATIO PIDS...: one row
measure() {
    local label=$1 addr=$2 ratio=$3 out res replies stat sc cs tc ir=-
    shift 3
    perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock \
        -p "$(IFS=,; echo "$*")" -o "$work/stat" &
    local perf_pid=$!
    sleep 0.3
    out=$(taskset -c "$CLIENT_CPU" "$LOADGEN" bench --server "$addr" \
        -c "$CONNS" --ratio "$ratio" -v "$VALUE_SIZE" --keys "$KEYS" \
        -n "$OPS" --warmup 0 -q 2>&1)
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null
    res=$(grep '^RESULT' <<<"$out")
    replies=$(sed -n 's/.* replies=\([^ ]*\).*/\1/p' <<<"$res")
    [ -n "$replies" ] || { echo "$label: load generator failed: $out" >&2; return; }
    stat=$(cat "$work/stat")
    sc=$(awk -F, '$3 ~ /sys_enter/ { print $1 }' <<<"$stat")
    cs=$(awk -F, '$3 ~ /context-switches/ { print $1 }' <<<"$stat")
    tc=$(awk -F, '$3 ~ /task-clock/ { print $1 }' <<<"$stat")
    if [ "$CALLGRIND" = 1 ] && [ "$label" != memcached ]; then
        kill "$rend_pid"
        wait "$rend_pid" 2>/dev/null
        ir=$(sed -n 's/^summary: //p' "$work/cg.out" | awk -v n="$replies" '{ printf "%.0f", $1 / n }')
    fi
    awk -v l="$label" -v r="$ratio" -v n="$replies" -v sc="$sc" -v cs="$cs" \
        -v tc="$tc" -v ir="$ir" -v v="$VALUE_SIZE" 'BEGIN {
        printf "| %s | %s | %s | %d | %.2f | %.2f | %.1f | %s |\n",
            v, r == 0.9 ? "get90" : r == 0.1 ? "set90" : r, l, n,
            sc / n, cs / n, tc * 1000 / n, ir }'
}

echo "| value | mix | target | replies | syscalls/req | cs/req | cpu us/req | rend Ir/req |"
echo "|---:|---|---|---:|---:|---:|---:|---:|"
for ratio in $RATIOS; do
    start_mc || exit 1
    measure memcached "$work/mc.sock" "$ratio" "$mc_pid"
    stop_all
    for slab in $SLABS; do
        start_mc || exit 1
        start_rend "$slab" || exit 1
        measure "rend-chunked-$slab" "$work/rend.sock" "$ratio" "$rend_pid" "$mc_pid"
        stop_all
    done
done
exit 0
