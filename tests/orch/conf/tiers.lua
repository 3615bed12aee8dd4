-- tiers.lua: the orchestration matrix's server.  Listener order matters
-- (the tests address listeners by their line in the port file):
--   0  L1/L2        1  L1/L2 batch
--   2  L1 view: l1only(l1), the same inmem instance
--   3  L2 view: l1only(l2), the same lmdb instance
local dir = env("ORCH_DIR", "/tmp")
local l1 = handler "inmem" { name = "l1", memory_mb = 32 }
local l2 = handler "lmdb" { name = "l2", path = dir .. "/lmdb",
                            map_size_mb = 64 }

listen { port = 0, address = "127.0.0.1", routes = { default = l1l2(l1, l2) } }
listen { port = 0, address = "127.0.0.1",
         routes = { default = l1l2_batch(l1, l2) } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l1) } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l2) } }
