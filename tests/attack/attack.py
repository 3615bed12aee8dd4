#!/usr/bin/env python3
"""attack.py - hostile clients against a real rend, measured.

One subcommand per attack of issue 10, section 1 ("one client must never
take memory or service from the others"):

  amplify    a never-reading connection sends `get` + ` big` x1000, then
             x2000, for a 1 MiB value `big`; RSS must stay within the
             per-connection reply budget plus one item
  nonread    50 connections each pipeline 100,000 `get nr` (4 KB value)
             and never read; a well-behaved client must see p99 < 50 ms
             and no error (the proxy case: a memcached L1)
  slowloris  300 connections each send `set slowN 0 0 1048576` and all but
             10 bytes of the value, then stall: memory stays within the
             global input-buffer cap, a new large value is answered
             `SERVER_ERROR out of memory`, read_timeout (when set) closes
             them and frees their buffers
  garbage    many connections send random bytes, random command lines and
             random binary headers while a clean client checks its data
  conns      15,000 connections held open (raises RLIMIT_NOFILE to the
             hard limit: run under `ulimit -n 20000`); every one is served,
             memory per connection is bounded
  all        every attack above, in turn, on one server
  smoke      a short, deterministic version of amplify + slowloris + a few
             garbage connections (seconds; what `make check` may run)

Each attack prints rend's RSS (VmRSS sampled every 10 ms from
/proc/PID/status, and VmHWM after resetting it through clear_refs when
permitted), the clean client's latencies (p50/p99/max), error counts, and
PASS or FAIL against its bound.  The exit status is 0 only if every attack
run passed.

The server is either one already running (--port/--unix and --pid) or one
this tool starts in a temporary directory (--spawn TOPOLOGY):

  inmem        conf/inmem.lua (one in-process cache)
  l1l2         conf/rend.lua (inmem L1 in front of an LMDB L2; the default)
  production   conf/rend-production.lua (chunked memcached L1 on a unix
               socket + LMDB L2, its own settings), with a memcached started
               by this tool
  proxy        rend as a memcached proxy (L1 only) in front of a memcached
               started by this tool (conf/memcached-pool.lua's handler, one
               server, no replicas)
  flag-proxy   the same through Rend's flag mode: --l1-sock PATH

--settings production adds the production config's settings (idle_timeout
= 300, read_timeout = 30) to the config; --set KEY=VALUE adds any setting
(e.g. --set read_timeout=5 to see read_timeout act quickly).

Python 3 standard library only.  Run as root for clear_refs (VmHWM reset);
otherwise only the sampled VmRSS is used.
"""

import argparse
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

MiB = 1024 * 1024
KiB = 1024
# rend's per-connection reply budget (core/rend_settings.h REND_OUT_HIGH)
REPLY_BUDGET = 4 * MiB

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))


def log(msg):
    print(msg, flush=True)


# ---- measuring rend -------------------------------------------------------

def proc_status(pid):
    """VmRSS and VmHWM of pid in KiB (None if it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None, None
    rss = re.search(r"^VmRSS:\s+(\d+)", text, re.M)
    hwm = re.search(r"^VmHWM:\s+(\d+)", text, re.M)
    return (int(rss.group(1)) if rss else None,
            int(hwm.group(1)) if hwm else None)


def rss_kb(pid):
    return proc_status(pid)[0]


def alive(pid):
    if pid is None:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


class RssSampler:
    """Largest VmRSS of a process while it runs (a thread polling
    /proc/PID/status every 10 ms); VmHWM is reset at the start when
    /proc/PID/clear_refs may be written, so it gives the exact peak."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.hwm_reset = False
        self._stop = threading.Event()
        self._t = None

    def start(self):
        if self.pid is None:
            return self
        try:
            with open("/proc/%d/clear_refs" % self.pid, "w") as f:
                f.write("5")  # reset the peak resident set size (VmHWM)
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.peak = rss_kb(self.pid) or 0
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            r = rss_kb(self.pid)
            if r is None:
                return
            if r > self.peak:
                self.peak = r
            self._stop.wait(0.01)

    def stop(self):
        """Peak RSS in KiB: VmHWM when it was reset, else the samples."""
        if self.pid is None:
            return 0
        self._stop.set()
        if self._t:
            self._t.join()
        rss, hwm = proc_status(self.pid)
        if rss is not None and rss > self.peak:
            self.peak = rss
        if self.hwm_reset and hwm is not None and hwm > self.peak:
            self.peak = hwm
        return self.peak


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, int(len(sorted_vals) * p / 100.0))
    return sorted_vals[i]


# ---- a small memcached text client ---------------------------------------

class Client:
    """Blocking text-protocol client with a per-call timeout."""

    def __init__(self, target, timeout=10.0):
        self.sock = connect(target)
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise ConnectionError("server closed the connection")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln + b"\r\n"

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def set(self, key, value, flags=0):
        self.send(b"set %s %d 0 %d\r\n%s\r\n" % (key, flags, len(value),
                                                   value))
        return self.line()

    def get(self, key):
        """(value or None, error line or None)"""
        self.send(b"get %s\r\n" % key)
        ln = self.line()
        if ln == b"END\r\n":
            return None, None
        if not ln.startswith(b"VALUE "):
            return None, ln
        n = int(ln.split()[3])
        v = self.exact(n + 2)[:n]
        end = self.line()
        if end != b"END\r\n":
            return v, end
        return v, None

    def stats(self, group=b""):
        self.send(b"stats %s\r\n" % group if group else b"stats\r\n")
        out = {}
        while True:
            ln = self.line()
            if ln == b"END\r\n":
                return out
            parts = ln.decode("latin-1").split()
            if len(parts) >= 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
            elif not ln.startswith(b"STAT"):
                return out


def connect(target):
    if target[0] == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target[1])
    else:
        s = socket.create_connection((target[1], target[2]), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def server_stats(target, group=b""):
    c = Client(target)
    try:
        return c.stats(group)
    finally:
        c.close()


def stat_int(stats, key, default=0):
    try:
        return int(stats.get(key, default))
    except ValueError:
        return default


# ---- starting a server ---------------------------------------------------

class Spawned:
    """rend (and a memcached for the topologies that need one) in a
    temporary directory; stop() ends only the processes it started."""

    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="rend-attack.")
        self.rend = None
        self.mc = None
        self.mc_sock = None
        self.target = None

    def start_memcached(self):
        mc = shutil.which(self.args.memcached) or self.args.memcached
        os.chmod(self.dir, 0o711)  # nobody must reach the socket dir
        sockdir = os.path.join(self.dir, "mc")
        os.mkdir(sockdir)
        os.chmod(sockdir, 0o1777)  # memcached -u nobody creates the socket
        self.mc_sock = os.path.join(sockdir, "memcached.sock")
        cmd = [mc, "-u", "nobody", "-s", self.mc_sock, "-a", "0766",
               "-m", str(self.args.mc_memory), "-I", "2m", "-c", "4096"]
        self.mc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                   stderr=open(os.path.join(self.dir,
                                                            "mc.log"), "w"))
        for _ in range(200):
            if os.path.exists(self.mc_sock):
                return
            if self.mc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("memcached did not start: see %s/mc.log"
                           % self.dir)

    def config_text(self):
        topo = self.args.spawn
        conf = os.path.join(TOP, "conf")
        if topo == "inmem":
            text = open(os.path.join(conf, "inmem.lua")).read()
        elif topo == "l1l2":
            text = open(os.path.join(conf, "rend.lua")).read()
        elif topo == "production":
            text = open(os.path.join(conf, "rend-production.lua")).read()
        elif topo == "proxy":
            # conf/memcached-pool.lua's handler with one server: no replicas
            text = ('local pool = handler "memcached" {\n'
                    '    name = "pool",\n'
                    '    servers = env("REND_POOL", ""),\n'
                    '    conns_per_server = 1,\n'
                    '    timeout_ms = 500,\n'
                    '    fail_limit = 3,\n'
                    '    retry_ms = 1000,\n'
                    '}\n'
                    'listen {\n'
                    '    address = env("REND_ADDRESS", "127.0.0.1"),\n'
                    '    port = tonumber(env("REND_PORT", "11211")),\n'
                    '    routes = { default = l1only(pool) },\n'
                    '}\n')
        else:
            return None
        extra = {}
        if self.args.settings == "production":
            extra.update({"idle_timeout": "300", "read_timeout": "30"})
        for kv in self.args.set or []:
            k, _, v = kv.partition("=")
            extra[k] = v
        if extra:
            text += "\n-- added by tests/attack/attack.py\nsettings { %s }\n" % (
                ", ".join("%s = %s" % kv for kv in sorted(extra.items())))
        return text

    def start(self):
        topo = self.args.spawn
        if topo in ("production", "proxy", "flag-proxy"):
            self.start_memcached()
        env = dict(os.environ)
        env.update({
            "REND_PORT": "0", "REND_BATCH_PORT": "0", "REND_ADMIN_PORT": "0",
            "REND_ADDRESS": "127.0.0.1", "REND_ADMIN_ADDRESS": "127.0.0.1",
            "REND_DATA": os.path.join(self.dir, "data"),
            "REND_MAP_MB": "8192",
        })
        os.mkdir(env["REND_DATA"], 0o700)
        if self.mc_sock:
            env["REND_L1_SOCK"] = self.mc_sock
            env["REND_POOL"] = self.mc_sock
        portfile = os.path.join(self.dir, "ports")
        cmd = [self.args.rend, "--port-file", portfile]
        if self.args.plugin_dir:
            cmd += ["--plugin-dir", self.args.plugin_dir]
        if topo == "flag-proxy":
            if self.args.settings != "default" or self.args.set:
                raise RuntimeError("flag mode has no settings{}: use "
                                   "--settings default")
            cmd += ["--l1-sock", self.mc_sock, "-p", "0", "-l", "127.0.0.1"]
        else:
            cpath = os.path.join(self.dir, "rend.lua")
            fd = os.open(cpath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.config_text())
            cmd += ["--config", cpath]
        cmd += self.args.rend_arg or []
        self.rend = subprocess.Popen(
            cmd, cwd=self.dir, env=env, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "rend.log"), "w"))
        for _ in range(400):
            if os.path.exists(portfile):
                break
            if self.rend.poll() is not None:
                raise RuntimeError("rend exited (%s): see %s/rend.log" % (
                    self.rend.returncode, self.dir))
            time.sleep(0.05)
        else:
            raise RuntimeError("rend did not write its port file")
        first = open(portfile).read().split("\n")[0].strip()
        if first.startswith("/"):
            self.target = ("unix", first)
        else:
            self.target = ("tcp", "127.0.0.1", int(first))
        return self

    def stop(self):
        rc = None
        if self.rend is not None:
            rc = self.rend.poll()
            if rc is None:
                self.rend.terminate()
                try:
                    self.rend.wait(15)
                except subprocess.TimeoutExpired:
                    self.rend.kill()
                    self.rend.wait()
        if self.mc is not None and self.mc.poll() is None:
            self.mc.terminate()
            try:
                self.mc.wait(5)
            except subprocess.TimeoutExpired:
                self.mc.kill()
                self.mc.wait()
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log("kept %s" % self.dir)
        return rc


# ---- results ---------------------------------------------------------------

class Result:
    def __init__(self, attack, ctx):
        self.attack = attack
        self.ctx = ctx
        self.fields = []
        self.checks = []

    def note(self, key, value):
        self.fields.append((key, value))

    def check(self, what, ok):
        self.checks.append((what, bool(ok)))

    @property
    def ok(self):
        return all(ok for _, ok in self.checks)

    def report(self):
        log("== %s [%s]" % (self.attack, self.ctx.label))
        for k, v in self.fields:
            log("   %-22s %s" % (k, v))
        for what, ok in self.checks:
            log("   %-4s %s" % ("ok" if ok else "FAIL", what))
        log("   verdict: %s" % ("PASS" if self.ok else "FAIL"))


class Ctx:
    def __init__(self, args, target, pid, backend):
        self.args = args
        self.target = target
        self.pid = pid
        self.backend = backend  # memcached target behind rend, if known
        self.label = args.label or (
            "%s/%s" % (args.spawn, args.settings) if args.spawn
            else ":".join(str(x) for x in target[1:]))


def mb(kb):
    return "%.1f MiB" % (kb / 1024.0)


def lat_summary(lats):
    s = sorted(lats)
    return "n=%d p50 %.2f ms p99 %.2f ms max %.2f ms" % (
        len(s), pct(s, 50) * 1e3, pct(s, 99) * 1e3, (s[-1] if s else 0) * 1e3)


def settle(pid, secs=0.5):
    time.sleep(secs)
    return rss_kb(pid) or 0 if pid else 0


# ---- amplify ----------------------------------------------------------------

def store_big(c, size):
    """Store `big` of size bytes; fall back to 1,000,000 when the tier
    refuses 1 MiB exactly (memcached's -I 1m counts its item header)."""
    val = bytes([ord("b")]) * size
    rep = c.set(b"big", val)
    if rep != b"STORED\r\n" and size > 1000000:
        log("   (1 MiB refused: %r; using 1,000,000 bytes)" % rep.strip())
        size = 1000000
        val = b"b" * size
        rep = c.set(b"big", val)
    if rep != b"STORED\r\n":
        raise RuntimeError("could not store big: %r" % rep)
    return size


def attack_amplify(ctx):
    a = ctx.args
    res = Result("amplify", ctx)
    good = Client(ctx.target)
    size = store_big(good, a.value_size)
    v, err = good.get(b"big")
    if err or v is None or len(v) != size:
        raise RuntimeError("get big failed before the attack: %r" % err)
    base = settle(ctx.pid)
    reps = [int(x) for x in a.repeats.split(",")]
    samp = RssSampler(ctx.pid).start()
    attackers = []
    for _ in range(a.conns):
        s = connect(ctx.target)
        for n in reps:
            s.sendall(b"get" + b" big" * n + b"\r\n")
        attackers.append(s)
    # the well-behaved client meanwhile: get big, verify, time it
    lats, errors = [], 0
    t_end = time.time() + a.hold
    while time.time() < t_end:
        t0 = time.time()
        try:
            v, err = good.get(b"big")
            if err or v is None or len(v) != size or v.count(b"b") != size:
                errors += 1
        except (OSError, ConnectionError):
            errors += 1
            good.close()
            good = Client(ctx.target)
        lats.append(time.time() - t0)
        time.sleep(0.05)
    peak = samp.stop()
    st = server_stats(ctx.target)
    # the attacker's stream is intact: read the first values back
    drained, corrupt = 0, 0
    s = attackers[0]
    s.settimeout(20)
    rd = Client.__new__(Client)
    rd.sock, rd.buf = s, b""
    try:
        for _ in range(min(a.drain, sum(reps))):
            ln = rd.line()
            if ln != b"VALUE big 0 %d\r\n" % size:
                corrupt += 1
                break
            body = rd.exact(size + 2)
            if body[:size].count(b"b") != size or body[size:] != b"\r\n":
                corrupt += 1
                break
            drained += 1
    except (OSError, ConnectionError) as e:
        corrupt += 1
        log("   drain: %s" % e)
    for s in attackers:
        s.close()
    good.close()
    after = settle(ctx.pid, 1.0)
    bound = a.conns * (REPLY_BUDGET + size) // KiB + a.slack_mb * 1024
    delta = peak - base
    res.note("value", "%d bytes, get x%s on %d never-reading conn(s)"
             % (size, a.repeats, a.conns))
    res.note("rss before", mb(base))
    res.note("rss peak", "%s (+%s)%s" % (mb(peak), mb(delta),
                                        " VmHWM" if samp.hwm_reset else ""))
    res.note("rss after", mb(after))
    res.note("bound", "+%s = %d x (4 MiB budget + 1 item) + %d MiB slack"
             % (mb(bound), a.conns, a.slack_mb))
    res.note("unbounded would be", "+%s" % mb(a.conns * sum(reps) * size
                                             // KiB))
    res.note("clean get big", lat_summary(lats) + ", errors %d" % errors)
    res.note("conn_yields", st.get("conn_yields", "?"))
    res.note("attacker stream", "%d values verified, %d bad" % (drained,
                                                                corrupt))
    res.check("rss growth %s <= %s" % (mb(delta), mb(bound)), delta <= bound)
    res.check("clean client: no errors", errors == 0)
    res.check("attacker's stream intact", corrupt == 0)
    res.check("rend alive", alive(ctx.pid))
    return res


# ---- nonread --------------------------------------------------------------------

def feeder_child(target, nconns, payload, wfd, duration):
    """Child process: nconns connections that pipeline payload and never
    read.  Writes 'up\\n' once connected, then the bytes sent at the end."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    socks, sent = [], []
    for _ in range(nconns):
        s = connect(target)
        s.setblocking(False)
        socks.append(s)
        sent.append(0)
    os.write(wfd, b"up\n")
    total = len(payload)
    mv = memoryview(payload)
    t_end = time.time() + duration
    while time.time() < t_end:
        pend = [s for s, n in zip(socks, sent) if n < total]
        if not pend:
            time.sleep(0.05)
            continue
        _, w, _ = select.select([], pend, [], 0.1)
        for s in w:
            i = socks.index(s)
            try:
                sent[i] += s.send(mv[sent[i]:sent[i] + 65536])
            except BlockingIOError:
                pass
            except OSError:
                sent[i] = total
    os.write(wfd, b"%d %d\n" % (sum(sent), sum(1 for n in sent
                                                if n >= total)))
    time.sleep(3600)  # hold the connections until the parent ends us


def clean_ops(target, duration, prefix=b"good", value_size=100,
              flushed=None):
    """set/get pairs for duration seconds: (latencies, errors, notes)."""
    lats, errors, notes = [], 0, []
    c = Client(target, timeout=5)
    i = 0
    t_start = time.time()
    t_end = t_start + duration
    while time.time() < t_end:
        key = b"%s%d" % (prefix, i % 100)
        val = (b"%d-" % i) + b"v" * value_size
        try:
            t0 = time.time()
            rep = c.set(key, val)
            lats.append(time.time() - t0)
            if rep != b"STORED\r\n":
                errors += 1
                notes.append(rep.strip() + b" (set at %.1f s)"
                             % (time.time() - t_start))
            t0 = time.time()
            v, err = c.get(key)
            lats.append(time.time() - t0)
            if err or v != val:
                if v is None and err is None and flushed and flushed():
                    notes.append(b"miss after a garbage flush")
                else:
                    errors += 1
                    notes.append((err.strip() if err else b"wrong value")
                                 + b" (get at %.1f s)" % (time.time()
                                                          - t_start))
        except (OSError, ConnectionError) as e:
            errors += 1
            notes.append(str(e).encode())
            c.close()
            c = Client(target, timeout=5)
        i += 1
    c.close()
    return lats, errors, notes


def backend_stats(ctx):
    if ctx.backend is None:
        return {}
    try:
        return server_stats(ctx.backend)
    except (OSError, ConnectionError):
        return {}


def attack_nonread(ctx):
    a = ctx.args
    res = Result("nonread", ctx)
    good = Client(ctx.target)
    if good.set(b"nr", b"n" * a.nr_size) != b"STORED\r\n":
        raise RuntimeError("could not store nr")
    good.close()
    _, errors0, _ = clean_ops(ctx.target, 0.5)
    base = settle(ctx.pid)
    b0 = stat_int(backend_stats(ctx), "cmd_get")
    y0 = stat_int(server_stats(ctx.target), "conn_yields")
    payload = b"get nr\r\n" * a.gets
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            feeder_child(ctx.target, a.conns, payload, w, a.duration + 30)
        finally:
            os._exit(0)
    os.close(w)
    rf = os.fdopen(r, "rb")
    try:
        if rf.readline().strip() != b"up":
            raise RuntimeError("attackers did not connect")
        samp = RssSampler(ctx.pid).start()
        time.sleep(a.warmup)
        lats, errors, notes = clean_ops(ctx.target, a.duration)
        peak = samp.stop()
        b1 = stat_int(backend_stats(ctx), "cmd_get")
        time.sleep(1.0)
        b2 = stat_int(backend_stats(ctx), "cmd_get")
        st = server_stats(ctx.target)
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        rf.close()
    after = settle(ctx.pid, 1.0)
    s = sorted(lats)
    p99 = pct(s, 99) * 1e3
    bound = a.conns * (REPLY_BUDGET + a.nr_size) // KiB + a.slack_mb * 1024
    delta = peak - base
    res.note("attack", "%d conns x %d pipelined `get nr` (%d B), never read"
             % (a.conns, a.gets, a.nr_size))
    res.note("rss before/peak/after", "%s / %s (+%s) / %s" % (
        mb(base), mb(peak), mb(delta), mb(after)))
    res.note("bound", "+%s = %d x (4 MiB + 1 item) + %d MiB" % (
        mb(bound), a.conns, a.slack_mb))
    res.note("clean client", lat_summary(lats) + ", errors %d" % errors)
    if notes:
        res.note("clean errors", b", ".join(notes[:5]).decode("latin-1")
                 + " (times from the clean client's start, %.1f s into "
                 "the attack)" % a.warmup)
    if ctx.backend is not None:
        res.note("backend cmd_get", "%d during, +%d in the next second"
                 % (b1 - b0, b2 - b1))
    res.note("conn_yields", "%d" % (stat_int(st, "conn_yields") - y0))
    res.check("clean client p99 %.1f ms < %d ms" % (p99, a.p99_ms),
              p99 < a.p99_ms)
    res.check("clean client: no errors", errors == 0 and errors0 == 0)
    res.check("rss growth %s <= %s" % (mb(delta), mb(bound)), delta <= bound)
    if ctx.backend is not None:
        res.check("backend idle once the replies wait (+%d gets/s < 1000)"
                  % (b2 - b1), b2 - b1 < 1000)
    res.check("rend alive", alive(ctx.pid))
    res.p99 = p99
    return res


# ---- slowloris -----------------------------------------------------------------

def attack_slowloris(ctx):
    a = ctx.args
    res = Result("slowloris", ctx)
    st0 = server_stats(ctx.target, b"settings")
    cap = stat_int(st0, "conn_buffer_max")
    rto = stat_int(st0, "read_timeout")
    c0 = stat_int(server_stats(ctx.target), "curr_connections")
    base = settle(ctx.pid)
    samp = RssSampler(ctx.pid).start()
    size = a.value_size
    body = b"s" * (size - a.withhold)
    socks = []
    for i in range(a.conns):
        s = connect(ctx.target)
        s.setblocking(False)
        socks.append([s, b"set slow%d 0 0 %d\r\n" % (i, size) + body, 0,
                      b"", False])
    if not a.interleave and not a.headers_first:
        # one connection after the other, as a simple script would
        for e in socks:
            e[0].settimeout(a.send_timeout)
            try:
                e[0].sendall(e[1])
                e[2] = len(e[1])
            except OSError:
                e[4] = True
            e[0].setblocking(False)
    if a.headers_first:
        # every request line first, then the values: admission of a value
        # is decided while no buffer has grown yet
        for e in socks:
            hdr = e[1].index(b"\r\n") + 2
            try:
                e[2] += e[0].send(e[1][:hdr])
            except OSError:
                e[4] = True
        time.sleep(0.5)
    # push every connection's bytes (stops early if rend stops reading)
    t_end = time.time() + a.send_timeout
    while time.time() < t_end:
        pend = [e for e in socks if e[2] < len(e[1]) and not e[4]]
        if not pend:
            break
        _, w, _ = select.select([], [e[0] for e in pend], [], 1.0)
        for e in pend:
            if e[0] not in w:
                continue
            try:
                e[2] += e[0].send(memoryview(e[1])[e[2]:e[2] + 262144])
            except BlockingIOError:
                pass
            except OSError:
                e[4] = True
    t_stalled = time.time()
    unsent = sum(len(e[1]) - e[2] for e in socks)
    time.sleep(1.0)

    def collect():
        for e in socks:
            if e[4]:
                continue
            try:
                d = e[0].recv(4096)
                if d == b"":
                    e[4] = True
                else:
                    e[3] += d
            except BlockingIOError:
                pass
            except OSError:
                e[4] = True
    collect()
    refused = sum(1 for e in socks if b"out of memory" in e[3])
    peak_during = rss_kb(ctx.pid) or 0
    # a new large value is refused past the cap; small ones still work
    probe = Client(ctx.target, timeout=30)
    big_rep = probe.set(b"probe_big", b"p" * size).strip()
    small_rep = probe.set(b"probe_small", b"p" * 100).strip()
    v, err = probe.get(b"probe_small")
    small_ok = small_rep == b"STORED" and v == b"p" * 100
    probe.close()
    st = server_stats(ctx.target)
    held_conns = stat_int(st, "curr_connections") - c0
    closed_by_rto, rto_wait, after = None, None, None
    big_after = None
    if rto > 0 and not a.no_wait:
        # read_timeout closes every stalled connection; buffers are freed
        deadline = t_stalled + rto + a.sweep_slack
        while time.time() < deadline:
            collect()
            if all(e[4] for e in socks):
                break
            time.sleep(0.5)
        collect()
        closed_by_rto = sum(1 for e in socks if e[4])
        rto_wait = time.time() - t_stalled
        after = settle(ctx.pid, 1.0)
        probe = Client(ctx.target, timeout=30)
        big_after = probe.set(b"probe_big", b"p" * size).strip()
        probe.close()
    peak = max(samp.stop(), peak_during)
    for e in socks:
        e[0].close()
    delta = peak - base
    # each connection's first 16 KiB of input buffer is outside the cap
    bound = (cap // KiB if cap else 0) + a.conns * 16 + a.slack_mb * 1024
    res.note("attack", "%d conns x `set slowN 0 0 %d` minus %d bytes, stalled"
             % (a.conns, size, a.withhold))
    if a.headers_first:
        res.note("order", "every request line first, then the values")
    res.note("settings", "conn_buffer_max %s, read_timeout %d s, "
             "idle_timeout %s s" % (mb(cap // KiB), rto,
                                    st0.get("idle_timeout", "?")))
    res.note("bytes not taken", "%d (rend stopped reading them)" % unsent)
    res.note("rss before/peak", "%s / %s (+%s)%s" % (
        mb(base), mb(peak), mb(delta), " VmHWM" if samp.hwm_reset else ""))
    res.note("bound", "+%s = conn_buffer_max + %d x 16 KiB + %d MiB" % (
        mb(bound), a.conns, a.slack_mb))
    res.note("refused (out of mem)", "%d of %d connections" % (refused,
                                                                a.conns))
    res.note("held connections", "%d" % held_conns)
    res.note("new 1 MiB set", big_rep.decode("latin-1"))
    res.note("new small set", small_rep.decode("latin-1"))
    res.note("conn_buffer_refused", st.get("conn_buffer_refused", "?"))
    if closed_by_rto is not None:
        res.note("read_timeout", "%d of %d closed after %.1f s; read_timeouts"
                 " %s" % (closed_by_rto, a.conns, rto_wait,
                          server_stats(ctx.target).get("read_timeouts",
                                                       "?")))
        res.note("rss after close", mb(after))
        res.note("1 MiB set after", big_after.decode("latin-1"))
    res.check("rss growth %s <= %s" % (mb(delta), mb(bound)),
              cap > 0 and delta <= bound)
    # a buffered value costs up to -I + the line limit + 4 KiB; refusal of
    # the probe is expected when the buffers still held leave no room
    per = size + 65536 + 4096
    over_cap = (a.conns - refused) * per + per > cap
    if over_cap:
        res.check("past the cap a new large value gets SERVER_ERROR out of "
                  "memory", big_rep.startswith(b"SERVER_ERROR out of memory"))
    res.check("small values still served", small_ok)
    if closed_by_rto is not None:
        res.check("read_timeout closed every stalled connection",
                  closed_by_rto == a.conns)
        res.check("buffers freed (rss %s <= before + %d MiB)"
                  % (mb(after), a.slack_mb),
                  after <= base + a.slack_mb * 1024)
        res.check("large values accepted again", big_after == b"STORED")
    elif rto == 0:
        res.note("read_timeout", "off: connections stay (bounded by the cap)")
    res.check("rend alive", alive(ctx.pid))
    return res


# ---- garbage ---------------------------------------------------------------------

TEXT_CMDS = [b"get", b"gets", b"set", b"add", b"replace", b"append",
             b"prepend", b"cas", b"delete", b"incr", b"decr", b"touch",
             b"gat", b"gats", b"mg", b"ms", b"md", b"ma", b"mn", b"me",
             b"stats", b"version", b"verbosity", b"lru_crawler", b"slabs",
             b"watch", b"cache_memlimit", b"misbehave", b"auth", b"quit"]
# binary opcodes that may wipe or stop things the clean client relies on
# (flush, flushq) are never generated on purpose
BIN_SKIP = {0x08, 0x18}


def gen_garbage(rng):
    kind = rng.randrange(6)
    if kind == 0:  # raw random bytes
        return rng.randbytes(rng.randrange(1, 8192))
    if kind == 1:  # random printable line soup
        return bytes(rng.choice(b"abcdefgh 0123456789\r\n\t-") for _ in
                     range(rng.randrange(1, 4096)))
    if kind == 2:  # plausible command lines with random arguments
        out = []
        for _ in range(rng.randrange(1, 50)):
            cmd = rng.choice(TEXT_CMDS)
            args = []
            for _ in range(rng.randrange(0, 8)):
                r = rng.random()
                if r < 0.4:
                    args.append(b"g%d" % rng.randrange(1000))
                elif r < 0.8:
                    args.append(b"%d" % rng.choice(
                        [0, 1, -1, 5, 1024, 2 ** 31, 2 ** 32 + 1, 2 ** 64,
                         rng.randrange(100000)]))
                else:
                    args.append(rng.randbytes(rng.randrange(1, 20)).replace(
                        b"\n", b"x"))
            out.append(b" ".join([cmd] + args) + rng.choice(
                [b"\r\n", b"\n", b"\r", b""]))
        return b"".join(out)
    if kind == 3:  # binary headers with random fields and bodies
        out = []
        for _ in range(rng.randrange(1, 20)):
            op = rng.randrange(256)
            while op in BIN_SKIP:
                op = rng.randrange(256)
            keylen = rng.randrange(0, 300)
            extlen = rng.randrange(0, 30)
            body = rng.choice([keylen + extlen, rng.randrange(0, 2 ** 32),
                               rng.randrange(0, 70000)])
            hdr = bytes([0x80, op]) + keylen.to_bytes(2, "big") + bytes(
                [extlen, 0, 0, 0]) + body.to_bytes(4, "big") + \
                rng.randbytes(12)
            out.append(hdr + rng.randbytes(min(body, rng.randrange(0, 2048))))
        return b"".join(out)
    if kind == 4:  # a valid set, split at a random point, then junk
        n = rng.randrange(0, 3000)
        msg = b"set g%d 0 0 %d\r\n" % (rng.randrange(1000), n) + \
            rng.randbytes(n) + b"\r\n"
        cut = rng.randrange(len(msg) + 1)
        return msg[:cut] + rng.randbytes(rng.randrange(0, 64))
    # long lines without newline (line limits)
    return b"get " + b"k" * rng.randrange(1000, 70000)


def garbage_child(target, nconns, duration, seed, wfd):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rng = random.Random(seed)
    conns = {}
    opened = closed = sent = 0

    def newconn():
        nonlocal opened
        s = connect(target)
        s.setblocking(False)
        conns[s.fileno()] = [s, b""]
        opened += 1

    for _ in range(nconns):
        newconn()
    t_end = time.time() + duration
    while time.time() < t_end:
        socks = [e[0] for e in conns.values()]
        rd, wr, _ = select.select(socks, socks, [], 0.2)
        for s in rd:
            try:
                if s.recv(1 << 16) != b"":
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
            conns.pop(s.fileno(), None)
            s.close()
            closed += 1
            newconn()
        for s in wr:
            e = conns.get(s.fileno())
            if e is None or e[0] is not s:
                continue
            if not e[1]:
                e[1] = gen_garbage(rng)
            try:
                n = s.send(e[1])
                e[1] = e[1][n:]
                sent += n
            except BlockingIOError:
                pass
            except OSError:
                conns.pop(s.fileno(), None)
                s.close()
                closed += 1
                newconn()
    os.write(wfd, b"%d %d %d\n" % (opened, closed, sent))
    for e in conns.values():
        e[0].close()
    os._exit(0)


def attack_garbage(ctx):
    a = ctx.args
    res = Result("garbage", ctx)
    st0 = server_stats(ctx.target)
    cap = stat_int(server_stats(ctx.target, b"settings"), "conn_buffer_max")
    c0 = stat_int(st0, "curr_connections")
    flush0 = stat_int(st0, "cmd_flush")
    bytes0 = stat_int(st0, "bytes")
    base = settle(ctx.pid)
    samp = RssSampler(ctx.pid).start()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            garbage_child(ctx.target, a.conns, a.duration, a.seed, w)
        finally:
            os._exit(0)
    os.close(w)

    def flushed():
        return stat_int(server_stats(ctx.target), "cmd_flush") != flush0
    lats, errors, notes = clean_ops(ctx.target, a.duration, flushed=flushed)
    line = os.read(r, 200)
    os.waitpid(pid, 0)
    os.close(r)
    peak = samp.stop()
    opened, closed, sent = (int(x) for x in line.split()) if line else (0,) * 3
    time.sleep(1.5)
    st = server_stats(ctx.target)
    c1 = stat_int(st, "curr_connections")
    stored = max(0, stat_int(st, "bytes") - bytes0)
    after = settle(ctx.pid, 0.5)
    # a fresh clean client still gets its data back intact
    lats2, errors2, notes2 = clean_ops(ctx.target, 1.0, prefix=b"after")
    delta = peak - base
    bound = cap // KiB + stored // KiB + a.slack_mb * 1024
    res.note("attack", "%d conns x %.0f s of random bytes/lines/binary "
             "(seed %d)" % (a.conns, a.duration, a.seed))
    res.note("garbage", "%d bytes sent, %d connections opened, %d closed by "
             "rend" % (sent, opened, closed))
    res.note("rss before/peak/after", "%s / %s (+%s) / %s" % (
        mb(base), mb(peak), mb(delta), mb(after)))
    res.note("bound", "+%s = conn_buffer_max + stored bytes (%s) + %d MiB"
             % (mb(bound), mb(stored // KiB), a.slack_mb))
    res.note("clean client", lat_summary(lats) + ", errors %d" % errors)
    if notes:
        res.note("clean notes", b", ".join(sorted(set(notes))[:5]).decode(
            "latin-1"))
    res.note("protocol_errors", st.get("protocol_errors", "?"))
    res.note("connections", "%d before, %d after" % (c0, c1))
    res.check("rss growth %s <= %s" % (mb(delta), mb(bound)), delta <= bound)
    res.check("clean client: no errors", errors == 0 and errors2 == 0)
    res.check("garbage connections all gone (%d -> %d)" % (c0, c1),
              c1 <= c0 + 1)
    res.check("rend alive", alive(ctx.pid))
    return res


# ---- conns -------------------------------------------------------------------------

def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def attack_conns(ctx):
    a = ctx.args
    res = Result("conns", ctx)
    limit = raise_nofile(a.conns + 100)
    n = min(a.conns, limit - 100)
    c0 = stat_int(server_stats(ctx.target), "curr_connections")
    base = settle(ctx.pid)
    samp = RssSampler(ctx.pid).start()
    socks, connect_errors = [], 0
    t0 = time.time()
    for i in range(n):
        try:
            s = connect(ctx.target)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            connect_errors += 1
    t_conn = time.time() - t0
    time.sleep(1.0)
    held = settle(ctx.pid, 0.5)
    # every connection is served: one request each, all replies collected
    for i, s in enumerate(socks):
        try:
            s.send(b"get c%d\r\nversion\r\n" % i)
        except OSError:
            pass
    pending = {s.fileno(): [s, b""] for s in socks}
    ep = select.epoll()
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN)
    # the clean client, timed while the replies flow
    lat_box = {}
    th = threading.Thread(target=lambda: lat_box.update(
        r=clean_ops(ctx.target, a.duration)))
    th.start()
    answered, eofs = 0, 0
    deadline = time.time() + a.reply_timeout
    while pending and time.time() < deadline:
        for fd, _ in ep.poll(0.5):
            e = pending.get(fd)
            if e is None:
                continue
            try:
                d = e[0].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d == b"":
                eofs += 1
                ep.unregister(fd)
                del pending[fd]
                continue
            e[1] += d
            if e[1].startswith(b"END\r\nVERSION ") and e[1].endswith(b"\r\n"):
                answered += 1
                ep.unregister(fd)
                del pending[fd]
    th.join()
    lats, errors, _ = lat_box["r"]
    peak = samp.stop()
    st = server_stats(ctx.target)
    open_now = stat_int(st, "curr_connections") - c0
    for s in socks:
        s.close()
    ep.close()
    time.sleep(2.0)
    c_end = stat_int(server_stats(ctx.target), "curr_connections")
    after = rss_kb(ctx.pid) or 0
    idle_per = (held - base) * 1024.0 / max(1, len(socks))
    per = (peak - base) * 1024.0 / max(1, len(socks))
    s = sorted(lats)
    res.note("attack", "%d connections (RLIMIT_NOFILE %d), opened in %.1f s, "
             "%d connect errors" % (n, limit, t_conn, connect_errors))
    res.note("rss before/held/peak", "%s / %s / %s" % (mb(base), mb(held),
                                                      mb(peak)))
    res.note("per connection", "%.0f bytes idle, %.0f bytes at the peak "
             "(all served at once)" % (idle_per, per))
    res.note("bound", "%d bytes per connection" % a.per_conn_bytes)
    res.note("served", "%d of %d answered (get + version), %d closed, "
             "%d no reply" % (answered, len(socks), eofs, len(pending)))
    res.note("curr_connections", "+%d while open, %d after close (was %d)"
             % (open_now, c_end, c0))
    res.note("clean client", lat_summary(lats) + ", errors %d" % errors)
    res.note("rss after close", mb(after))
    res.check("all %d connections opened" % a.conns,
              len(socks) == a.conns and connect_errors == 0)
    res.check("every connection answered", answered == len(socks))
    res.check("memory per connection %.0f <= %d bytes"
              % (per, a.per_conn_bytes), per <= a.per_conn_bytes)
    res.check("clean client: no errors", errors == 0)
    res.check("connections released", c_end <= c0 + 1)
    res.check("rend alive", alive(ctx.pid))
    res.p99 = pct(s, 99) * 1e3
    return res


# ---- smoke -------------------------------------------------------------------------

def attack_smoke(ctx):
    """amplify (x1000) and a small slowloris with a tiny cap are bounded;
    garbage on 10 connections for 2 s does not hurt a clean client."""
    a = ctx.args
    out = []
    a.repeats, a.conns, a.hold, a.drain = "1000", 1, 1.5, 5
    out.append(attack_amplify(ctx))
    a.conns, a.withhold, a.send_timeout = 20, 10, 20
    out.append(attack_slowloris(ctx))
    a.conns, a.duration, a.seed = 10, 2.0, 1
    out.append(attack_garbage(ctx))
    return out


# ---- main --------------------------------------------------------------------------

ATTACKS = {
    "amplify": attack_amplify,
    "nonread": attack_nonread,
    "slowloris": attack_slowloris,
    "garbage": attack_garbage,
    "conns": attack_conns,
}

# each attack's own defaults, applied unless given on the command line
DEFAULTS = {
    "amplify": dict(conns=1, hold=5.0, slack_mb=16),
    "nonread": dict(conns=50, duration=15.0, slack_mb=64),
    "slowloris": dict(conns=300, slack_mb=32),
    "garbage": dict(conns=200, duration=10.0, slack_mb=64),
    "conns": dict(conns=15000, duration=5.0),
    "smoke": dict(slack_mb=16),
}


def parse():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See tests/attack/README.md.")
    p.add_argument("attack", choices=sorted(ATTACKS) + ["all", "smoke"])
    g = p.add_argument_group("server")
    g.add_argument("--port", type=int, help="rend's TCP port (127.0.0.1)")
    g.add_argument("--host", default="127.0.0.1")
    g.add_argument("--unix", help="rend's unix socket")
    g.add_argument("--pid", type=int, help="rend's pid (for RSS)")
    g.add_argument("--backend-unix", help="memcached behind rend (stats)")
    g.add_argument("--spawn", choices=["inmem", "l1l2", "production",
                                       "proxy", "flag-proxy"],
                   help="start rend (and memcached) in a temporary dir")
    g.add_argument("--settings", choices=["default", "production"],
                   default="default")
    g.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="add a settings{} key (repeatable)")
    g.add_argument("--rend", default=os.path.join(TOP, "core", "rend"))
    g.add_argument("--plugin-dir",
                   default=os.environ.get("REND_PLUGIN_DIR",
                                          os.path.join(TOP, "plugins",
                                                       ".libs")))
    g.add_argument("--rend-arg", action="append",
                   help="extra rend argument (repeatable)")
    g.add_argument("--memcached", default=os.environ.get("MEMCACHED",
                                                         "memcached"))
    g.add_argument("--mc-memory", type=int, default=1024)
    g.add_argument("--keep", action="store_true", help="keep the temp dir")
    g.add_argument("--label")
    t = p.add_argument_group("attack knobs (defaults per attack)")
    t.add_argument("--conns", type=int)
    t.add_argument("--value-size", type=int, default=1048576)
    t.add_argument("--repeats", default="1000,2000",
                   help="amplify: keys per get line, comma-separated")
    t.add_argument("--hold", type=float, help="amplify: seconds to watch")
    t.add_argument("--drain", type=int, default=20,
                   help="amplify: values read back and checked")
    t.add_argument("--gets", type=int, default=100000)
    t.add_argument("--nr-size", type=int, default=4096)
    t.add_argument("--duration", type=float)
    t.add_argument("--warmup", type=float, default=1.0)
    t.add_argument("--p99-ms", type=float, default=50.0)
    t.add_argument("--repeat", type=int, default=1,
                   help="run the attack this many times (p99 spread)")
    t.add_argument("--withhold", type=int, default=10)
    t.add_argument("--interleave", action="store_true",
                   help="slowloris: send all connections' bytes round-robin")
    t.add_argument("--headers-first", action="store_true",
                   help="slowloris: send every set line before any value")
    t.add_argument("--send-timeout", type=float, default=60.0)
    t.add_argument("--sweep-slack", type=float, default=5.0)
    t.add_argument("--no-wait", action="store_true",
                   help="slowloris: do not wait for read_timeout")
    t.add_argument("--seed", type=int, default=10)
    t.add_argument("--reply-timeout", type=float, default=60.0)
    t.add_argument("--per-conn-bytes", type=int, default=16384)
    t.add_argument("--slack-mb", type=int,
                   help="allocator/thread slack added to each RSS bound")
    return p.parse_args()


def apply_defaults(args, attack):
    for k, v in DEFAULTS.get(attack, {}).items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)


def main():
    args = parse()
    explicit = {k: getattr(args, k) for k in ("conns", "hold", "duration",
                                              "slack_mb")}
    spawned = None
    if args.spawn:
        spawned = Spawned(args).start()
        target, pid = spawned.target, spawned.rend.pid
        backend = ("unix", spawned.mc_sock) if spawned.mc_sock else None
    else:
        if args.unix:
            target = ("unix", args.unix)
        elif args.port:
            target = ("tcp", args.host, args.port)
        else:
            sys.exit("attack.py: --spawn, --port or --unix is required")
        pid = args.pid
        backend = ("unix", args.backend_unix) if args.backend_unix else None
        if pid is None:
            log("warning: no --pid: RSS is not measured")
    ctx = Ctx(args, target, pid, backend)
    names = sorted(ATTACKS) if args.attack == "all" else [args.attack]
    results = []
    try:
        for name in names:
            for k, v in explicit.items():
                setattr(args, k, v)
            apply_defaults(args, name)
            for _ in range(args.repeat):
                if name == "smoke":
                    rs = attack_smoke(ctx)
                else:
                    rs = [ATTACKS[name](ctx)]
                for r in rs:
                    r.report()
                results.extend(rs)
                if not alive(pid):
                    break
            if not alive(pid):
                log("rend is gone")
                break
    finally:
        was_alive = alive(pid)
        rc = spawned.stop() if spawned else None
        if rc is not None:
            log("rend had exited with status %s" % rc)
    p99s = [r.p99 for r in results if hasattr(r, "p99")]
    if len(p99s) > 1:
        log("p99 over %d runs: %s ms" % (len(p99s), ", ".join(
            "%.1f" % x for x in sorted(p99s))))
    failed = [r for r in results if not r.ok]
    if not was_alive and not failed:
        failed = [None]
    log("attack.py: %d passed, %d failed" % (len(results) - len(failed),
                                            len(failed)))
    sys.exit(1 if failed or rc is not None else 0)


if __name__ == "__main__":
    main()
