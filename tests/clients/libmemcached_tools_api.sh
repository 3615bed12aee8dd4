#!/bin/sh
# libmemcached_tools_api.sh HOST:PORT - libmemcached's command-line tools
# (Debian libmemcached-tools), text and binary protocol; one
# "check<TAB>result" line per check (see harness.sh).  --check: are the
# tools installed?
if [ "$1" = "--check" ]; then
    for t in memccp memccat memcrm memcflush memcstat memcping memcdump \
        memcexist memctouch memcslap; do
        command -v $t >/dev/null || { echo "no $t"; exit 1; }
    done
    echo "libmemcached-tools"
    exit 0
fi
S="--servers=$1"
d=$(mktemp -d /tmp/rend-memc-tools-XXXXXX) || exit 1
trap 'rm -rf "$d"' EXIT

# check NAME CMD...: the exit status and output (first 3 lines, with the
# server's address replaced)
check() {
    name=$1
    shift
    out=$(timeout 30 "$@" 2>&1 | sed "s/$1/SERVER/g; s/127\.0\.0\.1:[0-9]*/SERVER/g" | head -n 3 | tr '\n' '|')
    rc=$(timeout 30 "$@" >/dev/null 2>&1; echo $?)
    printf '%s\trc=%s %s\n' "$name" "$rc" "$out"
}
# check_rc NAME CMD...: the exit status only
check_rc() {
    name=$1
    shift
    timeout 30 "$@" >/dev/null 2>&1
    printf '%s\trc=%s\n' "$name" "$?"
}

printf 'hello world\n' >"$d/small"
head -c 500000 /dev/urandom >"$d/big"
for proto in text binary; do
    B=
    [ $proto = binary ] && B=--binary
    check_rc "$proto:flush" memcflush $B "$S"
    (cd "$d" && check_rc "$proto:cp" memccp $B "$S" small big)
    (cd "$d" && check_rc "$proto:cp_flags" memccp $B --flags=5 "$S" --add small)
    check "$proto:cat" memccat $B "$S" small
    check_rc "$proto:cat_big" sh -c "memccat $B '$S' big | head -c 500000 | cmp -s - '$d/big'"
    check "$proto:cat_flags" memccat $B --flag "$S" small
    check_rc "$proto:cat_miss" memccat $B "$S" nope
    check_rc "$proto:exist" memcexist $B "$S" small
    check_rc "$proto:exist_miss" memcexist $B "$S" nope
    check_rc "$proto:touch" memctouch $B --expire=100 "$S" small
    check_rc "$proto:touch_miss" memctouch $B --expire=100 "$S" nope
    check_rc "$proto:rm" memcrm $B "$S" small
    check_rc "$proto:rm_miss" memcrm $B "$S" small
    check_rc "$proto:cat_after_rm" memccat $B "$S" small
    check_rc "$proto:ping" memcping $B "$S"
    check "$proto:server_version" sh -c "memcstat $B --server-version '$S' 2>&1 | sed 's/ [1-9][0-9]*\.[0-9]*\.[0-9]*$/ VERSION/'"
    check_rc "$proto:stat" memcstat $B "$S"
    check "$proto:stat_fields" sh -c "memcstat $B '$S' | grep -c -E '^	(pid|uptime|version|curr_items|total_items|bytes|limit_maxbytes|evictions|threads|get_hits|cmd_get):'"
    check_rc "$proto:stat_settings" memcstat $B --args=settings "$S"
    check_rc "$proto:stat_items" memcstat $B --args=items "$S"
    check_rc "$proto:stat_slabs" memcstat $B --args=slabs "$S"
    check_rc "$proto:stat_reset" memcstat $B --args=reset "$S"
    check_rc "$proto:slap" memcslap $B --concurrency=2 --execute-number=200 "$S"
    check_rc "$proto:flush_end" memcflush $B "$S"
done
# memcdump lists keys through text `stats cachedump` (which keys memcached
# lists depends on its LRU state: only the exit status is compared)
(cd "$d" && memccp "$S" small big >/dev/null 2>&1)
check_rc "dump" memcdump "$S"
