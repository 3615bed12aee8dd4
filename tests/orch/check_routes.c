/*
 * check_routes.c - per-command, per-prefix and route_fn routes
 * (conf/routes.lua) against the real rend, text (_i = 0) and binary
 * (_i = 1).  Which tier a request reached is read back through the L1
 * and L2 views (listeners 2 and 3).
 */
#include "config.h"

#include <string.h>

#include "orch_check.h"
#include "orch_wire.h"

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

/* A binary GetKQ batch that rend folds into one request still routes each
 * key on its own: on the route_fn listener "a:k" goes L1/L2 (the L2 hit
 * fills L1) and "b:k" goes to the batch route (L1 not filled). */
static size_t
bin_get(unsigned char *p, uint8_t op, const char *key, uint32_t opaque)
{
    size_t n = strlen(key);

    memset(p, 0, 24);
    p[0] = 0x80;
    p[1] = op;
    p[3] = (unsigned char)n;
    p[11] = (unsigned char)n;
    p[15] = (unsigned char)opaque;
    memcpy(p + 24, key, n);
    return 24 + n;
}

static void
expect_bin_reply(int fd, uint8_t op, int status, uint32_t opaque,
                 const char *key, const char *value)
{
    unsigned char h[24];
    char body[128];
    size_t ext = status == 0 ? 4 : 0, nk = strlen(key);
    size_t nv = value ? strlen(value) : 0;
    uint32_t bl;

    orch_recv_exact(fd, (char *)h, 24);
    bl = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8
         | h[11];
    ck_assert_int_eq(h[0], 0x81);
    ck_assert_int_eq(h[1], op);
    ck_assert_int_eq(h[6] << 8 | h[7], status);
    ck_assert_uint_eq(h[15], opaque);
    ck_assert_uint_eq(h[4], ext);
    ck_assert_uint_eq(bl, ext + nk + nv);
    ck_assert_uint_lt(bl, sizeof(body));
    orch_recv_exact(fd, body, bl);
    ck_assert(memcmp(body + ext, key, nk) == 0);
    ck_assert(nv == 0 || memcmp(body + ext + nk, value, nv) == 0);
}

START_TEST(binary_batch_routes_per_key)
{
    unsigned char req[256];
    size_t n = 0;
    int64_t folded0;

    connect_all(1);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "a:k", "va", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "b:k", "vb", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "a:k", NULL, 0);
    folded0 = orch_stat(&srv, NULL, "bin_gets_folded");
    n += bin_get(req + n, 0x0d, "a:k", 1);
    n += bin_get(req + n, 0x09, "nokey", 2);
    n += bin_get(req + n, 0x0d, "b:k", 3);
    n += bin_get(req + n, 0x0c, "nokey", 4);
    orch_send_all(cf.fd, req, n);
    expect_bin_reply(cf.fd, 0x0d, 0, 1, "a:k", "va");
    expect_bin_reply(cf.fd, 0x0d, 0, 3, "b:k", "vb");
    expect_bin_reply(cf.fd, 0x0c, 1, 4, "nokey", NULL);
    ck_assert_int_eq(orch_stat(&srv, NULL, "bin_gets_folded") - folded0, 4);
    EXPECT_PEEK(&srv, P_L1, "a:k", "va", 1);
    EXPECT_PEEK(&srv, P_L1, "b:k", NULL, 0);
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
    {
        TCase *tc = tcase_create("binary_batch");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, binary_batch_routes_per_key);
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    return orch_run(routes_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
