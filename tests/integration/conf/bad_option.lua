-- bad_option.lua: an option value the inmem plugin rejects.
local l1 = handler "inmem" { name = "l1", memory_mb = -5 }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) } }
