#!/bin/bash
# tests/bench/run.sh: rend against memcached, one scenario at a time.
#
# Servers run pinned to SERVER_CPU (0), the load generator and memaslap to
# CLIENT_CPU (1); the load generator is `rend-bench bench` (bench/).  For each mix (get90 = 90% gets, set90 = 90% sets) the same
# load runs against both sides of a scenario, REPEAT times in alternating
# order; the table shows medians.  Server CPU is read from /proc/PID/stat
# (utime + stime) around each run and divided by the replies of that run
# (prefill and warmup included, since the server did that work too).
#
# Environment (defaults):
#   SCENARIOS="inmem proxy"  which scenario_NAME functions to run
#                            (also: proxy_tcp: the proxy with TCP clients
#                            against memcached over TCP; l1l2 routefn, and the persistent L2
#                            ones: l1l2_periodic l1l2_rocksdb
#                            l1l2_rocksdb_nosync l1l2_miss l1l2_rocksdb_miss,
#                            metrics_inmem metrics_proxy: admin{} and
#                            its histograms off vs on, scraped each second,
#                            mget_inmem mget_proxy: multi-gets of
#                            MGET_KEYS keys, 100% gets, with keys/s, and
#                            chunked: 100 KB and 1 MB values through the
#                            chunked memcached L1, see scenario_chunked)
#   DURATION=5 WARMUP=1      measured / unmeasured seconds per run
#   CONNS=50 DEPTH=1         connections, requests in flight per connection
#   THREADS=1                server worker threads (memcached -t, rend -t)
#   LG_THREADS=1             load generator threads
#   VALUE_SIZE=100 KEYS=10000 PROTOCOL=text REPEAT=3
#   MGET=1                   keys per get (rend-bench --mget); MGET_KEYS=100
#                            for the mget_* scenarios (binary: PROTOCOL=binary
#                            sends a getkq batch and a noop)
#   MEMASLAP_TIME=10s        memaslap cross-check length (0 = skip it)
#   PROFILE=0                1: perf record rend during one more get90 run
#   SERVER_CPU=0 CLIENT_CPU=1
#   LG_EXTRA= MC_EXTRA= REND_EXTRA=
#                            more arguments for rend-bench bench, memcached
#                            and rend (e.g. "--idle 9900", "-c 20000")
#   QUIET_PCT=25 QUIET_WAIT=5 QUIET_BUDGET=60
#                            before each run, wait up to QUIET_WAIT s (and
#                            QUIET_BUDGET s in all) for the machine to use
#                            under QUIET_PCT% cpu: others' builds and tests
#                            skew every number.  A run during which other
#                            processes used more than 30% of a cpu is marked
#                            noisy, and medians use the clean runs if any.
#
# A scenario is one function scenario_NAME that starts its servers with
# start_memcached / start_rend, declares two targets with add_target and
# calls compare (and optionally memaslap_check / profile_target); servers are
# stopped by stop_servers.  It exits 0 whatever the numbers are.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${SCENARIOS:=inmem proxy}" "${DURATION:=5}" "${WARMUP:=1}" "${CONNS:=50}"
: "${DEPTH:=1}" "${THREADS:=1}" "${LG_THREADS:=1}" "${VALUE_SIZE:=100}"
: "${KEYS:=10000}" "${PROTOCOL:=text}" "${REPEAT:=3}" "${MEMASLAP_TIME:=10s}"
: "${PROFILE:=0}" "${SERVER_CPU:=0}" "${CLIENT_CPU:=1}"
: "${LG_EXTRA:=}" "${MC_EXTRA:=}" "${REND_EXTRA:=}"
: "${MGET:=1}" "${MGET_KEYS:=100}"
: "${QUIET_PCT:=25}" "${QUIET_WAIT:=5}" "${QUIET_BUDGET:=60}"
: "${MEMCACHED:=memcached}" "${MEMASLAP:=/usr/bin/memcaslap}"
: "${REND:=$top/core/rend}" "${REND_PLUGIN_DIR:=$top/plugins/.libs}"
LOADGEN=$top/bench/rend-bench
HZ=$(getconf CLK_TCK)
quiet_deadline=$((SECONDS + QUIET_BUDGET))
: "${MIXES:=get90:0.9 set90:0.1}"

work=$(mktemp -d /tmp/rend-bench.XXXXXX) || exit 1
results=$work/results
summary=$work/summary
: >"$results"
: >"$summary"
server_pids=()
declare -A T_ADDR T_PIDS T_TCP

main_pid=$BASHPID
cleanup() {
    [ "$BASHPID" = "$main_pid" ] || return
    stop_servers
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

build() {
    make -s -C "$top/bench" >&2 || { log "run.sh: cannot build rend-bench"; exit 1; }
    make -s -C "$top/core" >/dev/null 2>&1 || log "run.sh: core build failed, using the existing binary"
    make -s -C "$top/plugins" >/dev/null 2>&1 || log "run.sh: plugins build failed, using the existing ones"
    [ -x "$REND" ] || { log "run.sh: no $REND"; exit 1; }
    command -v "$MEMCACHED" >/dev/null || { log "run.sh: no memcached"; exit 1; }
}

wait_tcp() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    log "run.sh: nothing listens on port $1"
    return 1
}

wait_file() {
    for _ in $(seq 100); do
        [ -s "$1" ] || [ -S "$1" ] && return 0
        sleep 0.05
    done
    log "run.sh: $1 did not appear"
    return 1
}

# start_memcached NAME [SOCKET]: sets NAME_pid and NAME_port (TCP on
# 127.0.0.1) or listens on SOCKET only.
start_memcached() {
    local name=$1 sock=${2:-} port pid
    if [ -n "$sock" ]; then
        rm -f "$sock" # (a stale one would pass wait_file at once)
        # shellcheck disable=SC2086
        taskset -c "$SERVER_CPU" "$MEMCACHED" -u root -s "$sock" -t "$THREADS" -m 1024 $MC_EXTRA &
        pid=$!
        server_pids+=("$pid")
        wait_file "$sock" || return 1
        port=$sock
    else
        port=$("$LOADGEN" --free-port)
        # shellcheck disable=SC2086
        taskset -c "$SERVER_CPU" "$MEMCACHED" -u root -l 127.0.0.1 -p "$port" -U 0 -t "$THREADS" -m 1024 $MC_EXTRA &
        pid=$!
        server_pids+=("$pid")
        wait_tcp "$port" || return 1
    fi
    printf -v "${name}_pid" '%s' "$pid"
    printf -v "${name}_port" '%s' "$port"
}

# start_rend NAME CONFIG [VAR=value...]: sets NAME_pid and NAME_port.
start_rend() {
    local name=$1 conf=$2 pf=$work/$1.port pid port
    shift 2
    rm -f "$pf"
    # shellcheck disable=SC2086
    env REND_PLUGIN_DIR="$REND_PLUGIN_DIR" "$@" taskset -c "$SERVER_CPU" \
        "$REND" --config "$conf" -p 0 --port-file "$pf" -t "$THREADS" $REND_EXTRA &
    pid=$!
    server_pids+=("$pid")
    wait_file "$pf" || return 1
    printf -v "${name}_pid" '%s' "$pid"
    port=$(head -n 1 "$pf")
    printf -v "${name}_port" '%s' "$port"
    case $port in
    /*) wait_file "$port" ;;
    *) wait_tcp "$port" ;;
    esac
}

stop_servers() {
    local pid
    for pid in "${server_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${server_pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    server_pids=()
    T_ADDR=() T_PIDS=() T_TCP=()
}

# add_target LABEL ADDRESS "PIDS" [TCP_ADDRESS for memaslap]
add_target() {
    T_ADDR[$1]=$2
    T_PIDS[$1]=$3
    T_TCP[$1]=${4:-}
}

# ticks PID...: utime + stime of these processes, in clock ticks
ticks() {
    local pid s f sum=0
    for pid in "$@"; do
        s=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        read -r -a f <<<"${s##*) }"
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}

# busy: non-idle ticks of the whole machine (all cpus) from /proc/stat
busy() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# wait_quiet: wait up to QUIET_WAIT s until the machine is nearly idle.
wait_quiet() {
    local i b0 b1 pct=0
    for ((i = 0; i < QUIET_WAIT * 2; i++)); do
        b0=$(busy)
        sleep 0.5
        b1=$(busy)
        pct=$(((b1 - b0) * 200 / HZ))
        [ "$pct" -le "$QUIET_PCT" ] && return 0
        [ "$SECONDS" -ge "$quiet_deadline" ] && break
    done
    log "run.sh: the machine stays busy (${pct}% cpu), running anyway"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# run_one SCENARIO MIX RATIO LABEL REP: one load generator run, one line
# appended to $results.
run_one() {
    local sc=$1 mix=$2 ratio=$3 label=$4 rep=$5 out res t0 t1 c0 c1 w0 w1
    local ops p99 replies errors hit cli cpu_us srv_pct b0 b1 mach_pct noisy keys_s
    [ "$rep" = profile ] || wait_quiet
    # shellcheck disable=SC2086
    c0=$(ticks ${T_PIDS[$label]})
    b0=$(busy)
    w0=$(date +%s%N)
    out=$(taskset -c "$CLIENT_CPU" "$LOADGEN" bench --server "${T_ADDR[$label]}" \
        -c "$CONNS" -T "$LG_THREADS" -d "$DEPTH" --ratio "$ratio" -v "$VALUE_SIZE" \
        --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" -P "$PROTOCOL" \
        --mget "$MGET" -q $LG_EXTRA 2>&1)
    w1=$(date +%s%N)
    b1=$(busy)
    # shellcheck disable=SC2086
    c1=$(ticks ${T_PIDS[$label]})
    res=$(grep '^RESULT' <<<"$out")
    if [ -z "$res" ]; then
        log "$sc $mix $label: load generator failed: $out"
        return
    fi
    ops=$(field ops_s "$res")
    p99=$(field p99_us "$res")
    replies=$(field replies "$res")
    errors=$(field errors "$res")
    hit=$(field hit_ratio "$res")
    cli=$(field client_cpu_pct "$res")
    keys_s=$(field keys_s "$res")
    t0=$((c1 - c0))
    t1=$((w1 - w0))
    cpu_us=$(awk -v t="$t0" -v hz="$HZ" -v n="$replies" 'BEGIN { printf "%.2f", n ? t * 1e6 / hz / n : 0 }')
    srv_pct=$(awk -v t="$t0" -v hz="$HZ" -v w="$t1" 'BEGIN { printf "%.0f", t / hz / (w / 1e9) * 100 }')
    mach_pct=$(awk -v t="$((b1 - b0))" -v hz="$HZ" -v w="$t1" 'BEGIN { printf "%.0f", t / hz / (w / 1e9) * 100 }')
    noisy=$(awk -v m="$mach_pct" -v s="$srv_pct" -v c="$cli" 'BEGIN { print (m - s - c > 30) ? "noisy" : "clean" }')
    echo "$sc $mix $label $rep $ops $p99 $cpu_us $srv_pct $cli $mach_pct $errors $hit $noisy ${keys_s:-0}" >>"$results"
    log "$(printf '%-6s %-5s %-15s rep %s: %8s ops/s  p99 %8s us  cpu %6s us/req  server %3s%%  client %5s%%  machine %3s%%  errors %s  hits %s  %s' \
        "$sc" "$mix" "$label" "$rep" "$ops" "$p99" "$cpu_us" "$srv_pct" "$cli" "$mach_pct" "$errors" "$hit" "$noisy")"
}

# median SCENARIO MIX LABEL COLUMN (1-based column of $results)
# over the clean runs, or over all runs when none was clean
median() {
    local want=clean
    awk -v s="$1" -v m="$2" -v l="$3" '$1 == s && $2 == m && $3 == l && $13 == "clean"' "$results" |
        grep -q . || want=any
    awk -v s="$1" -v m="$2" -v l="$3" -v c="$4" -v w="$want" \
        '$1 == s && $2 == m && $3 == l && (w == "any" || $13 == w) { print $c }' "$results" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "nan") printf "%.2f", a / b; else print "-" }'; }

# compare SCENARIO BASE REND: every mix, REPEAT times, alternating order;
# one summary row per mix.
compare() {
    local sc=$1 base=$2 rend=$3 mix name r rep
    for mix in $MIXES; do
        name=${mix%%:*}
        r=${mix#*:}
        for rep in $(seq "$REPEAT"); do
            if [ $((rep % 2)) -eq 1 ]; then
                run_one "$sc" "$name" "$r" "$base" "$rep"
                run_one "$sc" "$name" "$r" "$rend" "$rep"
            else
                run_one "$sc" "$name" "$r" "$rend" "$rep"
                run_one "$sc" "$name" "$r" "$base" "$rep"
            fi
        done
        local bo bp bc ro rp rc
        bo=$(median "$sc" "$name" "$base" 5)
        bp=$(median "$sc" "$name" "$base" 6)
        bc=$(median "$sc" "$name" "$base" 7)
        ro=$(median "$sc" "$name" "$rend" 5)
        rp=$(median "$sc" "$name" "$rend" 6)
        rc=$(median "$sc" "$name" "$rend" 7)
        echo "| $sc | $name | $base / $rend | $bo | $ro | $(ratio "$ro" "$bo") | $bp | $rp | $(ratio "$rp" "$bp") | $bc | $rc | $(ratio "$rc" "$bc") |" >>"$summary"
    done
}

# memaslap_check SCENARIO LABEL...: memaslap's get90 throughput per target
# that has a TCP address.
memaslap_check() {
    local sc=$1 label cfg=$work/memaslap.cfg tps
    shift
    [ "$MEMASLAP_TIME" = 0 ] && return
    [ -x "$MEMASLAP" ] || { log "run.sh: no $MEMASLAP, cross-check skipped"; return; }
    # memaslap needs keys of 16 bytes or more; cmd 0 = set, 1 = get
    printf 'key\n16 16 1\nvalue\n%s %s 1\ncmd\n0 0.1\n1 0.9\n' "$VALUE_SIZE" "$VALUE_SIZE" >"$cfg"
    for label in "$@"; do
        [ -n "${T_TCP[$label]}" ] || continue
        tps=$(taskset -c "$CLIENT_CPU" "$MEMASLAP" -s "${T_TCP[$label]}" -t "$MEMASLAP_TIME" \
            -T 1 -c "$CONNS" -F "$cfg" 2>&1 | sed -n 's/.*TPS: \([0-9]*\).*/\1/p')
        echo "memaslap $sc get90 $label: ${tps:-failed} ops/s" >>"$work/memaslap"
        log "memaslap $sc get90 $label: ${tps:-failed} ops/s"
    done
}

# profile_target SCENARIO LABEL PID: perf record -g on PID during one more
# get90 run (PROFILE=1 only); prints the top 15 symbols.
profile_target() {
    local sc=$1 label=$2 pid=$3 data=$work/perf.data secs
    [ "$PROFILE" = 1 ] || return
    command -v perf >/dev/null || { log "run.sh: no perf, profile skipped"; return; }
    secs=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { print d + w }')
    perf record -q -g -p "$pid" -o "$data" -- sleep "$secs" 2>/dev/null &
    local perf_pid=$!
    run_one "$sc" get90 0.9 "$label" profile
    wait "$perf_pid"
    perf report -i "$data" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed 's/[ -]*$//' >"$work/perf.txt"
    {
        echo "perf: $sc $label, get90, top 15 symbols (self, all of the process)"
        head -n 15 "$work/perf.txt"
        echo "perf: $sc $label, get90, top 15 user-space symbols (self)"
        grep -v 'kernel' "$work/perf.txt" | head -n 15
    } >>"$work/profile"
    sed -i '/ profile /d' "$results"
}

scenario_inmem() {
    start_memcached mc || return
    start_rend rend "$top/conf/inmem.lua" || return
    add_target memcached "127.0.0.1:$mc_port" "$mc_pid" "127.0.0.1:$mc_port"
    add_target rend-inmem "127.0.0.1:$rend_port" "$rend_pid" "127.0.0.1:$rend_port"
    compare inmem memcached rend-inmem
    memaslap_check inmem memcached rend-inmem
    profile_target inmem rend-inmem "$rend_pid"
    stop_servers
}

# rend listens on a unix socket too, so both sides see the same client
# transport (memcached -s has no TCP, hence no memaslap here).  rend's CPU is
# rend + its memcached: the work the pair does per request.
scenario_proxy() {
    start_memcached mcu "$work/mc.sock" || return
    start_rend rend "$here/conf/proxy.lua" REND_MC_SERVERS="$work/mc.sock" \
        REND_UNIX="$work/rend.sock" || return
    add_target memcached-unix "$work/mc.sock" "$mcu_pid"
    add_target rend-proxy "$rend_port" "$rend_pid $mcu_pid"
    compare proxy memcached-unix rend-proxy
    profile_target proxy rend-proxy "$rend_pid"
    stop_servers
}

# The same pair with the clients on TCP, as most memcached clients connect
# (and as memcaslap does): the base is memcached over TCP; rend listens on
# TCP and reaches its memcached over a unix socket, the usual way to attach a
# memcached on the same host.  rend's CPU is rend + its memcached.
scenario_proxy_tcp() {
    start_memcached mc || return
    start_memcached mcu "$work/mc.sock" || return
    start_rend rend "$here/conf/proxy.lua" REND_MC_SERVERS="$work/mc.sock" \
        REND_PORT=0 || return
    add_target memcached "127.0.0.1:$mc_port" "$mc_pid" "127.0.0.1:$mc_port"
    add_target rend-proxy-tcp "127.0.0.1:$rend_port" "$rend_pid $mcu_pid" \
        "127.0.0.1:$rend_port"
    compare proxy_tcp memcached rend-proxy-tcp
    memaslap_check proxy_tcp memcached rend-proxy-tcp
    stop_servers
}

# The L1/L2 orchestration against L1-only on the same inmem L1: gets all
# hit L1 (the key space fits); sets also write the lmdb L2 (group commit).
scenario_l1l2() {
    start_rend base "$top/conf/inmem.lua" REND_PORT=0 || return
    rm -rf "$work/l1l2-data"
    start_rend rend "$here/conf/l1l2.lua" REND_DATA="$work/l1l2-data" || return
    add_target rend-inmem "127.0.0.1:$base_port" "$base_pid"
    add_target rend-l1l2 "127.0.0.1:$rend_port" "$rend_pid"
    compare l1l2 rend-inmem rend-l1l2
    stop_servers
}

# l1l2_stats SCENARIO PORT: the L1/L2 get counters of the rend on PORT
# (`stats`, all runs of the scenario so far), one line of the notes.
l1l2_stats() {
    local s
    s=$( (exec 3<>"/dev/tcp/127.0.0.1/$2" && printf 'stats\r\nquit\r\n' >&3 &&
        cat <&3) 2>/dev/null | tr -d '\r')
    awk -v sc="$1" '$1 == "STAT" { v[$2] = $3 }
        END {
            h = v["cmd_get_hits_l1"] + 0; m = v["cmd_get_misses_l1"] + 0
            if (h + m == 0) exit
            printf "%s: cmd_get_hits_l1 %d cmd_get_misses_l1 %d cmd_get_hits_l2 %d cmd_get_misses_l2 %d, L1 hit ratio %.4f\n",
                sc, h, m, v["cmd_get_hits_l2"], v["cmd_get_misses_l2"], h + m ? h / (h + m) : 0
        }' <<<"$s" >>"$work/notes"
}

# l1l2_vs_inmem SCENARIO LABEL CONFIG [VAR=value...]: the L1/L2 rend of
# CONFIG (data in $work/SCENARIO-data, removed afterwards) against inmem
# L1-only (conf/inmem.lua); its L1/L2 get counters go to the notes.
l1l2_vs_inmem() {
    local sc=$1 label=$2 conf=$3
    shift 3
    start_rend base "$top/conf/inmem.lua" REND_PORT=0 || return
    rm -rf "$work/$sc-data"
    start_rend rend "$conf" REND_DATA="$work/$sc-data" "$@" || return
    add_target rend-inmem "127.0.0.1:$base_port" "$base_pid"
    add_target "$label" "127.0.0.1:$rend_port" "$rend_pid"
    compare "$sc" rend-inmem "$label"
    l1l2_stats "$sc" "$rend_port"
    stop_servers
    rm -rf "$work/$sc-data"
}

# The persistent L2s behind the inmem L1 (issue 4).  Gets hit L1 when the
# key space fits it (l1l2, l1l2_rocksdb with 1 GB of L1) and miss it when it
# does not (the _miss ones: 1 MB of L1, e.g. KEYS=200000).  Sets are durable
# (lmdb sync = "commit", rocksdb wal_sync = true) except in l1l2_periodic
# (lmdb sync = "periodic") and l1l2_rocksdb_nosync (wal_sync = false).
scenario_l1l2_periodic() {
    l1l2_vs_inmem l1l2_periodic rend-l1l2-periodic "$here/conf/l1l2.lua" \
        REND_SYNC=periodic
}

scenario_l1l2_rocksdb() {
    l1l2_vs_inmem l1l2_rocksdb rend-l1l2-rocksdb "$here/conf/l1l2-rocksdb.lua" \
        REND_WAL_SYNC=true
}

scenario_l1l2_rocksdb_nosync() {
    l1l2_vs_inmem l1l2_rocksdb_nosync rend-l1l2-rocks-nosync \
        "$here/conf/l1l2-rocksdb.lua" REND_WAL_SYNC=false
}

scenario_l1l2_miss() {
    l1l2_vs_inmem l1l2_miss rend-l1l2-small "$here/conf/l1l2-small.lua" \
        REND_L2=lmdb REND_SYNC=commit
}

scenario_l1l2_rocksdb_miss() {
    l1l2_vs_inmem l1l2_rocksdb_miss rend-l1l2-small-rocks \
        "$here/conf/l1l2-small.lua" REND_L2=rocksdb REND_WAL_SYNC=true
}

# A route_fn (Lua, per request) against the same route compiled to C.
scenario_routefn() {
    start_rend base "$top/conf/inmem.lua" REND_PORT=0 || return
    start_rend rend "$here/conf/routefn.lua" || return
    add_target rend-inmem "127.0.0.1:$base_port" "$base_pid"
    add_target rend-routefn "127.0.0.1:$rend_port" "$rend_pid"
    compare routefn rend-inmem rend-routefn
    profile_target routefn rend-routefn "$rend_pid"
    stop_servers
}

# As proxy, with the memcached plugin in chunked mode (conf/proxy-chunked.lua):
# every value is a metadata item plus ~1 KB chunks.  Meant for large values,
# e.g. SCENARIOS=proxy_chunked VALUE_SIZE=102400 KEYS=1000 (the key space
# must fit memcached's -m 1024 on both sides, or misses skew the figures).
# with_admin CONFIG OUT: CONFIG plus an admin listener on a free port.
with_admin() {
    cp "$1" "$2"
    printf '\nadmin { address = "127.0.0.1", port = 0 }\n' >>"$2"
}

# scrape_loop PORTFILE: GET /metrics once a second (a Prometheus's load)
# until killed; started in the background by the metrics scenarios.
scrape_loop() {
    local ap
    ap=$(awk '$1 == "admin" { print $2 }' "$1")
    while sleep 1; do
        curl -s -o /dev/null "http://127.0.0.1:$ap/metrics"
    done
}

# The cost of metrics: the same rend without admin{} (no histograms, no
# scrapes) against rend with admin{} (histograms recorded per request and
# per tier op) scraped once a second; inmem and proxy.
scenario_metrics_inmem() {
    with_admin "$top/conf/inmem.lua" "$work/inmem-admin.lua"
    start_rend off "$top/conf/inmem.lua" || return
    start_rend on "$work/inmem-admin.lua" || return
    scrape_loop "$work/on.port" &
    server_pids+=("$!")
    add_target metrics-off "127.0.0.1:$off_port" "$off_pid"
    add_target metrics-on "127.0.0.1:$on_port" "$on_pid"
    compare metrics_inmem metrics-off metrics-on
    stop_servers
}

scenario_metrics_proxy() {
    with_admin "$here/conf/proxy.lua" "$work/proxy-admin.lua"
    start_memcached mcu "$work/mc.sock" || return
    start_rend off "$here/conf/proxy.lua" REND_MC_SERVERS="$work/mc.sock" \
        REND_UNIX="$work/off.sock" || return
    start_rend on "$work/proxy-admin.lua" REND_MC_SERVERS="$work/mc.sock" \
        REND_UNIX="$work/on.sock" || return
    scrape_loop "$work/on.port" &
    server_pids+=("$!")
    add_target metrics-off "$off_port" "$off_pid $mcu_pid"
    add_target metrics-on "$on_port" "$on_pid $mcu_pid"
    compare metrics_proxy metrics-off metrics-on
    stop_servers
}

# Multi-gets of MGET_KEYS keys (all gets): the summary's ops/s are
# requests/s; keys/s (the medians of rend-bench's keys_s) go to the notes.
# Through the proxy, a request's keys go to memcached as one pipelined
# batch of meta gets per backend connection.
mget_notes() {
    local sc=$1 label
    shift
    for label in "$@"; do
        echo "$sc mget$MGET_KEYS $label: $(median "$sc" "mget$MGET_KEYS" "$label" 14) keys/s (median)" >>"$work/notes"
    done
}

scenario_mget_inmem() {
    local MGET=$MGET_KEYS MIXES="mget$MGET_KEYS:1"
    start_memcached mc || return
    start_rend rend "$top/conf/inmem.lua" || return
    add_target memcached "127.0.0.1:$mc_port" "$mc_pid"
    add_target rend-inmem "127.0.0.1:$rend_port" "$rend_pid"
    compare mget_inmem memcached rend-inmem
    mget_notes mget_inmem memcached rend-inmem
    stop_servers
}

scenario_mget_proxy() {
    local MGET=$MGET_KEYS MIXES="mget$MGET_KEYS:1"
    start_memcached mcu "$work/mc.sock" || return
    start_rend rend "$here/conf/proxy.lua" REND_MC_SERVERS="$work/mc.sock" \
        REND_UNIX="$work/rend.sock" || return
    add_target memcached-unix "$work/mc.sock" "$mcu_pid"
    add_target rend-proxy "$rend_port" "$rend_pid $mcu_pid"
    compare mget_proxy memcached-unix rend-proxy
    mget_notes mget_proxy memcached-unix rend-proxy
    stop_servers
}

scenario_proxy_chunked() {
    start_memcached mcu "$work/mc.sock" || return
    start_rend rend "$here/conf/proxy-chunked.lua" \
        REND_MC_SERVERS="$work/mc.sock" REND_UNIX="$work/rend.sock" REND_MC_SLAB="${REND_MC_SLAB:-1184}" || return
    add_target memcached-unix "$work/mc.sock" "$mcu_pid"
    add_target rend-proxy-chunked "$rend_port" "$rend_pid $mcu_pid"
    compare proxy_chunked memcached-unix rend-proxy-chunked
    profile_target proxy_chunked rend-proxy-chunked "$rend_pid"
    stop_servers
}

# Issue 14: large values through rend's chunked memcached L1 against the
# same memcached serving them directly (both on unix sockets; rend's CPU is
# rend + its memcached).  For each size in CHUNK_SIZES (102400 1048576) it
# runs with CHUNK_CONNS (4) connections and CHUNK_KEYS (1000 for 100 KB,
# 200 for 1 MB: the data fits memcached's -m 1024) keys; memcached gets
# -I 2m so that it takes 1 MB values directly.  rend's slab_size is
# CHUNK_SLAB (103496: memcached 1.6's class near 100 KB, so a 100 KB value
# is one chunk and a 1 MB value ten); CHUNK_REND=1 adds the Rend-compatible
# layout (slab_size 1184) as a third target.  The global CONNS, VALUE_SIZE
# and KEYS do not apply here.
scenario_chunked() {
    local size CONNS=${CHUNK_CONNS:-4} MC_EXTRA="$MC_EXTRA -I 2m"
    local VALUE_SIZE KEYS sc
    for size in ${CHUNK_SIZES:-102400 1048576}; do
        VALUE_SIZE=$size
        KEYS=${CHUNK_KEYS:-$((size > 262144 ? 200 : 1000))}
        sc=chunked_$((size / 1024))k
        log "scenario $sc: ${size}-byte values, $KEYS keys, $CONNS conns, slab_size ${CHUNK_SLAB:-103496}"
        start_memcached mcu "$work/mc.sock" || return
        start_rend rend "$here/conf/proxy-chunked.lua" \
            REND_MC_SERVERS="$work/mc.sock" REND_UNIX="$work/rend.sock" \
            REND_MC_SLAB="${CHUNK_SLAB:-103496}" || return
        add_target memcached-unix "$work/mc.sock" "$mcu_pid"
        add_target rend-chunked "$rend_port" "$rend_pid $mcu_pid"
        compare "$sc" memcached-unix rend-chunked
        profile_target "$sc" rend-chunked "$rend_pid"
        stop_servers
        if [ "${CHUNK_REND:-0}" = 1 ]; then
            start_memcached mcu "$work/mc.sock" || return
            start_rend rend "$here/conf/proxy-chunked.lua" \
                REND_MC_SERVERS="$work/mc.sock" REND_UNIX="$work/rend.sock" \
                REND_MC_SLAB=1184 || return
            add_target memcached-unix "$work/mc.sock" "$mcu_pid"
            add_target rend-chunked-1184 "$rend_port" "$rend_pid $mcu_pid"
            compare "${sc}_rend" memcached-unix rend-chunked-1184
            stop_servers
        fi
    done
}

build
log "rend bench: scenarios '$SCENARIOS', ${DURATION}s runs (+${WARMUP}s warmup), $CONNS conns, depth $DEPTH, $PROTOCOL, ${VALUE_SIZE}-byte values, $KEYS keys, server threads $THREADS, repeat $REPEAT"
for sc in $SCENARIOS; do
    if [ "$(type -t "scenario_$sc")" != function ]; then
        log "run.sh: unknown scenario $sc"
        continue
    fi
    "scenario_$sc"
    stop_servers
done

echo
echo "Machine: $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "Settings: DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS DEPTH=$DEPTH THREADS=$THREADS LG_THREADS=$LG_THREADS VALUE_SIZE=$VALUE_SIZE KEYS=$KEYS PROTOCOL=$PROTOCOL REPEAT=$REPEAT (medians)"
echo
echo "| scenario | mix | base / rend | base ops/s | rend ops/s | ratio | base p99 us | rend p99 us | ratio | base cpu us/req | rend cpu us/req | ratio |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$summary"
echo
echo "Every run (scenario mix target rep ops/s p99_us cpu_us/req server_cpu% client_cpu% machine_cpu% errors hit_ratio clean|noisy keys/s);"
echo "machine_cpu% is all cpus together (max $(nproc)00%); noisy = other processes used over 30% of a cpu:"
sed 's/^/    /' "$results"
[ -s "$work/memaslap" ] && { echo; cat "$work/memaslap"; }
[ -s "$work/notes" ] && { echo; cat "$work/notes"; }
[ -s "$work/profile" ] && { echo; cat "$work/profile"; }
exit 0
