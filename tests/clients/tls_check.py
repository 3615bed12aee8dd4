# tls_check.py - TLS listeners against the real rend binary, with real TLS
# clients (pymemcache's tls_context, Python's ssl, `openssl s_client`).
#
# A throwaway CA, two server certificates and two client certificates (one
# from the CA, one self-signed) are made with `openssl req`/`openssl x509`
# in a temporary directory; rend runs a TLS listener, a TLS listener that
# requires a client certificate, a plain listener and the admin listener.
# Prints one "PASS name" / "FAIL name: why" line per check; exit 0 when
# all pass, 77 (skip) when this rend was built without TLS.
#
# Environment: REND_BIN (the binary), REND_PLUGIN_DIR (as make check sets).
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

from pymemcache.client.base import Client

REND = os.environ.get("REND_BIN", "../core/rend")
OPENSSL = "openssl"
failures = 0


def result(name, ok, why=""):
    global failures
    if ok:
        print("PASS %s" % name)
    else:
        failures += 1
        print("FAIL %s: %s" % (name, why))
    sys.stdout.flush()


def check(name, fn):
    """fn returns None (pass) or a reason (fail); an exception fails."""
    try:
        why = fn()
    except Exception as e:
        why = "%s: %s" % (type(e).__name__, e)
    result(name, why is None, why)


def run(*args, **kw):
    return subprocess.run(list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True, **kw)


# ---- certificates ------------------------------------------------------

def make_certs(d):
    p = lambda n: os.path.join(d, n)
    ext = p("san.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2",
        "-subj", "/CN=rend test CA")

    def signed(name, cn, san):
        run(OPENSSL, "req", "-newkey", "rsa:2048", "-nodes",
            "-keyout", p(name + ".key"), "-out", p(name + ".csr"),
            "-subj", "/CN=" + cn)
        extra = ["-extfile", ext] if san is True else []
        if isinstance(san, str):
            with open(p(name + ".cnf"), "w") as f:
                f.write("subjectAltName=%s\n" % san)
            extra = ["-extfile", p(name + ".cnf")]
        run(OPENSSL, "x509", "-req", "-in", p(name + ".csr"),
            "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial",
            "-out", p(name + ".pem"), "-days", "2", *extra)

    signed("server", "localhost", True)
    signed("server2", "localhost", True)
    signed("client", "rend test client", False)
    # allow_names: a CA-signed client named by none of them, and one named
    # only by its subjectAltName
    signed("other", "other client", False)
    signed("svc", "svc", "DNS:client1.example")
    # a key that needs a passphrase (rend has no passphrase option)
    run(OPENSSL, "pkey", "-in", p("server.key"), "-aes256", "-passout",
        "pass:secret", "-out", p("enc.key"))
    run(OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-keyout", p("rogue.key"), "-out", p("rogue.pem"), "-days", "2",
        "-subj", "/CN=rogue client")


def fingerprint_file(pem):
    out = run(OPENSSL, "x509", "-in", pem, "-noout", "-fingerprint",
              "-sha256").stdout.decode()
    return out.strip().split("=", 1)[1].replace(":", "").upper()


# ---- rend --------------------------------------------------------------

CONFIG = """\
local l1 = handler "inmem" {{ memory_mb = 64 }}
settings {{ read_timeout = 2 }}
admin {{ address = "127.0.0.1", port = 0 }}
listen {{ address = "127.0.0.1", port = 0, routes = {{ default = l1only(l1) }},
         tls = {{ cert = "{d}/live.pem", key = "{d}/live.key" }} }}
listen {{ address = "127.0.0.1", port = 0, routes = {{ default = l1only(l1) }},
         tls = {{ cert = "{d}/server.pem", key = "{d}/server.key",
                 ca = "{d}/ca.pem", verify_client = true }} }}
listen {{ address = "127.0.0.1", port = 0, routes = {{ default = l1only(l1) }} }}
listen {{ address = "127.0.0.1", port = 0, routes = {{ default = l1only(l1) }},
         tls = {{ ssl_chain_cert = "{d}/server.pem", ssl_key = "{d}/server.key",
                 ssl_min_version = 3 }} }}
listen {{ address = "127.0.0.1", port = 0, routes = {{ default = l1only(l1) }},
         tls = {{ cert = "{d}/server.pem", key = "{d}/server.key",
                 ca = "{d}/ca.pem", verify_client = true,
                 allow_names = {{ "rend test client", "client1.example" }} }} }}
"""


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def copy(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    with open(dst + ".tmp", "wb") as f:
        f.write(data)
    os.rename(dst + ".tmp", dst)


class Rend:
    def __init__(self, d, config):
        self.d = d
        self.pf = os.path.join(d, "ports")
        if os.path.exists(self.pf):
            os.unlink(self.pf)
        self.log = open(os.path.join(d, "rend.log"), "wb")
        self.p = subprocess.Popen([REND, "--config", config, "-t", "2",
                                   "--port-file", self.pf],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(1000):
            if os.path.exists(self.pf) or self.p.poll() is not None:
                break
            time.sleep(0.01)
        if not os.path.exists(self.pf):
            raise RuntimeError("rend did not start: " + self.logtext())
        lines = open(self.pf).read().split("\n")
        self.tls, self.mtls, self.plain, self.tls13, self.names = \
            (int(x) for x in lines[:5])
        self.admin = int([l for l in lines if l.startswith("admin ")][0]
                         .split()[1])

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        with open(os.path.join(self.d, "rend.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()

    def stats(self, group=""):
        s = socket.create_connection(("127.0.0.1", self.plain), 5)
        s.sendall(b"stats%s\r\n" % (b" " + group.encode() if group else b""))
        buf = b""
        while not buf.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        out = {}
        for line in buf.decode().split("\r\n"):
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
        return out


def client_ctx(d, cert=None):
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    if cert is not None:
        ctx.load_cert_chain(os.path.join(d, cert + ".pem"),
                            os.path.join(d, cert + ".key"))
    return ctx


def tls_conn(d, port, cert=None):
    raw = socket.create_connection(("127.0.0.1", port), 10)
    return client_ctx(d, cert).wrap_socket(raw, server_hostname="localhost")


def read_until(s, end, limit=64 << 20):
    buf = b""
    while not buf.endswith(end):
        chunk = s.recv(1 << 20)
        if not chunk:
            raise RuntimeError("closed after %d bytes" % len(buf))
        buf += chunk
        if len(buf) > limit:
            raise RuntimeError("reply too long")
    return buf


def s_client(port, text, extra=()):
    return subprocess.run([OPENSSL, "s_client", "-quiet", "-connect",
                           "127.0.0.1:%d" % port, *extra],
                          input=text, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=20)


def served_fingerprint(d, port):
    """The certificate a new connection is served, as s_client shows it."""
    p = subprocess.run([OPENSSL, "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-CAfile",
                        os.path.join(d, "ca.pem")],
                       input=b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
    x = subprocess.run([OPENSSL, "x509", "-noout", "-fingerprint",
                        "-sha256"], input=p.stdout, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
    out = x.stdout.decode().strip()
    if "=" not in out:
        return "(none: %s)" % p.stderr.decode(errors="replace")[-200:]
    return out.split("=", 1)[1].replace(":", "").upper()


def post_reload(r):
    req = urllib.request.Request("http://127.0.0.1:%d/reload" % r.admin,
                                 data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# ---- the checks ----------------------------------------------------------

def checks(d, r):
    ca = os.path.join(d, "ca.pem")

    # (1) pymemcache with tls_context
    def pymemcache_ops():
        c = Client(("127.0.0.1", r.tls), tls_context=client_ctx(d),
                   connect_timeout=5, timeout=10)
        if not c.set("tk", b"tv", noreply=False):
            return "set failed"
        if c.get("tk") != b"tv":
            return "get: %r" % c.get("tk")
        v, cas = c.gets("tk")
        if not c.cas("tk", b"tv2", cas, noreply=False):
            return "cas with the current token failed"
        if c.cas("tk", b"tv3", cas, noreply=False):
            return "cas with a stale token succeeded"
        if c.get("tk") != b"tv2":
            return "after cas: %r" % c.get("tk")
        c.set("n", b"10", noreply=False)
        if c.incr("n", 5) != 15:
            return "incr"
        if sorted(c.get_many(["tk", "n", "nope"]).items()) != \
                [("n", b"15"), ("tk", b"tv2")]:
            return "get_many"
        c.close()
        return None
    check("pymemcache_tls_set_get_cas", pymemcache_ops)

    # the same data through the plain listener: one store behind both
    def plain_sees_it():
        c = Client(("127.0.0.1", r.plain), connect_timeout=5, timeout=10)
        v = c.get("tk")
        c.close()
        return None if v == b"tv2" else "plain get: %r" % v
    check("plain_listener_same_store", plain_sees_it)

    # (2) openssl s_client, text protocol piped through it
    def s_client_text():
        p = s_client(r.tls, b"set sk 0 0 5\r\nhello\r\nget sk\r\n"
                            b"version\r\nquit\r\n", ("-CAfile", ca))
        want = b"STORED\r\nVALUE sk 0 5\r\nhello\r\nEND\r\nVERSION "
        if not p.stdout.startswith(want):
            return "got %r (stderr %r)" % (p.stdout, p.stderr[-300:])
        return None
    check("s_client_set_get", s_client_text)

    # the binary and meta protocols are detected after the handshake too
    def binary_and_meta():
        s = tls_conn(d, r.tls)
        # binary: version (opcode 0x0b), then noop (0x0a)
        req = bytes([0x80, 0x0b]) + bytes(22) + bytes([0x80, 0x0a]) + bytes(22)
        s.sendall(req)
        got = b""
        while len(got) < 24 * 2 + 5:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        if got[:2] != bytes([0x81, 0x0b]) or bytes([0x81, 0x0a]) not in got:
            return "binary replies %r" % got
        s = tls_conn(d, r.tls)
        s.sendall(b"ms mk 2\r\nhi\r\nmg mk v\r\nmn\r\n")
        got = read_until(s, b"MN\r\n")
        s.close()
        if got != b"HD\r\nVA 2\r\nhi\r\nMN\r\n":
            return "meta replies %r" % got
        return None
    check("binary_and_meta_over_tls", binary_and_meta)

    # (3) verify_client = true
    def mtls_no_cert():
        try:
            s = tls_conn(d, r.mtls)
            s.sendall(b"version\r\n")
            got = s.recv(100)  # TLS 1.3: the refusal arrives as an alert
        except (ssl.SSLError, ConnectionError, OSError):
            return None
        return "a client without a certificate got %r" % got
    check("verify_client_refuses_no_cert", mtls_no_cert)

    def mtls_rogue_cert():
        try:
            s = tls_conn(d, r.mtls, "rogue")
            s.sendall(b"version\r\n")
            got = s.recv(100)
        except (ssl.SSLError, ConnectionError, OSError):
            return None
        return "a self-signed client certificate got %r" % got
    check("verify_client_refuses_unknown_cert", mtls_rogue_cert)

    def mtls_good_cert():
        s = tls_conn(d, r.mtls, "client")
        s.sendall(b"version\r\n")
        got = read_until(s, b"\r\n")
        s.close()
        return None if got.startswith(b"VERSION ") else "got %r" % got
    check("verify_client_accepts_signed_cert", mtls_good_cert)

    def mtls_s_client():
        p = s_client(r.mtls, b"get sk\r\nquit\r\n",
                     ("-CAfile", ca, "-cert", os.path.join(d, "client.pem"),
                      "-key", os.path.join(d, "client.key")))
        if p.stdout != b"VALUE sk 0 5\r\nhello\r\nEND\r\n":
            return "got %r" % p.stdout
        p = s_client(r.mtls, b"get sk\r\nquit\r\n", ("-CAfile", ca))
        if b"VALUE" in p.stdout:
            return "s_client without a certificate got %r" % p.stdout
        return None
    check("verify_client_s_client", mtls_s_client)

    # min_version (here memcached's ssl_min_version = 3: TLS 1.3)
    def min_version():
        ctx = client_ctx(d)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            raw = socket.create_connection(("127.0.0.1", r.tls13), 10)
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            return "a TLS 1.2 client connected (%s)" % s.version()
        except (ssl.SSLError, ConnectionError):
            pass
        raw = socket.create_connection(("127.0.0.1", r.tls), 10)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        if s.version() != "TLSv1.2":
            return "TLS 1.2 on the default listener: %s" % s.version()
        s.close()
        s = tls_conn(d, r.tls13)
        v = s.version()
        s.sendall(b"version\r\n")
        got = read_until(s, b"\r\n")
        s.close()
        if v != "TLSv1.3" or not got.startswith(b"VERSION "):
            return "TLS 1.3 client: %s %r" % (v, got)
        return None
    check("min_version", min_version)

    # (4) a plain-text client on the TLS port fails without hurting others
    def plain_on_tls():
        before = int(r.stats().get("tls_handshake_failures", "-1"))
        keep = tls_conn(d, r.tls)  # a TLS client already connected
        keep.sendall(b"set pk 0 0 1\r\nx\r\n")
        if read_until(keep, b"\r\n") != b"STORED\r\n":
            return "TLS client before"
        s = socket.create_connection(("127.0.0.1", r.tls), 5)
        s.sendall(b"get pk\r\n")
        got = b""
        s.settimeout(5)
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        s.close()
        if b"VALUE" in got or b"END" in got or b"ERROR" in got:
            return "the plain client got a memcached reply: %r" % got
        keep.sendall(b"get pk\r\n")
        if read_until(keep, b"END\r\n") != b"VALUE pk 0 1\r\nx\r\nEND\r\n":
            return "TLS client after"
        keep.close()
        new = tls_conn(d, r.tls)
        new.sendall(b"get pk\r\n")
        if read_until(new, b"END\r\n") != b"VALUE pk 0 1\r\nx\r\nEND\r\n":
            return "new TLS client after"
        new.close()
        after = int(r.stats().get("tls_handshake_failures", "-1"))
        if after <= before:
            return "tls_handshake_failures %d -> %d" % (before, after)
        return None
    check("plain_client_on_tls_port", plain_on_tls)

    # (7) a 1 MB value and pipelined requests
    def big_value():
        c = Client(("127.0.0.1", r.tls), tls_context=client_ctx(d),
                   connect_timeout=5, timeout=30)
        big = os.urandom(1000 * 1000)
        if not c.set("big", big, noreply=False):
            return "set big"
        if c.get("big") != big:
            return "get big differs"
        many = {"b%d" % i: os.urandom(100000 + i) for i in range(20)}
        c.set_many(many, noreply=False)
        got = c.get_many(list(many))
        c.close()
        return None if got == many else "get_many of 20 x 100 KB differs"
    check("large_values", big_value)

    def pipelined():
        s = tls_conn(d, r.tls)
        n = 2000
        req = b"".join(b"set p%d 0 0 %d\r\n%s\r\n" % (i, len(b"v%d" % i),
                                                       b"v%d" % i)
                       for i in range(n))
        req += b"".join(b"get p%d\r\n" % i for i in range(n))
        s.sendall(req)  # one write: many TLS records at once
        want = b"STORED\r\n" * n + b"".join(
            b"VALUE p%d 0 %d\r\nv%d\r\nEND\r\n" % (i, len(b"v%d" % i), i)
            for i in range(n))
        got = b""
        while len(got) < len(want):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        s.close()
        return None if got == want else "replies differ (%d of %d bytes)" \
            % (len(got), len(want))
    check("pipelined_requests", pipelined)

    def pipelined_big_multiget():
        # a multi-get whose reply is many records, read slowly
        s = tls_conn(d, r.tls)
        s.sendall(b"get" + b" big" * 8 + b"\r\n")
        time.sleep(0.5)
        got = read_until(s, b"END\r\n")
        s.close()
        # "VALUE big 0 1000000\r\n" is 21 bytes, then the value and CRLF
        want = 8 * (21 + 1000 * 1000 + 2) + 5
        return None if len(got) == want \
            else "got %d bytes, want %d" % (len(got), want)
    check("multiget_1mb_values", pipelined_big_multiget)

    # A TLS client that never reads its replies is held to the same output
    # budget as a plain one (it_hostile's amplification, over TLS): two
    # multi-gets of a 1 MB value 1000 times each would be 2 GB of replies.
    def amplification():
        def rss_kb():
            with open("/proc/%d/status" % r.p.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            return 0
        before = rss_kb()
        atk = tls_conn(d, r.tls)
        line = b"get" + b" big" * 1000 + b"\r\n"
        atk.sendall(line + line)
        peak = before
        t_end = time.time() + 2.5
        while time.time() < t_end:
            peak = max(peak, rss_kb())
            time.sleep(0.02)
        other = tls_conn(d, r.tls)
        other.sendall(b"get big\r\n")
        got = read_until(other, b"END\r\n")
        other.close()
        atk.close()
        sys.stderr.write("tls amplification: RSS %d KiB before, peak %d "
                         "(+%d KiB)\n" % (before, peak, peak - before))
        if peak - before >= 96 * 1024:
            return "RSS grew by %d KiB" % (peak - before)
        if len(got) != 21 + 1000 * 1000 + 2 + 5:
            return "another client's get big: %d bytes" % len(got)
        return None
    check("amplification_bounded", amplification)

    # many TLS clients at once on both worker threads, values of every size
    def concurrent():
        import random
        import threading
        errs = []

        def worker(n):
            rnd = random.Random(n)
            try:
                c = Client(("127.0.0.1", r.tls), tls_context=client_ctx(d),
                           connect_timeout=5, timeout=30)
                for i in range(100):
                    k = "c%d_%d" % (n, rnd.randrange(20))
                    v = os.urandom(rnd.choice((1, 100, 5000, 20000, 300000)))
                    c.set(k, v, noreply=False)
                    if c.get(k) != v:
                        errs.append("client %d: %s differs" % (n, k))
                        return
                c.close()
            except Exception as e:
                errs.append("client %d: %r" % (n, e))
        ts = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        return "; ".join(errs[:3]) if errs else None
    check("concurrent_clients", concurrent)

    # Input decrypted inside the session is not announced by the socket:
    # a record larger than the input buffer's free space leaves bytes
    # there, and nothing more arrives to wake the connection.
    def buffered_in_session():
        s = tls_conn(d, r.tls)
        value = b"y" * 20000
        head = b"set held 0 0 %d\r\n" % len(value)
        s.sendall(head + value[:10000])  # one record: an incomplete request
        time.sleep(0.3)
        s.sendall(value[10000:] + b"\r\n")  # one record: more than fits
        s.settimeout(5)
        got = read_until(s, b"\r\n")
        s.close()
        return None if got == b"STORED\r\n" else "got %r" % got
    check("input_buffered_in_session", buffered_in_session)

    # handshake timeout: a client that opens TCP and never speaks TLS
    def handshake_stall():
        s = socket.create_connection(("127.0.0.1", r.tls), 5)
        s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then stall
        s.settimeout(8)
        t0 = time.time()
        try:
            closed = s.recv(10) == b""
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
        s.close()
        took = time.time() - t0
        if not closed:
            return "not closed after %.1f s" % took
        if took < 0.9:  # read_timeout is 2 s, swept once a second
            return "closed after %.1f s, before read_timeout" % took
        return None
    check("handshake_timeout", handshake_stall)

    # stats and /metrics
    def counters():
        st = r.stats()
        if int(st.get("tls_handshakes", "0")) < 5:
            return "tls_handshakes = %r" % st.get("tls_handshakes")
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % r.admin,
                                    timeout=10) as resp:
            m = resp.read().decode()
        for want in ('rend_tls_handshakes_total{result="ok"}',
                     'rend_tls_handshakes_total{result="failed"}'):
            if want not in m:
                return "/metrics lacks " + want
        return None
    check("stats_and_metrics", counters)

    # memcached's TLS lines in `stats settings` (a memcached built with TLS
    # prints them), from the first TLS listener; its `stats` names too
    def settings_lines():
        st = r.stats("settings")
        want = {"ssl_enabled": "yes",
                "ssl_chain_cert": os.path.join(d, "live.pem"),
                "ssl_key": os.path.join(d, "live.key"),
                "ssl_verify_mode": "0", "ssl_keyformat": "1",
                "ssl_ciphers": "NULL", "ssl_ca_cert": "NULL",
                "ssl_wbuf_size": "16384", "ssl_min_version": "tlsv1.2"}
        for k, v in want.items():
            if st.get(k) != v:
                return "stats settings %s = %r, want %r" % (k, st.get(k), v)
        gen = r.stats()
        if int(gen.get("ssl_handshake_errors", "-1")) != \
                int(gen.get("tls_handshake_failures", "-2")):
            return "ssl_handshake_errors %r" % gen.get("ssl_handshake_errors")
        if not 0 <= int(gen.get("time_since_server_cert_refresh", "-1")) \
                < 3600:
            return "time_since_server_cert_refresh %r" % \
                gen.get("time_since_server_cert_refresh")
        return None
    check("stats_settings_ssl_lines", settings_lines)

    # GET /config: each listener's tls block, paths shown, no key material
    def config_tls():
        with urllib.request.urlopen("http://127.0.0.1:%d/config" % r.admin,
                                    timeout=10) as resp:
            body = resp.read().decode()
        cfg = json.loads(body)
        ls = cfg["listeners"]
        t0, t1, t2, t4 = ls[0]["tls"], ls[1]["tls"], ls[2]["tls"], ls[4]["tls"]
        if t2 is not None:
            return "plain listener tls = %r" % t2
        if t0 is None or t0["cert"] != os.path.join(d, "live.pem") \
                or t0["key"] != os.path.join(d, "live.key") \
                or t0["verify_client"] != "none" or t0["ca"] is not None:
            return "listener 0 tls = %r" % t0
        if t0["cert_sha256"].replace(":", "") != \
                fingerprint_file(os.path.join(d, "live.pem")):
            return "listener 0 cert_sha256 %r" % t0["cert_sha256"]
        if t1["verify_client"] != "require" or \
                t1["ca"] != os.path.join(d, "ca.pem"):
            return "listener 1 tls = %r" % t1
        if ls[3]["tls"]["min_version"] != "1.3":
            return "listener 3 tls = %r" % ls[3]["tls"]
        if t4["allow_names"] != ["rend test client", "client1.example"]:
            return "listener 4 allow_names = %r" % t4["allow_names"]
        with open(os.path.join(d, "live.key")) as f:
            key_lines = [l for l in f.read().split("\n")
                         if l and not l.startswith("-----")]
        if "PRIVATE KEY" in body or any(l in body for l in key_lines):
            return "/config shows key material"
        return None
    check("config_shows_tls", config_tls)

    # allow_names: a verified client certificate must name one of them
    def allow_names():
        for cert in ("client", "svc"):  # by CN, by subjectAltName
            s = tls_conn(d, r.names, cert)
            s.sendall(b"version\r\n")
            got = read_until(s, b"\r\n")
            s.close()
            if not got.startswith(b"VERSION "):
                return "%s: got %r" % (cert, got)
        for cert in ("other", None, "rogue"):  # CA-signed, none, unknown
            try:
                s = tls_conn(d, r.names, cert)
                s.sendall(b"version\r\n")
                got = s.recv(100)
            except (ssl.SSLError, ConnectionError, OSError):
                continue
            return "client %s got %r" % (cert, got)
        p = s_client(r.names, b"version\r\nquit\r\n",
                     ("-CAfile", ca, "-cert", os.path.join(d, "other.pem"),
                      "-key", os.path.join(d, "other.key")))
        if b"VERSION" in p.stdout:
            return "s_client with an unnamed certificate got %r" % p.stdout
        # the same certificate is fine where no names are required
        s = tls_conn(d, r.mtls, "other")
        s.sendall(b"version\r\n")
        got = read_until(s, b"\r\n")
        s.close()
        if not got.startswith(b"VERSION "):
            return "other on the verify_client listener: %r" % got
        return None
    check("allow_names", allow_names)

    # per-listener handshake counters on /metrics
    def listener_metrics():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % r.admin,
                                    timeout=10) as resp:
            m = resp.read().decode()
        vals = {}
        for line in m.split("\n"):
            if line.startswith("rend_listener_tls_handshakes_total{"):
                k, v = line.rsplit(" ", 1)
                vals[k] = int(v)
        key = 'rend_listener_tls_handshakes_total{listener="%d",result="%s"}'
        if vals.get(key % (4, "failed"), 0) < 3:
            return "listener 4 failed = %r" % vals.get(key % (4, "failed"))
        if vals.get(key % (4, "ok"), 0) < 2:
            return "listener 4 ok = %r" % vals.get(key % (4, "ok"))
        if vals.get(key % (0, "ok"), 0) < 5:
            return "listener 0 ok = %r" % vals.get(key % (0, "ok"))
        if any('listener="2"' in k for k in vals):
            return "the plain listener has TLS counters"
        return None
    check("per_listener_tls_metrics", listener_metrics)

    # (6) reload re-reads certificates
    def reload_new_cert():
        fp1 = fingerprint_file(os.path.join(d, "server.pem"))
        fp2 = fingerprint_file(os.path.join(d, "server2.pem"))
        if served_fingerprint(d, r.tls) != fp1:
            return "before: not the first certificate"
        old = tls_conn(d, r.tls)  # stays open across the reload
        copy(os.path.join(d, "server2.pem"), os.path.join(d, "live.pem"))
        copy(os.path.join(d, "server2.key"), os.path.join(d, "live.key"))
        r.p.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        seen = None
        while time.time() < deadline:
            seen = served_fingerprint(d, r.tls)
            if seen == fp2:
                break
            time.sleep(0.1)
        if seen != fp2:
            return "after SIGHUP: served %s, want %s" % (seen, fp2)
        old.sendall(b"get sk\r\n")
        if read_until(old, b"END\r\n") != b"VALUE sk 0 5\r\nhello\r\nEND\r\n":
            return "a connection from before the reload broke"
        old.close()
        return None
    check("reload_sighup_new_cert", reload_new_cert)

    def reload_bad_cert_refused():
        fp2 = fingerprint_file(os.path.join(d, "server2.pem"))
        fails = int(r.stats()["config_reload_failures"])
        write(os.path.join(d, "live.pem"), "not a certificate\n")
        code, body = post_reload(r)
        if code != 422 or "rend.lua:4:" not in body or "cert" not in body:
            return "POST /reload: %d %r" % (code, body)
        r.p.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and \
                int(r.stats()["config_reload_failures"]) < fails + 2:
            time.sleep(0.05)
        if int(r.stats()["config_reload_failures"]) != fails + 2:
            return "config_reload_failures did not count both"
        if served_fingerprint(d, r.tls) != fp2:
            return "the old certificate was not kept"
        s = tls_conn(d, r.tls)
        s.sendall(b"get sk\r\n")
        ok = read_until(s, b"END\r\n") == b"VALUE sk 0 5\r\nhello\r\nEND\r\n"
        s.close()
        # the admin reload picks up a good certificate again
        copy(os.path.join(d, "server.pem"), os.path.join(d, "live.pem"))
        copy(os.path.join(d, "server.key"), os.path.join(d, "live.key"))
        code, body = post_reload(r)
        if code != 200:
            return "POST /reload with good files: %d %r" % (code, body)
        if served_fingerprint(d, r.tls) != \
                fingerprint_file(os.path.join(d, "server.pem")):
            return "POST /reload did not serve the new certificate"
        return None if ok else "TLS after the refused reload failed"
    check("reload_bad_cert_refused", reload_bad_cert_refused)


# (5) configuration errors: rend exits 1 with file:line
def config_errors(d):
    base = ('local l1 = handler "inmem" { memory_mb = 8 }\n'
            '-- line 2\n'
            'listen { port = 0, routes = { default = l1only(l1) },\n'
            '         tls = %s }\n')
    cases = [
        ("bad_cert_path", '{ cert = "%s/missing.pem", key = "%s/server.key" }'
         % (d, d), "rend.lua:3:", "missing.pem"),
        ("mismatched_key", '{ cert = "%s/server.pem", key = "%s/client.key" }'
         % (d, d), "rend.lua:3:", "does not match"),
        ("bad_key_path", '{ cert = "%s/server.pem", key = "%s/nokey" }'
         % (d, d), "rend.lua:3:", "nokey"),
        ("bad_ca_path", '{ cert = "%s/server.pem", key = "%s/server.key", '
         'ca = "%s/noca", verify_client = true }' % (d, d, d),
         "rend.lua:3:", "noca"),
        ("verify_without_ca", '{ cert = "%s/server.pem", key = "%s/server.key", '
         'verify_client = true }' % (d, d), "rend.lua:3:", "needs ca"),
        ("unknown_key", '{ cert = "a", key = "b", certfile = "c" }',
         "rend.lua:3:", "certfile"),
        ("bad_min_version", '{ cert = "a", key = "b", min_version = "2.0" }',
         "rend.lua:3:", "min_version"),
        ("bad_ciphers", '{ cert = "%s/server.pem", key = "%s/server.key", '
         'ciphers = "NO-SUCH-CIPHER" }' % (d, d), "rend.lua:3:", "ciphers"),
        ("encrypted_key", '{ cert = "%s/server.pem", key = "%s/enc.key" }'
         % (d, d), "rend.lua:3:", "encrypted"),
        ("allow_names_without_verify", '{ cert = "%s/server.pem", key = '
         '"%s/server.key", allow_names = { "c1" } }' % (d, d),
         "rend.lua:3:", "allow_names needs verify_client"),
        ("allow_names_not_a_list", '{ cert = "%s/server.pem", key = '
         '"%s/server.key", ca = "%s/ca.pem", verify_client = true, '
         'allow_names = "c1" }' % (d, d, d), "rend.lua:3:", "allow_names"),
        ("allow_names_request_only", '{ cert = "%s/server.pem", key = '
         '"%s/server.key", ca = "%s/ca.pem", ssl_verify_mode = 1, '
         'allow_names = { "c1" } }' % (d, d, d), "rend.lua:3:",
         "allow_names needs verify_client"),
    ]
    cfg = os.path.join(d, "bad", "rend.lua")
    os.makedirs(os.path.dirname(cfg), exist_ok=True)
    for name, tls, where, what in cases:
        def one(tls=tls, where=where, what=what):
            write(cfg, base % tls)
            p = subprocess.run([REND, "--config", cfg, "-p", "0"],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=20)
            err = p.stderr.decode(errors="replace")
            if p.returncode != 1:
                return "exit %d (want 1): %s" % (p.returncode, err)
            if where not in err or what not in err:
                return "message %r lacks %r / %r" % (err, where, what)
            return None
        check("config_error_" + name, one)

    # memcached's option names are accepted for the same settings
    def memcached_names():
        write(cfg, base % ('{ ssl_chain_cert = "%s/server.pem", '
                           'ssl_key = "%s/server.key", ssl_ca_cert = '
                           '"%s/ca.pem", ssl_verify_mode = 2, '
                           'ssl_min_version = 2 }' % (d, d, d)))
        p = subprocess.run([REND, "--config", cfg, "--check-config"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        if p.returncode != 0:
            return "exit %d: %s" % (p.returncode, p.stderr.decode())
        return None
    check("memcached_option_names", memcached_names)


def flag_mode_running(d, env, cert, p):
    """A running rend -Z with memcached's client verification options."""
    pf = p("zports")
    log = open(p("z.log"), "wb")
    proc = subprocess.Popen(
        [REND, "-p", "0", "-l", "127.0.0.1", "-m", "8", "-t", "2", "-Z",
         "-o", cert, "-o", "ssl_ca_cert=%s,ssl_verify_mode=2,"
         "ssl_min_version=2,ssl_keyformat=1" % p("ca.pem"),
         "--port-file", pf], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(1000):
            if os.path.exists(pf) or proc.poll() is not None:
                break
            time.sleep(0.01)
        if not os.path.exists(pf):
            raise RuntimeError("rend -Z did not start")
        port = int(open(pf).read().split()[0])

        def served():
            c = Client(("127.0.0.1", port),
                       tls_context=client_ctx(d, "client"),
                       connect_timeout=5, timeout=10)
            if not c.set("zk", b"zv", noreply=False) or c.get("zk") != b"zv":
                return "set/get over -Z TLS"
            st = c.stats("settings")
            c.close()
            want = {b"ssl_enabled": b"yes",
                    b"ssl_chain_cert": p("server.pem").encode(),
                    b"ssl_key": p("server.key").encode(),
                    b"ssl_ca_cert": p("ca.pem").encode(),
                    b"ssl_verify_mode": b"2",
                    b"ssl_min_version": b"tlsv1.2"}
            for k, v in want.items():
                got = st.get(k)
                if isinstance(got, int):
                    got = str(got).encode()
                if got != v:
                    return "stats settings %r = %r, want %r" % (k, got, v)
            return None
        check("flag_z_served", served)

        def refused():
            for cert_name in (None, "rogue"):
                try:
                    s = tls_conn(d, port, cert_name)
                    s.sendall(b"version\r\n")
                    got = s.recv(100)
                except (ssl.SSLError, ConnectionError, OSError):
                    continue
                return "client cert %s got %r" % (cert_name, got)
            s = socket.create_connection(("127.0.0.1", port), 5)
            s.settimeout(5)
            s.sendall(b"version\r\n")
            try:
                got = s.recv(100)
            except (ConnectionError, OSError):
                got = b""
            s.close()
            if got.startswith(b"VERSION"):
                return "a plain client was served on the -Z port"
            return None
        check("flag_z_refuses", refused)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if failures:
            with open(p("z.log"), "rb") as f:
                sys.stdout.write(f.read().decode(errors="replace")[-2000:])



# memcached's -Z with -o ssl_* in flag mode (no --config: the embedded
# config, as `memcached -Z -o ssl_chain_cert=...` would be started)
def flag_mode(d):
    p = lambda n: os.path.join(d, n)
    env = dict(os.environ, REND_DATA=p("zdata"), REND_MAP_MB="64")
    os.makedirs(p("zdata"), exist_ok=True)

    def rend(*args):
        return subprocess.run([REND, "-p", "0", "-l", "127.0.0.1", "-m", "8",
                               "--check-config", *args], env=env,
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=20)

    cert = "ssl_chain_cert=%s,ssl_key=%s" % (p("server.pem"), p("server.key"))
    cases = [
        ("z_without_cert", ["-Z"], 1, "ssl_chain_cert"),
        ("z_without_key", ["-Z", "-o", "ssl_chain_cert=" + p("server.pem")],
         1, "ssl_key"),
        ("ssl_options_without_z", ["-o", cert], 1, "-Z"),
        ("z_missing_cert_file", ["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s"
                                 % (p("missing.pem"), p("server.key"))], 1,
         "missing.pem"),
        ("z_verify_without_ca", ["-Z", "-o", cert + ",ssl_verify_mode=2"], 1,
         "ssl_ca_cert"),
        ("z_bad_verify_mode", ["-Z", "-o", cert + ",ssl_verify_mode=4"], 2,
         "ssl_verify_mode"),
        ("o_unknown_option", ["-o", "no_such_option=1"], 2,
         "no_such_option"),
    ]
    for name, args, code, what in cases:
        def one(args=args, code=code, what=what):
            r = rend(*args)
            err = r.stderr.decode(errors="replace")
            if r.returncode != code:
                return "exit %d (want %d): %s" % (r.returncode, code, err)
            if what not in err:
                return "message %r lacks %r" % (err, what)
            return None
        check("flag_" + name, one)

    def check_ok():
        r = rend("-Z", "-o", cert)
        return None if r.returncode == 0 else "exit %d: %s" % (
            r.returncode, r.stderr.decode(errors="replace"))
    check("flag_z_check_config", check_ok)

    # a running rend -Z with memcached's client verification options
    try:
        flag_mode_running(d, env, cert, p)
    except Exception as e:
        result("flag_z_running", False, "%s: %s" % (type(e).__name__, e))
    pf = p("zports")

    def help_text():
        h = subprocess.run([REND, "--help"], stdout=subprocess.PIPE,
                           timeout=20).stdout.decode()
        for want in ("-Z, --enable-ssl", "ssl_chain_cert=FILE",
                     "ssl_verify_mode=N"):
            if want not in h:
                return "rend --help lacks %r" % want
        return None
    check("flag_help_mentions_z", help_text)

    # -Z with a config: its TCP listeners without tls{} get -Z's, one with
    # its own keeps it, a unix socket stays plain (GET /config shows which)
    def z_with_config():
        cfg = p("zconf.lua")
        write(cfg, """local l1 = handler "inmem" { memory_mb = 8 }
admin { address = "127.0.0.1", port = 0 }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) } }
listen { address = "127.0.0.1", port = 0, routes = { default = l1only(l1) },
         tls = { cert = "%s", key = "%s", ca = "%s", verify_client = true } }
listen { unix = "%s", routes = { default = l1only(l1) } }
""" % (p("server2.pem"), p("server2.key"), p("ca.pem"), p("z.sock")))
        zpf = p("zports3")
        proc = subprocess.Popen([REND, "--config", cfg, "-Z", "-o", cert,
                                 "--port-file", zpf], env=env,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            for _ in range(1000):
                if os.path.exists(zpf) or proc.poll() is not None:
                    break
                time.sleep(0.01)
            lines = open(zpf).read().split("\n")
            admin = int([l for l in lines if l.startswith("admin ")][0]
                        .split()[1])
            with urllib.request.urlopen("http://127.0.0.1:%d/config" % admin,
                                        timeout=10) as resp:
                ls = json.loads(resp.read().decode())["listeners"]
            s = tls_conn(d, int(lines[0]))
            s.sendall(b"version\r\n")
            got = read_until(s, b"\r\n")
            s.close()
        finally:
            proc.terminate()
            proc.wait(10)
        if not got.startswith(b"VERSION"):
            return "-Z listener: %r" % got
        if ls[0]["tls"] is None or ls[0]["tls"]["cert"] != p("server.pem") \
                or ls[0]["tls"]["verify_client"] != "none":
            return "listener 0 tls %r" % ls[0]["tls"]
        if ls[1]["tls"]["cert"] != p("server2.pem") or \
                ls[1]["tls"]["verify_client"] != "require":
            return "listener 1 (own tls) %r" % ls[1]["tls"]
        if ls[2]["tls"] is not None:
            return "unix listener tls %r" % ls[2]["tls"]
        return None
    check("flag_z_with_config", z_with_config)

    # a rend without TLS says so in `stats settings`
    def plain_settings():
        proc = subprocess.Popen([REND, "-p", "0", "-l", "127.0.0.1", "-m", "8",
                                 "--port-file", pf + "2"], env=env,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            for _ in range(1000):
                if os.path.exists(pf + "2") or proc.poll() is not None:
                    break
                time.sleep(0.01)
            c = Client(("127.0.0.1", int(open(pf + "2").read().split()[0])),
                       connect_timeout=5, timeout=10)
            st = c.stats("settings")
            gen = c.stats()
            c.close()
        finally:
            proc.terminate()
            proc.wait(10)
        if st.get(b"ssl_enabled") != b"no" or b"ssl_chain_cert" in st:
            return "settings: %r" % {k: v for k, v in st.items()
                                      if k.startswith(b"ssl")}
        if b"ssl_handshake_errors" in gen:
            return "stats has ssl_handshake_errors without TLS"
        return None
    check("flag_plain_ssl_enabled_no", plain_settings)


def main():
    d = tempfile.mkdtemp(prefix="rend-tls-")
    try:
        make_certs(d)
        # a build without TLS refuses any tls = {...}: skip
        copy(os.path.join(d, "server.pem"), os.path.join(d, "live.pem"))
        copy(os.path.join(d, "server.key"), os.path.join(d, "live.key"))
        cfg = os.path.join(d, "rend.lua")
        write(cfg, CONFIG.format(d=d))
        p = subprocess.run([REND, "--config", cfg, "--check-config"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        if b"without TLS" in p.stderr:
            print("SKIP: rend was built without TLS")
            return 77
        if p.returncode != 0:
            print("FAIL check-config: %s" % p.stderr.decode())
            return 1
        config_errors(d)
        flag_mode(d)
        r = Rend(d, cfg)
        try:
            checks(d, r)
        finally:
            r.stop()
            if failures:
                sys.stdout.write(r.logtext()[-4000:])
        if r.p.returncode not in (0, -signal.SIGTERM):
            result("clean_exit", False, "rend exited %d" % r.p.returncode)
    finally:
        subprocess.run(["rm", "-rf", d])
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
