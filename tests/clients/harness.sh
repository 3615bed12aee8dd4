# harness.sh - sourced by each tests/clients/<client>.sh.
#
# run_client NAME CMD... runs CMD HOST:PORT (a client's API exercise, which
# prints one "check<TAB>result" line per check) first against a real
# memcached, then against rend on every shipped topology, and requires the
# same lines.  A client or tool that is missing is a FAILURE, not a skip
# (except in a distribution's package build: REND_PACKAGE_BUILD=1).
#
# Topologies: inmem (conf/inmem.lua), default (no -c: inmem L1 + lmdb L2),
# rocksdb (conf/rocksdb.lua), l1sock (--l1-sock: memcached L1),
# l1sock-chunked (--l1-sock --chunked), production (conf/rend-production.lua:
# chunked memcached L1 + lmdb L2), chunked-large (conf/chunked-large.lua:
# chunked memcached L1 with slab_size 103496) and pool
# (conf/memcached-pool.lua: three memcached, two replicas).  CLIENT_TOPOLOGIES limits the list.
#
# Known gaps (none today) are listed in EXPECTED_FAILURES below, one line
# each with the issue that owns it: a listed check that differs is reported
# XFAIL; a listed check that now matches is reported XPASS and fails the
# test, so that removing its entry is all a fix needs.

# <topology|*> <client|*> <check>   <issue section>
EXPECTED_FAILURES='
'

REND_BIN=${REND_BIN:-../core/rend}
SRCDIR=${REND_SRCDIR:-..}
. "$SRCDIR/tests/lib/rend_server.sh"
MEMCACHED=${MEMCACHED:-$(command -v memcached)}
CLIENTS_DIR="$SRCDIR/tests/clients"
# Debian's client packages are for Debian's interpreters (a PATH python
# may be another one without them)
PYTHON=/usr/bin/python3
RUBY=/usr/bin/ruby
PERL=/usr/bin/perl
NODE=${NODE:-$(command -v node)}
# node modules: tests/clients/node_modules in the source tree, installed
# from package-lock.json by install-deps.sh (npm ci)
# ($REND_NODE_PATH: another tree's, e.g. the checkout's for make distcheck)
NODE_PATH="${REND_NODE_PATH:-$CLIENTS_DIR/node_modules}"
export NODE_PATH
TOPOLOGIES=${CLIENT_TOPOLOGIES:-"inmem default rocksdb l1sock l1sock-chunked production chunked-large pool"}

h_dir=
h_pids=
h_fail=0

h_cleanup() {
    for p in $h_pids; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    h_pids=
    [ -n "$h_dir" ] && rm -rf "$h_dir"
}
trap h_cleanup EXIT INT TERM

h_free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

h_wait_port() {
    i=0
    until "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 300 ] && return 1
        sleep 0.02
    done
}

# a memcached on a unix socket $1 (an L1 or pool member)
h_memcached_sock() {
    "$MEMCACHED" -u root -s "$1" -m 64 -t 1 &
    h_pids="$h_pids $!"
    rs_wait_file "$1" $! || { echo "memcached on $1 did not start"; return 1; }
}

# start rend: h_rend ARGS...; sets h_port
h_rend() {
    rs_spawn "$h_dir/port" "$h_dir/rend.stderr" env REND_MEMORY_MB=64 \
        REND_DATA="$h_dir/data" REND_MAP_MB=256 REND_BLOCK_CACHE_MB=16 \
        REND_PORT=0 REND_BATCH_PORT=0 REND_ADDRESS=127.0.0.1 \
        "$REND_BIN" -p 0 --port-file "$h_dir/port" "$@"
    rc=$?
    h_rpid=$rs_pid
    h_pids="$h_pids $h_rpid"
    [ $rc -eq 0 ] || return 1
    h_port=$rs_port
}

# start topology $1; sets h_port
h_start() {
    h_rpid=
    mkdir -p "$h_dir/data"
    case $1 in
    inmem) h_rend --config "$SRCDIR/conf/inmem.lua" ;;
    default) h_rend ;;
    rocksdb) h_rend --config "$SRCDIR/conf/rocksdb.lua" ;;
    l1sock)
        h_memcached_sock "$h_dir/l1.sock" && h_rend --l1-sock "$h_dir/l1.sock" ;;
    l1sock-chunked)
        h_memcached_sock "$h_dir/l1.sock" \
            && h_rend --l1-sock "$h_dir/l1.sock" --chunked ;;
    production)
        h_memcached_sock "$h_dir/l1.sock" || return 1
        REND_ADMIN_PORT=0 REND_L1_SOCK="$h_dir/l1.sock" h_rend --config "$SRCDIR/conf/rend-production.lua" ;;
    chunked-large)
        h_memcached_sock "$h_dir/l1.sock" || return 1
        REND_L1_SOCK="$h_dir/l1.sock" h_rend --config "$SRCDIR/conf/chunked-large.lua" ;;
    pool)
        for k in 1 2 3; do
            h_memcached_sock "$h_dir/pool$k.sock" || return 1
        done
        REND_POOL="$h_dir/pool1.sock,$h_dir/pool2.sock,$h_dir/pool3.sock" \
            h_rend --config "$SRCDIR/conf/memcached-pool.lua" ;;
    memcached)
        h_port=$(h_free_port)
        "$MEMCACHED" -u root -l 127.0.0.1 -p "$h_port" -U 0 -m 64 -t 1 &
        h_pids="$h_pids $!"
        h_wait_port "$h_port" || { echo "memcached did not start"; return 1; } ;;
    *) echo "unknown topology $1"; return 1 ;;
    esac
}

h_stop() {
    h_cleanup_pids=$h_pids
    h_pids=
    rc=0
    for p in $h_cleanup_pids; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
        s=$?
        [ "$p" = "$h_rpid" ] && rc=$s
    done
    rm -rf "$h_dir/data" "$h_dir"/*.sock
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 143 ]; then
        echo "FAIL rend exit status $rc on $1:"; cat "$h_dir/rend.stderr"
        h_fail=1
    fi
}

# is "$1 $2 $3" (topology client check) an expected failure?  prints reason
h_expected() {
    echo "$EXPECTED_FAILURES" | while read -r t c k why; do
        [ -z "$t" ] && continue
        if { [ "$t" = "*" ] || [ "$t" = "$1" ]; } \
            && { [ "$c" = "*" ] || [ "$c" = "$2" ]; } && [ "$k" = "$3" ]; then
            echo "$why"
            break
        fi
    done
}

# compare $h_dir/ref.out with $h_dir/$1.out (topology $1, client $2)
h_compare() {
    while IFS="$(printf '\t')" read -r check want; do
        got=$(awk -F '\t' -v k="$check" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$h_dir/$1.out")
        grep -q "^$check	" "$h_dir/$1.out" || got="<no result: the client stopped>"
        why=$(h_expected "$1" "$2" "$check")
        if [ "$got" = "$want" ]; then
            if [ -n "$why" ]; then
                echo "XPASS $2 $check on $1 (remove it from EXPECTED_FAILURES: $why)"
                h_fail=1
            fi
        elif [ -n "$why" ]; then
            echo "XFAIL $2 $check on $1 ($why): memcached '$want', rend '$got'"
        else
            echo "FAIL $2 $check on $1: memcached '$want', rend '$got'"
            h_fail=1
        fi
    done <"$h_dir/ref.out"
}

# run_client NAME CMD...
run_client() {
    name=$1
    shift
    h_dir=$(mktemp -d "/tmp/rend-client-$name-XXXXXX") || exit 1
    if [ -z "$MEMCACHED" ] || [ ! -x "$MEMCACHED" ]; then
        echo "FAIL: no memcached binary (install-deps.sh installs it)"; exit 1
    fi
    if ! "$@" --check >"$h_dir/check.out" 2>&1; then
        cat "$h_dir/check.out"
        if [ -n "${REND_PACKAGE_BUILD:-}" ]; then
            # a distribution build (debian/rules) has no network for npm
            # and need not install every client: skipped there only
            echo "SKIP: client $name is missing (package build)"
            rm -rf "$h_dir"
            exit 77
        fi
        echo "FAIL: client $name is missing (install-deps.sh installs it)"
        exit 1
    fi
    h_start memcached || exit 1
    if ! timeout 120 "$@" "127.0.0.1:$h_port" >"$h_dir/ref.out" 2>"$h_dir/ref.err"; then
        echo "FAIL: $name against memcached:"; cat "$h_dir/ref.out" "$h_dir/ref.err"
        exit 1
    fi
    h_stop memcached
    echo "$name: $(wc -l <"$h_dir/ref.out") checks against memcached"
    for topo in $TOPOLOGIES; do
        if ! h_start "$topo"; then
            h_fail=1
            h_stop "$topo"
            continue
        fi
        timeout 120 "$@" "127.0.0.1:$h_port" >"$h_dir/$topo.out" 2>"$h_dir/$topo.err"
        rc=$?
        before=$h_fail
        h_fail=0
        h_compare "$topo" "$name"
        if [ $rc -ne 0 ]; then
            echo "FAIL $name exited $rc on $topo:"; tail -5 "$h_dir/$topo.err"
            h_fail=1
        fi
        h_stop "$topo"
        [ "$h_fail" = 0 ] && echo "PASS $name on $topo"
        [ "$before" = 1 ] && h_fail=1
    done
    exit $h_fail
}
