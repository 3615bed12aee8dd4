#!/bin/sh
# Handler contract suite against the lmdb plugin (a fresh directory per test).
REND_CONTRACT_PLUGIN=lmdb
REND_CONTRACT_OPTS="path=@TMPDIR@/lmdb map_size_mb=64 sync=commit reap_interval_s=1"
REND_CONTRACT_ORDERED=1 # one writer: in-flight ops on a key apply in order
export REND_CONTRACT_PLUGIN REND_CONTRACT_OPTS REND_CONTRACT_ORDERED
exec ./contract/check_contract "$@"
