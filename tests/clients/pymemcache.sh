#!/bin/sh
# pymemcache (Debian python3-pymemcache) against memcached and every rend
# topology: see harness.sh and pymemcache_api.py.
. "${REND_SRCDIR:-..}/tests/clients/harness.sh"
run_client pymemcache "$PYTHON" "$CLIENTS_DIR/pymemcache_api.py"
