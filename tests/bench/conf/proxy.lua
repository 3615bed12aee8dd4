-- proxy.lua (bench): rend as a proxy in front of one memcached on a unix
-- socket, through the memcached plugin (L1 only).
--   REND_MC_SERVERS=/path/mc.sock rend -c tests/bench/conf/proxy.lua
local mc = handler "memcached" {
    name = "l1",
    servers = env("REND_MC_SERVERS", "/tmp/memcached.sock"),
}

listen {
    address = env("REND_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1only(mc) },
}
