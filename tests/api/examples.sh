#!/bin/bash
# examples.sh - start each examples/ program (built on librend) and check
# it: memccapable (text and binary) on the debug server and on the
# memcached + LMDB L1/L2 server (with an item surviving a restart of the
# server and of its memcached, from LMDB), and hits, a miss and a refused
# write on the server with a linked-in handler.  memccapable and memcached
# parts are skipped (said so) when the tools are missing.
EX=${REND_BUILDDIR:-..}/examples
MEMCCAPABLE=${MEMCCAPABLE:-$(command -v memccapable)}
MEMCACHED=${MEMCACHED:-$(command -v memcached)}
dir=$(mktemp -d /tmp/rend-examples-XXXXXX) || exit 1
pid=
mcpid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$mcpid" ] && kill "$mcpid" 2>/dev/null && wait "$mcpid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fail=0

# start NAME ARGS...: run examples/NAME, wait for its "port N" line
start() {
    name=$1
    shift
    # empty the output first: the background job's own redirection may come
    # after the wait below has read a previous run's "port" line
    : >"$dir/$name.out"
    "$EX/$name" "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
    pid=$!
    i=0
    while ! grep -q '^port [0-9]' "$dir/$name.out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 500 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "FAIL $name did not start:"; cat "$dir/$name.err"; exit 1
        fi
        sleep 0.01
    done
    port=$(sed -n 's/^port //p' "$dir/$name.out")
}

# stop: SIGTERM, and the program must exit 0
stop() {
    kill "$pid"
    wait "$pid"
    rc=$?
    pid=
    if [ $rc -ne 0 ]; then
        echo "FAIL $name exit status $rc:"; cat "$dir/$name.err"; fail=1
    fi
}

# talk REQUEST: send it (then quit), print the whole reply
talk() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf '%b' "$1"'quit\r\n' >&3
    timeout 10 cat <&3
    exec 3<&-
}

expect() { # what want got
    if [ "$2" = "$3" ]; then
        echo "PASS $1"
    else
        echo "FAIL $1: wanted"; printf '%s' "$2" | od -c | head -20
        echo "got"; printf '%s' "$3" | od -c | head -20
        fail=1
    fi
}

capable() { # what
    if [ -z "$MEMCCAPABLE" ] || [ ! -x "$MEMCCAPABLE" ]; then
        echo "SKIP memccapable on $1: no memccapable"
        return
    fi
    for mode in -a -b; do
        if timeout 60 "$MEMCCAPABLE" -h 127.0.0.1 -p "$port" $mode \
            >"$dir/capable" 2>&1; then
            echo "PASS memccapable $mode on $1"
        else
            echo "FAIL memccapable $mode on $1:"
            grep -v '\[pass\]' "$dir/capable"
            fail=1
        fi
    done
}

# (1) the debug server
start debug_server 0
capable debug_server
expect "debug_server set/get" "$(printf 'STORED\r\nVALUE k 3 2\r\nhi\r\nEND\r\n')" \
    "$(talk 'set k 3 0 2\r\nhi\r\nget k\r\n')"
stop

# (3) the linked-in read-only table
start static_table 0
expect "static_table hits, miss, refused writes" \
    "$(printf 'VALUE alpha 0 16\r\nthe first letter\r\nEND\r\nEND\r\nSERVER_ERROR not supported\r\nSERVER_ERROR not supported\r\nVALUE alpha 0 16 1\r\nthe first letter\r\nVALUE gamma 0 16 3\r\nthe third letter\r\nEND\r\n')" \
    "$(talk 'get alpha\r\nget nothing\r\nset alpha 0 0 1\r\nx\r\ndelete alpha\r\ngets alpha zeta gamma\r\n')"
stop

# (2) memcached (L1) + LMDB (L2)
if [ -z "$MEMCACHED" ] || [ ! -x "$MEMCACHED" ]; then
    echo "SKIP l1l2_server: no memcached"
    exit $fail
fi
mcstart() {
    rm -f "$dir/mc.sock"
    "$MEMCACHED" -u root -s "$dir/mc.sock" -m 64 &
    mcpid=$!
    i=0
    while [ ! -S "$dir/mc.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
}
mcstop() { kill "$mcpid"; wait "$mcpid" 2>/dev/null; mcpid=; }
mkdir -p "$dir/l2"
mcstart
start l1l2_server "$dir/mc.sock" "$dir/l2" 0
capable l1l2_server
expect "l1l2_server set" "$(printf 'STORED\r\nSTORED\r\n')" \
    "$(talk 'set kept 7 0 4\r\nlmdb\r\nset bulk:a 0 0 1\r\nb\r\n')"
stop
mcstop
# a fresh memcached: the items come back from LMDB
mcstart
start l1l2_server "$dir/mc.sock" "$dir/l2" 0
expect "l1l2_server item from L2 after a restart" \
    "$(printf 'VALUE kept 7 4\r\nlmdb\r\nEND\r\nVALUE bulk:a 0 1\r\nb\r\nEND\r\n')" \
    "$(talk 'get kept\r\nget bulk:a\r\n')"
stop
mcstop
exit $fail
