/*
 * it_split.c - requests that arrive in pieces, on every shipped topology.
 *
 * 1. The reproducers of the "connection stops answering" bug: a write that
 *    sends no reply (noreply / a binary quiet opcode) followed, in the same
 *    client write, by a request too big for one read.  Each must be
 *    answered, and once the clients leave no socket of rend's may stay in
 *    CLOSE-WAIT (a paused reader never sees the client's EOF).
 * 2. A differential test: seeded random request streams (noreply/quiet and
 *    normal requests, values from 0 bytes to 100 KB, text and binary) go to
 *    a real memcached in one write, then to rend cut at random byte offsets
 *    with many chunk sizes; the replies must be byte-identical (binary cas
 *    fields are zeroed on both sides, nothing else is normalised).
 *
 * 3. The same with keys of 240..250 bytes (chunked mode gives the longer
 *    ones digest piece names) and values around one chunk.
 *
 * Topologies: inmem (conf/inmem.lua), the embedded default (inmem L1 +
 * lmdb L2 in a temp dir), Rend's --l1-sock (memcached L1) and --l1-sock
 * --chunked.  A missing memcached fails the test: CI installs it.
 */
#include "config.h"

#include <check.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rend_check.h"
#include "it_util.h"

#define BIN_HDR 24

enum topo { T_INMEM, T_DEFAULT, T_L1SOCK, T_CHUNKED, T__COUNT };
static const char *const topo_name[T__COUNT] = {
    "inmem", "default L1/L2 (lmdb)", "--l1-sock", "--l1-sock --chunked"
};

struct bed {
    struct rend_srv rend, mc; /* mc: rend's L1 (sock topologies) */
    char data[64];            /* REND_DATA of the default topology */
};

static void
bed_start(struct bed *b, int t)
{
    const char *sock[] = { "--l1-sock", b->mc.path, NULL, NULL };

    memset(b, 0, sizeof(*b));
    if (t == T_INMEM) {
        it_start(&b->rend, NULL);
        return;
    }
    if (t == T_DEFAULT) {
        snprintf(b->data, sizeof(b->data), "/tmp/rend-split-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(b->data));
        setenv("REND_DATA", b->data, 1);
        ck_assert_int_eq(rend_srv_start(&b->rend, NULL, NULL), 0);
        return;
    }
    ck_assert_msg(rend_srv_start_memcached(&b->mc, NULL) == 0,
                  "memcached is required (install-deps.sh installs it)");
    if (t == T_CHUNKED) {
        sock[2] = "--chunked";
    }
    ck_assert_int_eq(rend_srv_start(&b->rend, NULL, sock), 0);
}

static void
bed_stop(struct bed *b)
{
    ck_assert_int_eq(rend_srv_stop(&b->rend, 5000, NULL), 0);
    if (b->mc.pid != 0) {
        rend_srv_stop(&b->mc, 3000, NULL);
    }
    if (b->data[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->data);
        ck_assert_int_eq(system(cmd), 0);
        unsetenv("REND_DATA");
    }
}

/* ---- byte buffers ------------------------------------------------------ */

struct buf {
    char *p;
    size_t n, cap;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
    if (n == 0) {
        return; /* nothing to copy (and b->p may still be NULL) */
    }
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 4096;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void
buf_fill(struct buf *b, char c, size_t n)
{
    char chunk[4096];

    memset(chunk, c, sizeof(chunk));
    while (n > 0) {
        size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
        buf_add(b, chunk, k);
        n -= k;
    }
}

static void
buf_bin(struct buf *b, uint8_t op, const void *ext, uint8_t extlen,
        const char *key, size_t vlen, char vbyte, uint32_t opaque)
{
    unsigned char hdr[BIN_HDR + 20];
    size_t klen = key ? strlen(key) : 0;
    size_t n = rend_bin_pack(hdr, op, ext, extlen, key, NULL, 0, opaque);
    uint32_t body = (uint32_t)(extlen + klen + vlen);

    /* rend_bin_pack wrote the body length without the value: patch it */
    hdr[8] = (unsigned char)(body >> 24);
    hdr[9] = (unsigned char)(body >> 16);
    hdr[10] = (unsigned char)(body >> 8);
    hdr[11] = (unsigned char)body;
    buf_add(b, hdr, n);
    buf_fill(b, vbyte, vlen);
}

/* Read until the reply ends with `tail` (or timeout / close). */
static void
read_until(int fd, struct buf *got, const char *tail, size_t ntail,
           int timeout_ms)
{
    char tmp[65536];
    int64_t t0 = rend_now_ms();

    while (got->n < ntail || memcmp(got->p + got->n - ntail, tail, ntail)) {
        long r = rend_io_read_some(fd, tmp, sizeof(tmp), 100);
        if (r < 0 || rend_now_ms() - t0 > timeout_ms) {
            return;
        }
        buf_add(got, tmp, (size_t)r);
    }
}

/* ---- 1. reproducers ---------------------------------------------------- */

/* Number of sockets on `port` in CLOSE-WAIT (state 08 in /proc/net/tcp). */
static int
close_wait_count(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    int n = 0;

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned lport, st;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x", &lport, &st) == 2
            && (int)lport == port && st == 0x08) {
            n++;
        }
    }
    fclose(f);
    return n;
}

static const char bin_noop_reply[BIN_HDR] = { (char)0x81, 0x0a };

static void
repro(const struct rend_srv *s, const char *name, const struct buf *req,
      const char *tail, size_t ntail, size_t expect_len)
{
    int fd = it_connect(s);
    struct buf got = { 0 };

    ck_assert_int_eq(rend_io_send(fd, req->p, req->n, IT_MS), 0);
    read_until(fd, &got, tail, ntail, IT_MS);
    ck_assert_msg(got.n == expect_len || expect_len == 0,
                  "%s: %zu reply bytes, expected %zu", name, got.n,
                  expect_len);
    ck_assert_msg(got.n >= ntail
                  && memcmp(got.p + got.n - ntail, tail, ntail) == 0,
                  "%s: no reply (connection stopped answering)", name);
    close(fd);
    free(got.p);
}

START_TEST(reproducers_answer)
{
    struct bed b;
    struct buf r = { 0 };
    char ext[8] = { 0 };
    const char *get_tail = "\r\nEND\r\n";
    size_t get_len = strlen("VALUE k 0 20000\r\n") + 20000 + 7;

    bed_start(&b, _i);
    fprintf(stderr, "topology: %s\n", topo_name[_i]);
    for (int round = 0; round < 5; round++) {
        r.n = 0;
        buf_str(&r, "flush_all noreply\r\nset k 0 0 20000 noreply\r\n");
        buf_fill(&r, 'x', 20000);
        buf_str(&r, "\r\nget k\r\n");
        repro(&b.rend, "flush noreply + 20 KB set noreply + get", &r,
              get_tail, 7, get_len);

        r.n = 0;
        buf_str(&r, "set a 0 0 1 noreply\r\na\r\nset k 0 0 20000 noreply\r\n");
        buf_fill(&r, 'x', 20000);
        buf_str(&r, "\r\nget k\r\n");
        repro(&b.rend, "set noreply + 20 KB set noreply + get", &r, get_tail,
              7, get_len);

        r.n = 0;
        buf_bin(&r, 0x11, ext, 8, "a", 1, 'a', 0);
        buf_bin(&r, 0x11, ext, 8, "k", 20000, 'x', 0);
        buf_bin(&r, 0x0a, NULL, 0, NULL, 0, 0, 0);
        repro(&b.rend, "binary SETQ + SETQ 20 KB + NOOP", &r, bin_noop_reply,
              BIN_HDR, BIN_HDR);

        r.n = 0;
        buf_str(&r, "flush_all noreply\r\n");
        for (int i = 0; i < 3000; i++) {
            buf_str(&r, "set k9 0 0 1 noreply\r\na\r\n");
        }
        buf_str(&r, "get k9\r\n");
        repro(&b.rend, "flush noreply + 3000 set noreply + get", &r,
              "VALUE k9 0 1\r\na\r\nEND\r\n", 22, 22);
    }
    free(r.p);
    /* the clients are gone: rend must have closed every socket */
    for (int i = 0; i < 50 && close_wait_count(b.rend.port) > 0; i++) {
        usleep(20000);
    }
    ck_assert_int_eq(close_wait_count(b.rend.port), 0);
    bed_stop(&b);
}
END_TEST

/* ---- 2. random streams, random cuts --------------------------------------- */

static uint64_t rng;

static uint32_t
rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static size_t
rnd_size(void)
{
    static const size_t sizes[] = { 0, 1, 10, 100, 2047, 2049, 16000,
                                    16384, 20000, 65536, 70000, 100000 };
    return sizes[rnd(sizeof(sizes) / sizeof(sizes[0]))];
}

static const char *const ops_text[] = { "set", "add", "replace", "append",
                                        "prepend" };

/* A text stream; ends with a marker get whose reply ends the stream. */
static void
gen_text(struct buf *b, int nreq)
{
    char line[300];

    buf_str(b, "flush_all noreply\r\n");
    for (int i = 0; i < nreq; i++) {
        int key = (int)rnd(6), nr = rnd(2) == 0;
        const char *noreply = nr ? " noreply" : "";
        switch (rnd(8)) {
        case 0: case 1: case 2: {
            size_t n = rnd_size();
            snprintf(line, sizeof(line), "%s k%d %u 0 %zu%s\r\n",
                     ops_text[rnd(5)], key, rnd(1000), n, noreply);
            buf_str(b, line);
            buf_fill(b, (char)('a' + rnd(26)), n);
            buf_str(b, "\r\n");
            break;
        }
        case 3:
            snprintf(line, sizeof(line), "delete k%d%s\r\n", key, noreply);
            buf_str(b, line);
            break;
        case 4:
            snprintf(line, sizeof(line), "set n%d 0 0 2%s\r\n%02u\r\n",
                     key % 3, noreply, rnd(100));
            buf_str(b, line);
            break;
        case 5:
            snprintf(line, sizeof(line), "incr n%d %u%s\r\n", key % 3,
                     rnd(50), noreply);
            buf_str(b, line);
            break;
        case 6:
            snprintf(line, sizeof(line), "touch k%d 0%s\r\n", key, noreply);
            buf_str(b, line);
            break;
        default:
            snprintf(line, sizeof(line), "get k%d n%d k%d\r\n", key,
                     key % 3, (int)rnd(6));
            buf_str(b, line);
            break;
        }
    }
    buf_str(b, "set zzend 0 0 3 noreply\r\nend\r\nget zzend\r\n");
}

static const char text_tail[] = "VALUE zzend 0 3\r\nend\r\nEND\r\n";

/* A binary stream; ends with a NOOP of opaque 0xE0DE. */
static void
gen_bin(struct buf *b, int nreq)
{
    static const uint8_t stores[] = { 0x01, 0x11, 0x02, 0x12, 0x03, 0x13,
                                      0x0e, 0x19, 0x0f, 0x1a };
    static const uint8_t gets[] = { 0x00, 0x09, 0x0c, 0x0d };
    char key[8];

    buf_bin(b, 0x18, NULL, 0, NULL, 0, 0, 1); /* FLUSHQ */
    for (int i = 0; i < nreq; i++) {
        uint32_t opaque = (uint32_t)i + 2;
        snprintf(key, sizeof(key), "k%u", rnd(6));
        switch (rnd(6)) {
        case 0: case 1: case 2: {
            uint8_t op = stores[rnd(sizeof(stores))];
            unsigned char ext[8] = { 0, 0, 0, (unsigned char)rnd(200) };
            int is_cat = op == 0x0e || op == 0x19 || op == 0x0f || op == 0x1a;
            buf_bin(b, op, ext, is_cat ? 0 : 8, key, rnd_size(),
                    (char)('a' + rnd(26)), opaque);
            break;
        }
        case 3:
            buf_bin(b, rnd(2) ? 0x04 : 0x14, NULL, 0, key, 0, 0, opaque);
            break;
        default:
            buf_bin(b, gets[rnd(sizeof(gets))], NULL, 0, key, 0, 0, opaque);
            break;
        }
    }
    buf_bin(b, 0x0a, NULL, 0, NULL, 0, 0, 0xE0DE);
}

static const char bin_tail[BIN_HDR] = { (char)0x81, 0x0a, 0, 0, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, (char)0xE0,
                                        (char)0xDE };

/* Zero the cas field of every binary response packet. */
static void
zero_cas(struct buf *b)
{
    size_t off = 0;

    while (off + BIN_HDR <= b->n) {
        unsigned char *h = (unsigned char *)b->p + off;
        uint32_t body = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16
                        | (uint32_t)h[10] << 8 | h[11];
        memset(h + 16, 0, 8);
        off += BIN_HDR + body;
    }
}

/* Send req to s in pieces of 1..maxcut bytes (pausing now and then so the
 * pieces arrive as separate reads), reading replies whenever they come:
 * neither side may block the other (memcached stops reading while its
 * replies cannot be written). */
static void
exchange(const struct rend_srv *s, const struct buf *req, size_t maxcut,
         const char *tail, size_t ntail, struct buf *got)
{
    int fd = it_connect(s);
    char tmp[65536];
    size_t off = 0, piece = 0;
    int64_t t0 = rend_now_ms();

    got->n = 0;
    while (off < req->n) {
        struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
        ck_assert_msg(rend_now_ms() - t0 < 30000, "exchange stalled at byte "
                      "%zu of %zu (cuts up to %zu)", off, req->n, maxcut);
        ck_assert_int_ge(poll(&p, 1, 100), 0);
        if (p.revents & POLLIN) {
            ssize_t r = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
            ck_assert_msg(r > 0, "server closed the connection at byte %zu",
                          off);
            buf_add(got, tmp, (size_t)r);
        }
        if (p.revents & POLLOUT) {
            ssize_t w;
            if (piece == 0) {
                piece = 1 + rnd((uint32_t)maxcut);
                if (piece > req->n - off) {
                    piece = req->n - off;
                }
            }
            w = send(fd, req->p + off, piece, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                piece -= (size_t)w;
                if (piece == 0 && maxcut > 64 && rnd(4) == 0) {
                    usleep(100 + rnd(400));
                }
            }
        }
    }
    read_until(fd, got, tail, ntail, 10000);
    close(fd);
}

static void
report_diff(const char *what, size_t maxcut, const struct buf *want,
            const struct buf *got)
{
    size_t i = 0;

    while (i < want->n && i < got->n && want->p[i] == got->p[i]) {
        i++;
    }
    fprintf(stderr, "%s, cuts up to %zu bytes: replies differ at byte %zu "
            "(memcached %zu bytes, rend %zu bytes)\n", what, maxcut, i,
            want->n, got->n);
    fprintf(stderr, "  memcached: %.80s\n  rend:      %.80s\n",
            i < want->n ? want->p + i : "", i < got->n ? got->p + i : "");
}

START_TEST(random_cuts_match_memcached)
{
    static const size_t cuts[] = { 1, 3, 17, 100, 1460, 4096, 16383,
                                   16385, 65536, 200000 };
    struct bed b;
    struct rend_srv ref = { 0 };
    struct buf req = { 0 }, want = { 0 }, got = { 0 };
    int bad = 0;

    ck_assert_msg(rend_srv_start_memcached(&ref, NULL) == 0,
                  "memcached is required (install-deps.sh installs it)");
    bed_start(&b, _i);
    fprintf(stderr, "topology: %s\n", topo_name[_i]);
    for (int trial = 0; trial < 8; trial++) {
        int binary = trial & 1;
        const char *tail = binary ? bin_tail : text_tail;
        size_t ntail = binary ? BIN_HDR : strlen(text_tail);
        uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(trial + 1);

        rng = seed;
        req.n = 0;
        if (binary) {
            gen_bin(&req, 120);
        } else {
            gen_text(&req, 120);
        }
        exchange(&ref, &req, 65536, tail, ntail, &want);
        ck_assert_msg(want.n >= ntail, "memcached gave no reply");
        if (binary) {
            zero_cas(&want);
        }
        for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
            if (cuts[c] < 100 && req.n > 600000) {
                continue; /* byte-wise cuts of a large stream are slow */
            }
            exchange(&b.rend, &req, cuts[c], tail, ntail, &got);
            if (binary) {
                zero_cas(&got);
            }
            if (got.n != want.n || memcmp(got.p, want.p, got.n) != 0) {
                char what[96];
                snprintf(what, sizeof(what), "%s stream seed %d (%zu bytes)",
                         binary ? "binary" : "text", trial, req.n);
                report_diff(what, cuts[c], &want, &got);
                bad++;
            }
        }
    }
    free(req.p);
    free(want.p);
    free(got.p);
    rend_srv_stop(&ref, 3000, NULL);
    bed_stop(&b);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* ---- 3. long keys (chunked mode derives longer names) --------------------- */

/* A 24-byte binary request header for a key of any length. */
static void
bin_hdr(struct buf *b, uint8_t op, uint8_t extlen, size_t klen, size_t vlen,
        uint32_t opaque)
{
    unsigned char h[BIN_HDR] = { 0x80, op };
    uint32_t body = (uint32_t)(extlen + klen + vlen);

    h[2] = (unsigned char)(klen >> 8);
    h[3] = (unsigned char)klen;
    h[4] = extlen;
    h[8] = (unsigned char)(body >> 24);
    h[9] = (unsigned char)(body >> 16);
    h[10] = (unsigned char)(body >> 8);
    h[11] = (unsigned char)body;
    h[12] = (unsigned char)(opaque >> 24);
    h[13] = (unsigned char)(opaque >> 16);
    h[14] = (unsigned char)(opaque >> 8);
    h[15] = (unsigned char)opaque;
    buf_add(b, h, sizeof(h));
}

/* Key number k of the long-key streams: 240..250 bytes, the ones of one
 * length differing only in their last byte. */
static void
long_key(char *key, int k)
{
    size_t n = 240 + (size_t)(k % 11);

    memset(key, 'L', n);
    key[n - 1] = (char)('a' + k);
    key[n] = '\0';
}

static size_t
long_size(void)
{
    /* 0, around one chunk of a 250-byte key (847) and of a digest name */
    static const size_t sizes[] = { 0, 1, 846, 847, 848, 1058, 1059, 1060,
                                    1094, 1095, 1096, 5000, 100000 };
    return sizes[rnd(sizeof(sizes) / sizeof(sizes[0]))];
}

static void
gen_long_text(struct buf *b, int nreq)
{
    char key[256], line[400];

    buf_str(b, "flush_all noreply\r\n");
    for (int i = 0; i < nreq; i++) {
        const char *nr = rnd(3) == 0 ? " noreply" : "";
        long_key(key, (int)rnd(14));
        switch (rnd(9)) {
        case 0: case 1: case 2: {
            size_t n = long_size();
            snprintf(line, sizeof(line), "%s %s %u 0 %zu%s\r\n",
                     ops_text[rnd(5)], key, rnd(1000), n, nr);
            buf_str(b, line);
            buf_fill(b, (char)('a' + rnd(26)), n);
            buf_str(b, "\r\n");
            break;
        }
        case 3:
            snprintf(line, sizeof(line), "delete %s%s\r\n", key, nr);
            buf_str(b, line);
            break;
        case 4:
            snprintf(line, sizeof(line), "touch %s 0%s\r\n", key, nr);
            buf_str(b, line);
            break;
        case 5:
            snprintf(line, sizeof(line), "set %s 0 0 2%s\r\n%02u\r\n", key,
                     nr, rnd(100));
            buf_str(b, line);
            break;
        case 6:
            snprintf(line, sizeof(line), "incr %s %u%s\r\n", key, rnd(50),
                     nr);
            buf_str(b, line);
            break;
        default:
            snprintf(line, sizeof(line), "get %s\r\n", key);
            buf_str(b, line);
            break;
        }
    }
    buf_str(b, "set zzend 0 0 3 noreply\r\nend\r\nget zzend\r\n");
}

static void
gen_long_bin(struct buf *b, int nreq)
{
    static const uint8_t stores[] = { 0x01, 0x11, 0x02, 0x12, 0x03, 0x13,
                                      0x0e, 0x19, 0x0f, 0x1a };
    static const uint8_t gets[] = { 0x00, 0x09, 0x0c, 0x0d };
    char key[256];

    bin_hdr(b, 0x18, 0, 0, 0, 1); /* FLUSHQ */
    for (int i = 0; i < nreq; i++) {
        uint32_t opaque = (uint32_t)i + 2;
        size_t nk;
        long_key(key, (int)rnd(14));
        nk = strlen(key);
        switch (rnd(6)) {
        case 0: case 1: case 2: {
            uint8_t op = stores[rnd(sizeof(stores))];
            int is_cat = op == 0x0e || op == 0x19 || op == 0x0f || op == 0x1a;
            unsigned char ext[8] = { 0, 0, 0, (unsigned char)rnd(200) };
            size_t n = long_size();
            bin_hdr(b, op, is_cat ? 0 : 8, nk, n, opaque);
            if (!is_cat) {
                buf_add(b, ext, 8);
            }
            buf_add(b, key, nk);
            buf_fill(b, (char)('a' + rnd(26)), n);
            break;
        }
        case 3:
            bin_hdr(b, rnd(2) ? 0x04 : 0x14, 0, nk, 0, opaque);
            buf_add(b, key, nk);
            break;
        default:
            bin_hdr(b, gets[rnd(sizeof(gets))], 0, nk, 0, opaque);
            buf_add(b, key, nk);
            break;
        }
    }
    bin_hdr(b, 0x0a, 0, 0, 0, 0xE0DE);
}

/* Keys of 240..250 bytes (chunked mode names the longer ones by digest),
 * value sizes around one chunk: replies byte-identical to memcached's. */
START_TEST(long_keys_match_memcached)
{
    static const size_t cuts[] = { 1460, 65536, 200000 };
    struct bed b;
    struct rend_srv ref = { 0 };
    struct buf req = { 0 }, want = { 0 }, got = { 0 };
    int bad = 0;

    ck_assert_msg(rend_srv_start_memcached(&ref, NULL) == 0,
                  "memcached is required (install-deps.sh installs it)");
    bed_start(&b, _i);
    fprintf(stderr, "topology: %s\n", topo_name[_i]);
    for (int trial = 0; trial < 4; trial++) {
        int binary = trial & 1;
        const char *tail = binary ? bin_tail : text_tail;
        size_t ntail = binary ? BIN_HDR : strlen(text_tail);

        rng = 0xD1B54A32D192ED03ull * (uint64_t)(trial + 1);
        req.n = 0;
        if (binary) {
            gen_long_bin(&req, 200);
        } else {
            gen_long_text(&req, 200);
        }
        exchange(&ref, &req, 65536, tail, ntail, &want);
        ck_assert_msg(want.n >= ntail, "memcached gave no reply");
        if (binary) {
            zero_cas(&want);
        }
        for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
            exchange(&b.rend, &req, cuts[c], tail, ntail, &got);
            if (binary) {
                zero_cas(&got);
            }
            if (got.n != want.n || memcmp(got.p, want.p, got.n) != 0) {
                char what[96];
                snprintf(what, sizeof(what), "long-key %s stream seed %d "
                         "(%zu bytes)", binary ? "binary" : "text", trial,
                         req.n);
                report_diff(what, cuts[c], &want, &got);
                bad++;
            }
        }
    }
    free(req.p);
    free(want.p);
    free(got.p);
    rend_srv_stop(&ref, 3000, NULL);
    bed_stop(&b);
    ck_assert_int_eq(bad, 0);
}
END_TEST

static Suite *
split_suite(void)
{
    Suite *s = suite_create("split");
    TCase *tc = tcase_create("topologies");

    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, reproducers_answer, 0, T__COUNT);
    tcase_add_loop_test(tc, random_cuts_match_memcached, 0, T__COUNT);
    tcase_add_loop_test(tc, long_keys_match_memcached, 0, T__COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return rend_check_main(split_suite());
}
