#!/bin/sh
# Handler contract suite against the rocksdb plugin (a fresh directory per
# test; small buffers so each instance opens and closes quickly).
REND_CONTRACT_PLUGIN=rocksdb
REND_CONTRACT_OPTS="path=@TMPDIR@/rocksdb write_buffer_mb=4 block_cache_mb=8"
REND_CONTRACT_ORDERED=1 # one writer: in-flight ops on a key apply in order
export REND_CONTRACT_PLUGIN REND_CONTRACT_OPTS REND_CONTRACT_ORDERED
exec ./contract/check_contract "$@"
