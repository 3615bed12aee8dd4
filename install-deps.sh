#!/bin/sh
# install-deps.sh: install the Debian packages rend needs to build and test
# (debian/control's Build-Depends, the real clients the tests drive, and the
# tools to build and check the .deb), skipping those already installed, and
# the npm modules of the client tests (tests/clients/node_modules, from
# tests/clients/package-lock.json).  Run as root (or with sudo).
set -e
PKGS="build-essential autoconf automake libtool pkg-config libev-dev
libluajit-5.1-dev liblmdb-dev lmdb-utils librocksdb-dev libssl-dev openssl check memcached
libmemcached-tools libmemcached-dev libsystemd-dev groff-base curl prometheus
debhelper lintian clang libclang-rt-14-dev
python3-pymemcache python3-memcache ruby ruby-dalli libcache-memcached-fast-perl"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
# node and npm may come from elsewhere (e.g. nodesource's nodejs ships npm)
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    # memcached is only a test dependency: keep Debian from starting its
    # service on port 11211, which is rend's default port.
    if echo "$missing" | grep -qw memcached && [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
# the node clients of tests/clients (memjs, memcached), in a tests-local
# folder at the versions package-lock.json pins
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/tests/clients/node_modules/memjs" ] \
    || [ ! -d "$here/tests/clients/node_modules/memcached" ]; then
    echo "install-deps: npm ci in tests/clients"
    npm ci --prefix "$here/tests/clients" --no-audit --no-fund
fi
