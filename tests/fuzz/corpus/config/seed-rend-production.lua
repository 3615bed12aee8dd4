settings {
    idle_timeout = 300,
    read_timeout = 30,
}
local l1 = handler "memcached" {
    name = "l1",
    servers = env("REND_L1_SOCK", "_run_memcached_memcached.sock"),
    chunked = true,
    slab_size = 1184,
    conns_per_server = 2,
    timeout_ms = 500,
}
local l2 = handler "lmdb" {
    name = "l2",
    path = env("REND_DATA", "_var_lib_rend") .. "_lmdb",
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
admin {
    address = env("REND_ADMIN_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_ADMIN_PORT", "9150")),
}
