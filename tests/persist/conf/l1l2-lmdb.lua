-- l1l2-lmdb.lua: persistence tests: inmem L1 + durable lmdb L2.
-- Listener 1 runs L1/L2, listener 2 runs L1/L2 batch (no L1 back-fill,
-- so gets there exercise the L2 read path).  Both ports are ephemeral.
local l1 = handler "inmem" { name = "l1", memory_mb = 256 }
local l2 = handler "lmdb" {
    name = "l2",
    path = env("REND_DATA", "data") .. "/lmdb",
    map_size_mb = tonumber(env("PERSIST_MAP_MB", "1024")),
    sync = "commit",
    reap_interval_s = tonumber(env("PERSIST_REAP_S", "30")),
}

listen { address = "127.0.0.1", port = 0,
         routes = { default = l1l2(l1, l2) } }
listen { address = "127.0.0.1", port = 0,
         routes = { default = l1l2_batch(l1, l2) } }
