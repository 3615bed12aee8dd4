/*
 * inmem_table.c - the striped hash table, recency lists and eviction of
 * the inmem handler.  See inmem.h for the locking rules.
 */
#include <stdlib.h>
#include <string.h>

#include "inmem.h"

#define BUCKET_SHIFT 20 /* bucket index bits start above the stripe bits */
#define CRAWL_STEP 64   /* items the sweep checks for dead ones per eviction */

static inline uint64_t
load64(const char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

uint64_t
inmem_hash(const char *key, size_t nkey)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)nkey * 0x87c37b91114253d5ULL);
    uint64_t tail = 0;

    while (nkey >= 8) {
        h ^= load64(key) * 0x4cf5ad432745937fULL;
        h = (h << 31 | h >> 33) * 0x9e3779b97f4a7c15ULL;
        key += 8;
        nkey -= 8;
    }
    if (nkey > 0) {
        memcpy(&tail, key, nkey);
        h ^= tail * 0x4cf5ad432745937fULL;
        h = (h << 31 | h >> 33) * 0x9e3779b97f4a7c15ULL;
    }
    return mix64(h);
}

static inline uint64_t
bucket_of(const struct inmem_stripe *s, uint64_t hash)
{
    return (hash >> BUCKET_SHIFT) & s->mask;
}

static inline uint64_t
item_hash(const struct inmem_item *it)
{
    return inmem_hash(INMEM_KEY(it), it->nkey);
}

struct inmem_item *
inmem_item_new(struct inmem *m, const char *key, size_t nkey, size_t nvalue)
{
    size_t n = INMEM_ITEM_SIZE(nkey, nvalue);
    unsigned c = inmem_slab_class(&m->slab, n);
    struct inmem_item *it = inmem_slab_alloc(&m->slab, c, n);

    if (it == NULL) {
        return NULL;
    }
    it->cls = (uint8_t)c;
    it->refs = 1;
    it->nkey = (uint8_t)nkey;
    it->nvalue = (uint32_t)nvalue;
    it->ref = 0;
    it->ttl = 0;
    memcpy(INMEM_KEY(it), key, nkey);
    return it;
}

void
inmem_item_free(struct inmem *m, struct inmem_item *it)
{
    inmem_slab_free(&m->slab, it->cls, it);
}

void
inmem_item_put(struct inmem *m, struct inmem_item *it)
{
    if (__atomic_sub_fetch(&it->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        inmem_item_free(m, it);
    }
}

int
inmem_table_init(struct inmem *m)
{
    unsigned stripe_bits = 0;
    uint64_t nb;

    while ((1u << stripe_bits) < m->nstripes) {
        stripe_bits++;
    }
    nb = m->hash_power > stripe_bits + 4
             ? (uint64_t)1 << (m->hash_power - stripe_bits) : 16;
    if (posix_memalign((void **)&m->stripes, 64,
                       m->nstripes * sizeof(*m->stripes)) != 0) {
        m->stripes = NULL;
        return -1;
    }
    memset(m->stripes, 0, m->nstripes * sizeof(*m->stripes));
    inmem_slab_init(&m->slab);
    for (unsigned i = 0; i < m->nstripes; i++) {
        struct inmem_stripe *s = &m->stripes[i];

        pthread_mutex_init(&s->mu, NULL);
        s->buckets = calloc(nb, sizeof(*s->buckets));
        if (s->buckets == NULL) {
            return -1;
        }
        s->mask = nb - 1;
    }
    return 0;
}

void
inmem_table_free(struct inmem *m)
{
    if (m->stripes == NULL) {
        return;
    }
    for (unsigned i = 0; i < m->nstripes; i++) {
        struct inmem_stripe *s = &m->stripes[i];
        struct inmem_item *it = s->head, *next;

        for (; it != NULL; it = next) {
            next = it->next;
            inmem_item_free(m, it);
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(m->stripes);
    m->stripes = NULL;
    inmem_slab_destroy(&m->slab);
}

int
inmem_dead(struct inmem *m, const struct inmem_item *it, int64_t now)
{
    int64_t at;

    int64_t stored = inmem_time_dec(m, it->stored);

    if (it->exptime != 0 && inmem_time_dec(m, it->exptime) <= now) {
        return 1;
    }
    if (it->seq <= atomic_load_explicit(&m->flush_cas, memory_order_relaxed)) {
        return 1;
    }
    if (stored < atomic_load_explicit(&m->flush_before,
                                      memory_order_relaxed)) {
        return 1;
    }
    at = atomic_load_explicit(&m->flush_at, memory_order_relaxed);
    return at != 0 && at <= now && stored < at;
}

static void
list_remove(struct inmem_stripe *s, struct inmem_item *it)
{
    if (s->crawl == it) {
        s->crawl = it->prev;
    }
    if (it->prev != NULL) {
        it->prev->next = it->next;
    } else {
        s->head = it->next;
    }
    if (it->next != NULL) {
        it->next->prev = it->prev;
    } else {
        s->tail = it->prev;
    }
    it->prev = it->next = NULL;
}

static void
list_push_head(struct inmem_stripe *s, struct inmem_item *it)
{
    it->prev = NULL;
    it->next = s->head;
    if (s->head != NULL) {
        s->head->prev = it;
    } else {
        s->tail = it;
    }
    s->head = it;
}

static void
grow(struct inmem_stripe *s)
{
    uint64_t nb = (s->mask + 1) * 2;
    struct inmem_item **nbk = calloc(nb, sizeof(*nbk));
    struct inmem_item *it, *next;

    if (nbk == NULL) {
        return; /* keep the old table; chains just get longer */
    }
    for (uint64_t i = 0; i <= s->mask; i++) {
        for (it = s->buckets[i]; it != NULL; it = next) {
            uint64_t b = (item_hash(it) >> BUCKET_SHIFT) & (nb - 1);

            next = it->hnext;
            it->hnext = nbk[b];
            nbk[b] = it;
        }
    }
    free(s->buckets);
    s->buckets = nbk;
    s->mask = nb - 1;
}

/* Take it out of its chain and list, fix the byte counts, drop the
 * table's reference. */
static void
drop(struct inmem *m, struct inmem_stripe *s, struct inmem_item **pp,
     struct inmem_item *it)
{
    uint64_t size = inmem_cost(m, it->nkey, it->nvalue);

    *pp = it->hnext;
    list_remove(s, it);
    s->ttl_items -= it->ttl;
    s->items--;
    s->bytes -= size;
    atomic_fetch_sub_explicit(&m->bytes, size, memory_order_relaxed);
    inmem_item_put(m, it);
}

static struct inmem_item **
chain_slot(struct inmem_stripe *s, const struct inmem_item *it, uint64_t hash)
{
    struct inmem_item **pp = &s->buckets[bucket_of(s, hash)];

    while (*pp != it) {
        pp = &(*pp)->hnext;
    }
    return pp;
}

void
inmem_unlink(struct inmem *m, struct inmem_stripe *s, struct inmem_item *it)
{
    drop(m, s, chain_slot(s, it, item_hash(it)), it);
}

void
inmem_unlink_hash(struct inmem *m, struct inmem_stripe *s,
                  struct inmem_item *it, uint64_t hash)
{
    drop(m, s, chain_slot(s, it, hash), it);
}

struct inmem_item *
inmem_find(struct inmem *m, struct inmem_stripe *s, uint64_t hash,
           const char *key, size_t nkey, int64_t now)
{
    struct inmem_item **pp = &s->buckets[bucket_of(s, hash)];
    struct inmem_item *it;

    for (; (it = *pp) != NULL; pp = &it->hnext) {
        if (it->nkey != nkey || memcmp(INMEM_KEY(it), key, nkey) != 0) {
            continue;
        }
        if (inmem_dead(m, it, now)) {
            s->dead_seen = it->exptime != 0
                                   && inmem_time_dec(m, it->exptime) <= now
                               ? 1 : 2;
            drop(m, s, pp, it);
            s->c.expired_reclaimed++;
            return NULL;
        }
        return it;
    }
    return NULL;
}

void
inmem_set_exptime(struct inmem *m, struct inmem_stripe *s,
                  struct inmem_item *it, int64_t exptime)
{
    it->exptime = inmem_time_enc(m, exptime);
    if (exptime != 0 && !it->ttl) {
        it->ttl = 1;
        s->ttl_items++;
    }
}

void
inmem_touch_lru(struct inmem *m, struct inmem_stripe *s, struct inmem_item *it)
{
    if (m->policy == INMEM_LRU) {
        if (s->head != it) {
            list_remove(s, it);
            list_push_head(s, it);
        }
    } else {
        it->ref = 1;
    }
}

uint64_t
inmem_link(struct inmem *m, struct inmem_stripe *s, uint64_t hash,
           struct inmem_item *it, struct inmem_item *old)
{
    uint64_t size = inmem_cost(m, it->nkey, it->nvalue);
    uint64_t b;

    if (old != NULL) {
        inmem_unlink_hash(m, s, old, hash); /* same key */
    }
    it->seq = atomic_fetch_add_explicit(&m->cas, 1, memory_order_relaxed) + 1;
    it->cas = it->seq;
    it->ref = 0;
    it->ttl = it->exptime != 0;
    s->ttl_items += it->ttl;
    b = bucket_of(s, hash);
    it->hnext = s->buckets[b];
    s->buckets[b] = it;
    list_push_head(s, it);
    s->items++;
    s->bytes += size;
    s->c.total_items++;
    atomic_fetch_add_explicit(&m->bytes, size, memory_order_relaxed);
    if (s->items > s->mask + 1 + ((s->mask + 1) >> 1)) {
        grow(s);
    }
    return it->cas;
}

/* Sweep up to CRAWL_STEP items, from where the last sweep stopped towards
 * the head (then again from the tail), and free the first dead one. */
static int
reclaim_dead(struct inmem *m, struct inmem_stripe *s,
             const struct inmem_item *keep, int64_t now)
{
    struct inmem_item *it = s->crawl ? s->crawl : s->tail;

    /* Without expiring items or time-based flushes nothing can be dead
     * (a flush "now" frees its items at once). */
    if (s->ttl_items == 0
        && atomic_load_explicit(&m->flush_before, memory_order_relaxed) == 0
        && atomic_load_explicit(&m->flush_at, memory_order_relaxed) == 0) {
        return 0;
    }
    for (int i = 0; it != NULL && i < CRAWL_STEP; i++) {
        struct inmem_item *prev = it->prev;

        if (it != keep && inmem_dead(m, it, now)) {
            s->crawl = prev;
            inmem_unlink(m, s, it);
            s->c.expired_reclaimed++;
            return 1;
        }
        it = prev ? prev : s->tail;
    }
    s->crawl = it;
    return 0;
}

/* Free one item of s to make room: a dead one found by the sweep if any,
 * else the policy's victim.  Returns 1 when something was freed. */
static int
free_one(struct inmem *m, struct inmem_stripe *s,
         const struct inmem_item *keep, int64_t now)
{
    struct inmem_item *it;
    uint64_t budget;

    if (reclaim_dead(m, s, keep, now)) {
        return 1;
    }
    /* Second chance: a referenced tail goes back to the head once; after
     * one full lap every bit is clear, so this ends. */
    budget = s->items + 1;
    while ((it = s->tail) != NULL && budget-- > 0) {
        if (it == keep || it->ref) {
            if (it == keep && s->head == it) {
                return 0; /* keep is all there is */
            }
            it->ref = 0;
            list_remove(s, it);
            list_push_head(s, it);
            continue;
        }
        inmem_unlink(m, s, it);
        s->c.evictions++;
        return 1;
    }
    return 0;
}

static int
over_limit(struct inmem *m)
{
    return atomic_load_explicit(&m->bytes, memory_order_relaxed)
           > __atomic_load_n(&m->limit, __ATOMIC_RELAXED);
}

void
inmem_make_room(struct inmem *m, struct inmem_stripe *s,
                const struct inmem_item *keep, int64_t now)
{
    uint64_t fair =
        __atomic_load_n(&m->limit, __ATOMIC_RELAXED) / m->nstripes;
    unsigned idle = 0;

    /* Our own stripe first while it holds more than its share: no other
     * lock is needed for that. */
    while (over_limit(m) && s->bytes > fair && free_one(m, s, keep, now)) {
    }
    pthread_mutex_unlock(&s->mu);
    /* Then one item at a time from the other stripes, round robin. */
    while (over_limit(m) && idle < m->nstripes) {
        unsigned i = atomic_fetch_add_explicit(&m->evict_cursor, 1,
                                               memory_order_relaxed);
        struct inmem_stripe *o = &m->stripes[i & (m->nstripes - 1)];
        int freed;

        pthread_mutex_lock(&o->mu);
        freed = free_one(m, o, keep, now);
        pthread_mutex_unlock(&o->mu);
        idle = freed ? 0 : idle + 1;
    }
}

void
inmem_reclaim_all(struct inmem *m, int64_t now)
{
    for (unsigned i = 0; i < m->nstripes; i++) {
        struct inmem_stripe *s = &m->stripes[i];
        struct inmem_item *it, *prev;

        pthread_mutex_lock(&s->mu);
        for (it = s->tail; it != NULL; it = prev) {
            prev = it->prev;
            if (inmem_dead(m, it, now)) {
                inmem_unlink(m, s, it);
                s->c.flush_reclaimed++;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
}
