/*
 * check_fault.c - the test-only plugins do what they claim: the broken
 * ones are refused by the loader checks, and rend_fault fails, counts and
 * delays ops exactly as its options say.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rend_testhost.h"

static const char *
plugin_path(const char *name)
{
    static char buf[4][512];
    static unsigned next;
    const char *dir = getenv("REND_TEST_PLUGIN_DIR");
    char *b = buf[next++ % 4];

    snprintf(b, 512, "%s/rend_%s.so", dir && *dir ? dir : "plugins/.libs",
             name);
    return b;
}

static struct rend_th *
open_fault(const char *const *opts)
{
    char err[256];
    struct rend_th *th = rend_th_open(plugin_path("fault"), opts, err,
                                      sizeof(err));

    ck_assert_msg(th != NULL, "open fault: %s", err);
    return th;
}

static int
run(struct rend_th *th, int code, const char *key, const char *value)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, key, value, value ? strlen(value) : 0, 0, 0);
    op.delta = 1;
    st = rend_th_run(th, &op);
    rend_th_op_fini(&op);
    return st;
}

static uint64_t
calls(struct rend_th *th, const char *op)
{
    char name[32], *s = rend_th_stats(th);
    uint64_t v = 0;

    snprintf(name, sizeof(name), "calls_%s", op);
    ck_assert_msg(rend_th_stat_u64(s, name, &v) == 0, "no stat %s", name);
    free(s);
    return v;
}

static double
mono(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

START_TEST(broken_plugins_are_refused)
{
    static const struct {
        const char *name, *why;
    } cases[] = {
        { "bad_major", "ABI 99." },
        { "bad_sig", "ptr=3" },
        { "bad_size", "8 bytes" },
        { "no_symbol", "does not export rend_handler_v1" },
        { "undef", "rend_test_symbol_that_does_not_exist" },
        { "no_create", "no create" },
    };
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rend_th *th = rend_th_open(plugin_path(cases[i].name), NULL,
                                          err, sizeof(err));

        ck_assert_msg(th == NULL, "%s was accepted", cases[i].name);
        ck_assert_msg(strstr(err, cases[i].why) != NULL, "%s: err '%s'",
                      cases[i].name, err);
    }
    /* The loader itself works: the fault plugin loads. */
    rend_th_close(open_fault(NULL));
}
END_TEST

START_TEST(no_options_means_a_plain_cache)
{
    struct rend_th *th = open_fault(NULL);
    const struct rend_handler *h = rend_th_handler(th);

    ck_assert_uint_eq(h->caps, REND_CAP_ASYNC | REND_CAP_CAS);
    ck_assert_int_eq(run(th, REND_OP_GET, "k", NULL), REND_MISS);
    ck_assert_int_eq(run(th, REND_OP_SET, "k", "41"), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_INCR, "k", NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_ADD, "k", "x"), REND_NOT_STORED);
    ck_assert_int_eq(run(th, REND_OP_DELETE, "k", NULL), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_DELETE, "k", NULL), REND_NOT_FOUND);
    ck_assert_uint_eq(calls(th, "get"), 1);
    ck_assert_uint_eq(calls(th, "set"), 1);
    ck_assert_uint_eq(calls(th, "incr"), 1);
    ck_assert_uint_eq(calls(th, "add"), 1);
    ck_assert_uint_eq(calls(th, "delete"), 2);
    ck_assert_uint_eq(calls(th, "cas"), 0);
    rend_th_close(th);
}
END_TEST

START_TEST(fail_option_per_op)
{
    static const char *ops[] = { "get", "gat", "touch", "set", "add",
                                 "replace", "append", "prepend", "cas",
                                 "delete", "incr", "decr", "flush" };
    static const struct {
        const char *name;
        int st;
    } sts[] = {
        { "miss", REND_MISS },           { "not_stored", REND_NOT_STORED },
        { "exists", REND_EXISTS },       { "not_found", REND_NOT_FOUND },
        { "non_numeric", REND_NON_NUMERIC }, { "eio", REND_EIO },
        { "etimedout", REND_ETIMEDOUT }, { "ebusy", REND_EBUSY },
        { "enomem", REND_ENOMEM },       { "edown", REND_EDOWN },
        { "EIO", REND_EIO },
    };

    for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
        for (size_t s = 0; s < sizeof(sts) / sizeof(sts[0]); s++) {
            char optname[32];
            const char *opts[3] = { optname, sts[s].name, NULL };
            struct rend_th *th;

            snprintf(optname, sizeof(optname), "fail_%s", ops[o]);
            th = open_fault(opts);
            /* The item exists, so only the script explains the status. */
            if (o != REND_OP_SET) {
                ck_assert_int_eq(run(th, REND_OP_SET, "key", "5"), REND_OK);
            }
            ck_assert_msg(run(th, (int)o, "key", "v") == sts[s].st,
                          "fail_%s=%s", ops[o], sts[s].name);
            ck_assert_uint_eq(calls(th, ops[o]), 1);
            rend_th_close(th);
        }
    }
}
END_TEST

START_TEST(failed_ops_leave_data_alone)
{
    static const char *opts[] = { "fail_set", "eio", "fail_delete", "ebusy",
                                  NULL };
    static const char *opts_ok[] = { NULL };
    struct rend_th *th = open_fault(opts);
    struct rend_op op;

    ck_assert_int_eq(run(th, REND_OP_SET, "k", "v"), REND_EIO);
    ck_assert_int_eq(run(th, REND_OP_GET, "k", NULL), REND_MISS);
    ck_assert_int_eq(run(th, REND_OP_ADD, "k", "v"), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_DELETE, "k", NULL), REND_EBUSY);
    rend_th_op_init(&op, REND_OP_GET, "k", NULL, 0, 0, 0);
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_eq(op.out_nvalue, 1);
    ck_assert_int_eq(op.out_value[0], 'v');
    rend_th_op_fini(&op);
    rend_th_close(th);
    th = open_fault(opts_ok);
    ck_assert_int_eq(run(th, REND_OP_SET, "k", "v"), REND_OK);
    rend_th_close(th);
}
END_TEST

START_TEST(fail_prefix_limits_the_faults)
{
    static const char *opts[] = { "fail_get", "etimedout", "fail_prefix",
                                  "bad:", NULL };
    struct rend_th *th = open_fault(opts);

    ck_assert_int_eq(run(th, REND_OP_SET, "bad:1", "x"), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_SET, "good:1", "x"), REND_OK);
    ck_assert_int_eq(run(th, REND_OP_GET, "bad:1", NULL), REND_ETIMEDOUT);
    ck_assert_int_eq(run(th, REND_OP_GET, "bad:", NULL), REND_ETIMEDOUT);
    ck_assert_int_eq(run(th, REND_OP_GET, "bad", NULL), REND_MISS);
    ck_assert_int_eq(run(th, REND_OP_GET, "good:1", NULL), REND_OK);
    ck_assert_uint_eq(calls(th, "get"), 4);
    rend_th_close(th);
}
END_TEST

START_TEST(bad_options_are_refused)
{
    static const char *bad[][3] = {
        { "fail_get", "nonsense", NULL },
        { "fail_set", "pending", NULL },
        { "async", "maybe", NULL },
        { "delay_us", "-5", NULL },
    };
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rend_th *th = rend_th_open(plugin_path("fault"), bad[i], err,
                                          sizeof(err));

        ck_assert_msg(th == NULL, "%s=%s accepted", bad[i][0], bad[i][1]);
        ck_assert_ptr_nonnull(strstr(err, bad[i][0]));
    }
}
END_TEST

START_TEST(async_completes_later_from_another_thread)
{
    static const char *opts[] = { "async", "true", "delay_us", "30000",
                                  "fail_get", "eio", "fail_prefix", "e",
                                  NULL };
    struct rend_th *th = open_fault(opts);
    const struct rend_handler *h = rend_th_handler(th);
    struct rend_op op, ops[10], *pops[10];
    int st[10];
    char keys[10][8];
    double t0, dt;

    ck_assert_uint_ne(h->caps & REND_CAP_ASYNC, 0);
    t0 = mono();
    ck_assert_int_eq(run(th, REND_OP_SET, "k", "value"), REND_OK);
    dt = mono() - t0;
    ck_assert_msg(dt >= 0.029, "completed after %.3f s, before the delay", dt);
    rend_th_op_init(&op, REND_OP_GET, "k", NULL, 0, 0, 0);
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_eq(op.out_nvalue, 5);
    ck_assert_mem_eq(op.out_value, "value", 5);
    rend_th_op_fini(&op);
    ck_assert_int_eq(run(th, REND_OP_GET, "e1", NULL), REND_EIO);

    /* Ten ops issued together wait one delay, not ten. */
    for (int i = 0; i < 10; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%c%d", i % 2 ? 'e' : 'k', i);
        rend_th_op_init(&ops[i], REND_OP_GET, i % 2 ? keys[i] : "k", NULL, 0,
                        0, 0);
        pops[i] = &ops[i];
    }
    t0 = mono();
    rend_th_run_many(th, pops, 10, st);
    dt = mono() - t0;
    ck_assert_msg(dt < 0.25, "10 ops took %.3f s", dt);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(st[i], i % 2 ? REND_EIO : REND_OK);
        rend_th_op_fini(&ops[i]);
    }
    ck_assert_uint_eq(calls(th, "get"), 12);
    rend_th_close(th);
}
END_TEST

START_TEST(async_without_delay)
{
    static const char *opts[] = { "async", "yes", NULL };
    struct rend_th *th = open_fault(opts);
    char k[16];

    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        ck_assert_int_eq(run(th, REND_OP_SET, k, "v"), REND_OK);
        ck_assert_int_eq(run(th, REND_OP_GET, k, NULL), REND_OK);
    }
    ck_assert_uint_eq(calls(th, "set"), 2000);
    rend_th_close(th);
}
END_TEST

static Suite *
fault_suite(void)
{
    Suite *s = suite_create("test plugins");
    TCase *tc = tcase_create("fault");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, broken_plugins_are_refused);
    tcase_add_test(tc, no_options_means_a_plain_cache);
    tcase_add_test(tc, fail_option_per_op);
    tcase_add_test(tc, failed_ops_leave_data_alone);
    tcase_add_test(tc, fail_prefix_limits_the_faults);
    tcase_add_test(tc, bad_options_are_refused);
    tcase_add_test(tc, async_completes_later_from_another_thread);
    tcase_add_test(tc, async_without_delay);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(fault_suite());
    int nfailed;

    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
