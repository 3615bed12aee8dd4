local a = handler "inmem" { name = "a" }
listen { port = 0, routes = { default = l1only(a) } }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(a) } }
admin { port = 0 }
