-- proxy-chunked.lua (bench): as proxy.lua, but the memcached plugin stores
-- values in Rend's chunked layout (chunked = true), so every value becomes
-- a metadata item plus ~1 KB chunks in one memcached on a unix socket;
-- REND_MC_SLAB sets slab_size (1184) and REND_MC_TIMEOUT_MS timeout_ms
-- (1000; more under valgrind); REND_MC_SPLICE=1 sets splice_sets (large
-- set values through a pipe, off by default).
--   REND_MC_SERVERS=/path/mc.sock rend --config tests/bench/conf/proxy-chunked.lua
local mc = handler "memcached" {
    name = "l1",
    servers = env("REND_MC_SERVERS", "/tmp/memcached.sock"),
    chunked = true,
    slab_size = tonumber(env("REND_MC_SLAB", "1184")),
    timeout_ms = tonumber(env("REND_MC_TIMEOUT_MS", "1000")),
    splice_sets = env("REND_MC_SPLICE", "0") == "1",
}

local unix = env("REND_UNIX", "")
if unix ~= "" then
    listen { unix = unix, routes = { default = l1only(mc) } }
else
    listen {
        address = env("REND_ADDRESS", "127.0.0.1"),
        port = tonumber(env("REND_PORT", "11211")),
        routes = { default = l1only(mc) },
    }
end
