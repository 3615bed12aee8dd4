#!/bin/bash
# handler_metrics.sh - the L2 handlers' own metrics on /metrics, against
# the real binary, on the default config (conf/rend.lua: lmdb L2), the
# rocksdb config (conf/rocksdb.lua) and an lmdb L2 with sync = periodic:
#   * `promtool check metrics` is clean before and after traffic;
#   * each handler metric is there and the ones traffic drives move
#     (commits, write/read txns, map use, memtable size, the group-commit
#     batch-size and commit/sync latency histograms);
#   * the handler histograms are well formed (cumulative buckets, +Inf ==
#     _count) and their latency buckets are the core's (the same le set as
#     rend_request_duration_seconds), and `stats handlers` shows the same
#     numbers.
. "${REND_SRCDIR:-..}/tests/obs/obs_lib.sh"
[ -n "$PROMTOOL" ] || { echo "no promtool (package prometheus): skipped"; exit 77; }
PLUGDIR=${REND_PLUGIN_DIR:-../plugins/.libs}

NSETS=200
big=$(head -c 2000 /dev/zero | tr '\0' v)
traffic=
for i in $(seq 1 $NSETS); do
    traffic="${traffic}set k$i 0 0 2000\r\n$big\r\n"
done
for i in $(seq 1 20); do
    traffic="${traffic}get nope$i\r\n"
done

# scrape FILE: /metrics into FILE, checked by promtool
scrape() {
    local code
    code=$(http GET /metrics)
    cp "$dir/body" "$1"
    if [ "$code" != 200 ] || ! "$PROMTOOL" check metrics <"$1" \
        >"$dir/promtool.out" 2>&1 || [ -s "$dir/promtool.out" ]; then
        bad "$what: promtool check metrics (HTTP $code):"
        cat "$dir/promtool.out"
    fi
}

# val FILE SAMPLE: the value of the sample named exactly SAMPLE (with its
# labels), empty when absent
val() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }

# moved SAMPLE [MIN_DELTA]: the sample grew by at least MIN_DELTA (1)
moved() {
    local a b
    a=$(val "$dir/before" "$1")
    b=$(val "$dir/after" "$1")
    if [ -n "$a" ] && [ -n "$b" ] \
        && awk -v a="$a" -v b="$b" -v d="${2:-1}" 'BEGIN { exit !(b - a >= d) }'; then
        ok "$what: $1 moved $a -> $b"
    else
        bad "$what: $1 did not move by ${2:-1} ('$a' -> '$b')"
    fi
}

# present SAMPLE: the sample is in the scrape after traffic
present() {
    [ -n "$(val "$dir/after" "$1")" ] && ok "$what: $1 = $(val "$dir/after" "$1")" \
        || bad "$what: no $1"
}

# hist NAME: rend_handler_NAME{handler="l2"} is cumulative, +Inf ==
# _count, and (latency: second argument "core") its le set is the core's
hist() {
    local f=$dir/after m=rend_handler_$1
    if awk -v m="$m" '
        index($0, m "_bucket{handler=\"l2\",le=") == 1 {
            v = $2 + 0; if (v < last) bad = 1; last = v; n++
            if (index($0, "le=\"+Inf\"")) inf = v }
        index($0, m "_count{handler=\"l2\"}") == 1 { cnt = $2 + 0; c = 1 }
        END { exit !(n == 20 && c && inf == cnt && !bad) }' "$f"; then
        ok "$what: $m is a well formed histogram"
    else
        bad "$what: $m is not a well formed histogram:"
        grep "^$m" "$f"
    fi
    if [ "$2" = core ]; then
        grep "^${m}_bucket{handler=\"l2\"" "$f" | sed 's/.*le="\([^"]*\)".*/\1/' \
            >"$dir/le.handler"
        grep '^rend_request_duration_seconds_bucket{command="get"' "$f" \
            | sed 's/.*le="\([^"]*\)".*/\1/' >"$dir/le.core"
        cmp -s "$dir/le.handler" "$dir/le.core" \
            && ok "$what: $m has the core's buckets" \
            || bad "$what: $m buckets differ from the core's"
    fi
}

# stats_same NAME: `stats handlers` l2:NAME equals the metric SAMPLE
stats_same() {
    local s m
    mc 'stats handlers\r\n'
    s=$(awk -v k="l2:$1" '$1 == "STAT" && $2 == k { print $3 }' "$dir/mc.out" | tr -d '\r')
    http GET /metrics >/dev/null
    m=$(val "$dir/body" "$2")
    [ -n "$s" ] && [ "$s" = "$m" ] && ok "$what: stats l2:$1 = $2 = $s" \
        || bad "$what: stats l2:$1 '$s' != $2 '$m'"
}

run() {
    what=$1
    with_admin "$2" "$dir/$what.lua"
    rm -rf "$dir/data"
    start "$dir/$what.lua" || { bad "start $what"; return; }
    scrape "$dir/before"
    mc "$traffic"
    [ "$(grep -c '^STORED' "$dir/mc.out")" = $NSETS ] || bad "$what: sets failed"
    [ -z "$3" ] || sleep "$3"
    scrape "$dir/after"
    L='{handler="l2"}'
    moved "rend_handler_commits_total$L"
    moved "rend_handler_commit_duration_seconds_count$L"
    moved "rend_handler_write_batch_ops_sum$L" $NSETS
    moved "rend_handler_write_batch_ops_count$L"
    hist commit_duration_seconds core
    hist write_batch_ops
    # every tier op has its name (a back-fill is op="fill", never "?")
    if grep -q 'op="?"' "$dir/after"; then
        bad "$what: a tier op series without a name: $(grep -m1 'op="?"' "$dir/after")"
    else
        ok "$what: every tier op series is named"
    fi
    case $what in
    lmdb*)
        moved "rend_lmdb_write_txns_total$L"
        moved "rend_lmdb_read_txns_total$L" 20
        moved "rend_lmdb_map_used_bytes$L" $((NSETS * 2000))
        [ "$(val "$dir/after" "rend_lmdb_map_size_bytes$L")" = 67108864 ] \
            && ok "$what: map size is 64 MiB" || bad "$what: map size"
        hist sync_duration_seconds core
        ;;
    rocksdb)
        moved "rend_rocksdb_memtable_bytes$L" $((NSETS * 2000))
        for m in sst_bytes compaction_pending running_compactions \
            running_flushes write_stopped delayed_write_rate \
            write_stops_total write_slowdowns_total \
            write_stall_seconds_total pending_compaction_bytes; do
            present "rend_rocksdb_$m$L"
        done
        ;;
    esac
    [ "$what" = lmdb-periodic ] && moved "rend_handler_sync_duration_seconds_count$L"
    stats_same commit_duration_seconds_count "rend_handler_commit_duration_seconds_count$L"
    stats_same write_batch_ops_sum "rend_handler_write_batch_ops_sum$L"
    stop
}

run lmdb "$SRCDIR/conf/rend.lua"
if [ -e "$PLUGDIR/rend_rocksdb.so" ]; then
    run rocksdb "$SRCDIR/conf/rocksdb.lua"
else
    echo "SKIP rocksdb (no rocksdb plugin)"
fi
cat >"$dir/periodic.lua" <<LUA
local l1 = handler "inmem" { name = "l1", memory_mb = 16 }
local l2 = handler "lmdb" { name = "l2", path = "$dir/data/lmdb",
                            map_size_mb = 64, sync = "periodic",
                            sync_interval_ms = 20 }
listen { address = "127.0.0.1", port = 0, routes = { default = l1l2(l1, l2) } }
LUA
run lmdb-periodic "$dir/periodic.lua" 0.3
exit $fail
