listen { port = 0, routes = { default = l1only(handler "inmem" { name = "a", memory_mbb = 1 }) } }
