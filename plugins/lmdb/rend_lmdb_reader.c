/*
 * rend_lmdb_reader.c - the read path: one lookup in a recycled read txn,
 * run inline on the calling worker thread (readers = 0, the default) or by
 * a small pool of reader threads (readers = N).
 */
#include "rend_lmdb_int.h"

#include <stdio.h>

/* Ops a reader takes from the queue at once. */
#define POOL_TAKE 64

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
        struct rend_kvop_item hit = {
            .data = it.data, .ndata = it.ndata, .flags = it.flags,
            .exptime = it.exptime, .cas = it.cas,
        };
        st = rend_kvop_fill(inst->host, op, &hit);
    }
    mdb_txn_reset(rtxn);
    if (st == REND_OK) {
        REND_LMDB_ADD(inst, get_hits, 1);
    } else if (st < 0) {
        REND_LMDB_ADD(inst, read_errors, 1);
    }
    return st;
}

/* The pool's thread_init(): each reader's reset read txn (NULL when it
 * cannot be had: that reader then answers REND_EIO). */
static void *
reader_init(void *ud)
{
    struct rend_lmdb *inst = ud;
    MDB_txn *rtxn = NULL;
    int rc = mdb_txn_begin(inst->env, NULL, MDB_RDONLY, &rtxn);

    if (rc != 0) {
        inst->host->log(REND_LOG_ERR, inst->name, "reader txn: %s",
                        mdb_strerror(rc));
        return NULL;
    }
    mdb_txn_reset(rtxn);
    return rtxn;
}

static void
reader_exit(void *ud, void *tls)
{
    (void)ud;
    if (tls != NULL) {
        mdb_txn_abort(tls);
    }
}

static void
reader_run(void *ud, void *tls, struct rend_op **ops, size_t n)
{
    struct rend_lmdb *inst = ud;

    for (size_t i = 0; i < n; i++) {
        int st = tls != NULL ? rend_lmdb_read(inst, tls, ops[i]) : REND_EIO;
        inst->host->done(ops[i], st);
    }
}

/* Start inst->readers threads.  Main thread, from create(); on failure
 * everything started is stopped again and err says why. */
int
rend_lmdb_pool_start(struct rend_lmdb *inst, char *err, size_t errlen)
{
    static const struct rend_opq_cb cb = {
        .thread_init = reader_init,
        .thread_exit = reader_exit,
        .run = reader_run,
    };
    int rc = rend_opq_start(&inst->rq, &cb, inst, (unsigned)inst->readers,
                            POOL_TAKE, inst->queue_max, err, errlen);

    inst->pool_on = rc == REND_OK;
    return rc;
}

/* Stop the readers once every queued get is answered.  Main thread; fine
 * when the pool never started. */
void
rend_lmdb_pool_stop(struct rend_lmdb *inst)
{
    rend_opq_stop(&inst->rq);
    inst->pool_on = 0;
}
