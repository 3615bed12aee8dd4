#!/bin/sh
# node's memcached module (npm, tests/clients/node_modules) against
# memcached and every rend topology: see harness.sh and
# node_memcached_api.js.
. "${REND_SRCDIR:-..}/tests/clients/harness.sh"
run_client node-memcached "$NODE" "$CLIENTS_DIR/node_memcached_api.js"
