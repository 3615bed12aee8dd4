-- bad_syntax.lua: the table opened on line 3 is never closed; rend must
-- refuse to start and name this file and a line.
local l1 = handler "inmem" {
    name = "l1",

listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) } }
