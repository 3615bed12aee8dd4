/*
 * check_inmem.c - inmem-specific tests: the memory limit and eviction,
 * option checking, flush delays, stats, walk, and several threads on one
 * instance.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract_util.h"

static struct rend_th *
open_inmem(const char *const *opts)
{
    char err[256];
    struct rend_th *th = rend_th_open("inmem", opts, err, sizeof(err));

    ck_assert_msg(th != NULL, "open inmem: %s", err);
    return th;
}

static uint64_t
stat_of(struct rend_th *th, const char *name)
{
    char *s = rend_th_stats(th);
    uint64_t v = 0;

    ck_assert_ptr_nonnull(s);
    ck_assert_msg(rend_th_stat_u64(s, name, &v) == 0, "no stat %s", name);
    free(s);
    return v;
}

static void
value_for(char *v, size_t n, int i)
{
    int len = snprintf(v, n, "%d:", i);

    memset(v + len, 'a' + i % 26, n - (size_t)len - 1);
    v[n - 1] = '\0';
}

START_TEST(eviction_keeps_within_limit)
{
    static const char *opts[] = { "memory_mb", "1", NULL };
    struct rend_th *th = open_inmem(opts);
    uint64_t limit = stat_of(th, "limit_bytes");
    int n = 0, present = 0;
    char k[32], v[1000];

    ck_assert_uint_eq(limit, 1u << 20);
    /* Write 4x the limit, checking the budget after every store. */
    for (uint64_t written = 0; written < 4 * limit; n++) {
        snprintf(k, sizeof(k), "ev%d", n);
        value_for(v, sizeof(v), n);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
        written += strlen(k) + strlen(v);
        if (n % 97 == 0) {
            ck_assert_uint_le(stat_of(th, "bytes"), limit);
        }
    }
    ck_assert_uint_le(stat_of(th, "bytes"), limit);
    ck_assert_uint_gt(stat_of(th, "bytes"), limit * 8 / 10);
    ck_assert_uint_gt(stat_of(th, "evictions"), 0);
    /* The newest 200 keys (about a fifth of the budget) all survive. */
    for (int i = n - 200; i < n; i++) {
        snprintf(k, sizeof(k), "ev%d", i);
        value_for(v, sizeof(v), i);
        cu_expect(th, k, v);
    }
    /* The oldest quarter is gone. */
    for (int i = 0; i < n / 4; i++) {
        struct res r;

        snprintf(k, sizeof(k), "ev%d", i);
        cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
        present += r.st == REND_OK;
        res_free(&r);
    }
    ck_assert_int_eq(present, 0);
    rend_th_close(th);
}
END_TEST

START_TEST(hot_keys_survive_eviction)
{
    static const char *opts[] = { "memory_mb", "1", "stripes", "4", NULL };
    struct rend_th *th = open_inmem(opts);
    char k[32], v[1000];
    struct res r;

    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof(k), "hot%d", i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, "h", 0, 0), REND_OK);
    }
    for (int n = 0; n < 4000; n++) {
        snprintf(k, sizeof(k), "cold%d", n);
        value_for(v, sizeof(v), n);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
        /* Read every hot key now and then: they keep getting hits. */
        if (n % 100 == 0) {
            for (int i = 0; i < 50; i++) {
                snprintf(k, sizeof(k), "hot%d", i);
                cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
                ck_assert_msg(r.st == REND_OK, "hot key %d evicted", i);
                res_free(&r);
            }
        }
    }
    rend_th_close(th);
}
END_TEST

START_TEST(expired_reclaimed_before_live)
{
    static const char *opts[] = { "memory_mb", "1", "stripes", "4", NULL };
    struct rend_th *th = open_inmem(opts);
    int64_t t0 = time(NULL);
    char k[32], v[1000];
    int live = 0;

    rend_th_set_now(t0);
    /* About half the budget in items that never expire, then half in
     * items that expire soon. */
    for (int i = 0; i < 450; i++) {
        snprintf(k, sizeof(k), "live%d", i);
        value_for(v, sizeof(v), i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
    }
    for (int i = 0; i < 450; i++) {
        snprintf(k, sizeof(k), "short%d", i);
        value_for(v, sizeof(v), i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, t0 + 10), REND_OK);
    }
    ck_assert_uint_eq(stat_of(th, "evictions"), 0);
    rend_th_set_now(t0 + 20);
    /* A third of the budget of new items: room comes from dead ones. */
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "new%d", i);
        value_for(v, sizeof(v), i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
    }
    ck_assert_uint_gt(stat_of(th, "expired_reclaimed"), 100);
    for (int i = 0; i < 450; i++) {
        struct res r;

        snprintf(k, sizeof(k), "live%d", i);
        cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
        live += r.st == REND_OK;
        res_free(&r);
    }
    ck_assert_msg(live >= 435, "only %d of 450 live items left", live);
    rend_th_set_now(0);
    rend_th_close(th);
}
END_TEST

START_TEST(too_big)
{
    static const char *opts[] = { "memory_mb", "1", "item_size_max", "1000",
                                  NULL };
    static const char *opts2[] = { "memory_mb", "1", "item_size_max",
                                   "2097152", NULL };
    struct rend_th *th = open_inmem(opts);
    char *v = calloc(1, 2u << 20);

    ck_assert_status(cu_store(th, REND_OP_SET, "k", 1, v, 1000, 0, 0, 0, NULL),
                     REND_OK);
    ck_assert_status(cu_store(th, REND_OP_SET, "k", 1, v, 1001, 0, 0, 0, NULL),
                     REND_ETOOBIG);
    /* Growing past the limit by append is refused too; the item stays. */
    ck_assert_status(cu_store(th, REND_OP_APPEND, "k", 1, v, 1, 0, 0, 0, NULL),
                     REND_ETOOBIG);
    ck_assert_status(cu_simple(th, REND_OP_DELETE, "k", 0), REND_OK);
    rend_th_close(th);
    /* A value bigger than the whole budget cannot be stored either. */
    th = open_inmem(opts2);
    ck_assert_status(cu_store(th, REND_OP_SET, "k", 1, v, 2u << 20, 0, 0, 0,
                              NULL), REND_ETOOBIG);
    ck_assert_status(cu_store(th, REND_OP_SET, "k", 1, v, (1u << 20) - 200, 0,
                              0, 0, NULL), REND_OK);
    rend_th_close(th);
    free(v);
}
END_TEST

/* inmem's number rule is memcached's (strtoull): leading white space and
 * a sign, digits, then the end or white space; "-1", "x1", "1x" and a
 * value past 2^64 are not numbers; a shorter result is space-padded. */
START_TEST(strict_numbers)
{
    static const char *bad[] = { "x1", "1x", "-1", "18446744073709551616",
                                 "" };
    static const char *good[] = { " 1", "1 ", "000000000000000000001", "+1",
                                  "1 x" };
    struct rend_th *th = open_inmem(NULL);
    uint64_t v = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_status(cu_set(th, REND_OP_SET, "n", bad[i], 0, 0), REND_OK);
        ck_assert_msg(cu_arith(th, REND_OP_INCR, "n", 1, NULL)
                      == REND_NON_NUMERIC, "incr on '%s'", bad[i]);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_status(cu_set(th, REND_OP_SET, "n", good[i], 0, 0),
                         REND_OK);
        ck_assert_msg(cu_arith(th, REND_OP_INCR, "n", 1, &v) == REND_OK
                      && v == 2, "incr on '%s'", good[i]);
    }
    ck_assert_status(cu_set(th, REND_OP_SET, "n", "00000000000000000009", 0,
                            0), REND_OK);
    ck_assert_status(cu_arith(th, REND_OP_INCR, "n", 1, &v), REND_OK);
    ck_assert_uint_eq(v, 10);
    cu_expect(th, "n", "10                  "); /* the old 20 bytes */
    rend_th_close(th);
}
END_TEST

START_TEST(bad_options)
{
    static const char *bad[][3] = {
        { "memory_mb", "0", NULL },       { "memory_mb", "x", NULL },
        { "stripes", "3", NULL },         { "stripes", "8192", NULL },
        { "hash_power", "2", NULL },      { "item_size_max", "0", NULL },
        { "eviction", "random", NULL },
    };
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rend_th *th = rend_th_open("inmem", bad[i], err, sizeof(err));

        ck_assert_msg(th == NULL, "%s=%s accepted", bad[i][0], bad[i][1]);
        ck_assert_msg(strstr(err, bad[i][0]) != NULL, "err: %s", err);
    }
}
END_TEST

START_TEST(lru_policy_works)
{
    static const char *opts[] = { "memory_mb", "1", "eviction", "lru",
                                  "stripes", "1", NULL };
    struct rend_th *th = open_inmem(opts);
    char k[32], v[1000], v0[1000];
    char *s;

    value_for(v0, sizeof(v0), 0);
    for (int n = 0; n < 3000; n++) {
        snprintf(k, sizeof(k), "l%d", n);
        value_for(v, sizeof(v), n);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
        /* Key l0 is read after every store, so strict LRU keeps it. */
        cu_expect(th, "l0", v0);
    }
    s = rend_th_stats(th);
    ck_assert_ptr_nonnull(strstr(s, "eviction lru\n"));
    free(s);
    ck_assert_uint_gt(stat_of(th, "evictions"), 0);
    rend_th_close(th);
}
END_TEST

START_TEST(flush_delay)
{
    struct rend_th *th = open_inmem(NULL);
    int64_t t0 = time(NULL);

    rend_th_set_now(t0);
    ck_assert_status(cu_set(th, REND_OP_SET, "a", "1", 0, 0), REND_OK);
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, t0 + 10), REND_OK);
    cu_expect(th, "a", "1");
    rend_th_set_now(t0 + 5);
    ck_assert_status(cu_set(th, REND_OP_SET, "b", "2", 0, 0), REND_OK);
    cu_expect(th, "b", "2");
    rend_th_set_now(t0 + 9);
    cu_expect(th, "a", "1");
    rend_th_set_now(t0 + 10);
    cu_expect_miss(th, "a");
    cu_expect_miss(th, "b");
    ck_assert_status(cu_set(th, REND_OP_SET, "c", "3", 0, 0), REND_OK);
    cu_expect(th, "c", "3");
    /* A later delayed flush does not bring back what the first removed. */
    ck_assert_status(cu_set(th, REND_OP_ADD, "d", "4", 0, 0), REND_OK);
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, t0 + 20), REND_OK);
    cu_expect_miss(th, "a");
    cu_expect_miss(th, "b");
    cu_expect(th, "c", "3");
    rend_th_set_now(t0 + 20);
    cu_expect_miss(th, "c");
    cu_expect_miss(th, "d");
    ck_assert_uint_eq(stat_of(th, "cmd_flush"), 2);
    rend_th_set_now(0);
    rend_th_close(th);
}
END_TEST

START_TEST(flush_now_frees_memory)
{
    struct rend_th *th = open_inmem(NULL);
    char k[32];

    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "f%d", i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, "value", 0, 0), REND_OK);
    }
    ck_assert_uint_eq(stat_of(th, "items"), 1000);
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, 0), REND_OK);
    ck_assert_uint_eq(stat_of(th, "items"), 0);
    ck_assert_uint_eq(stat_of(th, "bytes"), 0);
    ck_assert_uint_eq(stat_of(th, "flush_reclaimed"), 1000);
    rend_th_close(th);
}
END_TEST

/* 14-byte keys, 100-byte values: an item costs one 176-byte slab chunk
 * (61 bytes of header), against 194 + malloc's overhead before the slab
 * allocator; a 1 KB value fits a chunk within 3% of the item. */
START_TEST(item_cost_is_small)
{
    struct rend_th *th = open_inmem(NULL);
    char k[32], v[1025];
    uint64_t bytes;

    memset(v, 'v', sizeof(v));
    v[100] = '\0';
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "key:%010d", i); /* 14 bytes */
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
    }
    ck_assert_uint_eq(stat_of(th, "items"), 1000);
    bytes = stat_of(th, "bytes");
    ck_assert_msg(bytes <= 1000 * 176, "%llu bytes for 1000 items of 114",
                  (unsigned long long)bytes);
    ck_assert_uint_ge(bytes, 1000 * (14 + 100));
    /* 1000 chunks of 176 bytes fill 3 pages of 64 KiB */
    ck_assert_uint_le(stat_of(th, "slab_pages"), 3);
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, 0), REND_OK);
    v[1024] = '\0';
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "big:%010d", i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
    }
    bytes = stat_of(th, "bytes");
    ck_assert_msg(bytes <= 1000 * (61 + 14 + 1024) * 103 / 100,
                  "%llu bytes for 1000 items of 1038",
                  (unsigned long long)bytes);
    rend_th_close(th);
}
END_TEST

/* Pages emptied by a flush go back to the shared pool (and so can serve
 * another size class): memory does not stay stuck in the old class. */
START_TEST(empty_pages_return_to_pool)
{
    struct rend_th *th = open_inmem(NULL);
    char k[32], v[301];
    uint64_t pages, pool;

    memset(v, 'p', sizeof(v));
    v[300] = '\0';
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "p%d", i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
    }
    pages = stat_of(th, "slab_pages");
    ck_assert_uint_ge(pages, 20);
    ck_assert_uint_eq(stat_of(th, "slab_pool_pages"), 0);
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, 0), REND_OK);
    /* one empty page stays with its class */
    ck_assert_uint_le(stat_of(th, "slab_pages"), 1);
    pool = stat_of(th, "slab_pool_pages");
    ck_assert_uint_ge(pool, pages - 1);
    /* a different size takes its pages from the pool, not new ones */
    v[200] = '\0';
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "q%d", i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, 0, 0), REND_OK);
    }
    ck_assert_uint_lt(stat_of(th, "slab_pool_pages"), pool);
    for (int i = 0; i < 5000; i += 499) {
        snprintf(k, sizeof(k), "q%d", i);
        cu_expect(th, k, v);
    }
    rend_th_close(th);
}
END_TEST

static int
count_item(void *ud, const char *key, size_t nkey, const char *value,
           size_t nvalue, uint32_t flags, int64_t exptime, uint64_t cas)
{
    int *n = ud;

    ck_assert_uint_ne(cas, 0);
    ck_assert_uint_eq(nvalue, 1);
    ck_assert_int_eq(key[0], 'w');
    (*n)++;
    return 0;
}

static int
stop_at_first(void *ud, const char *key, size_t nkey, const char *value,
              size_t nvalue, uint32_t flags, int64_t exptime, uint64_t cas)
{
    (*(int *)ud)++;
    return 7;
}

START_TEST(stats_and_walk)
{
    struct rend_th *th = open_inmem(NULL);
    const struct rend_handler *h = rend_th_handler(th);
    int64_t t0 = time(NULL);
    int n = 0;
    char k[32];
    struct res r;

    rend_th_set_now(t0);
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "w%d", i);
        ck_assert_status(cu_set(th, REND_OP_SET, k, "v", 0,
                                i < 30 ? t0 + 5 : 0), REND_OK);
    }
    cu_get(th, REND_OP_GET, "w1", 2, 0, 0, &r);
    res_free(&r);
    cu_get(th, REND_OP_GET, "nope", 4, 0, 0, &r);
    cu_get(th, REND_OP_GAT, "w50", 3, 0, 0, &r);
    res_free(&r);
    ck_assert_status(cu_simple(th, REND_OP_DELETE, "nope", 0), REND_NOT_FOUND);
    ck_assert_status(cu_arith(th, REND_OP_INCR, "nope", 1, NULL),
                     REND_NOT_FOUND);
    ck_assert_status(cu_store(th, REND_OP_CAS, "w50", 3, "x", 1, 0, 0, 1,
                              NULL), REND_EXISTS);
    ck_assert_uint_eq(stat_of(th, "cmd_get"), 3);
    ck_assert_uint_eq(stat_of(th, "get_hits"), 2);
    ck_assert_uint_eq(stat_of(th, "get_misses"), 1);
    ck_assert_uint_eq(stat_of(th, "touch_hits"), 1);
    ck_assert_uint_eq(stat_of(th, "delete_misses"), 1);
    ck_assert_uint_eq(stat_of(th, "incr_misses"), 1);
    ck_assert_uint_eq(stat_of(th, "cas_badval"), 1);
    ck_assert_uint_eq(stat_of(th, "cmd_set"), 101);
    ck_assert_uint_eq(stat_of(th, "items"), 100);
    ck_assert_uint_eq(stat_of(th, "stripes"), 64);
    ck_assert_uint_eq(stat_of(th, "limit_bytes"), 64u << 20);
    ck_assert_uint_eq(h->caps, REND_CAP_CAS);

    /* Walk sees live items only. */
    rend_th_set_now(t0 + 5);
    ck_assert_int_eq(h->walk(rend_th_instance(th), count_item, &n), 0);
    ck_assert_int_eq(n, 70);
    n = 0;
    ck_assert_int_eq(h->walk(rend_th_instance(th), stop_at_first, &n), 7);
    ck_assert_int_eq(n, 1);
    rend_th_set_now(0);
    rend_th_close(th);
}
END_TEST

/* ---- several threads on one instance -------------------------------- */

enum { NTHREADS = 4, NSHARED = 64 };

struct worker {
    const struct rend_handler *h;
    void *inst;
    unsigned id;
    double seconds;
    uint64_t gets, hits, incr_ok, decr_ok, bad, ops;
};

static int
call(struct worker *w, void *tctx, struct rend_op *op)
{
    int st = w->h->ops[op->code](tctx, op);

    w->ops++;
    return st;
}

/* A shared key's value is "c<k>|..." whoever wrote it. */
static void
check_shared_value(struct worker *w, const struct rend_op *op, int k)
{
    char want[16];
    int n = snprintf(want, sizeof(want), "c%d|", k);

    if (op->out_nvalue < (uint32_t)n || memcmp(op->out_value, want, n) != 0) {
        w->bad++;
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct rend_thread thr = { .loop = NULL, .id = w->id,
                               .nthreads = NTHREADS };
    unsigned seed = w->id * 7919 + 1;
    char k[32], v[2100];
    struct timespec t0, t;
    struct rend_op op;
    void *tctx = NULL;

    if (w->h->thread_init(w->inst, &thr, &tctx) != REND_OK) {
        w->bad++;
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0;; i++) {
        int r = rand_r(&seed) % 100, kk = rand_r(&seed) % NSHARED, st;

        if (i % 256 == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec)
                + (t.tv_nsec - t0.tv_nsec) / 1e9 >= w->seconds) {
                break;
            }
        }
        snprintf(k, sizeof(k), "c%d", kk);
        if (r < 35) {
            rend_th_op_init(&op, REND_OP_GET, k, NULL, 0, 0, 0);
            st = call(w, tctx, &op);
            w->gets++;
            if (st == REND_OK) {
                w->hits++;
                check_shared_value(w, &op, kk);
            } else if (st != REND_MISS) {
                w->bad++;
            }
        } else if (r < 55) {
            int len = snprintf(v, sizeof(v), "c%d|t%u|%llu|", kk, w->id,
                               (unsigned long long)i);
            size_t pad = (size_t)(rand_r(&seed) % 2000);

            memset(v + len, 'p', pad);
            rend_th_op_init(&op, REND_OP_SET, k, v, (size_t)len + pad, 0, 0);
            w->bad += call(w, tctx, &op) != REND_OK;
        } else if (r < 60) {
            rend_th_op_init(&op, REND_OP_APPEND, k, "+", 1, 0, 0);
            st = call(w, tctx, &op);
            w->bad += st != REND_OK && st != REND_NOT_STORED;
        } else if (r < 64) {
            rend_th_op_init(&op, REND_OP_DELETE, k, NULL, 0, 0, 0);
            st = call(w, tctx, &op);
            w->bad += st != REND_OK && st != REND_NOT_FOUND;
        } else if (r < 68) {
            int len = snprintf(v, sizeof(v), "c%d|add", kk);

            rend_th_op_init(&op, REND_OP_ADD, k, v, (size_t)len, 0, 0);
            st = call(w, tctx, &op);
            w->bad += st != REND_OK && st != REND_NOT_STORED;
        } else if (r < 72) {
            rend_th_op_init(&op, REND_OP_TOUCH, k, NULL, 0, 0, 0);
            st = call(w, tctx, &op);
            w->bad += st != REND_OK && st != REND_NOT_FOUND;
        } else if (r < 78) {
            uint64_t cas;
            int len;

            rend_th_op_init(&op, REND_OP_GAT, k, NULL, 0, 0, 0);
            st = call(w, tctx, &op);
            w->gets++;
            if (st != REND_OK) {
                w->bad += st != REND_MISS;
                rend_th_op_fini(&op);
                continue;
            }
            w->hits++;
            check_shared_value(w, &op, kk);
            cas = op.out_cas;
            rend_th_op_fini(&op);
            len = snprintf(v, sizeof(v), "c%d|cas", kk);
            rend_th_op_init(&op, REND_OP_CAS, k, v, (size_t)len, 0, 0);
            op.cas = cas;
            st = call(w, tctx, &op);
            w->bad += st != REND_OK && st != REND_EXISTS
                      && st != REND_NOT_FOUND;
        } else if (r < 80) {
            /* Fill traffic that pushes the instance into eviction. */
            snprintf(k, sizeof(k), "w%u.%llu", w->id, (unsigned long long)i);
            memset(v, 'f', 1500);
            rend_th_op_init(&op, REND_OP_SET, k, v, 1500, 0, 0);
            w->bad += call(w, tctx, &op) != REND_OK;
        } else {
            int incr = r < 92;

            rend_th_op_init(&op, incr ? REND_OP_INCR : REND_OP_DECR, "ctr",
                            NULL, 0, 0, 0);
            op.delta = 1;
            st = call(w, tctx, &op);
            if (st != REND_OK) {
                w->bad++;
            } else if (incr) {
                w->incr_ok++;
            } else {
                w->decr_ok++;
            }
        }
        rend_th_op_fini(&op);
    }
    w->h->thread_exit(w->inst, tctx);
    return NULL;
}

START_TEST(threads_share_one_instance)
{
    static const char *opts[] = { "memory_mb", "2", "stripes", "16", NULL };
    struct rend_th *th = open_inmem(opts);
    struct worker w[NTHREADS];
    pthread_t tid[NTHREADS];
    uint64_t gets = 0, hits = 0, incrs = 0, decrs = 0, ops = 0, num = 0;
    const uint64_t base = 1000000000000ULL;
    char b[32];

    snprintf(b, sizeof(b), "%llu", (unsigned long long)base);
    ck_assert_status(cu_set(th, REND_OP_SET, "ctr", b, 0, 0), REND_OK);
    for (unsigned i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){ .h = rend_th_handler(th),
                                .inst = rend_th_instance(th), .id = i,
                                .seconds = 2.0 };
        ck_assert_int_eq(pthread_create(&tid[i], NULL, worker_main, &w[i]),
                         0);
    }
    for (unsigned i = 0; i < NTHREADS; i++) {
        pthread_join(tid[i], NULL);
        ck_assert_msg(w[i].bad == 0, "thread %u: %llu bad results", i,
                      (unsigned long long)w[i].bad);
        gets += w[i].gets;
        hits += w[i].hits;
        incrs += w[i].incr_ok;
        decrs += w[i].decr_ok;
        ops += w[i].ops;
    }
    printf("inmem threads: %u threads, %llu ops in 2 s\n", NTHREADS,
           (unsigned long long)ops);
    ck_assert_uint_eq(stat_of(th, "cmd_get"), gets);
    ck_assert_uint_eq(stat_of(th, "get_hits"), hits);
    ck_assert_uint_le(stat_of(th, "bytes"), stat_of(th, "limit_bytes"));
    ck_assert_uint_gt(stat_of(th, "evictions"), 0);
    ck_assert_status(cu_arith(th, REND_OP_INCR, "ctr", 0, &num), REND_OK);
    ck_assert_uint_eq(num, base + incrs - decrs);
    rend_th_close(th);
}
END_TEST

static Suite *
inmem_suite(void)
{
    Suite *s = suite_create("inmem");
    TCase *tc = tcase_create("inmem");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, eviction_keeps_within_limit);
    tcase_add_test(tc, hot_keys_survive_eviction);
    tcase_add_test(tc, expired_reclaimed_before_live);
    tcase_add_test(tc, too_big);
    tcase_add_test(tc, strict_numbers);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, lru_policy_works);
    tcase_add_test(tc, flush_delay);
    tcase_add_test(tc, flush_now_frees_memory);
    tcase_add_test(tc, item_cost_is_small);
    tcase_add_test(tc, empty_pages_return_to_pool);
    tcase_add_test(tc, stats_and_walk);
    tcase_add_test(tc, threads_share_one_instance);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(inmem_suite());
    int nfailed;

    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
