-- reload_b.lua: reload test, config B: listener 0 swapped to L1/L2.
local dir = env("ORCH_DIR", "/tmp")
local l1 = handler "inmem" { name = "l1", memory_mb = 32 }
local l2 = handler "lmdb" { name = "l2", path = dir .. "/lmdb",
                            map_size_mb = 64 }
listen { port = 0, address = "127.0.0.1", routes = { default = l1l2(l1, l2) } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l1) } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l2) } }
