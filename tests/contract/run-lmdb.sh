#!/bin/sh
# Handler contract suite against the lmdb plugin (a fresh directory per test).
REND_CONTRACT_PLUGIN=lmdb
REND_CONTRACT_OPTS="path=@TMPDIR@/lmdb map_size_mb=64 sync=commit reap_interval_s=1"
export REND_CONTRACT_PLUGIN REND_CONTRACT_OPTS
exec ./contract/check_contract "$@"
