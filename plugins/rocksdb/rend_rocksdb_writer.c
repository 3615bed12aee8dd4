/*
 * rend_rocksdb_writer.c - the single writer thread: group commit of every
 * mutation into one rocksdb WriteBatch.
 *
 * The writer takes up to max_batch queued ops, applies them in order on a
 * batch-local overlay (key -> item state), so two ops on one key in one
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
    struct rend_op **ops;
    int *status;
    unsigned char *mutates;
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
    int mutation = is_mutation(op->code); /* op is not ours after push */
    int rc;

    pending_add(r, op, 1);
    atomic_fetch_add(&r->c.queued, 1);
    pthread_mutex_lock(&r->wmu);
    rc = rend_rdb_queue_push(&r->wq, op);
    if (rc == 0) {
        pthread_cond_signal(&r->wcond);
    }
    pthread_mutex_unlock(&r->wmu);
    if (rc != 0) {
        atomic_fetch_sub(&r->c.queued, 1);
        pending_add(r, op, -1);
        return REND_ENOMEM;
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

/* Store val under a fresh cas: the common tail of set/add/replace/cas. */
static void
ent_store(struct wctx *w, struct ent *e, struct rend_op *op,
          const char *val, size_t nval, char *own, uint32_t flags,
          int64_t exptime)
{
    e->hdr.flags = flags;
    e->hdr.exptime = exptime;
    e->hdr.cas = ++w->r->last_cas;
    e->hdr.mtime = (uint32_t)w->now;
    e->dirty = 1;
    op->out_cas = e->hdr.cas;
    if (REND_EXPIRED(exptime, w->now)) {
        e->present = 0; /* stored already expired: same as gone */
        ent_set_val(e, NULL, 0, NULL);
        free(own);
        return;
    }
    e->present = 1;
    ent_set_val(e, val, nval, own);
}

static int
apply_concat(struct wctx *w, struct ent *e, struct rend_op *op)
{
    size_t n = e->nval + op->nvalue;
    char *buf;

    if (n > w->r->item_size_max) {
        return REND_ETOOBIG;
    }
    buf = malloc(n + 1);
    if (buf == NULL) {
        return REND_ENOMEM;
    }
    if (op->code == REND_OP_APPEND) {
        memcpy(buf, e->val, e->nval);
        memcpy(buf + e->nval, op->value, op->nvalue);
    } else {
        memcpy(buf, op->value, op->nvalue);
        memcpy(buf + op->nvalue, e->val, e->nval);
    }
    ent_store(w, e, op, buf, n, buf, e->hdr.flags, e->hdr.exptime);
    return REND_OK;
}

static int
apply_arith(struct wctx *w, struct ent *e, struct rend_op *op)
{
    uint64_t v;
    char *buf;
    int n;

    if (rend_counter_read(e->val, e->nval, &v) != 0) {
        return REND_NON_NUMERIC;
    }
    if (op->code == REND_OP_INCR) {
        v += op->delta; /* wraps at 2^64 */
    } else {
        v = v > op->delta ? v - op->delta : 0;
    }
    buf = malloc(e->nval > 24 ? e->nval : 24);
    if (buf == NULL) {
        return REND_ENOMEM;
    }
    n = (int)rend_counter_format(v, e->nval, buf); /* memcached's padding */
    ent_store(w, e, op, buf, (size_t)n, buf, e->hdr.flags, e->hdr.exptime);
    op->out_number = v;
    return REND_OK;
}

/* GAT and TOUCH: new expiry, same cas (as memcached). */
static int
apply_touch(struct wctx *w, struct ent *e, struct rend_op *op)
{
    int rc = REND_OK;

    if (op->code == REND_OP_GAT) {
        struct rdb_hdr h = e->hdr;

        h.exptime = op->exptime;
        rc = rend_rdb_fill(w->r, op, &h, e->val, e->nval);
        if (rc != REND_OK) {
            return rc;
        }
    }
    op->out_cas = e->hdr.cas;
    e->hdr.exptime = op->exptime;
    e->dirty = 1;
    if (REND_EXPIRED(op->exptime, w->now)) {
        e->present = 0;
        ent_set_val(e, NULL, 0, NULL);
    }
    return rc;
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

/* Apply one op to the overlay; returns its status and sets *mut when it
 * changed something. */
static int
apply(struct wctx *w, struct rend_op *op, unsigned char *mut)
{
    int code = op->code;
    int load = code != REND_OP_SET;
    struct ent *e;
    int rc, live;

    *mut = 0;
    if (code == REND_OP_FLUSH) {
        apply_flush(w, op);
        *mut = 1;
        return REND_OK;
    }
    rc = ent_get(w, op, load, &e);
    if (rc != REND_OK) {
        return rc;
    }
    live = ent_live(w, e);
    if (live && op->cas != 0 && e->hdr.cas != op->cas
        && (code == REND_OP_APPEND || code == REND_OP_PREPEND
            || code == REND_OP_DELETE || code == REND_OP_INCR
            || code == REND_OP_DECR)) {
        return REND_EXISTS; /* a request cas that no longer matches */
    }
    switch (code) {
    case REND_OP_GET:
        return live ? rend_rdb_fill(w->r, op, &e->hdr, e->val, e->nval)
                    : REND_MISS;
    case REND_OP_GAT:
    case REND_OP_TOUCH:
        if (!live) {
            return code == REND_OP_GAT ? REND_MISS : REND_NOT_FOUND;
        }
        *mut = 1;
        return apply_touch(w, e, op);
    case REND_OP_ADD:
    case REND_OP_REPLACE:
        if (live != (code == REND_OP_REPLACE)) {
            return REND_NOT_STORED;
        }
        break;
    case REND_OP_CAS:
        if (!live) {
            return REND_NOT_FOUND;
        }
        if (e->hdr.cas != op->cas) {
            return REND_EXISTS;
        }
        break;
    case REND_OP_APPEND:
    case REND_OP_PREPEND:
        if (!live) {
            return REND_NOT_STORED;
        }
        *mut = 1;
        return apply_concat(w, e, op);
    case REND_OP_DELETE:
        if (!live) {
            return REND_NOT_FOUND;
        }
        e->present = 0;
        e->dirty = 1;
        ent_set_val(e, NULL, 0, NULL);
        *mut = 1;
        return REND_OK;
    case REND_OP_INCR:
    case REND_OP_DECR:
        if (!live) {
            return REND_NOT_FOUND;
        }
        *mut = 1;
        return apply_arith(w, e, op);
    default:
        break;
    }
    /* SET, and ADD/REPLACE/CAS that passed their check. */
    *mut = 1;
    ent_store(w, e, op, op->value, op->nvalue, NULL, op->flags, op->exptime);
    return REND_OK;
}

static void
put_be64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (char)(v >> (56 - 8 * i));
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
        put_be64(buf, r->last_cas);
        rocksdb_writebatch_put(w->wb, RDB_META_CAS, RDB_META_LEN, buf, 8);
    }
    if (w->flush_changed) {
        put_be64(buf, r->wflush.cas_limit);
        put_be64(buf + 8, (uint64_t)r->wflush.past);
        put_be64(buf + 16, (uint64_t)r->wflush.pending);
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

static uint64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
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
run_batch(struct wctx *w, size_t n)
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
        w->status[i] = apply(w, w->ops[i], &w->mutates[i]);
    }
    batch_to_writebatch(w);
    put_meta(w, cas_before);
    if (rocksdb_writebatch_count(w->wb) > 0) {
        uint64_t t0 = now_us();

        rocksdb_write(r->db, r->wopts, w->wb, &err);
        atomic_fetch_add(&r->c.commit_us, now_us() - t0);
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
        pending_add(r, w->ops[i], -1);
    }
    for (size_t i = 0; i < n; i++) {
        int st = w->status[i];

        if (wrc != REND_OK) {
            st = wrc; /* nothing of this batch is stored */
        }
        r->host->done(w->ops[i], st);
    }
}

static void *
writer_main(void *arg)
{
    struct wctx *w = arg;
    struct rdb *r = w->r;

    for (;;) {
        size_t n;

        pthread_mutex_lock(&r->wmu);
        while (r->wq.n == 0 && !r->wstop) {
            pthread_cond_wait(&r->wcond, &r->wmu);
        }
        n = rend_rdb_queue_pop(&r->wq, w->ops, r->max_batch);
        pthread_mutex_unlock(&r->wmu);
        if (n == 0) {
            break; /* stopping and drained */
        }
        atomic_fetch_sub(&r->c.queued, n);
        run_batch(w, n);
    }
    return NULL;
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
    free(w->ops);
    free(w->status);
    free(w->mutates);
    free(w->ents);
    free(w->slots);
    free(w);
}

/* Thread of create(): allocates the batch context and starts the thread.
 * The context is owned by the writer and freed by rend_rdb_writer_stop. */
int
rend_rdb_writer_start(struct rdb *r, char *err, size_t errlen)
{
    struct wctx *w = calloc(1, sizeof(*w));
    size_t nslots = 16;

    while (nslots < r->max_batch * 2) {
        nslots *= 2;
    }
    if (w != NULL) {
        w->r = r;
        w->ops = calloc(r->max_batch, sizeof(*w->ops));
        w->status = calloc(r->max_batch, sizeof(*w->status));
        w->mutates = calloc(r->max_batch, 1);
        w->ents = calloc(r->max_batch, sizeof(*w->ents));
        w->slots = calloc(nslots, sizeof(*w->slots));
        w->nslots = nslots;
        w->wb = rocksdb_writebatch_create();
    }
    if (w == NULL || !w->ops || !w->status || !w->mutates || !w->ents
        || !w->slots || !w->wb) {
        wctx_free(w);
        snprintf(err, errlen, "out of memory for the writer");
        return REND_ENOMEM;
    }
    r->wctx = w;
    if (pthread_create(&r->writer, NULL, writer_main, w) != 0) {
        wctx_free(w);
        r->wctx = NULL;
        snprintf(err, errlen, "cannot start the writer thread");
        return REND_EINTERNAL;
    }
    r->writer_started = 1;
    return REND_OK;
}

/* Thread of destroy(): lets the writer drain its queue, then joins it. */
void
rend_rdb_writer_stop(struct rdb *r)
{
    if (r->writer_started) {
        pthread_mutex_lock(&r->wmu);
        r->wstop = 1;
        pthread_cond_signal(&r->wcond);
        pthread_mutex_unlock(&r->wmu);
        pthread_join(r->writer, NULL);
        r->writer_started = 0;
    }
    wctx_free(r->wctx);
    r->wctx = NULL;
}
