-- bad_plugin.lua: a handler whose plugin does not exist (line 2).
local l1 = handler "no_such_plugin" { name = "l1" }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) } }
