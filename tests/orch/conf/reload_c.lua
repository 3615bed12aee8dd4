-- reload_c.lua: reload test, config C: L1/L2 plus a new handler instance
-- (created on reload, dropped again by the next config) behind a prefix.
local dir = env("ORCH_DIR", "/tmp")
local l1 = handler "inmem" { name = "l1", memory_mb = 32 }
local l2 = handler "lmdb" { name = "l2", path = dir .. "/lmdb",
                            map_size_mb = 64 }
local l3 = handler "inmem" { name = "l3", memory_mb = 8 }
listen { port = 0, address = "127.0.0.1",
         routes = { default = l1l2(l1, l2),
                    prefix = { ["side:"] = l1only(l3) } } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l1) } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l2) } }
