listen { port = "x", routes = { } }
