-- routes.lua: per-command, per-prefix and route_fn routes over one inmem
-- L1 and one lmdb L2.  Listeners (port-file order):
--   0  default L1/L2, get L1-only, gets L1/L2, delete L1-only (each command its own
--      route), prefixes loc: / loc:deep: / bat:
--   1  route_fn: "b:" keys batch, deletes L1-only, the rest L1/L2
--   2  L1 view      3  L2 view
local dir = env("ORCH_DIR", "/tmp")
local l1 = handler "inmem" { name = "l1", memory_mb = 16 }
local l2 = handler "lmdb" { name = "l2", path = dir .. "/lmdb",
                            map_size_mb = 64 }
local both = l1l2(l1, l2)
local bulk = l1l2_batch(l1, l2)
local near = l1only(l1)

listen { port = 0, address = "127.0.0.1", routes = {
    default = both,
    get = near,
    gets = both,
    delete = near,
    prefix = {
        ["loc:"] = near,
        ["loc:deep:"] = both,
        ["bat:"] = { default = bulk, set = both },
    },
} }

listen { port = 0, address = "127.0.0.1", routes = {
    default = route_fn(function(cmd, key)
        if key:sub(1, 2) == "b:" then
            return bulk
        end
        if cmd == "delete" then
            return near
        end
        return both
    end, { both, bulk, near }),
} }

listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l1) } }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l2) } }
