#!/bin/sh
# memjs (npm, tests/clients/node_modules) against memcached and every rend
# topology: see harness.sh and memjs_api.js.
. "${REND_SRCDIR:-..}/tests/clients/harness.sh"
run_client memjs "$NODE" "$CLIENTS_DIR/memjs_api.js"
