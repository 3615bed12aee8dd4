/*
 * inmem_slab.h - the inmem handler's item allocator: size classes carved
 * out of 64 KiB pages, with no per-item header and no per-item malloc.
 *
 * Classes.  Chunk sizes grow from INMEM_SLAB_MIN in 8-byte steps, then by
 * about 1/32 each (rounded down to 8), up to INMEM_SLAB_MAX (178 classes,
 * so a chunk wastes at most about 3% of itself); an item
 * bigger than that is a plain malloc (class 0).  inmem_slab_class() picks
 * the smallest class that holds n bytes.
 *
 * Pages.  A page is INMEM_SLAB_PAGE bytes, aligned to its size, so a chunk
 * finds its page (and the page its class) by masking the address.  Pages
 * come from mmap'd regions of INMEM_SLAB_REGION bytes that are only touched
 * (so only count in RSS) as chunks are carved.  A page whose chunks are all
 * free goes back to a shared pool (its memory given back to the kernel with
 * MADV_DONTNEED) and can serve any class, so a change of item sizes does
 * not strand memory in old classes; a class keeps one empty page to avoid
 * trading pages back and forth.
 *
 * Accounting.  What a store counts against the handler's memory limit is
 * inmem_slab_size(): the whole chunk (or the malloc'd size), not just the
 * item's bytes.  Pages partly in use are the allocator's slack; stats show
 * them as slab_pages.
 *
 * Threads.  Each class has its own spin lock (held only to pop or push a
 * chunk; a mutex would cost more than the work) and the page pool a mutex;
 * alloc and free may be called from any thread, with or without a stripe
 * lock held (lock order: stripe, class, pool).
 */
#ifndef REND_INMEM_SLAB_H
#define REND_INMEM_SLAB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define INMEM_SLAB_PAGE ((size_t)64 << 10)
#define INMEM_SLAB_REGION ((size_t)4 << 20)
#define INMEM_SLAB_MIN 64
#define INMEM_SLAB_MAX (16u << 10)
#define INMEM_SLAB_CLASSES 200 /* room (178 used); class 0 = malloc */

struct inmem_slab_page;

struct inmem_slab_class {
    _Atomic int lock;  /* spin lock: held for a few dozen instructions */
    uint32_t size;     /* chunk bytes */
    uint32_t per_page; /* chunks in one page */
    struct inmem_slab_page *partial; /* pages with a free or uncarved chunk */
    uint64_t pages;    /* pages held */
    uint64_t chunks;   /* chunks in use */
} __attribute__((aligned(64)));

struct inmem_slab_region {
    struct inmem_slab_region *next;
    void *map;       /* as mmap returned it */
    size_t maplen;
};

struct inmem_slab {
    struct inmem_slab_class cls[INMEM_SLAB_CLASSES];
    unsigned nclasses; /* classes 1..nclasses-1 are in use */
    uint8_t by8[INMEM_SLAB_MAX / 8 + 1]; /* (n + 7) / 8 -> class */
    pthread_mutex_t pool_mu;
    struct inmem_slab_page *free_pages; /* pool: pages of no class */
    char *carve, *carve_end;            /* the next pages of the region */
    struct inmem_slab_region *regions;
    uint64_t pool_pages;                /* pages in free_pages */
    uint64_t total_pages;               /* pages ever carved from regions */
};

/* Set up the classes.  0, or -1 (nothing to free). */
int inmem_slab_init(struct inmem_slab *sl);
/* Give every region back.  Nothing may be in use any more. */
void inmem_slab_destroy(struct inmem_slab *sl);

/* The class for an n-byte item (0: malloc). */
static inline unsigned
inmem_slab_class(const struct inmem_slab *sl, size_t n)
{
    return n <= INMEM_SLAB_MAX ? sl->by8[(n + 7) / 8] : 0;
}

/* The bytes an n-byte item costs: its chunk, or n when malloc'd. */
static inline size_t
inmem_slab_size(const struct inmem_slab *sl, size_t n)
{
    unsigned c = inmem_slab_class(sl, n);

    return c != 0 ? sl->cls[c].size : n;
}

/* A chunk of class c (from inmem_slab_class(n)), or malloc(n) when c is 0.
 * NULL when out of memory. */
void *inmem_slab_alloc(struct inmem_slab *sl, unsigned c, size_t n);
/* Give back what inmem_slab_alloc(sl, c, ...) returned (NULL is a no-op). */
void inmem_slab_free(struct inmem_slab *sl, unsigned c, void *p);

/* Pages held by classes, and pages in the shared pool. */
void inmem_slab_pages(struct inmem_slab *sl, uint64_t *used, uint64_t *pool);

#endif /* REND_INMEM_SLAB_H */
