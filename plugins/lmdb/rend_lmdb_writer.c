/*
 * rend_lmdb_writer.c - the single writer thread of an lmdb instance.
 *
 * Worker threads queue every write (and every read-modify-write op) and
 * return REND_PENDING.  The writer (one rend_opq thread, plugins/common)
 * takes everything queued, up to max_batch ops, applies them in order
 * (memcached's semantics: rend_kvop.c) in ONE write txn, commits, and only
 * then calls host->done for each op (group commit).  If the txn fails as a
 * whole (map full, txn full, I/O error), it is aborted and the batch is
 * applied again one txn per op, so only the ops that really do not fit get
 * an error.  Between batches the writer runs the reaper (expired items,
 * at most reap_batch deletions per txn), delayed flushes whose time has come
 * and, with sync = periodic, mdb_env_sync.
 *
 * Flush.  A flush for now (time 0 or now) is a delete-all (mdb_drop) in
 * the writer.  A delayed flush stores its time T in the meta db and in
 * inst->flush_at; from T on, readers treat every item as gone until the
 * writer has dropped them (before it applies any later op) and cleared
 * flush_at, after that commit and before any reply.  Readers load flush_at
 * after reading an item, so an item committed after the drop is never
 * hidden by a stale flush_at.  A flush with a past time T removes only the
 * items stored before T: it sets inst->flushed_before = T (items whose
 * stored time is older are gone for every op) and starts a reaper pass,
 * which deletes them and, once a whole pass is done, clears it again.
 */
#include "rend_lmdb_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

/* Longest the writer sleeps, so delayed flushes are applied promptly. */
#define WAKE_MAX_MS 1000
/* Entries the reaper examines per txn, per allowed deletion. */
#define REAP_SCAN_FACTOR 16

static const char META_CAS[] = "cas";
static const char META_FLUSH[] = "flush_at";
static const char META_BEFORE[] = "flushed_before";

/* Monotonic milliseconds. */
static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- helpers --- */

static int
meta_put(struct rend_lmdb *inst, MDB_txn *txn, const char *name,
         uint64_t v)
{
    char buf[8];
    MDB_val k = { .mv_size = strlen(name), .mv_data = (void *)name };
    MDB_val d = { .mv_size = 8, .mv_data = buf };

    rend_be_put64(buf, v);
    return mdb_put(txn, inst->meta, &k, &d, 0);
}

/* Delete a meta key; absent is fine.  0 or an MDB error. */
static int
meta_del(struct rend_lmdb *inst, MDB_txn *txn, const char *name)
{
    MDB_val k = { .mv_size = strlen(name), .mv_data = (void *)name };
    int rc = mdb_del(txn, inst->meta, &k, NULL);

    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
mdb_to_status(int rc)
{
    switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
        return REND_ENOSPC;
    case ENOMEM:
        return REND_ENOMEM;
    case MDB_BAD_VALSIZE:
        return REND_EINVAL;
    default:
        return REND_EIO;
    }
}

/* Begin a write txn (counted for stats).  0 or an MDB error. */
static int
write_txn(struct rend_lmdb *inst, MDB_txn **txn)
{
    REND_LMDB_ADD(inst, write_txns, 1);
    return mdb_txn_begin(inst->env, NULL, 0, txn);
}

/* Make the scratch buffer hold at least n bytes.  0 or -1. */
static int
scratch_reserve(struct rend_lmdb *inst, size_t n)
{
    if (n <= inst->nscratch) {
        return 0;
    }
    size_t sz = inst->nscratch ? inst->nscratch : 4096;
    while (sz < n) {
        sz *= 2;
    }
    char *p = realloc(inst->scratch, sz);
    if (p == NULL) {
        return -1;
    }
    inst->scratch = p;
    inst->nscratch = sz;
    return 0;
}

/* Per-op context while a batch is applied. */
struct wctx {
    struct rend_lmdb *inst;
    MDB_txn *txn;
    int64_t now;
    int fatal;          /* MDB error that broke the txn, 0 = none */
    int64_t publish;    /* flush_at to publish after commit; -1 = keep */
    int64_t before;     /* flushed_before set in this txn; -1 = none */
};

#define WCTX_INIT(inst_, now_)                                               \
    { .inst = (inst_), .now = (now_), .publish = -1, .before = -1 }

/* Whether a stored item is gone for the writer at w->now. */
static int
dead(struct wctx *w, const struct rend_lmdb_item *it)
{
    if (REND_EXPIRED(it->exptime, w->now)) {
        return 1;
    }
    if (w->before >= 0) {
        return it->stored < w->before;
    }
    return rend_lmdb_flushed(w->inst, it);
}

/* Record a txn-breaking MDB error; returns its status. */
static int
fail(struct wctx *w, int rc)
{
    w->fatal = rc;
    return mdb_to_status(rc);
}

/*
 * Find op's key.  Returns 1 when a live item was found (*it filled; with
 * copy set, its value is copied into inst->scratch and it->data points
 * there), 0 when absent or dead (*exists says whether a dead one is
 * stored), or a negative status (after fail() for MDB errors).
 */
static int
lookup(struct wctx *w, const MDB_val *key, struct rend_lmdb_item *it,
       int copy, int *exists)
{
    MDB_val val;
    int rc = mdb_get(w->txn, w->inst->items, (MDB_val *)key, &val);

    *exists = 0;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return fail(w, rc);
    }
    *exists = 1;
    if (rend_lmdb_item_get(&val, it) != 0 || dead(w, it)) {
        return 0;
    }
    if (copy) {
        if (scratch_reserve(w->inst, it->ndata) != 0) {
            return REND_ENOMEM;
        }
        memcpy(w->inst->scratch, it->data, it->ndata);
        it->data = w->inst->scratch;
    }
    return 1;
}

/* Store key = header + a + b, or delete key when exptime is already
 * expired.  Returns REND_OK or a failure (after fail()). */
/* Store key = header + value, or delete key when exptime is already
 * expired.  The value is res's new one (STORE) or, res NULL, old's data
 * (TOUCH).  Returns REND_OK or a failure (after fail()). */
static int
store(struct wctx *w, const MDB_val *key, int64_t exptime, uint32_t flags,
      uint64_t cas, const struct rend_kvop_res *res,
      const struct rend_kvop_item *old)
{
    size_t n = res != NULL ? res->nvalue : old->ndata;
    MDB_val val = { .mv_size = REND_LMDB_HDR + n, .mv_data = NULL };
    int rc;

    if (REND_EXPIRED(exptime, w->now)) {
        rc = mdb_del(w->txn, w->inst->items, (MDB_val *)key, NULL);
        return rc == 0 || rc == MDB_NOTFOUND ? REND_OK : fail(w, rc);
    }
    rc = mdb_put(w->txn, w->inst->items, (MDB_val *)key, &val, MDB_RESERVE);
    if (rc != 0) {
        return fail(w, rc);
    }
    char *p = val.mv_data;
    rend_lmdb_hdr_put(p, exptime, flags, cas, w->now);
    if (res != NULL) {
        rend_kvop_value(res, p + REND_LMDB_HDR);
    } else if (n > 0) {
        memcpy(p + REND_LMDB_HDR, old->data, n);
    }
    return REND_OK;
}

/* Apply one key op inside w->txn: memcached's semantics (rend_kvop.c) over
 * the item lookup() finds; returns its final status. */
static int
apply_key(struct wctx *w, struct rend_op *op)
{
    MDB_val key = { .mv_size = op->nkey, .mv_data = (void *)op->key };
    struct rend_lmdb_item it;
    struct rend_kvop_item old;
    struct rend_kvop_res res;
    int code = op->code, exists = 0, live = 0, st, rc;

    if (code != REND_OP_SET) {
        /* the new value of these is built from the old one: copy it out
         * of the map before the put moves pages */
        int copy = code == REND_OP_APPEND || code == REND_OP_PREPEND
                   || code == REND_OP_TOUCH || code == REND_OP_GAT;
        live = lookup(w, &key, &it, copy, &exists);
        if (live < 0) {
            return live;
        }
    }
    if (live) {
        old.data = it.data;
        old.ndata = it.ndata;
        old.flags = it.flags;
        old.exptime = it.exptime;
        old.cas = it.cas;
    }
    st = rend_kvop_apply(w->inst->host, op, live ? &old : NULL,
                         w->inst->item_size_max, &res);
    if (st == REND_NOT_FOUND && code == REND_OP_DELETE && exists) {
        res.act = REND_KVOP_DELETE; /* drop the dead item on the way */
    }
    switch (res.act) {
    case REND_KVOP_STORE:
        st = store(w, &key, res.exptime, res.flags, w->inst->cas + 1, &res,
                   NULL);
        if (st == REND_OK) {
            op->out_cas = ++w->inst->cas;
        }
        return st;
    case REND_KVOP_TOUCH:
        return store(w, &key, res.exptime, old.flags, old.cas, NULL, &old);
    case REND_KVOP_DELETE:
        rc = mdb_del(w->txn, w->inst->items, &key, NULL);
        return rc != 0 ? fail(w, rc) : st;
    default:
        return st;
    }
}

static int
do_flush(struct wctx *w, struct rend_op *op)
{
    struct rend_lmdb *inst = w->inst;
    int64_t t = op->exptime;
    int rc;

    if (t > w->now) {
        rc = meta_put(inst, w->txn, META_FLUSH, (uint64_t)t);
        if (rc != 0) {
            return fail(w, rc);
        }
        w->publish = t;
        return REND_OK;
    }
    if (t > 0 && t < w->now) {
        /* Past time: only items stored before t go (a later flush
         * replaces a pending delayed one, as in memcached). */
        int64_t cur = w->before >= 0
            ? w->before : __atomic_load_n(&inst->flushed_before,
                                          __ATOMIC_ACQUIRE);
        int64_t e = cur > t ? cur : t;
        rc = meta_put(inst, w->txn, META_BEFORE, (uint64_t)e);
        if (rc == 0) {
            rc = meta_del(inst, w->txn, META_FLUSH);
        }
        if (rc != 0) {
            return fail(w, rc);
        }
        w->before = e;
        w->publish = 0;
        return REND_OK;
    }
    rc = mdb_drop(w->txn, inst->items, 0);
    if (rc == 0) {
        rc = meta_del(inst, w->txn, META_FLUSH);
    }
    if (rc == 0) {
        rc = meta_del(inst, w->txn, META_BEFORE);
    }
    if (rc != 0) {
        return fail(w, rc);
    }
    REND_LMDB_ADD(inst, flushes, 1);
    w->publish = 0;
    w->before = 0;
    return REND_OK;
}

/* Apply one op inside w->txn; returns its final status. */
static int
apply(struct wctx *w, struct rend_op *op)
{
    return op->code == REND_OP_FLUSH ? do_flush(w, op) : apply_key(w, op);
}

/* Write the cas counter if it moved, then commit.  Returns 0 or the MDB
 * error (the txn is gone either way). */
static int
finish_txn(struct wctx *w, uint64_t cas_before)
{
    uint64_t t0;
    int rc = 0;

    if (w->inst->cas != cas_before) {
        rc = meta_put(w->inst, w->txn, META_CAS, w->inst->cas);
    }
    if (rc != 0) {
        mdb_txn_abort(w->txn);
        return rc;
    }
    t0 = rend_phist_now();
    rc = mdb_txn_commit(w->txn); /* with sync = commit: the fsync too */
    rend_phist_observe(&w->inst->commit_time, rend_phist_ns,
                       rend_phist_now() - t0);
    return rc;
}

/* After a commit: make the txn's flush changes visible. */
static void
published(struct rend_lmdb *inst, struct wctx *w)
{
    if (w->publish >= 0) {
        __atomic_store_n(&inst->flush_at, w->publish, __ATOMIC_RELEASE);
    }
    if (w->before >= 0) {
        __atomic_store_n(&inst->flushed_before, w->before, __ATOMIC_RELEASE);
        if (w->before > 0) {
            /* Start a reaper pass now to delete the flushed items. */
            inst->reap_active = 1;
            inst->nreap_key = 0;
            inst->reap_before = w->before;
        }
    }
}

/* Apply ops one txn each, after the batch txn failed as a whole. */
static void
run_one_by_one(struct rend_lmdb *inst, struct rend_op **ops, size_t n,
               int *st, int64_t now)
{
    REND_LMDB_ADD(inst, fallbacks, 1);
    for (size_t i = 0; i < n; i++) {
        struct wctx w = WCTX_INIT(inst, now);
        uint64_t cas_before = inst->cas;
        int rc = write_txn(inst, &w.txn);

        if (rc != 0) {
            st[i] = mdb_to_status(rc);
            continue;
        }
        st[i] = apply(&w, ops[i]);
        if (w.fatal != 0) {
            mdb_txn_abort(w.txn);
            inst->cas = cas_before;
            continue;
        }
        rc = finish_txn(&w, cas_before);
        if (rc != 0) {
            inst->cas = cas_before;
            st[i] = mdb_to_status(rc);
            continue;
        }
        published(inst, &w);
        REND_LMDB_ADD(inst, commits, 1);
    }
}

/* Apply a due delayed flush in its own txn (before any later op). */
static void
flush_if_due(struct rend_lmdb *inst, int64_t now)
{
    int64_t fa = __atomic_load_n(&inst->flush_at, __ATOMIC_ACQUIRE);
    struct rend_op op;

    if (fa == 0 || fa > now) {
        return;
    }
    struct wctx w = WCTX_INIT(inst, now);
    int rc = write_txn(inst, &w.txn);
    if (rc == 0) {
        memset(&op, 0, sizeof(op));
        op.code = REND_OP_FLUSH;
        if (do_flush(&w, &op) == REND_OK) {
            rc = mdb_txn_commit(w.txn);
        } else {
            rc = w.fatal;
            mdb_txn_abort(w.txn);
        }
    }
    if (rc != 0) {
        inst->host->log(REND_LOG_ERR, inst->name, "delayed flush: %s",
                        mdb_strerror(rc));
        return;
    }
    published(inst, &w);
    inst->dirty = 1;
}

/* Group commit of one batch; completes every op. */
static void
run_batch(struct rend_lmdb *inst, struct rend_op **ops, size_t n, int *st)
{
    int64_t now = inst->host->now();
    uint64_t cas_before = inst->cas;
    struct wctx w = WCTX_INIT(inst, now);
    int rc;

    flush_if_due(inst, now);
    rc = write_txn(inst, &w.txn);
    if (rc != 0) {
        inst->host->log(REND_LOG_ERR, inst->name, "write txn: %s",
                        mdb_strerror(rc));
        for (size_t i = 0; i < n; i++) {
            st[i] = mdb_to_status(rc);
        }
    } else {
        for (size_t i = 0; i < n && w.fatal == 0; i++) {
            st[i] = apply(&w, ops[i]);
        }
        if (w.fatal != 0) {
            mdb_txn_abort(w.txn);
            rc = w.fatal;
        } else {
            rc = finish_txn(&w, cas_before);
        }
        if (rc != 0) {
            inst->cas = cas_before;
            if (rc != MDB_MAP_FULL && rc != MDB_TXN_FULL) {
                inst->host->log(REND_LOG_ERR, inst->name,
                                "write batch of %zu: %s", n, mdb_strerror(rc));
            }
            run_one_by_one(inst, ops, n, st, now);
        } else {
            published(inst, &w);
            REND_LMDB_ADD(inst, commits, 1);
        }
    }
    inst->dirty = 1;
    REND_LMDB_ADD(inst, writes, n);
    for (size_t i = 0; i < n; i++) {
        if (st[i] < 0) {
            REND_LMDB_ADD(inst, write_errors, 1);
            if (st[i] == REND_ENOSPC) {
                REND_LMDB_ADD(inst, enospc, 1);
            }
        }
        inst->host->done(ops[i], st[i]);
    }
}

/* Remember the reaper's resume key.  0 or -1. */
static int
save_reap_key(struct rend_lmdb *inst, const MDB_val *k)
{
    if (k->mv_size > inst->reap_key_cap) {
        char *p = realloc(inst->reap_key, k->mv_size);
        if (p == NULL) {
            return -1;
        }
        inst->reap_key = p;
        inst->reap_key_cap = k->mv_size;
    }
    memcpy(inst->reap_key, k->mv_data, k->mv_size);
    inst->nreap_key = k->mv_size;
    return 0;
}

/* One small reaper txn: examine entries from the resume key on, delete at
 * most reap_batch expired ones, commit, remember where to go on. */
static void
reap_step(struct rend_lmdb *inst)
{
    struct wctx w = WCTX_INIT(inst, inst->host->now());
    int clear_before = 0;
    uint64_t deleted = 0, examined = 0;
    uint64_t scan_max = inst->reap_batch * REAP_SCAN_FACTOR;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    struct rend_lmdb_item it;
    int rc = write_txn(inst, &txn);

    if (rc != 0) {
        goto fail;
    }
    rc = mdb_cursor_open(txn, inst->items, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        goto fail;
    }
    if (inst->nreap_key > 0) {
        k.mv_size = inst->nreap_key;
        k.mv_data = inst->reap_key;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    while (rc == 0 && deleted < inst->reap_batch && examined < scan_max) {
        examined++;
        if (rend_lmdb_item_get(&v, &it) != 0 || dead(&w, &it)) {
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0) {
                break;
            }
            deleted++;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == 0) {
        if (save_reap_key(inst, &k) != 0) {
            inst->reap_active = 0;
        }
    } else if (rc == MDB_NOTFOUND) {
        inst->reap_active = 0;
        REND_LMDB_ADD(inst, reap_passes, 1);
        /* A whole pass since flushed_before was set: nothing stored before
         * it is left. */
        if (inst->reap_before != 0
            && inst->reap_before == __atomic_load_n(&inst->flushed_before,
                                                    __ATOMIC_ACQUIRE)) {
            rc = meta_del(inst, txn, META_BEFORE);
            if (rc != 0) {
                mdb_cursor_close(cur);
                mdb_txn_abort(txn);
                goto fail;
            }
            clear_before = 1;
        }
    } else {
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        goto fail;
    }
    mdb_cursor_close(cur);
    if (deleted == 0 && !clear_before) {
        mdb_txn_abort(txn);
        return;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        goto fail;
    }
    if (clear_before) {
        __atomic_store_n(&inst->flushed_before, 0, __ATOMIC_RELEASE);
    }
    inst->dirty = 1;
    REND_LMDB_ADD(inst, reaped, deleted);
    return;
fail:
    inst->reap_active = 0;
    inst->host->log(REND_LOG_WARN, inst->name, "reaper: %s",
                    mdb_strerror(rc));
}

/* Timed work between batches: reaper, periodic sync, delayed flush. */
static void
background(struct rend_lmdb *inst, uint64_t *next_reap, uint64_t *last_sync)
{
    uint64_t ms = mono_ms();

    if (inst->reap_interval_s > 0 && !inst->reap_active && ms >= *next_reap) {
        inst->reap_active = 1;
        inst->nreap_key = 0;
        inst->reap_before = __atomic_load_n(&inst->flushed_before,
                                            __ATOMIC_ACQUIRE);
        *next_reap = ms + inst->reap_interval_s * 1000;
    }
    if (inst->reap_active) {
        reap_step(inst);
    }
    flush_if_due(inst, inst->host->now());
    if (inst->sync == REND_LMDB_SYNC_PERIODIC && inst->dirty
        && ms >= *last_sync + inst->sync_interval_ms) {
        uint64_t t0 = rend_phist_now();
        int rc = mdb_env_sync(inst->env, 1);

        rend_phist_observe(&inst->sync_time, rend_phist_ns,
                           rend_phist_now() - t0);
        if (rc != 0) {
            inst->host->log(REND_LOG_ERR, inst->name, "sync: %s",
                            mdb_strerror(rc));
        }
        inst->dirty = 0;
        *last_sync = ms;
        REND_LMDB_ADD(inst, syncs, 1);
    }
}

/* How long the idle writer may sleep, in ms. */
static uint64_t
idle_wait_ms(struct rend_lmdb *inst, uint64_t next_reap, uint64_t last_sync)
{
    uint64_t ms = mono_ms(), wait = WAKE_MAX_MS;

    if (inst->reap_active) {
        return 0;
    }
    if (inst->reap_interval_s > 0) {
        wait = next_reap > ms ? (next_reap - ms < wait ? next_reap - ms : wait)
                              : 0;
    }
    if (inst->sync == REND_LMDB_SYNC_PERIODIC && inst->dirty) {
        uint64_t due = last_sync + inst->sync_interval_ms;
        uint64_t w = due > ms ? due - ms : 0;
        wait = w < wait ? w : wait;
    }
    return wait;
}

/* The opq's run(): one group commit, every op completed. */
static void
writer_run(void *ud, void *tls, struct rend_op **ops, size_t n)
{
    struct rend_lmdb *inst = ud;

    (void)tls;
    run_batch(inst, ops, n, inst->wst);
}

/* The opq's tick(): timed work, and how long the writer may sleep. */
static uint64_t
writer_tick(void *ud)
{
    struct rend_lmdb *inst = ud;

    background(inst, &inst->next_reap, &inst->last_sync);
    return idle_wait_ms(inst, inst->next_reap, inst->last_sync);
}

/* Start the writer thread.  Main thread, from create(). */
int
rend_lmdb_writer_start(struct rend_lmdb *inst, char *err, size_t errlen)
{
    static const struct rend_opq_cb cb = {
        .run = writer_run,
        .tick = writer_tick,
    };

    inst->wst = malloc(inst->max_batch * sizeof(*inst->wst));
    if (inst->wst == NULL) {
        snprintf(err, errlen, "out of memory for the writer");
        return REND_ENOMEM;
    }
    inst->next_reap = mono_ms() + inst->reap_interval_s * 1000;
    inst->last_sync = mono_ms();
    return rend_opq_start(&inst->wq, &cb, inst, 1, inst->max_batch,
                          inst->queue_max, err, errlen);
}

/* Stop the writer once the queue is drained (every op gets its done).
 * Main thread, from destroy(). */
void
rend_lmdb_writer_stop(struct rend_lmdb *inst)
{
    rend_opq_stop(&inst->wq);
    free(inst->wst);
    inst->wst = NULL;
}
