-- l1l2-batch.lua: Netflix Rend's production shape with in-process tiers:
-- the online port (11211) runs L1/L2, the batch port (11212) runs L1/L2
-- batch so bulk loads write L2 and only refresh keys L1 already holds.
local l1 = handler "inmem" { name = "l1", memory_mb = 1024 }
local l2 = handler "lmdb" {
    name = "l2",
    path = env("REND_DATA", "data") .. "/lmdb",
    map_size_mb = 8192,
}

listen { port = tonumber(env("REND_PORT", "11211")),
         routes = { default = l1l2(l1, l2) } }
listen { port = tonumber(env("REND_BATCH_PORT", "11212")),
         routes = { default = l1l2_batch(l1, l2) } }
