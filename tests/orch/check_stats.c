/*
 * check_stats.c - every counter of `stats` moves when its event happens,
 * on every route kind (L1-only, L1/L2, L1/L2 batch) and protocol, and
 * `stats reset` zeroes them.  Both tiers are the fault plugin, so tier
 * failures can be scripted: L1 fails sets (enomem) and gets (eio) of keys
 * starting with "bad", L2 fails gets of keys starting with "zz".
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "orch_check.h"

enum { P_L1 = 0, P_L12 = 1, P_BATCH = 2 };

static struct orch srv;

static const char conf[] =
    "local so = env(\"ORCH_FAULT_SO\", \"\")\n"
    "local l1 = handler \"fault\" { plugin_path = so, name = \"l1\",\n"
    "    fail_prefix = \"bad\",\n"
    "    fail_set = \"enomem\", fail_get = \"eio\" }\n"
    "local l2 = handler \"fault\" { plugin_path = so, name = \"l2\",\n"
    "    fail_prefix = \"zz\",\n"
    "    fail_get = \"eio\" }\n"
    "listen { port = 0, address = \"127.0.0.1\","
    " routes = { default = l1only(l1) } }\n"
    "listen { port = 0, address = \"127.0.0.1\","
    " routes = { default = l1l2(l1, l2) } }\n"
    "listen { port = 0, address = \"127.0.0.1\","
    " routes = { default = l1l2_batch(l1, l2) } }\n"
    "settings { item_size_max = 4096, max_connections = 6 }\n";

static void
teardown(void)
{
    orch_stop(&srv, 0);
}

static int64_t
stat(const char *name)
{
    int64_t v = orch_stat(&srv, NULL, name);

    ck_assert_msg(v >= 0, "stats has no %s", name);
    return v;
}

#define EXPECT_STAT(name, want)                                            \
    ck_assert_msg(stat(name) == (want), "%s: %s = %lld, want %lld", ctx,  \
                  name, (long long)stat(name), (long long)(want))

static void
stats_reset(void)
{
    struct orch_conn t;
    char line[64];

    ck_assert_int_eq(orch_connect(&srv, P_L1, 0, &t), 0);
    ck_assert_int_eq(rend_io_send_str(t.fd, "stats reset\r\n", ORCH_IO_MS), 0);
    ck_assert_int_gt(rend_io_read_line(t.fd, line, sizeof(line), ORCH_IO_MS),
                     0);
    ck_assert_str_eq(line, "RESET\r\n");
    orch_close(&t);
}

/* A binary SET of 5000 bytes (over item_size_max); returns the status. */
static int
bin_set_too_large(int fd)
{
    unsigned char pkt[24 + 8 + 3 + 5000], hdr[24], body[64];
    uint32_t blen = 8 + 3 + 5000, rlen;

    memset(pkt, 0, sizeof(pkt));
    pkt[0] = 0x80;
    pkt[1] = 0x01;
    pkt[3] = 3;
    pkt[4] = 8;
    pkt[8] = (unsigned char)(blen >> 24);
    pkt[9] = (unsigned char)(blen >> 16);
    pkt[10] = (unsigned char)(blen >> 8);
    pkt[11] = (unsigned char)blen;
    memcpy(pkt + 32, "big", 3);
    memset(pkt + 35, 'b', 5000);
    ck_assert_int_eq(rend_io_send(fd, pkt, sizeof(pkt), ORCH_IO_MS), 0);
    ck_assert_uint_eq(rend_io_read_n(fd, hdr, 24, ORCH_IO_MS), 24);
    rlen = (uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16
           | (uint32_t)hdr[10] << 8 | hdr[11];
    ck_assert_uint_le(rlen, sizeof(body));
    ck_assert_uint_eq(rend_io_read_n(fd, body, rlen, ORCH_IO_MS), rlen);
    return hdr[6] << 8 | hdr[7];
}

/* The command counters: the same on every route kind.  _i = route * 2 +
 * binary. */
START_TEST(command_counters_move)
{
    int port = _i / 2, bin = _i % 2;
    struct orch_conn c;
    struct orch_item it;
    uint64_t n, cas;
    char big[5001], ctx[64];

    snprintf(ctx, sizeof(ctx), "listener %d, %s", port,
             bin ? "binary" : "text");
    ck_assert_int_eq(orch_start_text(&srv, conf), 0);
    ck_assert_int_eq(orch_connect(&srv, port, bin, &c), 0);
    /* some traffic, then a reset: everything reads 0 */
    EXPECT_RES(&c, orch_store(&c, "set", "pre", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c, orch_get(&c, "get", "pre", 0, &it), ORCH_OK);
    ck_assert_int_gt(stat("cmd_get"), 0);
    stats_reset();
    EXPECT_STAT("cmd_get", 0);
    EXPECT_STAT("cmd_set", 0);
    EXPECT_STAT("get_hits", 0);
    EXPECT_STAT("ops_l1", 0);

    EXPECT_RES(&c, orch_store(&c, "set", "a", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c, orch_get(&c, "get", "a", 0, &it), ORCH_OK);
    EXPECT_RES(&c, orch_get(&c, "get", "nx", 0, &it), ORCH_MISS);
    EXPECT_RES(&c, orch_delete(&c, "a"), ORCH_OK);
    EXPECT_RES(&c, orch_delete(&c, "a"), ORCH_NOT_FOUND);
    EXPECT_RES(&c, orch_store(&c, "set", "n", "5", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c, orch_arith(&c, "incr", "n", 1, &n), ORCH_OK);
    EXPECT_RES(&c, orch_arith(&c, "incr", "nx", 1, &n), ORCH_NOT_FOUND);
    EXPECT_RES(&c, orch_arith(&c, "decr", "n", 1, &n), ORCH_OK);
    EXPECT_RES(&c, orch_arith(&c, "decr", "nx", 1, &n), ORCH_NOT_FOUND);
    EXPECT_RES(&c, orch_touch(&c, "n", 100), ORCH_OK);
    EXPECT_RES(&c, orch_touch(&c, "nx", 100), ORCH_NOT_FOUND);
    EXPECT_RES(&c, orch_get(&c, bin ? "get" : "gets", "n", 0, &it), ORCH_OK);
    cas = it.cas;
    EXPECT_RES(&c, orch_store(&c, "cas", "n", "7", 0, 0, cas), ORCH_OK);
    EXPECT_RES(&c, orch_store(&c, "cas", "n", "8", 0, 0, cas), ORCH_EXISTS);
    EXPECT_RES(&c, orch_store(&c, "cas", "nx", "1", 0, 0, 1), ORCH_NOT_FOUND);
    EXPECT_RES(&c, orch_get(&c, "gat", "n", 100, &it), ORCH_OK);
    EXPECT_RES(&c, orch_get(&c, "gat", "nx", 100, &it), ORCH_MISS);
    memset(big, 'b', 5000);
    big[5000] = '\0';
    if (bin) {
        ck_assert_int_eq(bin_set_too_large(c.fd), 0x03); /* E2BIG */
    } else {
        char line[128];
        ck_assert_int_eq(rend_io_send_str(c.fd, "set big 0 0 5000\r\n",
                                          ORCH_IO_MS), 0);
        ck_assert_int_eq(rend_io_send_str(c.fd, big, ORCH_IO_MS), 0);
        ck_assert_int_eq(rend_io_send_str(c.fd, "\r\n", ORCH_IO_MS), 0);
        ck_assert_int_gt(rend_io_read_line(c.fd, line, sizeof(line),
                                           ORCH_IO_MS), 0);
        ck_assert_str_eq(line, "SERVER_ERROR object too large for cache\r\n");
    }
    EXPECT_RES(&c, orch_flush(&c), ORCH_OK);

    EXPECT_STAT("cmd_set", 5);   /* set a, set n, 3 cas */
    EXPECT_STAT("cmd_get", 5);   /* get a, get nx, gets n, 2 gat */
    EXPECT_STAT("get_hits", 2);  /* a, gets n (a gat hit is a touch hit) */
    EXPECT_STAT("get_misses", 1);
    EXPECT_STAT("delete_hits", 1);
    EXPECT_STAT("delete_misses", 1);
    EXPECT_STAT("incr_hits", 1);
    EXPECT_STAT("incr_misses", 1);
    EXPECT_STAT("decr_hits", 1);
    EXPECT_STAT("decr_misses", 1);
    EXPECT_STAT("cmd_touch", 4); /* 2 touch, 2 gat */
    EXPECT_STAT("touch_hits", 2);
    EXPECT_STAT("touch_misses", 2);
    EXPECT_STAT("cas_hits", 1);
    EXPECT_STAT("cas_badval", 1);
    EXPECT_STAT("cas_misses", 1);
    EXPECT_STAT("store_too_large", 1);
    EXPECT_STAT("cmd_flush", 1);
    EXPECT_STAT("handler_errors", 0);
    EXPECT_STAT("errors_l1", 0);
    EXPECT_STAT("errors_l2", 0);
    ck_assert_int_gt(stat("ops_l1"), 0);
    if (port == P_L1) {
        EXPECT_STAT("ops_l2", 0);
    } else {
        ck_assert_int_gt(stat("ops_l2"), 0);
    }
    orch_close(&c);
}
END_TEST

/* Meta requests count as the rows they run as (mg = get, md = delete, ma
 * = incr, ms = set), once each.  _i = route. */
START_TEST(meta_counts_as_its_rows)
{
    const char *ctx = "meta";
    struct orch_conn c;
    static const char req[] =
        "ms m 1\r\n5\r\nmg m v\r\nmg nx v\r\nma m\r\nma nx\r\n"
        "md m\r\nmd m\r\nmn\r\n";
    static const char want[] =
        "HD\r\nVA 1\r\n5\r\nEN\r\nHD\r\nNF\r\nHD\r\nNF\r\nMN\r\n";
    char got[sizeof(want)];

    ck_assert_int_eq(orch_start_text(&srv, conf), 0);
    ck_assert_int_eq(orch_connect(&srv, _i, 0, &c), 0);
    stats_reset();
    ck_assert_int_eq(rend_io_send_str(c.fd, req, ORCH_IO_MS), 0);
    ck_assert_uint_eq(rend_io_read_n(c.fd, got, sizeof(want) - 1, ORCH_IO_MS),
                      sizeof(want) - 1);
    got[sizeof(want) - 1] = '\0';
    ck_assert_str_eq(got, want);
    EXPECT_STAT("cmd_set", 1);
    EXPECT_STAT("cmd_get", 2);
    EXPECT_STAT("get_hits", 1);
    EXPECT_STAT("get_misses", 1);
    EXPECT_STAT("incr_hits", 1);
    EXPECT_STAT("incr_misses", 1);
    EXPECT_STAT("delete_hits", 1);
    EXPECT_STAT("delete_misses", 1);
    orch_close(&c);
}
END_TEST

/* The tier counters, per route kind.  _i = route * 2 + binary. */
START_TEST(tier_counters_move)
{
    int port = _i / 2, bin = _i % 2, l12 = port != P_L1;
    struct orch_conn c, v1;
    struct orch_item it;
    char ctx[64];

    snprintf(ctx, sizeof(ctx), "listener %d, %s", port,
             bin ? "binary" : "text");
    ck_assert_int_eq(orch_start_text(&srv, conf), 0);
    ck_assert_int_eq(orch_connect(&srv, port, bin, &c), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L1, 0, &v1), 0);

    /* a hit and a miss in L1 */
    EXPECT_RES(&c, orch_store(&c, "set", "ok", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c, orch_get(&c, "get", "ok", 0, &it), ORCH_OK);
    EXPECT_RES(&c, orch_get(&c, "get", "nx", 0, &it), ORCH_MISS);
    /* (the batch route's set only refreshes an L1 copy that exists, so
     * its get is an L2 hit) */
    EXPECT_STAT("cmd_get_hits_l1", port == P_BATCH ? 0 : 1);
    EXPECT_STAT("cmd_get_misses_l1", port == P_BATCH ? 2 : 1);
    EXPECT_STAT("cmd_get_hits_l2", port == P_BATCH ? 1 : 0);
    EXPECT_STAT("cmd_get_misses_l2", l12 ? 1 : 0);

    /* L1 refuses the set: the client's error on L1-only; on L1/L2 the
     * value is in L2 and the L1 copy is invalidated */
    EXPECT_RES(&c, orch_store(&c, "set", "bad1", "v", 0, 0, 0),
               l12 ? ORCH_OK : ORCH_SERVER_ERROR);
    EXPECT_STAT("errors_l1", 1);
    EXPECT_STAT("store_no_memory", l12 ? 0 : 1);
    EXPECT_STAT("l1_invalidations", l12 ? 1 : 0);

    /* L1 fails the get: the client's error on L1-only; L2 serves it on
     * L1/L2 (and the back-fill fails too, on the plain L1/L2 route) */
    EXPECT_RES(&c, orch_get(&c, "get", "bad1", 0, &it),
               l12 ? ORCH_OK : ORCH_SERVER_ERROR);
    EXPECT_STAT("cmd_get_errors_l1", 1);
    EXPECT_STAT("cmd_get_hits_l2", port == P_BATCH ? 2 : l12 ? 1 : 0);
    EXPECT_STAT("cmd_get_set_l1", port == P_L12 ? 1 : 0);
    EXPECT_STAT("cmd_get_set_errors_l1", port == P_L12 ? 1 : 0);
    EXPECT_STAT("errors_l1", port == P_L12 ? 3 : 2);
    EXPECT_STAT("handler_errors", l12 ? 0 : 2);
    EXPECT_STAT("errors_l2", 0);

    /* an L1 copy that L2 does not have, found by a touch-and-get */
    EXPECT_RES(&v1, orch_store(&v1, "set", "lone", "v", 0, 0, 0), ORCH_OK);
    /* (the batch route's gat asks L2 first, so it cannot notice) */
    EXPECT_RES(&c, orch_get(&c, "gat", "lone", 100, &it),
               l12 ? ORCH_MISS : ORCH_OK);
    EXPECT_STAT("inconsistency_detected", port == P_L12 ? 1 : 0);

    /* L2 fails a get (L1 missed): the client's error */
    EXPECT_RES(&c, orch_get(&c, "get", "zz1", 0, &it),
               l12 ? ORCH_SERVER_ERROR : ORCH_MISS);
    EXPECT_STAT("cmd_get_errors_l2", l12 ? 1 : 0);
    EXPECT_STAT("errors_l2", l12 ? 1 : 0);
    orch_close(&c);
    orch_close(&v1);
}
END_TEST

/* Connection-level counters (text; the same code serves binary). */
START_TEST(connection_counters_move)
{
    const char *ctx = "connections";
    struct orch_conn c, extra[8];
    int fds[8], nopen = 0;
    int64_t rd, wr;
    char *line, *big, *req;
    size_t n;

    ck_assert_int_eq(orch_start_text(&srv, conf), 0);
    stats_reset();
    EXPECT_STAT("total_connections", 1); /* the stat read's own */
    rd = stat("bytes_read");
    wr = stat("bytes_written");
    ck_assert_int_gt(rd, 0);
    ck_assert_int_gt(wr, 0);

    /* max_connections = 6: the seventh and later are refused */
    for (int i = 0; i < 8; i++) {
        if (orch_connect(&srv, P_L1, 0, &extra[i]) == 0) {
            fds[nopen++] = i;
        }
    }
    usleep(200000);
    for (int i = 0; i < nopen; i++) {
        orch_close(&extra[fds[i]]);
    }
    usleep(200000);
    ck_assert_int_gt(stat("rejected_connections"), 0);

    /* a command line past the line limit is a protocol error */
    ck_assert_int_eq(orch_connect(&srv, P_L1, 0, &c), 0);
    line = malloc(70000);
    ck_assert_ptr_nonnull(line);
    memset(line, 'a', 70000);
    rend_io_send(c.fd, line, 70000, ORCH_IO_MS);
    {
        char reply[256];
        int closed = 0;
        rend_io_read_quiet(c.fd, reply, sizeof(reply), 1000, &closed);
        ck_assert_msg(closed, "a too-long line did not close the connection");
    }
    orch_close(&c);
    free(line);
    ck_assert_int_gt(stat("protocol_errors"), 0);

    /* a client that does not read its replies makes rend stop reading */
    ck_assert_int_eq(orch_connect(&srv, P_L1, 0, &c), 0);
    big = malloc(901);
    ck_assert_ptr_nonnull(big);
    memset(big, 'v', 900);
    big[900] = '\0';
    EXPECT_RES(&c, orch_store(&c, "set", "big", big, 0, 0, 0), ORCH_OK);
    free(big);
    n = 20000 * strlen("get big\r\n");
    req = malloc(n);
    ck_assert_ptr_nonnull(req);
    for (size_t i = 0; i < 20000; i++) {
        memcpy(req + i * 9, "get big\r\n", 9);
    }
    {
        int one = 4096;
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one));
    }
    rend_io_send(c.fd, req, n, ORCH_IO_MS);
    free(req);
    for (int i = 0; i < 50 && stat("conn_yields") == 0; i++) {
        usleep(20000);
    }
    ck_assert_int_gt(stat("conn_yields"), 0);
    orch_close(&c);
    ck_assert_int_gt(stat("bytes_read"), rd);
    ck_assert_int_gt(stat("bytes_written"), wr);
    ck_assert_int_gt(stat("total_connections"), 3);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("counters");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, command_counters_move, 0, 6);
    tcase_add_loop_test(tc, tier_counters_move, 0, 6);
    tcase_add_loop_test(tc, meta_counts_as_its_rows, 0, 3);
    tcase_add_test(tc, connection_counters_move);
    suite_add_tcase(s, tc);
    return orch_run(s) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
