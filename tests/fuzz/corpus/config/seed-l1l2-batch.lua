local l1 = handler "inmem" { name = "l1", memory_mb = 1024 }
local l2 = handler "lmdb" {
    name = "l2",
    path = env("REND_DATA", "data") .. "_lmdb",
    map_size_mb = 8192,
}
listen { port = tonumber(env("REND_PORT", "11211")),
         routes = { default = l1l2(l1, l2) } }
listen { port = tonumber(env("REND_BATCH_PORT", "11212")),
         routes = { default = l1l2_batch(l1, l2) } }
