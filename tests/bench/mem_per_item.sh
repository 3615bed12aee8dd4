#!/bin/bash
# tests/bench/mem_per_item.sh: resident memory per item, rend's inmem against
# memcached, filled by the same client.
#
# For each value size, start memcached (-m MEMORY_MB -u nobody) and rend
# (conf/inmem.lua, REND_MEMORY_MB=MEMORY_MB) one after the other, set ITEMS
# keys of KEY_LENGTH bytes once each (rend-bench bench --ratio 0 over a
# sequential key space), check that every item is still there (no eviction)
# and print VmRSS / items and (VmRSS - RSS of the empty server) / items.
#
# Environment (defaults):
#   ITEMS=1000000 KEY_LENGTH=14 SIZES="100 1024" MEMORY_MB=2048
#   SERVER_CPU=0 CLIENT_CPU=1 MEMCACHED=memcached
# MEMORY_MB must hold every item on both sides (1 M items of 1 KB values
# need about 1.2 GB in memcached's 1184-byte slab class), or evictions skew
# the figure; the script says so when items are missing.
# A benchmark, not a test: it exits 0 whatever the numbers are.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${ITEMS:=1000000}" "${KEY_LENGTH:=14}" "${SIZES:=100 1024}"
: "${MEMORY_MB:=2048}" "${SERVER_CPU:=0}" "${CLIENT_CPU:=1}"
: "${MEMCACHED:=memcached}"
: "${REND:=$top/core/rend}" "${REND_PLUGIN_DIR:=$top/plugins/.libs}"
LOADGEN=$top/bench/rend-bench

work=$(mktemp -d /tmp/rend-mem.XXXXXX) || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

wait_tcp() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    log "mem_per_item.sh: nothing listens on port $1"
    return 1
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# stat_of PORT NAME...: the first of these stats the server reports
stat_of() {
    local port=$1 out n
    shift
    out=$(exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'stats\r\nquit\r\n' >&3 \
        && timeout 5 cat <&3)
    for n in "$@"; do
        v=$(printf '%s\n' "$out" | tr -d '\r' | awk -v n="$n" '$1 == "STAT" && ($2 == n || $2 ~ ("[.:]" n "$")) { print $3; exit }')
        [ -n "$v" ] && { echo "$v"; return; }
    done
    echo "?"
}

# measure NAME VALUE_SIZE: start NAME, fill, print one line
measure() {
    local name=$1 vsize=$2 port pf rss0 rss1 items
    if [ "$name" = memcached ]; then
        port=$("$LOADGEN" --free-port)
        taskset -c "$SERVER_CPU" "$MEMCACHED" -u nobody -l 127.0.0.1 -p "$port" \
            -U 0 -t 1 -m "$MEMORY_MB" &
        pid=$!
    else
        pf=$work/rend.port
        rm -f "$pf"
        env REND_PLUGIN_DIR="$REND_PLUGIN_DIR" REND_MEMORY_MB="$MEMORY_MB" \
            taskset -c "$SERVER_CPU" "$REND" --config "$top/conf/inmem.lua" \
            -p 0 --port-file "$pf" -t 1 &
        pid=$!
        for _ in $(seq 200); do [ -s "$pf" ] && break; sleep 0.05; done
        port=$(head -n 1 "$pf")
    fi
    wait_tcp "$port" || return 1
    sleep 0.5
    rss0=$(rss_kb "$pid")
    taskset -c "$CLIENT_CPU" "$LOADGEN" bench --server "127.0.0.1:$port" \
        --ratio 0 --dist sequential --no-prefill -n "$ITEMS" --keys "$ITEMS" \
        -kl "$KEY_LENGTH" -v "$vsize" -c 8 -d 8 --warmup 0 -q >"$work/fill.out" 2>&1 \
        || { log "mem_per_item.sh: fill of $name failed:"; cat "$work/fill.out" >&2; }
    sleep 0.5
    rss1=$(rss_kb "$pid")
    items=$(stat_of "$port" curr_items items)
    awk -v n="$name" -v v="$vsize" -v k="$KEY_LENGTH" -v want="$ITEMS" \
        -v items="$items" -v r0="$rss0" -v r1="$rss1" 'BEGIN {
        note = (items == want) ? "" : "  (items " items " of " want ": evicted or not filled)"
        printf "%-10s value %6d B  key %2d B  items %8s  RSS %8.1f MiB  %7.1f B/item  (%7.1f B/item above the empty server; raw %d)%s\n",
            n, v, k, items, r1 / 1024, r1 * 1024 / want, (r1 - r0) * 1024 / want, k + v, note
    }'
    kill "$pid"
    wait "$pid" 2>/dev/null
    pid=
}

make -s -C "$top/bench" >&2 || { log "mem_per_item.sh: cannot build rend-bench"; exit 1; }
[ -x "$REND" ] || { log "mem_per_item.sh: no $REND"; exit 1; }
for v in $SIZES; do
    measure memcached "$v"
    measure rend "$v"
done
exit 0
