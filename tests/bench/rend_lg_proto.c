/*
 * rend_lg_proto.c - requests and reply checks of the load generator (see
 * rend_lg_proto.h).
 */
#include "rend_lg_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VHDR_LEN 12          /* "v%010u|" */
#define MAX_LINE 1024        /* longest text reply line we wait for */
#define BIN_HDR 24

static uint64_t
splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int
rend_lg_data_init(struct rend_lg_data *d, unsigned nkeys, size_t vsize,
                  uint64_t seed, int binary)
{
    char tmp[16];
    uint64_t s = seed;

    memset(d, 0, sizeof(*d));
    d->nkeys = nkeys;
    d->vsize = vsize;
    d->binary = binary;
    d->keys = malloc((size_t)nkeys * REND_LG_KEY_LEN);
    d->pattern = malloc(vsize + 64);
    if (d->keys == NULL || d->pattern == NULL) {
        rend_lg_data_free(d);
        return -1;
    }
    for (unsigned i = 0; i < nkeys; i++) {
        snprintf(tmp, sizeof(tmp), "lg%010u", i);
        memcpy(d->keys + (size_t)i * REND_LG_KEY_LEN, tmp, REND_LG_KEY_LEN);
    }
    for (size_t i = 0; i < vsize + 64; i++) {
        d->pattern[i] = (char)('a' + splitmix(&s) % 26);
    }
    return 0;
}

void
rend_lg_data_free(struct rend_lg_data *d)
{
    free(d->keys);
    free(d->pattern);
    d->keys = NULL;
    d->pattern = NULL;
}

static const char *
key_of(const struct rend_lg_data *d, uint32_t idx)
{
    return d->keys + (size_t)idx * REND_LG_KEY_LEN;
}

/* The value of key idx is hdr[0..VHDR_LEN) then pattern from this offset. */
static const char *
pattern_of(const struct rend_lg_data *d, uint32_t idx)
{
    return d->pattern + idx % 61;
}

/* "v%010u|" without snprintf: this runs for every get hit */
static void
value_header(char *hdr, uint32_t idx)
{
    hdr[0] = 'v';
    for (int i = 10; i >= 1; i--) {
        hdr[i] = (char)('0' + idx % 10);
        idx /= 10;
    }
    hdr[11] = '|';
}

static void
write_value(const struct rend_lg_data *d, char *out, uint32_t idx)
{
    char hdr[VHDR_LEN];
    size_t h = d->vsize < VHDR_LEN ? d->vsize : VHDR_LEN;

    value_header(hdr, idx);
    memcpy(out, hdr, h);
    memcpy(out + h, pattern_of(d, idx), d->vsize - h);
}

static int
value_matches(const struct rend_lg_data *d, const char *v, size_t n,
              uint32_t idx)
{
    char hdr[VHDR_LEN];
    size_t h = d->vsize < VHDR_LEN ? d->vsize : VHDR_LEN;

    if (n != d->vsize) {
        return 0;
    }
    value_header(hdr, idx);
    return memcmp(v, hdr, h) == 0
           && memcmp(v + h, pattern_of(d, idx), n - h) == 0;
}

size_t
rend_lg_request_max(const struct rend_lg_data *d)
{
    /* "set <key> <flags> 0 <bytes>\r\n" <value> "\r\n", or a binary header,
     * 8 extra bytes, the key and the value */
    return 64 + REND_LG_KEY_LEN + d->vsize;
}

static void
put_be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void
put_be32(unsigned char *p, uint32_t v)
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

static size_t
encode_binary(const struct rend_lg_data *d, char *out, enum rend_lg_op op,
              uint32_t idx, uint32_t opaque)
{
    unsigned char *h = (unsigned char *)out;
    size_t ext = op == REND_LG_SET ? 8 : 0;
    size_t vlen = op == REND_LG_SET ? d->vsize : 0;

    memset(h, 0, BIN_HDR);
    h[0] = 0x80;
    h[1] = op == REND_LG_SET ? 0x01 : 0x00;
    put_be16(h + 2, REND_LG_KEY_LEN);
    h[4] = (unsigned char)ext;
    put_be32(h + 8, (uint32_t)(ext + REND_LG_KEY_LEN + vlen));
    put_be32(h + 12, opaque);
    if (op == REND_LG_SET) {
        put_be32(h + BIN_HDR, idx);        /* flags */
        put_be32(h + BIN_HDR + 4, 0);      /* exptime */
    }
    memcpy(out + BIN_HDR + ext, key_of(d, idx), REND_LG_KEY_LEN);
    if (op == REND_LG_SET) {
        write_value(d, out + BIN_HDR + ext + REND_LG_KEY_LEN, idx);
    }
    return BIN_HDR + ext + REND_LG_KEY_LEN + vlen;
}

size_t
rend_lg_encode(const struct rend_lg_data *d, char *out, enum rend_lg_op op,
               uint32_t idx, uint32_t opaque)
{
    size_t n;

    if (d->binary) {
        return encode_binary(d, out, op, idx, opaque);
    }
    if (op == REND_LG_GET) {
        memcpy(out, "get ", 4);
        memcpy(out + 4, key_of(d, idx), REND_LG_KEY_LEN);
        memcpy(out + 4 + REND_LG_KEY_LEN, "\r\n", 2);
        return 6 + REND_LG_KEY_LEN;
    }
    memcpy(out, "set ", 4);
    memcpy(out + 4, key_of(d, idx), REND_LG_KEY_LEN);
    n = 4 + REND_LG_KEY_LEN;
    n += (size_t)sprintf(out + n, " %u 0 %zu\r\n", idx, d->vsize);
    write_value(d, out + n, idx);
    n += d->vsize;
    memcpy(out + n, "\r\n", 2);
    return n + 2;
}

static int
line_is(const char *line, size_t n, const char *word)
{
    size_t w = strlen(word);

    return n >= w && memcmp(line, word, w) == 0 && (n == w || line[w] == ' ');
}

/* Parses " <digits>" at *p (before end) into *v; advances *p. */
static int
parse_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t n = 0;

    if (s >= end || *s != ' ') {
        return 0;
    }
    s++;
    if (s >= end || *s < '0' || *s > '9') {
        return 0;
    }
    while (s < end && *s >= '0' && *s <= '9') {
        n = n * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *p = s;
    *v = n;
    return 1;
}

static enum rend_lg_result
parse_text_value(const struct rend_lg_data *d, const char *buf, size_t len,
                 size_t linelen, uint32_t idx, size_t *used)
{
    const char *p = buf + 6, *end = buf + linelen, *key;
    size_t keylen, total;
    uint64_t flags, bytes;
    const char *data;

    key = p;
    while (p < end && *p != ' ') {
        p++;
    }
    keylen = (size_t)(p - key);
    if (!parse_u64(&p, end, &flags) || !parse_u64(&p, end, &bytes)
        || bytes > ((uint64_t)1 << 32)) {
        return REND_LG_PROTO_ERROR;
    }
    total = linelen + 2 + bytes + 2 + 5;
    if (len < total) {
        return REND_LG_INCOMPLETE;
    }
    data = buf + linelen + 2;
    if (memcmp(data + bytes, "\r\nEND\r\n", 7) != 0) {
        return REND_LG_PROTO_ERROR;
    }
    *used = total;
    if (keylen != REND_LG_KEY_LEN
        || memcmp(key, key_of(d, idx), REND_LG_KEY_LEN) != 0
        || flags != idx || !value_matches(d, data, bytes, idx)) {
        return REND_LG_BAD_VALUE;
    }
    return REND_LG_HIT;
}

static enum rend_lg_result
parse_text(const struct rend_lg_data *d, const char *buf, size_t len,
           enum rend_lg_op op, uint32_t idx, size_t *used)
{
    size_t scan = len < MAX_LINE + 2 ? len : MAX_LINE + 2;
    const char *nl = memchr(buf, '\n', scan);
    size_t linelen;

    if (nl == NULL) {
        return len >= MAX_LINE + 2 ? REND_LG_PROTO_ERROR : REND_LG_INCOMPLETE;
    }
    if (nl == buf || nl[-1] != '\r') {
        return REND_LG_PROTO_ERROR;
    }
    linelen = (size_t)(nl - buf) - 1;
    if (line_is(buf, linelen, "SERVER_ERROR") || line_is(buf, linelen, "ERROR")
        || line_is(buf, linelen, "CLIENT_ERROR")) {
        *used = linelen + 2;
        return REND_LG_SERVER_ERROR;
    }
    if (op == REND_LG_SET) {
        *used = linelen + 2;
        if (line_is(buf, linelen, "STORED") && linelen == 6) {
            return REND_LG_STORED;
        }
        return line_is(buf, linelen, "NOT_STORED") ? REND_LG_SERVER_ERROR
                                                   : REND_LG_PROTO_ERROR;
    }
    if (linelen == 3 && memcmp(buf, "END", 3) == 0) {
        *used = 5;
        return REND_LG_MISS;
    }
    if (line_is(buf, linelen, "VALUE")) {
        return parse_text_value(d, buf, len, linelen, idx, used);
    }
    return REND_LG_PROTO_ERROR;
}

static enum rend_lg_result
parse_binary(const struct rend_lg_data *d, const char *buf, size_t len,
             enum rend_lg_op op, uint32_t idx, uint32_t opaque, size_t *used)
{
    const unsigned char *h = (const unsigned char *)buf;
    uint32_t body;
    unsigned keylen, extlen, status;

    if (len < BIN_HDR) {
        return REND_LG_INCOMPLETE;
    }
    if (h[0] != 0x81 || h[1] != (op == REND_LG_SET ? 0x01 : 0x00)
        || get_be32(h + 12) != opaque) {
        return REND_LG_PROTO_ERROR;
    }
    keylen = (unsigned)h[2] << 8 | h[3];
    extlen = h[4];
    status = (unsigned)h[6] << 8 | h[7];
    body = get_be32(h + 8);
    if (keylen + extlen > body) {
        return REND_LG_PROTO_ERROR;
    }
    if (len < BIN_HDR + (size_t)body) {
        return REND_LG_INCOMPLETE;
    }
    *used = BIN_HDR + (size_t)body;
    if (status == 1 && op == REND_LG_GET) {
        return REND_LG_MISS;
    }
    if (status != 0) {
        return REND_LG_SERVER_ERROR;
    }
    if (op == REND_LG_SET) {
        return REND_LG_STORED;
    }
    if (extlen != 4 || get_be32(h + BIN_HDR) != idx
        || !value_matches(d, buf + BIN_HDR + extlen + keylen,
                          body - extlen - keylen, idx)) {
        return REND_LG_BAD_VALUE;
    }
    return REND_LG_HIT;
}

enum rend_lg_result
rend_lg_parse(const struct rend_lg_data *d, const char *buf, size_t len,
              enum rend_lg_op op, uint32_t idx, uint32_t opaque, size_t *used)
{
    if (d->binary) {
        return parse_binary(d, buf, len, op, idx, opaque, used);
    }
    return parse_text(d, buf, len, op, idx, used);
}
