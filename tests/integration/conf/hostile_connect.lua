-- hostile_connect.lua: it_hostile: rend in front of one memcached on TCP
-- (127.0.0.1:$REND_MC_PORT), one worker, a short connect timeout, and a
-- route function that keeps the worker busy for 0.6 s on the key "spin"
-- (a long loop iteration, as a loaded or ASan-built worker has).
local mc = handler "memcached" {
    name = "mc",
    servers = "127.0.0.1:" .. env("REND_MC_PORT", "1"),
    connect_timeout_ms = 200,
    timeout_ms = 5000,
    fail_limit = 1,
    retry_ms = 5000,
}
local direct = l1only(mc)

listen { address = "127.0.0.1", port = 0, routes = {
    default = route_fn(function(cmd, key)
        if key == "spin" then
            local t = os.clock() + 0.6
            while os.clock() < t do end
        end
        return direct
    end, { direct }),
} }
