local l1 = handler "inmem" {
    name = "l1",
    memory_mb = tonumber(env("REND_MEMORY_MB", "1024")),
}
listen {
    address = env("REND_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1only(l1) },
}
