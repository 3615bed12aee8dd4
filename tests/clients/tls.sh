#!/bin/sh
# TLS listeners with real TLS clients (pymemcache's tls_context, Python's
# ssl, openssl s_client): see tls_check.py.  Skipped (77) when rend was
# built without TLS.
SRCDIR=${REND_SRCDIR:-..}
# Debian's python3-pymemcache is for Debian's python3
exec /usr/bin/python3 "$SRCDIR/tests/clients/tls_check.py"
