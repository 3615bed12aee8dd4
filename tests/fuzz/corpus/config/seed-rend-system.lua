local data = env("STATE_DIRECTORY", env("REND_DATA", "_var_lib_rend"))
local l1 = handler "inmem" {
    name = "l1",
    memory_mb = 64,
}
local l2 = handler "lmdb" {
    name = "l2",
    path = data .. "_lmdb",
    map_size_mb = 4096,
}
listen {
    address = "127.0.0.1",
    port = 11211,
    routes = { default = l1l2(l1, l2) },
}
