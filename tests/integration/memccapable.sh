#!/bin/sh
# memccapable.sh - libmemcached's memccapable (ASCII -a and binary -b)
# against rend on the embedded default config, on conf/inmem.lua, and in
# front of a real memcached through the memcached plugin, plain and chunked.
# On each config, libmemcached's memcping and `memcstat --server-version`
# (text and binary) must parse rend's VERSION (libmemcached wants a
# major.minor.patch with a non-zero major).
# Exit 77 (skip) when memccapable is not installed.
MEMCCAPABLE=${MEMCCAPABLE:-$(command -v memccapable)}
[ -n "$MEMCCAPABLE" ] && [ -x "$MEMCCAPABLE" ] || { echo "no memccapable: skipped"; exit 77; }
REND_BIN=${REND_BIN:-../core/rend}
SRCDIR=${REND_SRCDIR:-..}
dir=$(mktemp -d /tmp/rend-memccapable-XXXXXX) || exit 1
pid=
mcpid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$mcpid" ] && kill "$mcpid" 2>/dev/null && wait "$mcpid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# start rend with "$@" and the port file; sets pid and port
start() {
    rm -f "$dir/port"
    REND_MEMORY_MB=64 REND_DATA="$dir/data" "$REND_BIN" -p 0 \
        --port-file "$dir/port" "$@" \
        2>"$dir/stderr" &
    pid=$!
    i=0
    while [ ! -s "$dir/port" ]; do
        i=$((i + 1))
        if [ $i -gt 500 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "rend did not start:"; cat "$dir/stderr"; exit 1
        fi
        sleep 0.01
    done
    port=$(head -n 1 "$dir/port")
}

stop() {
    kill "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    pid=
    [ $rc -eq 0 ] || { echo "rend exit status $rc"; cat "$dir/stderr"; exit 1; }
}

MEMCACHED=${MEMCACHED:-$(command -v memcached)}
confs="default inmem"
if [ -n "$MEMCACHED" ] && [ -x "$MEMCACHED" ]; then
    "$MEMCACHED" -u root -s "$dir/mc.sock" -m 64 &
    mcpid=$!
    for chunked in false true; do
        printf 'local mc = handler "memcached" { name = "l1", servers = "%s", chunked = %s }\nlisten { address = "127.0.0.1", port = 0, routes = { default = l1only(mc) } }\n' \
            "$dir/mc.sock" "$chunked" >"$dir/mc-$chunked.lua"
    done
    confs="$confs memcached memcached-chunked"
    i=0
    while [ ! -S "$dir/mc.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
else
    echo "no memcached: the memcached-plugin configs are skipped"
fi

fail=0
for conf in $confs; do
    case $conf in
    default) start ;;
    inmem) start --config "$SRCDIR/conf/inmem.lua" ;;
    memcached) start --config "$dir/mc-false.lua" ;;
    memcached-chunked) start --config "$dir/mc-true.lua" ;;
    esac
    for mode in -a -b; do
        if timeout 60 "$MEMCCAPABLE" -h 127.0.0.1 -p "$port" $mode \
            >"$dir/out" 2>&1; then
            echo "PASS memccapable $mode on $conf config"
        else
            echo "FAIL memccapable $mode on $conf config:"
            grep -v '\[pass\]' "$dir/out"
            fail=1
        fi
    done
    for bin in "" --binary; do
        if [ -z "$bin" ] && ! timeout 20 memcping \
            --servers="127.0.0.1:$port" >"$dir/out" 2>&1; then
            echo "FAIL memcping on $conf config:"; cat "$dir/out"; fail=1
        fi
        if timeout 20 memcstat $bin --server-version \
            --servers="127.0.0.1:$port" >"$dir/out" 2>&1 \
            && grep -q "^127.0.0.1:$port [1-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\$" \
                "$dir/out"; then
            echo "PASS memcstat $bin --server-version on $conf config"
        else
            echo "FAIL memcstat $bin --server-version on $conf config:"
            cat "$dir/out"; fail=1
        fi
    done
    stop
done
exit $fail
