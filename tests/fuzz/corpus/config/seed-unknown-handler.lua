listen { port = 0, routes = { default = l1only(handler "nope" { name = "n" }) } }
