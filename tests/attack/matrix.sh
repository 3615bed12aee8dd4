#!/bin/sh
# matrix.sh - every attack of attack.py on every topology it applies to,
# with default and production settings; one log per run under $OUT.
#   ulimit -n 20000; tests/attack/matrix.sh [OUT_DIR]
# Heavy (about 20 minutes, 300 MiB of buffers, 15,000 sockets): not part
# of `make check`.
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-attack-results}
mkdir -p "$out"
ulimit -n 20000 2>/dev/null || echo "matrix.sh: could not raise ulimit -n" >&2
status=0
run() {
    name=$1; shift
    echo "== $name: attack.py $*"
    python3 "$here/attack.py" "$@" >"$out/$name.log" 2>&1 || status=1
    grep -E "verdict|attack.py:" "$out/$name.log" | tail -2
}
for t in inmem l1l2 production proxy flag-proxy; do
    run "amplify-$t" amplify --spawn "$t"
done
for t in inmem l1l2 proxy; do
    run "amplify-$t-prod" amplify --spawn "$t" --settings production
done
run nonread-proxy nonread --spawn proxy --repeat 3
run nonread-proxy-prod nonread --spawn proxy --settings production
for t in flag-proxy production inmem l1l2; do
    run "nonread-$t" nonread --spawn "$t"
done
for t in inmem l1l2 production proxy; do
    run "slowloris-$t" slowloris --spawn "$t"
done
run slowloris-inmem-prod slowloris --spawn inmem --settings production
run slowloris-inmem-headers slowloris --spawn inmem --headers-first --conns 600 --no-wait
for t in inmem l1l2 production proxy; do
    run "garbage-$t" garbage --spawn "$t"
done
run garbage-inmem-prod garbage --spawn inmem --settings production
for t in inmem l1l2 production proxy; do
    run "conns-$t" conns --spawn "$t"
done
run conns-inmem-prod conns --spawn inmem --settings production
exit $status
