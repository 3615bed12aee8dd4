#!/bin/sh
# install-deps.sh: install the Debian packages rend needs to build and test,
# skipping those already installed.  Run as root (or with sudo).
set -e
PKGS="build-essential autoconf automake libtool pkg-config libev-dev
libluajit-5.1-dev liblmdb-dev lmdb-utils librocksdb-dev check memcached
libmemcached-tools libmemcached-dev curl prometheus"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
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
