/*
 * rend_rocksdb_item.c - value header, visibility rules and key encoding
 * of the rocksdb handler.  No I/O, no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "rend_rocksdb.h"

/* Any thread; buf holds RDB_HDR_LEN bytes: plugins/common's rend_item.h
 * layout (the lmdb plugin's too). */
void
rend_rdb_hdr_encode(char *buf, const struct rdb_hdr *h)
{
    struct rend_item_hdr ih = {
        .exptime = h->exptime, .flags = h->flags, .cas = h->cas,
        .stored = h->mtime,
    };

    rend_item_hdr_put(buf, &ih);
}

/* Any thread. */
int
rend_rdb_hdr_decode(const char *buf, size_t n, struct rdb_hdr *h)
{
    struct rend_item_hdr ih;

    if (rend_item_hdr_get(buf, n, &ih) != 0) {
        return -1;
    }
    h->exptime = ih.exptime;
    h->flags = ih.flags;
    h->cas = ih.cas;
    h->mtime = (uint32_t)ih.stored;
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
