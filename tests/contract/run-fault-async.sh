#!/bin/sh
# Handler contract suite against the fault plugin in async mode: every op
# returns REND_PENDING and completes from the plugin's own thread.
REND_CONTRACT_PLUGIN=fault
REND_CONTRACT_OPTS="async=true delay_us=50"
export REND_CONTRACT_PLUGIN REND_CONTRACT_OPTS
exec ./contract/check_contract "$@"
