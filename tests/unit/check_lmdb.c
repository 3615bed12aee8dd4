/*
 * check_lmdb.c - the lmdb handler through the test host: statuses of every
 * op, persistence across close/reopen, group commit, map full, the reaper,
 * delayed flush, both sync modes, the reader pool and the one-open rule.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rend_testhost.h"

static char tmpdir[256];

static void
setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rend_check_lmdb.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    rend_th_set_now(0);
}

static void
teardown(void)
{
    char cmd[300];

    rend_th_set_now(0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Open the lmdb plugin on tmpdir/db with extra k,v options (NULL ended). */
static struct rend_th *
open_db(const char *const *extra)
{
    const char *opts[32];
    char path[300], err[256];
    size_t n = 0;
    struct rend_th *th;

    snprintf(path, sizeof(path), "%s/db", tmpdir);
    opts[n++] = "path";
    opts[n++] = path;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 30; i++) {
        opts[n++] = extra[i];
    }
    opts[n] = NULL;
    th = rend_th_open("lmdb", opts, err, sizeof(err));
    ck_assert_msg(th != NULL, "open: %s", err);
    return th;
}

static int
run(struct rend_th *th, int code, const char *key, const char *val,
    uint32_t flags, int64_t exptime, struct rend_op *out)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, key, val, val ? strlen(val) : 0, flags,
                    exptime);
    st = rend_th_run(th, &op);
    if (out != NULL) {
        *out = op;
    } else {
        rend_th_op_fini(&op);
    }
    return st;
}

static int
set(struct rend_th *th, const char *key, const char *val)
{
    return run(th, REND_OP_SET, key, val, 0, 0, NULL);
}

/* GET key and compare its value (NULL = expect a miss). */
static void
expect_value(struct rend_th *th, const char *key, const char *val)
{
    struct rend_op op;
    int st = run(th, REND_OP_GET, key, NULL, 0, 0, &op);

    if (val == NULL) {
        ck_assert_msg(st == REND_MISS, "get %s: status %d", key, st);
    } else {
        ck_assert_msg(st == REND_OK, "get %s: status %d", key, st);
        ck_assert_uint_eq(op.out_nvalue, strlen(val));
        ck_assert_mem_eq(op.out_value, val, op.out_nvalue);
    }
    rend_th_op_fini(&op);
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

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

START_TEST(test_op_statuses)
{
    struct rend_th *th = open_db(NULL);
    struct rend_op op;
    uint64_t cas1, cas2;

    ck_assert_int_eq(run(th, REND_OP_GET, "k", NULL, 0, 0, NULL), REND_MISS);
    ck_assert_int_eq(run(th, REND_OP_SET, "k", "v1", 7, 0, &op), REND_OK);
    cas1 = op.out_cas;
    ck_assert_uint_ne(cas1, 0);
    ck_assert_int_eq(run(th, REND_OP_GET, "k", NULL, 0, 0, &op), REND_OK);
    ck_assert_uint_eq(op.out_flags, 7);
    ck_assert_uint_eq(op.out_cas, cas1);
    ck_assert_int_eq(op.out_exptime, 0);
    rend_th_op_fini(&op);

    ck_assert_int_eq(run(th, REND_OP_ADD, "k", "x", 0, 0, NULL),
                     REND_NOT_STORED);
    ck_assert_int_eq(run(th, REND_OP_ADD, "a", "x", 0, 0, NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_REPLACE, "nope", "x", 0, 0, NULL),
                     REND_NOT_STORED);
    ck_assert_int_eq(run(th, REND_OP_REPLACE, "a", "y", 3, 0, NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_APPEND, "nope", "x", 0, 0, NULL),
                     REND_NOT_STORED);
    ck_assert_int_eq(run(th, REND_OP_PREPEND, "nope", "x", 0, 0, NULL),
                     REND_NOT_STORED);
    ck_assert_int_eq(run(th, REND_OP_APPEND, "a", "zz", 0, 0, NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_PREPEND, "a", "<", 0, 0, NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_GET, "a", NULL, 0, 0, &op), REND_OK);
    ck_assert_str_eq(op.out_value, "<yzz");
    ck_assert_uint_eq(op.out_flags, 3); /* append keeps flags */
    cas2 = op.out_cas;
    ck_assert_uint_gt(cas2, cas1);
    rend_th_op_fini(&op);

    /* cas */
    rend_th_op_init(&op, REND_OP_CAS, "a", "c", 1, 0, 0);
    op.cas = cas2 + 1000;
    ck_assert_int_eq(rend_th_run(th, &op), REND_EXISTS);
    op.cas = cas2;
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_gt(op.out_cas, cas2);
    rend_th_op_init(&op, REND_OP_CAS, "nope", "c", 1, 0, 0);
    op.cas = 1;
    ck_assert_int_eq(rend_th_run(th, &op), REND_NOT_FOUND);
    expect_value(th, "a", "c");

    /* incr / decr */
    ck_assert_int_eq(set(th, "n", "18446744073709551615"), REND_OK);
    rend_th_op_init(&op, REND_OP_INCR, "n", NULL, 0, 0, 0);
    op.delta = 2;
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_eq(op.out_number, 1); /* wraps at 2^64 */
    /* as memcached: a shorter result keeps the old length, space-padded */
    expect_value(th, "n", "1                   ");
    rend_th_op_init(&op, REND_OP_DECR, "n", NULL, 0, 0, 0);
    op.delta = 5;
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_eq(op.out_number, 0); /* stops at 0 */
    rend_th_op_init(&op, REND_OP_INCR, "a", NULL, 0, 0, 0);
    op.delta = 1;
    ck_assert_int_eq(rend_th_run(th, &op), REND_NON_NUMERIC);
    ck_assert_int_eq(set(th, "big", "184467440737095516150"), REND_OK);
    rend_th_op_init(&op, REND_OP_INCR, "big", NULL, 0, 0, 0);
    ck_assert_int_eq(rend_th_run(th, &op), REND_NON_NUMERIC);
    rend_th_op_init(&op, REND_OP_INCR, "nope", NULL, 0, 0, 0);
    ck_assert_int_eq(rend_th_run(th, &op), REND_NOT_FOUND);

    /* touch / gat */
    int64_t later = time(NULL) + 1000;
    ck_assert_int_eq(run(th, REND_OP_TOUCH, "nope", NULL, 0, later, NULL),
                     REND_NOT_FOUND);
    ck_assert_int_eq(run(th, REND_OP_TOUCH, "k", NULL, 0, later, NULL),
                     REND_OK);
    ck_assert_int_eq(run(th, REND_OP_GAT, "nope", NULL, 0, later, NULL),
                     REND_MISS);
    ck_assert_int_eq(run(th, REND_OP_GAT, "k", NULL, 0, later + 1, &op),
                     REND_OK);
    ck_assert_str_eq(op.out_value, "v1");
    ck_assert_int_eq(op.out_exptime, later + 1);
    ck_assert_uint_eq(op.out_flags, 7);
    rend_th_op_fini(&op);
    ck_assert_int_eq(run(th, REND_OP_GET, "k", NULL, 0, 0, &op), REND_OK);
    ck_assert_int_eq(op.out_exptime, later + 1);
    rend_th_op_fini(&op);

    /* an already expired exptime (the core sends -1) stores nothing */
    ck_assert_int_eq(run(th, REND_OP_SET, "gone", "x", 0, -1, NULL), REND_OK);
    expect_value(th, "gone", NULL);

    /* delete */
    ck_assert_int_eq(run(th, REND_OP_DELETE, "k", NULL, 0, 0, NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_DELETE, "k", NULL, 0, 0, NULL),
                     REND_NOT_FOUND);
    expect_value(th, "k", NULL);

    /* item_size_max and bad keys */
    static char big[2 * 1024 * 1024];
    memset(big, 'b', sizeof(big));
    rend_th_op_init(&op, REND_OP_SET, "huge", big, sizeof(big), 0, 0);
    ck_assert_int_eq(rend_th_run(th, &op), REND_ETOOBIG);
    ck_assert_int_eq(run(th, REND_OP_SET, "", "x", 0, 0, NULL), REND_EINVAL);

    /* flush now */
    ck_assert_int_eq(run(th, REND_OP_FLUSH, NULL, NULL, 0, 0, NULL), REND_OK);
    expect_value(th, "a", NULL);
    expect_value(th, "n", NULL);
    ck_assert_int_eq(stat_of(th, "items"), 0);
    rend_th_close(th);
}
END_TEST

/* Expired items are a miss on get and gone for add/replace/touch. */
START_TEST(test_expiry)
{
    int64_t t0 = 2000000000;
    struct rend_th *th;

    rend_th_set_now(t0);
    th = open_db(NULL);
    ck_assert_int_eq(run(th, REND_OP_SET, "e", "v", 0, t0 + 10, NULL),
                     REND_OK);
    expect_value(th, "e", "v");
    rend_th_set_now(t0 + 10);
    expect_value(th, "e", NULL);
    ck_assert_int_eq(run(th, REND_OP_TOUCH, "e", NULL, 0, 0, NULL),
                     REND_NOT_FOUND);
    ck_assert_int_eq(run(th, REND_OP_REPLACE, "e", "w", 0, 0, NULL),
                     REND_NOT_STORED);
    ck_assert_int_eq(run(th, REND_OP_DELETE, "e", NULL, 0, 0, NULL),
                     REND_NOT_FOUND);
    ck_assert_int_eq(run(th, REND_OP_SET, "e", "v", 0, t0 + 20, NULL),
                     REND_OK);
    ck_assert_int_eq(run(th, REND_OP_ADD, "e", "w", 0, 0, NULL),
                     REND_NOT_STORED);
    rend_th_set_now(t0 + 30);
    ck_assert_int_eq(run(th, REND_OP_ADD, "e", "w", 0, 0, NULL), REND_OK);
    expect_value(th, "e", "w");
    rend_th_close(th);
}
END_TEST

/* flush with a delay: items stay until the time comes, also across a
 * restart; items stored after it are kept. */
START_TEST(test_delayed_flush)
{
    int64_t t0 = 2000000000;
    struct rend_th *th;

    rend_th_set_now(t0);
    th = open_db(NULL);
    ck_assert_int_eq(set(th, "old", "1"), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_FLUSH, NULL, NULL, 0, t0 + 100, NULL),
                     REND_OK);
    ck_assert_int_eq(set(th, "before", "2"), REND_OK);
    expect_value(th, "old", "1");
    rend_th_close(th);
    th = open_db(NULL);
    expect_value(th, "old", "1");
    rend_th_set_now(t0 + 100);
    expect_value(th, "old", NULL);
    expect_value(th, "before", NULL);
    ck_assert_int_eq(set(th, "after", "3"), REND_OK);
    expect_value(th, "after", "3");
    ck_assert_int_eq(stat_of(th, "items"), 1);
    ck_assert_int_eq(stat_of(th, "flushes"), 1);
    rend_th_close(th);
}
END_TEST

/* flush with a past time: only items stored before it go, also after a
 * restart; the reaper deletes them and then clears the marker. */
START_TEST(test_past_flush)
{
    const char *const opts[] = { "reap_interval_s", "0", NULL };
    int64_t t0 = 2000000000;
    struct rend_th *th;

    rend_th_set_now(t0);
    th = open_db(opts);
    ck_assert_int_eq(set(th, "a", "1"), REND_OK);
    ck_assert_int_eq(set(th, "a2", "1"), REND_OK);
    rend_th_set_now(t0 + 10);
    ck_assert_int_eq(set(th, "b", "2"), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_FLUSH, NULL, NULL, 0, t0 + 5, NULL),
                     REND_OK);
    expect_value(th, "a", NULL);
    expect_value(th, "b", "2");
    ck_assert_int_eq(run(th, REND_OP_ADD, "a2", "new", 0, 0, NULL), REND_OK);
    expect_value(th, "a2", "new");
    rend_th_close(th);
    th = open_db(opts);
    expect_value(th, "a", NULL);
    expect_value(th, "b", "2");
    for (int i = 0; i < 100 && stat_of(th, "flushed_before") != 0; i++) {
        sleep_ms(20);
    }
    ck_assert_int_eq(stat_of(th, "flushed_before"), 0);
    ck_assert_int_eq(stat_of(th, "items"), 2);
    /* a clock step back no longer hides new items */
    rend_th_set_now(t0);
    ck_assert_int_eq(set(th, "c", "3"), REND_OK);
    expect_value(th, "c", "3");
    rend_th_close(th);
}
END_TEST

#define NPERSIST 100000
#define CHUNK 1000

START_TEST(test_persistence)
{
    static struct rend_op ops[CHUNK];
    static struct rend_op *pops[CHUNK];
    static int st[CHUNK];
    static char keys[CHUNK][24], vals[CHUNK][32];
    const char *const opts[] = { "sync", "periodic", "map_size_mb", "256",
                                 NULL };
    int64_t now = time(NULL), exp = now + 100000;
    uint64_t max_cas = 0;
    struct rend_th *th = open_db(opts);

    for (int base = 0; base < NPERSIST; base += CHUNK) {
        for (int i = 0; i < CHUNK; i++) {
            int k = base + i;
            snprintf(keys[i], sizeof(keys[i]), "key:%d", k);
            snprintf(vals[i], sizeof(vals[i]), "value-%d", k);
            rend_th_op_init(&ops[i], REND_OP_SET, keys[i], vals[i],
                            strlen(vals[i]), (uint32_t)k,
                            k % 2 ? exp + k : 0);
            pops[i] = &ops[i];
        }
        rend_th_run_many(th, pops, CHUNK, st);
        for (int i = 0; i < CHUNK; i++) {
            ck_assert_int_eq(st[i], REND_OK);
            if (ops[i].out_cas > max_cas) {
                max_cas = ops[i].out_cas;
            }
        }
    }
    ck_assert_int_eq(stat_of(th, "items"), NPERSIST);
    rend_th_close(th);

    th = open_db(opts);
    ck_assert_int_eq(stat_of(th, "items"), NPERSIST);
    for (int k = 0; k < NPERSIST; k++) {
        struct rend_op op;
        char key[24], val[32];
        snprintf(key, sizeof(key), "key:%d", k);
        snprintf(val, sizeof(val), "value-%d", k);
        rend_th_op_init(&op, REND_OP_GET, key, NULL, 0, 0, 0);
        ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
        ck_assert_str_eq(op.out_value, val);
        ck_assert_uint_eq(op.out_flags, (uint32_t)k);
        ck_assert_int_eq(op.out_exptime, k % 2 ? exp + k : 0);
        ck_assert_uint_ne(op.out_cas, 0);
        rend_th_op_fini(&op);
    }
    /* cas keeps increasing after a restart */
    struct rend_op op;
    ck_assert_int_eq(run(th, REND_OP_SET, "new", "x", 0, 0, &op), REND_OK);
    ck_assert_uint_gt(op.out_cas, max_cas);
    rend_th_close(th);
}
END_TEST

/* 1000 sets issued back to back land in far fewer commits. */
static void
group_commit(const char *sync)
{
    static struct rend_op ops[CHUNK];
    static struct rend_op *pops[CHUNK];
    static int st[CHUNK];
    static char keys[CHUNK][24];
    const char *const opts[] = { "sync", sync, "sync_interval_ms", "50",
                                 NULL };
    struct rend_th *th = open_db(opts);
    uint64_t commits;

    for (int i = 0; i < CHUNK; i++) {
        snprintf(keys[i], sizeof(keys[i]), "g%d", i);
        rend_th_op_init(&ops[i], REND_OP_SET, keys[i], keys[i],
                        strlen(keys[i]), 0, 0);
        pops[i] = &ops[i];
    }
    rend_th_run_many(th, pops, CHUNK, st);
    for (int i = 0; i < CHUNK; i++) {
        ck_assert_int_eq(st[i], REND_OK);
    }
    commits = stat_of(th, "commits");
    ck_assert_uint_eq(stat_of(th, "writes"), CHUNK);
    ck_assert_msg(commits >= 1 && commits <= CHUNK / 20,
                  "%" PRIu64 " commits for %d writes", commits, CHUNK);
    if (strcmp(sync, "periodic") == 0) {
        for (int i = 0; i < 100 && stat_of(th, "syncs") == 0; i++) {
            sleep_ms(20);
        }
        ck_assert_uint_gt(stat_of(th, "syncs"), 0);
    } else {
        ck_assert_uint_eq(stat_of(th, "syncs"), 0);
    }
    rend_th_close(th);
    /* both modes: the data is there after a reopen */
    th = open_db(opts);
    expect_value(th, "g0", "g0");
    expect_value(th, "g999", "g999");
    rend_th_close(th);
}

START_TEST(test_group_commit_sync_commit)
{
    group_commit("commit");
}
END_TEST

START_TEST(test_group_commit_sync_periodic)
{
    group_commit("periodic");
}
END_TEST

/* A full map fails writes with ENOSPC, keeps reads, and recovers after
 * deletes. */
START_TEST(test_map_full)
{
    const char *const opts[] = { "map_size_mb", "1", NULL };
    static char val[8192];
    struct rend_th *th = open_db(opts);
    char key[32];
    int n = 0, st = REND_OK;

    memset(val, 'v', sizeof(val));
    val[sizeof(val) - 1] = '\0';
    while (n < 1000) {
        snprintf(key, sizeof(key), "full:%d", n);
        st = set(th, key, val);
        if (st != REND_OK) {
            break;
        }
        n++;
    }
    ck_assert_int_eq(st, REND_ENOSPC);
    ck_assert_int_gt(n, 10);
    ck_assert_uint_gt(stat_of(th, "enospc"), 0);
    /* other writes fail the same way, reads keep working */
    ck_assert_int_eq(set(th, "another", val), REND_ENOSPC);
    expect_value(th, "full:0", val);
    expect_value(th, "full:5", val);
    /* in one batch, only the op that does not fit fails */
    struct rend_op mix[3], *pmix[3] = { &mix[0], &mix[1], &mix[2] };
    int mst[3];
    rend_th_op_init(&mix[0], REND_OP_SET, "another", val, strlen(val), 0, 0);
    rend_th_op_init(&mix[1], REND_OP_DELETE, "full:10", NULL, 0, 0, 0);
    rend_th_op_init(&mix[2], REND_OP_DELETE, "missing", NULL, 0, 0, 0);
    rend_th_run_many(th, pmix, 3, mst);
    ck_assert_int_eq(mst[0], REND_ENOSPC);
    ck_assert_int_eq(mst[1], REND_OK);
    ck_assert_int_eq(mst[2], REND_NOT_FOUND);
    expect_value(th, "full:10", NULL);
    ck_assert_uint_gt(stat_of(th, "batch_fallbacks"), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "full:%d", i);
        ck_assert_int_eq(run(th, REND_OP_DELETE, key, NULL, 0, 0, NULL),
                         REND_OK);
    }
    ck_assert_int_eq(set(th, "another", val), REND_OK);
    expect_value(th, "another", val);
    expect_value(th, "full:0", NULL);
    rend_th_close(th);
}
END_TEST

/* The reaper deletes expired items in small txns (fake clock). */
START_TEST(test_reaper)
{
    static struct rend_op ops[CHUNK];
    static struct rend_op *pops[CHUNK];
    static int st[CHUNK];
    static char keys[CHUNK][24];
    const char *const opts[] = { "reap_interval_s", "1", "reap_batch", "50",
                                 NULL };
    int64_t t0 = 2000000000;
    struct rend_th *th;

    rend_th_set_now(t0);
    th = open_db(opts);
    for (int i = 0; i < CHUNK; i++) {
        snprintf(keys[i], sizeof(keys[i]), "r%d", i);
        /* 3 of 4 expire at t0 + 10, the rest never */
        rend_th_op_init(&ops[i], REND_OP_SET, keys[i], "x", 1, 0,
                        i % 4 ? t0 + 10 : 0);
        pops[i] = &ops[i];
    }
    rend_th_run_many(th, pops, CHUNK, st);
    ck_assert_int_eq(stat_of(th, "items"), CHUNK);
    sleep_ms(1500);
    ck_assert_int_eq(stat_of(th, "reaped"), 0); /* nothing expired yet */
    rend_th_set_now(t0 + 11);
    for (int i = 0; i < 50 && stat_of(th, "reaped") < CHUNK * 3 / 4; i++) {
        sleep_ms(100);
    }
    ck_assert_int_eq(stat_of(th, "reaped"), CHUNK * 3 / 4);
    ck_assert_int_eq(stat_of(th, "items"), CHUNK / 4);
    expect_value(th, "r0", "x");
    expect_value(th, "r1", NULL);
    rend_th_close(th);
}
END_TEST

/* Reads through the reader pool give the same answers. */
START_TEST(test_reader_pool)
{
    const char *const opts[] = { "readers", "2", NULL };
    struct rend_th *th = open_db(opts);

    ck_assert_int_eq(set(th, "p", "pool"), REND_OK);
    expect_value(th, "p", "pool");
    expect_value(th, "q", NULL);
    rend_th_close(th);
}
END_TEST

static int
count_item(void *ud, const char *key, size_t nkey, const char *value,
           size_t nvalue, uint32_t flags, int64_t exptime, uint64_t cas)
{
    (*(int *)ud)++;
    return 0;
}

START_TEST(test_walk_and_one_open)
{
    struct rend_th *th = open_db(NULL);
    const struct rend_handler *h = rend_th_handler(th);
    char path[300], err[256];
    const char *opts[] = { "path", path, NULL };
    int n = 0;

    ck_assert_int_eq(run(th, REND_OP_SET, "w1", "1", 0, 0, NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_SET, "w2", "2", 0, -1, NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_SET, "w3", "3", 0, 0, NULL), REND_OK);
    ck_assert_int_eq(h->walk(rend_th_instance(th), count_item, &n), 0);
    ck_assert_int_eq(n, 2);

    snprintf(path, sizeof(path), "%s/db", tmpdir);
    err[0] = '\0';
    ck_assert_ptr_null(rend_th_open("lmdb", opts, err, sizeof(err)));
    ck_assert_msg(strstr(err, "already open") != NULL, "err: %s", err);
    expect_value(th, "w1", "1");
    rend_th_close(th);
    /* closed: it opens again */
    th = rend_th_open("lmdb", opts, err, sizeof(err));
    ck_assert_msg(th != NULL, "reopen: %s", err);
    expect_value(th, "w3", "3");
    rend_th_close(th);
}
END_TEST

START_TEST(test_bad_options)
{
    char err[256];
    const char *o1[] = { "map_size_mb", "10", NULL };
    const char *o2[] = { "path", "/tmp/x", "sync", "sometimes", NULL };
    const char *o3[] = { "path", "/tmp/x", "bogus", "1", NULL };

    ck_assert_ptr_null(rend_th_open("lmdb", o1, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "path"));
    ck_assert_ptr_null(rend_th_open("lmdb", o2, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "sync"));
    ck_assert_ptr_null(rend_th_open("lmdb", o3, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "bogus"));
}
END_TEST

static Suite *
lmdb_suite(void)
{
    Suite *s = suite_create("lmdb");
    TCase *tc = tcase_create("lmdb");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_op_statuses);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_delayed_flush);
    tcase_add_test(tc, test_past_flush);
    tcase_add_test(tc, test_persistence);
    tcase_add_test(tc, test_group_commit_sync_commit);
    tcase_add_test(tc, test_group_commit_sync_periodic);
    tcase_add_test(tc, test_map_full);
    tcase_add_test(tc, test_reaper);
    tcase_add_test(tc, test_reader_pool);
    tcase_add_test(tc, test_walk_and_one_open);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(lmdb_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
