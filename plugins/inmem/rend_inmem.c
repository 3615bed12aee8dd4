/*
 * rend_inmem.c - the inmem handler: a memory-bounded, lock-striped cache
 * that completes every op inline on the calling worker thread.
 *
 * Every op hashes the key, locks one stripe, works, unlocks.  Stores
 * allocate the new item before taking the lock; append, prepend and a
 * length-changing incr/decr allocate under it (they need the old value).
 * When a store pushes the byte count over the limit, inmem_make_room
 * evicts (see inmem_table.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inmem.h"

#define MAX_STRIPES 4096

/* ---- item construction --------------------------------------------- */

/* Refuse what can never fit: a value over item_size_max, or an item
 * bigger than the whole budget. */
static int
too_big(const struct inmem *m, size_t nkey, uint64_t nvalue)
{
    return nvalue > m->item_size_max || nkey > UINT8_MAX
           || inmem_cost(m, nkey, nvalue)
                  > __atomic_load_n(&m->limit, __ATOMIC_RELAXED);
}

/* ---- retrieval ------------------------------------------------------ */

/* Give back a value lent to the core (rend_value_release_f). */
static void inmem_thread_done(struct inmem_thread *t);

static void
inmem_release(void *owner, void *ref)
{
    struct inmem_thread *t = owner;

    inmem_item_put(t->m, ref);
    if (--t->lent == 0 && t->exited) {
        inmem_thread_done(t);
    }
}

static int
op_get_common(void *tctx, struct rend_op *op, int gat)
{
    struct inmem *m = INMEM_OF(tctx);
    uint64_t h = inmem_hash(op->key, op->nkey);
    struct inmem_stripe *s = inmem_stripe_of(m, h);
    int64_t now = m->host->now();
    struct inmem_item *it;
    char *buf;

    pthread_mutex_lock(&s->mu);
    s->c.cmd_get++;
    if (gat) {
        s->c.cmd_touch++;
    }
    s->dead_seen = 0;
    it = inmem_find(m, s, h, op->key, op->nkey, now);
    if (it == NULL) {
        s->c.get_misses++;
        if (s->dead_seen == 1) {
            s->c.get_expired++;
        } else if (s->dead_seen == 2) {
            s->c.get_flushed++;
        }
        if (gat) {
            s->c.touch_misses++;
        }
        pthread_mutex_unlock(&s->mu);
        return REND_MISS;
    }
    if (op->opflags & REND_OPF_NO_VALUE) {
        /* flags and expiry only */
    } else if (m->lend && tctx != (void *)m
               && __atomic_load_n(&it->refs, __ATOMIC_RELAXED)
                      < INMEM_REFS_MAX) {
        /* zero-copy: the core writes the item's bytes and gives the
         * reference back when they are out (inmem_release) */
        struct inmem_thread *t = tctx;

        __atomic_add_fetch(&it->refs, 1, __ATOMIC_RELAXED);
        t->lent++;
        s->c.get_lent++;
        m->host->value_ref(op, INMEM_VALUE(it), it->nvalue, inmem_release,
                           t, it);
    } else {
        buf = m->host->value_alloc(op, it->nvalue);
        if (buf == NULL) {
            pthread_mutex_unlock(&s->mu);
            return REND_ENOMEM;
        }
        memcpy(buf, INMEM_VALUE(it), it->nvalue);
    }
    s->c.get_hits++;
    if (gat) {
        s->c.touch_hits++;
        inmem_set_exptime(m, s, it, op->exptime);
    }
    inmem_touch_lru(m, s, it);
    op->out_flags = it->flags;
    op->out_exptime = inmem_time_dec(m, it->exptime);
    op->out_cas = it->cas;
    pthread_mutex_unlock(&s->mu);
    return REND_OK;
}

static int
op_get(void *tctx, struct rend_op *op)
{
    return op_get_common(tctx, op, 0);
}

static int
op_gat(void *tctx, struct rend_op *op)
{
    return op_get_common(tctx, op, 1);
}

static int
op_touch(void *tctx, struct rend_op *op)
{
    struct inmem *m = INMEM_OF(tctx);
    uint64_t h = inmem_hash(op->key, op->nkey);
    struct inmem_stripe *s = inmem_stripe_of(m, h);
    struct inmem_item *it;

    pthread_mutex_lock(&s->mu);
    s->c.cmd_touch++;
    it = inmem_find(m, s, h, op->key, op->nkey, m->host->now());
    if (it == NULL) {
        s->c.touch_misses++;
        pthread_mutex_unlock(&s->mu);
        return REND_NOT_FOUND;
    }
    s->c.touch_hits++;
    inmem_set_exptime(m, s, it, op->exptime);
    inmem_touch_lru(m, s, it);
    op->out_cas = it->cas;
    pthread_mutex_unlock(&s->mu);
    return REND_OK;
}

/* ---- whole-value stores: set, add, replace, cas, fill --------------- */

static int
op_store(void *tctx, struct rend_op *op)
{
    struct inmem *m = INMEM_OF(tctx);
    uint64_t h = inmem_hash(op->key, op->nkey);
    struct inmem_stripe *s = inmem_stripe_of(m, h);
    int64_t now = m->host->now();
    struct inmem_item *it, *old;
    int st = REND_OK;

    if (too_big(m, op->nkey, op->nvalue)) {
        return REND_ETOOBIG;
    }
    it = inmem_item_new(m, op->key, op->nkey, op->nvalue);
    if (it == NULL) {
        return REND_ENOMEM;
    }
    memcpy(INMEM_VALUE(it), op->value, op->nvalue);
    it->flags = op->flags;
    it->exptime = inmem_time_enc(m, op->exptime);
    it->stored = inmem_time_enc(m, now);

    pthread_mutex_lock(&s->mu);
    s->c.cmd_set++;
    old = inmem_find(m, s, h, op->key, op->nkey, now);
    switch (op->code) {
    case REND_OP_ADD:
        st = old != NULL ? REND_NOT_STORED : REND_OK;
        break;
    case REND_OP_REPLACE:
        st = old == NULL ? REND_NOT_STORED : REND_OK;
        break;
    case REND_OP_CAS:
        if (old == NULL) {
            s->c.cas_misses++;
            st = REND_NOT_FOUND;
        } else if (old->cas != op->cas) {
            s->c.cas_badval++;
            st = REND_EXISTS;
        } else {
            s->c.cas_hits++;
        }
        break;
    case REND_OP_FILL:
        if (old == NULL && (op->opflags & REND_OPF_IF_PRESENT)) {
            st = REND_NOT_STORED;
        }
        break;
    default:
        break;
    }
    if (st != REND_OK) {
        pthread_mutex_unlock(&s->mu);
        inmem_item_free(m, it);
        return st;
    }
    op->out_cas = inmem_link(m, s, h, it, old);
    if (op->code == REND_OP_FILL && op->cas != 0) {
        /* the source of truth's cas; seq still orders flushes */
        it->cas = op->cas;
        op->out_cas = op->cas;
    }
    inmem_make_room(m, s, it, now); /* unlocks s */
    return REND_OK;
}

/* ---- stores built from the old item: append, prepend, incr, decr ---- */

/* Replace old by a copy with a new value, keeping flags and expiry.  With
 * s locked; on success the lock is handed to inmem_make_room. */
static int
rebuild(struct inmem *m, struct inmem_stripe *s, uint64_t hash,
        struct inmem_item *old, const char *head, size_t nhead,
        const char *tail, size_t ntail, int64_t now, uint64_t *cas)
{
    struct inmem_item *it;

    it = inmem_item_new(m, INMEM_KEY(old), old->nkey, nhead + ntail);
    if (it == NULL) {
        return REND_ENOMEM;
    }
    memcpy(INMEM_VALUE(it), head, nhead);
    memcpy(INMEM_VALUE(it) + nhead, tail, ntail);
    it->flags = old->flags;
    it->exptime = old->exptime;
    it->stored = inmem_time_enc(m, now);
    *cas = inmem_link(m, s, hash, it, old);
    inmem_make_room(m, s, it, now);
    return REND_OK;
}

static int
op_concat(void *tctx, struct rend_op *op)
{
    struct inmem *m = INMEM_OF(tctx);
    uint64_t h = inmem_hash(op->key, op->nkey);
    struct inmem_stripe *s = inmem_stripe_of(m, h);
    int64_t now = m->host->now();
    struct inmem_item *old;
    int st;

    pthread_mutex_lock(&s->mu);
    s->c.cmd_set++;
    old = inmem_find(m, s, h, op->key, op->nkey, now);
    if (old == NULL) {
        pthread_mutex_unlock(&s->mu);
        return REND_NOT_STORED;
    }
    if (op->cas != 0 && op->cas != old->cas) {
        pthread_mutex_unlock(&s->mu);
        return REND_EXISTS;
    }
    if (too_big(m, op->nkey, (uint64_t)old->nvalue + op->nvalue)) {
        pthread_mutex_unlock(&s->mu);
        return REND_ETOOBIG;
    }
    if (op->code == REND_OP_APPEND) {
        st = rebuild(m, s, h, old, INMEM_VALUE(old), old->nvalue, op->value,
                     op->nvalue, now, &op->out_cas);
    } else {
        st = rebuild(m, s, h, old, op->value, op->nvalue, INMEM_VALUE(old),
                     old->nvalue, now, &op->out_cas);
    }
    if (st != REND_OK) {
        pthread_mutex_unlock(&s->mu);
    }
    return st;
}

static int
op_arith(void *tctx, struct rend_op *op)
{
    struct inmem *m = INMEM_OF(tctx);
    uint64_t h = inmem_hash(op->key, op->nkey);
    struct inmem_stripe *s = inmem_stripe_of(m, h);
    int64_t now = m->host->now();
    int incr = op->code == REND_OP_INCR;
    struct inmem_item *it;
    char num[24], *text = num;
    uint64_t v;
    int len, st, fits;

    pthread_mutex_lock(&s->mu);
    it = inmem_find(m, s, h, op->key, op->nkey, now);
    if (it == NULL) {
        if (incr) {
            s->c.incr_misses++;
        } else {
            s->c.decr_misses++;
        }
        pthread_mutex_unlock(&s->mu);
        return REND_NOT_FOUND;
    }
    if (op->cas != 0 && op->cas != it->cas) {
        pthread_mutex_unlock(&s->mu);
        return REND_EXISTS;
    }
    if (rend_counter_read(INMEM_VALUE(it), it->nvalue, &v) != 0) {
        pthread_mutex_unlock(&s->mu);
        return REND_NON_NUMERIC;
    }
    if (incr) {
        s->c.incr_hits++;
        v += op->delta; /* wraps at 2^64 */
    } else {
        s->c.decr_hits++;
        v = op->delta > v ? 0 : v - op->delta;
    }
    op->out_number = v;
    fits = it->nvalue >= 20
           || snprintf(num, sizeof(num), "%" PRIu64, v) <= (int)it->nvalue;
    if (fits && __atomic_load_n(&it->refs, __ATOMIC_ACQUIRE) == 1) {
        /* It fits (and no zero-copy write is reading it): rewrite in
         * place, padded with spaces as memcached does, under a new cas. */
        rend_counter_format(v, it->nvalue, INMEM_VALUE(it));
        it->seq = atomic_fetch_add_explicit(&m->cas, 1,
                                            memory_order_relaxed) + 1;
        it->cas = it->seq;
        it->stored = inmem_time_enc(m, now);
        inmem_touch_lru(m, s, it);
        op->out_cas = it->cas;
        pthread_mutex_unlock(&s->mu);
        return REND_OK;
    }
    /* A new item: longer than the old value, or the old one is being
     * written out (same padded length then). */
    if (fits && it->nvalue > sizeof(num)) {
        text = malloc(it->nvalue);
        if (text == NULL) {
            pthread_mutex_unlock(&s->mu);
            return REND_ENOMEM;
        }
    }
    len = (int)rend_counter_format(v, fits ? it->nvalue : 0, text);
    st = rebuild(m, s, h, it, text, (size_t)len, "", 0, now, &op->out_cas);
    if (text != num) {
        free(text);
    }
    if (st != REND_OK) {
        pthread_mutex_unlock(&s->mu);
    }
    return st;
}

static int
op_delete(void *tctx, struct rend_op *op)
{
    struct inmem *m = INMEM_OF(tctx);
    uint64_t h = inmem_hash(op->key, op->nkey);
    struct inmem_stripe *s = inmem_stripe_of(m, h);
    struct inmem_item *it;

    pthread_mutex_lock(&s->mu);
    it = inmem_find(m, s, h, op->key, op->nkey, m->host->now());
    if (it == NULL) {
        s->c.delete_misses++;
        pthread_mutex_unlock(&s->mu);
        return REND_NOT_FOUND;
    }
    if (op->cas != 0 && op->cas != it->cas) {
        pthread_mutex_unlock(&s->mu);
        return REND_EXISTS;
    }
    s->c.delete_hits++;
    inmem_unlink_hash(m, s, it, h);
    pthread_mutex_unlock(&s->mu);
    return REND_OK;
}

/*
 * Flush.  exptime <= 0: everything stored so far is gone now (by cas, so
 * a store later in the same second survives), and its memory is freed at
 * once.  A past time T: items stored before T are gone.  A future time T:
 * items stored before T are gone from T on (one pending flush at a time;
 * a newer one replaces it, as in memcached).
 */
static int
op_flush(void *tctx, struct rend_op *op)
{
    struct inmem *m = INMEM_OF(tctx);
    int64_t now = m->host->now();
    int64_t at;

    atomic_fetch_add(&m->cmd_flush, 1);
    pthread_mutex_lock(&m->flush_mu);
    at = atomic_load(&m->flush_at);
    if (at != 0 && at <= now) {
        /* The pending flush has taken effect: fold it in. */
        if (at > atomic_load(&m->flush_before)) {
            atomic_store(&m->flush_before, at);
        }
        atomic_store(&m->flush_at, 0);
    }
    if (op->exptime <= 0) {
        atomic_store(&m->flush_cas, atomic_load(&m->cas));
    } else if (op->exptime <= now) {
        if (op->exptime > atomic_load(&m->flush_before)) {
            atomic_store(&m->flush_before, op->exptime);
        }
    } else {
        atomic_store(&m->flush_at, op->exptime);
    }
    pthread_mutex_unlock(&m->flush_mu);
    if (op->exptime <= now) {
        inmem_reclaim_all(m, now);
    }
    return REND_OK;
}

/* ---- instance ------------------------------------------------------- */

static int
parse_opts(struct inmem *m, const struct rend_kv *opts, size_t n, char *err,
           size_t errlen)
{
    uint64_t mb, isz, hp, ns;
    const char *pol;

    if (rend_opt_u64(opts, n, "memory_mb", 64, 1u << 20, &mb) != 0 || mb == 0) {
        snprintf(err, errlen, "memory_mb must be 1..1048576");
        return -1;
    }
    if (rend_opt_u64(opts, n, "item_size_max", 1u << 20, 1u << 30, &isz) != 0
        || isz == 0) {
        snprintf(err, errlen, "item_size_max must be 1..1073741824 bytes");
        return -1;
    }
    if (rend_opt_u64(opts, n, "hash_power", 16, 32, &hp) != 0 || hp < 4) {
        snprintf(err, errlen, "hash_power must be 4..32");
        return -1;
    }
    if (rend_opt_u64(opts, n, "stripes", 64, MAX_STRIPES, &ns) != 0
        || ns == 0 || (ns & (ns - 1)) != 0) {
        snprintf(err, errlen, "stripes must be a power of two, 1..%d",
                 MAX_STRIPES);
        return -1;
    }
    pol = rend_opt_str(opts, n, "eviction", "clock");
    if (strcmp(pol, "clock") == 0) {
        m->policy = INMEM_CLOCK;
    } else if (strcmp(pol, "lru") == 0) {
        m->policy = INMEM_LRU;
    } else {
        snprintf(err, errlen, "eviction must be clock or lru, not '%s'", pol);
        return -1;
    }
    m->limit = mb << 20;
    m->item_size_max = isz;
    m->hash_power = (unsigned)hp;
    m->nstripes = (unsigned)ns;
    return 0;
}

static void
inmem_free(struct inmem *m)
{
    inmem_table_free(m);
    pthread_mutex_destroy(&m->flush_mu);
    free(m);
}

/* One user of m (the instance, or a thread context) is gone. */
static void
inmem_release_user(struct inmem *m)
{
    if (atomic_fetch_sub(&m->users, 1) == 1) {
        inmem_free(m);
    }
}

static void
inmem_thread_done(struct inmem_thread *t)
{
    struct inmem *m = t->m;

    free(t);
    inmem_release_user(m);
}

static void
inmem_destroy(void *inst)
{
    struct inmem *m = inst;

    if (m == NULL) {
        return;
    }
    /* values still lent keep the items (and so m) until they are back */
    inmem_release_user(m);
}

static int
inmem_create(const struct rend_host *host, const char *instance,
             const struct rend_kv *opts, size_t nopts, void **inst, char *err,
             size_t errlen)
{
    static const char *const known[] = { "memory_mb", "item_size_max",
                                         "hash_power", "stripes", "eviction",
                                         NULL };
    struct inmem *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return REND_ENOMEM;
    }
    pthread_mutex_init(&m->flush_mu, NULL);
    m->self = m;
    atomic_init(&m->users, 1);
    m->host = host;
    m->lend = REND_HOST_HAS_VALUE_REF(host);
    /* Item times are 32-bit seconds from here: 2^24 s (194 days) before
     * now, so recent past times keep their value. */
    m->epoch = host->now() - ((int64_t)1 << 24);
    snprintf(m->name, sizeof(m->name), "%s", instance ? instance : "inmem");
    if (parse_opts(m, opts, nopts, err, errlen) != 0) {
        inmem_destroy(m);
        return REND_EINVAL;
    }
    if (rend_opt_check_known(opts, nopts, known, err, errlen) != 0) {
        inmem_destroy(m);
        return REND_EINVAL;
    }
    if (inmem_table_init(m) != 0) {
        inmem_destroy(m);
        snprintf(err, errlen, "out of memory for the hash table");
        return REND_ENOMEM;
    }
    *inst = m;
    return REND_OK;
}

static int
inmem_thread_init(void *inst, const struct rend_thread *thr, void **tctx)
{
    struct inmem *m = inst;
    struct inmem_thread *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return REND_ENOMEM;
    }
    /* every thread shares the striped table; the context only counts the
     * values it lent */
    t->m = m;
    atomic_fetch_add(&m->users, 1);
    *tctx = t;
    return REND_OK;
}

static void
inmem_thread_exit(void *inst, void *tctx)
{
    struct inmem_thread *t = tctx;

    t->exited = 1;
    if (t->lent == 0) {
        inmem_thread_done(t);
    }
}

static void
inmem_stats(void *inst, rend_stat_emit_f *emit, void *ud)
{
    struct inmem *m = inst;
    struct inmem_counters t = { 0 };
    uint64_t items = 0, bytes = 0, buckets = 0;

    for (unsigned i = 0; i < m->nstripes; i++) {
        struct inmem_stripe *s = &m->stripes[i];

        pthread_mutex_lock(&s->mu);
#define SUM(name) t.name += s->c.name;
        INMEM_COUNTERS(SUM)
#undef SUM
        items += s->items;
        bytes += s->bytes;
        buckets += s->mask + 1;
        pthread_mutex_unlock(&s->mu);
    }
#define EMIT(name, v) rend_stat_u64(emit, ud, name, v)
    EMIT("items", items);
    EMIT("bytes", bytes);
    EMIT("limit_bytes", __atomic_load_n(&m->limit, __ATOMIC_RELAXED));
    EMIT("item_size_max", m->item_size_max);
#define EMIT_COUNTER(name) EMIT(#name, t.name);
    INMEM_COUNTERS(EMIT_COUNTER)
#undef EMIT_COUNTER
    EMIT("cmd_flush", atomic_load(&m->cmd_flush));
    EMIT("hash_buckets", buckets);
    {
        uint64_t used, pool;

        inmem_slab_pages(&m->slab, &used, &pool);
        EMIT("slab_pages", used);
        EMIT("slab_pool_pages", pool);
        EMIT("slab_page_size", INMEM_SLAB_PAGE);
    }
    EMIT("stripes", m->nstripes);
#undef EMIT
    emit(ud, "eviction", m->policy == INMEM_LRU ? "lru" : "clock");
}

static int
inmem_walk(void *inst, rend_walk_f *fn, void *ud)
{
    struct inmem *m = inst;
    int64_t now = m->host->now();
    int rc = 0;

    for (unsigned i = 0; i < m->nstripes && rc == 0; i++) {
        struct inmem_stripe *s = &m->stripes[i];
        struct inmem_item *it;

        pthread_mutex_lock(&s->mu);
        for (it = s->head; it != NULL && rc == 0; it = it->next) {
            if (!inmem_dead(m, it, now)) {
                rc = fn(ud, INMEM_KEY(it), it->nkey, INMEM_VALUE(it),
                        it->nvalue, it->flags,
                        inmem_time_dec(m, it->exptime), it->cas);
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* cache_memlimit: the new budget applies from the next store, which
 * evicts down to it (inmem_make_room). */
REND_EXPORT rend_memlimit_f rend_memlimit_v1;

REND_EXPORT int
rend_memlimit_v1(void *inst, uint64_t bytes)
{
    struct inmem *m = inst;

    if (bytes == 0) {
        return REND_EINVAL;
    }
    __atomic_store_n(&m->limit, bytes, __ATOMIC_RELAXED);
    return REND_OK;
}

REND_EXPORT const struct rend_handler rend_handler_v1 = {
    REND_HANDLER_INIT,
    .caps = REND_CAP_CAS,
    .name = "inmem",
    .version = "1.0",
    .create = inmem_create,
    .destroy = inmem_destroy,
    .thread_init = inmem_thread_init,
    .thread_exit = inmem_thread_exit,
    .ops = {
        [REND_OP_GET] = op_get,
        [REND_OP_GAT] = op_gat,
        [REND_OP_TOUCH] = op_touch,
        [REND_OP_SET] = op_store,
        [REND_OP_ADD] = op_store,
        [REND_OP_REPLACE] = op_store,
        [REND_OP_APPEND] = op_concat,
        [REND_OP_PREPEND] = op_concat,
        [REND_OP_CAS] = op_store,
        [REND_OP_DELETE] = op_delete,
        [REND_OP_INCR] = op_arith,
        [REND_OP_DECR] = op_arith,
        [REND_OP_FLUSH] = op_flush,
        [REND_OP_FILL] = op_store,
    },
    .stats = inmem_stats,
    .walk = inmem_walk,
};
