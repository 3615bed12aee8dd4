#!/bin/sh
# python-memcached (Debian python3-memcache) against memcached and every
# rend topology: see harness.sh and python_memcache_api.py.
. "${REND_SRCDIR:-..}/tests/clients/harness.sh"
run_client python-memcache "$PYTHON" "$CLIENTS_DIR/python_memcache_api.py"
