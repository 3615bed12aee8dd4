#!/bin/sh
# libmemcached's tools (Debian libmemcached-tools: memccp, memccat,
# memcrm, memcflush, memcstat, memcping, memcdump, memcexist, memctouch,
# memcslap) against memcached and every rend topology: see harness.sh and
# libmemcached_tools_api.sh.
. "${REND_SRCDIR:-..}/tests/clients/harness.sh"
run_client libmemcached-tools sh "$CLIENTS_DIR/libmemcached_tools_api.sh"
