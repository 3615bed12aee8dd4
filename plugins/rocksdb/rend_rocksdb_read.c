/*
 * rend_rocksdb_read.c - the read path: inline block-cache-only gets on the
 * worker thread, a reader pool for gets that would touch the disk, and the
 * hand-off to the writer for gets racing a queued write of the same key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rend_rocksdb.h"

/* Gets a reader takes at once, at most. */
#define READ_TAKE 4

/* Any thread. */
void
rend_rdb_kvitem(const struct rdb_hdr *h, const char *data, size_t ndata,
                struct rend_kvop_item *it)
{
    it->data = data;
    it->ndata = ndata;
    it->flags = h->flags;
    it->exptime = h->exptime;
    it->cas = h->cas;
}

/* One get with read options ro.  *incomplete is set when ro forbids I/O
 * and the item is not in memory. */
static int
read_one(struct rdb *r, struct rend_op *op, const rocksdb_readoptions_t *ro,
         int *incomplete)
{
    char kbuf[RDB_KEY_MAX];
    size_t nk = rend_rdb_key(kbuf, op->key, op->nkey);
    char *err = NULL;
    rocksdb_pinnableslice_t *ps;
    struct rdb_flush f;
    struct rdb_hdr h;
    const char *v;
    size_t nv;
    int rc = REND_MISS;

    *incomplete = 0;
    ps = rocksdb_get_pinned(r->db, ro, kbuf, nk, &err);
    if (err != NULL) {
        if (strncmp(err, "Result incomplete", 17) == 0) {
            *incomplete = 1;
            rc = REND_PENDING;
        } else {
            r->host->log(REND_LOG_ERR, r->name, "get: %s", err);
            rc = REND_EIO;
        }
        rocksdb_free(err);
        return rc;
    }
    if (ps == NULL) {
        return REND_MISS;
    }
    v = rocksdb_pinnableslice_value(ps, &nv);
    rend_rdb_flush_load(r, &f);
    if (rend_rdb_hdr_decode(v, nv, &h) == 0
        && rend_rdb_visible(&h, &f, r->host->now())) {
        struct rend_kvop_item it;

        rend_rdb_kvitem(&h, v + RDB_HDR_LEN, nv - RDB_HDR_LEN, &it);
        rc = rend_kvop_fill(r->host, op, &it);
    }
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

static int
pool_enqueue(struct rdb *r, struct rend_op *op)
{
    int rc = rend_opq_submit(&r->rq, op);

    return rc == REND_PENDING ? rc : REND_ENOMEM; /* the pool is unbounded */
}

/* Worker thread; on REND_PENDING the pool or the writer completes op. */
int
rend_rdb_get(struct rdb *r, struct rend_op *op)
{
    int incomplete, rc;

    if (rend_rdb_write_pending(r, op->key, op->nkey)) {
        return rend_rdb_writer_enqueue(r, op);
    }
    if (r->inline_reads) {
        rc = read_one(r, op, r->ropts_cache, &incomplete);
        if (!incomplete) {
            atomic_fetch_add(&r->c.gets_inline, 1);
            return rc;
        }
        atomic_fetch_add(&r->c.gets_incomplete, 1);
    }
    return pool_enqueue(r, op);
}

/* The pool's run(): a few gets at a time (the queue hands each reader a
 * fair share, at most READ_TAKE). */
static void
reader_run(void *ud, void *tls, struct rend_op **ops, size_t n)
{
    struct rdb *r = ud;

    (void)tls;
    for (size_t i = 0; i < n; i++) {
        int incomplete;
        int rc = read_one(r, ops[i], r->ropts, &incomplete);

        atomic_fetch_add(&r->c.gets_pool, 1);
        r->host->done(ops[i], rc);
    }
}

/* Thread of create(). */
int
rend_rdb_readers_start(struct rdb *r, char *err, size_t errlen)
{
    static const struct rend_opq_cb cb = { .run = reader_run };

    return rend_opq_start(&r->rq, &cb, r, r->nreaders, READ_TAKE, 0, err,
                          errlen);
}

/* Thread of destroy(): readers drain the queue, then exit. */
void
rend_rdb_readers_stop(struct rdb *r)
{
    rend_opq_stop(&r->rq);
}
