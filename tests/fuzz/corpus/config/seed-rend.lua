local l1 = handler "inmem" {
    name = "l1",
    memory_mb = tonumber(env("REND_MEMORY_MB", "1024")),
}
local l2 = handler "lmdb" {
    name = "l2",
    path = env("REND_DATA", "data") .. "_lmdb",
    map_size_mb = tonumber(env("REND_MAP_MB", "4096")),
}
listen {
    address = env("REND_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1l2(l1, l2) },
}
