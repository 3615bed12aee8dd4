-- rend.lua: the default config, embedded in the rend binary
-- (`rend --print-config` prints it; `rend --config FILE` replaces it).
--
-- A persistent cache with no server to install: an in-process L1 in front
-- of an LMDB L2 under ./data (or $REND_DATA), on 127.0.0.1:11211.  L2 is
-- the source of truth; L1 is filled from it on a miss.
local l1 = handler "inmem" {
    name = "l1",
    memory_mb = tonumber(env("REND_MEMORY_MB", "1024")),
}

local l2 = handler "lmdb" {
    name = "l2",
    path = env("REND_DATA", "data") .. "/lmdb",
    map_size_mb = tonumber(env("REND_MAP_MB", "4096")),
}

listen {
    address = env("REND_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1l2(l1, l2) },
}
