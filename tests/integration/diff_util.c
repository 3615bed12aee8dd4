/*
 * diff_util.c - send, read back, normalise and compare (see diff_util.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diff_util.h"

#define READ_MS 3000
#define MAX_REPLY (4u << 20)
#define SENTINEL_OPAQUE 0xc0ffee00u
#define WRONG_CAS 0x7777777777ull
#define MAX_CAS 1024
#define MAX_ELEMS 4096

/* growable byte buffer */
struct buf {
    char *p;
    size_t n, cap;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        if (b->p == NULL) {
            abort();
        }
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->p + b->n, p, n);
    }
    b->n += n;
    b->p[b->n] = '\0';
}

static void
buf_fmt(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    buf_add(b, tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* One server connection and what it has seen. */
struct side {
    const struct rend_srv *srv;
    int fd;
    uint64_t last_cas;
    struct buf raw;     /* this step's reply, sentinel stripped */
    int closed;         /* peer closed during this step */
    int timedout;
};

/* A normalised reply: a list of elements (NUL-terminated strings). */
struct elems {
    char *v[MAX_ELEMS];
    int n;
};

static void
elem_add(struct elems *e, const char *p, size_t n)
{
    char *s;

    if (e->n >= MAX_ELEMS) {
        return;
    }
    s = malloc(n + 1);
    if (s == NULL) {
        abort();
    }
    if (n > 0) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    e->v[e->n++] = s;
}

static void
elem_str(struct elems *e, const char *s)
{
    elem_add(e, s, strlen(s));
}

static void
elems_free(struct elems *e)
{
    for (int i = 0; i < e->n; i++) {
        free(e->v[i]);
    }
    e->n = 0;
}

/* Escape for printing, at most max output bytes. */
static void
escape(struct buf *out, const char *p, size_t n, size_t max)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (out->n > max) {
            buf_fmt(out, "...(%zu bytes)", n);
            return;
        }
        if (c == '\r') {
            buf_add(out, "\\r", 2);
        } else if (c == '\n') {
            buf_add(out, "\\n", 2);
        } else if (c == '\\') {
            buf_add(out, "\\\\", 2);
        } else if (isprint(c)) {
            buf_add(out, &p[i], 1);
        } else {
            buf_fmt(out, "\\x%02x", c);
        }
    }
}

/* Expand $CAS, $K<n>, $V<n> into out. */
static void
expand(struct buf *out, const char *p, size_t n, uint64_t cas)
{
    size_t i = 0;

    while (i < n) {
        if (p[i] == '$' && i + 4 <= n && memcmp(p + i, "$CAS", 4) == 0) {
            buf_fmt(out, "%llu", (unsigned long long)cas);
            i += 4;
        } else if (p[i] == '$' && i + 2 < n && (p[i + 1] == 'K'
                   || p[i + 1] == 'V') && isdigit((unsigned char)p[i + 2])) {
            char fill = p[i + 1] == 'K' ? 'k' : 'v';
            size_t count = 0;
            i += 2;
            while (i < n && isdigit((unsigned char)p[i])) {
                count = count * 10 + (size_t)(p[i++] - '0');
            }
            for (size_t k = 0; k < count; k++) {
                buf_add(out, &fill, 1);
            }
        } else {
            buf_add(out, &p[i++], 1);
        }
    }
}

static void
reconnect(struct side *s)
{
    if (s->fd < 0) {
        s->fd = rend_srv_connect(s->srv);
    }
}

static void
drop(struct side *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    s->fd = -1;
}

/* ---- reading --------------------------------------------------------- */

/* Read until the peer closes (close steps). */
static void
read_to_close(struct side *s)
{
    char tmp[65536];

    for (;;) {
        int closed;
        size_t n = rend_io_read_quiet(s->fd, tmp, sizeof(tmp), 1500, &closed);
        buf_add(&s->raw, tmp, n);
        if (closed) {
            s->closed = 1;
            return;
        }
        if (n == 0) {
            s->timedout = 1;
            return;
        }
    }
}

/* Text: the reply ends with the sentinel's "VERSION ...\r\n" line. */
static size_t
text_sentinel_at(const struct buf *b)
{
    size_t i;

    if (b->n < 2 || b->p[b->n - 1] != '\n' || b->p[b->n - 2] != '\r') {
        return (size_t)-1;
    }
    i = b->n - 2;
    while (i > 0 && b->p[i - 1] != '\n') {
        i--;
    }
    if (b->n - i >= 8 && memcmp(b->p + i, "VERSION ", 8) == 0) {
        return i;
    }
    return (size_t)-1;
}

static void
read_text(struct side *s)
{
    char tmp[65536];
    int64_t deadline = rend_now_ms() + READ_MS;

    while (s->raw.n < MAX_REPLY) {
        long left = (long)(deadline - rend_now_ms());
        long n = rend_io_read_some(s->fd, tmp, sizeof(tmp),
                                   left > 0 ? (int)left : 0);
        size_t at;
        if (n < 0) {
            s->closed = 1;
            return;
        }
        if (n == 0) {
            break;
        }
        buf_add(&s->raw, tmp, (size_t)n);
        at = text_sentinel_at(&s->raw);
        if (at != (size_t)-1) {
            s->raw.n = at;
            return;
        }
    }
    s->timedout = 1;
}

static void
read_bin(struct side *s)
{
    for (;;) {
        unsigned char h[24];
        uint32_t body;
        size_t start = s->raw.n;
        size_t got = rend_io_read_n(s->fd, h, 24, READ_MS);
        buf_add(&s->raw, h, got);
        if (got < 24) {
            if (rend_io_closed(s->fd, 10) == 1) {
                s->closed = 1;
            } else {
                s->timedout = 1;
            }
            return;
        }
        body = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16
               | (uint32_t)h[10] << 8 | h[11];
        if (h[0] != 0x81 || body > MAX_REPLY) {
            s->timedout = 1; /* out of sync: not a response header */
            return;
        }
        if (body > 0) {
            char *tmp = malloc(body);
            got = rend_io_read_n(s->fd, tmp, body, READ_MS);
            buf_add(&s->raw, tmp, got);
            free(tmp);
            if (got < body) {
                s->timedout = 1;
                return;
            }
        }
        if (h[1] == 0x0a && h[12] == 0xc0 && h[13] == 0xff && h[14] == 0xee
            && h[15] == 0x00) {
            s->raw.n = start; /* strip the sentinel */
            return;
        }
    }
}

/* ---- normalising ----------------------------------------------------- */

static void
norm_text(struct side *s, int stats, struct elems *e)
{
    const char *p = s->raw.p ? s->raw.p : "";
    size_t n = s->raw.n, pos = 0;

    while (pos < n) {
        const char *nl = memchr(p + pos, '\n', n - pos);
        size_t len, llen;
        if (nl == NULL) {
            struct buf t = { 0 };
            buf_add(&t, "<partial line> ", 15);
            escape(&t, p + pos, n - pos, 300);
            elem_str(e, t.p);
            free(t.p);
            break;
        }
        len = (size_t)(nl - (p + pos)) + 1;
        llen = len >= 2 && nl[-1] == '\r' ? len - 2 : len - 1;
        if (llen == len - 1) {
            elem_str(e, "<line ends in a bare LF>");
        }
        if (llen > 6 && memcmp(p + pos, "VALUE ", 6) == 0) {
            char line[1024], *tok[6];
            int nt = 0;
            unsigned long long bytes;
            struct buf t = { 0 };
            snprintf(line, sizeof(line), "%.*s", (int)llen, p + pos);
            for (char *sp, *q = strtok_r(line, " ", &sp); q && nt < 6;
                 q = strtok_r(NULL, " ", &sp)) {
                tok[nt++] = q;
            }
            bytes = nt >= 4 ? strtoull(tok[3], NULL, 10) : 0;
            for (int i = 0; i < nt; i++) {
                if (i == 4) {
                    uint64_t cas = strtoull(tok[4], NULL, 10);
                    s->last_cas = cas;
                    buf_fmt(&t, " #%llu", (unsigned long long)cas);
                } else {
                    buf_fmt(&t, "%s%s", i ? " " : "", tok[i]);
                }
            }
            elem_str(e, t.p);
            t.n = 0;
            pos += len;
            if (bytes + 2 > n - pos) {
                bytes = n - pos >= 2 ? n - pos - 2 : 0;
            }
            escape(&t, p + pos, (size_t)bytes + 2, 1000);
            elem_str(e, t.p);
            free(t.p);
            pos += (size_t)bytes + 2;
            continue;
        }
        if (llen >= 2 && (memcmp(p + pos, "VA", 2) == 0
                          || memcmp(p + pos, "HD", 2) == 0
                          || memcmp(p + pos, "EN", 2) == 0
                          || memcmp(p + pos, "NF", 2) == 0
                          || memcmp(p + pos, "NS", 2) == 0
                          || memcmp(p + pos, "EX", 2) == 0)
            && (llen == 2 || p[pos + 2] == ' ')) {
            /* a meta reply: its c<cas> flag becomes c#<cas>; VA carries
             * a data block of the length after it */
            char line[1024];
            struct buf t = { 0 };
            unsigned long long bytes = 0;
            int va = memcmp(p + pos, "VA", 2) == 0, i = 0;
            snprintf(line, sizeof(line), "%.*s", (int)llen, p + pos);
            for (char *sp, *q = strtok_r(line, " ", &sp); q;
                 q = strtok_r(NULL, " ", &sp), i++) {
                if (i > 0 && q[0] == 'c' && isdigit((unsigned char)q[1])) {
                    uint64_t cas = strtoull(q + 1, NULL, 10);
                    s->last_cas = cas;
                    buf_fmt(&t, " c#%llu", (unsigned long long)cas);
                } else {
                    buf_fmt(&t, "%s%s", i ? " " : "", q);
                }
                if (i == 1 && va) {
                    bytes = strtoull(q, NULL, 10);
                }
            }
            elem_str(e, t.p);
            pos += len;
            if (va) {
                t.n = 0;
                if (bytes + 2 > n - pos) {
                    bytes = n - pos >= 2 ? n - pos - 2 : 0;
                }
                escape(&t, p + pos, (size_t)bytes + 2, 1000);
                elem_str(e, t.p);
                pos += (size_t)bytes + 2;
            }
            free(t.p);
            continue;
        }
        if (llen >= 8 && memcmp(p + pos, "VERSION ", 8) == 0) {
            elem_str(e, "VERSION *");
        } else if (stats && llen >= 5 && memcmp(p + pos, "STAT ", 5) == 0) {
            if (e->n == 0 || strcmp(e->v[e->n - 1], "STAT *") != 0) {
                elem_str(e, "STAT *");
            }
        } else {
            struct buf t = { 0 };
            escape(&t, p + pos, llen, 1000);
            elem_str(e, t.p ? t.p : "");
            free(t.p);
        }
        pos += len;
    }
}

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
           | p[3];
}

static void
norm_bin(struct side *s, int stats, struct elems *e)
{
    const unsigned char *p = (const unsigned char *)s->raw.p;
    size_t n = s->raw.n, pos = 0;

    while (pos < n) {
        const unsigned char *h = p + pos;
        struct buf t = { 0 };
        uint32_t body, keylen, extlen, vlen;
        uint64_t cas;
        if (n - pos < 24) {
            buf_add(&t, "<partial header> ", 17);
            escape(&t, (const char *)h, n - pos, 200);
            elem_str(e, t.p);
            free(t.p);
            return;
        }
        body = be32(h + 8);
        keylen = (uint32_t)h[2] << 8 | h[3];
        extlen = h[4];
        if (body > n - pos - 24) {
            body = (uint32_t)(n - pos - 24);
        }
        vlen = body >= keylen + extlen ? body - keylen - extlen : 0;
        cas = (uint64_t)be32(h + 16) << 32 | be32(h + 20);
        if (stats && h[1] == 0x10 && h[6] == 0 && h[7] == 0 && keylen > 0) {
            if (e->n == 0 || strcmp(e->v[e->n - 1], "STAT *") != 0) {
                elem_str(e, "STAT *");
            }
            pos += 24 + body;
            continue;
        }
        buf_fmt(&t, "magic=%02x op=%02x st=%02x%02x dt=%02x opaque=%08x ",
                h[0], h[1], h[6], h[7], h[5], be32(h + 12));
        if (h[1] == 0x0b && h[6] == 0 && h[7] == 0) {
            buf_add(&t, "bodylen=* cas=", 14); /* version text */
        } else {
            buf_fmt(&t, "bodylen=%u cas=", be32(h + 8));
        }
        if (cas != 0) {
            s->last_cas = cas;
            buf_fmt(&t, "#%llu", (unsigned long long)cas);
        } else {
            buf_add(&t, "0", 1);
        }
        buf_add(&t, " ext=", 5);
        for (uint32_t i = 0; i < extlen && 24 + i < 24 + body; i++) {
            buf_fmt(&t, "%02x", h[24 + i]);
        }
        buf_add(&t, " key=", 5);
        escape(&t, (const char *)h + 24 + extlen, keylen <= body ? keylen : 0,
               1000);
        buf_add(&t, " val=", 5);
        if (h[1] == 0x0b && h[6] == 0 && h[7] == 0) {
            buf_add(&t, "*", 1);
        } else {
            escape(&t, (const char *)h + 24 + extlen + keylen, vlen, 1000);
        }
        elem_str(e, t.p);
        free(t.p);
        pos += 24 + body;
    }
}

/* ---- comparing ------------------------------------------------------- */

/* Rend-parity equivalences (memcached element m, rend element r): only
 * Rend's own noop command, which memcached does not have. */
static int
rend_parity(const char *m, const char *r)
{
    return strcmp(r, "Yep, it works.") == 0 && strcmp(m, "ERROR") == 0;
}

/* The cas equality pattern: a bijection between the cas values memcached
 * sent and the ones rend sent at the same places. */
struct casmap {
    uint64_t m[MAX_CAS], r[MAX_CAS];
    int n;
};

/* 1 when (mc, rc) fits the bijection so far; records the pair either way
 * (replacing older pairs that contradict it) so one difference does not
 * cascade into later steps. */
static int
cas_pair(struct casmap *cm, uint64_t mc, uint64_t rc)
{
    int ok = 1, slot = -1;

    for (int i = 0; i < cm->n; i++) {
        if (cm->m[i] == mc || cm->r[i] == rc) {
            if (cm->m[i] != mc || cm->r[i] != rc) {
                ok = 0;
            }
            slot = i;
            cm->m[i] = mc;
            cm->r[i] = rc;
        }
    }
    if (slot < 0) {
        if (cm->n == MAX_CAS) {
            cm->n = 0;
        }
        cm->m[cm->n] = mc;
        cm->r[cm->n] = rc;
        cm->n++;
    }
    return ok;
}

/* Compare two elements with every "#<digits>" cas token matched through
 * the bijection.  1 = equal. */
static int
elem_equal(struct casmap *cm, const char *m, const char *r)
{
    int ok = 1;

    while (*m != '\0' && *r != '\0') {
        if (*m == '#' && *r == '#' && isdigit((unsigned char)m[1])
            && isdigit((unsigned char)r[1])) {
            char *me, *re;
            uint64_t mc = strtoull(m + 1, &me, 10);
            uint64_t rc = strtoull(r + 1, &re, 10);
            if (!cas_pair(cm, mc, rc)) {
                ok = 0;
            }
            m = me;
            r = re;
            continue;
        }
        if (*m != *r) {
            return 0;
        }
        m++;
        r++;
    }
    return ok && *m == *r;
}

/* 0 = identical, 1 = equal under the allow-list, 2 = different. */
static int
compare(struct casmap *cm, const struct elems *m, const struct elems *r)
{
    int res = 0, diff = 0;

    for (int i = 0; i < m->n && i < r->n; i++) {
        if (elem_equal(cm, m->v[i], r->v[i])) {
            continue;
        }
        if (rend_parity(m->v[i], r->v[i])) {
            res = 1;
        } else {
            diff = 1;
        }
    }
    return diff || m->n != r->n ? 2 : res;
}

static void
print_side(const char *label, const struct side *s, const struct elems *e)
{
    struct buf t = { 0 };

    escape(&t, s->raw.p ? s->raw.p : "", s->raw.n, 1500);
    printf("    %-9s %s%s%s\n", label, t.p ? t.p : "",
           s->closed ? " <closed>" : "", s->timedout ? " <timeout>" : "");
    for (int i = 0; i < e->n; i++) {
        printf("      [%d] %s\n", i, e->v[i]);
    }
    free(t.p);
}

static void
tally(struct diff_result *dr, int idx, const char *name, const char *allow,
      const char *bug, const struct buf *req, struct side *m, struct side *r,
      const struct elems *em, const struct elems *er)
{
    static struct casmap cm;
    int c = compare(&cm, em, er);
    int verbose = getenv("DIFF_VERBOSE") != NULL;
    const char *what = NULL;

    dr->steps++;
    if (m->closed != r->closed || m->timedout != r->timedout) {
        c = 2;
    }
    if (c == 0) {
        dr->equal++;
    } else if (c == 1) {
        dr->allowed++;
        what = verbose ? "allowed (Rend parity)" : NULL;
    } else if (bug != NULL) {
        dr->known_bugs++;
        what = "KNOWN BUG";
    } else if (allow != NULL) {
        dr->allowed++;
        what = verbose ? "allowed" : NULL;
    } else {
        dr->mismatches++;
        what = "MISMATCH";
    }
    if (bug != NULL && c != 2) {
        dr->fixed_bugs++;
        what = "FIXED (remove the bug flag)";
    }
    if (what != NULL) {
        struct buf t = { 0 };
        escape(&t, req->p, req->n, 400);
        printf("%s #%d \"%s\"%s%s\n    request   %s\n", what, idx, name,
               allow || bug ? ": " : "", allow ? allow : bug ? bug : "", t.p);
        print_side("memcached", m, em);
        print_side("rend", r, er);
        free(t.p);
    }
}

static void
side_init(struct side *s, const struct rend_srv *srv)
{
    memset(s, 0, sizeof(*s));
    s->srv = srv;
    s->fd = -1;
}

static void
side_step_begin(struct side *s)
{
    s->raw.n = 0;
    s->closed = 0;
    s->timedout = 0;
    reconnect(s);
}

static void
side_step_end(struct side *s)
{
    if (s->closed || s->timedout) {
        drop(s);
    }
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

void
diff_run_text(const struct rend_srv *a, const struct rend_srv *b,
              const struct dstep *steps, size_t n, struct diff_result *out)
{
    static struct side sd[2];

    memset(out, 0, sizeof(*out));
    side_init(&sd[0], a);
    side_init(&sd[1], b);
    for (size_t i = 0; i < n; i++) {
        const struct dstep *st = &steps[i];
        struct elems e[2] = { { { 0 }, 0 }, { { 0 }, 0 } };
        struct buf req[2] = { { 0 }, { 0 } };
        if (st->req == NULL) {
            sleep_ms(st->sleep_ms);
            continue;
        }
        int64_t t0 = rend_now_ms();
        for (int k = 0; k < 2; k++) {
            struct side *s = &sd[k];
            side_step_begin(s);
            expand(&req[k], st->req, st->len ? st->len : strlen(st->req),
                   s->last_cas);
            if (!st->close) {
                buf_add(&req[k], "version\r\n", 9);
            }
            if (s->fd < 0 || rend_io_send(s->fd, req[k].p, req[k].n,
                                          READ_MS) != 0) {
                s->closed = 1;
            } else if (st->close) {
                read_to_close(s);
            } else {
                read_text(s);
            }
            norm_text(s, st->stats, &e[k]);
            side_step_end(s);
        }
        if (rend_now_ms() - t0 > 1000) {
            printf("slow step #%zu \"%s\": %lld ms\n", i, st->name,
                   (long long)(rend_now_ms() - t0));
        }
        tally(out, (int)i, st->name, st->allow, st->bug, &req[1], &sd[0],
              &sd[1], &e[0], &e[1]);
        for (int k = 0; k < 2; k++) {
            elems_free(&e[k]);
            free(req[k].p);
        }
    }
    for (int k = 0; k < 2; k++) {
        drop(&sd[k]);
        free(sd[k].raw.p);
    }
}

static void
put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void
put32(unsigned char *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

static void
bin_packet(struct buf *out, uint8_t op, const char *ext, uint8_t extlen,
           const char *key, size_t keylen, const char *val, size_t vlen,
           uint32_t opaque, uint64_t cas)
{
    unsigned char h[24] = { 0x80, op };

    put16(h + 2, (uint32_t)keylen);
    h[4] = extlen;
    put32(h + 8, (uint32_t)(extlen + keylen + vlen));
    put32(h + 12, opaque);
    put32(h + 16, (uint32_t)(cas >> 32));
    put32(h + 20, (uint32_t)cas);
    buf_add(out, h, 24);
    buf_add(out, ext, extlen);
    buf_add(out, key, keylen);
    buf_add(out, val, vlen);
}

static void
bin_request(struct buf *out, const struct bstep *st, uint32_t opaque,
            uint64_t last_cas)
{
    struct buf key = { 0 }, val = { 0 };
    uint64_t cas = st->cas == 1 ? last_cas : st->cas == 2 ? WRONG_CAS : 0;

    if (st->key != NULL) {
        expand(&key, st->key, strlen(st->key), 0);
    }
    if (st->val != NULL) {
        if (st->val[0] == '$') {
            expand(&val, st->val, st->vlen, 0);
        } else {
            buf_add(&val, st->val, st->vlen);
        }
    }
    bin_packet(out, st->op, st->ext ? st->ext : "", st->extlen,
               key.p ? key.p : "", key.n, val.p ? val.p : "", val.n, opaque,
               cas);
    free(key.p);
    free(val.p);
}

void
diff_run_bin(const struct rend_srv *a, const struct rend_srv *b,
             const struct bstep *steps, size_t n, struct diff_result *out)
{
    static struct side sd[2];

    memset(out, 0, sizeof(*out));
    side_init(&sd[0], a);
    side_init(&sd[1], b);
    for (size_t i = 0; i < n; i++) {
        const struct bstep *st = &steps[i];
        struct elems e[2] = { { { 0 }, 0 }, { { 0 }, 0 } };
        struct buf req[2] = { { 0 }, { 0 } };
        size_t first = i, last = i;
        if (st->sleep_ms > 0) {
            sleep_ms(st->sleep_ms);
            continue;
        }
        while (steps[last].join && last + 1 < n) {
            last++; /* a batch: steps first .. last in one write */
        }
        st = &steps[last];
        i = last;
        for (int k = 0; k < 2; k++) {
            struct side *s = &sd[k];
            side_step_begin(s);
            for (size_t j = first; j <= last; j++) {
                bin_request(&req[k], &steps[j], (uint32_t)j + 1,
                            s->last_cas);
            }
            if (!st->close) {
                bin_packet(&req[k], 0x0a, "", 0, "", 0, "", 0,
                           SENTINEL_OPAQUE, 0);
            }
            if (s->fd < 0 || rend_io_send(s->fd, req[k].p, req[k].n,
                                          READ_MS) != 0) {
                s->closed = 1;
            } else if (st->close) {
                read_to_close(s);
            } else {
                read_bin(s);
            }
            norm_bin(s, st->stats, &e[k]);
            side_step_end(s);
        }
        tally(out, (int)first, steps[first].name, st->allow, st->bug,
              &req[1], &sd[0], &sd[1], &e[0], &e[1]);
        for (int k = 0; k < 2; k++) {
            elems_free(&e[k]);
            free(req[k].p);
        }
    }
    for (int k = 0; k < 2; k++) {
        drop(&sd[k]);
        free(sd[k].raw.p);
    }
}
