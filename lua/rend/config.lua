-- rend/config.lua: the vocabulary of a rend config file.
--
-- A config is a Lua file run once (at start and on every reload).  It
-- declares handler instances, listeners with their routes, and settings;
-- rend then compiles the routes into C tables, so requests make no Lua
-- call (except routes that are Lua functions, see route_fn).
--
--   local l1 = handler "inmem" { memory_mb = 256 }
--   local l2 = handler "lmdb"  { path = env("REND_DATA", "data") .. "/lmdb" }
--   listen { port = 11211, routes = { default = l1l2(l1, l2) } }
--   listen { port = 11212, routes = { default = l1l2_batch(l1, l2) } }
--   settings { threads = 4 }

local route_keys = ...
if type(route_keys) ~= "table" then
    error("rend/config.lua: run by rend, which passes the route keys")
end

local R = { listeners = {}, handlers = {}, settings = {}, fns = {}, nseq = 0,
            admin = nil }

-- Limits the core enforces; a value outside them is refused here, with
-- the config's file:line, rather than ignored.
local MAX_LISTENERS = 64
local SETTING_RANGE = {
    threads = { 1, 256 },
    max_connections = { 1, 1048576 },
    item_size_max = { 1024, 1073741824 },
    idle_timeout = { 1, 86400 },      -- seconds; 0 = off (memcached's)
    read_timeout = { 1, 86400 },      -- seconds a half-received request may wait
    conn_buffer_mb = { 1, 1048576 },  -- all connections' grown input buffers
}


-- Every route gets a sequence number in creation order; rend matches the
-- routes a route_fn returns in each worker's VM by it.
local function seq()
    R.nseq = R.nseq + 1
    return R.nseq
end
local M = {}

local function where(level)
    local info = debug.getinfo(level + 1, "Sl")
    if info == nil then
        return "?", 0
    end
    return info.short_src, info.currentline or 0
end

local function fail(msg, level)
    error(msg, (level or 1) + 1)
end

local function is_handler(h)
    return type(h) == "table" and rawget(h, "__rend") == "handler"
end

local function is_route(r)
    return type(r) == "table" and rawget(r, "__rend") == "route"
end

local handler_names = {}

-- handler "plugin" { opt = value, ... }  or  handler { plugin = "...", ... }
function M.handler(spec)
    local function make(plugin, opts, level)
        if type(plugin) ~= "string" or plugin == "" then
            fail("handler: plugin name must be a non-empty string", level + 1)
        end
        if opts ~= nil and type(opts) ~= "table" then
            fail("handler \"" .. plugin .. "\": options must be a table", level + 1)
        end
        local o, name, path = {}, nil, nil
        for k, v in pairs(opts or {}) do
            if type(k) ~= "string" then
                fail("handler \"" .. plugin .. "\": option names must be strings", level + 1)
            end
            if k == "name" then
                name = tostring(v)
            elseif k == "plugin_path" then
                if type(v) ~= "string" or v == "" then
                    fail("handler \"" .. plugin .. "\": plugin_path must be "
                         .. "a file name", level + 1)
                end
                path = v
            elseif k ~= "plugin" then
                local t = type(v)
                if t ~= "string" and t ~= "number" and t ~= "boolean" then
                    fail("handler \"" .. plugin .. "\": option " .. k ..
                         " must be a string, number or boolean", level + 1)
                end
                if t == "number" and v == math.floor(v) then
                    o[k] = string.format("%d", v)
                else
                    o[k] = tostring(v)
                end
            end
        end
        -- A plugin is a name, loaded from the plugin dir; loading another
        -- file takes an explicit plugin_path.
        if path == nil and plugin:find("/", 1, true) then
            fail("handler \"" .. plugin .. "\": a plugin is a name from the "
                 .. "plugin dir, not a path; to load a file, set plugin_path",
                 level + 1)
        end
        if path ~= nil and not path:find("/", 1, true) then
            path = "./" .. path
        end
        if name == nil then
            local n = 1
            name = plugin
            while handler_names[name] do
                n = n + 1
                name = plugin .. n
            end
        elseif handler_names[name] then
            fail("handler name \"" .. name .. "\" is used twice", level + 1)
        end
        handler_names[name] = true
        local file, line = where(level + 1)
        local h = { __rend = "handler", plugin = path or plugin, name = name,
                    options = o, file = file, line = line }
        R.handlers[#R.handlers + 1] = h
        return h
    end
    -- (no tail calls: they would hide the config's line from error())
    if type(spec) == "table" then
        local h = make(spec.plugin, spec, 2)
        return h
    end
    return function(opts)
        local h = make(spec, opts, 2)
        return h
    end
end

local function route(strategy, l1, l2, level)
    if not is_handler(l1) then
        fail(strategy .. ": the first argument must be a handler (L1)", level + 1)
    end
    if strategy ~= "l1only" and not is_handler(l2) then
        fail(strategy .. ": the second argument must be a handler (L2)", level + 1)
    end
    if strategy == "l1only" and l2 ~= nil then
        fail("l1only takes one handler", level + 1)
    end
    return { __rend = "route", strategy = strategy, l1 = l1, l2 = l2,
             __seq = seq() }
end

function M.l1only(l1, l2) local r = route("l1only", l1, l2, 2); return r end
function M.l1l2(l1, l2) local r = route("l1l2", l1, l2, 2); return r end
function M.l1l2_batch(l1, l2)
    local r = route("l1l2_batch", l1, l2, 2)
    return r
end
M.l1_only = M.l1only
M.l1_l2 = M.l1l2
M.batch = M.l1l2_batch

-- A route decided per request by a Lua function fn(cmd, key) that returns
-- one of the routes in `choices` (by value); it runs in each worker's VM.
function M.route_fn(fn, choices)
    if type(fn) ~= "function" then
        fail("route_fn: the first argument must be a function", 2)
    end
    if type(choices) ~= "table" or #choices == 0 then
        fail("route_fn: the second argument must list the routes fn may return", 2)
    end
    for i, r in ipairs(choices) do
        if not is_route(r) then
            fail("route_fn: choice " .. i .. " is not a route", 2)
        end
    end
    for i, r in ipairs(choices) do
        if r.strategy == "lua" then
            fail("route_fn: choice " .. i .. " is itself a route_fn", 2)
        end
    end
    local n = seq()
    R.fns[n] = fn
    return { __rend = "route", strategy = "lua", fn = fn, choices = choices,
             __seq = n }
end

-- The route keys (command names) come from rend's command table in C
-- (core/rend_cmd.h), passed as this chunk's argument.
local commands = {}
for k in pairs(route_keys) do
    commands[k] = true
end
commands.default = true

local function check_routes(routes, what, level)
    if type(routes) ~= "table" then
        fail(what .. ": routes must be a table", level + 1)
    end
    for k, v in pairs(routes) do
        if k == "prefix" and what == "listen" then
            if type(v) ~= "table" then
                fail("listen: routes.prefix must be a table", level + 1)
            end
            for p, pr in pairs(v) do
                if type(p) ~= "string" or p == "" then
                    fail("listen: prefix keys must be non-empty strings", level + 1)
                end
                if is_route(pr) then
                    v[p] = { default = pr }
                else
                    check_routes(pr, "prefix \"" .. p .. "\"", level + 1)
                end
            end
        elseif not commands[k] then
            fail(what .. ": unknown command \"" .. tostring(k) .. "\" in routes", level + 1)
        elseif not is_route(v) then
            fail(what .. ": routes." .. k .. " is not a route (use l1only, l1l2, l1l2_batch or route_fn)", level + 1)
        end
    end
    if routes.default == nil then
        fail(what .. ": routes need a default", level + 1)
    end
end

-- tls = { cert = "server.pem", key = "server.key", ca = "ca.pem",
--         verify_client = true, ciphers = "...", ciphersuites = "...",
--         min_version = "1.2" } on a TCP listener.  memcached's -o names
-- are accepted for the same things: ssl_chain_cert, ssl_key, ssl_ca_cert,
-- ssl_verify_mode (0 none, 1 request, 2 require, 3 once = require),
-- ssl_ciphers, ssl_min_version (0..3 = TLS 1.0..1.3).  Normalised to
-- { cert, key, ca, ciphers, ciphersuites, min_version, verify = 0|1|2 };
-- rend reads the files when it compiles the config (start and reload).
local TLS_ALIAS = { ssl_chain_cert = "cert", ssl_key = "key",
                    ssl_ca_cert = "ca", ssl_ciphers = "ciphers",
                    ssl_min_version = "min_version",
                    ssl_verify_mode = "verify_mode" }
local TLS_KEYS = { cert = true, key = true, ca = true, ciphers = true,
                   ciphersuites = true, min_version = true,
                   verify_client = true, verify_mode = true,
                   allow_names = true }
local function check_tls(t, level)
    if type(t) ~= "table" then
        fail("listen: tls must be a table { cert = ..., key = ... }", level + 1)
    end
    local o = {}
    for k, v in pairs(t) do
        local name = TLS_ALIAS[k] or k
        if type(k) ~= "string" or not TLS_KEYS[name] then
            fail("listen: tls: unknown key \"" .. tostring(k) .. "\"", level + 1)
        end
        if o[name] ~= nil then
            fail("listen: tls: " .. name .. " given twice", level + 1)
        end
        o[name] = v
    end
    for _, k in ipairs({ "cert", "key", "ca", "ciphers", "ciphersuites" }) do
        local v = o[k]
        if v ~= nil and (type(v) ~= "string" or v == "") then
            fail("listen: tls: " .. k .. " must be a non-empty string", level + 1)
        end
    end
    if o.cert == nil or o.key == nil then
        fail("listen: tls needs cert and key", level + 1)
    end
    local mv = o.min_version
    if mv ~= nil then
        local names = { [0] = "1.0", "1.1", "1.2", "1.3" }
        if type(mv) == "number" and t.ssl_min_version ~= nil then
            mv = names[mv] -- memcached's 0..3
        elseif type(mv) == "number" then
            mv = string.format("%.1f", mv)
        elseif type(mv) == "string" then
            mv = mv:lower():gsub("^tlsv?", "")
        end
        if mv ~= "1.0" and mv ~= "1.1" and mv ~= "1.2" and mv ~= "1.3" then
            fail("listen: tls: min_version must be \"1.0\", \"1.1\", \"1.2\" "
                 .. "or \"1.3\"", level + 1)
        end
    end
    local verify = 0
    if o.verify_client ~= nil and o.verify_mode ~= nil then
        fail("listen: tls: give verify_client or ssl_verify_mode, not both", level + 1)
    elseif o.verify_client ~= nil then
        if type(o.verify_client) ~= "boolean" then
            fail("listen: tls: verify_client must be true or false", level + 1)
        end
        verify = o.verify_client and 2 or 0
    elseif o.verify_mode ~= nil then
        local m = tonumber(o.verify_mode)
        if m == nil or m < 0 or m > 3 or m ~= math.floor(m) then
            fail("listen: tls: ssl_verify_mode must be 0, 1, 2 or 3", level + 1)
        end
        verify = m == 3 and 2 or m
    end
    if verify ~= 0 and o.ca == nil then
        fail("listen: tls: verifying client certificates needs ca", level + 1)
    end
    -- allow_names = { "client1", "app.example.com" }: a client certificate
    -- must name one of them (DNS subjectAltName or CN, exact match)
    local names = o.allow_names
    if names ~= nil then
        if type(names) ~= "table" or #names == 0 then
            fail("listen: tls: allow_names must be a list of names { \"client1\", ... }", level + 1)
        end
        for k, v in pairs(names) do
            if type(k) ~= "number" or type(v) ~= "string" or v == "" then
                fail("listen: tls: allow_names must be a list of non-empty strings", level + 1)
            end
        end
        if #names > 256 then
            fail("listen: tls: allow_names: at most 256 names", level + 1)
        end
        if verify ~= 2 then
            fail("listen: tls: allow_names needs verify_client = true (ssl_verify_mode 2 or 3)", level + 1)
        end
    end
    return { cert = o.cert, key = o.key, ca = o.ca, ciphers = o.ciphers,
             ciphersuites = o.ciphersuites, min_version = mv, verify = verify,
             allow_names = names }
end

-- listen { port = 11211, address = "127.0.0.1", routes = {...} }
-- listen { unix = "/run/rend.sock", unix_mode = "0700", routes = {...} }
-- listen { ..., auth = { file = "/etc/rend/auth" }, flush = false }
function M.listen(l)
    if type(l) ~= "table" then
        fail("listen: expects a table", 2)
    end
    if l.unix == nil and l.port == nil then
        fail("listen: needs a port or a unix socket path", 2)
    end
    if l.port ~= nil then
        local p = tonumber(l.port)
        if p == nil or p < 0 or p > 65535 or p ~= math.floor(p) then
            fail("listen: port must be an integer from 0 to 65535", 2)
        end
        l.port = p
    end
    if l.routes == nil then
        fail("listen: routes missing", 2)
    end
    -- auth = { file = "/etc/rend/auth" }: clients must authenticate (text:
    -- memcached's `set` with "user password", binary: SASL PLAIN) against
    -- that file's user:password lines; read again on every reload
    if l.auth ~= nil then
        if type(l.auth) ~= "table" then
            fail("listen: auth must be a table: auth = { file = \"/path\" }", 2)
        end
        for k, _ in pairs(l.auth) do
            if k ~= "file" then
                fail("listen: auth: unknown field \"" .. tostring(k) .. "\"", 2)
            end
        end
        if type(l.auth.file) ~= "string" or l.auth.file == "" then
            fail("listen: auth.file must be the path of a user:password file", 2)
        end
    end
    -- flush = false: this listener refuses flush_all (as memcached -F)
    if l.flush ~= nil and type(l.flush) ~= "boolean" then
        fail("listen: flush must be true or false", 2)
    end
    if l.tls ~= nil then
        if l.unix ~= nil then
            fail("listen: tls is for TCP listeners, not unix sockets", 2)
        end
        l.tls = check_tls(l.tls, 2)
    end
    check_routes(l.routes, "listen", 2)
    if #R.listeners >= MAX_LISTENERS then
        fail("listen: at most " .. MAX_LISTENERS .. " listeners", 2)
    end
    -- rend -m MB: the memory of the first listener's in-process L1
    local mb = os.getenv("REND_CLI_MEMORY_MB")
    if mb ~= nil and #R.listeners == 0 then
        local d = l.routes.default
        local hs = d.strategy == "lua" and {} or { d.l1 }
        for _, h in ipairs(hs) do
            if h.plugin == "inmem" then
                h.options.memory_mb = mb
            end
        end
    end
    local file, line = where(2)
    l.file, l.line = file, line
    R.listeners[#R.listeners + 1] = l
    return l
end

-- settings { threads = 4, max_connections = 4096, item_size_max = 1048576 }
function M.settings(s)
    if type(s) ~= "table" then
        fail("settings: expects a table", 2)
    end
    local known = { threads = true, max_connections = true, item_size_max = true,
                    idle_timeout = true, read_timeout = true,
                    conn_buffer_mb = true }
    for k, v in pairs(s) do
        if not known[k] then
            fail("settings: unknown setting \"" .. tostring(k) .. "\"", 2)
        end
        if type(v) ~= "number" or v < 0 or v ~= math.floor(v) then
            fail("settings: " .. k .. " must be a non-negative integer", 2)
        end
        local r = SETTING_RANGE[k]
        if v ~= 0 and (v < r[1] or v > r[2]) then
            fail(string.format("settings: %s must be 0 (the default) or "
                 .. "%d..%d", k, r[1], r[2]), 2)
        end
        R.settings[k] = v
    end
end

-- admin { address = "127.0.0.1", port = 9150 }: the HTTP admin listener
-- (/metrics, /healthz, /readyz, /reload, /config).  Off unless declared;
-- port 0 takes any free port (written to the --port-file, see README).
function M.admin(a)
    if type(a) ~= "table" then
        fail("admin: expects a table", 2)
    end
    if R.admin ~= nil then
        fail("admin: declared twice", 2)
    end
    for k, _ in pairs(a) do
        if k ~= "address" and k ~= "port" then
            fail("admin: unknown field \"" .. tostring(k) .. "\"", 2)
        end
    end
    local p = a.port
    if p == nil then
        p = 9150
    end
    p = tonumber(p)
    if p == nil or p < 0 or p > 65535 or p ~= math.floor(p) then
        fail("admin: port must be an integer from 0 to 65535", 2)
    end
    if a.address ~= nil and (type(a.address) ~= "string" or a.address == "") then
        fail("admin: address must be a non-empty string", 2)
    end
    local file, line = where(2)
    R.admin = { address = a.address or "127.0.0.1", port = p,
                file = file, line = line }
end

-- env("NAME", default): the environment variable, or default.
function M.env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then
        return default
    end
    return v
end

M.__result = R
return M
