-- l1l2-rocksdb.lua (bench): inmem L1 in front of a rocksdb L2 (L1/L2), the
-- rocksdb twin of l1l2.lua.
--   REND_DATA     data directory (rocksdb goes to $REND_DATA/rocksdb)
--   REND_WAL_SYNC true (default: fsync the WAL on every group commit, reply
--                 after it) or false (WAL written, not fsynced)
--   REND_L1_MB    L1 size in MB (1024)
local l1 = handler "inmem" {
    name = "l1",
    memory_mb = tonumber(env("REND_L1_MB", "1024")),
}
local l2 = handler "rocksdb" {
    name = "l2",
    path = env("REND_DATA", "/tmp/rend-bench") .. "/rocksdb",
    wal_sync = env("REND_WAL_SYNC", "true") == "true",
}
listen { address = "127.0.0.1", port = 0, routes = { default = l1l2(l1, l2) } }
