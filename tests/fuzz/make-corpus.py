#!/usr/bin/env python3
"""make-corpus.py - write the seed corpus of the fuzz targets
(tests/fuzz/corpus/{text,binary,meta,config}/).  Run from anywhere; it
replaces the seed files it owns (seed-*) and leaves other files (crash
regressions, minimised finds) alone."""

import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


TEXT = {
    "set": b"set k 0 0 5\r\nhello\r\n",
    "set-noreply": b"set k 5 100 3 noreply\r\nabc\r\nget k\r\n",
    "add": b"add k 0 0 1\r\nx\r\nadd k 0 0 1\r\ny\r\n",
    "replace": b"replace k 0 0 2\r\nzz\r\n",
    "append": b"set k 0 0 1\r\na\r\nappend k 0 0 1\r\nb\r\nprepend k 0 0 1\r\nc\r\nget k\r\n",
    "cas": b"set k 0 0 1\r\na\r\ngets k\r\ncas k 0 0 1 1\r\nb\r\ncas k 0 0 1 999\r\nc\r\n",
    "get-multi": b"get a b c d e f g h\r\n",
    "gets": b"gets k\r\n",
    "gat": b"gat 100 k\r\ngats 0 k j\r\n",
    "touch": b"touch k 10\r\ntouch k 0 noreply\r\n",
    "delete": b"delete k\r\ndelete k 0\r\ndelete k noreply\r\n",
    "incr": b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\nincr x 1\r\n",
    "misc": b"version\r\nverbosity 1\r\nverbosity 0 noreply\r\nflush_all\r\nflush_all 10\r\nquit\r\n",
    "stats": b"stats\r\nstats settings\r\nstats items\r\nstats slabs\r\nstats detail on\r\nstats reset\r\nstats nope\r\n",
    "bad-lines": b"\r\n  \r\nbogus\r\nset\r\nset k\r\nset k 0 0\r\nset k a b c\r\nget\r\nincr k abc\r\n",
    "too-long-key": b"get " + b"k" * 251 + b"\r\nset " + b"k" * 251 + b" 0 0 1\r\nx\r\n",
    "bad-data-end": b"set k 0 0 3\r\nabcde\r\nget k\r\n",
    "huge-length": b"set k 0 0 4294967295\r\nabc\r\nset k 0 0 2000000\r\n" + b"x" * 100 + b"\r\n",
    "negative": b"set k 0 -1 1\r\nx\r\nset k -1 0 1\r\nx\r\nincr k -1\r\n",
    "lf-only": b"set k 0 0 1\nx\nget k\nversion\n",
    "big-value": b"set big 0 0 70000\r\n" + b"v" * 70000 + b"\r\nget big big big\r\n",
    "pipelined": b"set a 0 0 1\r\n1\r\nget a\r\ndelete a\r\nget a\r\nadd a 0 0 1\r\n2\r\nincr a 1\r\ngets a\r\nmg a v\r\nmn\r\n",
    "noreply-mix": b"set a 0 0 1 noreply\r\n1\r\nadd a 0 0 1 noreply\r\n2\r\nincr a 1 noreply\r\ndelete a noreply\r\nget a\r\n",
    "shutdown": b"shutdown\r\nshutdown graceful\r\n",
    "many-keys": b"get " + b" ".join(b"k%d" % i for i in range(300)) + b"\r\n",
    "long-line": b"get " + b"x " * 3000 + b"\r\n",
    "nul": b"get a\x00b\r\nset a\x00 0 0 1\r\nx\r\n",
}
for name, data in TEXT.items():
    put("text", name + ".txt", data)

META = {
    "mg": b"mg k v\r\nmg k s v f t c k O123 q\r\nmg k\r\nmn\r\n",
    "mg-flags": b"mg k h l t N30 T30 R10 E5 v\r\nmg k bogus\r\nmg k vv\r\n",
    "ms": b"ms k 5\r\nhello\r\nms k 2 T10 F5 c k O1\r\nhi\r\nmg k v f\r\n",
    "ms-modes": b"ms k 1 MS\r\na\r\nms k 1 ME\r\nb\r\nms k 1 MA\r\nc\r\nms k 1 MP\r\nd\r\nms k 1 MR\r\ne\r\nms k 1 MX\r\nf\r\n",
    "ms-cas": b"ms k 1 I\r\na\r\nms k 1 C1\r\nb\r\nms k 1 C999 q\r\nc\r\nmn\r\n",
    "ms-bad": b"ms k\r\nms k abc\r\nms k 4294967296\r\nx\r\nms k -1\r\n",
    "md": b"md k\r\nmd k q\r\nmd k I T30\r\nmd k C5 O9 k\r\nmn\r\n",
    "ma": b"ma n N0 J13 v\r\nma n MI D5 v t c\r\nma n MD D100 v\r\nma n q\r\nma x\r\nmn\r\n",
    "base64": b"ms aGVsbG8= 1 b\r\nx\r\nmg aGVsbG8= b v k\r\nmd aGVsbG8= b\r\nmg !!!! b\r\n",
    "me": b"me k\r\nme\r\nmn\r\n",
    "mixed": b"mg a v\r\nset a 0 0 1\r\n1\r\nmg a v s f\r\nget a\r\nma a\r\nmd a q\r\nmg a v\r\nmn\r\n",
    "quiet": b"mg a v q\r\nmg b v q k\r\nms c 1 q\r\nx\r\nmd d q\r\nma e q\r\nmn\r\n",
    "stale": b"ms k 1\r\nx\r\nmd k I\r\nmg k v c\r\nms k 1 I\r\ny\r\nmg k v\r\n",
    "long-key": b"mg " + b"k" * 251 + b" v\r\nms " + b"k" * 300 + b" 1\r\nx\r\n",
    # runs of quiet mg lines that fold into one request (same flags, an
    # opaque per line), broken by other flags, a long opaque, a bare \n
    "fold": b"ms a 1\r\nx\r\nmg a v f k q\r\nmg b v f k q\r\nmg a v f k q\r\n"
            b"mg a v k O1 q\r\nmg b v k O22 q\r\nmg a v k O" + b"o" * 40
            + b" q\r\nmg a v q\nmg b v q\nmg a s c v q\r\nmg b s c v q\r\nmn\r\n",
}
for name, data in META.items():
    put("meta", name + ".txt", data)


def bpkt(op, key=b"", extras=b"", val=b"", opaque=0, cas=0, bodylen=None):
    body = len(extras) + len(key) + len(val)
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0,
                       body if bodylen is None else bodylen, opaque, cas) + extras + key + val


SETX = struct.pack(">II", 5, 0)
BIN = {
    "get": bpkt(0x00, b"k"),
    "set-get": bpkt(0x01, b"k", SETX, b"hello") + bpkt(0x00, b"k") + bpkt(0x0c, b"k"),
    "add-replace": bpkt(0x02, b"k", SETX, b"a") + bpkt(0x03, b"k", SETX, b"b") + bpkt(0x03, b"zz", SETX, b"c"),
    "delete": bpkt(0x04, b"k") + bpkt(0x14, b"k") + bpkt(0x0a),
    "incr": bpkt(0x05, b"n", struct.pack(">QQI", 1, 10, 0)) + bpkt(0x06, b"n", struct.pack(">QQI", 3, 0, 0xffffffff)) + bpkt(0x15, b"n", struct.pack(">QQI", 1, 0, 0)),
    "quiet-gets": bpkt(0x09, b"a") + bpkt(0x0d, b"b") + bpkt(0x09, b"c") + bpkt(0x0a),
    "quiet-sets": bpkt(0x11, b"a", SETX, b"1") + bpkt(0x12, b"b", SETX, b"2") + bpkt(0x13, b"a", SETX, b"3") + bpkt(0x0a),
    "append": bpkt(0x01, b"k", SETX, b"m") + bpkt(0x0e, b"k", b"", b"r") + bpkt(0x0f, b"k", b"", b"l") + bpkt(0x19, b"k", b"", b"x") + bpkt(0x1a, b"k", b"", b"y") + bpkt(0x00, b"k"),
    "misc": bpkt(0x0b) + bpkt(0x0a) + bpkt(0x10) + bpkt(0x10, b"settings") + bpkt(0x08, extras=struct.pack(">I", 0)) + bpkt(0x18) + bpkt(0x07),
    "touch-gat": bpkt(0x1c, b"k", struct.pack(">I", 10)) + bpkt(0x1d, b"k", struct.pack(">I", 10)) + bpkt(0x1e, b"k", struct.pack(">I", 0)) + bpkt(0x0a),
    "cas": bpkt(0x01, b"k", SETX, b"a") + bpkt(0x01, b"k", SETX, b"b", cas=1) + bpkt(0x01, b"k", SETX, b"b", cas=123456),
    "gete": bpkt(0x40, b"k") + bpkt(0x41, b"k") + bpkt(0x0a),
    "unknown-op": bpkt(0x7f, b"k") + bpkt(0xff) + bpkt(0x0a),
    "bad-lengths": bpkt(0x01, b"k", SETX, b"x", bodylen=2) + bpkt(0x00, b"k"),
    "bad-extras": bpkt(0x01, b"k", b"\x00", b"x") + bpkt(0x00, b"k", b"\x00\x00\x00\x00"),
    "huge-body": bpkt(0x01, b"k", SETX, b"x", bodylen=0xffffffff),
    "bad-magic": bpkt(0x00, b"k")[:0] + b"\x80" + bpkt(0x00, b"k")[1:] + b"\x81" + bpkt(0x00, b"k")[1:],
    "long-key": bpkt(0x00, b"k" * 251) + bpkt(0x01, b"k" * 300, SETX, b"v"),
    "big-value": bpkt(0x01, b"big", SETX, b"v" * 70000) + bpkt(0x00, b"big"),
    "text-after": bpkt(0x0a) + b"get k\r\n",
    "sasl": bpkt(0x20) + bpkt(0x21, b"PLAIN", b"", b"\x00u\x00p") + bpkt(0x22, b"PLAIN"),
}
for name, data in BIN.items():
    put("binary", name + ".bin", data)


def strip_comments(text):
    out = []
    for line in text.splitlines():
        line = re.sub(r"--.*$", "", line)
        if line.strip():
            out.append(line)
    return "\n".join(out) + "\n"


CONF = os.path.join(SRC, "conf")
for f in sorted(os.listdir(CONF)):
    if f.endswith(".lua"):
        text = strip_comments(open(os.path.join(CONF, f)).read())
        # the fuzz target skips any config with a '/' in it
        text = text.replace("/", "_")
        put("config", f, text.encode())

CONFS = {
    "minimal.lua": 'listen { port = 0, routes = { default = l1only(handler "inmem" { name = "a" }) } }\n',
    "prefixes.lua": 'local a = handler "inmem" { name = "a", memory_mb = 8 }\n'
                    'local b = handler "inmem" { name = "b", memory_mb = 8 }\n'
                    'listen { name = "x", port = 0, routes = { default = l1only(a),\n'
                    '  prefixes = { ["user:"] = l1only(b), ["s:"] = { get = l1only(a), set = l1only(b) } } } }\n',
    "settings.lua": 'settings { threads = 2, max_conns = 100, item_size_max = 2097152, idle_timeout = 5,\n'
                    '  read_timeout = 3, conn_buffer_mb = 16 }\n'
                    'listen { port = 0, routes = { default = l1only(handler "inmem" { name = "a" }) } }\n',
    "two-listeners.lua": 'local a = handler "inmem" { name = "a" }\n'
                         'listen { port = 0, routes = { default = l1only(a) } }\n'
                         'listen { address = "127.0.0.1", port = 0, routes = { default = l1only(a) } }\n'
                         'admin { port = 0 }\n',
    "memcached.lua": 'local m = handler "memcached" { name = "m", servers = "127.0.0.1:1,127.0.0.1:2", replicas = 2 }\n'
                     'listen { port = 0, routes = { default = l1only(m), get = l1only(m) } }\n',
    "l1l2.lua": 'local a = handler "inmem" { name = "a" }\nlocal b = handler "inmem" { name = "b" }\n'
                'listen { port = 0, routes = { default = l1l2(a, b), delete = l1l2(a, b) } }\n',
    "errors.lua": 'listen { port = "x", routes = { } }\n',
    "unknown-handler.lua": 'listen { port = 0, routes = { default = l1only(handler "nope" { name = "n" }) } }\n',
    "bad-option.lua": 'listen { port = 0, routes = { default = l1only(handler "inmem" { name = "a", memory_mbb = 1 }) } }\n',
    "syntax.lua": 'listen { port = 0, routes = { default = l1only(handler "inmem" { name = "a" } }\n',
}
for name, text in CONFS.items():
    put("config", name, text.encode())
