/*
 * rend_rocksdb_item.c - value header, visibility rules and key encoding
 * of the rocksdb handler.  No I/O, no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "rend_rocksdb.h"

static void
put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static uint32_t
get_be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8
           | (uint32_t)u[3];
}

/* Any thread; buf holds RDB_HDR_LEN bytes.  An expiry past 2106 is stored
 * as the largest u32 (still in the future for decades). */
void
rend_rdb_hdr_encode(char *buf, const struct rdb_hdr *h)
{
    uint32_t exp;

    if (h->exptime <= 0) {
        exp = 0;
    } else if (h->exptime > (int64_t)UINT32_MAX) {
        exp = UINT32_MAX;
    } else {
        exp = (uint32_t)h->exptime;
    }
    put_be32(buf, exp);
    put_be32(buf + 4, h->flags);
    put_be32(buf + 8, (uint32_t)(h->cas >> 32));
    put_be32(buf + 12, (uint32_t)h->cas);
    put_be32(buf + 16, h->mtime);
}

/* Any thread. */
int
rend_rdb_hdr_decode(const char *buf, size_t n, struct rdb_hdr *h)
{
    if (n < RDB_HDR_LEN) {
        return -1;
    }
    h->exptime = get_be32(buf);
    h->flags = get_be32(buf + 4);
    h->cas = (uint64_t)get_be32(buf + 8) << 32 | get_be32(buf + 12);
    h->mtime = get_be32(buf + 16);
    return 0;
}

/* Any thread. */
int
rend_rdb_visible(const struct rdb_hdr *h, const struct rdb_flush *f,
                 int64_t now)
{
    if (REND_EXPIRED(h->exptime, now)) {
        return 0;
    }
    if (h->cas <= f->cas_limit || (int64_t)h->mtime < f->past) {
        return 0;
    }
    if (f->pending != 0 && now >= f->pending
        && (int64_t)h->mtime < f->pending) {
        return 0;
    }
    return 1;
}

/* Any thread: three relaxed loads; a reader racing a flush sees either
 * state, which is as good as the flush landing a moment later. */
void
rend_rdb_flush_load(struct rdb *r, struct rdb_flush *f)
{
    f->cas_limit = atomic_load_explicit(&r->flush_cas_limit,
                                        memory_order_acquire);
    f->past = atomic_load_explicit(&r->flush_past, memory_order_acquire);
    f->pending = atomic_load_explicit(&r->flush_pending,
                                      memory_order_acquire);
}

/* Any thread: FNV-1a folded to a slot. */
uint32_t
rend_rdb_key_slot(const char *key, size_t nkey)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < nkey; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return (uint32_t)((h ^ (h >> 32)) % RDB_PENDING_SLOTS);
}

/* Any thread; nkey < RDB_KEY_MAX (the core limits keys to 250 bytes). */
size_t
rend_rdb_key(char *buf, const char *key, size_t nkey)
{
    buf[0] = RDB_KEY_PREFIX;
    memcpy(buf + 1, key, nkey);
    return nkey + 1;
}

/* Any thread. */
int
rend_rdb_err_status(const char *err)
{
    if (err != NULL && (strstr(err, "No space left") != NULL
                        || strstr(err, "NoSpace") != NULL)) {
        return REND_ENOSPC;
    }
    return REND_EIO;
}
