/*
 * inmem.h - internals of the inmem handler: a lock-striped hash table of
 * slab-allocated items with one recency list per stripe and a global byte
 * budget.
 *
 * Locking.  An item belongs to the stripe chosen by the low bits of its key
 * hash; everything about it (chain, list, fields) is guarded by that
 * stripe's mutex.  The only state shared across stripes is atomic (the byte
 * count, the cas counter, the flush marks, an item's refs) or has its own
 * locks (the slab allocator).
 */
#ifndef REND_INMEM_H
#define REND_INMEM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <rend/handler.h>

#include "inmem_slab.h"

enum inmem_policy {
    INMEM_CLOCK = 0, /* second chance: hits set a bit, eviction clears it */
    INMEM_LRU = 1,   /* strict: every hit moves the item to the front */
};

/*
 * An item: one chunk of the slab allocator (inmem_slab.h) holding this
 * header, the key and the value.  63 bytes of header (before the key):
 * expiry and store time are 32-bit seconds from the instance's epoch, the
 * key length one byte (keys are at most 250 bytes), and the hash is not
 * kept (it is recomputed from the key for the rare unlink or table grow).
 *
 * refs: the table holds one reference while the item is linked; a zero-copy
 * GET hit (host->value_ref, ABI minor 2) holds one more until the core has
 * written the value.  The item is freed when the count drops to 0, so an
 * item unlinked while its value is being written stays readable.  refs is
 * atomic; it is only raised with the stripe lock held, so with the lock
 * held and refs == 1 nobody else can see the item's bytes (in-place incr).
 */
struct inmem_item {
    struct inmem_item *hnext;       /* hash chain */
    struct inmem_item *prev, *next; /* recency list, head = newest */
    uint64_t cas;     /* the cas clients see (a FILL sets it) */
    uint64_t seq;     /* from the cas counter when linked: flush order */
    uint32_t exptime; /* inmem_time_enc form; 0 = never */
    uint32_t stored;  /* when stored, inmem_time_enc form */
    uint32_t flags;
    uint32_t nvalue;
    uint16_t refs;    /* see above */
    uint8_t nkey;
    uint8_t cls;      /* slab class (0: malloc'd) */
    uint8_t ref : 1;  /* INMEM_CLOCK: hit since the hand last passed */
    uint8_t ttl : 1;  /* has had an expiry: counted in ttl_items */
    char data[];      /* key bytes, then value bytes */
};

#define INMEM_REFS_MAX 60000 /* above this a hit copies instead */

#define INMEM_KEY(it) ((it)->data)
#define INMEM_VALUE(it) ((it)->data + (it)->nkey)
#define INMEM_ITEM_SIZE(nkey, nvalue)                                        \
    (offsetof(struct inmem_item, data) + (size_t)(nkey) + (size_t)(nvalue))

/* Per-stripe counters, summed by stats() under their own names. */
#define INMEM_COUNTERS(X)                                                    \
    X(total_items) X(evictions) X(expired_reclaimed) X(flush_reclaimed)      \
    X(cmd_get) X(get_hits) X(get_misses) X(cmd_set)                          \
    X(cmd_touch) X(touch_hits) X(touch_misses)                               \
    X(delete_hits) X(delete_misses) X(incr_hits) X(incr_misses)              \
    X(decr_hits) X(decr_misses) X(cas_hits) X(cas_misses) X(cas_badval)    \
    X(get_expired) X(get_flushed) X(get_lent)

struct inmem_counters {
#define INMEM_COUNTER_FIELD(name) uint64_t name;
    INMEM_COUNTERS(INMEM_COUNTER_FIELD)
#undef INMEM_COUNTER_FIELD
};

struct inmem_stripe {
    pthread_mutex_t mu;
    struct inmem_item **buckets;
    uint64_t mask;                  /* nbuckets - 1 */
    struct inmem_item *head, *tail; /* recency list */
    struct inmem_item *crawl;       /* next item the dead-item sweep checks */
    uint64_t items;
    uint64_t bytes;
    uint64_t ttl_items; /* items that may expire: the sweep runs if > 0 */
    uint8_t dead_seen;  /* the last inmem_find met a dead item: 1 expired,
                         * 2 flushed (for get_expired / get_flushed) */
    struct inmem_counters c;
} __attribute__((aligned(64)));

struct inmem {
    struct inmem *self;     /* == this: see INMEM_OF */
    const struct rend_host *host;
    char name[64];
    uint64_t limit;         /* byte budget */
    uint64_t item_size_max; /* largest value */
    enum inmem_policy policy;
    unsigned nstripes;      /* power of two */
    unsigned hash_power;
    struct inmem_stripe *stripes;

    int64_t epoch;          /* time base of the items' 32-bit times */
    struct inmem_slab slab; /* where items live */

    _Atomic uint64_t bytes;       /* sum of inmem_cost over items */
    _Atomic uint64_t cas;         /* last cas / seq handed out */
    _Atomic uint64_t flush_cas;   /* items with seq <= this are flushed */
    _Atomic int64_t flush_before; /* items stored before this are gone... */
    _Atomic int64_t flush_at;     /* ...once now >= flush_at (0 = none) */
    _Atomic unsigned evict_cursor;
    _Atomic uint64_t cmd_flush;
    pthread_mutex_t flush_mu;
    int lend;               /* the host has value_ref (ABI minor 2) */
    /* 1 for the instance until destroy(), plus 1 per thread context still
     * alive; the last one to go frees everything (inmem_release_user). */
    _Atomic unsigned users;
};

/*
 * A worker thread's context (thread_init).  GET hits on that thread lend
 * item values to the core (host->value_ref) and count them in lent; the
 * core gives each back on the same thread (release), so lent needs no
 * lock.  The context, and the instance, outlive thread_exit and destroy
 * until the last lent value is back.
 */
struct inmem_thread {
    struct inmem *m; /* first, as struct inmem's self: see INMEM_OF */
    uint64_t lent;
    int exited;
};

/* The instance behind an op's tctx: a struct inmem_thread, or the
 * instance itself for a host that calls ops without thread_init. */
#define INMEM_OF(tctx) (*(struct inmem **)(tctx))

/* 32-bit times.  0 stays 0 (never); others are seconds after m->epoch,
 * at least 1 (a time before the epoch, always in the past, becomes
 * epoch + 1) and at most UINT32_MAX (136 years on). */
static inline uint32_t
inmem_time_enc(const struct inmem *m, int64_t t)
{
    int64_t d;

    if (t == 0) {
        return 0;
    }
    d = t - m->epoch;
    return d < 1 ? 1 : d > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static inline int64_t
inmem_time_dec(const struct inmem *m, uint32_t v)
{
    return v == 0 ? 0 : m->epoch + (int64_t)v;
}

/* What an item of nkey + nvalue bytes counts against the limit: its
 * slab chunk. */
static inline uint64_t
inmem_cost(const struct inmem *m, size_t nkey, size_t nvalue)
{
    return inmem_slab_size(&m->slab, INMEM_ITEM_SIZE(nkey, nvalue));
}

/* A new, unlinked item (refs 1) with its key copied in; NULL when out of
 * memory.  inmem_item_free gives back one that was never linked. */
struct inmem_item *inmem_item_new(struct inmem *m, const char *key,
                                  size_t nkey, size_t nvalue);
void inmem_item_free(struct inmem *m, struct inmem_item *it);
/* Drop one reference; the last one frees the item.  Any thread, any
 * lock. */
void inmem_item_put(struct inmem *m, struct inmem_item *it);

/* Key hash (64 bits; low bits pick the stripe). */
uint64_t inmem_hash(const char *key, size_t nkey);

/* Make the table: 0, or -1 when out of memory.  Single-threaded. */
int inmem_table_init(struct inmem *m);
/* Free every item and the table.  Single-threaded. */
void inmem_table_free(struct inmem *m);

static inline struct inmem_stripe *
inmem_stripe_of(struct inmem *m, uint64_t hash)
{
    return &m->stripes[hash & (m->nstripes - 1)];
}

/* The rest runs with the item's stripe locked (s->mu held). */

/* Find the live item for key; a dead one (expired, flushed) met on the way
 * is freed and counted as reclaimed.  NULL when there is none. */
struct inmem_item *inmem_find(struct inmem *m, struct inmem_stripe *s,
                              uint64_t hash, const char *key, size_t nkey,
                              int64_t now);
/* Record a hit for the eviction policy. */
void inmem_touch_lru(struct inmem *m, struct inmem_stripe *s,
                     struct inmem_item *it);
/* Put a new item in, under hash (gets a fresh seq, and that as its
 * cas).  old, when not NULL, is the item it replaces and is freed.
 * Returns the new cas. */
uint64_t inmem_link(struct inmem *m, struct inmem_stripe *s, uint64_t hash,
                    struct inmem_item *it, struct inmem_item *old);
/* Change an item's expiry. */
void inmem_set_exptime(struct inmem *m, struct inmem_stripe *s,
                       struct inmem_item *it, int64_t exptime);
/* Take an item out and drop the table's reference (the _hash form when
 * the caller has the key's hash, which inmem_unlink recomputes). */
void inmem_unlink(struct inmem *m, struct inmem_stripe *s,
                  struct inmem_item *it);
void inmem_unlink_hash(struct inmem *m, struct inmem_stripe *s,
                       struct inmem_item *it, uint64_t hash);
/* True when the item must be treated as absent. */
int inmem_dead(struct inmem *m, const struct inmem_item *it, int64_t now);

/* Bring the byte count back under the limit after a store into s (whose
 * lock is held on entry and released on return).  keep is never evicted. */
void inmem_make_room(struct inmem *m, struct inmem_stripe *s,
                     const struct inmem_item *keep, int64_t now);
/* Free every dead item now (after a flush).  Takes each stripe's lock in
 * turn; no lock may be held on entry. */
void inmem_reclaim_all(struct inmem *m, int64_t now);

#endif /* REND_INMEM_H */
