-- l1l2-small.lua (bench): a tiny inmem L1 (1 MB) in front of an lmdb or
-- rocksdb L2, so that with a key space far larger than L1 almost every get
-- misses L1 and is answered by L2 (then copied into L1).
--   REND_L2       lmdb (default) or rocksdb
--   REND_DATA     data directory ($REND_DATA/lmdb or $REND_DATA/rocksdb)
--   REND_L1_MB    L1 size in MB (1)
--   REND_SYNC     lmdb: commit (default) or periodic
--   REND_WAL_SYNC rocksdb: true (default) or false
local l1 = handler "inmem" {
    name = "l1",
    memory_mb = tonumber(env("REND_L1_MB", "1")),
}
local dir = env("REND_DATA", "/tmp/rend-bench")
local l2
if env("REND_L2", "lmdb") == "rocksdb" then
    l2 = handler "rocksdb" {
        name = "l2",
        path = dir .. "/rocksdb",
        wal_sync = env("REND_WAL_SYNC", "true") == "true",
    }
else
    l2 = handler "lmdb" {
        name = "l2",
        path = dir .. "/lmdb",
        map_size_mb = 4096,
        sync = env("REND_SYNC", "commit"),
    }
end
listen { address = "127.0.0.1", port = 0, routes = { default = l1l2(l1, l2) } }
