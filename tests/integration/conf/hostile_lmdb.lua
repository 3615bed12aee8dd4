-- hostile_lmdb.lua: it_hostile: one lmdb tier (readers in threads, so
-- gets complete asynchronously) on an ephemeral port.
local db = handler "lmdb" {
    name = "db",
    path = env("REND_DATA", "data") .. "/lmdb",
    map_size_mb = 256,
    sync = "periodic",
    readers = 2,
}

listen { address = "127.0.0.1", port = 0, routes = { default = l1only(db) } }
