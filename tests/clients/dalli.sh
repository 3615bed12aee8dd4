#!/bin/sh
# dalli (Debian ruby-dalli) against memcached and every rend topology: see
# harness.sh and dalli_api.rb.
. "${REND_SRCDIR:-..}/tests/clients/harness.sh"
run_client dalli "$RUBY" "$CLIENTS_DIR/dalli_api.rb"
