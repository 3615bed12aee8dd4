# pymemcache_api.py HOST:PORT - exercises pymemcache's API; one
# "check<TAB>result" line per check (see harness.sh).  --check: is the
# client installed?
import re
import sys

from pymemcache.client.base import Client

if sys.argv[1] == "--check":
    print("pymemcache", __import__("pymemcache").__version__)
    sys.exit(0)

host, port = sys.argv[1].rsplit(":", 1)
c = Client((host, int(port)), connect_timeout=5, timeout=10)
BIG = bytes(range(256)) * 1954 + b"end"  # 500 KB, every byte value


def check(name, fn):
    try:
        r = fn()
    except Exception as e:  # a client error is a result too
        r = "EXC %s" % type(e).__name__
    print("%s\t%r" % (name, r))
    sys.stdout.flush()


def cas_cycle():
    c.set("pc", "1", noreply=False)
    v, cas = c.gets("pc")
    ok = c.cas("pc", "2", cas, noreply=False)
    stale = c.cas("pc", "3", cas, noreply=False)
    return (v, ok, stale, c.get("pc"))


def version_ok():
    return re.match(r"^\d+\.\d+\.\d+$", c.version().decode()) is not None


def stats_fields():
    s = c.stats()
    want = [b"pid", b"uptime", b"time", b"version", b"curr_connections",
            b"total_connections", b"cmd_get", b"cmd_set", b"get_hits",
            b"get_misses", b"curr_items", b"total_items", b"bytes",
            b"limit_maxbytes", b"evictions", b"threads", b"cmd_flush",
            b"cmd_touch", b"get_expired", b"get_flushed", b"pointer_size",
            b"rusage_user", b"rusage_system", b"max_connections"]
    return [k.decode() for k in want if k not in s]


check("flush_all", lambda: c.flush_all(noreply=False))
check("set", lambda: c.set("p1", "v1", noreply=False))
check("get", lambda: c.get("p1"))
check("get_miss", lambda: c.get("nope"))
check("set_flags", lambda: (c.set("pf", b"x", flags=7, noreply=False),
                            c.get("pf")))
check("set_many", lambda: c.set_many({"m1": "a", "m2": "b", "m3": "c"},
                                     noreply=False))
check("get_many", lambda: sorted(c.get_many(["m1", "m2", "m3", "nope"])
                                 .items()))
check("add_new", lambda: c.add("a1", "x", noreply=False))
check("add_exists", lambda: c.add("a1", "y", noreply=False))
check("replace", lambda: c.replace("a1", "z", noreply=False))
check("replace_miss", lambda: c.replace("nope", "z", noreply=False))
check("append", lambda: (c.append("a1", "++", noreply=False), c.get("a1")))
check("prepend", lambda: (c.prepend("a1", "--", noreply=False), c.get("a1")))
check("append_miss", lambda: c.append("nope", "x", noreply=False))
check("delete", lambda: c.delete("a1", noreply=False))
check("delete_miss", lambda: c.delete("a1", noreply=False))
check("delete_many", lambda: c.delete_many(["m1", "m2"], noreply=False))
check("incr", lambda: (c.set("n", "10", noreply=False), c.incr("n", 5)))
check("decr", lambda: c.decr("n", 20))
check("incr_miss", lambda: c.incr("nope", 1))
check("incr_nonnumeric", lambda: (c.set("s", "abc", noreply=False),
                                  c.incr("s", 1)))
check("gets", lambda: c.gets("p1")[0])
check("cas", cas_cycle)
check("cas_miss", lambda: c.cas("nope", "x", 1, noreply=False))
check("touch", lambda: c.touch("p1", 100, noreply=False))
check("touch_miss", lambda: c.touch("nope", 100, noreply=False))
# noreply batches (pymemcache's default): one write, then a read
check("noreply_set_many", lambda: (
    c.set_many({"q%d" % i: "v%d" % i for i in range(50)}),
    len(c.get_many(["q%d" % i for i in range(50)]))))
check("noreply_mix", lambda: (
    c.flush_all(), c.set("r1", "1"), c.incr("r1", 4, noreply=True),
    c.delete("r2"), c.add("r2", "x"), c.get_many(["r1", "r2"])))
check("noreply_big", lambda: (c.set("big1", BIG), c.get("big1") == BIG))
check("key_250", lambda: (c.set("k" * 250, "long", noreply=False),
                          c.get("k" * 250), c.get_many(["k" * 250, "k"])))
check("key_251", lambda: c.set("k" * 251, "x", noreply=False))
# one get line of 1500 keys (~40 KB): past memcached's 2048-byte limit for
# other commands, within rend's line limit
MANY = ["many_key_%05d_%s" % (i, "x" * 10) for i in range(1500)]
check("get_many_long_line", lambda: (
    c.set_many({k: k[-5:] for k in MANY[::100]}, noreply=False),
    sorted(c.get_many(MANY).items())))
check("big", lambda: (c.set("big", BIG, noreply=False),
                      c.get("big") == BIG))
check("big_many", lambda: (c.set_many({"b1": BIG, "b2": BIG[::-1]}),
                           sorted((k, v == BIG) for k, v in
                                  c.get_many(["b1", "b2"]).items())))
check("too_big", lambda: c.set("huge", b"x" * (2 * 1024 * 1024),
                               noreply=False))
check("expire", lambda: (c.set("e", "x", expire=-1, noreply=False),
                         c.get("e")))
check("stats_fields_missing", stats_fields)
check("stats_settings", lambda: b"maxconns" in c.stats("settings"))
check("version", version_ok)
check("cache_memlimit", lambda: c.cache_memlimit(64))
# the meta protocol through pymemcache's own command path
check("meta_mg", lambda: (c.set("mk", "mv", noreply=False),
                          c._misc_cmd([b"mg mk v t\r\n"], b"mg", False)))
check("flush_then_get", lambda: (c.flush_all(noreply=False), c.get("p1")))
c.quit()
