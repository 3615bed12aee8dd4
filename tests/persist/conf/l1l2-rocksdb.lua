-- l1l2-rocksdb.lua: persistence tests: inmem L1 + durable rocksdb L2
-- (every group commit syncs the WAL).  Listener 1 runs L1/L2, listener 2
-- runs L1/L2 batch (no L1 back-fill).  Both ports are ephemeral.
local l1 = handler "inmem" { name = "l1", memory_mb = 256 }
local l2 = handler "rocksdb" {
    name = "l2",
    path = env("REND_DATA", "data") .. "/rocksdb",
    wal_sync = true,
    write_buffer_mb = tonumber(env("PERSIST_WRITE_BUFFER_MB", "64")),
    block_cache_mb = 32,
}

listen { address = "127.0.0.1", port = 0,
         routes = { default = l1l2(l1, l2) } }
listen { address = "127.0.0.1", port = 0,
         routes = { default = l1l2_batch(l1, l2) } }
