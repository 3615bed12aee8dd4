# obs_lib.sh - helpers for the observability tests (sourced): start rend
# with an admin listener, talk memcached text and HTTP from the shell.
REND_BIN=${REND_BIN:-../core/rend}
SRCDIR=${REND_SRCDIR:-..}
. "$SRCDIR/tests/lib/rend_server.sh"
PROMTOOL=${PROMTOOL:-$(command -v promtool)}
CURL=${CURL:-$(command -v curl)}
MEMCACHED=${MEMCACHED:-$(command -v memcached)}
[ -n "$CURL" ] || { echo "no curl: skipped"; exit 77; }
dir=$(mktemp -d /tmp/rend-obs-XXXXXX) || exit 1
pid=
mcpid=
extra_cleanup=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$mcpid" ] && kill "$mcpid" 2>/dev/null && wait "$mcpid" 2>/dev/null
    [ -n "$extra_cleanup" ] && eval "$extra_cleanup"
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

fail=0
ok() { echo "PASS $*"; }
bad() { echo "FAIL $*"; fail=1; }

# start CONFIG [env assignments...]: sets pid, port (first listener) and
# aport (the admin listener: the "admin N" line of the port file)
start() {
    conf=$1
    shift
    rs_spawn "$dir/port" "$dir/stderr" env REND_MEMORY_MB=64 REND_MAP_MB=64 \
        REND_DATA="$dir/data" REND_PORT=0 REND_BATCH_PORT=0 \
        REND_ADDRESS=127.0.0.1 REND_ADMIN_PORT=0 "$@" \
        "$REND_BIN" --config "$conf" --port-file "$dir/port"
    rc=$?
    pid=$rs_pid
    if [ $rc -ne 0 ]; then
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        pid=
        return 1
    fi
    port=$rs_port
    aport=$(awk '$1 == "admin" { print $2 }' "$dir/port")
    [ -n "$aport" ] || { echo "no admin line in the port file"; return 1; }
}

stop() {
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    pid=
    [ $rc -eq 0 ] || { bad "rend exit status $rc"; cat "$dir/stderr"; }
}

# mc TEXT: send memcached text commands (printf escapes), then quit, and
# wait for every reply; the replies are in $dir/mc.out
mc() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf "$1quit\r\n" >&3
    timeout 10 cat <&3 >"$dir/mc.out"
    exec 3<&-
}

# http METHOD PATH: body in $dir/body, status code on stdout
http() {
    "$CURL" -s -m 10 -X "$1" -o "$dir/body" -w '%{http_code}' \
        "http://127.0.0.1:$aport$2"
}

# with_admin CONFIG OUT: OUT is CONFIG plus an admin{} (unless it has one)
with_admin() {
    cp "$1" "$2"
    grep -q '^admin' "$1" \
        || printf '\nadmin { address = "127.0.0.1", port = 0 }\n' >>"$2"
}

# start_memcached SOCKET: a real memcached on a unix socket (sets mcpid)
start_memcached() {
    rm -f "$1"
    "$MEMCACHED" -u root -s "$1" -m 64 &
    mcpid=$!
    i=0
    while [ ! -S "$1" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
}
