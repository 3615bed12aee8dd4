#!/bin/bash
# tests/bench/scaling.sh: rend's inmem and memcached with more threads and
# with many idle connections, through tests/bench/run.sh (same load
# generator, medians of REPEAT, CPU per request, quiet-machine gate).
#
# Parts (PARTS="threads conns"):
#   threads  -t 1 (server on cpu 0, load on cpu 1) against -t 2.  This
#            machine has 2 cores, so -t 2 can only be measured with the
#            servers and the load generator sharing both cores (taskset
#            0,1 for all); the figure says what a second worker costs or
#            gains when it competes with the client, not how rend scales
#            on a machine with cores to spare.
#   conns    50 connections, 100 connections, and 100 active + IDLE idle
#            ones (rend-bench --idle; 10,000 in all by default: 1% active),
#            server -t 1 on cpu 0, load on cpu 1; both servers get -c 20000.
# Environment: PARTS, IDLE=9900, ACTIVE=100, and everything run.sh reads
# (DURATION, REPEAT, VALUE_SIZE, ...).  A benchmark, not a test.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${PARTS:=threads conns}" "${IDLE:=9900}" "${ACTIVE:=100}"
export MEMASLAP_TIME=${MEMASLAP_TIME:-0}

# the idle connections need file descriptors on both ends
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

for part in $PARTS; do
    case $part in
    threads)
        echo "== threads: -t 1 (server cpu 0, load cpu 1)"
        SCENARIOS=inmem THREADS=1 SERVER_CPU=0 CLIENT_CPU=1 "$here/run.sh"
        echo "== threads: -t 2 (servers and load share cpus 0,1)"
        SCENARIOS=inmem THREADS=2 SERVER_CPU=0,1 CLIENT_CPU=0,1 "$here/run.sh"
        echo "== threads: -t 1, everything sharing cpus 0,1 (the fair baseline for -t 2)"
        SCENARIOS=inmem THREADS=1 SERVER_CPU=0,1 CLIENT_CPU=0,1 "$here/run.sh"
        ;;
    conns)
        echo "== conns: 50 active"
        SCENARIOS=inmem CONNS=50 MC_EXTRA="-c 20000" REND_EXTRA="-c 20000" "$here/run.sh"
        echo "== conns: $ACTIVE active"
        SCENARIOS=inmem CONNS=$ACTIVE MC_EXTRA="-c 20000" REND_EXTRA="-c 20000" "$here/run.sh"
        echo "== conns: $ACTIVE active + $IDLE idle"
        SCENARIOS=inmem CONNS=$ACTIVE LG_EXTRA="--idle $IDLE" MC_EXTRA="-c 20000" \
            REND_EXTRA="-c 20000" "$here/run.sh"
        ;;
    *)
        echo "scaling.sh: unknown part $part" >&2
        exit 2
        ;;
    esac
done
exit 0
