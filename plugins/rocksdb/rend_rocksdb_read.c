/*
 * rend_rocksdb_read.c - the read path: inline block-cache-only gets on the
 * worker thread, a reader pool for gets that would touch the disk, and the
 * hand-off to the writer for gets racing a queued write of the same key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rend_rocksdb.h"

/* Any thread. */
int
rend_rdb_fill(struct rdb *r, struct rend_op *op, const struct rdb_hdr *h,
              const char *data, size_t ndata)
{
    op->out_flags = h->flags;
    op->out_exptime = h->exptime;
    op->out_cas = h->cas;
    if (op->opflags & REND_OPF_NO_VALUE) {
        return REND_OK;
    }
    if (r->host->value_alloc(op, ndata) == NULL) {
        return REND_ENOMEM;
    }
    if (ndata > 0) {
        memcpy(op->out_value, data, ndata);
    }
    return REND_OK;
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
        rc = rend_rdb_fill(r, op, &h, v + RDB_HDR_LEN, nv - RDB_HDR_LEN);
    }
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

static int
pool_enqueue(struct rdb *r, struct rend_op *op)
{
    int rc;

    atomic_fetch_add(&r->c.pool_queued, 1);
    pthread_mutex_lock(&r->rmu);
    rc = rend_rdb_queue_push(&r->rq, op);
    if (rc == 0) {
        pthread_cond_signal(&r->rcond);
    }
    pthread_mutex_unlock(&r->rmu);
    if (rc != 0) {
        atomic_fetch_sub(&r->c.pool_queued, 1);
        return REND_ENOMEM;
    }
    return REND_PENDING;
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

static void *
reader_main(void *arg)
{
    struct rdb *r = arg;
    struct rend_op *ops[16];

    for (;;) {
        size_t n;

        pthread_mutex_lock(&r->rmu);
        while (r->rq.n == 0 && !r->rstop) {
            pthread_cond_wait(&r->rcond, &r->rmu);
        }
        /* A few at a time: fair across readers, fewer lock trips. */
        n = rend_rdb_queue_pop(&r->rq, ops, r->rq.n > 4 * r->nreaders ? 4 : 1);
        pthread_mutex_unlock(&r->rmu);
        if (n == 0) {
            break;
        }
        atomic_fetch_sub(&r->c.pool_queued, n);
        for (size_t i = 0; i < n; i++) {
            int incomplete;
            int rc = read_one(r, ops[i], r->ropts, &incomplete);

            atomic_fetch_add(&r->c.gets_pool, 1);
            r->host->done(ops[i], rc);
        }
    }
    return NULL;
}

/* Thread of create(). */
int
rend_rdb_readers_start(struct rdb *r, char *err, size_t errlen)
{
    r->readers = calloc(r->nreaders, sizeof(*r->readers));
    if (r->readers == NULL) {
        snprintf(err, errlen, "out of memory for the reader pool");
        return REND_ENOMEM;
    }
    for (unsigned i = 0; i < r->nreaders; i++) {
        if (pthread_create(&r->readers[i], NULL, reader_main, r) != 0) {
            snprintf(err, errlen, "cannot start reader thread %u", i);
            return REND_EINTERNAL;
        }
        r->readers_started++;
    }
    return REND_OK;
}

/* Thread of destroy(): readers drain the queue, then exit. */
void
rend_rdb_readers_stop(struct rdb *r)
{
    pthread_mutex_lock(&r->rmu);
    r->rstop = 1;
    pthread_cond_broadcast(&r->rcond);
    pthread_mutex_unlock(&r->rmu);
    for (unsigned i = 0; i < r->readers_started; i++) {
        pthread_join(r->readers[i], NULL);
    }
    r->readers_started = 0;
    free(r->readers);
    r->readers = NULL;
}
