#!/bin/sh
# Handler contract suite against the memcached plugin in chunked mode (Rend
# layout): run-memcached.sh with the chunked options.
REND_MC_EXTRA_OPTS="chunked=true item_size_max=8388608"
REND_CONTRACT_KEY_MAX=245 # "<key>-meta" must fit memcached's 250 bytes
export REND_MC_EXTRA_OPTS REND_CONTRACT_KEY_MAX
exec sh "$(dirname "$0")/run-memcached.sh" "$@"
