#!/bin/sh
# Handler contract suite against the memcached plugin in chunked mode (Rend
# layout): run-memcached.sh with the chunked options.  Keys go up to
# memcached's 250 bytes (the longer ones get digest piece names).
REND_MC_EXTRA_OPTS="chunked=true item_size_max=8388608"
export REND_MC_EXTRA_OPTS
exec sh "$(dirname "$0")/run-memcached.sh" "$@"
