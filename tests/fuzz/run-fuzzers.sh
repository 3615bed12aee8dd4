#!/bin/sh
# run-fuzzers.sh - run the libFuzzer targets of an --enable-fuzz build.
#
#   tests/fuzz/run-fuzzers.sh [-t SECONDS] [-j JOBS] [-b BUILDDIR] [-w WORKDIR] [TARGET...]
#
# Each target (default: text binary meta config) runs for SECONDS (default
# 60) on JOBS processes (default 1), starting from the seed corpus
# tests/fuzz/corpus/TARGET with the dictionary tests/fuzz/dict/TARGET.dict.
# New inputs go to WORKDIR/TARGET (default: a fresh temp dir, removed at
# the end unless something was found), never into the source tree; a crash,
# leak, timeout or out-of-memory input is written as WORKDIR/TARGET-crash-*
# (-artifact_prefix) and makes the script exit 1.  CI runs it with -t 60;
# a long campaign is the same with a bigger -t and -j and a kept -w (see
# tests/fuzz/README.md).
set -u
here=$(cd "$(dirname "$0")" && pwd)
secs=60
jobs=1
build=$(cd "$here/../.." && pwd)
work=""
while getopts t:j:b:w: opt; do
    case $opt in
    t) secs=$OPTARG ;;
    j) jobs=$OPTARG ;;
    b) build=$(cd "$OPTARG" && pwd) ;;
    w) work=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
targets=${*:-text binary meta config}
keep=1
if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/rend-fuzz-XXXXXX)
    keep=0
fi
mkdir -p "$work"
: "${REND_PLUGIN_DIR:=$build/plugins/.libs}"
export REND_PLUGIN_DIR
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:quarantine_size_mb=16}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

failed=""
for t in $targets; do
    bin=$build/tests/fuzz/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "run-fuzzers: $bin missing (configure --enable-fuzz and make)" >&2
        exit 2
    fi
    mkdir -p "$work/$t"
    dict=""
    [ -f "$here/dict/$t.dict" ] && dict="-dict=$here/dict/$t.dict"
    echo "== fuzz_$t: $secs s, $jobs job(s), corpus $work/$t"
    # -timeout: one input may take 10 s (a byte-at-a-time 1 MB value);
    # -rss_limit_mb: one connection may hold a 1 MB item and its replies
    if [ "$jobs" -gt 1 ]; then
        par="-fork=$jobs"
    else
        par=""
    fi
    "$bin" "$work/$t" "$here/corpus/$t" $dict $par \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2560 \
        -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$work/$t-crash-" >"$work/$t.log" 2>&1
    rc=$?
    grep -E '^stat::number_of_executed_units|^Done|SUMMARY|ERROR' "$work/$t.log"
    if [ $rc -ne 0 ] || ls "$work/$t-crash-"* >/dev/null 2>&1; then
        echo "run-fuzzers: fuzz_$t FAILED (exit $rc); last lines of its log:"
        tail -n 60 "$work/$t.log"
        failed="$failed $t"
    fi
done
if [ -n "$failed" ]; then
    echo "run-fuzzers: failures in:$failed; inputs and logs kept in $work"
    exit 1
fi
if [ $keep -eq 0 ]; then
    rm -rf "$work"
fi
echo "run-fuzzers: all targets ran $secs s with no failure"
