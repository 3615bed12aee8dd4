/*
 * check_contract.c - the handler contract suite: one set of tests for the
 * behaviour handler.h promises, run against any plugin.
 *
 * Environment:
 *   REND_CONTRACT_PLUGIN      plugin name (default "inmem")
 *   REND_CONTRACT_OPTS        space-separated key=value create() options;
 *                             "@TMPDIR@" becomes a fresh directory per test
 *   REND_CONTRACT_REAL_CLOCK  1 = the backend keeps its own clock (e.g. a
 *                             real memcached): expiry tests sleep instead of
 *                             moving the fake clock, fake-clock-only tests
 *                             are skipped
 *
 * Every test gets a fresh instance and its own key prefix, so backends that
 * keep data between instances (files, a server) do not leak state between
 * tests.  A test whose ops are missing (NULL slot) is not run and is
 * listed as SKIPPED on stdout.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "contract_util.h"

#define MAX_OPTS 32

static const char *plugin;
static int real_clock;
static uint32_t handler_caps;
static struct rend_th *th;
static char tmpdir[256];
static char prefix[64];
static unsigned setups;

/* ---- fixture -------------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *f)
{
    (void)sb;
    (void)type;
    (void)f;
    return remove(path);
}

/* Split REND_CONTRACT_OPTS into argv-style key,value pairs in buf.
 * Returns -1 (and a message in err) on a malformed entry. */
static int
build_opts(const char **kv, char *buf, size_t buflen, char *err,
           size_t errlen)
{
    const char *env = getenv("REND_CONTRACT_OPTS");
    size_t n = 0;
    char *save = NULL, *tok;

    buf[0] = '\0';
    if (env != NULL) {
        snprintf(buf, buflen, "%s", env);
    }
    for (tok = strtok_r(buf, " \t", &save); tok != NULL && n < 2 * MAX_OPTS;
         tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');

        if (eq == NULL) {
            snprintf(err, errlen, "REND_CONTRACT_OPTS: '%s' is not key=value",
                     tok);
            return -1;
        }
        *eq = '\0';
        kv[n++] = tok;
        kv[n++] = eq + 1;
    }
    kv[n] = NULL;
    return 0;
}

/* Replace @TMPDIR@ in the values (making the directory on first use). */
static int
expand_tmpdir(const char **kv, char store[][512], char *err, size_t errlen)
{
    for (size_t i = 1; kv[i - 1] != NULL; i += 2) {
        const char *at = strstr(kv[i], "@TMPDIR@");

        if (at == NULL) {
            continue;
        }
        if (tmpdir[0] == '\0') {
            snprintf(tmpdir, sizeof(tmpdir), "/tmp/rend_contract.XXXXXX");
            if (mkdtemp(tmpdir) == NULL) {
                snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
                tmpdir[0] = '\0';
                return -1;
            }
        }
        snprintf(store[i / 2], 512, "%.*s%s%s", (int)(at - kv[i]), kv[i],
                 tmpdir, at + strlen("@TMPDIR@"));
        kv[i] = store[i / 2];
    }
    return 0;
}

/* A fresh instance of the plugin under test, or NULL and a message. */
static struct rend_th *
open_instance(char *err, size_t errlen)
{
    const char *kv[2 * MAX_OPTS + 1];
    static char store[MAX_OPTS][512];
    char buf[4096];

    if (build_opts(kv, buf, sizeof(buf), err, errlen) != 0
        || expand_tmpdir(kv, store, err, errlen) != 0) {
        return NULL;
    }
    return rend_th_open(plugin, kv, err, errlen);
}

static void
setup(void)
{
    rend_th_set_now(real_clock ? 0 : (int64_t)time(NULL));
    snprintf(prefix, sizeof(prefix), "ct%ld.%u.", (long)getpid(), ++setups);
    char err[512];

    th = open_instance(err, sizeof(err));
    ck_assert_msg(th != NULL, "open %s: %s", plugin, err);
}

static void
teardown(void)
{
    rend_th_close(th);
    th = NULL;
    rend_th_set_now(0);
    if (tmpdir[0] != '\0') {
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        tmpdir[0] = '\0';
    }
}

/* ---- helpers -------------------------------------------------------- */

/* This test's key for name (one of 16 rotating buffers). */
static const char *
key(const char *name)
{
    static char bufs[16][300];
    static unsigned next;
    char *b = bufs[next++ % 16];

    snprintf(b, 300, "%s%s", prefix, name);
    return b;
}

static int
has_op(int code)
{
    return rend_th_handler(th)->ops[code] != NULL;
}

static int64_t
now(void)
{
    return rend_th_now();
}

/* Let time pass until the backend's clock reads at least t. */
static void
advance_to(int64_t t)
{
    struct timeval tv;

    if (!real_clock) {
        rend_th_set_now(t);
        return;
    }
    /* Real clock: sleep until t plus a margin for a server's own tick. */
    for (;;) {
        gettimeofday(&tv, NULL);
        if (tv.tv_sec > t || (tv.tv_sec == t && tv.tv_usec >= 300000)) {
            return;
        }
        usleep(50000);
    }
}

/* Expiry comparisons are exact on the fake clock; a backend with its own
 * clock may round relative TTLs by a second either way. */
static void
expect_exptime(int64_t got, int64_t want)
{
    int64_t slack = real_clock ? 2 : 0;

    ck_assert_msg(got >= want - slack && got <= want + slack,
                  "out_exptime %lld, want %lld", (long long)got,
                  (long long)want);
}

static void
note_skip(const char *what)
{
    printf("  (%s: part skipped, %s)\n", plugin, what);
}

/* ---- basic retrieval and storage ------------------------------------ */

START_TEST(get_miss)
{
    struct res r;

    cu_get(th, REND_OP_GET, key("nothing"), strlen(key("nothing")), 0, 0, &r);
    ck_assert_status(r.st, REND_MISS);
    ck_assert_ptr_null(r.value);
}
END_TEST

START_TEST(set_get_roundtrip)
{
    const char *k = key("rt");
    int64_t exp = now() + 1000;
    uint64_t cas1 = 0, cas2 = 0;
    struct res r;

    ck_assert_status(cu_store(th, REND_OP_SET, k, strlen(k), "hello", 5,
                              0xdeadbeef, exp, 0, &cas1), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.nvalue, 5);
    ck_assert_mem_eq(r.value, "hello", 5);
    ck_assert_uint_eq(r.flags, 0xdeadbeef);
    expect_exptime(r.exptime, exp);
    if (handler_caps & REND_CAP_CAS) {
        ck_assert_uint_ne(cas1, 0);
        ck_assert_uint_eq(r.cas, cas1);
    }
    res_free(&r);

    /* Overwrite: new value, flags 0, no expiry, a different cas. */
    ck_assert_status(cu_store(th, REND_OP_SET, k, strlen(k), "world!", 6, 0,
                              0, 0, &cas2), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.nvalue, 6);
    ck_assert_mem_eq(r.value, "world!", 6);
    ck_assert_uint_eq(r.flags, 0);
    ck_assert_int_eq(r.exptime, 0);
    if (handler_caps & REND_CAP_CAS) {
        ck_assert_uint_ne(cas2, cas1);
        ck_assert_uint_eq(r.cas, cas2);
    }
    res_free(&r);
}
END_TEST

START_TEST(binary_keys_and_values)
{
    char k1[200], k2[200], k3[200], val[512];
    size_t np = strlen(prefix);
    struct res r;

    /* Two keys covering every byte 0x00..0xff, and a third that differs
     * from the first only after a NUL byte. */
    memcpy(k1, prefix, np);
    memcpy(k2, prefix, np);
    for (int i = 0; i < 128; i++) {
        k1[np + i] = (char)i;
        k2[np + i] = (char)(128 + i);
    }
    memcpy(k3, k1, np + 128);
    k3[np + 127] = 'x';
    for (int i = 0; i < 512; i++) {
        val[i] = (char)(255 - i % 256);
    }
    ck_assert_status(cu_store(th, REND_OP_SET, k1, np + 128, val, 512, 1, 0, 0,
                              NULL), REND_OK);
    ck_assert_status(cu_store(th, REND_OP_SET, k2, np + 128, val + 1, 300, 2,
                              0, 0, NULL), REND_OK);
    cu_get(th, REND_OP_GET, k1, np + 128, 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.nvalue, 512);
    ck_assert_mem_eq(r.value, val, 512);
    ck_assert_uint_eq(r.flags, 1);
    res_free(&r);
    cu_get(th, REND_OP_GET, k2, np + 128, 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.nvalue, 300);
    ck_assert_mem_eq(r.value, val + 1, 300);
    ck_assert_uint_eq(r.flags, 2);
    res_free(&r);
    cu_get(th, REND_OP_GET, k3, np + 128, 0, 0, &r);
    ck_assert_status(r.st, REND_MISS);
    /* A prefix of a stored key is another key. */
    cu_get(th, REND_OP_GET, k1, np + 64, 0, 0, &r);
    ck_assert_status(r.st, REND_MISS);
}
END_TEST

/* The longest key the plugin takes: 250 (memcached's limit) unless the
 * wrapper declares a smaller one in REND_CONTRACT_KEY_MAX (chunked
 * memcached: the derived "-meta" key must fit in 250); a longer key must
 * then be refused cleanly with REND_EINVAL. */
START_TEST(key_250_bytes)
{
    char k[252];
    size_t np = strlen(prefix);
    const char *env = getenv("REND_CONTRACT_KEY_MAX");
    size_t max = env ? strtoul(env, NULL, 10) : 250;

    ck_assert(max > np && max <= 250);
    memcpy(k, prefix, np);
    memset(k + np, 'k', max - np);
    k[max] = '\0';
    ck_assert_status(cu_set(th, REND_OP_SET, k, "long key", 0, 0), REND_OK);
    cu_expect(th, k, "long key");
    k[max - 1] = 'j';
    cu_expect_miss(th, k);
    if (max < 250) {
        k[max] = 'k';
        k[max + 1] = '\0';
        ck_assert_status(cu_set(th, REND_OP_SET, k, "too long", 0, 0),
                         REND_EINVAL);
    }
}
END_TEST

START_TEST(empty_value)
{
    const char *k = key("empty");
    struct res r;

    ck_assert_status(cu_store(th, REND_OP_SET, k, strlen(k), "", 0, 77, 0, 0,
                              NULL), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.nvalue, 0);
    ck_assert_uint_eq(r.flags, 77);
    res_free(&r);
}
END_TEST

START_TEST(value_1mib)
{
    const size_t n = 1024 * 1024;
    const char *k = key("big");
    char *v = malloc(n);
    struct res r;

    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = (char)((i * 7 + i / 4096) & 0xff);
    }
    ck_assert_status(cu_store(th, REND_OP_SET, k, strlen(k), v, n, 5, 0, 0,
                              NULL), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.nvalue, n);
    ck_assert_msg(memcmp(r.value, v, n) == 0, "1 MiB value differs");
    res_free(&r);
    free(v);
}
END_TEST

START_TEST(no_value_flag)
{
    const char *k = key("nv");
    struct res r;

    ck_assert_status(cu_set(th, REND_OP_SET, k, "payload", 9, 0), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, REND_OPF_NO_VALUE, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.flags, 9);
    /* Honoured (no value) or ignored (the right value): both are fine. */
    if (r.value != NULL && r.nvalue != 0) {
        ck_assert_uint_eq(r.nvalue, 7);
        ck_assert_mem_eq(r.value, "payload", 7);
    }
    res_free(&r);
    cu_get(th, REND_OP_GET, key("nv-missing"), strlen(key("nv-missing")), 0,
           REND_OPF_NO_VALUE, &r);
    ck_assert_status(r.st, REND_MISS);
}
END_TEST

START_TEST(add_semantics)
{
    const char *k = key("add");

    ck_assert_status(cu_set(th, REND_OP_ADD, k, "first", 1, 0), REND_OK);
    ck_assert_status(cu_set(th, REND_OP_ADD, k, "second", 2, 0),
                     REND_NOT_STORED);
    cu_expect(th, k, "first");
}
END_TEST

START_TEST(replace_semantics)
{
    const char *k = key("repl");

    ck_assert_status(cu_set(th, REND_OP_REPLACE, k, "x", 0, 0),
                     REND_NOT_STORED);
    cu_expect_miss(th, k);
    ck_assert_status(cu_set(th, REND_OP_SET, k, "old", 0, 0), REND_OK);
    ck_assert_status(cu_set(th, REND_OP_REPLACE, k, "new", 3, 0), REND_OK);
    cu_expect(th, k, "new");
}
END_TEST

/* APPEND or PREPEND: miss, then flags and expiry kept. */
static void
check_concat(int code)
{
    const char *k = key("cat"), *m = key("cat-missing");
    int64_t exp = now() + 500;
    uint64_t cas0 = 0, cas1 = 0;
    struct res r;

    ck_assert_status(cu_set(th, code, m, "tail", 0, 0), REND_NOT_STORED);
    cu_expect_miss(th, m);
    ck_assert_status(cu_store(th, REND_OP_SET, k, strlen(k), "mid", 3, 42,
                              exp, 0, &cas0), REND_OK);
    ck_assert_status(cu_store(th, code, k, strlen(k), "+x", 2, 99, 0, 0,
                              &cas1), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.nvalue, 5);
    ck_assert_mem_eq(r.value, code == REND_OP_APPEND ? "mid+x" : "+xmid", 5);
    ck_assert_uint_eq(r.flags, 42);
    expect_exptime(r.exptime, exp);
    if (handler_caps & REND_CAP_CAS) {
        ck_assert_uint_ne(cas1, cas0);
        ck_assert_uint_eq(r.cas, cas1);
    }
    res_free(&r);
}

START_TEST(append_semantics)
{
    check_concat(REND_OP_APPEND);
}
END_TEST

START_TEST(prepend_semantics)
{
    check_concat(REND_OP_PREPEND);
}
END_TEST

START_TEST(cas_semantics)
{
    const char *k = key("cas");
    uint64_t c0 = 0, c1 = 0;
    struct res r;

    ck_assert_status(cu_store(th, REND_OP_CAS, k, strlen(k), "v", 1, 0, 0, 1,
                              NULL), REND_NOT_FOUND);
    ck_assert_status(cu_set(th, REND_OP_SET, k, "v0", 0, 0), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    c0 = r.cas;
    res_free(&r);
    ck_assert_uint_ne(c0, 0);
    ck_assert_status(cu_store(th, REND_OP_CAS, k, strlen(k), "bad", 3, 0, 0,
                              c0 + 12345, NULL), REND_EXISTS);
    cu_expect(th, k, "v0");
    ck_assert_status(cu_store(th, REND_OP_CAS, k, strlen(k), "v1", 2, 8, 0,
                              c0, &c1), REND_OK);
    ck_assert_uint_ne(c1, 0);
    ck_assert_uint_ne(c1, c0);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_mem_eq(r.value, "v1", 2);
    ck_assert_uint_eq(r.flags, 8);
    ck_assert_uint_eq(r.cas, c1);
    res_free(&r);
    /* The old cas is stale now. */
    ck_assert_status(cu_store(th, REND_OP_CAS, k, strlen(k), "v2", 2, 0, 0,
                              c0, NULL), REND_EXISTS);
}
END_TEST

START_TEST(delete_semantics)
{
    const char *k = key("del");

    ck_assert_status(cu_simple(th, REND_OP_DELETE, k, 0), REND_NOT_FOUND);
    ck_assert_status(cu_set(th, REND_OP_SET, k, "x", 0, 0), REND_OK);
    ck_assert_status(cu_simple(th, REND_OP_DELETE, k, 0), REND_OK);
    cu_expect_miss(th, k);
    ck_assert_status(cu_simple(th, REND_OP_DELETE, k, 0), REND_NOT_FOUND);
}
END_TEST

/* The stored number, ignoring the trailing spaces memcached leaves when
 * it rewrites a shorter number in place. */
static void
expect_number(const char *k, const char *want)
{
    struct res r;
    size_t n;

    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    n = r.nvalue;
    while (n > 0 && r.value[n - 1] == ' ') {
        n--;
    }
    ck_assert_msg(n == strlen(want) && memcmp(r.value, want, n) == 0,
                  "%s holds '%.*s', want '%s'", k, (int)r.nvalue, r.value,
                  want);
    res_free(&r);
}

START_TEST(incr_decr_semantics)
{
    /* Only cases real memcached agrees on: it accepts leading blanks and
     * leading zeros of any length (inmem's stricter rule is checked in
     * check_inmem). */
    static const char *bad[] = { "abc", "12a", "-1", "1.5", "0x10",
                                 "18446744073709551616" }; /* 2^64 */
    const char *k = key("num");
    uint64_t v = 0;

    ck_assert_status(cu_arith(th, REND_OP_INCR, k, 1, NULL), REND_NOT_FOUND);
    ck_assert_status(cu_arith(th, REND_OP_DECR, k, 1, NULL), REND_NOT_FOUND);
    cu_expect_miss(th, k);

    ck_assert_status(cu_set(th, REND_OP_SET, k, "10", 7, 0), REND_OK);
    ck_assert_status(cu_arith(th, REND_OP_INCR, k, 5, &v), REND_OK);
    ck_assert_uint_eq(v, 15);
    expect_number(k, "15");
    ck_assert_status(cu_arith(th, REND_OP_DECR, k, 20, &v), REND_OK);
    ck_assert_uint_eq(v, 0);
    expect_number(k, "0");

    /* Growing length: 99 -> 100, flags kept. */
    ck_assert_status(cu_set(th, REND_OP_SET, k, "99", 7, 0), REND_OK);
    ck_assert_status(cu_arith(th, REND_OP_INCR, k, 1, &v), REND_OK);
    ck_assert_uint_eq(v, 100);
    cu_expect(th, k, "100");
    {
        struct res r;

        cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
        ck_assert_uint_eq(r.flags, 7);
        res_free(&r);
    }
    /* Shrinking length: 100 -> 99. */
    ck_assert_status(cu_arith(th, REND_OP_DECR, k, 1, &v), REND_OK);
    ck_assert_uint_eq(v, 99);
    expect_number(k, "99");

    /* Wrap at 2^64. */
    ck_assert_status(cu_set(th, REND_OP_SET, k, "18446744073709551615", 0, 0),
                     REND_OK);
    ck_assert_status(cu_arith(th, REND_OP_INCR, k, 2, &v), REND_OK);
    ck_assert_uint_eq(v, 1);
    expect_number(k, "1");
    ck_assert_status(cu_set(th, REND_OP_SET, k, "5", 0, 0), REND_OK);
    ck_assert_status(cu_arith(th, REND_OP_INCR, k, UINT64_MAX, &v), REND_OK);
    ck_assert_uint_eq(v, 4);

    /* Non-numeric values are left alone. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_status(cu_set(th, REND_OP_SET, k, bad[i], 0, 0), REND_OK);
        ck_assert_msg(cu_arith(th, REND_OP_INCR, k, 1, NULL)
                      == REND_NON_NUMERIC, "incr on '%s'", bad[i]);
        ck_assert_msg(cu_arith(th, REND_OP_DECR, k, 1, NULL)
                      == REND_NON_NUMERIC, "decr on '%s'", bad[i]);
        cu_expect(th, k, bad[i]);
    }
    ck_assert_status(cu_store(th, REND_OP_SET, k, strlen(k), "", 0, 0, 0, 0,
                              NULL), REND_OK);
    ck_assert_status(cu_arith(th, REND_OP_INCR, k, 1, NULL),
                     REND_NON_NUMERIC);
    /* The largest number is numeric. */
    ck_assert_status(cu_set(th, REND_OP_SET, k, "18446744073709551614", 0, 0),
                     REND_OK);
    ck_assert_status(cu_arith(th, REND_OP_INCR, k, 1, &v), REND_OK);
    ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(touch_semantics)
{
    const char *k = key("touch");
    int64_t exp = now() + 3600;
    struct res r;

    ck_assert_status(cu_simple(th, REND_OP_TOUCH, k, exp), REND_NOT_FOUND);
    ck_assert_status(cu_set(th, REND_OP_SET, k, "t", 3, now() + 100), REND_OK);
    ck_assert_status(cu_simple(th, REND_OP_TOUCH, k, exp), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    expect_exptime(r.exptime, exp);
    ck_assert_uint_eq(r.flags, 3);
    ck_assert_mem_eq(r.value, "t", 1);
    res_free(&r);
    /* Touch to "never". */
    ck_assert_status(cu_simple(th, REND_OP_TOUCH, k, 0), REND_OK);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_int_eq(r.exptime, 0);
    res_free(&r);
}
END_TEST

START_TEST(gat_semantics)
{
    const char *k = key("gat");
    int64_t exp = now() + 7200;
    struct res r;

    cu_get(th, REND_OP_GAT, k, strlen(k), exp, 0, &r);
    ck_assert_status(r.st, REND_MISS);
    ck_assert_status(cu_set(th, REND_OP_SET, k, "gv", 11, 0), REND_OK);
    cu_get(th, REND_OP_GAT, k, strlen(k), exp, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_uint_eq(r.nvalue, 2);
    ck_assert_mem_eq(r.value, "gv", 2);
    ck_assert_uint_eq(r.flags, 11);
    expect_exptime(r.exptime, exp);
    res_free(&r);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    expect_exptime(r.exptime, exp);
    res_free(&r);
}
END_TEST

START_TEST(flush_now)
{
    char name[16];

    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        ck_assert_status(cu_set(th, REND_OP_SET, key(name), "x", 0, 0),
                         REND_OK);
    }
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, 0), REND_OK);
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        cu_expect_miss(th, key(name));
    }
    /* Stores right after the flush (same second) are kept. */
    ck_assert_status(cu_set(th, REND_OP_SET, key("after"), "y", 0, 0),
                     REND_OK);
    cu_expect(th, key("after"), "y");
    ck_assert_status(cu_set(th, REND_OP_ADD, key("f0"), "z", 0, 0), REND_OK);
    cu_expect(th, key("f0"), "z");
}
END_TEST

START_TEST(many_keys)
{
    enum { N = 10000, BATCH = 100 };
    struct rend_op ops[BATCH], *pops[BATCH];
    static char keys[BATCH][128], vals[BATCH][64];
    int st[BATCH];

    for (int i = 0; i < N; i++) {
        char k[128], v[64];

        snprintf(k, sizeof(k), "%smany%d", prefix, i);
        snprintf(v, sizeof(v), "value-%d-%x", i, i * 2654435761u);
        ck_assert_status(cu_set(th, REND_OP_SET, k, v, (uint32_t)i, 0),
                         REND_OK);
    }
    /* Read back in multi-get batches. */
    for (int b = 0; b < N; b += BATCH) {
        for (int j = 0; j < BATCH; j++) {
            snprintf(keys[j], sizeof(keys[j]), "%smany%d", prefix, b + j);
            snprintf(vals[j], sizeof(vals[j]), "value-%d-%x", b + j,
                     (b + j) * 2654435761u);
            rend_th_op_init(&ops[j], REND_OP_GET, keys[j], NULL, 0, 0, 0);
            pops[j] = &ops[j];
        }
        rend_th_run_many(th, pops, BATCH, st);
        for (int j = 0; j < BATCH; j++) {
            ck_assert_msg(st[j] == REND_OK, "get %s: %d", keys[j], st[j]);
            ck_assert_uint_eq(ops[j].out_nvalue, strlen(vals[j]));
            ck_assert_mem_eq(ops[j].out_value, vals[j], strlen(vals[j]));
            ck_assert_uint_eq(ops[j].out_flags, (uint32_t)(b + j));
            rend_th_op_fini(&ops[j]);
        }
    }
}
END_TEST

START_TEST(set_already_expired)
{
    const char *k = key("dead");

    ck_assert_status(cu_set(th, REND_OP_SET, k, "x", 0, -1), REND_OK);
    cu_expect_miss(th, k);
    ck_assert_status(cu_set(th, REND_OP_SET, k, "x", 0, now() - 10), REND_OK);
    cu_expect_miss(th, k);
    ck_assert_status(cu_set(th, REND_OP_ADD, k, "y", 0, 0), REND_OK);
    cu_expect(th, k, "y");
}
END_TEST

/* ---- expiry: fake clock, or real sleeps with REAL_CLOCK=1 ----------- */

/* Short TTL in seconds: long enough that "still alive" checks right after
 * the store hold on a real clock. */
#define TTL 2

START_TEST(expired_invisible_to_every_op)
{
    static const char *names[] = { "get", "gat", "touch", "replace", "append",
                                   "prepend", "cas", "delete", "incr", "decr",
                                   "add" };
    enum { NN = sizeof(names) / sizeof(names[0]) };
    int64_t t0 = now(), exp = t0 + TTL;
    uint64_t cas = 0;
    struct res r;

    for (size_t i = 0; i < NN; i++) {
        ck_assert_status(cu_set(th, REND_OP_SET, key(names[i]), "7", 0, exp),
                         REND_OK);
    }
    cu_get(th, REND_OP_GET, key("cas"), strlen(key("cas")), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    cas = r.cas;
    res_free(&r);
    advance_to(exp + 1);

    cu_get(th, REND_OP_GET, key("get"), strlen(key("get")), 0, 0, &r);
    ck_assert_status(r.st, REND_MISS);
    if (has_op(REND_OP_GAT)) {
        cu_get(th, REND_OP_GAT, key("gat"), strlen(key("gat")), 0, 0, &r);
        ck_assert_status(r.st, REND_MISS);
    } else {
        note_skip("no GAT");
    }
#define EXPECT_IF(code, call, want)                                          \
    do {                                                                     \
        if (has_op(code)) {                                                  \
            ck_assert_status(call, want);                                    \
        } else {                                                             \
            note_skip("no " #code);                                          \
        }                                                                    \
    } while (0)
    EXPECT_IF(REND_OP_TOUCH, cu_simple(th, REND_OP_TOUCH, key("touch"), 0),
              REND_NOT_FOUND);
    EXPECT_IF(REND_OP_REPLACE, cu_set(th, REND_OP_REPLACE, key("replace"),
                                      "1", 0, 0), REND_NOT_STORED);
    EXPECT_IF(REND_OP_APPEND, cu_set(th, REND_OP_APPEND, key("append"), "1",
                                     0, 0), REND_NOT_STORED);
    EXPECT_IF(REND_OP_PREPEND, cu_set(th, REND_OP_PREPEND, key("prepend"),
                                      "1", 0, 0), REND_NOT_STORED);
    EXPECT_IF(REND_OP_CAS, cu_store(th, REND_OP_CAS, key("cas"),
                                    strlen(key("cas")), "1", 1, 0, 0, cas,
                                    NULL), REND_NOT_FOUND);
    EXPECT_IF(REND_OP_DELETE, cu_simple(th, REND_OP_DELETE, key("delete"), 0),
              REND_NOT_FOUND);
    EXPECT_IF(REND_OP_INCR, cu_arith(th, REND_OP_INCR, key("incr"), 1, NULL),
              REND_NOT_FOUND);
    EXPECT_IF(REND_OP_DECR, cu_arith(th, REND_OP_DECR, key("decr"), 1, NULL),
              REND_NOT_FOUND);
    EXPECT_IF(REND_OP_ADD, cu_set(th, REND_OP_ADD, key("add"), "new", 0, 0),
              REND_OK);
#undef EXPECT_IF
    for (size_t i = 0; i + 1 < NN; i++) {
        cu_expect_miss(th, key(names[i]));
    }
    if (has_op(REND_OP_ADD)) {
        cu_expect(th, key("add"), "new");
    }
}
END_TEST

START_TEST(touch_and_gat_move_expiry)
{
    int64_t t0 = now(), shortexp = t0 + TTL, longexp = t0 + 3600;
    struct res r;

    ck_assert_status(cu_set(th, REND_OP_SET, key("t-ext"), "a", 0, shortexp),
                     REND_OK);
    ck_assert_status(cu_set(th, REND_OP_SET, key("g-ext"), "b", 0, shortexp),
                     REND_OK);
    ck_assert_status(cu_set(th, REND_OP_SET, key("t-cut"), "c", 0, longexp),
                     REND_OK);
    if (has_op(REND_OP_TOUCH)) {
        ck_assert_status(cu_simple(th, REND_OP_TOUCH, key("t-ext"), longexp),
                         REND_OK);
        ck_assert_status(cu_simple(th, REND_OP_TOUCH, key("t-cut"), shortexp),
                         REND_OK);
    }
    if (has_op(REND_OP_GAT)) {
        cu_get(th, REND_OP_GAT, key("g-ext"), strlen(key("g-ext")), longexp,
               0, &r);
        ck_assert_status(r.st, REND_OK);
        expect_exptime(r.exptime, longexp);
        res_free(&r);
    }
    advance_to(shortexp + 1);
    if (has_op(REND_OP_TOUCH)) {
        cu_expect(th, key("t-ext"), "a");
        cu_expect_miss(th, key("t-cut"));
    }
    if (has_op(REND_OP_GAT)) {
        cu_expect(th, key("g-ext"), "b");
    }
}
END_TEST

START_TEST(flush_delayed)
{
    int64_t t0 = now(), at = t0 + TTL + 1;

    ck_assert_status(cu_set(th, REND_OP_SET, key("old"), "o", 0, 0), REND_OK);
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, at), REND_OK);
    /* Nothing is gone before the flush time. */
    cu_expect(th, key("old"), "o");
    ck_assert_status(cu_set(th, REND_OP_SET, key("mid"), "m", 0, 0), REND_OK);
    cu_expect(th, key("mid"), "m");
    advance_to(at + 1);
    cu_expect_miss(th, key("old"));
    cu_expect_miss(th, key("mid"));
    /* Stores after the flush time are kept. */
    ck_assert_status(cu_set(th, REND_OP_SET, key("new"), "n", 0, 0), REND_OK);
    cu_expect(th, key("new"), "n");
}
END_TEST

/* Fake clock only: exact boundaries of REND_EXPIRED. */
START_TEST(expiry_boundary_exact)
{
    int64_t t0 = now();

    ck_assert_status(cu_set(th, REND_OP_SET, key("at-now"), "x", 0, t0),
                     REND_OK);
    cu_expect_miss(th, key("at-now"));
    ck_assert_status(cu_set(th, REND_OP_SET, key("next"), "y", 0, t0 + 1),
                     REND_OK);
    cu_expect(th, key("next"), "y");
    rend_th_set_now(t0 + 1);
    cu_expect_miss(th, key("next"));
    /* A flush at a past time drops what was stored before it only. */
    ck_assert_status(cu_set(th, REND_OP_SET, key("keep"), "k", 0, 0), REND_OK);
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, t0), REND_OK);
    cu_expect(th, key("keep"), "k");
}
END_TEST

/* ABI 1.1: a non-zero op->cas is checked by delete, append, prepend,
 * incr and decr. */
static int
run_with_cas(int code, const char *k, const char *value, uint64_t cas,
             uint64_t *out_cas)
{
    struct rend_op op;
    int st;

    rend_th_op_init(&op, code, k, value, value ? strlen(value) : 0, 0, 0);
    op.delta = 1;
    op.cas = cas;
    st = rend_th_run(th, &op);
    if (out_cas != NULL) {
        *out_cas = op.out_cas;
    }
    rend_th_op_fini(&op);
    return st;
}

static uint64_t
cas_of(const char *k)
{
    struct res r;
    uint64_t c;

    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    c = r.cas;
    res_free(&r);
    ck_assert_uint_ne(c, 0);
    return c;
}

START_TEST(request_cas_on_other_writes)
{
    const char *k = key("rc"), *miss = key("rc-miss");
    uint64_t c, c2 = 0;

    /* a missing item answers as without a cas */
    ck_assert_status(run_with_cas(REND_OP_DELETE, miss, NULL, 7, NULL),
                     REND_NOT_FOUND);
    ck_assert_status(run_with_cas(REND_OP_APPEND, miss, "x", 7, NULL),
                     REND_NOT_STORED);
    ck_assert_status(run_with_cas(REND_OP_INCR, miss, NULL, 7, NULL),
                     REND_NOT_FOUND);

    ck_assert_status(cu_set(th, REND_OP_SET, k, "1", 0, 0), REND_OK);
    c = cas_of(k);
    ck_assert_status(run_with_cas(REND_OP_APPEND, k, "2", c + 999, NULL),
                     REND_EXISTS);
    ck_assert_status(run_with_cas(REND_OP_PREPEND, k, "0", c + 999, NULL),
                     REND_EXISTS);
    cu_expect(th, k, "1");
    ck_assert_status(run_with_cas(REND_OP_APPEND, k, "2", c, &c2), REND_OK);
    cu_expect(th, k, "12");
    ck_assert_uint_eq(cas_of(k), c2);
    /* c is stale now */
    ck_assert_status(run_with_cas(REND_OP_PREPEND, k, "0", c, NULL),
                     REND_EXISTS);
    ck_assert_status(run_with_cas(REND_OP_PREPEND, k, "3", c2, &c), REND_OK);
    cu_expect(th, k, "312");
    ck_assert_status(run_with_cas(REND_OP_INCR, k, NULL, c + 999, NULL),
                     REND_EXISTS);
    ck_assert_status(run_with_cas(REND_OP_DECR, k, NULL, c + 999, NULL),
                     REND_EXISTS);
    cu_expect(th, k, "312");
    ck_assert_status(run_with_cas(REND_OP_INCR, k, NULL, c, &c2), REND_OK);
    cu_expect(th, k, "313");
    ck_assert_status(run_with_cas(REND_OP_DECR, k, NULL, c2, &c), REND_OK);
    cu_expect(th, k, "312");
    ck_assert_status(run_with_cas(REND_OP_DELETE, k, NULL, c + 999, NULL),
                     REND_EXISTS);
    cu_expect(th, k, "312");
    ck_assert_status(run_with_cas(REND_OP_DELETE, k, NULL, cas_of(k), NULL),
                     REND_OK);
    cu_expect_miss(th, k);
}
END_TEST

/* ABI 1.1, optional: FILL stores a copy under the cas it is given. */
START_TEST(fill_keeps_given_cas)
{
    const char *k = key("fill"), *k2 = key("fill2");
    uint64_t out = 0;
    struct rend_op op;
    struct res r;
    int64_t exp = rend_th_now() + 1000;

    rend_th_op_init(&op, REND_OP_FILL, k, "copy", 4, 6, exp);
    op.cas = 777777;
    ck_assert_status(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_eq(op.out_cas, 777777);
    rend_th_op_fini(&op);
    cu_get(th, REND_OP_GET, k, strlen(k), 0, 0, &r);
    ck_assert_status(r.st, REND_OK);
    ck_assert_mem_eq(r.value, "copy", 4);
    ck_assert_uint_eq(r.flags, 6);
    ck_assert_int_eq(r.exptime, exp);
    ck_assert_uint_eq(r.cas, 777777);
    res_free(&r);
    /* that cas is the item's for every check */
    ck_assert_status(cu_store(th, REND_OP_CAS, k, strlen(k), "c", 1, 0, 0,
                              777776, NULL), REND_EXISTS);
    ck_assert_status(cu_store(th, REND_OP_CAS, k, strlen(k), "c", 1, 0, 0,
                              777777, &out), REND_OK);
    ck_assert_uint_ne(out, 777777);

    /* IF_PRESENT: only over a live item */
    rend_th_op_init(&op, REND_OP_FILL, k2, "x", 1, 0, 0);
    op.cas = 5;
    op.opflags = REND_OPF_IF_PRESENT;
    ck_assert_status(rend_th_run(th, &op), REND_NOT_STORED);
    rend_th_op_fini(&op);
    cu_expect_miss(th, k2);
    rend_th_op_init(&op, REND_OP_FILL, k, "y", 1, 0, 0);
    op.cas = 5;
    op.opflags = REND_OPF_IF_PRESENT;
    ck_assert_status(rend_th_run(th, &op), REND_OK);
    rend_th_op_fini(&op);
    cu_expect(th, k, "y");
    ck_assert_uint_eq(cas_of(k), 5);

    /* a small given cas after a flush is not taken for a flushed item */
    ck_assert_status(cu_simple(th, REND_OP_FLUSH, NULL, 0), REND_OK);
    cu_expect_miss(th, k);
    rend_th_op_init(&op, REND_OP_FILL, k2, "z", 1, 0, 0);
    op.cas = 1;
    ck_assert_status(rend_th_run(th, &op), REND_OK);
    rend_th_op_fini(&op);
    cu_expect(th, k2, "z");
    ck_assert_uint_eq(cas_of(k2), 1);
    /* cas 0: a fresh cas, as SET */
    rend_th_op_init(&op, REND_OP_FILL, k, "w", 1, 0, 0);
    ck_assert_status(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_ne(op.out_cas, 0);
    out = op.out_cas;
    rend_th_op_fini(&op);
    ck_assert_uint_eq(cas_of(k), out);
}
END_TEST

/* Ops in flight together on one key are applied in the order they were
 * issued, each seeing the one before (a writer that batches them, as lmdb
 * and rocksdb do, applies one batch in order).  Only for handlers the run
 * script says are ordered (REND_CONTRACT_ORDERED=1): a proxy to memcached
 * need not be.  Gets are checked after the batch: an inline get does not
 * wait for queued writes. */
START_TEST(ops_in_flight_in_order)
{
    enum { N = 14 };
    const char *k = key("inflight"), *k2 = key("inflight2");
    int64_t now = rend_th_now();
    struct rend_op ops[N], *pops[N];
    int st[N];
    size_t n;

    if (getenv("REND_CONTRACT_ORDERED") == NULL) {
        return;
    }
    rend_th_op_init(&ops[0], REND_OP_SET, k, "10", 2, 3, now + 1000);
    rend_th_op_init(&ops[1], REND_OP_INCR, k, NULL, 0, 0, 0);
    ops[1].delta = 5;                                        /* 15 */
    rend_th_op_init(&ops[2], REND_OP_APPEND, k, "0", 1, 0, 0); /* 150 */
    rend_th_op_init(&ops[3], REND_OP_PREPEND, k, "9", 1, 0, 0); /* 9150 */
    rend_th_op_init(&ops[4], REND_OP_DECR, k, NULL, 0, 0, 0);
    ops[4].delta = 9000;                                     /* 150 */
    rend_th_op_init(&ops[5], REND_OP_ADD, k, "x", 1, 0, 0);
    rend_th_op_init(&ops[6], REND_OP_REPLACE, k2, "y", 1, 0, 0);
    rend_th_op_init(&ops[7], REND_OP_CAS, k, "c", 1, 0, 0);
    ops[7].cas = UINT64_MAX - 1;
    rend_th_op_init(&ops[8], REND_OP_TOUCH, k, NULL, 0, 0, now + 2000);
    rend_th_op_init(&ops[9], REND_OP_GAT, k, NULL, 0, 0, now + 3000);
    rend_th_op_init(&ops[10], REND_OP_DELETE, k, NULL, 0, 0, 0);
    rend_th_op_init(&ops[11], REND_OP_INCR, k, NULL, 0, 0, 0);
    ops[11].delta = 1;
    rend_th_op_init(&ops[12], REND_OP_ADD, k, "z", 1, 4, 0);
    rend_th_op_init(&ops[13], REND_OP_APPEND, k2, "w", 1, 0, 0);
    for (int i = 0; i < N; i++) {
        pops[i] = &ops[i];
    }
    rend_th_run_many(th, pops, N, st);
    ck_assert_status(st[0], REND_OK);
    ck_assert_status(st[1], REND_OK);
    ck_assert_uint_eq(ops[1].out_number, 15);
    ck_assert_status(st[2], REND_OK);
    ck_assert_status(st[3], REND_OK);
    ck_assert_status(st[4], REND_OK);
    ck_assert_uint_eq(ops[4].out_number, 150);
    ck_assert_status(st[5], REND_NOT_STORED);
    ck_assert_status(st[6], REND_NOT_STORED);
    ck_assert_status(st[7], REND_EXISTS);
    ck_assert_status(st[8], REND_OK);
    ck_assert_status(st[9], REND_OK);
    n = ops[9].out_nvalue;
    while (n > 0 && ops[9].out_value[n - 1] == ' ') {
        n--; /* a shorter decr result may be space-padded */
    }
    ck_assert_msg(n == 3 && memcmp(ops[9].out_value, "150", 3) == 0,
                  "gat got '%.*s'", (int)ops[9].out_nvalue,
                  ops[9].out_value);
    ck_assert_uint_eq(ops[9].out_flags, 3);
    ck_assert_int_eq(ops[9].out_exptime, now + 3000);
    if (handler_caps & REND_CAP_CAS) {
        /* every store a new cas, in order; a touch keeps it */
        ck_assert_uint_gt(ops[1].out_cas, ops[0].out_cas);
        ck_assert_uint_gt(ops[2].out_cas, ops[1].out_cas);
        ck_assert_uint_gt(ops[3].out_cas, ops[2].out_cas);
        ck_assert_uint_gt(ops[4].out_cas, ops[3].out_cas);
        ck_assert_uint_eq(ops[8].out_cas, ops[4].out_cas);
        ck_assert_uint_eq(ops[9].out_cas, ops[4].out_cas);
        ck_assert_uint_gt(ops[12].out_cas, ops[4].out_cas);
    }
    ck_assert_status(st[10], REND_OK);
    ck_assert_status(st[11], REND_NOT_FOUND);
    ck_assert_status(st[12], REND_OK);
    ck_assert_status(st[13], REND_NOT_STORED);
    for (int i = 0; i < N; i++) {
        rend_th_op_fini(&ops[i]);
    }
    cu_expect(th, k, "z");
    cu_expect_miss(th, k2);
}
END_TEST

/* ---- suite ---------------------------------------------------------- */

#define OP(x) (1u << REND_OP_##x)
#define NTESTS 26

struct ctest {
    const char *name;
    const TTest *fn;
    uint32_t ops;   /* every one of these is needed */
    int fake_clock; /* needs the fake clock */
    int need_cas;   /* needs REND_CAP_CAS */
};

/* Filled at run time: Check test handles are not constant expressions. */
static void
fill_tests(struct ctest *tests)
{
    const struct ctest all[] = {
    { "get_miss", get_miss, OP(GET), 0, 0 },
    { "set_get_roundtrip", set_get_roundtrip, OP(SET) | OP(GET), 0, 0 },
    { "binary_keys_and_values", binary_keys_and_values, OP(SET) | OP(GET), 0, 0 },
    { "key_250_bytes", key_250_bytes, OP(SET) | OP(GET), 0, 0 },
    { "empty_value", empty_value, OP(SET) | OP(GET), 0, 0 },
    { "value_1mib", value_1mib, OP(SET) | OP(GET), 0, 0 },
    { "no_value_flag", no_value_flag, OP(SET) | OP(GET), 0, 0 },
    { "add_semantics", add_semantics, OP(ADD) | OP(GET), 0, 0 },
    { "replace_semantics", replace_semantics, OP(REPLACE) | OP(SET) | OP(GET), 0, 0 },
    { "append_semantics", append_semantics, OP(APPEND) | OP(SET) | OP(GET), 0, 0 },
    { "prepend_semantics", prepend_semantics, OP(PREPEND) | OP(SET) | OP(GET), 0, 0 },
    { "cas_semantics", cas_semantics, OP(CAS) | OP(SET) | OP(GET), 0, 1 },
    { "delete_semantics", delete_semantics, OP(DELETE) | OP(SET) | OP(GET), 0, 0 },
    { "incr_decr_semantics", incr_decr_semantics,
      OP(INCR) | OP(DECR) | OP(SET) | OP(GET), 0, 0 },
    { "touch_semantics", touch_semantics, OP(TOUCH) | OP(SET) | OP(GET), 0, 0 },
    { "gat_semantics", gat_semantics, OP(GAT) | OP(SET) | OP(GET), 0, 0 },
    { "flush_now", flush_now, OP(FLUSH) | OP(SET) | OP(ADD) | OP(GET), 0, 0 },
    { "many_keys", many_keys, OP(SET) | OP(GET), 0, 0 },
    { "set_already_expired", set_already_expired, OP(SET) | OP(ADD) | OP(GET), 0, 0 },
    /* Expiry group: these move time (fake clock or sleeps). */
    { "expired_invisible_to_every_op", expired_invisible_to_every_op,
      OP(SET) | OP(GET), 0, 0 },
    { "touch_and_gat_move_expiry", touch_and_gat_move_expiry,
      OP(SET) | OP(GET), 0, 0 },
    { "flush_delayed", flush_delayed, OP(FLUSH) | OP(SET) | OP(GET), 0, 0 },
    { "expiry_boundary_exact", expiry_boundary_exact,
      OP(FLUSH) | OP(SET) | OP(GET), 1, 0 },
    { "request_cas_on_other_writes", request_cas_on_other_writes,
      OP(DELETE) | OP(APPEND) | OP(PREPEND) | OP(INCR) | OP(DECR) | OP(SET)
          | OP(GET), 0, 1 },
    { "fill_keeps_given_cas", fill_keeps_given_cas,
      OP(FILL) | OP(CAS) | OP(FLUSH) | OP(GET), 0, 1 },
    { "ops_in_flight_in_order", ops_in_flight_in_order,
      OP(SET) | OP(INCR) | OP(DECR) | OP(APPEND) | OP(PREPEND) | OP(ADD)
          | OP(REPLACE) | OP(CAS) | OP(TOUCH) | OP(GAT) | OP(DELETE)
          | OP(GET), 0, 0 },
    };

    memcpy(tests, all, sizeof(all));
}

static const char *opnames[] = { "get", "gat", "touch", "set", "add",
                                 "replace", "append", "prepend", "cas",
                                 "delete", "incr", "decr", "flush",
                                 "fill", "get_text" };

/* Why t cannot run on this handler, or NULL. */
static const char *
skip_reason(const struct ctest *t, uint32_t ops, char *buf, size_t len)
{
    for (int op = 0; op < REND_OP__COUNT; op++) {
        if ((t->ops & (1u << op)) && !(ops & (1u << op))) {
            snprintf(buf, len, "handler has no %s op", opnames[op]);
            return buf;
        }
    }
    if (t->fake_clock && real_clock) {
        return "needs the fake clock (REND_CONTRACT_REAL_CLOCK=1)";
    }
    if (t->need_cas && !(handler_caps & REND_CAP_CAS)) {
        return "handler lacks REND_CAP_CAS";
    }
    if (strcmp(t->name, "touch_and_gat_move_expiry") == 0
        && !(ops & (OP(TOUCH) | OP(GAT)))) {
        return "handler has neither touch nor gat";
    }
    return NULL;
}

static Suite *
contract_suite(uint32_t ops, int *nskipped)
{
    Suite *s = suite_create("contract");
    TCase *tc = tcase_create(plugin);
    struct ctest tests[NTESTS];
    char buf[128];

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    fill_tests(tests);
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        const char *why = skip_reason(&tests[i], ops, buf, sizeof(buf));

        if (why != NULL) {
            printf("SKIPPED: %s:%s: %s\n", plugin, tests[i].name, why);
            (*nskipped)++;
            continue;
        }
        tcase_add_test(tc, tests[i].fn);
    }
    suite_add_tcase(s, tc);
    return s;
}

/* What the suite needs to know about the handler before choosing tests. */
struct probe {
    uint32_t caps;
    uint32_t ops; /* bit per non-NULL op slot */
};

/* Load the plugin in a child process and report its caps and ops: the
 * plugin may start threads, and Check forks each test from this process,
 * which must therefore stay single-threaded.  Returns 0 or -1. */
static int
probe_handler(struct probe *out)
{
    struct probe p = { 0, 0 };
    int fds[2], status;
    pid_t pid;

    if (pipe(fds) != 0 || (pid = fork()) < 0) {
        perror("contract: probe");
        return -1;
    }
    if (pid == 0) {
        char err[512];
        struct rend_th *t;

        close(fds[0]);
        t = open_instance(err, sizeof(err));
        if (t == NULL) {
            fprintf(stderr, "contract: cannot open %s: %s\n", plugin, err);
            teardown();
            _exit(1);
        }
        p.caps = rend_th_handler(t)->caps;
        for (int op = 0; op < REND_OP__COUNT; op++) {
            if (rend_th_handler(t)->ops[op] != NULL) {
                p.ops |= 1u << op;
            }
        }
        rend_th_close(t);
        teardown();
        _exit(write(fds[1], &p, sizeof(p)) == (ssize_t)sizeof(p) ? 0 : 1);
    }
    close(fds[1]);
    if (read(fds[0], out, sizeof(*out)) != (ssize_t)sizeof(*out)) {
        out = NULL;
    }
    close(fds[0]);
    waitpid(pid, &status, 0);
    return out != NULL && WIFEXITED(status) && WEXITSTATUS(status) == 0
           ? 0 : -1;
}

int
main(void)
{
    const char *rc = getenv("REND_CONTRACT_REAL_CLOCK");
    struct probe p;
    SRunner *sr;
    int nskipped = 0, nfailed;

    plugin = getenv("REND_CONTRACT_PLUGIN");
    if (plugin == NULL || *plugin == '\0') {
        plugin = "inmem";
    }
    real_clock = rc != NULL && strcmp(rc, "1") == 0;
    if (probe_handler(&p) != 0) {
        return EXIT_FAILURE;
    }
    handler_caps = p.caps;
    sr = srunner_create(contract_suite(p.ops, &nskipped));
    printf("contract: plugin %s, %s clock\n", plugin,
           real_clock ? "real" : "fake");
    fflush(stdout);
    srunner_run_all(sr, CK_NORMAL);
    nfailed = srunner_ntests_failed(sr);
    printf("contract: %d run, %d failed, %d skipped\n", srunner_ntests_run(sr),
           nfailed, nskipped);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
