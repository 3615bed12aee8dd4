/*
 * check_cas.c - issue 9 §2: every cas a client sees is one that a
 * following cas (text) or SET-with-cas (binary) accepts, on every
 * orchestration and every kind of L1.
 *
 * Topologies (each with the listeners of tiers.lua: 0 L1/L2, 1 L1/L2
 * batch, 2 l1only(l1), 3 l1only(l2)):
 *   inmem + lmdb         the embedded default (L1 keeps L2's cas: FILL)
 *   inmem + rocksdb      (when the rocksdb handler is built)
 *   memcached + lmdb     a real memcached as L1 (its cas is its own)
 *   chunked + lmdb       the same in Rend's chunked layout
 * Every test runs for each topology, in text and in binary: loop index
 * _i = topology * 2 + binary.
 *
 * Before each test a few writes go to the L1 view only, so L1's own cas
 * counter is ahead of L2's: a cas shown from L1's counter can then never
 * pass for L2's by luck.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "orch_check.h"

enum { P_L12 = 0, P_BATCH = 1, P_L1 = 2, P_L2 = 3 };

enum { T_INMEM_LMDB, T_INMEM_ROCKSDB, T_MC_LMDB, T_CHUNKED_LMDB, NTOPO };

static const char *const topo_name[NTOPO] = {
    "inmem+lmdb", "inmem+rocksdb", "memcached+lmdb", "chunked+lmdb",
};

static struct orch srv;
static struct rend_srv mc;
static struct orch_conn c12, cb, cv1, cv2;
static int bin;

static void
setup(void)
{
    memset(&srv, 0, sizeof(srv));
    memset(&mc, 0, sizeof(mc));
}

static void
teardown(void)
{
    struct orch_conn *all[] = { &c12, &cb, &cv1, &cv2 };

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        orch_close(all[i]);
    }
    if (srv.srv.pid != 0) {
        orch_stop(&srv, 0);
    }
    if (mc.pid != 0) {
        rend_srv_stop(&mc, 2000, NULL);
    }
}

/* Start topology (_i / 2) and connect on protocol (_i % 2).  Returns 0,
 * or 1 when the topology is not built here (rocksdb). */
static int
start(int i)
{
    char l1[512], l2[256], conf[2048];
    int topo = i / 2;

    bin = i % 2;
#ifndef CAS_WITH_ROCKSDB
    if (topo == T_INMEM_ROCKSDB) {
        fprintf(stderr, "check_cas: rocksdb handler not built, skipped\n");
        return 1;
    }
#endif
    if (topo == T_MC_LMDB || topo == T_CHUNKED_LMDB) {
        int rc = rend_srv_start_memcached(&mc, NULL);

        ck_assert_msg(rc == 0, "check_cas: cannot start memcached (%d)", rc);
        orch_guard_srv(&mc);
        snprintf(l1, sizeof(l1),
                 "handler \"memcached\" { name = \"l1\", servers = \"%s\"%s }",
                 mc.path,
                 topo == T_CHUNKED_LMDB ? ", chunked = true" : "");
    } else {
        snprintf(l1, sizeof(l1),
                 "handler \"inmem\" { name = \"l1\", memory_mb = 32 }");
    }
    if (topo == T_INMEM_ROCKSDB) {
        snprintf(l2, sizeof(l2),
                 "handler \"rocksdb\" { name = \"l2\", path = dir .. "
                 "\"/rocksdb\" }");
    } else {
        snprintf(l2, sizeof(l2),
                 "handler \"lmdb\" { name = \"l2\", path = dir .. \"/lmdb\", "
                 "map_size_mb = 64 }");
    }
    snprintf(conf, sizeof(conf),
             "local dir = env(\"ORCH_DIR\", \"/tmp\")\n"
             "local l1 = %s\n"
             "local l2 = %s\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1l2(l1, l2) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1l2_batch(l1, l2) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1only(l1) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1only(l2) } }\n",
             l1, l2);
    ck_assert_msg(orch_start_text(&srv, conf) == 0, "%s: rend did not start",
                  topo_name[topo]);
    ck_assert_int_eq(srv.nports, 4);
    ck_assert_int_eq(orch_connect(&srv, P_L12, bin, &c12), 0);
    ck_assert_int_eq(orch_connect(&srv, P_BATCH, bin, &cb), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L1, bin, &cv1), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L2, bin, &cv2), 0);
    /* move L1's own cas counter ahead of L2's */
    for (int n = 0; n < 7; n++) {
        char k[16];

        snprintf(k, sizeof(k), "junk%d", n);
        EXPECT_RES(&cv1, orch_store(&cv1, "set", k, "j", 0, 0, 0), ORCH_OK);
    }
    return 0;
}

/* The cas a client would use next: text gets, binary get. */
static uint64_t
read_cas(struct orch_conn *c, const char *key, const char *want)
{
    struct orch_item it;

    EXPECT_RES(c, orch_get(c, c->bin ? "get" : "gets", key, 0, &it),
               ORCH_OK);
    if (want != NULL) {
        ck_assert_str_eq(it.value, want);
    }
    ck_assert_uint_ne(it.cas, 0);
    return it.cas;
}

/* A cas store: text cas, binary set with a cas. */
static int
cas_store(struct orch_conn *c, const char *key, const char *value,
          uint64_t cas)
{
    return orch_store(c, "cas", key, value, 0, 0, cas);
}

static struct orch_conn *
conn_of(int port)
{
    return port == P_L12 ? &c12 : port == P_BATCH ? &cb : &cv1;
}

/* ---- tests -------------------------------------------------------- */

/* set -> read the cas -> cas with it works, a stale one is refused, on
 * L1-only, L1/L2 and L1/L2 batch. */
START_TEST(read_cas_is_accepted)
{
    static const int ports[] = { P_L12, P_BATCH, P_L1 };

    if (start(_i)) {
        return;
    }
    for (size_t p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
        struct orch_conn *c = conn_of(ports[p]);
        char key[16];
        uint64_t cas, cas2;

        snprintf(key, sizeof(key), "rc%d", ports[p]);
        EXPECT_RES(c, orch_store(c, "set", key, "v1", 0, 0, 0), ORCH_OK);
        cas = read_cas(c, key, "v1");
        EXPECT_RES(c, cas_store(c, key, "v2", cas), ORCH_OK);
        EXPECT_RES(c, cas_store(c, key, "v3", cas), ORCH_EXISTS);
        /* read again (an L1 hit now, where L1 has a copy) */
        cas2 = read_cas(c, key, "v2");
        ck_assert_uint_ne(cas2, cas);
        cas2 = read_cas(c, key, "v2");
        EXPECT_RES(c, cas_store(c, key, "v4", cas2), ORCH_OK);
        ck_assert_str_eq(c->last, bin ? "status 0" : "STORED");
        (void)read_cas(c, key, "v4");
    }
    /* batch over a key L1 holds: the refreshed copy's cas works too */
    EXPECT_RES(&c12, orch_store(&c12, "set", "bk", "online", 0, 0, 0),
               ORCH_OK);
    (void)read_cas(&c12, "bk", "online");
    EXPECT_RES(&cb, orch_store(&cb, "set", "bk", "bulk", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, cas_store(&c12, "bk", "after", read_cas(&c12, "bk",
                                                            "bulk")),
               ORCH_OK);
    EXPECT_RES(&cb, cas_store(&cb, "bk", "after2", read_cas(&cb, "bk",
                                                           "after")),
               ORCH_OK);
}
END_TEST

/* The report: binary SET answers a cas, GET must answer the same
 * one, and SET with it must be accepted. */
START_TEST(binary_set_get_set_cas)
{
    static const int ports[] = { P_L12, P_BATCH, P_L1 };

    if (start(_i)) {
        return;
    }
    if (!bin) {
        return;
    }
    for (size_t p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
        struct orch_conn *c = conn_of(ports[p]);
        char key[16];
        uint64_t set_cas, get_cas;

        snprintf(key, sizeof(key), "sg%d", ports[p]);
        EXPECT_RES(c, orch_bin_cas(c, "set", key, "a", 0), ORCH_OK);
        set_cas = c->last_cas;
        ck_assert_uint_ne(set_cas, 0);
        get_cas = read_cas(c, key, "a");
        ck_assert_msg(get_cas == set_cas, "port %d: SET answered cas %llu, "
                      "GET %llu", ports[p], (unsigned long long)set_cas,
                      (unsigned long long)get_cas);
        EXPECT_RES(c, orch_bin_cas(c, "set", key, "b", get_cas), ORCH_OK);
        EXPECT_RES(c, orch_bin_cas(c, "set", key, "c", get_cas),
                   ORCH_EXISTS);
        ck_assert_uint_eq(read_cas(c, key, "b"), c->last_cas);
    }
}
END_TEST

/* After the L1 copy is gone (evicted), a cas seen before still works,
 * and so does one read after the back-fill. */
START_TEST(cas_survives_l1_eviction)
{
    uint64_t cas;

    if (start(_i)) {
        return;
    }
    EXPECT_RES(&c12, orch_store(&c12, "set", "ev", "v1", 0, 0, 0), ORCH_OK);
    cas = read_cas(&c12, "ev", "v1");
    /* the eviction */
    (void)orch_delete(&cv1, "ev");
    EXPECT_PEEK(&srv, P_L1, "ev", NULL, 0);
    EXPECT_RES(&c12, cas_store(&c12, "ev", "v2", cas), ORCH_OK);

    (void)orch_delete(&cv1, "ev");
    /* a plain get back-fills L1 ... */
    EXPECT_RES(&c12, orch_get(&c12, "get", "ev", 0, NULL), ORCH_OK);
    /* ... and the cas read next (from that copy where L1 keeps L2's cas)
     * is accepted */
    cas = read_cas(&c12, "ev", "v2");
    EXPECT_RES(&c12, cas_store(&c12, "ev", "v3", cas), ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "ev", "v3", 1);
    /* an eviction between the read and the cas */
    cas = read_cas(&c12, "ev", "v3");
    (void)orch_delete(&cv1, "ev");
    EXPECT_RES(&c12, cas_store(&c12, "ev", "v4", cas), ORCH_OK);
    EXPECT_RES(&c12, cas_store(&c12, "ev", "v5", cas), ORCH_EXISTS);
    (void)read_cas(&c12, "ev", "v4");
}
END_TEST

/* gats (text) / gat (binary) show a cas that cas accepts. */
START_TEST(gat_cas_is_accepted)
{
    static const int ports[] = { P_L12, P_BATCH, P_L1 };

    if (start(_i)) {
        return;
    }
    for (size_t p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
        struct orch_conn *c = conn_of(ports[p]);
        struct orch_item it;
        char key[16];

        snprintf(key, sizeof(key), "gt%d", ports[p]);
        EXPECT_RES(c, orch_store(c, "set", key, "v", 0, 0, 0), ORCH_OK);
        /* twice: an L1 miss or hit, then surely a hit where L1 fills */
        for (int n = 0; n < 2; n++) {
            EXPECT_RES(c, orch_get(c, bin ? "gat" : "gats", key, 100, &it),
                       ORCH_OK);
            ck_assert_str_eq(it.value, n == 0 ? "v" : "w");
            EXPECT_RES(c, cas_store(c, key, "w", it.cas), ORCH_OK);
        }
    }
}
END_TEST

/* An L1 copy that disagrees with L2 (a lost race, or a write through
 * another route): a cas loop must converge in a retry or two. */
START_TEST(stale_l1_copy_converges)
{
    int tries = 0, res = ORCH_EXISTS;

    if (start(_i)) {
        return;
    }
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "st", "truth", 0, 0, 0),
               ORCH_OK);
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "st", "stale", 0, 0, 0),
               ORCH_OK);
    while (res == ORCH_EXISTS && tries < 3) {
        uint64_t cas = read_cas(&c12, "st", NULL);

        res = cas_store(&c12, "st", "mine", cas);
        tries++;
    }
    EXPECT_RES(&c12, res, ORCH_OK);
    ck_assert_int_le(tries, 2);
    EXPECT_PEEK(&srv, P_L2, "st", "mine", 1);
    (void)read_cas(&c12, "st", "mine");
}
END_TEST

/* Binary delete, append, prepend, incr, decr honour a request cas as
 * memcached does: a cas that differs -> "exists", a missing item ->
 * as without a cas. */
START_TEST(binary_request_cas_on_other_writes)
{
    static const int ports[] = { P_L12, P_BATCH, P_L1 };

    if (start(_i)) {
        return;
    }
    if (!bin) {
        return;
    }
    for (size_t p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
        struct orch_conn *c = conn_of(ports[p]);
        char key[16], miss[16];
        uint64_t cas;

        snprintf(key, sizeof(key), "ow%d", ports[p]);
        snprintf(miss, sizeof(miss), "owmiss%d", ports[p]);
        EXPECT_RES(c, orch_bin_cas(c, "delete", miss, NULL, 5),
                   ORCH_NOT_FOUND);
        EXPECT_RES(c, orch_bin_cas(c, "append", miss, "x", 5),
                   ORCH_NOT_STORED);
        EXPECT_RES(c, orch_bin_cas(c, "incr", miss, NULL, 5),
                   ORCH_NOT_FOUND);

        EXPECT_RES(c, orch_store(c, "set", key, "1", 0, 0, 0), ORCH_OK);
        cas = read_cas(c, key, "1");
        EXPECT_RES(c, orch_bin_cas(c, "append", key, "2", cas + 1000),
                   ORCH_EXISTS);
        EXPECT_RES(c, orch_bin_cas(c, "prepend", key, "0", cas + 1000),
                   ORCH_EXISTS);
        EXPECT_RES(c, orch_bin_cas(c, "incr", key, NULL, cas + 1000),
                   ORCH_EXISTS);
        EXPECT_RES(c, orch_bin_cas(c, "decr", key, NULL, cas + 1000),
                   ORCH_EXISTS);
        EXPECT_RES(c, orch_bin_cas(c, "delete", key, NULL, cas + 1000),
                   ORCH_EXISTS);
        cas = read_cas(c, key, "1");
        EXPECT_RES(c, orch_bin_cas(c, "append", key, "2", cas), ORCH_OK);
        /* the cas it answered is the item's */
        cas = c->last_cas;
        ck_assert_uint_eq(read_cas(c, key, "12"), cas);
        EXPECT_RES(c, orch_bin_cas(c, "prepend", key, "3", cas), ORCH_OK);
        cas = read_cas(c, key, "312");
        EXPECT_RES(c, orch_bin_cas(c, "incr", key, NULL, cas), ORCH_OK);
        cas = read_cas(c, key, "313");
        EXPECT_RES(c, orch_bin_cas(c, "decr", key, NULL, cas), ORCH_OK);
        cas = read_cas(c, key, "312");
        EXPECT_RES(c, orch_bin_cas(c, "delete", key, NULL, cas), ORCH_OK);
        EXPECT_RES(c, orch_get(c, "get", key, 0, NULL), ORCH_MISS);
        EXPECT_PEEK(&srv, P_L1, key, NULL, 0);
    }
}
END_TEST

/* Which reads copy an L2 item into L1: all of them when L1 keeps L2's
 * cas; with a memcached L1 a read that shows a cas (gets, binary get)
 * bypasses L1 and adds no copy, while text get fills as always. */
START_TEST(fill_policy)
{
    int keeps;

    if (start(_i)) {
        return;
    }
    keeps = _i / 2 == T_INMEM_LMDB || _i / 2 == T_INMEM_ROCKSDB;
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "fp", "v", 0, 0, 0), ORCH_OK);
    (void)read_cas(&c12, "fp", "v");
    EXPECT_PEEK(&srv, P_L1, "fp", keeps ? "v" : NULL, keeps);
    if (!bin) {
        (void)orch_delete(&cv1, "fp");
        EXPECT_RES(&c12, orch_get(&c12, "get", "fp", 0, NULL), ORCH_OK);
        EXPECT_PEEK(&srv, P_L1, "fp", "v", 1);
    }
}
END_TEST

static Suite *
cas_suite(void)
{
    Suite *s = suite_create("cas");
    const struct {
        const char *name;
        const TTest *t;
    } tests[] = {
        { "read_cas", read_cas_is_accepted },
        { "bin_set_get_set", binary_set_get_set_cas },
        { "eviction", cas_survives_l1_eviction },
        { "gat", gat_cas_is_accepted },
        { "stale_l1", stale_l1_copy_converges },
        { "other_writes", binary_request_cas_on_other_writes },
        { "fill_policy", fill_policy },
    };

    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, tests[i].t, 0, NTOPO * 2);
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    return orch_run(cas_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
