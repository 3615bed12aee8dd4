local m = handler "memcached" { name = "m", servers = "127.0.0.1:1,127.0.0.1:2", replicas = 2 }
listen { port = 0, routes = { default = l1only(m), get = l1only(m) } }
