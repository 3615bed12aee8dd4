#!/bin/sh
# Handler contract suite against the inmem plugin.
REND_CONTRACT_PLUGIN=inmem
REND_CONTRACT_OPTS="memory_mb=64 stripes=16"
export REND_CONTRACT_PLUGIN REND_CONTRACT_OPTS
exec ./contract/check_contract "$@"
