-- unix.lua: inmem L1 on a unix socket; the test sets REND_SOCK to a path
-- in its temp dir.
local l1 = handler "inmem" { name = "l1", memory_mb = 64 }

listen {
    unix = env("REND_SOCK", "/tmp/rend-it.sock"),
    routes = { default = l1only(l1) },
}
