/*
 * rend_mc_util.c - byte buffers, wire keys and expiry conversion for the
 * memcached plugin.  Everything here is pure and thread-agnostic.
 */
#include <stdarg.h>
#include <stdio.h>

#include "rend_mc.h"

#define THIRTY_DAYS (60 * 60 * 24 * 30)

/* Grows b so that n more bytes fit; the caller owns b. */
int
rend_mc_buf_reserve(struct rend_mc_buf *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->off > 0 && b->off == b->len) {
        b->off = b->len = 0;
    }
    if (b->cap - b->len >= n) {
        return 0;
    }
    if (b->off > 0 && b->cap - (b->len - b->off) >= n
        && b->off >= b->cap / 2) {
        rend_mc_buf_compact(b);
        if (b->cap - b->len >= n) {
            return 0;
        }
    }
    need = b->len + n;
    cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Appends n bytes of p to b. */
int
rend_mc_buf_add(struct rend_mc_buf *b, const void *p, size_t n)
{
    if (rend_mc_buf_reserve(b, n) != 0) {
        return -1;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Appends formatted text to b. */
int
rend_mc_buf_printf(struct rend_mc_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (rend_mc_buf_reserve(b, 256) != 0) {
        return -1;
    }
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (rend_mc_buf_reserve(b, (size_t)n + 1) != 0) {
            return -1;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

/* Moves the unread bytes of b to its start. */
void
rend_mc_buf_compact(struct rend_mc_buf *b)
{
    if (b->off == 0) {
        return;
    }
    if (b->off < b->len) {
        memmove(b->data, b->data + b->off, b->len - b->off);
    }
    b->len -= b->off;
    b->off = 0;
}

/* Frees b's storage; b is empty afterwards. */
void
rend_mc_buf_free(struct rend_mc_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t
b64_encode(char *out, const unsigned char *in, size_t n)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

static int
text_safe(const char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;

    /* Eight bytes a step: a word holds a byte < 0x21 when
     * (x - 0x21..21) & ~x & 0x80..80 is non-zero, and a 0x7f when
     * x ^ 0x7f..7f holds a zero byte (the same test with 0x01). */
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, p + i, 8);
        y = x ^ (0x7f * ones);
        if ((((x - 0x21 * ones) & ~x) | ((y - ones) & ~y)) & highs) {
            return 0;
        }
    }
    if (i < n && n >= 8) {
        /* the tail as the last eight bytes (overlapping checked ones) */
        uint64_t x, y;
        memcpy(&x, p + n - 8, 8);
        y = x ^ (0x7f * ones);
        return !((((x - 0x21 * ones) & ~x) | ((y - ones) & ~y)) & highs);
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* See rend_mc.h. */
int
rend_mc_key_raw(const char *key, size_t nkey)
{
    return nkey > 0 && nkey <= REND_MC_KEY_MAX && text_safe(key, nkey);
}

/* Fills w with key+suffix as sent on the wire (see rend_mc.h). */
int
rend_mc_wkey(struct rend_mc_wkey *w, const char *key, size_t nkey,
             const char *suffix, size_t nsuffix)
{
    unsigned char raw[REND_MC_KEY_MAX * 2];
    size_t n = nkey + nsuffix;

    if (n == 0) {
        return REND_EINVAL;
    }
    if (n <= REND_MC_KEY_MAX && text_safe(key, nkey)
        && text_safe(suffix, nsuffix)) {
        memcpy(w->text, key, nkey);
        memcpy(w->text + nkey, suffix, nsuffix);
        w->len = n;
        w->b64 = 0;
        w->text[n] = '\0';
        return 0;
    }
    if ((n + 2) / 3 * 4 > REND_MC_KEY_MAX) {
        return REND_EINVAL;
    }
    memcpy(raw, key, nkey);
    memcpy(raw + nkey, suffix, nsuffix);
    w->len = b64_encode(w->text, raw, n);
    w->text[w->len] = '\0';
    w->b64 = 1;
    return 0;
}

/* Converts an ABI absolute expiry into memcached's T token value. */
int64_t
rend_mc_ttl(int64_t exptime, int64_t now)
{
    int64_t ttl;

    if (exptime == 0) {
        return 0;
    }
    if (exptime <= now) {
        return -1;
    }
    ttl = exptime - now;
    return ttl > THIRTY_DAYS ? exptime : ttl;
}

/* Converts memcached's remaining TTL into an ABI absolute expiry. */
int64_t
rend_mc_abs_exptime(int64_t ttl, int64_t now)
{
    if (ttl < 0) {
        return 0;
    }
    return now + (ttl == 0 ? 1 : ttl);
}

/* Frees the free objects of pool; runs on the pool's thread. */
void
rend_mc_pool_drain(struct rend_mc_pool *pool)
{
    void *x;

    while ((x = pool->head) != NULL) {
        memcpy(&pool->head, x, sizeof(void *));
        free(x);
    }
    pool->n = 0;
}
