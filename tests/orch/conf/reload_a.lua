-- reload_a.lua: reload test, config A: listener 0 is L1-only.
-- Every reload config has the same three listeners (0 main, 1 L1 view,
-- 2 L2 view) and the same l1/l2 instances (kept with their data).
local dir = env("ORCH_DIR", "/tmp")
local l1 = handler "inmem" { name = "l1", memory_mb = 32 }
local l2 = handler "lmdb" { name = "l2", path = dir .. "/lmdb",
                            map_size_mb = 64 }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l1) } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l1) } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l2) } }
