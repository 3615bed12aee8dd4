local l1 = handler "inmem" {
    name = "l1",
    memory_mb = tonumber(env("REND_MEMORY_MB", "1024")),
}
local l2 = handler "rocksdb" {
    name = "l2",
    path = env("REND_DATA", "data") .. "_rocksdb",
    wal_sync = true,
    block_cache_mb = tonumber(env("REND_BLOCK_CACHE_MB", "256")),
    write_buffer_mb = 64,
    compression = "lz4",
}
listen {
    address = env("REND_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1l2(l1, l2) },
}
