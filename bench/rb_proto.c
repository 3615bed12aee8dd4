/*
 * rb_proto.c - keys, values, requests and reply parsing of rend-bench for
 * memcached's text, binary and meta protocols (see rb.h).
 *
 * Key i is the key prefix followed by i in base 26 (A..Z), left-padded with
 * 'A' to the key length.  The value of (key i, generation g, length n) is
 * "%08x%08x" of i and g, then bytes of a seeded pattern starting at an offset
 * that depends on i and g, cut to n bytes; its flags are a hash of i and g.
 */
#include "rb.h"

#include <stdlib.h>
#include <string.h>

#define BIN_HDR 24
#define VHDR_LEN 16
#define PATTERN_PAD 256
#define MAX_LINE 2048

static char *pattern;
static char *key_table;     /* nkeys * key_len bytes, when it is small */
static size_t prefix_len;

#define KEY_TABLE_MAX (64u << 20)

static void key_compute(char *out, uint32_t idx);

static uint64_t
splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t
max_value(void)
{
    uint32_t m = rb_opt.vsize.hi;

    for (unsigned i = 0; i < rb_opt.vsize.n; i++) {
        if (rb_opt.vsize.size[i] > m) {
            m = rb_opt.vsize.size[i];
        }
    }
    if (rb_opt.mode == RB_M_SIZES && rb_opt.size_max > m) {
        m = rb_opt.size_max;
    }
    return m;
}

void
rb_proto_free(void)
{
    free(pattern);
    free(key_table);
    pattern = key_table = NULL;
}

int
rb_proto_init(void)
{
    size_t n = (size_t)max_value() + PATTERN_PAD;
    uint64_t s = rb_opt.seed;

    prefix_len = rb_opt.key_prefix ? strlen(rb_opt.key_prefix) : 0;
    pattern = malloc(n);
    if (pattern == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t r = splitmix(&s) % 52;
        pattern[i] = (char)(r < 26 ? 'A' + r : 'a' + (r - 26));
    }
    if (rb_opt.nkeys * rb_opt.key_len <= KEY_TABLE_MAX) {
        key_table = malloc(rb_opt.nkeys * rb_opt.key_len);
        for (uint64_t i = 0; key_table != NULL && i < rb_opt.nkeys; i++) {
            key_compute(key_table + i * rb_opt.key_len, (uint32_t)i);
        }
    }
    return 0;
}

static void
key_compute(char *out, uint32_t idx)
{
    unsigned n = rb_opt.key_len;

    if (prefix_len > 0) {
        memcpy(out, rb_opt.key_prefix, prefix_len);
    }
    for (unsigned i = n; i > prefix_len; i--) {
        out[i - 1] = (char)('A' + idx % 26);
        idx /= 26;
    }
}

void
rb_key_name(char *out, uint32_t idx)
{
    if (key_table != NULL) {
        memcpy(out, key_table + (size_t)idx * rb_opt.key_len, rb_opt.key_len);
    } else {
        key_compute(out, idx);
    }
}

uint32_t
rb_value_flags(uint32_t idx, uint32_t gen)
{
    uint64_t s = ((uint64_t)idx << 32 | gen) ^ rb_opt.seed;

    return (uint32_t)splitmix(&s);
}

static void
hex8(char *out, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 7; i >= 0; i--) {
        out[i] = digits[v & 15];
        v >>= 4;
    }
}

static int
unhex8(const char *in, uint32_t *v)
{
    uint32_t r = 0;

    for (int i = 0; i < 8; i++) {
        char c = in[i];

        if (c >= '0' && c <= '9') {
            r = r << 4 | (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            r = r << 4 | (uint32_t)(c - 'a' + 10);
        } else {
            return -1;
        }
    }
    *v = r;
    return 0;
}

static const char *
pattern_of(uint32_t idx, uint32_t gen)
{
    return pattern + (idx * 7u + gen) % 251u;
}

void
rb_value_write(char *out, uint32_t idx, uint32_t gen, uint32_t len)
{
    char hdr[VHDR_LEN];
    size_t h = len < VHDR_LEN ? len : VHDR_LEN;

    hex8(hdr, idx);
    hex8(hdr + 8, gen);
    memcpy(out, hdr, h);
    memcpy(out + h, pattern_of(idx, gen) + h, len - h);
}

static int
base_matches(const char *v, uint32_t idx, uint32_t gen, uint32_t len)
{
    char hdr[VHDR_LEN];
    size_t h = len < VHDR_LEN ? len : VHDR_LEN;

    hex8(hdr, idx);
    hex8(hdr + 8, gen);
    return memcmp(v, hdr, h) == 0
           && memcmp(v + h, pattern_of(idx, gen) + h, len - h) == 0;
}

/* A mismatch: stale when the bytes or the flags belong to an older write
 * of this key, else corrupt. */
static int
classify(uint32_t idx, const struct rb_key *k, uint32_t flags, const char *v,
         size_t n)
{
    for (size_t p = 0; p + VHDR_LEN <= n && p <= (size_t)k->npre * RB_TOKEN_LEN;
         p += RB_TOKEN_LEN) {
        uint32_t i2, g2;

        if (unhex8(v + p, &i2) == 0 && unhex8(v + p + 8, &g2) == 0
            && i2 == idx && g2 <= k->gen) {
            return g2 < k->gen || n < (size_t)k->len ? RB_E_STALE
                                                      : RB_E_CORRUPT;
        }
    }
    for (uint32_t back = 1; back <= 256 && back <= k->gen; back++) {
        if (flags == rb_value_flags(idx, k->gen - back)) {
            return RB_E_STALE;
        }
    }
    return RB_E_CORRUPT;
}

int
rb_value_check(uint32_t idx, const struct rb_key *k, uint32_t flags,
               const char *v, size_t n)
{
    size_t pre = (size_t)k->npre * RB_TOKEN_LEN;
    size_t total = pre + k->len + (size_t)k->nsuf * RB_TOKEN_LEN;
    int ok;

    if (k->state != RB_K_PRESENT) {
        return k->state == RB_K_ABSENT ? RB_E_STALE : -1;
    }
    ok = n == total;
    for (size_t i = 0; ok && i < pre; i += RB_TOKEN_LEN) {
        ok = memcmp(v + i, RB_PREPEND_TOKEN, RB_TOKEN_LEN) == 0;
    }
    for (size_t i = pre + k->len; ok && i < total; i += RB_TOKEN_LEN) {
        ok = memcmp(v + i, RB_APPEND_TOKEN, RB_TOKEN_LEN) == 0;
    }
    if (ok && base_matches(v + pre, idx, k->gen, k->len)) {
        return flags == rb_value_flags(idx, k->gen) ? -1 : RB_E_FLAGS;
    }
    return classify(idx, k, flags, v, n);
}

size_t
rb_req_max(void)
{
    unsigned keys = rb_opt.mget_hi > 1 ? rb_opt.mget_hi : 1;

    /* text/meta: a command word, keys with separators and meta flags, a
     * number or two, the value; binary: a header per key */
    return 96 + (size_t)keys * (rb_opt.key_len + BIN_HDR + 16)
           + max_value();
}

/* ---- encoding ------------------------------------------------------- */

static char *
put_str(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return p + n;
}

static char *
put_u32(char *p, uint32_t v)
{
    char tmp[12];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

static char *
put_key(char *p, uint32_t idx)
{
    rb_key_name(p, idx);
    return p + rb_opt.key_len;
}

static char *
put_crlf(char *p)
{
    p[0] = '\r';
    p[1] = '\n';
    return p + 2;
}

static const char *const text_cmd[RB_OP__COUNT] = {
    "get ", "get ", "set ", "add ", "replace ", "append ", "prepend ",
    "delete ", "touch ", "gat ",
};

static size_t
encode_text(char *out, const struct rb_wire_req *q)
{
    char *p = put_str(out, text_cmd[q->op]);

    if (q->op == RB_GAT) {
        p = put_u32(p, rb_opt.exptime);
        *p++ = ' ';
    }
    p = put_key(p, q->keys[0]);
    switch (q->op) {
    case RB_GET:
    case RB_MGET:
        for (unsigned i = 1; i < q->nkeys; i++) {
            *p++ = ' ';
            p = put_key(p, q->keys[i]);
        }
        break;
    case RB_SET:
    case RB_ADD:
    case RB_REPLACE:
        *p++ = ' ';
        p = put_u32(p, q->flags);
        *p++ = ' ';
        p = put_u32(p, rb_opt.exptime);
        *p++ = ' ';
        p = put_u32(p, q->len);
        p = put_crlf(p);
        rb_value_write(p, q->keys[0], q->gen, q->len);
        p += q->len;
        break;
    case RB_APPEND:
    case RB_PREPEND:
        p = put_str(p, " 0 0 4\r\n");
        p = put_str(p, q->op == RB_APPEND ? RB_APPEND_TOKEN : RB_PREPEND_TOKEN);
        break;
    case RB_TOUCH:
        *p++ = ' ';
        p = put_u32(p, rb_opt.exptime);
        break;
    default:
        break;
    }
    return (size_t)(put_crlf(p) - out);
}

static size_t
encode_meta(char *out, const struct rb_wire_req *q)
{
    char *p = out;

    switch (q->op) {
    case RB_GET:
        p = put_key(put_str(p, "mg "), q->keys[0]);
        p = put_str(p, " v f");
        break;
    case RB_MGET:
        for (unsigned i = 0; i < q->nkeys; i++) {
            p = put_key(put_str(p, "mg "), q->keys[i]);
            p = put_crlf(put_str(p, " v f k q"));
        }
        p = put_str(p, "mn");
        break;
    case RB_SET:
    case RB_ADD:
    case RB_REPLACE:
        p = put_key(put_str(p, "ms "), q->keys[0]);
        *p++ = ' ';
        p = put_u32(p, q->len);
        p = put_u32(put_str(p, " F"), q->flags);
        p = put_u32(put_str(p, " T"), rb_opt.exptime);
        if (q->op != RB_SET) {
            p = put_str(p, q->op == RB_ADD ? " ME" : " MR");
        }
        p = put_crlf(p);
        rb_value_write(p, q->keys[0], q->gen, q->len);
        p += q->len;
        break;
    case RB_APPEND:
    case RB_PREPEND:
        p = put_key(put_str(p, "ms "), q->keys[0]);
        p = put_str(p, q->op == RB_APPEND ? " 4 MA\r\n" RB_APPEND_TOKEN
                                          : " 4 MP\r\n" RB_PREPEND_TOKEN);
        break;
    case RB_DELETE:
        p = put_key(put_str(p, "md "), q->keys[0]);
        break;
    case RB_TOUCH:
        p = put_key(put_str(p, "mg "), q->keys[0]);
        p = put_u32(put_str(p, " T"), rb_opt.exptime);
        break;
    case RB_GAT:
        p = put_key(put_str(p, "mg "), q->keys[0]);
        p = put_u32(put_str(p, " v f T"), rb_opt.exptime);
        break;
    default:
        break;
    }
    return (size_t)(put_crlf(p) - out);
}

static void
be16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void
be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16
           | (uint32_t)p[2] << 8 | p[3];
}

static const unsigned char bin_opcode[RB_OP__COUNT] = {
    0x00, 0x09, 0x01, 0x02, 0x03, 0x0e, 0x0f, 0x04, 0x1c, 0x1d,
};

/* One binary request: header, extras (ext bytes from extras), key, value. */
static char *
bin_one(char *out, unsigned opcode, uint32_t opaque, const unsigned char *extras,
        unsigned ext, int haskey, uint32_t idx, uint32_t vlen)
{
    unsigned char *h = (unsigned char *)out;
    unsigned klen = haskey ? rb_opt.key_len : 0;

    memset(h, 0, BIN_HDR);
    h[0] = 0x80;
    h[1] = (unsigned char)opcode;
    be16(h + 2, klen);
    h[4] = (unsigned char)ext;
    be32(h + 8, ext + klen + vlen);
    be32(h + 12, opaque);
    out += BIN_HDR;
    memcpy(out, extras, ext);
    out += ext;
    if (haskey) {
        out = put_key(out, idx);
    }
    return out;
}

static size_t
encode_binary(char *out, const struct rb_wire_req *q)
{
    unsigned char ex[8] = { 0 };
    char *p = out;
    uint32_t idx = q->keys[0];

    switch (q->op) {
    case RB_GET:
        p = bin_one(p, 0x00, q->opaque, ex, 0, 1, idx, 0);
        break;
    case RB_MGET:
        for (unsigned i = 0; i < q->nkeys; i++) {
            p = bin_one(p, 0x09, q->opaque + i, ex, 0, 1, q->keys[i], 0);
        }
        p = bin_one(p, 0x0a, q->opaque + q->nkeys, ex, 0, 0, 0, 0);
        break;
    case RB_SET:
    case RB_ADD:
    case RB_REPLACE:
        be32(ex, q->flags);
        be32(ex + 4, rb_opt.exptime);
        p = bin_one(p, bin_opcode[q->op], q->opaque, ex, 8, 1, idx, q->len);
        rb_value_write(p, idx, q->gen, q->len);
        p += q->len;
        break;
    case RB_APPEND:
    case RB_PREPEND:
        p = bin_one(p, bin_opcode[q->op], q->opaque, ex, 0, 1, idx,
                    RB_TOKEN_LEN);
        p = put_str(p, q->op == RB_APPEND ? RB_APPEND_TOKEN : RB_PREPEND_TOKEN);
        break;
    case RB_DELETE:
        p = bin_one(p, 0x04, q->opaque, ex, 0, 1, idx, 0);
        break;
    case RB_TOUCH:
    case RB_GAT:
        be32(ex, rb_opt.exptime);
        p = bin_one(p, bin_opcode[q->op], q->opaque, ex, 4, 1, idx, 0);
        break;
    default:
        break;
    }
    return (size_t)(p - out);
}

size_t
rb_encode(char *out, const struct rb_wire_req *q)
{
    switch (rb_opt.proto) {
    case RB_BINARY: return encode_binary(out, q);
    case RB_META: return encode_meta(out, q);
    default: return encode_text(out, q);
    }
}

/* ---- parsing -------------------------------------------------------- */

static int
word_is(const char *line, size_t n, const char *w)
{
    size_t k = strlen(w);

    return n >= k && memcmp(line, w, k) == 0 && (n == k || line[k] == ' ');
}

static int
contains(const char *line, size_t n, const char *w)
{
    size_t k = strlen(w);

    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(line + i, w, k) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The line at buf: its length without CRLF in *n.  0 = incomplete,
 * -1 = not a CRLF line, 1 = ok. */
static int
get_line(const char *buf, size_t len, size_t *n)
{
    size_t scan = len < MAX_LINE ? len : MAX_LINE;
    const char *nl = memchr(buf, '\n', scan);

    if (nl == NULL) {
        return len >= MAX_LINE ? -1 : 0;
    }
    if (nl == buf || nl[-1] != '\r') {
        return -1;
    }
    *n = (size_t)(nl - buf) - 1;
    return 1;
}

static int
error_line(const char *line, size_t n)
{
    return word_is(line, n, "ERROR") || word_is(line, n, "CLIENT_ERROR")
           || word_is(line, n, "SERVER_ERROR");
}

static enum rb_status
error_status(const char *line, size_t n)
{
    return contains(line, n, "too large") || contains(line, n, "too big")
           ? RB_S_TOO_LARGE : RB_S_SERVER;
}

/* " <digits>" at *p, before end */
static int
num(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t r = 0;

    if (s < end && *s == ' ') {
        s++;
    }
    if (s >= end || *s < '0' || *s > '9') {
        return 0;
    }
    while (s < end && *s >= '0' && *s <= '9') {
        r = r * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *p = s;
    *v = r;
    return 1;
}

/* Which of the request's keys (from *cursor on) is key[0..klen); moves
 * the cursor past it.  -1 when none. */
static int
match_key(const struct rb_wire_req *q, unsigned *cursor, const char *key,
          size_t klen)
{
    char name[256];

    if (klen != rb_opt.key_len) {
        return -1;
    }
    for (unsigned i = *cursor; i < q->nkeys; i++) {
        rb_key_name(name, q->keys[i]);
        if (memcmp(name, key, klen) == 0) {
            *cursor = i + 1;
            return (int)i;
        }
    }
    return -1;
}

static enum rb_status
parse_text_get(const char *buf, size_t len, const struct rb_wire_req *q,
               size_t *used, struct rb_hitv *hits, unsigned *nhits)
{
    size_t pos = 0, n;
    unsigned cursor = 0;
    int r;

    *nhits = 0;
    for (;;) {
        const char *line = buf + pos, *p, *end, *key;
        uint64_t flags, bytes;
        int at;

        r = get_line(line, len - pos, &n);
        if (r <= 0) {
            return r == 0 ? RB_S_INCOMPLETE : RB_S_PROTO;
        }
        if (n == 3 && memcmp(line, "END", 3) == 0) {
            *used = pos + 5;
            return *nhits > 0 || q->op == RB_MGET ? RB_S_OK : RB_S_NOT;
        }
        if (pos == 0 && error_line(line, n)) {
            *used = n + 2;
            return RB_S_SERVER;
        }
        if (!word_is(line, n, "VALUE")) {
            return RB_S_PROTO;
        }
        p = line + 6;
        end = line + n;
        key = p;
        while (p < end && *p != ' ') {
            p++;
        }
        at = match_key(q, &cursor, key, (size_t)(p - key));
        if (at < 0 || !num(&p, end, &flags) || !num(&p, end, &bytes)
            || bytes > 0xffffffffu) {
            return RB_S_PROTO;
        }
        if (len - pos < n + 2 + bytes + 2) {
            return RB_S_INCOMPLETE;
        }
        if (memcmp(line + n + 2 + bytes, "\r\n", 2) != 0) {
            return RB_S_PROTO;
        }
        hits[*nhits].pos = (unsigned)at;
        hits[*nhits].flags = (uint32_t)flags;
        hits[*nhits].data = line + n + 2;
        hits[*nhits].len = bytes;
        (*nhits)++;
        pos += n + 2 + bytes + 2;
    }
}

static enum rb_status
parse_text(const char *buf, size_t len, const struct rb_wire_req *q,
           size_t *used, struct rb_hitv *hits, unsigned *nhits)
{
    size_t n;
    int r;

    if (q->op == RB_GET || q->op == RB_MGET || q->op == RB_GAT) {
        return parse_text_get(buf, len, q, used, hits, nhits);
    }
    r = get_line(buf, len, &n);
    if (r <= 0) {
        return r == 0 ? RB_S_INCOMPLETE : RB_S_PROTO;
    }
    *used = n + 2;
    if (error_line(buf, n)) {
        return error_status(buf, n);
    }
    switch (q->op) {
    case RB_DELETE:
        if (n == 7 && memcmp(buf, "DELETED", 7) == 0) {
            return RB_S_OK;
        }
        break;
    case RB_TOUCH:
        if (n == 7 && memcmp(buf, "TOUCHED", 7) == 0) {
            return RB_S_OK;
        }
        break;
    default:
        if (n == 6 && memcmp(buf, "STORED", 6) == 0) {
            return RB_S_OK;
        }
        if ((n == 10 && memcmp(buf, "NOT_STORED", 10) == 0)
            || (n == 6 && memcmp(buf, "EXISTS", 6) == 0)) {
            return RB_S_NOT;
        }
        break;
    }
    if (n == 9 && memcmp(buf, "NOT_FOUND", 9) == 0) {
        return RB_S_NOT;
    }
    return RB_S_PROTO;
}

/* Meta value header "VA <n> <flags>": returns 0 and fills *bytes, *flags
 * and the k flag's key. */
static int
meta_va(const char *line, size_t n, uint64_t *bytes, uint32_t *flags,
        const char **key, size_t *klen)
{
    const char *p = line + 2, *end = line + n;
    uint64_t v;

    *key = NULL;
    *klen = 0;
    *flags = 0;
    if (!num(&p, end, bytes)) {
        return -1;
    }
    while (p < end) {
        const char *t;

        if (*p != ' ') {
            return -1;
        }
        t = ++p;
        while (p < end && *p != ' ') {
            p++;
        }
        if (p == t) {
            return -1;
        }
        if (*t == 'f') {
            const char *d = t + 1;
            if (!num(&d, p, &v) || d != p) {
                return -1;
            }
            *flags = (uint32_t)v;
        } else if (*t == 'k') {
            *key = t + 1;
            *klen = (size_t)(p - t - 1);
        }
    }
    return 0;
}

static enum rb_status
parse_meta(const char *buf, size_t len, const struct rb_wire_req *q,
           size_t *used, struct rb_hitv *hits, unsigned *nhits)
{
    size_t pos = 0, n;
    unsigned cursor = 0;
    int r;

    *nhits = 0;
    for (;;) {
        const char *line = buf + pos, *key;
        uint64_t bytes;
        uint32_t flags;
        size_t klen;
        int at = 0;

        r = get_line(line, len - pos, &n);
        if (r <= 0) {
            return r == 0 ? RB_S_INCOMPLETE : RB_S_PROTO;
        }
        if (pos == 0 && error_line(line, n)) {
            *used = n + 2;
            return error_status(line, n);
        }
        if (q->op == RB_MGET && n == 2 && memcmp(line, "MN", 2) == 0) {
            *used = pos + 4;
            return RB_S_OK;
        }
        if (q->op != RB_GET && q->op != RB_MGET && q->op != RB_GAT) {
            *used = n + 2;
            if (n == 2 && memcmp(line, "HD", 2) == 0) {
                return RB_S_OK;
            }
            if (n == 2 && (memcmp(line, "NS", 2) == 0
                           || memcmp(line, "NF", 2) == 0
                           || memcmp(line, "EX", 2) == 0
                           || memcmp(line, "EN", 2) == 0)) {
                return RB_S_NOT;
            }
            return RB_S_PROTO;
        }
        if (q->op != RB_MGET && n == 2 && memcmp(line, "EN", 2) == 0) {
            *used = 4;
            return RB_S_NOT;
        }
        if (!word_is(line, n, "VA")
            || meta_va(line, n, &bytes, &flags, &key, &klen) != 0
            || bytes > 0xffffffffu) {
            return RB_S_PROTO;
        }
        if (q->op == RB_MGET) {
            at = key == NULL ? -1 : match_key(q, &cursor, key, klen);
            if (at < 0) {
                return RB_S_PROTO;
            }
        }
        if (len - pos < n + 2 + bytes + 2) {
            return RB_S_INCOMPLETE;
        }
        if (memcmp(line + n + 2 + bytes, "\r\n", 2) != 0) {
            return RB_S_PROTO;
        }
        hits[*nhits].pos = (unsigned)at;
        hits[*nhits].flags = flags;
        hits[*nhits].data = line + n + 2;
        hits[*nhits].len = bytes;
        (*nhits)++;
        pos += n + 2 + bytes + 2;
        if (q->op != RB_MGET) {
            *used = pos;
            return RB_S_OK;
        }
    }
}

static enum rb_status
bin_status(unsigned st)
{
    switch (st) {
    case 0x00: return RB_S_OK;
    case 0x01: case 0x02: case 0x05: return RB_S_NOT;
    case 0x03: return RB_S_TOO_LARGE;
    default: return RB_S_SERVER;
    }
}

static enum rb_status
parse_binary(const char *buf, size_t len, const struct rb_wire_req *q,
             size_t *used, struct rb_hitv *hits, unsigned *nhits)
{
    size_t pos = 0;
    unsigned next = 0;
    int failed = 0;

    *nhits = 0;
    for (;;) {
        const unsigned char *h = (const unsigned char *)buf + pos;
        unsigned keylen, extlen, status, op;
        uint32_t body, opaque;

        if (len - pos < BIN_HDR) {
            return RB_S_INCOMPLETE;
        }
        op = h[1];
        keylen = (unsigned)h[2] << 8 | h[3];
        extlen = h[4];
        status = (unsigned)h[6] << 8 | h[7];
        body = get_be32(h + 8);
        opaque = get_be32(h + 12);
        if (h[0] != 0x81 || keylen + extlen > body) {
            return RB_S_PROTO;
        }
        if (len - pos < BIN_HDR + (size_t)body) {
            return RB_S_INCOMPLETE;
        }
        if (q->op != RB_MGET) {
            if (opaque != q->opaque || op != bin_opcode[q->op]) {
                return RB_S_PROTO;
            }
            *used = BIN_HDR + (size_t)body;
            if ((q->op == RB_GET || q->op == RB_GAT) && status == 0) {
                if (extlen < 4) {
                    return RB_S_PROTO;
                }
                hits[0].pos = 0;
                hits[0].flags = get_be32(h + BIN_HDR);
                hits[0].data = (const char *)h + BIN_HDR + extlen + keylen;
                hits[0].len = body - extlen - keylen;
                *nhits = 1;
            }
            return bin_status(status);
        }
        pos += BIN_HDR + (size_t)body;
        if (opaque == q->opaque + q->nkeys && op == 0x0a) {
            *used = pos;
            return failed ? RB_S_SERVER : RB_S_OK;
        }
        if (opaque - q->opaque >= q->nkeys || opaque - q->opaque < next
            || (op != 0x00 && op != 0x09)) {
            return RB_S_PROTO;
        }
        next = opaque - q->opaque + 1;
        if (status == 0x01) {
            continue;
        }
        if (status != 0) {
            failed = 1;   /* answered; the batch still ends with the noop */
            continue;
        }
        if (extlen < 4) {
            return RB_S_PROTO;
        }
        hits[*nhits].pos = opaque - q->opaque;
        hits[*nhits].flags = get_be32(h + BIN_HDR);
        hits[*nhits].data = (const char *)h + BIN_HDR + extlen + keylen;
        hits[*nhits].len = body - extlen - keylen;
        (*nhits)++;
    }
}

enum rb_status
rb_parse(const char *buf, size_t len, const struct rb_wire_req *q,
         size_t *used, struct rb_hitv *hits, unsigned *nhits)
{
    *nhits = 0;
    switch (rb_opt.proto) {
    case RB_BINARY: return parse_binary(buf, len, q, used, hits, nhits);
    case RB_META: return parse_meta(buf, len, q, used, hits, nhits);
    default: return parse_text(buf, len, q, used, hits, nhits);
    }
}
