#!/bin/bash
# tests/bench/metrics_cost.sh: what /metrics costs rend per request, in
# instructions (valgrind's cachegrind counts them exactly, so the figure
# does not move with the load of a shared machine the way ops/s does).
#
# For each scenario (inmem: conf/inmem.lua; proxy: tests/bench/conf/
# proxy.lua in front of a memcached on a unix socket) and mix (get90,
# set90), rend runs under cachegrind twice: without admin{} (no histograms,
# nothing scraped) and with admin{} (histograms recorded for every request
# and tier op) scraped every SCRAPE seconds.  The idle cost (start, stop,
# no load) is measured once per side and subtracted; what is left is
# divided by the replies of the load generator.
#
#   DURATION=4 CONNS=20 SCRAPE=1 tests/bench/metrics_cost.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${DURATION:=4}" "${CONNS:=20}" "${SCRAPE:=1}" "${KEYS:=10000}"
: "${SCENARIOS:=inmem proxy}" "${MIXES:=get90:0.9 set90:0.1}"
: "${REND:=$top/core/rend}" "${REND_PLUGIN_DIR:=$top/plugins/.libs}"
: "${MEMCACHED:=memcached}"
export REND_PLUGIN_DIR
LOADGEN=$top/bench/rend-bench
command -v valgrind >/dev/null || { echo "no valgrind"; exit 1; }
make -s -C "$here" >&2 || exit 1
work=$(mktemp -d /tmp/rend-mcost.XXXXXX) || exit 1
mcpid=
cleanup() {
    [ -n "$mcpid" ] && kill "$mcpid" 2>/dev/null && wait "$mcpid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# one CONF LOAD(0|1) RATIO -> "instructions replies"
one() {
    local conf=$1 load=$2 ratio=$3 pf=$work/port out=$work/cg.out pid addr ap
    local scraper= replies=0 ir
    rm -f "$pf" "$out"
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$out" \
        "$REND" --config "$conf" -t 1 --port-file "$pf" 2>"$work/vg.log" &
    pid=$!
    for _ in $(seq 600); do [ -s "$pf" ] && break; sleep 0.1; done
    addr=$(head -n 1 "$pf")
    case $addr in /*) ;; *) addr=127.0.0.1:$addr ;; esac
    ap=$(awk '$1 == "admin" { print $2 }' "$pf")
    if [ -n "$ap" ]; then
        (while sleep "$SCRAPE"; do
            curl -s -o /dev/null "http://127.0.0.1:$ap/metrics"; done) &
        scraper=$!
    fi
    if [ "$load" = 1 ]; then
        replies=$("$LOADGEN" bench --server "$addr" -c "$CONNS" --ratio "$ratio" \
            --keys "$KEYS" --duration "$DURATION" --warmup 0 -q 2>&1 \
            | sed -n 's/^RESULT.* replies=\([0-9]*\).*/\1/p')
    else
        sleep "$DURATION"
    fi
    [ -n "$scraper" ] && { kill "$scraper"; wait "$scraper" 2>/dev/null; }
    kill "$pid"
    wait "$pid"
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out")
    echo "${ir:-0} ${replies:-0}"
}

printf '| scenario | mix | replies off | replies on | instr/req off | instr/req on | overhead |\n'
printf '|---|---|---:|---:|---:|---:|---:|\n'
for sc in $SCENARIOS; do
    case $sc in
    inmem)
        off=$work/inmem.lua
        sed 's/memory_mb = .*/memory_mb = 64,/' "$top/conf/inmem.lua" >"$off"
        export REND_PORT=0
        unset REND_UNIX REND_MC_SERVERS ;;
    proxy)
        rm -f "$work/mc.sock"
        "$MEMCACHED" -u root -s "$work/mc.sock" -m 256 &
        mcpid=$!
        for _ in $(seq 100); do [ -S "$work/mc.sock" ] && break; sleep 0.05; done
        off=$work/proxy.lua
        cp "$here/conf/proxy.lua" "$off"
        export REND_MC_SERVERS=$work/mc.sock REND_UNIX=$work/rend.sock ;;
    *) echo "unknown scenario $sc" >&2; continue ;;
    esac
    on=$work/$sc-admin.lua
    cp "$off" "$on"
    printf '\nadmin { address = "127.0.0.1", port = 0 }\n' >>"$on"
    read -r idle_off _ <<<"$(one "$off" 0 0.9)"
    read -r idle_on _ <<<"$(one "$on" 0 0.9)"
    for mix in $MIXES; do
        name=${mix%%:*}
        r=${mix#*:}
        read -r ir_off n_off <<<"$(one "$off" 1 "$r")"
        read -r ir_on n_on <<<"$(one "$on" 1 "$r")"
        awk -v sc="$sc" -v mix="$name" -v a="$ir_off" -v ia="$idle_off" \
            -v na="$n_off" -v b="$ir_on" -v ib="$idle_on" -v nb="$n_on" 'BEGIN {
            pa = na ? (a - ia) / na : 0; pb = nb ? (b - ib) / nb : 0
            printf "| %s | %s | %d | %d | %.0f | %.0f | %+.1f%% |\n",
                sc, mix, na, nb, pa, pb, pa ? (pb - pa) * 100 / pa : 0 }'
    done
    if [ -n "$mcpid" ]; then
        kill "$mcpid"; wait "$mcpid" 2>/dev/null; mcpid=
    fi
done
