#!/bin/sh
# Cache::Memcached::Fast (Debian libcache-memcached-fast-perl) against
# memcached and every rend topology: see harness.sh and
# cache_memcached_fast_api.pl.
. "${REND_SRCDIR:-..}/tests/clients/harness.sh"
run_client cache-memcached-fast "$PERL" "$CLIENTS_DIR/cache_memcached_fast_api.pl"
