#!/bin/bash
# prometheus.sh - a real Prometheus server (Debian's `prometheus`) scrapes
# rend's /metrics every second while the test sends a known mix of
# traffic; then its HTTP API must give the hit ratio the test produced
# (30 hits, 10 misses: 0.75), the request count, and a histogram_quantile
# equal to the one computed from rend's own buckets.  Nothing here judges
# a wall-clock figure: the waits are bounded polls.
. "${REND_SRCDIR:-..}/tests/obs/obs_lib.sh"
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus)}
[ -n "$PROMETHEUS" ] || { echo "no prometheus (package prometheus): skipped"; exit 77; }
ppid_=

cat >"$dir/r.lua" <<'LUA'
local l1 = handler "inmem" { name = "l1", memory_mb = 16 }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) } }
admin { address = "127.0.0.1", port = 0 }
settings { threads = 2 }
LUA
start "$dir/r.lua" || exit 1

# a free local port for Prometheus: try a few, keep the one it binds
start_prometheus() {
    for try in 1 2 3 4 5 6 7 8; do
        pport=$((20000 + (RANDOM % 20000)))
        (exec 9<>"/dev/tcp/127.0.0.1/$pport") 2>/dev/null && continue
        cat >"$dir/prom.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: rend
    static_configs:
      - targets: ['127.0.0.1:$aport']
YML
        rm -rf "$dir/tsdb"
        "$PROMETHEUS" --config.file="$dir/prom.yml" \
            --storage.tsdb.path="$dir/tsdb" \
            --web.listen-address="127.0.0.1:$pport" \
            >"$dir/prom.log" 2>&1 &
        ppid_=$!
        i=0
        while [ $i -lt 600 ] && kill -0 "$ppid_" 2>/dev/null; do
            if "$CURL" -sf -m 2 "http://127.0.0.1:$pport/-/ready" >/dev/null; then
                return 0
            fi
            sleep 0.1
            i=$((i + 1))
        done
        kill "$ppid_" 2>/dev/null; wait "$ppid_" 2>/dev/null; ppid_=
    done
    echo "prometheus did not start:"; tail -20 "$dir/prom.log"
    return 1
}
extra_cleanup='[ -n "$ppid_" ] && kill "$ppid_" 2>/dev/null && wait "$ppid_" 2>/dev/null'
start_prometheus || exit 1
ok "prometheus listening on 127.0.0.1:$pport, scraping 127.0.0.1:$aport"

# query EXPR: the instant value (a string), or empty
query() {
    "$CURL" -s -m 10 -G "http://127.0.0.1:$pport/api/v1/query" \
        --data-urlencode "query=$1" >"$dir/q.json"
    sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p' "$dir/q.json"
}

# wait_for EXPR VALUE: poll until Prometheus has scraped it (bounded)
wait_for() {
    i=0
    while [ $i -lt 300 ]; do
        [ "$(query "$1")" = "$2" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

wait_for 'up{job="rend"}' 1 && ok "the target is up" \
    || { bad "the target never came up:"; cat "$dir/q.json"; }

# the traffic: 10 sets, 30 get hits, 10 get misses (one key per get)
cmds=
for k in 0 1 2 3 4 5 6 7 8 9; do cmds="${cmds}set k$k 0 0 2\r\nv$k\r\n"; done
for r in 1 2 3; do
    for k in 0 1 2 3 4 5 6 7 8 9; do cmds="${cmds}get k$k\r\n"; done
done
for k in 0 1 2 3 4 5 6 7 8 9; do cmds="${cmds}get miss$k\r\n"; done
mc "$cmds"
[ "$(grep -c '^VALUE' "$dir/mc.out")" = 30 ] || bad "the traffic did not run"

hits='sum(rend_tier_gets_total{tier="l1",result="hit"})'
wait_for "$hits" 30 && ok "Prometheus sees 30 L1 hits" \
    || bad "Prometheus hits: $(query "$hits")"
wait_for 'sum(rend_request_duration_seconds_count{command="get"})' 40 \
    && ok "Prometheus sees 40 get requests" \
    || bad "get count: $(query 'sum(rend_request_duration_seconds_count{command="get"})')"
ratio=$(query "$hits / sum(rend_tier_gets_total{tier=\"l1\"})")
[ "$ratio" = 0.75 ] && ok "hit ratio per tier: $ratio" || bad "hit ratio: $ratio"
cratio=$(query 'sum(rend_command_outcomes_total{command="get",outcome="hit"}) / sum(rend_command_outcomes_total{command="get"})')
[ "$cratio" = 0.75 ] && ok "get hit ratio: $cratio" || bad "get hit ratio: $cratio"

# histogram_quantile over the scraped buckets against the same estimate
# computed here from rend's own /metrics (the traffic has stopped, so both
# see the same buckets)
q=$(query 'histogram_quantile(0.99, sum by (le) (rend_request_duration_seconds_bucket{command="get"}))')
http GET /metrics >/dev/null
mine=$(awk -v want=0.99 '
    /^rend_request_duration_seconds_bucket\{command="get",le="/ {
        match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
        n++; bound[n] = le; cum[n] = $2 }
    END {
        total = cum[n]; rank = want * total; prev = 0; lo = 0
        for (i = 1; i <= n; i++) {
            if (cum[i] >= rank) {
                if (bound[i] == "+Inf") { print bound[i - 1]; exit }
                printf "%.9g\n", lo + (bound[i] - lo) * (rank - prev) / (cum[i] - prev); exit
            }
            prev = cum[i]; lo = bound[i]
        }
    }' "$dir/body")
if [ -n "$q" ] && awk -v a="$q" -v b="$mine" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-9 * (b > 0 ? b : 1) + 1e-12 && a > 0 && a <= 10) }'; then
    ok "histogram_quantile(0.99) of get latency: $q s (rend's buckets: $mine)"
else
    bad "histogram_quantile(0.99): prometheus $q, from the buckets $mine"
fi
tq=$(query 'histogram_quantile(0.5, sum by (le) (rend_tier_op_duration_seconds_bucket{tier="l1",op="get"}))')
[ -n "$tq" ] && [ "$tq" != NaN ] && ok "tier l1 get median: $tq s" || bad "tier quantile: $tq"

stop
exit $fail
