# python_memcache_api.py HOST:PORT - exercises python-memcached's API
# (Debian python3-memcache); one "check<TAB>result" line per check (see
# harness.sh).  --check: is the client installed?
import re
import sys

import memcache

if sys.argv[1] == "--check":
    print("python-memcached", memcache.__version__)
    sys.exit(0)

c = memcache.Client([sys.argv[1]], cache_cas=True, socket_timeout=10,
                    dead_retry=0)
BIG = "".join(chr(32 + i % 90) for i in range(500 * 1024))


def check(name, fn):
    try:
        r = fn()
    except Exception as e:
        r = "EXC %s" % type(e).__name__
    print("%s\t%r" % (name, r))
    sys.stdout.flush()


def cas_cycle():
    c.set("pc", "1")
    v = c.gets("pc")
    ok = c.cas("pc", "2")
    c.reset_cas()
    c.gets("pc")
    c.set("pc", "other")  # changes the cas under the one we hold
    stale = c.cas("pc", "3")
    return (v, ok, stale, c.get("pc"))


def stats():
    s = c.get_stats()
    d = s[0][1] if s else {}
    want = ["pid", "uptime", "version", "curr_connections", "cmd_get",
            "cmd_set", "get_hits", "get_misses", "curr_items", "total_items",
            "bytes", "limit_maxbytes", "evictions", "threads"]
    return (len(s), [k for k in want if k not in d],
            re.match(r"^\d+\.\d+\.\d+$", d.get("version", "")) is not None)


check("flush_all", lambda: c.flush_all())
check("set", lambda: c.set("p1", "v1"))
check("get", lambda: c.get("p1"))
check("get_miss", lambda: c.get("nope"))
check("set_int", lambda: (c.set("pi", 42), c.get("pi")))
check("set_obj", lambda: (c.set("po", {"a": [1, 2]}), c.get("po")))
check("set_multi", lambda: c.set_multi({"m1": "a", "m2": "b", "m3": "c"}))
check("get_multi", lambda: sorted(c.get_multi(["m1", "m2", "m3", "no"])
                                  .items()))
check("set_multi_prefix", lambda: (c.set_multi({"1": "x", "2": "y"},
                                               key_prefix="pp_"),
                                   sorted(c.get_multi(["1", "2"],
                                                      key_prefix="pp_")
                                          .items())))
check("add_new", lambda: c.add("a1", "x"))
check("add_exists", lambda: c.add("a1", "y"))
check("replace", lambda: c.replace("a1", "z"))
check("replace_miss", lambda: c.replace("nope", "z"))
check("append", lambda: (c.append("a1", "++"), c.get("a1")))
check("prepend", lambda: (c.prepend("a1", "--"), c.get("a1")))
check("delete", lambda: c.delete("a1"))
check("delete_miss", lambda: c.delete("a1"))
check("delete_multi", lambda: (c.delete_multi(["m1", "m2"]),
                               c.get_multi(["m1", "m2", "m3"])))
check("incr", lambda: (c.set("n", "10"), c.incr("n", 5)))
check("decr", lambda: c.decr("n", 20))
check("incr_miss", lambda: c.incr("nope"))
check("gets", lambda: c.gets("p1"))
check("cas", cas_cycle)
check("touch", lambda: c.touch("p1", 100))
check("touch_miss", lambda: c.touch("nope", 100))
check("noreply_batch", lambda: (
    [c.set("q%d" % i, "v%d" % i, noreply=True) for i in range(50)][-1],
    c.delete("q0", noreply=True), len(c.get_multi(["q%d" % i
                                                   for i in range(50)]))))
check("noreply_then_big", lambda: (c.set("nb", "x", noreply=True),
                                   c.set("big", BIG), c.get("big") == BIG))
MANY = ["many_key_%05d_%s" % (i, "x" * 10) for i in range(1500)]
check("get_multi_long_line", lambda: (
    c.set_multi({k: k[-5:] for k in MANY[::100]}),
    sorted(c.get_multi(MANY).items())))
check("big", lambda: (c.set("big2", BIG), c.get("big2") == BIG))
check("too_big", lambda: c.set("huge", "x" * (2 * 1024 * 1024)))
check("expire", lambda: (c.set("e", "x", time=-1), c.get("e")))
check("stats", stats)
check("flush_then_get", lambda: (c.flush_all(), c.get("p1")))
c.disconnect_all()
