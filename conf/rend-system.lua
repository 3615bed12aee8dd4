-- rend.lua: the config of rend run as a system service (rend.service).
-- Installed as /etc/rend/rend.lua; `systemctl reload rend` (SIGHUP)
-- rereads it.  See rend.lua(5) for the language and rend(8) for the
-- command line (/etc/default/rend holds the service's flags).
--
-- A persistent cache: an in-process L1 in front of an LMDB L2 kept in the
-- service's state directory (/var/lib/rend, systemd's StateDirectory),
-- on 127.0.0.1:11211 like Debian's memcached.  L2 is the source of truth;
-- L1 is refilled from it on a miss, so the data survives a restart.
-- `rend -m MB` sizes the L1; `-l ADDR` and `-p PORT` move the listener.
-- The data directory is systemd's $STATE_DIRECTORY, else $REND_DATA (as
-- for the offline tools: `REND_DATA=/var/lib/rend rend --count l2 ...`),
-- else /var/lib/rend.
local data = env("STATE_DIRECTORY", env("REND_DATA", "/var/lib/rend"))

local l1 = handler "inmem" {
    name = "l1",
    memory_mb = 64,
}

local l2 = handler "lmdb" {
    name = "l2",
    path = data .. "/lmdb",
    map_size_mb = 4096,
}

listen {
    address = "127.0.0.1",
    port = 11211,
    routes = { default = l1l2(l1, l2) },
}
