/*
 * check_compat.c - Netflix Rend's command line against the real rend:
 * `--l1-inmem` alone, and `--l1-inmem --l2-enabled --l2-sock S -bp 0` in
 * front of a real memcached (stock 1.6) as L2, with the batch listener
 * (the port file lists every listener: main, then batch).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "orch_check.h"

static struct orch srv;
static struct rend_srv mc;

static void
teardown(void)
{
    orch_stop(&srv, 0);
    rend_srv_stop(&mc, 5000, NULL);
}

/* One meta command to memcached; the reply (until quiet) in buf. */
static void
mc_meta(const char *req, char *buf, size_t cap)
{
    int fd = rend_srv_connect(&mc);
    size_t n;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(rend_io_send_str(fd, req, ORCH_IO_MS), 0);
    n = rend_io_read_quiet(fd, buf, cap - 1, 200, NULL);
    buf[n] = '\0';
    close(fd);
}

START_TEST(l1_inmem_alone)
{
    static const char *const args[] = { "--l1-inmem", NULL };
    struct orch_conn c;
    struct orch_item it;

    ck_assert_int_eq(orch_start_file(&srv, NULL, args), 0);
    ck_assert_int_eq(srv.nports, 1);
    for (int bin = 0; bin < 2; bin++) {
        ck_assert_int_eq(orch_connect(&srv, 0, bin, &c), 0);
        EXPECT_RES(&c, orch_store(&c, "set", "k", bin ? "b" : "t", 5, 0, 0),
                   ORCH_OK);
        EXPECT_RES(&c, orch_get(&c, "get", "k", 0, &it), ORCH_OK);
        ck_assert_str_eq(it.value, bin ? "b" : "t");
        ck_assert_uint_eq(it.flags, 5);
        orch_close(&c);
    }
    ck_assert_int_eq(orch_stat(&srv, NULL, "ops_l2"), 0);
}
END_TEST

START_TEST(l2_stock_memcached)
{
    const char *args[] = {
        "--l1-inmem", "--l2-enabled", "--l2-sock", NULL, "-bp", "0", NULL,
    };
    struct orch_conn c, cb, e;
    struct orch_item it;
    char reply[512];
    int ttl = -1;
    char *t;
    int rc = rend_srv_start_memcached(&mc, NULL);

    if (rc == -2) {
        fprintf(stderr, "check_compat: no memcached binary, skipped\n");
        return;
    }
    ck_assert_int_eq(rc, 0);
    orch_guard_srv(&mc);
    args[3] = mc.path;
    ck_assert_int_eq(orch_start_file(&srv, NULL, args), 0);
    ck_assert_int_eq(srv.nports, 2);

    /* a set with a TTL lands in memcached (L2) with that TTL */
    ck_assert_int_eq(orch_connect(&srv, 0, 0, &c), 0);
    EXPECT_RES(&c, orch_store(&c, "set", "k", "hello", 3, 1000, 0), ORCH_OK);
    orch_close(&c);
    mc_meta("mg k t f v\r\n", reply, sizeof(reply));
    t = strstr(reply, " t");
    ck_assert_msg(strncmp(reply, "VA 5 ", 5) == 0 && t != NULL,
                  "memcached: %s", reply);
    ttl = atoi(t + 2);
    ck_assert_msg(ttl > 990 && ttl <= 1000, "memcached TTL %d", ttl);
    ck_assert_msg(strstr(reply, " f3") != NULL, "memcached: %s", reply);

    /* restart rend: L1 (inmem) is empty, memcached still has k */
    ck_assert_int_eq(orch_stop(&srv, 0), 0);
    ck_assert_int_eq(orch_start_file(&srv, NULL, args), 0);
    ck_assert_int_eq(srv.nports, 2);
    ck_assert_int_eq(orch_connect(&srv, 0, 0, &c), 0);
    EXPECT_RES(&c, orch_get(&c, "get", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "hello");
    ck_assert_uint_eq(it.flags, 3);
    ck_assert_int_eq(orch_stat(&srv, NULL, "cmd_get_hits_l2"), 1);
    ck_assert_int_eq(orch_stat(&srv, NULL, "cmd_get_set_l1"), 1);
    /* now L1 serves it, back-filled with memcached's TTL */
    ck_assert_int_eq(orch_connect(&srv, 0, 1, &e), 0);
    EXPECT_RES(&e, orch_get(&e, "gete", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "hello");
    ck_assert_int_eq(orch_stat(&srv, NULL, "cmd_get_hits_l1"), 1);
    ck_assert_int_eq(orch_stat(&srv, NULL, "cmd_get_hits_l2"), 1);
    ck_assert_msg(it.exptime != 0, "the back-filled L1 copy is immortal");
    EXPECT_EXPIRY(it.exptime, ttl);

    /* the batch listener: writes reach memcached, never fill L1 */
    ck_assert_int_eq(orch_connect(&srv, 1, 0, &cb), 0);
    EXPECT_RES(&cb, orch_store(&cb, "set", "b", "bulk", 0, 0, 0), ORCH_OK);
    mc_meta("mg b v\r\n", reply, sizeof(reply));
    ck_assert_msg(strcmp(reply, "VA 4\r\nbulk\r\n") == 0, "memcached: %s",
                  reply);
    EXPECT_RES(&cb, orch_get(&cb, "get", "b", 0, &it), ORCH_OK);
    ck_assert_int_eq(orch_stat(&srv, NULL, "cmd_get_set_l1"), 1);
    EXPECT_RES(&c, orch_get(&c, "get", "b", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "bulk");
    ck_assert_int_eq(orch_stat(&srv, NULL, "cmd_get_hits_l2"), 3);
    ck_assert_int_eq(orch_stat(&srv, NULL, "cmd_get_set_l1"), 2);
    /* a delete through rend reaches memcached */
    EXPECT_RES(&c, orch_delete(&c, "k"), ORCH_OK);
    mc_meta("mg k v\r\n", reply, sizeof(reply));
    ck_assert_str_eq(reply, "EN\r\n");
    orch_close(&c);
    orch_close(&cb);
    orch_close(&e);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("compat");
    TCase *tc = tcase_create("flags");

    memset(&mc, 0, sizeof(mc));
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, l1_inmem_alone);
    tcase_add_test(tc, l2_stock_memcached);
    tcase_set_timeout(tc, 40);
    suite_add_tcase(s, tc);
    return orch_run(s) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
