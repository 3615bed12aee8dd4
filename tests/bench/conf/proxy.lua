-- proxy.lua (bench): rend as a proxy in front of one memcached on a unix
-- socket, through the memcached plugin (L1 only).  rend listens on
-- REND_UNIX (a unix socket) when it is set, else on TCP.
--   REND_MC_SERVERS=/path/mc.sock rend --config tests/bench/conf/proxy.lua
local mc = handler "memcached" {
    name = "l1",
    servers = env("REND_MC_SERVERS", "/tmp/memcached.sock"),
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
