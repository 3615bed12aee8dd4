local a = handler "inmem" { name = "a" }
local b = handler "inmem" { name = "b" }
listen { port = 0, routes = { default = l1l2(a, b), delete = l1l2(a, b) } }
