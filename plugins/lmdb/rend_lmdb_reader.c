/*
 * rend_lmdb_reader.c - the read path: one lookup in a recycled read txn,
 * run inline on the calling worker thread (readers = 0, the default) or by
 * a small pool of reader threads (readers = N).
 */
#include "rend_lmdb_int.h"

#include <stdio.h>

struct rend_lmdb_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct rend_lmdb_queue q;
    int stopping;
    size_t nthreads;
    pthread_t *threads;
};

/* Ops a reader takes from the queue at once. */
#define POOL_TAKE 64

/* Copy a live item's fields into op.  Returns REND_OK or REND_ENOMEM. */
static int
fill_hit(struct rend_lmdb *inst, struct rend_op *op,
         const struct rend_lmdb_item *it)
{
    op->out_flags = it->flags;
    op->out_exptime = it->exptime;
    op->out_cas = it->cas;
    if (op->opflags & REND_OPF_NO_VALUE) {
        return REND_OK;
    }
    char *buf = inst->host->value_alloc(op, it->ndata);
    if (buf == NULL) {
        return REND_ENOMEM;
    }
    memcpy(buf, it->data, it->ndata);
    return REND_OK;
}

/*
 * Look up op->key.  rtxn is a reset read-only txn owned by the calling
 * thread; it is renewed for this lookup and reset again before returning,
 * so no snapshot is held between ops (freed pages stay reusable).
 */
int
rend_lmdb_read(struct rend_lmdb *inst, MDB_txn *rtxn, struct rend_op *op)
{
    MDB_val key = { .mv_size = op->nkey, .mv_data = (void *)op->key };
    MDB_val val;
    struct rend_lmdb_item it;
    int rc, st;

    REND_LMDB_ADD(inst, gets, 1);
    rc = mdb_txn_renew(rtxn);
    if (rc != 0) {
        inst->host->log(REND_LOG_ERR, inst->name, "read txn renew: %s",
                        mdb_strerror(rc));
        REND_LMDB_ADD(inst, read_errors, 1);
        return REND_EIO;
    }
    rc = mdb_get(rtxn, inst->items, &key, &val);
    if (rc == MDB_NOTFOUND) {
        st = REND_MISS;
    } else if (rc != 0) {
        inst->host->log(REND_LOG_ERR, inst->name, "get: %s",
                        mdb_strerror(rc));
        st = REND_EIO;
    } else if (rend_lmdb_item_get(&val, &it) != 0) {
        inst->host->log(REND_LOG_ERR, inst->name,
                        "get: stored value shorter than the item header");
        st = REND_EIO;
    } else if (!rend_lmdb_live(inst, &it, inst->host->now())) {
        st = REND_MISS;
    } else {
        st = fill_hit(inst, op, &it);
    }
    mdb_txn_reset(rtxn);
    if (st == REND_OK) {
        REND_LMDB_ADD(inst, get_hits, 1);
    } else if (st < 0) {
        REND_LMDB_ADD(inst, read_errors, 1);
    }
    return st;
}

static void *
reader_main(void *arg)
{
    struct rend_lmdb *inst = arg;
    struct rend_lmdb_pool *pool = inst->pool;
    struct rend_op *batch[POOL_TAKE];
    MDB_txn *rtxn = NULL;
    int rc;

    rc = mdb_txn_begin(inst->env, NULL, MDB_RDONLY, &rtxn);
    if (rc == 0) {
        mdb_txn_reset(rtxn);
    } else {
        inst->host->log(REND_LOG_ERR, inst->name, "reader txn: %s",
                        mdb_strerror(rc));
        rtxn = NULL;
    }
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        size_t n = rend_lmdb_queue_take(&pool->q, batch, POOL_TAKE);
        if (n == 0) {
            if (pool->stopping) {
                break;
            }
            pthread_cond_wait(&pool->wake, &pool->lock);
            continue;
        }
        pthread_mutex_unlock(&pool->lock);
        for (size_t i = 0; i < n; i++) {
            int st = rtxn ? rend_lmdb_read(inst, rtxn, batch[i]) : REND_EIO;
            inst->host->done(batch[i], st);
        }
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    if (rtxn != NULL) {
        mdb_txn_abort(rtxn);
    }
    return NULL;
}

/* Start inst->readers threads.  Main thread, from create(); on failure
 * everything started is stopped again and err says why. */
int
rend_lmdb_pool_start(struct rend_lmdb *inst, char *err, size_t errlen)
{
    struct rend_lmdb_pool *pool = calloc(1, sizeof(*pool));

    if (pool == NULL) {
        snprintf(err, errlen, "out of memory");
        return REND_ENOMEM;
    }
    pool->threads = calloc(inst->readers, sizeof(pthread_t));
    if (pool->threads == NULL) {
        free(pool);
        snprintf(err, errlen, "out of memory");
        return REND_ENOMEM;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    inst->pool = pool;
    for (size_t i = 0; i < inst->readers; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, reader_main, inst);
        if (rc != 0) {
            snprintf(err, errlen, "reader thread: %s", strerror(rc));
            rend_lmdb_pool_stop(inst);
            return REND_EINTERNAL;
        }
        pool->nthreads++;
    }
    return 0;
}

/* Stop the readers once every queued get is answered, free the pool.
 * Main thread; NULL pool ok. */
void
rend_lmdb_pool_stop(struct rend_lmdb *inst)
{
    struct rend_lmdb_pool *pool = inst->pool;

    if (pool == NULL) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->nthreads; i++) {
        pthread_join(pool->threads[i], NULL);
    }
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    rend_lmdb_queue_free(&pool->q);
    free(pool->threads);
    free(pool);
    inst->pool = NULL;
}

/* Queue one get for the readers.  Any thread; the op completes through
 * host->done on a reader thread. */
int
rend_lmdb_pool_submit(struct rend_lmdb *inst, struct rend_op *op)
{
    struct rend_lmdb_pool *pool = inst->pool;
    int st = REND_PENDING;

    pthread_mutex_lock(&pool->lock);
    if (pool->q.len >= inst->queue_max) {
        st = REND_EBUSY;
    } else if (rend_lmdb_queue_push(&pool->q, op) != 0) {
        st = REND_ENOMEM;
    } else {
        pthread_cond_signal(&pool->wake);
    }
    pthread_mutex_unlock(&pool->lock);
    if (st == REND_EBUSY) {
        REND_LMDB_ADD(inst, busy, 1);
    }
    return st;
}
