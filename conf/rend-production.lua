-- rend-production.lua: Netflix Rend's production topology.
--   * L1: a local memcached on a unix socket, in Rend's chunked layout so
--     every value lands in one slab class (no slab calcification when
--     value sizes shift);
--   * L2: an LMDB store on local SSD, the source of truth;
--   * port 11211: online traffic, L1/L2;
--   * port 11212: the batch port, L1/L2 batch (bulk loads write L2 and only
--     refresh keys L1 already holds).
-- Start memcached first, e.g.
--   memcached -u memcached -s /run/memcached/memcached.sock -a 0770 -m 8192
--   rend --config conf/rend-production.lua
-- The slab size must match the memcached slab class chosen for the chunks
-- (1184 is a class with memcached's default -f 1.25 -n 48).
-- Slow and silent clients: close a connection that has neither sent nor
-- read anything for 5 minutes (memcached's idle_timeout), or that stopped
-- in the middle of a request for 30 s.
settings {
    idle_timeout = 300,
    read_timeout = 30,
}

local l1 = handler "memcached" {
    name = "l1",
    servers = env("REND_L1_SOCK", "/run/memcached/memcached.sock"),
    chunked = true,
    slab_size = 1184,
    conns_per_server = 2,
    timeout_ms = 500,
}

local l2 = handler "lmdb" {
    name = "l2",
    path = env("REND_DATA", "/var/lib/rend") .. "/lmdb",
    map_size_mb = tonumber(env("REND_MAP_MB", "65536")),
    sync = "commit",
}

listen {
    address = env("REND_ADDRESS", "0.0.0.0"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1l2(l1, l2) },
}
listen {
    address = env("REND_ADDRESS", "0.0.0.0"),
    port = tonumber(env("REND_BATCH_PORT", "11212")),
    routes = { default = l1l2_batch(l1, l2) },
}

-- The admin listener: Prometheus /metrics, /healthz and /readyz for load
-- balancers and systemd, POST /reload, GET /config (README "Admin
-- listener").  Keep it on a local or management address.
admin {
    address = env("REND_ADMIN_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_ADMIN_PORT", "9150")),
}
