-- l1l2.lua (bench): inmem L1 in front of an lmdb L2 (L1/L2).  With a key
-- space that fits L1, every get hits L1: this measures what the L1/L2
-- orchestration costs over L1-only on the same L1.
local l1 = handler "inmem" { name = "l1", memory_mb = 1024 }
local l2 = handler "lmdb" {
    name = "l2",
    path = env("REND_DATA", "/tmp/rend-bench") .. "/lmdb",
    map_size_mb = 4096,
    sync = env("REND_SYNC", "commit"),
}
listen { address = "127.0.0.1", port = 0, routes = { default = l1l2(l1, l2) } }
