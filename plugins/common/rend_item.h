/*
 * rend_item.h - the stored item header both persistent handlers (lmdb,
 * rocksdb) put before an item's value bytes, and big-endian helpers.
 * Header-only (the read paths inline it).
 *
 * 20 bytes, all big-endian:
 *   0..3   exptime: unsigned 32-bit absolute unix seconds, 0 = never, 1 =
 *          already expired (a negative expiry); past 2106: the largest u32
 *   4..7   client flags
 *   8..15  cas
 *   16..19 stored: unix seconds of the last write (flush with a past time
 *          compares it)
 * The on-disk format of both plugins: changing it breaks existing data.
 */
#ifndef REND_ITEM_H
#define REND_ITEM_H

#include <stddef.h>
#include <stdint.h>

#define REND_ITEM_HDR 20

struct rend_item_hdr {
    int64_t exptime;
    uint32_t flags;
    uint64_t cas;
    int64_t stored;
};

static inline void
rend_be_put32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (char)(v >> (24 - 8 * i));
    }
}

static inline uint32_t
rend_be_get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8
           | (uint32_t)u[3];
}

static inline void
rend_be_put64(char *p, uint64_t v)
{
    rend_be_put32(p, (uint32_t)(v >> 32));
    rend_be_put32(p + 4, (uint32_t)v);
}

static inline uint64_t
rend_be_get64(const char *p)
{
    return (uint64_t)rend_be_get32(p) << 32 | rend_be_get32(p + 4);
}

/* A time as the header's unsigned 32 bits (clamped). */
static inline uint32_t
rend_item_time32(int64_t t)
{
    return t <= 0 ? 0 : t > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* Write h into p (REND_ITEM_HDR bytes). */
static inline void
rend_item_hdr_put(char *p, const struct rend_item_hdr *h)
{
    rend_be_put32(p, h->exptime < 0 ? 1 : rend_item_time32(h->exptime));
    rend_be_put32(p + 4, h->flags);
    rend_be_put64(p + 8, h->cas);
    rend_be_put32(p + 16, rend_item_time32(h->stored));
}

/* Read the header of a stored value of n bytes; -1 when it is too short
 * to be an item (the value bytes follow at p + REND_ITEM_HDR). */
static inline int
rend_item_hdr_get(const char *p, size_t n, struct rend_item_hdr *h)
{
    if (n < REND_ITEM_HDR) {
        return -1;
    }
    h->exptime = rend_be_get32(p);
    h->flags = rend_be_get32(p + 4);
    h->cas = rend_be_get64(p + 8);
    h->stored = rend_be_get32(p + 16);
    return 0;
}

#endif /* REND_ITEM_H */
