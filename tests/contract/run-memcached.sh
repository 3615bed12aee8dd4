#!/bin/sh
# Handler contract suite against the memcached plugin in plain mode,
# through a real memcached started here on a free port and a unix socket.
# REND_MC_EXTRA_OPTS adds plugin options (run-memcached-chunked.sh).
: "${MEMCACHED:=/usr/bin/memcached}"
[ -x "$MEMCACHED" ] || exit 77
dir=$(mktemp -d /tmp/rend-mc-contract.XXXXXX) || exit 99
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null)
[ -n "$port" ] || port=$((20000 + $$ % 20000))
"$MEMCACHED" -u root -l 127.0.0.1 -p "$port" -U 0 -m 64 -I 2m &
pid_tcp=$!
"$MEMCACHED" -u root -s "$dir/mc.sock" -m 64 -I 2m &
pid_unix=$!
trap 'kill $pid_tcp $pid_unix 2>/dev/null; wait $pid_tcp $pid_unix 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
while [ $i -lt 100 ] && ! [ -S "$dir/mc.sock" ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.1
REND_CONTRACT_PLUGIN=memcached
REND_CONTRACT_OPTS="servers=127.0.0.1:$port,$dir/mc.sock timeout_ms=5000 ${REND_MC_EXTRA_OPTS:-}"
REND_CONTRACT_REAL_CLOCK=1
export REND_CONTRACT_PLUGIN REND_CONTRACT_OPTS REND_CONTRACT_REAL_CLOCK
./contract/check_contract "$@"
