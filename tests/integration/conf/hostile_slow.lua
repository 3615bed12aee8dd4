-- hostile_slow.lua: it_hostile: slow clients.  The limits come from the
-- environment (0 = rend's default).
settings {
    idle_timeout = tonumber(env("HOSTILE_IDLE", "0")),
    read_timeout = tonumber(env("HOSTILE_READ", "0")),
    conn_buffer_mb = tonumber(env("HOSTILE_BUF_MB", "0")),
}
local l1 = handler "inmem" { name = "l1", memory_mb = 64 }

listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) } }
