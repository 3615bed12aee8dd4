settings { threads = 2, max_conns = 100, item_size_max = 2097152, idle_timeout = 5,
  read_timeout = 3, conn_buffer_mb = 16 }
listen { port = 0, routes = { default = l1only(handler "inmem" { name = "a" }) } }
