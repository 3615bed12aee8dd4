#!/bin/sh
# Handler contract suite against the test-only fault plugin (no faults).
REND_CONTRACT_PLUGIN=fault
REND_CONTRACT_OPTS=""
export REND_CONTRACT_PLUGIN REND_CONTRACT_OPTS
exec ./contract/check_contract "$@"
