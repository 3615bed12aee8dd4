/*
 * rend_rocksdb_writer.c - the single writer thread: group commit of every
 * mutation into one rocksdb WriteBatch.
 *
 * The writer (one rend_opq thread, plugins/common) takes up to max_batch
 * queued ops, applies them in order (memcached's semantics: rend_kvop.c)
 * on a batch-local overlay (key -> item state), so two ops on one key in one
 * batch see each other, turns the dirty overlay entries into one
 * WriteBatch (plus the cas counter and the flush marker), writes it, and
 * only then completes the ops.  Being the only mutator, it reads the
 * current value of a read-modify-write op and writes the result without
 * any lock or transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rend_rocksdb.h"

struct ent {
    const char *key; /* an op's key: valid until the batch completes */
    uint32_t nkey;
    int present;     /* an item is stored (it may still be expired) */
    int dirty;
    struct rdb_hdr hdr;
    const char *val;
    size_t nval;
    char *own;       /* owned buffer behind val, or NULL */
};

struct wctx {
    struct rdb *r;
    int *status;
    struct ent *ents;
    size_t nents;
    uint32_t *slots; /* 1-based index into ents, 0 = empty */
    size_t nslots;
    rocksdb_writebatch_t *wb;
    int64_t now;
    int flush_changed;
};

static int
is_mutation(int code)
{
    return code != REND_OP_GET;
}

/* Any worker thread. */
int
rend_rdb_write_pending(struct rdb *r, const char *key, size_t nkey)
{
    if (atomic_load_explicit(&r->pending_flushes, memory_order_acquire)) {
        return 1;
    }
    return atomic_load_explicit(&r->pending_keys[rend_rdb_key_slot(key,
                                                                   nkey)],
                                memory_order_acquire) != 0;
}

static void
pending_add(struct rdb *r, const struct rend_op *op, int d)
{
    if (!is_mutation(op->code)) {
        return;
    }
    if (op->code == REND_OP_FLUSH) {
        atomic_fetch_add(&r->pending_flushes, (uint32_t)d);
    } else {
        atomic_fetch_add(&r->pending_keys[rend_rdb_key_slot(op->key,
                                                            op->nkey)],
                         (uint32_t)d);
    }
}

/* Any worker thread; on REND_PENDING the writer owns completing op. */
int
rend_rdb_writer_enqueue(struct rdb *r, struct rend_op *op)
{
    int mutation = is_mutation(op->code); /* op is not ours after submit */

    pending_add(r, op, 1);
    if (rend_opq_submit(&r->wq, op) != REND_PENDING) {
        pending_add(r, op, -1);
        return REND_ENOMEM; /* the queue is unbounded: only out of memory */
    }
    if (mutation) {
        atomic_fetch_add(&r->c.writes, 1);
    } else {
        atomic_fetch_add(&r->c.gets_writer, 1);
    }
    return REND_PENDING;
}

static uint64_t
key_hash(const char *key, size_t nkey)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < nkey; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void
ent_set_val(struct ent *e, const char *val, size_t nval, char *own)
{
    free(e->own);
    e->own = own;
    e->val = val;
    e->nval = nval;
}

/* Load the stored item of key into a fresh entry. */
static int
ent_load(struct wctx *w, struct ent *e)
{
    struct rdb *r = w->r;
    char kbuf[RDB_KEY_MAX];
    size_t nk = rend_rdb_key(kbuf, e->key, e->nkey);
    char *err = NULL;
    rocksdb_pinnableslice_t *ps;
    const char *v;
    size_t nv;
    char *copy;

    ps = rocksdb_get_pinned(r->db, r->ropts, kbuf, nk, &err);
    if (err != NULL) {
        r->host->log(REND_LOG_ERR, r->name, "get: %s", err);
        rocksdb_free(err);
        return REND_EIO;
    }
    if (ps == NULL) {
        return REND_OK;
    }
    v = rocksdb_pinnableslice_value(ps, &nv);
    if (rend_rdb_hdr_decode(v, nv, &e->hdr) != 0) {
        rocksdb_pinnableslice_destroy(ps);
        return REND_OK; /* not ours: treat as absent, overwritten later */
    }
    copy = malloc(nv - RDB_HDR_LEN + 1);
    if (copy == NULL) {
        rocksdb_pinnableslice_destroy(ps);
        return REND_ENOMEM;
    }
    memcpy(copy, v + RDB_HDR_LEN, nv - RDB_HDR_LEN);
    ent_set_val(e, copy, nv - RDB_HDR_LEN, copy);
    e->present = 1;
    rocksdb_pinnableslice_destroy(ps);
    return REND_OK;
}

/* Find (or create, loading the stored item when load is set) the overlay
 * entry of op's key.  *out is NULL on error (status returned). */
static int
ent_get(struct wctx *w, const struct rend_op *op, int load, struct ent **out)
{
    size_t mask = w->nslots - 1;
    size_t i = key_hash(op->key, op->nkey) & mask;
    struct ent *e;
    int rc;

    *out = NULL;
    for (; w->slots[i] != 0; i = (i + 1) & mask) {
        e = &w->ents[w->slots[i] - 1];
        if (e->nkey == op->nkey && memcmp(e->key, op->key, op->nkey) == 0) {
            *out = e;
            return REND_OK;
        }
    }
    e = &w->ents[w->nents];
    memset(e, 0, sizeof(*e));
    e->key = op->key;
    e->nkey = op->nkey;
    if (load) {
        rc = ent_load(w, e);
        if (rc != REND_OK) {
            free(e->own);
            return rc;
        }
    }
    w->slots[i] = (uint32_t)++w->nents;
    *out = e;
    return REND_OK;
}

static int
ent_live(struct wctx *w, const struct ent *e)
{
    return e->present && rend_rdb_visible(&e->hdr, &w->r->wflush, w->now);
}

/* A STORE: the new value (kept pointing at the op's bytes when it is
 * exactly them, else copied) under a fresh cas. */
static int
ent_store(struct wctx *w, struct ent *e, struct rend_op *op,
          const struct rend_kvop_res *res)
{
    const char *val = op->value;
    char *own = NULL;

    if (!rend_kvop_is_op_value(res, op)) {
        own = malloc(res->nvalue + 1);
        if (own == NULL) {
            return REND_ENOMEM;
        }
        rend_kvop_value(res, own);
        val = own;
    }
    e->hdr.flags = res->flags;
    e->hdr.exptime = res->exptime;
    e->hdr.cas = ++w->r->last_cas;
    e->hdr.mtime = (uint32_t)w->now;
    e->dirty = 1;
    op->out_cas = e->hdr.cas;
    if (REND_EXPIRED(res->exptime, w->now)) {
        e->present = 0; /* stored already expired: same as gone */
        ent_set_val(e, NULL, 0, NULL);
        free(own);
        return REND_OK;
    }
    e->present = 1;
    ent_set_val(e, val, res->nvalue, own);
    return REND_OK;
}

/* TOUCH (and GAT): new expiry, same value and cas. */
static void
ent_touch(struct wctx *w, struct ent *e, int64_t exptime)
{
    e->hdr.exptime = exptime;
    e->dirty = 1;
    if (REND_EXPIRED(exptime, w->now)) {
        e->present = 0;
        ent_set_val(e, NULL, 0, NULL);
    }
}

static void
apply_flush(struct wctx *w, struct rend_op *op)
{
    struct rdb_flush *f = &w->r->wflush;
    int64_t when = op->exptime;

    if (f->pending != 0 && f->pending <= w->now) {
        f->past = f->pending > f->past ? f->pending : f->past;
        f->pending = 0;
    }
    if (when == 0) {
        /* Everything stored so far, this batch included, is gone. */
        f->cas_limit = w->r->last_cas;
        f->pending = 0;
        when = w->now;
    } else if (when <= w->now) {
        /* A time in the past: only what was stored before it. */
        f->past = when > f->past ? when : f->past;
        f->pending = 0;
    } else {
        f->pending = when; /* replaces an earlier delayed flush */
    }
    w->flush_changed = 1;
    rend_rdb_maint_schedule(w->r, when);
}

/* Apply one op to the overlay; returns its status. */
static int
apply(struct wctx *w, struct rend_op *op)
{
    struct rend_kvop_item old;
    struct rend_kvop_res res;
    struct ent *e;
    int rc, live;

    if (op->code == REND_OP_FLUSH) {
        apply_flush(w, op);
        return REND_OK;
    }
    rc = ent_get(w, op, op->code != REND_OP_SET, &e);
    if (rc != REND_OK) {
        return rc;
    }
    live = ent_live(w, e);
    if (live) {
        rend_rdb_kvitem(&e->hdr, e->val, e->nval, &old);
    }
    rc = rend_kvop_apply(w->r->host, op, live ? &old : NULL,
                         w->r->item_size_max, &res);
    switch (res.act) {
    case REND_KVOP_STORE:
        return ent_store(w, e, op, &res);
    case REND_KVOP_TOUCH:
        ent_touch(w, e, res.exptime);
        return rc;
    case REND_KVOP_DELETE:
        e->present = 0;
        e->dirty = 1;
        ent_set_val(e, NULL, 0, NULL);
        return rc;
    default:
        return rc;
    }
}

/* The cas counter and the flush marker ride in the same batch as the
 * items, so they are exactly as durable as the items they describe. */
static void
put_meta(struct wctx *w, uint64_t cas_before)
{
    struct rdb *r = w->r;
    char buf[24];

    if (r->last_cas != cas_before) {
        rend_be_put64(buf, r->last_cas);
        rocksdb_writebatch_put(w->wb, RDB_META_CAS, RDB_META_LEN, buf, 8);
    }
    if (w->flush_changed) {
        rend_be_put64(buf, r->wflush.cas_limit);
        rend_be_put64(buf + 8, (uint64_t)r->wflush.past);
        rend_be_put64(buf + 16, (uint64_t)r->wflush.pending);
        rocksdb_writebatch_put(w->wb, RDB_META_FLUSH, RDB_META_FLUSH_LEN,
                               buf, 24);
    }
}

static void
batch_to_writebatch(struct wctx *w)
{
    char kbuf[RDB_KEY_MAX];
    char hbuf[RDB_HDR_LEN];

    for (size_t i = 0; i < w->nents; i++) {
        struct ent *e = &w->ents[i];
        size_t nk;

        if (!e->dirty) {
            continue;
        }
        nk = rend_rdb_key(kbuf, e->key, e->nkey);
        if (e->present) {
            const char *ks[1] = { kbuf };
            const char *vs[2] = { hbuf, e->val };
            size_t vl[2] = { RDB_HDR_LEN, e->nval };

            rend_rdb_hdr_encode(hbuf, &e->hdr);
            rocksdb_writebatch_putv(w->wb, 1, ks, &nk, 2, vs, vl);
        } else {
            rocksdb_writebatch_delete(w->wb, kbuf, nk);
        }
    }
}

static void
publish_flush(struct rdb *r)
{
    atomic_store_explicit(&r->flush_cas_limit, r->wflush.cas_limit,
                          memory_order_release);
    atomic_store_explicit(&r->flush_past, r->wflush.past,
                          memory_order_release);
    atomic_store_explicit(&r->flush_pending, r->wflush.pending,
                          memory_order_release);
}

static void
run_batch(struct wctx *w, struct rend_op **ops, size_t n)
{
    struct rdb *r = w->r;
    uint64_t cas_before = r->last_cas;
    struct rdb_flush flush_before = r->wflush;
    char *err = NULL;
    int wrc = REND_OK;

    w->now = r->host->now();
    w->nents = 0;
    w->flush_changed = 0;
    memset(w->slots, 0, w->nslots * sizeof(*w->slots));
    for (size_t i = 0; i < n; i++) {
        w->status[i] = apply(w, ops[i]);
    }
    batch_to_writebatch(w);
    put_meta(w, cas_before);
    if (rocksdb_writebatch_count(w->wb) > 0) {
        uint64_t t0 = rend_phist_now();

        rocksdb_write(r->db, r->wopts, w->wb, &err);
        rend_phist_observe(&r->commit_time, rend_phist_ns,
                           rend_phist_now() - t0);
        atomic_fetch_add(&r->c.commits, 1);
        atomic_fetch_add(&r->c.commit_ops, n);
        if (err != NULL) {
            wrc = rend_rdb_err_status(err);
            r->host->log(REND_LOG_ERR, r->name, "write: %s", err);
            rocksdb_free(err);
            atomic_fetch_add(&r->c.write_errors, 1);
            r->wflush = flush_before; /* the marker was not written */
        } else if (w->flush_changed) {
            publish_flush(r);
        }
    }
    rocksdb_writebatch_clear(w->wb);
    for (size_t i = 0; i < w->nents; i++) {
        free(w->ents[i].own);
    }
    for (size_t i = 0; i < n; i++) {
        pending_add(r, ops[i], -1);
    }
    for (size_t i = 0; i < n; i++) {
        int st = w->status[i];

        if (wrc != REND_OK) {
            st = wrc; /* nothing of this batch is stored */
        }
        r->host->done(ops[i], st);
    }
}

/* The opq's run(): one group commit. */
static void
writer_run(void *ud, void *tls, struct rend_op **ops, size_t n)
{
    (void)tls;
    run_batch(ud, ops, n);
}

static void
wctx_free(struct wctx *w)
{
    if (w == NULL) {
        return;
    }
    if (w->wb != NULL) {
        rocksdb_writebatch_destroy(w->wb);
    }
    free(w->status);
    free(w->ents);
    free(w->slots);
    free(w);
}

/* Thread of create(): allocates the batch context and starts the thread.
 * The context is owned by the writer and freed by rend_rdb_writer_stop. */
int
rend_rdb_writer_start(struct rdb *r, char *err, size_t errlen)
{
    static const struct rend_opq_cb cb = { .run = writer_run };
    struct wctx *w = calloc(1, sizeof(*w));
    size_t nslots = 16;
    int rc;

    while (nslots < r->max_batch * 2) {
        nslots *= 2;
    }
    if (w != NULL) {
        w->r = r;
        w->status = calloc(r->max_batch, sizeof(*w->status));
        w->ents = calloc(r->max_batch, sizeof(*w->ents));
        w->slots = calloc(nslots, sizeof(*w->slots));
        w->nslots = nslots;
        w->wb = rocksdb_writebatch_create();
    }
    if (w == NULL || !w->status || !w->ents
        || !w->slots || !w->wb) {
        wctx_free(w);
        snprintf(err, errlen, "out of memory for the writer");
        return REND_ENOMEM;
    }
    r->wctx = w;
    rc = rend_opq_start(&r->wq, &cb, w, 1, r->max_batch, 0, err, errlen);
    if (rc != REND_OK) {
        wctx_free(w);
        r->wctx = NULL;
    }
    return rc;
}

/* Thread of destroy(): lets the writer drain its queue, then joins it. */
void
rend_rdb_writer_stop(struct rdb *r)
{
    rend_opq_stop(&r->wq);
    wctx_free(r->wctx);
    r->wctx = NULL;
}
