#!/bin/sh
# smoke.sh - `make check`'s short run of tests/attack/attack.py: amplify,
# a small slowloris against an 8 MiB buffer cap with a 2 s read_timeout,
# and a few garbage connections, on the inmem topology (about 15 s).  The
# full attacks are heavy and run by hand (tests/attack/README.md).
command -v python3 >/dev/null 2>&1 || { echo "smoke.sh: no python3, skipped"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/attack.py" smoke --spawn inmem \
    --rend "${REND_BIN:-$here/../../core/rend}" \
    ${REND_PLUGIN_DIR:+--plugin-dir "$REND_PLUGIN_DIR"} \
    --set read_timeout=2 --set conn_buffer_mb=8 --slack-mb 128
