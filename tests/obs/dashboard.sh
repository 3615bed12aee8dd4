#!/bin/bash
# dashboard.sh - contrib/grafana/rend.json against the real binary:
#   * it is valid JSON, every panel has a unique id and every target an
#     expr;
#   * every metric a panel's expr names (rend_* and process_*, histogram
#     samples as _bucket/_sum/_count) is a sample of a real /metrics scrape
#     of rend on the configs the dashboard covers: conf/rend.lua (inmem +
#     lmdb), conf/rocksdb.lua, an lmdb L2 with sync = periodic, and
#     conf/memcached-pool.lua in front of a real memcached (backend
#     series), each after some traffic.
# A renamed metric, or a panel written against one that does not exist,
# fails here instead of showing "No data" on an operator's screen.
. "${REND_SRCDIR:-..}/tests/obs/obs_lib.sh"
PY=$(command -v python3) || { echo "no python3: skipped"; exit 77; }
[ -n "$MEMCACHED" ] || { echo "no memcached: skipped"; exit 77; }
DASH=$SRCDIR/contrib/grafana/rend.json

# the dashboard's own shape, and the metric names its exprs use
if ! "$PY" - "$DASH" >"$dir/names" 2>"$dir/py.err" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
ids, names = set(), set()
def walk(panels):
    for p in panels:
        if p.get("id") in ids:
            sys.exit("duplicate panel id %r" % p.get("id"))
        ids.add(p.get("id"))
        for t in p.get("targets", []):
            e = t.get("expr")
            if not e:
                sys.exit("panel %r: a target without expr" % p.get("title"))
            names.update(re.findall(r"\b((?:rend|process)_[a-z0-9_]+)", e))
        walk(p.get("panels", []))
walk(d["panels"])
for q in d.get("templating", {}).get("list", []):
    names.update(re.findall(r"\b((?:rend|process)_[a-z0-9_]+)", q.get("query", "")))
print("\n".join(sorted(names)))
PY
then
    bad "contrib/grafana/rend.json: $(cat "$dir/py.err")"
    exit 1
fi
ok "rend.json is valid JSON, unique panel ids, $(wc -l <"$dir/names") metric names"

# scrape WHAT CONFIG [env...]: /metrics after traffic, samples' names
# appended to $dir/samples
scrape() {
    local what=$1 conf=$2
    shift 2
    with_admin "$conf" "$dir/$what.lua"
    rm -rf "$dir/data"
    start "$dir/$what.lua" "$@" || { bad "start $what"; cat "$dir/stderr"; return; }
    mc 'set a 0 0 1\r\nx\r\nget a\r\nget b\r\ndelete a\r\nincr n 1\r\n'
    sleep 0.5 # group commits, periodic syncs
    if [ "$(http GET /metrics)" = 200 ]; then
        grep -v '^#' "$dir/body" | sed 's/[{ ].*//' >>"$dir/samples"
        ok "$what: scraped"
    else
        bad "$what: GET /metrics"
    fi
    stop
}

: >"$dir/samples"
scrape rend "$SRCDIR/conf/rend.lua"
scrape rocksdb "$SRCDIR/conf/rocksdb.lua"
cat >"$dir/periodic.lua" <<LUA
local l1 = handler "inmem" { name = "l1", memory_mb = 16 }
local l2 = handler "lmdb" { name = "l2", path = "$dir/data/lmdb",
                            map_size_mb = 64, sync = "periodic",
                            sync_interval_ms = 100 }
listen { address = "127.0.0.1", port = 0, routes = { default = l1l2(l1, l2) } }
LUA
scrape lmdb-periodic "$dir/periodic.lua"
start_memcached "$dir/mc.sock"
scrape pool "$SRCDIR/conf/memcached-pool.lua" REND_POOL="$dir/mc.sock"

sort -u "$dir/samples" -o "$dir/samples"
while read -r m; do
    if grep -qx "$m" "$dir/samples"; then
        ok "dashboard metric $m is scraped"
    else
        bad "dashboard metric $m is in no scrape of the shipped configs"
    fi
done <"$dir/names"
exit $fail
