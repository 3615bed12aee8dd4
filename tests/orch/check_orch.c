/*
 * check_orch.c - the orchestration table of README.md ("Orchestrations")
 * over the wire against the real rend: inmem L1 + lmdb L2 in a temp dir
 * (conf/tiers.lua).  Every test runs twice: text (_i = 0) and binary
 * (_i = 1).  Listeners: 0 L1/L2, 1 L1/L2 batch, 2 l1only(l1) (a view of
 * L1), 3 l1only(l2) (a view of L2).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "orch_check.h"

enum { P_L12 = 0, P_BATCH = 1, P_L1 = 2, P_L2 = 3 };

static struct orch srv;
/* on the protocol under test: L1/L2, batch, L1 view, L2 view */
static struct orch_conn c12, cb, cv1, cv2;
/* binary GetE on the views (expiry checks) */
static struct orch_conn e1, e2;

static void
setup(void)
{
    char conf[512];

    ck_assert_int_eq(orch_start_file(&srv, orch_conf_path(conf, sizeof(conf),
                                                          "tiers.lua"),
                                     NULL), 0);
    ck_assert_int_eq(srv.nports, 4);
}

static void
teardown(void)
{
    struct orch_conn *all[] = { &c12, &cb, &cv1, &cv2, &e1, &e2 };

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        orch_close(all[i]);
    }
    orch_stop(&srv, 0);
}

static void
connect_all(int bin)
{
    ck_assert_int_eq(orch_connect(&srv, P_L12, bin, &c12), 0);
    ck_assert_int_eq(orch_connect(&srv, P_BATCH, bin, &cb), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L1, bin, &cv1), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L2, bin, &cv2), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L1, 1, &e1), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L2, 1, &e2), 0);
}

/* The absolute expiry of key on a view (binary GetE); the item must be
 * there. */
static int64_t
expiry_on(struct orch_conn *e, const char *key)
{
    struct orch_item it;

    EXPECT_RES(e, orch_get(e, "gete", key, 0, &it), ORCH_OK);
    return it.exptime;
}

static int64_t
stat(const char *name)
{
    return orch_stat(&srv, NULL, name);
}

/* ---- L1-only ------------------------------------------------------ */

START_TEST(l1only_all_commands)
{
    struct orch_conn *c = &cv1;
    struct orch_item it;
    uint64_t n = 0;

    connect_all(_i);
    EXPECT_RES(c, orch_store(c, "set", "a", "1", 3, 0, 0), ORCH_OK);
    EXPECT_RES(c, orch_get(c, "get", "a", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "1");
    ck_assert_uint_eq(it.flags, 3);
    EXPECT_RES(c, orch_store(c, "add", "a", "x", 0, 0, 0), ORCH_NOT_STORED);
    EXPECT_RES(c, orch_store(c, "add", "b", "2", 0, 0, 0), ORCH_OK);
    EXPECT_RES(c, orch_store(c, "replace", "zz", "x", 0, 0, 0),
               ORCH_NOT_STORED);
    EXPECT_RES(c, orch_store(c, "replace", "b", "3", 0, 0, 0), ORCH_OK);
    EXPECT_RES(c, orch_store(c, "append", "b", "4", 0, 0, 0), ORCH_OK);
    EXPECT_RES(c, orch_store(c, "prepend", "b", "2", 0, 0, 0), ORCH_OK);
    EXPECT_RES(c, orch_get(c, "gets", "b", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "234");
    EXPECT_RES(c, orch_store(c, "cas", "b", "9", 0, 0, it.cas + 1000),
               ORCH_EXISTS);
    EXPECT_RES(c, orch_store(c, "cas", "b", "9", 0, 0, it.cas), ORCH_OK);
    EXPECT_RES(c, orch_arith(c, "incr", "b", 5, &n), ORCH_OK);
    ck_assert_uint_eq(n, 14);
    EXPECT_RES(c, orch_arith(c, "decr", "b", 20, &n), ORCH_OK);
    ck_assert_uint_eq(n, 0);
    EXPECT_RES(c, orch_touch(c, "b", 100), ORCH_OK);
    ck_assert_int_eq(orch_unix_now() + 100 - expiry_on(&e1, "b") <= 2, 1);
    EXPECT_RES(c, orch_get(c, "gat", "b", 200, &it), ORCH_OK);
    EXPECT_EXPIRY(expiry_on(&e1, "b"), 200);
    EXPECT_RES(c, orch_delete(c, "b"), ORCH_OK);
    EXPECT_RES(c, orch_delete(c, "b"), ORCH_NOT_FOUND);
    EXPECT_RES(c, orch_flush(c), ORCH_OK);
    EXPECT_RES(c, orch_get(c, "get", "a", 0, &it), ORCH_MISS);
    /* nothing reached L2 */
    EXPECT_PEEK(&srv, P_L2, "a", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "b", NULL, 0);
    ck_assert_int_eq(stat("ops_l2"), 0);
}
END_TEST

/* ---- L1/L2 reads -------------------------------------------------- */

START_TEST(l12_get_backfills_l1)
{
    struct orch_item it;
    int64_t e_l2, ops_l2, hits_l1;

    connect_all(_i);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "k", "from-l2", 7, 1000, 0),
               ORCH_OK);
    e_l2 = expiry_on(&e2, "k");
    EXPECT_EXPIRY(e_l2, 1000);
    EXPECT_RES(&cv1, orch_get(&cv1, "get", "k", 0, NULL), ORCH_MISS);

    EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "from-l2");
    ck_assert_uint_eq(it.flags, 7);
    ck_assert_int_eq(stat("cmd_get_hits_l2"), 1);
    ck_assert_int_eq(stat("cmd_get_set_l1"), 1);
    /* the back-fill: L2's flags and L2's absolute expiry */
    EXPECT_RES(&e1, orch_get(&e1, "gete", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "from-l2");
    ck_assert_uint_eq(it.flags, 7);
    ck_assert_int_eq(it.exptime, e_l2);

    /* L1 serves from now on: L2 is not asked again (the L1-view reads
     * above count as L1 hits too: take a baseline) */
    ops_l2 = stat("ops_l2");
    hits_l1 = stat("cmd_get_hits_l1");
    for (int i = 0; i < 3; i++) {
        EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_OK);
        ck_assert_str_eq(it.value, "from-l2");
    }
    ck_assert_int_eq(stat("ops_l2"), ops_l2);
    ck_assert_int_eq(stat("cmd_get_hits_l1"), hits_l1 + 3);
    ck_assert_int_eq(stat("cmd_get_hits_l2"), 1);

    if (_i == 1) {
        /* Rend's GetE through L1/L2: L2's absolute expiry, back-filled */
        EXPECT_RES(&cv2, orch_store(&cv2, "set", "e", "v", 2, 700, 0),
                   ORCH_OK);
        EXPECT_RES(&c12, orch_get(&c12, "gete", "e", 0, &it), ORCH_OK);
        ck_assert_int_eq(it.exptime, expiry_on(&e2, "e"));
        ck_assert_uint_eq(it.flags, 2);
        ck_assert_int_eq(expiry_on(&e1, "e"), it.exptime);
    }
    /* an immortal L2 item stays immortal in L1 */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "forever", "v", 0, 0, 0),
               ORCH_OK);
    EXPECT_RES(&c12, orch_get(&c12, "get", "forever", 0, NULL), ORCH_OK);
    ck_assert_int_eq(expiry_on(&e1, "forever"), 0);

    /* a miss on both tiers */
    EXPECT_RES(&c12, orch_get(&c12, "get", "none", 0, NULL), ORCH_MISS);
    ck_assert_int_eq(stat("cmd_get_misses_l2"), 1);
    EXPECT_PEEK(&srv, P_L1, "none", NULL, 0);
}
END_TEST

START_TEST(l12_gets_returns_l2_cas)
{
    struct orch_item it, l2;

    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v1", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", "v1", 1);
    EXPECT_PEEK(&srv, P_L2, "k", "v1", 1);
    EXPECT_RES(&c12, orch_get(&c12, "gets", "k", 0, &it), ORCH_OK);
    EXPECT_RES(&cv2, orch_get(&cv2, "gets", "k", 0, &l2), ORCH_OK);
    ck_assert_uint_eq(it.cas, l2.cas);
    ck_assert_uint_ne(it.cas, 0);

    EXPECT_RES(&c12, orch_store(&c12, "cas", "k", "v2", 0, 0, it.cas),
               ORCH_OK);
    /* cas acts on L2; L1 gets the new value under L2's new cas */
    EXPECT_PEEK(&srv, P_L2, "k", "v2", 1);
    EXPECT_PEEK(&srv, P_L1, "k", "v2", 1);
    EXPECT_RES(&c12, orch_store(&c12, "cas", "k", "v3", 0, 0, it.cas),
               ORCH_EXISTS);
    /* a refused cas also drops the L1 copy (it may be a stale one) */
    EXPECT_PEEK(&srv, P_L1, "k", NULL, 0);
    EXPECT_RES(&c12, orch_store(&c12, "cas", "nokey", "v", 0, 0, 1),
               ORCH_NOT_FOUND);

    /* gets back-fills L1, and its cas works again */
    EXPECT_RES(&c12, orch_get(&c12, "gets", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "v2");
    EXPECT_PEEK(&srv, P_L1, "k", "v2", 1);
    EXPECT_RES(&c12, orch_store(&c12, "cas", "k", "v4", 0, 0, it.cas),
               ORCH_OK);
    EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "v4");
}
END_TEST

/* ---- L1/L2 writes ------------------------------------------------- */

START_TEST(l12_set_writes_both)
{
    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v", 5, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", "v", 1);
    EXPECT_PEEK(&srv, P_L2, "k", "v", 1);
    /* set with a TTL: both tiers get the same absolute expiry */
    EXPECT_RES(&c12, orch_store(&c12, "set", "t", "v", 0, 500, 0), ORCH_OK);
    EXPECT_EXPIRY(expiry_on(&e1, "t"), 500);
    ck_assert_int_eq(expiry_on(&e1, "t"), expiry_on(&e2, "t"));
}
END_TEST

START_TEST(l12_delete_reaches_both_and_stale_l1)
{
    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_delete(&c12, "k"), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "k", NULL, 0);
    /* a stale L1 copy (L2 has no item) is removed; the client hears L2 */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "s", "stale", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_delete(&c12, "s"), ORCH_NOT_FOUND);
    EXPECT_PEEK(&srv, P_L1, "s", NULL, 0);
    /* L2 only: deleted there, L1 miss is fine */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "o", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_delete(&c12, "o"), ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "o", NULL, 0);
}
END_TEST

START_TEST(l12_touch)
{
    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_touch(&c12, "k", 1000), ORCH_OK);
    EXPECT_EXPIRY(expiry_on(&e1, "k"), 1000);
    EXPECT_EXPIRY(expiry_on(&e2, "k"), 1000);
    /* touch of an L2-missing key removes the stale L1 copy */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "s", "stale", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_touch(&c12, "s", 100), ORCH_NOT_FOUND);
    EXPECT_PEEK(&srv, P_L1, "s", NULL, 0);
    /* L2 only: touched there, not added to L1 */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "o", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_touch(&c12, "o", 300), ORCH_OK);
    EXPECT_EXPIRY(expiry_on(&e2, "o"), 300);
    EXPECT_PEEK(&srv, P_L1, "o", NULL, 0);
}
END_TEST

START_TEST(l12_add_replace_per_tier)
{
    connect_all(_i);
    /* add: L2 decides; a stale L1 copy is overwritten */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "a", "stale", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "add", "a", "new", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "a", "new", 1);
    EXPECT_PEEK(&srv, P_L2, "a", "new", 1);
    EXPECT_RES(&c12, orch_store(&c12, "add", "a", "again", 0, 0, 0),
               ORCH_NOT_STORED);
    EXPECT_PEEK(&srv, P_L1, "a", "new", 1);
    /* add refused by L2 although L1 has no copy */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "b", "l2", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "add", "b", "x", 0, 0, 0),
               ORCH_NOT_STORED);
    EXPECT_PEEK(&srv, P_L1, "b", NULL, 0);

    /* replace: L2 decides even when L1 has the key */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "r", "l1", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "replace", "r", "x", 0, 0, 0),
               ORCH_NOT_STORED);
    EXPECT_PEEK(&srv, P_L2, "r", NULL, 0);
    /* L2 has it, L1 does not: stored, L1 stays without it */
    EXPECT_RES(&c12, orch_store(&c12, "replace", "b", "r2", 0, 0, 0),
               ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "b", "r2", 1);
    EXPECT_PEEK(&srv, P_L1, "b", NULL, 0);
    /* both have it: both replaced */
    EXPECT_RES(&c12, orch_store(&c12, "replace", "a", "r3", 0, 0, 0),
               ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "a", "r3", 1);
    EXPECT_PEEK(&srv, P_L2, "a", "r3", 1);
}
END_TEST

START_TEST(l12_append_prepend)
{
    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "b", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "append", "k", "c", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "prepend", "k", "a", 0, 0, 0),
               ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "k", "abc", 1);
    /* inmem L1 keeps L2's cas: an appended copy would get L1's own, so
     * the copy is deleted and the next get back-fills it */
    EXPECT_PEEK(&srv, P_L1, "k", NULL, 0);
    EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, NULL), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", "abc", 1);
    /* L2 only: appended there, L1 miss is fine */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "o", "x", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "append", "o", "y", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "o", "xy", 1);
    EXPECT_PEEK(&srv, P_L1, "o", NULL, 0);
    /* L1 only: L2 refuses, L1 untouched */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "s", "l1", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "prepend", "s", "z", 0, 0, 0),
               ORCH_NOT_STORED);
    EXPECT_PEEK(&srv, P_L1, "s", "l1", 1);
}
END_TEST

START_TEST(l12_incr_decr_invalidate_l1)
{
    uint64_t n = 0;

    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "n", "10", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "n", "10", 1);
    EXPECT_RES(&c12, orch_arith(&c12, "incr", "n", 5, &n), ORCH_OK);
    ck_assert_uint_eq(n, 15);
    EXPECT_PEEK(&srv, P_L1, "n", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "n", "15", 1);
    /* get back-fills, decr invalidates again */
    EXPECT_RES(&c12, orch_get(&c12, "get", "n", 0, NULL), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "n", "15", 1);
    EXPECT_RES(&c12, orch_arith(&c12, "decr", "n", 20, &n), ORCH_OK);
    ck_assert_uint_eq(n, 0);
    EXPECT_PEEK(&srv, P_L1, "n", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "n", "0 ", 1); /* memcached's padding */
    /* L2 decides: an L1-only number is not found */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "m", "7", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_arith(&c12, "incr", "m", 1, &n), ORCH_NOT_FOUND);
    EXPECT_RES(&c12, orch_store(&c12, "set", "t", "abc", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_arith(&c12, "incr", "t", 1, &n), ORCH_NON_NUMERIC);
    if (_i == 1) {
        /* binary initial value: added on L2 (the owner), not in L1 */
        EXPECT_RES(&c12, orch_arith_init(&c12, "incr", "i", 1, 42, &n),
                   ORCH_OK);
        ck_assert_uint_eq(n, 42);
        EXPECT_PEEK(&srv, P_L2, "i", "42", 1);
        EXPECT_PEEK(&srv, P_L1, "i", NULL, 0);
        EXPECT_RES(&c12, orch_arith_init(&c12, "incr", "i", 1, 42, &n),
                   ORCH_OK);
        ck_assert_uint_eq(n, 43);
    }
}
END_TEST

START_TEST(l12_gat)
{
    struct orch_item it, l2;

    connect_all(_i);
    /* L1 hit + L2 miss: a miss, the L1 copy goes, inconsistency counted */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "s", "stale", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_get(&c12, "gat", "s", 100, NULL), ORCH_MISS);
    ck_assert_int_eq(stat("inconsistency_detected"), 1);
    EXPECT_PEEK(&srv, P_L1, "s", NULL, 0);
    /* L2 only: L2.gat, back-filled with the new expiry */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "o", "v", 4, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_get(&c12, "gat", "o", 100, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "v");
    ck_assert_uint_eq(it.flags, 4);
    EXPECT_EXPIRY(expiry_on(&e1, "o"), 100);
    EXPECT_EXPIRY(expiry_on(&e2, "o"), 100);
    /* both: both get the new expiry */
    EXPECT_RES(&c12, orch_store(&c12, "set", "b", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_get(&c12, "gat", "b", 200, &it), ORCH_OK);
    EXPECT_EXPIRY(expiry_on(&e1, "b"), 200);
    EXPECT_EXPIRY(expiry_on(&e2, "b"), 200);
    EXPECT_RES(&c12, orch_get(&c12, "gat", "none", 200, NULL), ORCH_MISS);
    ck_assert_int_eq(stat("inconsistency_detected"), 1);
    if (_i == 0) {
        /* gats: L2.gat (L2's cas) and back-fill */
        EXPECT_RES(&cv2, orch_store(&cv2, "set", "g", "v", 0, 0, 0), ORCH_OK);
        EXPECT_RES(&c12, orch_get(&c12, "gats", "g", 300, &it), ORCH_OK);
        EXPECT_RES(&cv2, orch_get(&cv2, "gets", "g", 0, &l2), ORCH_OK);
        ck_assert_uint_eq(it.cas, l2.cas);
        EXPECT_EXPIRY(expiry_on(&e1, "g"), 300);
        EXPECT_RES(&c12, orch_store(&c12, "cas", "g", "w", 0, 0, it.cas),
                   ORCH_OK);
    }
}
END_TEST

START_TEST(l12_flush_both)
{
    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "a", "1", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "b", "2", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "c", "3", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_flush(&c12), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "a", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "a", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "b", NULL, 0);
    EXPECT_PEEK(&srv, P_L1, "c", NULL, 0);
}
END_TEST

/* ---- L1/L2 batch -------------------------------------------------- */

START_TEST(batch_never_fills_l1)
{
    struct orch_item it;

    connect_all(_i);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "o", "l2", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_get(&cb, "get", "o", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "l2");
    EXPECT_PEEK(&srv, P_L1, "o", NULL, 0);
    ck_assert_int_eq(stat("cmd_get_set_l1"), 0);
    EXPECT_RES(&cb, orch_get(&cb, "gets", "o", 0, &it), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "o", NULL, 0);

    EXPECT_RES(&cb, orch_store(&cb, "set", "s", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "s", "v", 1);
    EXPECT_PEEK(&srv, P_L1, "s", NULL, 0);
    EXPECT_RES(&cb, orch_store(&cb, "add", "a", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "a", "v", 1);
    EXPECT_PEEK(&srv, P_L1, "a", NULL, 0);
    EXPECT_RES(&cb, orch_store(&cb, "add", "a", "w", 0, 0, 0),
               ORCH_NOT_STORED);
    ck_assert_int_eq(stat("cmd_get_set_l1"), 0);
}
END_TEST

START_TEST(batch_refreshes_existing_l1)
{
    struct orch_item it;
    int64_t hits_l1;

    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v1", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_store(&cb, "set", "k", "v2", 9, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", "v2", 1);
    EXPECT_PEEK(&srv, P_L2, "k", "v2", 1);
    EXPECT_RES(&cv1, orch_get(&cv1, "get", "k", 0, &it), ORCH_OK);
    ck_assert_uint_eq(it.flags, 9);
    /* add refused by L2 leaves L1 alone */
    EXPECT_RES(&cb, orch_store(&cb, "add", "k", "v3", 0, 0, 0),
               ORCH_NOT_STORED);
    EXPECT_PEEK(&srv, P_L1, "k", "v2", 1);
    /* batch get serves the L1 copy */
    hits_l1 = stat("cmd_get_hits_l1");
    EXPECT_RES(&cb, orch_get(&cb, "get", "k", 0, &it), ORCH_OK);
    ck_assert_int_eq(stat("cmd_get_hits_l1"), hits_l1 + 1);
    /* writes behave as L1/L2: delete reaches both */
    EXPECT_RES(&cb, orch_delete(&cb, "k"), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "k", NULL, 0);
}
END_TEST

START_TEST(batch_other_writes_as_l12)
{
    uint64_t n = 0;

    connect_all(_i);
    /* replace / append on both tiers; an L2-only key stays out of L1 */
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "b", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_store(&cb, "replace", "k", "r", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", "r", 1);
    EXPECT_RES(&cb, orch_store(&cb, "append", "k", "s", 0, 0, 0), ORCH_OK);
    /* append: the L1 copy (it would not keep L2's cas) is deleted */
    EXPECT_PEEK(&srv, P_L1, "k", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "k", "rs", 1);
    EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, NULL), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", "rs", 1);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "o", "x", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_store(&cb, "prepend", "o", "w", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "o", "wx", 1);
    EXPECT_PEEK(&srv, P_L1, "o", NULL, 0);
    /* incr acts on L2 and invalidates L1 */
    EXPECT_RES(&c12, orch_store(&c12, "set", "n", "1", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_arith(&cb, "incr", "n", 2, &n), ORCH_OK);
    ck_assert_uint_eq(n, 3);
    EXPECT_PEEK(&srv, P_L1, "n", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "n", "3", 1);
    /* touch of an L2-missing key removes the stale L1 copy */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "s", "stale", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_touch(&cb, "s", 100), ORCH_NOT_FOUND);
    EXPECT_PEEK(&srv, P_L1, "s", NULL, 0);
    EXPECT_RES(&cb, orch_touch(&cb, "k", 100), ORCH_OK);
    EXPECT_EXPIRY(expiry_on(&e1, "k"), 100);
    EXPECT_EXPIRY(expiry_on(&e2, "k"), 100);
    /* flush reaches both */
    EXPECT_RES(&cb, orch_flush(&cb), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "k", NULL, 0);
}
END_TEST

START_TEST(batch_gets_reads_l1_first)
{
    struct orch_item it;

    /* README: batch gets reads L2 (its cas is the one cas checks) and does
     * not back-fill L1 */
    connect_all(_i);
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "k", "l1", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "k", "l2", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_get(&cb, "gets", "k", 0, &it), ORCH_OK);
    /* binary has no gets: its get (L1 first) is what the client sent */
    ck_assert_msg(strcmp(it.value, _i ? "l1" : "l2") == 0,
                  "batch gets served '%s', README says %s", it.value,
                  _i ? "L1 (binary get)" : "L2");
}
END_TEST

START_TEST(batch_gat_keeps_expiry)
{
    struct orch_item it;

    connect_all(_i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_get(&cb, "gat", "k", 100, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "v");
    /* L1's copy gets the requested expiry (Rend made it immortal) */
    EXPECT_EXPIRY(expiry_on(&e1, "k"), 100);
    EXPECT_EXPIRY(expiry_on(&e2, "k"), 100);
    /* L2 only: touched in L2, never added to L1 */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "o", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&cb, orch_get(&cb, "gat", "o", 200, &it), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "o", NULL, 0);
    EXPECT_EXPIRY(expiry_on(&e2, "o"), 200);
    if (_i == 0) {
        EXPECT_RES(&cb, orch_get(&cb, "gats", "k", 300, &it), ORCH_OK);
        EXPECT_EXPIRY(expiry_on(&e1, "k"), 300);
        EXPECT_RES(&cb, orch_get(&cb, "gats", "o", 300, &it), ORCH_OK);
        EXPECT_PEEK(&srv, P_L1, "o", NULL, 0);
    }
}
END_TEST

/* ---- meta commands through every orchestration ---------------------- */

/* Send req on a text connection; the reply must be want, byte for byte. */
static void
meta_expect(struct orch_conn *c, const char *req, const char *want)
{
    char got[1024];
    size_t n = strlen(want), r;

    ck_assert_int_eq(rend_io_send_str(c->fd, req, ORCH_IO_MS), 0);
    r = rend_io_read_n(c->fd, got, n, ORCH_IO_MS);
    got[r] = '\0';
    ck_assert_msg(r == n && memcmp(got, want, n) == 0,
                  "%s-> '%s', want '%s'", req, got, want);
}

/* The cas `mg key c` answers on c. */
static uint64_t
meta_cas(struct orch_conn *c, const char *key)
{
    char line[256];

    snprintf(line, sizeof(line), "mg %s c\r\n", key);
    ck_assert_int_eq(rend_io_send_str(c->fd, line, ORCH_IO_MS), 0);
    ck_assert_int_gt(rend_io_read_line(c->fd, line, sizeof(line),
                                       ORCH_IO_MS), 0);
    ck_assert_msg(strncmp(line, "HD c", 4) == 0, "mg c: %s", line);
    return strtoull(line + 4, NULL, 10);
}

START_TEST(meta_l12_batch_l1only)
{
    struct orch_conn m12, mb, m1;
    struct orch_item l2;
    char req[128];
    uint64_t cas;

    connect_all(0);
    ck_assert_int_eq(orch_connect(&srv, P_L12, 0, &m12), 0);
    ck_assert_int_eq(orch_connect(&srv, P_BATCH, 0, &mb), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L1, 0, &m1), 0);
    /* L1/L2 mg: an L2-only item is read from L2 and back-filled */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "o", "v", 4, 0, 0), ORCH_OK);
    meta_expect(&m12, "mg o v f\r\n", "VA 1 f4\r\nv\r\n");
    EXPECT_PEEK(&srv, P_L1, "o", "v", 1);
    /* mg c runs as gets: L2's cas, which ms C accepts */
    EXPECT_RES(&cv2, orch_get(&cv2, "gets", "o", 0, &l2), ORCH_OK);
    cas = meta_cas(&m12, "o");
    ck_assert_uint_eq(cas, l2.cas);
    snprintf(req, sizeof(req), "ms o 1 C%llu\r\nw\r\n",
             (unsigned long long)cas);
    meta_expect(&m12, req, "HD\r\n");
    /* as cas: L1 (inmem, which keeps a given cas) holds a copy under
     * L2's new cas */
    EXPECT_PEEK(&srv, P_L1, "o", "w", 1);
    EXPECT_PEEK(&srv, P_L2, "o", "w", 1);
    meta_expect(&m12, req, "EX\r\n");
    /* mg T runs as gat: both tiers get the new expiry */
    meta_expect(&m12, "mg o T100 t v\r\n", "VA 1 t100\r\nw\r\n");
    EXPECT_EXPIRY(expiry_on(&e1, "o"), 100);
    EXPECT_EXPIRY(expiry_on(&e2, "o"), 100);
    /* ms modes: L2 first, then L1 */
    meta_expect(&m12, "ms s 1 T0 F2\r\na\r\nms s 1 ME\r\nb\r\n"
                "ms s 1 MA\r\nc\r\nms s 1 MP\r\nd\r\nms nos 1 MR\r\nx\r\n",
                "HD\r\nNS\r\nHD\r\nHD\r\nNS\r\n");
    /* (append/prepend drop the L1 copy: appended there it would carry
     * L1's own cas, not L2's) */
    EXPECT_PEEK(&srv, P_L1, "s", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "s", "dac", 1);
    EXPECT_PEEK(&srv, P_L2, "nos", NULL, 0);
    /* md: both tiers; an L1-only stale copy goes too */
    meta_expect(&m12, "md s\r\n", "HD\r\n");
    EXPECT_PEEK(&srv, P_L1, "s", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "s", NULL, 0);
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "st", "x", 0, 0, 0), ORCH_OK);
    meta_expect(&m12, "md st q\r\nmn\r\n", "NF\r\nMN\r\n");
    EXPECT_PEEK(&srv, P_L1, "st", NULL, 0);
    /* ma: L2 owns the number, the L1 copy is dropped; N creates on L2 */
    meta_expect(&m12, "ms n 1\r\n5\r\nmg n v\r\nma n v\r\n",
                "HD\r\nVA 1\r\n5\r\nVA 1\r\n6\r\n");
    EXPECT_PEEK(&srv, P_L1, "n", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "n", "6", 1);
    meta_expect(&m12, "ma nn N0 J10 v\r\nma nn MD v\r\nma nomiss\r\n",
                "VA 2\r\n10\r\nVA 1\r\n9\r\nNF\r\n");
    EXPECT_PEEK(&srv, P_L2, "nn", "9 ", 1); /* "10" decr 1, padded */
    /* mg N vivifies on the source of truth: the first one wins */
    meta_expect(&m12, "mg viv N30 s v\r\nmg viv N30 s\r\n",
                "VA 0 s0 W\r\n\r\nHD s0\r\n");
    EXPECT_PEEK(&srv, P_L2, "viv", "", 1);
    /* quiet pipeline ended by mn */
    meta_expect(&m12, "ms q1 1 q\r\na\r\nmg q1 v q k\r\nmg qnone v q\r\n"
                "md qnone q\r\nmn\r\n", "VA 1 kq1\r\na\r\nNF\r\nMN\r\n");
    /* batch: L2 read, no back-fill; ms refreshes only keys L1 holds */
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "bo", "v", 0, 0, 0), ORCH_OK);
    meta_expect(&mb, "mg bo v\r\nms bn 1\r\nz\r\n", "VA 1\r\nv\r\nHD\r\n");
    EXPECT_PEEK(&srv, P_L1, "bo", NULL, 0);
    EXPECT_PEEK(&srv, P_L1, "bn", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "bn", "z", 1);
    /* L1-only: nothing reaches L2 */
    meta_expect(&m1, "ms lo 2 T0\r\nhi\r\nmg lo v s\r\nma lc N0 J1 v\r\n",
                "HD\r\nVA 2 s2\r\nhi\r\nVA 1\r\n1\r\n");
    EXPECT_PEEK(&srv, P_L2, "lo", NULL, 0);
    EXPECT_PEEK(&srv, P_L2, "lc", NULL, 0);
    orch_close(&m12);
    orch_close(&mb);
    orch_close(&m1);
}
END_TEST

static Suite *
orch_suite(void)
{
    Suite *s = suite_create("orch");
    struct {
        const char *name;
        const TTest *t;
    } tests[] = {
        { "l1only", l1only_all_commands },
        { "get", l12_get_backfills_l1 },
        { "gets", l12_gets_returns_l2_cas },
        { "set", l12_set_writes_both },
        { "delete", l12_delete_reaches_both_and_stale_l1 },
        { "touch", l12_touch },
        { "add_replace", l12_add_replace_per_tier },
        { "append", l12_append_prepend },
        { "arith", l12_incr_decr_invalidate_l1 },
        { "gat", l12_gat },
        { "flush", l12_flush_both },
        { "batch_fill", batch_never_fills_l1 },
        { "batch_refresh", batch_refreshes_existing_l1 },
        { "batch_writes", batch_other_writes_as_l12 },
        { "batch_gets", batch_gets_reads_l1_first },
        { "batch_gat", batch_gat_keeps_expiry },
        { "meta", meta_l12_batch_l1only },
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
    return orch_run(orch_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
