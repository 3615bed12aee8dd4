-- routefn.lua (bench): the inmem L1-only route chosen per request by a Lua
-- function, to measure what a route_fn costs per request.
local l1 = handler "inmem" { name = "l1", memory_mb = 1024 }
local only = l1only(l1)
listen { address = "127.0.0.1", port = 0, routes = {
    default = route_fn(function(cmd, key)
        if key:byte(1) == 35 then -- '#': never in this bench
            return only
        end
        return only
    end, { only }),
} }
