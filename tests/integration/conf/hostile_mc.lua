-- hostile_mc.lua: it_hostile: rend as a proxy in front of one memcached
-- ($REND_POOL, a unix socket path) on an ephemeral port.
local pool = handler "memcached" {
    name = "pool",
    servers = env("REND_POOL", "/nonexistent.sock"),
    timeout_ms = tonumber(env("REND_MC_TIMEOUT_MS", "1000")),
    max_inflight = tonumber(env("REND_MC_MAX_INFLIGHT", "8192")),
    fail_limit = 3,
    retry_ms = 200,
}

listen { address = "127.0.0.1", port = 0, routes = { default = l1only(pool) } }
