#!/usr/bin/env python3
"""netfuzz.py - a network fuzzer for the real rend binary.

Starts rend (ideally an --enable-asan build) on one topology, then runs
for --duration seconds:

  * --procs fuzzing processes, each opening connection after connection
    and sending a generated stream of text, binary and meta commands
    (valid ones, near-valid ones and garbage), mutated at random and
    written in chunks split at random boundaries, reading (or not reading)
    the replies, and closing gracefully, half-closed, or with a reset;
  * one clean client (text, meta and binary connections) that writes
    unique keys with values derived from the key and reads them back,
    old and new, checking every byte.

It fails (exit 1) when rend crashes or exits, when the clean client sees
a wrong value, a lost key, an error reply, or no reply within --timeout
seconds (a hang), when rend does not stop on SIGTERM, or when its stderr
holds a sanitizer report.  It prints the counts at the end.

rend runs with -F (flush_all refused): a mutated stream produces a flush
sooner or later, and a flush would wipe the clean client's keys.  The
fuzzers never generate the clean client's key prefix.

Topologies (--topology): inmem (conf/inmem.lua), lmdb (conf/rend.lua, the
default L1 inmem + L2 lmdb), proxy (L1 only, a memcached handler in front
of a memcached started here), chunked (the same in chunked mode).

Example (an ASan build in /tmp/fuzzasan):
  tests/fuzz/netfuzz.py --build /tmp/fuzzasan --topology inmem --duration 1800
"""

import argparse
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SRCDIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# ---- stream generation ------------------------------------------------

TEXT_STORE = [b"set", b"add", b"replace", b"append", b"prepend", b"cas"]
TEXT_GET = [b"get", b"gets", b"gat", b"gats"]
TEXT_OTHER = [b"delete", b"incr", b"decr", b"touch", b"version",
              b"verbosity", b"stats", b"noop", b"mn", b"me", b"quit",
              b"shutdown", b"cache_memlimit", b"lru_crawler", b"watch",
              b"slabs", b"misbehave", b"flush_all"]
STATS_ARGS = [b"", b" items", b" slabs", b" settings", b" sizes", b" conns",
              b" detail on", b" detail dump", b" reset", b" bogus", b" l1",
              b" handlers", b" routes", b" latency"]
MG_FLAGS = "bcfhklOqstuvNRTEx"
MS_FLAGS = "bcCfFIkMOqstTSEx"
MD_FLAGS = "bcCIkOqtTx"
MA_FLAGS = "bcCDJkMNOqtTvx"
NUMS = [b"0", b"1", b"-1", b"2", b"10", b"255", b"4294967295", b"4294967296",
        b"18446744073709551615", b"18446744073709551616", b"99999999999999999999",
        b"abc", b"", b"0x10", b"+5", b" 5", b"1e9", b"-0", b"007"]
# binary opcodes, flush (0x08, 0x18) included: rend runs with -F
BIN_OPS = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
           0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
           0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x20, 0x21,
           0x22, 0x40, 0x41, 0x7f, 0xff]


ODD_KEYS = [bytes(random.Random(i).choice(b"fz:_-./0123456789")
                  for _ in range(random.Random(i).randrange(1, 40)))
            for i in range(500)]


def fkey(rng):
    """A fuzzer key: never the clean client's prefix, and from a bounded
    set (about 1000 keys), so the fuzzers' values cannot fill the cache
    and evict the clean client's keys."""
    r = rng.random()
    if r < 0.6:
        return b"fz%d" % rng.randrange(200)
    if r < 0.7:
        return b"fz" + b"k" * rng.choice([1, 100, 240, 248, 249, 250, 251, 300])
    if r < 0.8:
        return rng.choice(ODD_KEYS)
    if r < 0.9:
        return b"fzbin\x00\x01\xff" + bytes([rng.randrange(33, 127)])
    return b""


def fval(rng):
    r = rng.random()
    if r < 0.5:
        n = rng.randrange(0, 64)
    elif r < 0.8:
        n = rng.randrange(64, 4096)
    elif r < 0.97:
        n = rng.randrange(4096, 70000)
    else:
        n = rng.randrange(70000, 1200000)
    return bytes([rng.randrange(256)]) * n if rng.random() < 0.5 else os.urandom(n)


def num(rng):
    return rng.choice(NUMS) if rng.random() < 0.3 else b"%d" % rng.randrange(1000)


def text_cmd(rng):
    r = rng.random()
    if r < 0.35:
        cmd = rng.choice(TEXT_STORE)
        v = fval(rng)
        n = len(v)
        if rng.random() < 0.1:
            n = max(0, n + rng.choice([-2, -1, 1, 2, 1 << 20, 1 << 31]))
        parts = [cmd, fkey(rng), num(rng), num(rng), b"%d" % n]
        if cmd == b"cas":
            parts.append(num(rng))
        if rng.random() < 0.2:
            parts.append(b"noreply")
        if rng.random() < 0.05:
            parts.append(b"extra")
        return b" ".join(parts) + b"\r\n" + v + (b"\r\n" if rng.random() < 0.95 else b"xx")
    if r < 0.6:
        cmd = rng.choice(TEXT_GET)
        parts = [cmd]
        if cmd in (b"gat", b"gats"):
            parts.append(num(rng))
        for _ in range(rng.choice([0, 1, 1, 1, 2, 5, 30, 300])):
            parts.append(fkey(rng))
        return b" ".join(parts) + b"\r\n"
    if r < 0.8:
        return meta_cmd(rng)
    cmd = rng.choice(TEXT_OTHER)
    if cmd == b"stats":
        return cmd + rng.choice(STATS_ARGS) + b"\r\n"
    if cmd in (b"incr", b"decr", b"touch"):
        return b" ".join([cmd, fkey(rng), num(rng)]) + (b" noreply" if rng.random() < 0.2 else b"") + b"\r\n"
    if cmd == b"delete":
        return b" ".join([cmd, fkey(rng)] + ([num(rng)] if rng.random() < 0.2 else [])) + b"\r\n"
    if cmd == b"verbosity":
        return b"verbosity " + num(rng) + b"\r\n"
    if cmd == b"quit" and rng.random() < 0.8:
        return b"version\r\n"  # keep most streams going
    if cmd == b"flush_all":
        return b"flush_all" + (b" " + num(rng) if rng.random() < 0.5 else b"") + b"\r\n"
    return cmd + b"\r\n"


def mflags(rng, valid):
    out = []
    for _ in range(rng.randrange(0, 8)):
        f = rng.choice(valid)
        if rng.random() < 0.5:
            tok = f + rng.choice(["", "0", "1", "30", "-1", "999999999999", "abc", "E", "I", "N", "A", "P", "S"])
        else:
            tok = f
        out.append(tok.encode())
    return out


def meta_cmd(rng):
    r = rng.random()
    key = fkey(rng)
    if rng.random() < 0.1:
        import base64
        key = base64.b64encode(key or b"fz")
    if r < 0.35:
        return b" ".join([b"mg", key] + mflags(rng, MG_FLAGS)) + b"\r\n"
    if r < 0.65:
        v = fval(rng) if rng.random() < 0.9 else b""
        n = len(v)
        if rng.random() < 0.1:
            n += rng.choice([-1, 1, 1 << 30])
        return b" ".join([b"ms", key, b"%d" % n] + mflags(rng, MS_FLAGS)) + b"\r\n" + v + b"\r\n"
    if r < 0.8:
        return b" ".join([b"md", key] + mflags(rng, MD_FLAGS)) + b"\r\n"
    if r < 0.95:
        return b" ".join([b"ma", key] + mflags(rng, MA_FLAGS)) + b"\r\n"
    return rng.choice([b"mn\r\n", b"me " + key + b"\r\n", b"mz x\r\n", b"m\r\n"])


def bin_cmd(rng):
    op = rng.choice(BIN_OPS)
    key = fkey(rng)
    if op in (0x01, 0x02, 0x03, 0x11, 0x12, 0x13):
        extras = struct.pack(">II", rng.randrange(1 << 32), rng.choice([0, 0, 1, 100, 0xffffffff]))
        val = fval(rng)
    elif op in (0x05, 0x06, 0x15, 0x16):
        extras = struct.pack(">QQI", rng.randrange(1 << 64), rng.randrange(1 << 64),
                             rng.choice([0, 0xffffffff, 10]))
        val = b""
    elif op in (0x1c, 0x1d, 0x1e, 0x08, 0x18):
        extras = struct.pack(">I", rng.choice([0, 1, 100]))
        val = b""
    elif op in (0x0e, 0x0f, 0x19, 0x1a):
        extras = b""
        val = fval(rng)
    else:
        extras = b""
        val = b""
    if rng.random() < 0.1:
        extras = os.urandom(rng.randrange(0, 30))
    body = len(extras) + len(key) + len(val)
    klen, elen, blen = len(key), len(extras), body
    if rng.random() < 0.1:
        blen = rng.choice([0, body - 1, body + 1, 0xffffffff, 1 << 24, rng.randrange(1 << 32)]) & 0xffffffff
    if rng.random() < 0.05:
        klen = rng.randrange(1 << 16)
    if rng.random() < 0.05:
        elen = rng.randrange(256)
    magic = 0x80 if rng.random() < 0.97 else rng.choice([0x81, 0x00, 0x7f])
    hdr = struct.pack(">BBHBBHIIQ", magic, op, klen & 0xffff, elen, 0,
                      rng.choice([0, 0, 1]), blen, rng.randrange(1 << 32),
                      rng.choice([0, 0, rng.randrange(1 << 64)]))
    return hdr + extras + key + val


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.choice([0, 0, 1, 1, 2, 4, 10])):
        if not b:
            b += os.urandom(rng.randrange(1, 10))
            continue
        i = rng.randrange(len(b))
        m = rng.randrange(8)
        if m == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif m == 1:
            b[i] = rng.randrange(256)
        elif m == 2:
            b[i:i] = os.urandom(rng.randrange(1, 16))
        elif m == 3:
            del b[i:i + rng.randrange(1, 32)]
        elif m == 4:
            j = min(len(b), i + rng.randrange(1, 64))
            b[i:i] = b[i:j] * rng.randrange(1, 4)
        elif m == 5:
            b[i:i] = rng.choice([b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\x80"])
        elif m == 6:
            b[i:i] = rng.choice(NUMS)
        else:
            b[i:i] = b" " * rng.randrange(1, 300)
    return bytes(b)


def gen_stream(rng):
    """A connection's bytes and the number of commands generated."""
    mode = rng.random()
    n = rng.choice([1, 2, 5, 10, 30, 100, 300])
    parts = []
    for _ in range(n):
        if mode < 0.5:
            c = text_cmd(rng)
        elif mode < 0.8:
            c = bin_cmd(rng)
        elif mode < 0.9:
            c = meta_cmd(rng)
        else:
            c = bin_cmd(rng) if rng.random() < 0.5 else text_cmd(rng)
        if rng.random() < 0.15:
            c = mutate(rng, c)
        parts.append(c)
    data = b"".join(parts)
    if rng.random() < 0.05:
        data = os.urandom(rng.randrange(1, 5000))
    if rng.random() < 0.05:
        data += b"get " + b"x" * rng.choice([2000, 70000, 200000]) + b"\r\n"
    if rng.random() < 0.1:
        data = mutate(rng, data)
    return data, n


# ---- the fuzzing processes --------------------------------------------

def fuzz_conn(rng, port, deadline):
    data, ncmds = gen_stream(rng)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    reads = rng.random() < 0.85
    received = 0
    pos = 0
    stall = time.monotonic()
    try:
        while pos < len(data) and time.monotonic() < deadline:
            step = rng.choice([1, 2, 3, 7, 24, 100, 1000, 4096, 65536])
            chunk = data[pos:pos + step]
            try:
                sent = s.send(chunk)
                pos += sent
                if sent:
                    stall = time.monotonic()
            except (BlockingIOError, InterruptedError):
                if time.monotonic() - stall > 1.0:
                    break  # the server stopped reading (back-pressure)
                time.sleep(0.001)
            except OSError:
                break
            if reads:
                try:
                    while True:
                        got = s.recv(262144)
                        if not got:
                            pos = len(data)
                            break
                        received += len(got)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    break
            if rng.random() < 0.02:
                time.sleep(rng.random() * 0.01)
        end = rng.random()
        if end < 0.2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif end < 0.6 and reads:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            t = time.monotonic() + 0.3
            while time.monotonic() < t:
                try:
                    got = s.recv(262144)
                    if not got:
                        break
                    received += len(got)
                except (BlockingIOError, InterruptedError):
                    time.sleep(0.002)
                except OSError:
                    break
    finally:
        s.close()
    return ncmds, pos, received


def fuzz_proc(idx, port, duration, seed, out, live):
    rng = random.Random(seed * 1000 + idx)
    deadline = time.monotonic() + duration
    conns = cmds = sent = recvd = errors = 0
    while time.monotonic() < deadline:
        try:
            c, n, r = fuzz_conn(rng, port, deadline)
        except OSError:
            errors += 1
            time.sleep(0.05)
            continue
        conns += 1
        cmds += c
        sent += n
        recvd += r
        with live.get_lock():  # running totals, for a report on failure
            live[0] += 1
            live[1] += c
    out.put((conns, cmds, sent, recvd, errors))


# ---- the clean client ---------------------------------------------------

class Fail(Exception):
    pass


class BackendError(Fail):
    """A SERVER_ERROR (or binary status >= 0x80) for a clean request."""


class Hang(Fail):
    """No reply to a clean request within the timeout."""


# Reply latencies of the clean client's requests (seconds from the end
# of a request's send to the first bytes of its reply) and when the worst
# one started, so a slow reply can be matched with rend's log.
LATENCY = []
WORST = [0.0, 0.0]  # latency, wall-clock time of its send


class Conn:
    def __init__(self, port, timeout):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.sent_at = None

    def send(self, b):
        self.s.sendall(b)
        self.sent_at = time.monotonic()

    def _replied(self):
        if self.sent_at is not None:
            lat = time.monotonic() - self.sent_at
            LATENCY.append(lat)
            if lat > WORST[0]:
                WORST[:] = [lat, time.time() - lat]
            self.sent_at = None

    def _fill(self):
        try:
            got = self.s.recv(262144)
        except socket.timeout:
            raise Hang("hang: no reply within the timeout")
        if not got:
            raise Fail("clean connection closed by the server")
        self.buf += got

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        self._replied()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        self._replied()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d


def clean_value(key, gen):
    """The value for key at write generation gen: length and bytes from both."""
    h = zlib.crc32(key + b"%d" % gen)
    n = [0, 1, 10, 100, 2047, 2049, 5000, 70000, 300000][h % 9]
    unit = key + b"#%d|" % gen
    return (unit * (n // len(unit) + 1))[:n]


def text_get(c, keys):
    c.send(b"get " + b" ".join(keys) + b"\r\n")
    got = {}
    while True:
        ln = c.line()
        if ln == b"END":
            return got
        if ln.startswith(b"SERVER_ERROR"):
            raise BackendError("get: %r" % ln)
        p = ln.split(b" ")
        if p[0] != b"VALUE" or len(p) != 4:
            raise Fail("bad get reply line %r" % ln[:100])
        v = c.exact(int(p[3]) + 2)
        if v[-2:] != b"\r\n":
            raise Fail("value of %r not followed by CRLF" % p[1])
        got[p[1]] = v[:-2]


def evictions(c):
    c.send(b"stats\r\n")
    ev = None
    while True:
        ln = c.line()
        if ln == b"END":
            return ev
        if ln.startswith(b"STAT evictions "):
            ev = int(ln.split()[2])


def clean_client(port, duration, timeout, prefix, stats, max_keys,
                 tolerate=False):
    rng = random.Random(7)
    deadline = time.monotonic() + duration
    t = Conn(port, timeout)
    m = Conn(port, timeout)
    b = Conn(port, timeout)
    gens = {}  # key -> generation last written
    n = 0
    conns = [t, m, b]
    cur = []

    def step():
        nonlocal n, t, m, b
        # a new key, or a rewrite of an old one, through one of 3 protocols
        if gens and (rng.random() < 0.3 or len(gens) >= max_keys):
            key = rng.choice(list(gens))
        else:
            key = prefix + b"%d" % n
            n += 1
        cur[:] = [key]
        gen = gens.get(key, 0) + 1
        val = clean_value(key, gen)
        proto = rng.randrange(3)
        if proto == 0:
            t.send(b"set %s %d 0 %d\r\n" % (key, gen, len(val)) + val + b"\r\n")
            r = t.line()
            if r.startswith(b"SERVER_ERROR"):
                raise BackendError("set %r: %r" % (key, r))
            if r != b"STORED":
                raise Fail("set %r: %r" % (key, r[:200]))
        elif proto == 1:
            m.send(b"ms %s %d F%d\r\n" % (key, len(val), gen) + val + b"\r\n")
            r = m.line()
            if r.startswith(b"SERVER_ERROR"):
                raise BackendError("ms %r: %r" % (key, r))
            if r != b"HD":
                raise Fail("ms %r: %r" % (key, r[:200]))
        else:
            extras = struct.pack(">II", gen, 0)
            body = extras + key + val
            b.send(struct.pack(">BBHBBHIIQ", 0x80, 0x01, len(key), 8, 0, 0,
                               len(body), 0xabcd, 0) + body)
            hdr = b.exact(24)
            magic, op, kl, el, _, status, bl, opq, cas = struct.unpack(">BBHBBHIIQ", hdr)
            rest = b.exact(bl)
            if status >= 0x80:
                raise BackendError("binary set %r: status %#x" % (key, status))
            if magic != 0x81 or status != 0 or opq != 0xabcd:
                raise Fail("binary set %r: status %#x %r" % (key, status, rest[:100]))
        gens[key] = gen
        stats["writes"] += 1
        # read back: this key now, plus a sample of old ones
        sample = [key] + [rng.choice(list(gens)) for _ in range(rng.choice([0, 1, 5, 20]))]
        cur[:] = sample
        how = rng.randrange(3)
        if how == 0:
            got = text_get(t, sample)
            for k in sample:
                if k not in got:
                    raise Fail("lost key %r (generation %d)" % (k, gens[k]))
                if got[k] != clean_value(k, gens[k]):
                    raise Fail("corrupted value of %r: %d bytes, expected %d" % (
                        k, len(got[k]), len(clean_value(k, gens[k]))))
        elif how == 1:
            for k in sample:
                m.send(b"mg %s v f\r\n" % k)
                ln = m.line()
                p = ln.split(b" ")
                if p[0] == b"SERVER_ERROR":
                    raise BackendError("mg %r: %r" % (k, ln))
                if p[0] == b"EN":
                    raise Fail("lost key %r (meta)" % k)
                if p[0] != b"VA" or len(p) < 3:
                    raise Fail("mg %r: %r" % (k, ln[:200]))
                v = m.exact(int(p[1]) + 2)[:-2]
                if v != clean_value(k, gens[k]) or p[2] != b"f%d" % gens[k]:
                    raise Fail("corrupted value of %r (meta): %r" % (k, ln[:100]))
        else:
            for k in sample:
                b.send(struct.pack(">BBHBBHIIQ", 0x80, 0x00, len(k), 0, 0, 0,
                                   len(k), 0x1234, 0) + k)
                hdr = b.exact(24)
                magic, op, kl, el, _, status, bl, opq, cas = struct.unpack(">BBHBBHIIQ", hdr)
                rest = b.exact(bl)
                if status >= 0x80:
                    raise BackendError("binary get %r: status %#x" % (k, status))
                if status == 1:
                    raise Fail("lost key %r (binary)" % k)
                if magic != 0x81 or status != 0 or opq != 0x1234 or el != 4:
                    raise Fail("binary get %r: status %#x" % (k, status))
                flags = struct.unpack(">I", rest[:4])[0]
                if rest[4 + kl:] != clean_value(k, gens[k]) or flags != gens[k]:
                    raise Fail("corrupted value of %r (binary)" % k)
        stats["reads"] += len(sample)

    while time.monotonic() < deadline:
        try:
            step()
        except (BackendError, Hang) as e:
            # a SERVER_ERROR from the backend path, or a request that got
            # no reply while the server still answers others (tolerated
            # with --tolerate-backend-errors): the written value is
            # unknown (a timed-out write may still be applied), so the
            # keys of this step are dropped, and the connections renewed
            if not tolerate:
                raise
            if isinstance(e, Hang):
                probe = Conn(port, timeout)  # the server itself must answer
                probe.send(b"version\r\n")
                if not probe.line().startswith(b"VERSION"):
                    raise Fail("no VERSION after a stuck request")
                probe.s.close()
                stats["stuck"] += 1
            else:
                stats["backend_errors"] += 1
            for k in cur:
                gens.pop(k, None)
            for c in conns:
                c.s.close()
            t, m, b = Conn(port, timeout), Conn(port, timeout), Conn(port, timeout)
            conns[:] = [t, m, b]
    # a last full pass over every key written
    keys = list(gens)
    for i in range(0, len(keys), 50):
        got = text_get(t, keys[i:i + 50])
        for k in keys[i:i + 50]:
            if got.get(k) != clean_value(k, gens[k]):
                raise Fail("final pass: %r lost or corrupted" % k)
    stats["keys"] = len(gens)
    t.send(b"stats\r\n")
    st = {}
    while True:
        ln = t.line()
        if ln == b"END":
            break
        p = ln.split(b" ", 2)
        if len(p) == 3:
            st[p[1].decode()] = p[2].decode()
    return st


# ---- servers --------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, what, secs=30):
    t = time.monotonic() + secs
    while time.monotonic() < t:
        if proc.poll() is not None:
            raise Fail("%s exited at start (%d)" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise Fail("%s does not accept on %d" % (what, port))


def start(args, tmp):
    procs = []
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1:"
                   "quarantine_size_mb=16")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env["REND_DATA"] = os.path.join(tmp, "data")
    env["REND_MEMORY_MB"] = str(args.memory_mb)
    env["REND_MAP_MB"] = "8192"
    os.makedirs(env["REND_DATA"], exist_ok=True)
    if args.topology == "inmem":
        conf = os.path.join(SRCDIR, "conf", "inmem.lua")
    elif args.topology == "lmdb":
        conf = os.path.join(SRCDIR, "conf", "rend.lua")
    else:
        mport = free_port()
        mc = subprocess.Popen([args.memcached, "-u", "root", "-l", "127.0.0.1",
                               "-p", str(mport), "-U", "0", "-m", "512", "-c", "4096"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(mc)
        wait_port(mport, mc, "memcached")
        chunk = ("chunked = true, item_size_max = 8388608,"
                 if args.topology == "chunked" else "")
        conf = os.path.join(tmp, "netfuzz.lua")
        with open(conf, "w") as f:
            f.write('local mc = handler "memcached" {\n'
                    '    name = "mc", servers = "127.0.0.1:%d", %s\n'
                    '    timeout_ms = 2000,\n'
                    '}\n'
                    'listen {\n'
                    '    address = "127.0.0.1",\n'
                    '    port = tonumber(env("REND_PORT", "11211")),\n'
                    '    routes = { default = l1only(mc) },\n'
                    '}\n' % (mport, chunk))
        os.chmod(conf, 0o600)
    pfile = os.path.join(tmp, "port")
    errlog = open(os.path.join(tmp, "rend.stderr"), "wb")
    cmd = [os.path.join(args.build, "core", "rend"), "--plugin-dir",
           os.path.join(args.build, "plugins", ".libs"), "--config", conf,
           "-p", "0", "--port-file", pfile, "-F", "-t", str(args.threads)]
    rend = subprocess.Popen(cmd, env=env, stdout=errlog, stderr=errlog)
    t = time.monotonic() + 30
    while not (os.path.exists(pfile) and open(pfile).read().strip()):
        if rend.poll() is not None or time.monotonic() > t:
            raise Fail("rend did not start: %s" % open(errlog.name, "rb").read()[-2000:])
        time.sleep(0.05)
    port = int(open(pfile).read().split()[0])
    return rend, port, procs, errlog.name


def print_latency():
    if LATENCY:
        lat = sorted(LATENCY)
        print("netfuzz: clean reply latency over %d requests: p50 %.1f ms, "
              "p99 %.1f ms, p99.9 %.1f ms, max %.1f ms (sent at %s UTC)" % (
                  len(lat), lat[len(lat) // 2] * 1e3,
                  lat[len(lat) * 99 // 100] * 1e3,
                  lat[len(lat) * 999 // 1000] * 1e3, WORST[0] * 1e3,
                  time.strftime("%H:%M:%S", time.gmtime(WORST[1]))), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=SRCDIR, help="build tree holding core/rend and plugins/.libs")
    ap.add_argument("--topology", choices=["inmem", "lmdb", "proxy", "chunked"], default="inmem")
    ap.add_argument("--duration", type=float, default=60, help="seconds (default 60)")
    ap.add_argument("--procs", type=int, default=3, help="fuzzing processes (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="rend worker threads")
    ap.add_argument("--timeout", type=float, default=30, help="clean client reply timeout (s)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--memory-mb", type=int, default=1024)
    ap.add_argument("--max-keys", type=int, default=2000,
                    help="clean keys (then rewrites); their values must fit in --memory-mb")
    ap.add_argument("--memcached", default=shutil.which("memcached") or "/usr/bin/memcached")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--tolerate-backend-errors", action="store_true",
                    help="count a SERVER_ERROR to a clean request, or a request "
                    "that gets no reply while the server answers a new "
                    "connection, (drop its keys) instead of failing: for runs "
                    "that push the backend past what it serves (the proxy "
                    "and chunked topologies pass without it, README)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="netfuzz-")
    rend = None
    procs = []
    ok = False
    t0 = time.monotonic()
    print("netfuzz: topology %s, seed %d, %d procs, %.0f s, dir %s" % (
        args.topology, args.seed, args.procs, args.duration, tmp), flush=True)
    try:
        rend, port, procs, errlog = start(args, tmp)
        q = mp.Queue()
        live = mp.Array("q", 2)
        fz = [mp.Process(target=fuzz_proc, args=(i, port, args.duration, args.seed, q,
                                                  live))
              for i in range(args.procs)]
        for p in fz:
            p.daemon = True  # a failure ends them with the script
            p.start()
        stats = {"writes": 0, "reads": 0, "keys": 0, "backend_errors": 0,
                 "stuck": 0}
        prefix = b"CLEAN%08x:" % random.Random(args.seed).randrange(1 << 32)
        try:
            st = clean_client(port, args.duration, args.timeout, prefix, stats,
                              args.max_keys, args.tolerate_backend_errors)
        except (Fail, OSError) as e:
            alive = rend.poll() is None
            if alive and "hang" in str(e):
                # is the server stuck, or only this request?
                try:
                    probe = Conn(port, 10)
                    probe.send(b"version\r\n")
                    e = "%s; a new connection's version: %r; after %.0f s" % (
                        e, probe.line(), time.monotonic() - t0)
                except (Fail, OSError) as pe:
                    e = "%s; a new connection gets no reply either (%s)" % (e, pe)
                if shutil.which("gdb"):
                    # where the workers are, for the report
                    subprocess.call(["gdb", "-batch", "-p", str(rend.pid), "-ex",
                                     "thread apply all bt 12"],
                                    stdout=open(os.path.join(tmp, "hang-stacks.txt"), "w"),
                                    stderr=subprocess.STDOUT, timeout=120)
            if alive and "lost" in str(e):
                try:
                    e = "%s; rend's evictions counter: %s" % (
                        e, evictions(Conn(port, 10)))
                except (Fail, OSError):
                    pass
            raise Fail("clean client: %s (rend %s; by then %d fuzzing "
                       "connections, %d fuzzed commands)" % (
                           e, "running" if alive else "exited %s" % rend.returncode,
                           live[0], live[1]))
        totals = [0, 0, 0, 0, 0]
        for p in fz:
            r = q.get(timeout=120)
            totals = [a + b for a, b in zip(totals, r)]
        for p in fz:
            p.join(30)
        if rend.poll() is not None:
            raise Fail("rend exited during the run (%s)" % rend.returncode)
        rend.send_signal(signal.SIGTERM)
        try:
            rc = rend.wait(60)
        except subprocess.TimeoutExpired:
            rend.kill()
            raise Fail("rend did not stop within 60 s of SIGTERM")
        log = open(errlog, "rb").read()
        bad = [w for w in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                           b"runtime error:", b"SUMMARY:") if w in log]
        print("netfuzz: %d connections, %d fuzzed commands, %.1f MB sent, "
              "%.1f MB received, %d connect errors" % (
                  totals[0], totals[1], totals[2] / 1e6, totals[3] / 1e6, totals[4]))
        print("netfuzz: clean client: %d writes, %d verified reads, %d keys, "
              "0 corrupted, %d backend errors and %d requests with no reply "
              "(%.0f s each) tolerated" % (
                  stats["writes"], stats["reads"], stats["keys"],
                  stats["backend_errors"], stats["stuck"], args.timeout))
        print_latency()
        # (the fuzzers send `stats reset`, so rend's counters are partial)
        print("netfuzz: rend at the end: curr_items %s, evictions %s, "
              "curr_connections %s; exit %d after SIGTERM; %.0f s" % (
                  st.get("curr_items"), st.get("evictions"),
                  st.get("curr_connections"), rc, time.monotonic() - t0))
        if bad or rc != 0:
            sys.stdout.write(log[-20000:].decode(errors="replace"))
            raise Fail("rend exit %d, sanitizer report: %s" % (rc, bad))
        ok = True
    except Fail as e:
        print("netfuzz: FAIL: %s" % e, flush=True)
        print_latency()
        if rend is not None and os.path.exists(os.path.join(tmp, "rend.stderr")):
            sys.stdout.write(open(os.path.join(tmp, "rend.stderr"), "rb").read()[-20000:]
                             .decode(errors="replace"))
    finally:
        if rend is not None and rend.poll() is None:
            rend.kill()
            rend.wait()
        for p in procs:
            p.terminate()
            p.wait()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("netfuzz: kept %s" % tmp)
    print("netfuzz: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
