-- reload_bad.lua: reload test: a Lua syntax error (the reload must fail
-- and leave the running config serving).
local dir = env("ORCH_DIR", "/tmp")
local l1 = handler "inmem" { name = "l1", memory_mb = 32 }
listen { port = 0, address = "127.0.0.1", routes = { default = l1only(l1) }
listen { port = 0 routes = }
