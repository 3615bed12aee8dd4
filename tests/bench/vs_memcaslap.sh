#!/bin/bash
# tests/bench/vs_memcaslap.sh: rend-bench bench against memcaslap, side by
# side in one run, from one core, against the same server.
#
# The server (SERVER=memcached: memcached -t 1; SERVER=rend: rend -t 1 with
# conf/inmem.lua) runs pinned to SERVER_CPU (0); memcaslap and rend-bench are both
# pinned to CLIENT_CPU (1) and run one after the other, alternating, REPEAT
# times, against that one memcached.  Same mix (90% gets, 10% sets), value
# size, key length and connections; memcaslap has no pipelining, rend-bench
# runs with DEPTH requests in flight per connection (and once with depth 1).
# Client CPU is measured with /usr/bin/time; ops per client cpu-second is
# the figure that does not depend on how fast the server is.
#
# Environment (defaults): DURATION=5 CONNS=50 DEPTH=32 VALUE_SIZE=100
#   KEYS=10000 KEY_LEN=16 REPEAT=3 SERVER_CPU=0 CLIENT_CPU=1 PROTOCOL=text
#   (binary: memcaslap -B and rend-bench -b)
# Prints one line per run and the medians; exits 0 whatever the numbers.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${DURATION:=5}" "${CONNS:=50}" "${DEPTH:=32}" "${VALUE_SIZE:=100}"
: "${KEYS:=10000}" "${KEY_LEN:=16}" "${REPEAT:=3}" "${SERVER_CPU:=0}"
: "${CLIENT_CPU:=1}" "${PROTOCOL:=text}" "${SERVER:=memcached}"
: "${MEMCACHED:=memcached}" "${MEMASLAP:=/usr/bin/memcaslap}"
: "${REND:=$top/core/rend}" "${REND_PLUGIN_DIR:=$top/plugins/.libs}"
BENCH=$top/bench/rend-bench
make -s -C "$top/bench" >&2 || exit 1
command -v "$MEMASLAP" >/dev/null || { echo "no $MEMASLAP" >&2; exit 1; }

work=$(mktemp -d /tmp/rend-vs.XXXXXX) || exit 1
port=$("$BENCH" --free-port)
if [ "$SERVER" = rend ]; then
    env REND_PLUGIN_DIR="$REND_PLUGIN_DIR" REND_PORT="$port" \
        taskset -c "$SERVER_CPU" "$REND" -c "$top/conf/inmem.lua" -t 1 &
else
    taskset -c "$SERVER_CPU" "$MEMCACHED" -u root -l 127.0.0.1 -p "$port" \
        -U 0 -t 1 -m 1024 &
fi
mc=$!
trap 'kill $mc 2>/dev/null; wait $mc 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
printf 'key\n%s %s 1\nvalue\n%s %s 1\ncmd\n0 0.1\n1 0.9\n' "$KEY_LEN" \
    "$KEY_LEN" "$VALUE_SIZE" "$VALUE_SIZE" >"$work/ms.cfg"
mbin=() rbin=()
[ "$PROTOCOL" = binary ] && mbin=(-B) rbin=(-b)

# cpu SECONDS_FILE: user+sys seconds that /usr/bin/time wrote
cpu() { awk '{ print $1 + $2 }' "$1"; }

run_memcaslap() {
    local out tps c
    out=$(/usr/bin/time -f '%U %S' -o "$work/t" taskset -c "$CLIENT_CPU" \
        "$MEMASLAP" -s "127.0.0.1:$port" -t "${DURATION}s" -T 1 \
        -c "$CONNS" -F "$work/ms.cfg" "${mbin[@]}" 2>&1)
    tps=$(sed -n 's/.*TPS: \([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)
    c=$(cpu "$work/t")
    echo "memcaslap $rep ${tps:-0} $c"
}

run_bench() {
    local d=$1 out ops c
    out=$(/usr/bin/time -f '%U %S' -o "$work/t" taskset -c "$CLIENT_CPU" \
        "$BENCH" bench -h 127.0.0.1 -p "$port" -c "$CONNS" -d "$d" \
        --duration "$DURATION" --warmup 0 --keys "$KEYS" -kl "$KEY_LEN" \
        -v "$VALUE_SIZE" --ratio 0.9 "${rbin[@]}" -q 2>&1)
    ops=$(sed -n 's/^RESULT ops_s=\([0-9]*\).*/\1/p' <<<"$out")
    c=$(cpu "$work/t")
    grep -q '^VERDICT ok' <<<"$out" || echo "rend-bench: not all verified" >&2
    echo "rend-bench-d$d $rep ${ops:-0} $c"
}

: >"$work/runs"
for rep in $(seq "$REPEAT"); do
    if [ $((rep % 2)) -eq 1 ]; then
        run_memcaslap; run_bench 1; run_bench "$DEPTH"
    else
        run_bench "$DEPTH"; run_bench 1; run_memcaslap
    fi
done | tee -a "$work/runs" | awk -v d="$DURATION" '{
    printf "%-16s rep %s: %9d ops/s  client cpu %5.2f s (%3.0f%% of a core)  %9.0f ops per cpu-second\n",
        $1, $2, $3, $4, $4 / d * 100, ($4 > 0 ? $3 * d / $4 : 0) }'

median() {
    awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$work/runs" | sort -g |
        awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'
}
ms=$(median memcaslap 3)
echo
echo "Machine: $(nproc) cpus; $SERVER -t 1 on cpu $SERVER_CPU; clients on cpu $CLIENT_CPU; $CONNS connections, $PROTOCOL, ${VALUE_SIZE}-byte values, ${KEY_LEN}-byte keys, 90% gets, ${DURATION}s x $REPEAT (medians)"
for t in memcaslap rend-bench-d1 "rend-bench-d$DEPTH"; do
    ops=$(median "$t" 3)
    c=$(awk -v t="$t" -v d="$DURATION" '$1 == t && $4 > 0 { print $3 * d / $4 }' "$work/runs" |
        sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }')
    awk -v t="$t" -v o="$ops" -v m="$ms" -v c="$c" 'BEGIN {
        printf "| %s | %d ops/s | %.2fx | %.0f ops per client cpu-second |\n", t, o, (m > 0 ? o / m : 0), c }'
done
exit 0
