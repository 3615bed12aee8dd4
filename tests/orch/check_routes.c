/*
 * check_routes.c - per-command, per-prefix and route_fn routes
 * (conf/routes.lua) against the real rend, text (_i = 0) and binary
 * (_i = 1).  Which tier a request reached is read back through the L1
 * and L2 views (listeners 2 and 3).
 */
#include "config.h"

#include "orch_check.h"

enum { P_MAIN = 0, P_FN = 1, P_L1 = 2, P_L2 = 3 };

static struct orch srv;
static struct orch_conn cm, cf, cv1, cv2;

static void
setup(void)
{
    char conf[512];

    ck_assert_int_eq(orch_start_file(&srv, orch_conf_path(conf, sizeof(conf),
                                                          "routes.lua"),
                                     NULL), 0);
    ck_assert_int_eq(srv.nports, 4);
}

static void
teardown(void)
{
    orch_close(&cm);
    orch_close(&cf);
    orch_close(&cv1);
    orch_close(&cv2);
    orch_stop(&srv, 0);
}

static void
connect_all(int bin)
{
    ck_assert_int_eq(orch_connect(&srv, P_MAIN, bin, &cm), 0);
    ck_assert_int_eq(orch_connect(&srv, P_FN, bin, &cf), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L1, bin, &cv1), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L2, bin, &cv2), 0);
}

START_TEST(per_command_route)
{
    struct orch_item it;

    connect_all(_i);
    /* default (L1/L2): both tiers */
    EXPECT_RES(&cm, orch_store(&cm, "set", "x", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "x", "v", 1);
    EXPECT_PEEK(&srv, P_L2, "x", "v", 1);
    /* get is routed L1-only: an L2-only key is a miss, nothing filled */
    EXPECT_RES(&cv1, orch_delete(&cv1, "x"), ORCH_OK);
    EXPECT_RES(&cm, orch_get(&cm, "get", "x", 0, &it), ORCH_MISS);
    EXPECT_PEEK(&srv, P_L1, "x", NULL, 0);
    ck_assert_int_eq(orch_stat(&srv, NULL, "ops_l2"), 1);
    if (_i == 0) {
        /* gets has a route of its own (L1/L2), distinct from get's */
        EXPECT_RES(&cm, orch_get(&cm, "gets", "x", 0, &it), ORCH_OK);
        ck_assert_str_eq(it.value, "v");
        EXPECT_PEEK(&srv, P_L1, "x", "v", 1);
    }
}
END_TEST

START_TEST(per_command_delete_route)
{
    connect_all(_i);
    EXPECT_RES(&cm, orch_store(&cm, "set", "d", "v", 0, 0, 0), ORCH_OK);
    /* delete is routed L1-only: L2 keeps the item */
    EXPECT_RES(&cm, orch_delete(&cm, "d"), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "d", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "d", "v", 1);
    EXPECT_RES(&cm, orch_delete(&cm, "d"), ORCH_NOT_FOUND);
}
END_TEST

START_TEST(per_prefix_route)
{
    connect_all(_i);
    /* loc: is L1-only */
    EXPECT_RES(&cm, orch_store(&cm, "set", "loc:k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "loc:k", "v", 1);
    EXPECT_PEEK(&srv, P_L2, "loc:k", NULL, 0);
    /* the longest prefix wins: loc:deep: is L1/L2 */
    EXPECT_RES(&cm, orch_store(&cm, "set", "loc:deep:k", "v", 0, 0, 0),
               ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "loc:deep:k", "v", 1);
    EXPECT_PEEK(&srv, P_L2, "loc:deep:k", "v", 1);
    /* bat: has a routes table: set is L1/L2, everything else batch */
    EXPECT_RES(&cm, orch_store(&cm, "set", "bat:s", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "bat:s", "v", 1);
    EXPECT_PEEK(&srv, P_L2, "bat:s", "v", 1);
    EXPECT_RES(&cm, orch_store(&cm, "add", "bat:a", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "bat:a", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "bat:a", "v", 1);
    /* a key that only looks like a prefix ("lo") takes the default */
    EXPECT_RES(&cm, orch_store(&cm, "set", "lo", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "lo", "v", 1);
}
END_TEST

START_TEST(route_fn_per_key)
{
    connect_all(_i);
    /* "b:" keys: batch, L1 not filled */
    EXPECT_RES(&cf, orch_store(&cf, "set", "b:k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "b:k", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "b:k", "v", 1);
    EXPECT_RES(&cf, orch_get(&cf, "get", "b:k", 0, NULL), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "b:k", NULL, 0);
    /* other keys: L1/L2 */
    EXPECT_RES(&cf, orch_store(&cf, "set", "a:k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "a:k", "v", 1);
    EXPECT_PEEK(&srv, P_L2, "a:k", "v", 1);
    /* per command inside the function: delete is L1-only */
    EXPECT_RES(&cf, orch_delete(&cf, "a:k"), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "a:k", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "a:k", "v", 1);
    /* and it fills L1 again from L2 on the L1/L2 get */
    EXPECT_RES(&cf, orch_get(&cf, "get", "a:k", 0, NULL), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "a:k", "v", 1);
}
END_TEST

static Suite *
routes_suite(void)
{
    Suite *s = suite_create("routes");
    struct {
        const char *name;
        const TTest *t;
    } tests[] = {
        { "command", per_command_route },
        { "command_delete", per_command_delete_route },
        { "prefix", per_prefix_route },
        { "route_fn", route_fn_per_key },
    };

    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_loop_test(tc, tests[i].t, 0, 2);
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    return orch_run(routes_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
