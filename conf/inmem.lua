-- inmem.lua: rend as a plain memcached replacement: one in-process cache
-- (L1 only) on 127.0.0.1:11211.
--   rend --config conf/inmem.lua
local l1 = handler "inmem" {
    name = "l1",
    memory_mb = tonumber(env("REND_MEMORY_MB", "1024")),
}

listen {
    address = env("REND_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1only(l1) },
}
