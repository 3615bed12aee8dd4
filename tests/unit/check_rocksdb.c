/*
 * check_rocksdb.c - the rocksdb handler through the test host: op
 * semantics, batch-local overlay, persistence across reopen, group commit,
 * expiry and flush (fake clock) with compaction-filter reclaim, the
 * durability modes, read routing, and a second open of one path.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rend_testhost.h"

static char dir[256];

/* Unchecked fixture (runs in the parent once per case): one temp dir that
 * is removed even when a test fails; each test uses its own subdirectory. */
static void
make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/rend_rocksdb_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
remove_dir(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", dir);
    }
}

static void
setup(void)
{
    rend_th_set_now(0);
}

static void
teardown(void)
{
    rend_th_set_now(0);
}

/* Open the plugin on dir/sub with up to two extra options. */
static struct rend_th *
open_db(const char *sub, const char *k1, const char *v1, const char *k2,
        const char *v2)
{
    static char path[300];
    const char *opts[] = { "path", path, "write_buffer_mb", "8", k1, v1, k2,
                           v2, NULL };
    char err[256];
    struct rend_th *th;

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    th = rend_th_open("rocksdb", opts, err, sizeof(err));
    ck_assert_msg(th != NULL, "open: %s", err);
    return th;
}

static int
store(struct rend_th *th, int code, const char *key, const char *val,
      uint32_t flags, int64_t exp, uint64_t cas, uint64_t *out_cas)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, key, val, val ? strlen(val) : 0, flags, exp);
    op.cas = cas;
    st = rend_th_run(th, &op);
    if (out_cas != NULL) {
        *out_cas = op.out_cas;
    }
    rend_th_op_fini(&op);
    return st;
}

/* GET/GAT/TOUCH; on a hit with a value, checks it equals want (NULL =
 * don't care) and returns flags/cas through the pointers. */
static int
fetch(struct rend_th *th, int code, const char *key, int64_t exp,
      const char *want, uint32_t *flags, uint64_t *cas)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, key, NULL, 0, 0, exp);
    st = rend_th_run(th, &op);
    if (st == REND_OK && want != NULL) {
        ck_assert_uint_eq(op.out_nvalue, strlen(want));
        ck_assert_mem_eq(op.out_value, want, strlen(want));
    }
    if (flags != NULL) {
        *flags = op.out_flags;
    }
    if (cas != NULL) {
        *cas = op.out_cas;
    }
    rend_th_op_fini(&op);
    return st;
}

static int
arith(struct rend_th *th, int code, const char *key, uint64_t delta,
      uint64_t *out)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, key, NULL, 0, 0, 0);
    op.delta = delta;
    st = rend_th_run(th, &op);
    *out = op.out_number;
    rend_th_op_fini(&op);
    return st;
}

static uint64_t
stat_of(struct rend_th *th, const char *name)
{
    char *s = rend_th_stats(th);
    uint64_t v = 0;

    ck_assert_msg(rend_th_stat_u64(s, name, &v) == 0, "no stat %s", name);
    free(s);
    return v;
}

START_TEST(test_ops)
{
    struct rend_th *th = open_db("ops", NULL, NULL, NULL, NULL);
    uint64_t cas, cas2, n;
    uint32_t flags;

    ck_assert_int_eq(fetch(th, REND_OP_GET, "a", 0, NULL, NULL, NULL),
                     REND_MISS);
    ck_assert_int_eq(store(th, REND_OP_SET, "a", "one", 7, 0, 0, &cas),
                     REND_OK);
    ck_assert_uint_gt(cas, 0);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "a", 0, "one", &flags, &cas2),
                     REND_OK);
    ck_assert_uint_eq(flags, 7);
    ck_assert_uint_eq(cas2, cas);
    ck_assert_int_eq(store(th, REND_OP_ADD, "a", "x", 0, 0, 0, NULL),
                     REND_NOT_STORED);
    ck_assert_int_eq(store(th, REND_OP_ADD, "b", "two", 1, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(store(th, REND_OP_REPLACE, "c", "x", 0, 0, 0, NULL),
                     REND_NOT_STORED);
    ck_assert_int_eq(store(th, REND_OP_REPLACE, "b", "TWO", 2, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(store(th, REND_OP_APPEND, "b", "!", 9, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(store(th, REND_OP_PREPEND, "b", "<", 9, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "b", 0, "<TWO!", &flags, NULL),
                     REND_OK);
    ck_assert_uint_eq(flags, 2); /* append keeps the flags */
    ck_assert_int_eq(store(th, REND_OP_APPEND, "c", "!", 0, 0, 0, NULL),
                     REND_NOT_STORED);
    /* cas */
    ck_assert_int_eq(store(th, REND_OP_CAS, "a", "new", 0, 0, cas + 100,
                           NULL), REND_EXISTS);
    ck_assert_int_eq(store(th, REND_OP_CAS, "a", "new", 3, 0, cas, &cas2),
                     REND_OK);
    ck_assert_uint_gt(cas2, cas);
    ck_assert_int_eq(store(th, REND_OP_CAS, "zz", "new", 0, 0, 1, NULL),
                     REND_NOT_FOUND);
    /* incr/decr */
    ck_assert_int_eq(arith(th, REND_OP_INCR, "a", 1, &n), REND_NON_NUMERIC);
    ck_assert_int_eq(arith(th, REND_OP_INCR, "nope", 1, &n), REND_NOT_FOUND);
    ck_assert_int_eq(store(th, REND_OP_SET, "n", "18446744073709551615", 0,
                           0, 0, NULL), REND_OK);
    ck_assert_int_eq(arith(th, REND_OP_INCR, "n", 2, &n), REND_OK);
    ck_assert_uint_eq(n, 1); /* wraps at 2^64 */
    ck_assert_int_eq(arith(th, REND_OP_DECR, "n", 5, &n), REND_OK);
    ck_assert_uint_eq(n, 0); /* stops at 0 */
    ck_assert_int_eq(arith(th, REND_OP_INCR, "n", 42, &n), REND_OK);
    /* as memcached: a shorter result keeps the old length, space-padded
     * (the value was 20 digits), and stays a number */
    ck_assert_int_eq(fetch(th, REND_OP_GET, "n", 0, "42                  ",
                           NULL, NULL), REND_OK);
    ck_assert_int_eq(store(th, REND_OP_SET, "n", "9", 0, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(arith(th, REND_OP_INCR, "n", 1, &n), REND_OK);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "n", 0, "10", NULL, NULL),
                     REND_OK);
    ck_assert_int_eq(store(th, REND_OP_SET, "n", "123456789012345678901", 0,
                           0, 0, NULL), REND_OK);
    ck_assert_int_eq(arith(th, REND_OP_INCR, "n", 1, &n), REND_NON_NUMERIC);
    /* touch, gat, delete */
    ck_assert_int_eq(fetch(th, REND_OP_TOUCH, "nope", 100, NULL, NULL, NULL),
                     REND_NOT_FOUND);
    ck_assert_int_eq(fetch(th, REND_OP_GAT, "nope", 100, NULL, NULL, NULL),
                     REND_MISS);
    ck_assert_int_eq(fetch(th, REND_OP_GAT, "b", -1, "<TWO!", NULL, NULL),
                     REND_OK);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "b", 0, NULL, NULL, NULL),
                     REND_MISS); /* gat with a past expiry expires it */
    ck_assert_int_eq(store(th, REND_OP_DELETE, "a", NULL, 0, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(store(th, REND_OP_DELETE, "a", NULL, 0, 0, 0, NULL),
                     REND_NOT_FOUND);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "a", 0, NULL, NULL, NULL),
                     REND_MISS);
    rend_th_close(th);
}
END_TEST

START_TEST(test_too_big)
{
    struct rend_th *th = open_db("big", "item_size_max", "10", NULL, NULL);

    ck_assert_int_eq(store(th, REND_OP_SET, "k", "0123456789", 0, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(store(th, REND_OP_SET, "k", "0123456789A", 0, 0, 0,
                           NULL), REND_ETOOBIG);
    ck_assert_int_eq(store(th, REND_OP_APPEND, "k", "A", 0, 0, 0, NULL),
                     REND_ETOOBIG);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "k", 0, "0123456789", NULL,
                           NULL), REND_OK);
    rend_th_close(th);
}
END_TEST

/* Ops on one key in one batch see each other, and a get issued behind a
 * queued set of its key sees the set. */
START_TEST(test_batch_overlay)
{
    struct rend_th *th = open_db("overlay", NULL, NULL, NULL, NULL);
    struct rend_op ops[7], *p[7];
    int st[7];

    rend_th_op_init(&ops[0], REND_OP_SET, "k", "5", 1, 4, 0);
    rend_th_op_init(&ops[1], REND_OP_ADD, "k", "x", 1, 0, 0);
    rend_th_op_init(&ops[2], REND_OP_INCR, "k", NULL, 0, 0, 0);
    ops[2].delta = 10;
    rend_th_op_init(&ops[3], REND_OP_APPEND, "k", "0", 1, 0, 0);
    rend_th_op_init(&ops[4], REND_OP_GET, "k", NULL, 0, 0, 0);
    rend_th_op_init(&ops[5], REND_OP_DELETE, "k", NULL, 0, 0, 0);
    rend_th_op_init(&ops[6], REND_OP_REPLACE, "k", "y", 1, 0, 0);
    for (int i = 0; i < 7; i++) {
        p[i] = &ops[i];
    }
    rend_th_run_many(th, p, 7, st);
    ck_assert_int_eq(st[0], REND_OK);
    ck_assert_int_eq(st[1], REND_NOT_STORED);
    ck_assert_int_eq(st[2], REND_OK);
    ck_assert_uint_eq(ops[2].out_number, 15);
    ck_assert_int_eq(st[3], REND_OK);
    ck_assert_int_eq(st[4], REND_OK);
    ck_assert_str_eq(ops[4].out_value, "150");
    ck_assert_uint_eq(ops[4].out_flags, 4);
    ck_assert_int_eq(st[5], REND_OK);
    ck_assert_int_eq(st[6], REND_NOT_STORED);
    for (int i = 0; i < 7; i++) {
        rend_th_op_fini(&ops[i]);
    }
    ck_assert_int_eq(fetch(th, REND_OP_GET, "k", 0, NULL, NULL, NULL),
                     REND_MISS);
    rend_th_close(th);
}
END_TEST

/* 100,000 keys with flags and TTL survive close/reopen; cas keeps going
 * up across the reopen. */
START_TEST(test_persistence)
{
    enum { N = 100000, G = 1000 };
    int64_t base = time(NULL);
    struct rend_th *th = open_db("persist", NULL, NULL, NULL, NULL);
    static struct rend_op ops[G];
    static char keys[G][24], vals[G][24];
    struct rend_op *p[G];
    int st[G];
    uint64_t last_cas = 0, cas;

    rend_th_set_now(base);
    for (int i = 0; i < N; i += G) {
        for (int j = 0; j < G; j++) {
            int k = i + j;

            snprintf(keys[j], sizeof(keys[j]), "key:%d", k);
            snprintf(vals[j], sizeof(vals[j]), "value-%d", k);
            rend_th_op_init(&ops[j], REND_OP_SET, keys[j], vals[j],
                            strlen(vals[j]), (uint32_t)k,
                            k % 2 ? base + 1000 + k : 0);
            p[j] = &ops[j];
        }
        rend_th_run_many(th, p, G, st);
        for (int j = 0; j < G; j++) {
            ck_assert_int_eq(st[j], REND_OK);
            if (ops[j].out_cas > last_cas) {
                last_cas = ops[j].out_cas;
            }
            rend_th_op_fini(&ops[j]);
        }
    }
    rend_th_close(th);

    th = open_db("persist", NULL, NULL, NULL, NULL);
    for (int k = 0; k < N; k += 7) {
        struct rend_op op;
        char want[24];

        snprintf(keys[0], sizeof(keys[0]), "key:%d", k);
        snprintf(want, sizeof(want), "value-%d", k);
        rend_th_op_init(&op, REND_OP_GET, keys[0], NULL, 0, 0, 0);
        ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
        ck_assert_str_eq(op.out_value, want);
        ck_assert_uint_eq(op.out_flags, (uint32_t)k);
        ck_assert_int_eq(op.out_exptime, k % 2 ? base + 1000 + k : 0);
        rend_th_op_fini(&op);
    }
    ck_assert_int_eq(store(th, REND_OP_SET, "after", "x", 0, 0, 0, &cas),
                     REND_OK);
    ck_assert_uint_gt(cas, last_cas);
    /* The odd keys expire: move the clock past all of them. */
    rend_th_set_now(base + 1000 + N + 1);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "key:1", 0, NULL, NULL, NULL),
                     REND_MISS);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "key:2", 0, "value-2", NULL,
                           NULL), REND_OK);
    rend_th_close(th);
}
END_TEST

/* 1,000 sets in flight are written in far fewer commits. */
START_TEST(test_group_commit)
{
    enum { G = 1000 };
    struct rend_th *th = open_db("group", "wal_sync", "true", NULL, NULL);
    static struct rend_op ops[G];
    static char keys[G][16];
    struct rend_op *p[G];
    int st[G];
    uint64_t commits, writes;

    for (int j = 0; j < G; j++) {
        snprintf(keys[j], sizeof(keys[j]), "g%d", j);
        rend_th_op_init(&ops[j], REND_OP_SET, keys[j], "v", 1, 0, 0);
        p[j] = &ops[j];
    }
    rend_th_run_many(th, p, G, st);
    for (int j = 0; j < G; j++) {
        ck_assert_int_eq(st[j], REND_OK);
        rend_th_op_fini(&ops[j]);
    }
    commits = stat_of(th, "commits");
    writes = stat_of(th, "writes");
    ck_assert_uint_eq(writes, G);
    ck_assert_msg(commits * 10 <= G, "%llu commits for %d writes",
                  (unsigned long long)commits, G);
    rend_th_close(th);
}
END_TEST

/* Expired items are misses at once and dropped by compaction; a flush
 * (now and delayed) hides older items, survives reopen, and its
 * compaction reclaims them. */
START_TEST(test_expiry_and_flush)
{
    int64_t t = time(NULL);
    struct rend_th *th;
    char key[32];

    rend_th_set_now(t);
    th = open_db("flush", NULL, NULL, NULL, NULL);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "e%d", i);
        ck_assert_int_eq(store(th, REND_OP_SET, key, "v", 0, t + 10, 0, NULL),
                         REND_OK);
    }
    ck_assert_int_eq(store(th, REND_OP_SET, "keep", "v", 0, 0, 0, NULL),
                     REND_OK);
    rend_th_set_now(t + 10);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "e1", 0, NULL, NULL, NULL),
                     REND_MISS);
    ck_assert_int_eq(store(th, REND_OP_ADD, "e1", "new", 0, 0, 0, NULL),
                     REND_OK);
    /* A delayed flush: nothing changes before its time. */
    ck_assert_int_eq(store(th, REND_OP_FLUSH, NULL, NULL, 0, t + 20, 0,
                           NULL), REND_OK);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "keep", 0, "v", NULL, NULL),
                     REND_OK);
    rend_th_close(th);
    th = open_db("flush", NULL, NULL, NULL, NULL);
    rend_th_set_now(t + 15);
    ck_assert_int_eq(store(th, REND_OP_SET, "late", "v", 0, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "keep", 0, "v", NULL, NULL),
                     REND_OK);
    rend_th_set_now(t + 20);
    /* Stored before t+20: all gone, including "late". */
    ck_assert_int_eq(fetch(th, REND_OP_GET, "keep", 0, NULL, NULL, NULL),
                     REND_MISS);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "late", 0, NULL, NULL, NULL),
                     REND_MISS);
    ck_assert_int_eq(store(th, REND_OP_SET, "fresh", "v", 0, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "fresh", 0, "v", NULL, NULL),
                     REND_OK);
    /* The maintenance thread compacts once the flush is due. */
    for (int i = 0; i < 100 && stat_of(th, "flush_compactions") == 0; i++) {
        usleep(100 * 1000);
    }
    ck_assert_uint_ge(stat_of(th, "flush_compactions"), 1);
    ck_assert_uint_ge(stat_of(th, "expired_dropped"), 199);
    ck_assert_uint_ge(stat_of(th, "flushed_dropped"), 3);
    /* An immediate flush hides everything stored so far. */
    ck_assert_int_eq(store(th, REND_OP_FLUSH, NULL, NULL, 0, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "fresh", 0, NULL, NULL, NULL),
                     REND_MISS);
    ck_assert_int_eq(store(th, REND_OP_SET, "fresh", "w", 0, 0, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(fetch(th, REND_OP_GET, "fresh", 0, "w", NULL, NULL),
                     REND_OK);
    rend_th_close(th);
}
END_TEST

/* wal_sync, disable_wal and the pool read mode all keep data. */
START_TEST(test_modes)
{
    static const char *modes[][4] = {
        { "wal_sync", "true", "read_mode", "inline" },
        { "wal_sync", "false", "read_mode", "pool" },
        { "disable_wal", "true", "readers", "3" },
    };

    for (int m = 0; m < 3; m++) {
        char sub[16];
        struct rend_th *th;

        snprintf(sub, sizeof(sub), "mode%d", m);
        th = open_db(sub, modes[m][0], modes[m][1], modes[m][2], modes[m][3]);
        ck_assert_int_eq(store(th, REND_OP_SET, "k", "v", 5, 0, 0, NULL),
                         REND_OK);
        ck_assert_int_eq(fetch(th, REND_OP_GET, "k", 0, "v", NULL, NULL),
                         REND_OK);
        rend_th_close(th);
        th = open_db(sub, modes[m][0], modes[m][1], modes[m][2], modes[m][3]);
        ck_assert_int_eq(fetch(th, REND_OP_GET, "k", 0, "v", NULL, NULL),
                         REND_OK);
        if (m == 1) {
            ck_assert_uint_ge(stat_of(th, "gets_pool"), 1);
            ck_assert_uint_eq(stat_of(th, "gets_inline"), 0);
        }
        rend_th_close(th);
    }
}
END_TEST

/* After a reopen the data sits on disk only (without a WAL, close flushes
 * the memtable to an SST): an inline get gets "incomplete" and the pool
 * answers; the next get is a block cache hit served inline. */
START_TEST(test_inline_fallback)
{
    enum { G = 1000, N = 20000 };
    struct rend_th *th = open_db("fallback", "disable_wal", "true", NULL,
                                 NULL);
    static struct rend_op ops[G];
    static char keys[G][16];
    static char val[200];
    struct rend_op *p[G];
    int st[G];
    char key[16];

    memset(val, 'v', sizeof(val));
    for (int i = 0; i < N; i += G) {
        for (int j = 0; j < G; j++) {
            snprintf(keys[j], sizeof(keys[j]), "f%d", i + j);
            rend_th_op_init(&ops[j], REND_OP_SET, keys[j], val, sizeof(val),
                            0, 0);
            p[j] = &ops[j];
        }
        rend_th_run_many(th, p, G, st);
        for (int j = 0; j < G; j++) {
            ck_assert_int_eq(st[j], REND_OK);
            rend_th_op_fini(&ops[j]);
        }
    }
    rend_th_close(th);
    th = open_db("fallback", "disable_wal", "true", NULL, NULL);
    for (int i = 0; i < N; i += N / 10) {
        snprintf(key, sizeof(key), "f%d", i);
        ck_assert_int_eq(fetch(th, REND_OP_GET, key, 0, NULL, NULL, NULL),
                         REND_OK);
    }
    ck_assert_uint_ge(stat_of(th, "gets_incomplete"), 1);
    ck_assert_uint_eq(stat_of(th, "gets_pool"),
                      stat_of(th, "gets_incomplete"));
    /* The same keys again: now in the block cache, served inline. */
    for (int i = 0; i < N; i += N / 10) {
        snprintf(key, sizeof(key), "f%d", i);
        ck_assert_int_eq(fetch(th, REND_OP_GET, key, 0, NULL, NULL, NULL),
                         REND_OK);
    }
    ck_assert_uint_ge(stat_of(th, "gets_inline"), 10);
    rend_th_close(th);
}
END_TEST

START_TEST(test_double_open)
{
    char path[300], err[256];
    const char *opts[] = { "path", path, NULL };
    struct rend_th *a = open_db("twice", NULL, NULL, NULL, NULL);
    struct rend_th *b;

    snprintf(path, sizeof(path), "%s/twice", dir);
    b = rend_th_open("rocksdb", opts, err, sizeof(err));
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(err, "lock") != NULL || strstr(err, "LOCK") != NULL,
                  "unclear error: %s", err);
    ck_assert_int_eq(store(a, REND_OP_SET, "k", "v", 0, 0, 0, NULL), REND_OK);
    rend_th_close(a);
}
END_TEST

START_TEST(test_bad_options)
{
    const char *o1[] = { "compression", "lz4", NULL };
    const char *o2[] = { "path", "/tmp/x", "compaction", "fifo", NULL };
    const char *o3[] = { "path", "/tmp/x", "wal_sync", "true", "disable_wal",
                         "true", NULL };
    char err[256];

    ck_assert_ptr_null(rend_th_open("rocksdb", o1, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "path"));
    ck_assert_ptr_null(rend_th_open("rocksdb", o2, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "compaction"));
    ck_assert_ptr_null(rend_th_open("rocksdb", o3, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "wal_sync"));
}
END_TEST

struct walk_count {
    size_t n;
    int saw_b;
};

static int
count_cb(void *ud, const char *key, size_t nkey, const char *value,
         size_t nvalue, uint32_t flags, int64_t exptime, uint64_t cas)
{
    struct walk_count *w = ud;

    (void)value;
    (void)nvalue;
    (void)exptime;
    ck_assert_uint_gt(cas, 0);
    if (nkey == 1 && key[0] == 'b') {
        ck_assert_uint_eq(flags, 2);
        w->saw_b = 1;
    }
    w->n++;
    return 0;
}

START_TEST(test_walk)
{
    struct rend_th *th = open_db("walk", NULL, NULL, NULL, NULL);
    const struct rend_handler *h = rend_th_handler(th);
    struct walk_count w = { 0, 0 };

    ck_assert_int_eq(store(th, REND_OP_SET, "a", "1", 1, 0, 0, NULL), REND_OK);
    ck_assert_int_eq(store(th, REND_OP_SET, "b", "2", 2, 0, 0, NULL), REND_OK);
    ck_assert_int_eq(store(th, REND_OP_SET, "c", "3", 3, -1, 0, NULL),
                     REND_OK);
    ck_assert_int_eq(h->walk(rend_th_instance(th), count_cb, &w), 0);
    ck_assert_uint_eq(w.n, 2);
    ck_assert_int_eq(w.saw_b, 1);
    rend_th_close(th);
}
END_TEST

static Suite *
rocksdb_suite(void)
{
    Suite *s = suite_create("rocksdb");
    TCase *tc = tcase_create("core");

    tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ops);
    tcase_add_test(tc, test_too_big);
    tcase_add_test(tc, test_batch_overlay);
    tcase_add_test(tc, test_persistence);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_expiry_and_flush);
    tcase_add_test(tc, test_modes);
    tcase_add_test(tc, test_inline_fallback);
    tcase_add_test(tc, test_double_open);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_walk);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(rocksdb_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
