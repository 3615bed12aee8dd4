local a = handler "inmem" { name = "a", memory_mb = 8 }
local b = handler "inmem" { name = "b", memory_mb = 8 }
listen { name = "x", port = 0, routes = { default = l1only(a),
  prefixes = { ["user:"] = l1only(b), ["s:"] = { get = l1only(a), set = l1only(b) } } } }
