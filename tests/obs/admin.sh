#!/bin/bash
# admin.sh - the admin listener against the real binary:
#   * `promtool check metrics` is clean on /metrics of every shipped config
#     (conf/*.lua; an admin{} is added to those that declare none);
#   * /healthz, /readyz, /config, 404 and 405;
#   * /readyz answers 503 when the only memcached backend is killed and
#     200 once it is back;
#   * POST /reload answers what changed, and 422 with file:line for a
#     refused config (the running config is kept).
. "${REND_SRCDIR:-..}/tests/obs/obs_lib.sh"
[ -n "$PROMTOOL" ] || { echo "no promtool (package prometheus): skipped"; exit 77; }
PLUGDIR=${REND_PLUGIN_DIR:-../plugins/.libs}

traffic='set a 0 0 1\r\nx\r\nget a\r\nget nope\r\ndelete a\r\nincr a 1\r\n'

# -- promtool on every shipped config --------------------------------
have_mc=0
if [ -n "$MEMCACHED" ] && [ -x "$MEMCACHED" ]; then
    start_memcached "$dir/mc.sock"
    have_mc=1
fi
for conf in "$SRCDIR"/conf/*.lua; do
    name=$(basename "$conf")
    case $name in
    rocksdb.lua)
        [ -e "$PLUGDIR/rend_rocksdb.so" ] || { echo "SKIP $name (no rocksdb plugin)"; continue; } ;;
    memcached-pool.lua|rend-production.lua|chunked-large.lua)
        [ $have_mc = 1 ] || { echo "SKIP $name (no memcached)"; continue; } ;;
    esac
    with_admin "$conf" "$dir/$name"
    rm -rf "$dir/data"
    start "$dir/$name" REND_POOL="$dir/mc.sock" REND_L1_SOCK="$dir/mc.sock" \
        || { bad "start $name"; continue; }
    mc "$traffic"
    code=$(http GET /metrics)
    if [ "$code" = 200 ] && "$PROMTOOL" check metrics <"$dir/body" \
        >"$dir/promtool.out" 2>&1 && [ ! -s "$dir/promtool.out" ]; then
        ok "promtool check metrics on $name"
    else
        bad "promtool check metrics on $name (HTTP $code):"
        cat "$dir/promtool.out"
    fi
    grep -q '^rend_command_outcomes_total{command="get",outcome="hit"} 1$' \
        "$dir/body" && grep -q '^rend_request_duration_seconds_count{command="get"} 2$' \
        "$dir/body" && grep -q '^rend_listener_connections_total{listener="0"} 1$' \
        "$dir/body" || bad "$name: the counters did not count the traffic"
    stop
done

# The port file appears when the listeners are open; the workers may still
# be starting their handler instances, and /readyz says so (503) until they
# are: wait up to 5 s for it to turn 200.
wait_ready() {
    local i=0
    while [ "$(http GET /readyz)" != 200 ] && [ $i -lt 100 ]; do
        sleep 0.05
        i=$((i + 1))
    done
}

# -- the endpoints ---------------------------------------------------
cat >"$dir/a.lua" <<'LUA'
local l1 = handler "inmem" { name = "l1", memory_mb = 16 }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) } }
admin { address = "127.0.0.1", port = 0 }
LUA
start "$dir/a.lua" || exit 1
[ "$(http GET /healthz)" = 200 ] && grep -qx ok "$dir/body" && ok "/healthz" || bad "/healthz"
wait_ready
[ "$(http GET /readyz)" = 200 ] && ok "/readyz 200" || bad "/readyz: $(cat "$dir/body")"
[ "$(http GET /nowhere)" = 404 ] && ok "404" || bad "404"
[ "$(http GET /reload)" = 405 ] && ok "GET /reload is 405" || bad "GET /reload"
[ "$(http POST /metrics)" = 405 ] && ok "POST /metrics is 405" || bad "POST /metrics"
# a binary batch of GetKQ/GetQ ended by a GetK (all misses): rend folds
# it into one request (rend_bin_gets_folded_total), yet each packet still
# counts as one get in the request histogram, and only the GetK answers
# (opaque 6, key echoed), then the quit
http GET /metrics >/dev/null
g0=$(awk '$1 == "rend_request_duration_seconds_count{command=\"get\"}" { print $2 }' "$dir/body")
pk() { # opcode opaque key(2 bytes)
    printf "\\x80\\x$1\\x00\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x00\\x00\\x$2\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00%s" "$3"
}
# one write (printf writes each packet on its own; rend could read the
# first alone and leave it unfolded)
{ pk 0d 01 fa; pk 09 02 fb; pk 0d 03 fc; pk 09 04 fd; pk 0d 05 fe; pk 0c 06 ff
  printf '\x80\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00'; } >"$dir/batch.bin"
exec 5<>"/dev/tcp/127.0.0.1/$port"
cat "$dir/batch.bin" >&5
timeout 10 cat <&5 >"$dir/bin.out"
exec 5<&-
want='81 0c 00 02 00 00 00 01 00 00 00 02 00 00 00 06 00 00 00 00 00 00 00 00 66 66 81 07'
got=$(od -An -tx1 -N28 "$dir/bin.out" | tr -s ' \n' ' ' | sed 's/^ //;s/ $//')
[ "$got" = "$want" ] && [ "$(stat -c %s "$dir/bin.out")" = 50 ] \
    && ok "binary batch: only the GetK's miss and the quit answer" \
    || bad "binary batch replies: $got"
http GET /metrics >/dev/null
g1=$(awk '$1 == "rend_request_duration_seconds_count{command=\"get\"}" { print $2 }' "$dir/body")
grep -q '^rend_bin_gets_folded_total 6$' "$dir/body" \
    && [ $(( ${g1:-0} - ${g0:-0} )) = 6 ] \
    && ok "binary batch: folded (6 packets), 6 gets in the histogram" \
    || bad "binary batch: get count ${g0:-0} -> ${g1:-0}, $(grep '^rend_bin_gets_folded' "$dir/body")"
if [ "$(http GET /config)" = 200 ] && grep -q '"l1only(l1)"' "$dir/body" \
    && grep -q '"memory_mb": "16"' "$dir/body"; then
    ok "/config"
else
    bad "/config:"; cat "$dir/body"
fi
# the listener's real port (it was declared as port 0) and its open
# connections: one held open, then none once it is closed
grep -q "\"bound_port\": $port" "$dir/body" && ok "/config shows the bound port" \
    || bad "/config has no bound_port $port"
exec 4<>"/dev/tcp/127.0.0.1/$port"
printf 'version\r\n' >&4 && read -r -t 5 _ <&4
http GET /metrics >/dev/null
grep -q '^rend_listener_connections{listener="0"} 1$' "$dir/body" \
    && grep -q "^rend_listener_info{listener=\"0\",address=\"127.0.0.1:$port\"} 1$" "$dir/body" \
    && ok "open connections and address by listener" \
    || bad "rend_listener_connections/_info: $(grep '^rend_listener' "$dir/body")"
exec 4>&-
for _ in 1 2 3 4 5 6 7 8 9 10; do
    http GET /metrics >/dev/null
    grep -q '^rend_listener_connections{listener="0"} 0$' "$dir/body" && break
    sleep 0.2
done
grep -q '^rend_listener_connections{listener="0"} 0$' "$dir/body" \
    && ok "a closed connection leaves the gauge" \
    || bad "after close: $(grep '^rend_listener_connections{' "$dir/body")"

# -- reload ----------------------------------------------------------
cat >"$dir/a.lua" <<'LUA'
local l1 = handler "inmem" { name = "l1", memory_mb = 16 }
local l2 = handler "inmem" { name = "extra", memory_mb = 8 }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1), get = l1only(l2) } }
admin { address = "127.0.0.1", port = 0 }
LUA
code=$(http POST /reload)
if [ "$code" = 200 ] && grep -q '^handlers kept: l1$' "$dir/body" \
    && grep -q '^handlers added: extra$' "$dir/body" \
    && grep -q 'generation 1 -> 2' "$dir/body"; then
    ok "POST /reload says what changed"
else
    bad "POST /reload (HTTP $code):"; cat "$dir/body"
fi
http GET /config >/dev/null
grep -q '"get": "l1only(extra)"' "$dir/body" && ok "/config shows the new routes" \
    || bad "/config after reload:"
printf 'local l1 = handler "inmem" { name = "l1" }\n\nlisten { port = "x" }\n' >"$dir/a.lua"
code=$(http POST /reload)
if [ "$code" = 422 ] && grep -q "a.lua:3:" "$dir/body"; then
    ok "a refused reload is 422 with file:line: $(cat "$dir/body")"
else
    bad "refused reload (HTTP $code):"; cat "$dir/body"
fi
http GET /metrics >/dev/null
grep -q '^rend_config_reload_failures_total 1$' "$dir/body" \
    && grep -q '^rend_config_reloads_total 1$' "$dir/body" \
    && grep -q '^rend_config_generation 2$' "$dir/body" \
    && ok "reload counters" || bad "reload counters"
mc 'get a\r\n'
grep -q '^END' "$dir/mc.out" && ok "still serving after a refused reload" \
    || bad "not serving after a refused reload"
stop

# -- readiness follows the memcached backend -------------------------
if [ $have_mc = 1 ]; then
    cat >"$dir/mc.lua" <<LUA
local mc = handler "memcached" { name = "mc", servers = "$dir/mc.sock",
                                 fail_limit = 1, retry_ms = 50 }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(mc) } }
admin { address = "127.0.0.1", port = 0 }
settings { threads = 2 }
LUA
    start "$dir/mc.lua" || exit 1
    mc 'set k 0 0 1\r\nv\r\nget k\r\n'
    wait_ready
    [ "$(http GET /readyz)" = 200 ] && ok "/readyz 200 with memcached up" \
        || bad "/readyz with memcached up: $(cat "$dir/body")"
    kill "$mcpid"; wait "$mcpid" 2>/dev/null; mcpid=
    i=0
    while [ "$(http GET /readyz)" != 503 ] && [ $i -lt 200 ]; do
        mc 'get k\r\nget k\r\nget k\r\nget k\r\n' # failures mark it down
        i=$((i + 1))
    done
    if [ "$(http GET /readyz)" = 503 ] && grep -q "memcached server down" "$dir/body"; then
        ok "/readyz 503 with the only backend killed: $(cat "$dir/body")"
    else
        bad "/readyz with the backend killed: $(cat "$dir/body")"
    fi
    http GET /metrics >/dev/null
    grep -q '^rend_backend_up{handler="mc",server=".*mc.sock"} 0$' "$dir/body" \
        && ok "rend_backend_up 0" || bad "rend_backend_up is not 0"
    start_memcached "$dir/mc.sock"
    i=0
    while [ "$(http GET /readyz)" != 200 ] && [ $i -lt 500 ]; do
        sleep 0.02
        i=$((i + 1))
    done
    [ "$(http GET /readyz)" = 200 ] && ok "/readyz 200 once the backend is back" \
        || bad "/readyz after the backend came back: $(cat "$dir/body")"
    stop
else
    echo "SKIP readiness (no memcached)"
fi
exit $fail
