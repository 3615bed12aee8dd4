local pool = handler "memcached" {
    name = "pool",
    servers = env("REND_POOL",
                  "10.0.0.1:11211,10.0.0.2:11211,10.0.0.3:11211"),
    replicas = 2,
    failover_on_miss = true,
    conns_per_server = 1,
    timeout_ms = 500,
    fail_limit = 3,
    retry_ms = 1000,
}
listen {
    address = env("REND_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1only(pool) },
}
