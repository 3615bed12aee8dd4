/*
 * inmem_slab.c - size-class chunk allocator for inmem items.  See
 * inmem_slab.h for the layout and the locking rules.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "inmem_slab.h"

/* The head of every page; chunks follow at PAGE_HDR. */
struct inmem_slab_page {
    struct inmem_slab_page *next, *prev; /* class partial list, or pool */
    void *free;                          /* freed chunks (linked in place) */
    uint32_t live;                       /* chunks in use */
    uint32_t carved;                     /* chunks handed out by the bump */
    uint32_t cls;
    uint32_t on_partial;
};

#define PAGE_HDR 64

static inline void
cls_lock(struct inmem_slab_class *k)
{
    for (unsigned spins = 0;; spins++) {
        if (!atomic_load_explicit(&k->lock, memory_order_relaxed)
            && !atomic_exchange_explicit(&k->lock, 1, memory_order_acquire)) {
            return;
        }
        if (spins >= 64) {
            sched_yield(); /* the holder may be off cpu (or in mmap) */
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

static inline void
cls_unlock(struct inmem_slab_class *k)
{
    atomic_store_explicit(&k->lock, 0, memory_order_release);
}

static inline struct inmem_slab_page *
page_of(const void *p)
{
    return (struct inmem_slab_page *)((uintptr_t)p
                                      & ~(uintptr_t)(INMEM_SLAB_PAGE - 1));
}

int
inmem_slab_init(struct inmem_slab *sl)
{
    uint32_t size = INMEM_SLAB_MIN;
    unsigned c = 1;

    memset(sl, 0, sizeof(*sl));
    pthread_mutex_init(&sl->pool_mu, NULL);
    for (;;) {
        struct inmem_slab_class *k = &sl->cls[c];

        if (size > INMEM_SLAB_MAX || c + 1 >= INMEM_SLAB_CLASSES) {
            size = INMEM_SLAB_MAX;
        }
        atomic_init(&k->lock, 0);
        k->size = size;
        k->per_page = (uint32_t)((INMEM_SLAB_PAGE - PAGE_HDR) / size);
        c++;
        if (size == INMEM_SLAB_MAX) {
            break;
        }
        /* 8-byte steps while they are under 1/32; then about 1/32. */
        {
            uint32_t next = (size + size / 32) & ~7u;
            size = next > size + 8 ? next : size + 8;
        }
    }
    sl->nclasses = c;
    /* The lookup table: for every 8-byte step, the first class that fits. */
    c = 1;
    for (size_t i = 0; i <= INMEM_SLAB_MAX / 8; i++) {
        while (sl->cls[c].size < i * 8) {
            c++;
        }
        sl->by8[i] = (uint8_t)c;
    }
    return 0;
}

void
inmem_slab_destroy(struct inmem_slab *sl)
{
    struct inmem_slab_region *r, *next;

    for (r = sl->regions; r != NULL; r = next) {
        next = r->next;
        munmap(r->map, r->maplen);
        free(r);
    }
    sl->regions = NULL;
    pthread_mutex_destroy(&sl->pool_mu);
}

/* Map a new region, aligned to the page size. */
static int
region_new(struct inmem_slab *sl)
{
    size_t len = INMEM_SLAB_REGION + INMEM_SLAB_PAGE;
    struct inmem_slab_region *r = malloc(sizeof(*r));
    char *map, *start;

    if (r == NULL) {
        return -1;
    }
    map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
               -1, 0);
    if (map == MAP_FAILED) {
        free(r);
        return -1;
    }
    start = (char *)(((uintptr_t)map + INMEM_SLAB_PAGE - 1)
                     & ~(uintptr_t)(INMEM_SLAB_PAGE - 1));
    r->map = map;
    r->maplen = len;
    r->next = sl->regions;
    sl->regions = r;
    sl->carve = start;
    sl->carve_end = start + INMEM_SLAB_REGION;
    return 0;
}

/* A page for class c from the pool or a region.  NULL when out of memory. */
static struct inmem_slab_page *
page_get(struct inmem_slab *sl, unsigned c)
{
    struct inmem_slab_page *pg;

    pthread_mutex_lock(&sl->pool_mu);
    pg = sl->free_pages;
    if (pg != NULL) {
        sl->free_pages = pg->next;
        sl->pool_pages--;
    } else {
        if (sl->carve == sl->carve_end && region_new(sl) != 0) {
            pthread_mutex_unlock(&sl->pool_mu);
            return NULL;
        }
        pg = (struct inmem_slab_page *)sl->carve;
        sl->carve += INMEM_SLAB_PAGE;
        sl->total_pages++;
    }
    pthread_mutex_unlock(&sl->pool_mu);
    memset(pg, 0, sizeof(*pg));
    pg->cls = c;
    return pg;
}

static void
page_put(struct inmem_slab *sl, struct inmem_slab_page *pg)
{
    /* The chunks' memory goes back to the kernel; the page stays mapped
     * (and its header resident) for the next class that needs one. */
    madvise((char *)pg + 4096, INMEM_SLAB_PAGE - 4096, MADV_DONTNEED);
    pthread_mutex_lock(&sl->pool_mu);
    pg->next = sl->free_pages;
    sl->free_pages = pg;
    sl->pool_pages++;
    pthread_mutex_unlock(&sl->pool_mu);
}

static void
partial_add(struct inmem_slab_class *k, struct inmem_slab_page *pg)
{
    pg->prev = NULL;
    pg->next = k->partial;
    if (k->partial != NULL) {
        k->partial->prev = pg;
    }
    k->partial = pg;
    pg->on_partial = 1;
}

static void
partial_remove(struct inmem_slab_class *k, struct inmem_slab_page *pg)
{
    if (pg->prev != NULL) {
        pg->prev->next = pg->next;
    } else {
        k->partial = pg->next;
    }
    if (pg->next != NULL) {
        pg->next->prev = pg->prev;
    }
    pg->next = pg->prev = NULL;
    pg->on_partial = 0;
}

void *
inmem_slab_alloc(struct inmem_slab *sl, unsigned c, size_t n)
{
    struct inmem_slab_class *k;
    struct inmem_slab_page *pg;
    void *p;

    if (c == 0) {
        return malloc(n);
    }
    k = &sl->cls[c];
    cls_lock(k);
    pg = k->partial;
    if (pg == NULL) {
        pg = page_get(sl, c);
        if (pg == NULL) {
            cls_unlock(k);
            return NULL;
        }
        k->pages++;
        partial_add(k, pg);
    }
    if (pg->free != NULL) {
        p = pg->free;
        memcpy(&pg->free, p, sizeof(void *));
    } else {
        p = (char *)pg + PAGE_HDR + (size_t)pg->carved * k->size;
        pg->carved++;
    }
    pg->live++;
    k->chunks++;
    if (pg->free == NULL && pg->carved == k->per_page) {
        partial_remove(k, pg); /* full */
    }
    cls_unlock(k);
    return p;
}

void
inmem_slab_free(struct inmem_slab *sl, unsigned c, void *p)
{
    struct inmem_slab_class *k;
    struct inmem_slab_page *pg;
    int give_back = 0;

    if (p == NULL) {
        return;
    }
    if (c == 0) {
        free(p);
        return;
    }
    k = &sl->cls[c];
    pg = page_of(p);
    cls_lock(k);
    memcpy(p, &pg->free, sizeof(void *));
    pg->free = p;
    pg->live--;
    k->chunks--;
    if (!pg->on_partial) {
        partial_add(k, pg);
    }
    /* An empty page goes to the pool unless it is the class's only one
     * with room. */
    if (pg->live == 0 && (k->partial != pg || pg->next != NULL)) {
        partial_remove(k, pg);
        k->pages--;
        give_back = 1;
    }
    cls_unlock(k);
    if (give_back) {
        page_put(sl, pg);
    }
}

void
inmem_slab_pages(struct inmem_slab *sl, uint64_t *used, uint64_t *pool)
{
    uint64_t u = 0;

    for (unsigned c = 1; c < sl->nclasses; c++) {
        cls_lock(&sl->cls[c]);
        u += sl->cls[c].pages;
        cls_unlock(&sl->cls[c]);
    }
    pthread_mutex_lock(&sl->pool_mu);
    *pool = sl->pool_pages;
    pthread_mutex_unlock(&sl->pool_mu);
    *used = u;
}
