-- chunked-large.lua: rend in front of a local memcached that holds large
-- values (around 100 KB and up) in Rend's chunked layout, with chunks
-- sized for memcached's slab class near 100 KB instead of Rend's 1184
-- bytes.  Every value is a metadata item plus one 103 KB chunk per
-- 103 KB of value (a 100 KB value: one chunk; 1 MB: eleven), all in one
-- slab class, so a shift in value sizes cannot calcify the slabs; and a
-- value is a couple of memcached items instead of ~88 per 100 KB.
-- The cost: every value takes at least one whole chunk, so keep small
-- values (a few KB) on an instance with the default slab_size = 1184.
-- 103496 is a class of memcached 1.6 with the default -f 1.25 -n 48 (see
-- the chunk_size column of `stats slabs`); memcached needs no -I for the
-- chunks themselves.  Start memcached first, e.g.
--   memcached -u memcached -s /run/memcached/memcached.sock -a 0770 -m 8192
--   rend --config conf/chunked-large.lua
local l1 = handler "memcached" {
    name = "l1",
    servers = env("REND_L1_SOCK", "/run/memcached/memcached.sock"),
    chunked = true,
    slab_size = 103496,
    item_size_max = 16777216,
}

listen {
    address = env("REND_ADDRESS", "127.0.0.1"),
    port = tonumber(env("REND_PORT", "11211")),
    routes = { default = l1only(l1) },
}
