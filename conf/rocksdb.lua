-- rocksdb.lua: a persistent cache with a RocksDB L2: an in-process L1 in
-- front of a RocksDB store under ./data/rocksdb (or $REND_DATA/rocksdb),
-- on 127.0.0.1:11211.  L2 is the source of truth; L1 is filled from it on
-- a miss.  wal_sync = true makes every acknowledged write survive a crash
-- or power loss (one WAL fsync per group commit); set it to false to trade
-- the last writes before an OS crash for throughput.
--   rend --config conf/rocksdb.lua
local l1 = handler "inmem" {
    name = "l1",
    memory_mb = tonumber(env("REND_MEMORY_MB", "1024")),
}

local l2 = handler "rocksdb" {
    name = "l2",
    path = env("REND_DATA", "data") .. "/rocksdb",
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
