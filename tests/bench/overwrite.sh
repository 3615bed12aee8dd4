#!/bin/bash
# tests/bench/overwrite.sh: a sustained overwrite through rend with a
# persistent L2, printing throughput and p50/p99 per INTERVAL over time.
#
# For each L2 in L2S, rend runs tests/bench/conf/l1l2-rocksdb.lua (inmem L1 +
# rocksdb) or tests/bench/conf/l1l2.lua (inmem L1 + lmdb), durable by default
# (rocksdb wal_sync = true, lmdb sync = "commit"), pinned to SERVER_CPU.
# rend-bench bench (pinned to CLIENT_CPU) sets every key once (the prefill),
# then CONNS clients overwrite random keys of the key space (set only) for
# DURATION seconds; the key space (KEYS x VALUE_SIZE, 2 GB by default) is
# far larger than rocksdb's memtables (4 x 64 MB), so flushes and
# compactions run all along.  Not part of `make check`; about
# 2 x (DURATION + prefill) seconds.
#
# Environment (defaults):
#   L2S="rocksdb lmdb"     which L2s, in this order
#   DURATION=300 INTERVAL=10 WARMUP=5
#   KEYS=2000000 VALUE_SIZE=1000 CONNS=50 DEPTH=1 THREADS=1
#   DURABLE=1              0: rocksdb wal_sync = false, lmdb sync = "periodic"
#   SERVER_CPU=0 CLIENT_CPU=1
#   DATA_DIR               parent of the data directory (a new temp dir in
#                          /tmp, removed at the end)
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${L2S:=rocksdb lmdb}" "${DURATION:=300}" "${INTERVAL:=10}" "${WARMUP:=5}"
: "${KEYS:=2000000}" "${VALUE_SIZE:=1000}" "${CONNS:=50}" "${DEPTH:=1}"
: "${THREADS:=1}" "${DURABLE:=1}" "${SERVER_CPU:=0}" "${CLIENT_CPU:=1}"
: "${DATA_DIR:=/tmp}"
: "${REND:=$top/core/rend}" "${REND_PLUGIN_DIR:=$top/plugins/.libs}"
LOADGEN=$top/bench/rend-bench

work=$(mktemp -d "$DATA_DIR/rend-overwrite.XXXXXX") || exit 1
rend_pid=
cleanup() {
    if [ -n "$rend_pid" ]; then
        kill "$rend_pid" 2>/dev/null
        wait "$rend_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

make -s -C "$top/bench" >&2 || { log "overwrite.sh: cannot build rend-bench"; exit 1; }
[ -x "$REND" ] || { log "overwrite.sh: no $REND"; exit 1; }

# stats_of PORT [GROUP]: rend's `stats` (or `stats GROUP`) lines
stats_of() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'stats %s\r\nquit\r\n' "${2:-}" >&3 &&
        cat <&3) 2>/dev/null | tr -d '\r' | grep '^STAT'
}

# run_l2 NAME: one rend with that L2, one overwrite run
run_l2() {
    local l2=$1 conf mode pf=$work/port port data=$work/data-$1
    case $l2 in
    rocksdb)
        conf=$here/conf/l1l2-rocksdb.lua
        if [ "$DURABLE" = 1 ]; then mode=REND_WAL_SYNC=true; else mode=REND_WAL_SYNC=false; fi
        ;;
    lmdb)
        conf=$here/conf/l1l2.lua
        if [ "$DURABLE" = 1 ]; then mode=REND_SYNC=commit; else mode=REND_SYNC=periodic; fi
        ;;
    *) log "overwrite.sh: unknown L2 $l2"; return ;;
    esac
    rm -rf "$data" "$pf"
    env REND_PLUGIN_DIR="$REND_PLUGIN_DIR" REND_DATA="$data" "$mode" \
        taskset -c "$SERVER_CPU" "$REND" --config "$conf" -p 0 --port-file "$pf" \
        -t "$THREADS" &
    rend_pid=$!
    for _ in $(seq 200); do
        [ -s "$pf" ] && break
        sleep 0.05
    done
    port=$(head -n 1 "$pf" 2>/dev/null)
    [ -n "$port" ] || { log "overwrite.sh: rend did not start"; return; }
    echo "== $l2 ($mode): $KEYS keys x $VALUE_SIZE B, $CONNS conns, depth $DEPTH, set only, ${DURATION}s, per ${INTERVAL}s"
    taskset -c "$CLIENT_CPU" "$LOADGEN" bench --server "127.0.0.1:$port" \
        -c "$CONNS" -d "$DEPTH" --ratio 0 -v "$VALUE_SIZE" --keys "$KEYS" \
        --duration "$DURATION" --warmup "$WARMUP" --interval "$INTERVAL" 2>&1
    echo "data on disk: $(du -sm "$data" | cut -f1) MB"
    stats_of "$port" handlers | grep -E ' l2:' | sed 's/^/    /'
    kill "$rend_pid"
    wait "$rend_pid" 2>/dev/null
    rend_pid=
    rm -rf "$data"
}

echo "Machine: $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); data under $work ($(df -h --output=source "$work" | tail -n 1))"
for l2 in $L2S; do
    run_l2 "$l2"
done
exit 0
