/*
 * check_mc_chunk.c - the memcached plugin in chunked mode (Rend's layout)
 * against a real memcached: byte-exact round trips of sizes around the
 * chunk size up to 8 MiB, a deleted chunk is a miss, concurrent writers
 * never produce a mixed value, the metadata on the wire decodes as Rend's,
 * and the other ops (add/replace/cas/append/incr/touch/delete/expired);
 * pipelined ops on one key apply in issue order; keys up to 250 bytes
 * (digest names, full key verified on read); slab_size near 100 KB (one
 * chunk item per 100 KB value); chunks read with the metadata (a guess
 * from the thread's last value); large sets pipelined with their payloads
 * spliced into the connection's output; a 1 MB send buffer on backend
 * connections.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check_mc_common.h"

#define SLAB 1184
#define OVERHEAD 71
#define TOKEN 16
#define REND_MC_TEST_KEY 260

static struct mcproc mc;
static char servers[64];

static void
setup(void)
{
    ck_assert_int_eq(mcp_start(&mc, 0), 0);
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", mc.port);
}

static void
teardown(void)
{
    mcp_stop(&mc, SIGTERM);
}

static struct rend_th *
open_chunked(void)
{
    const char *opts[] = { "servers", servers, "chunked", "true",
                           "item_size_max", "8388608", "timeout_ms", "5000",
                           NULL };
    return mcp_open(opts);
}

static size_t
chunk_data(const char *key)
{
    return SLAB - OVERHEAD - strlen(key) - TOKEN;
}

static void
fill(char *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = (char)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
    }
}

START_TEST(test_sizes)
{
    struct rend_th *th = open_chunked();
    const char *key = "sz";
    size_t cs = chunk_data(key);
    size_t sizes[] = { 0, 1, cs - 1, cs, cs + 1, 100000, 1 << 20, 8 << 20 };

    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k], nout;
        char *v = malloc(n + 1), *out;
        fill(v, n, (unsigned)k);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, 2, v, n, 77, 0, NULL,
                                NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, 2, NULL, 0, 0, 0, &out,
                                &nout), REND_OK);
        ck_assert_uint_eq(nout, n);
        if (n > 0) {
            ck_assert_msg(memcmp(out, v, n) == 0, "size %zu differs", n);
        }
        free(out);
        free(v);
    }
    {
        char *v = calloc(1, (8 << 20) + 1);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, 2, v, (8 << 20) + 1, 0,
                                0, NULL, NULL), REND_ETOOBIG);
        free(v);
    }
    rend_th_close(th);
}
END_TEST

START_TEST(test_missing_chunk)
{
    struct rend_th *th = open_chunked();
    size_t n = 5000;
    char *v = malloc(n), out[256];

    fill(v, n, 3);
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "mk", 2, v, n, 0, 0, NULL, NULL),
                     REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "mk", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_OK);
    mcp_raw(mc.port, "md mk-2\r\n", 9, "\r\n", out, sizeof(out));
    ck_assert_str_eq(out, "HD\r\n");
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "mk", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    /* and the last chunk */
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "mk", 2, v, n, 0, 0, NULL, NULL),
                     REND_OK);
    mcp_raw(mc.port, "md mk-4\r\n", 9, "\r\n", out, sizeof(out));
    ck_assert_str_eq(out, "HD\r\n");
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "mk", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    free(v);
    rend_th_close(th);
}
END_TEST

static unsigned
get_be32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8
           | p[3];
}

START_TEST(test_wire_layout)
{
    struct rend_th *th = open_chunked();
    const char *key = "layout";
    size_t cs = chunk_data(key), n = cs * 2 + 10;
    char *v = malloc(n);
    static char out[8192];
    const unsigned char *m, *c;
    char *nl;
    int64_t now = time(NULL);

    fill(v, n, 9);
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, strlen(key), v, n, 0xabcd,
                            now + 1000, NULL, NULL), REND_OK);
    mcp_raw(mc.port, "mg layout-meta v f\r\n", 20, "\r\n\r\n", out,
            sizeof(out));
    ck_assert_msg(strncmp(out, "VA 40 f43981\r\n", 14) == 0, "%s", out);
    m = (const unsigned char *)out + 14;
    ck_assert_uint_eq(get_be32(m), n);
    ck_assert_uint_eq(get_be32(m + 4), 0xabcd);
    ck_assert_uint_eq(get_be32(m + 8), 3);
    ck_assert_uint_eq(get_be32(m + 12), cs);
    ck_assert(get_be32(m + 16) >= (unsigned)now - 2);
    ck_assert_uint_eq(get_be32(m + 20), (unsigned)(now + 1000));
    {
        unsigned char token[16];
        memcpy(token, m + 24, 16);
        /* last chunk: token + 10 data bytes + zero padding, flags = client's */
        mcp_raw(mc.port, "mg layout-2 v f\r\n", 17, "\r\n", out, sizeof(out));
        nl = strstr(out, "\r\n");
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        ck_assert_uint_eq(strtoul(out + 3, NULL, 10), cs + 16);
        ck_assert_uint_eq(SLAB - OVERHEAD - strlen(key), cs + 16);
        ck_assert_ptr_nonnull(strstr(out, " f43981"));
        c = (const unsigned char *)nl + 2;
        ck_assert_mem_eq(c, token, 16);
        ck_assert_mem_eq(c + 16, v + 2 * cs, 10);
        for (size_t i = 10; i < cs; i++) {
            ck_assert_uint_eq(c[16 + i], 0);
        }
    }
    free(v);
    rend_th_close(th);
}
END_TEST

struct writer {
    char value;
    int iterations;
    size_t n;
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    struct rend_th *th = open_chunked();
    char *v = malloc(w->n);

    memset(v, w->value, w->n);
    for (int i = 0; i < w->iterations; i++) {
        mcp_op(th, REND_OP_SET, "race", 4, v, w->n, 0, 0, NULL, NULL);
    }
    free(v);
    rend_th_close(th);
    return NULL;
}

START_TEST(test_concurrent_writers)
{
    struct writer wa = { 'A', 200, 20000 }, wb = { 'B', 200, 20000 };
    pthread_t ta, tb;
    struct rend_th *th;
    int hits = 0;

    ck_assert_int_eq(pthread_create(&ta, NULL, writer_main, &wa), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, writer_main, &wb), 0);
    th = open_chunked();
    for (int i = 0; i < 300; i++) {
        char *out;
        size_t n;
        int st = mcp_op(th, REND_OP_GET, "race", 4, NULL, 0, 0, 0, &out, &n);
        ck_assert(st == REND_OK || st == REND_MISS);
        if (st == REND_OK) {
            ck_assert_uint_eq(n, 20000);
            for (size_t k = 1; k < n; k++) {
                ck_assert_msg(out[k] == out[0], "mixed value at %zu", k);
            }
            hits++;
            free(out);
        }
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("chunked race: %d of 300 reads were hits, none mixed\n", hits);
    rend_th_close(th);
}
END_TEST

START_TEST(test_ops)
{
    struct rend_th *th = open_chunked();
    struct rend_op op;
    int64_t now = time(NULL);
    char *out, raw[512];
    size_t n;
    uint64_t cas;

    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "x", 1, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    ck_assert_int_eq(mcp_op(th, REND_OP_ADD, "x", 1, "one", 3, 1, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_ADD, "x", 1, "two", 3, 1, 0, NULL,
                            NULL), REND_NOT_STORED);
    ck_assert_int_eq(mcp_op(th, REND_OP_REPLACE, "y", 1, "two", 3, 1, 0, NULL,
                            NULL), REND_NOT_STORED);
    ck_assert_int_eq(mcp_op(th, REND_OP_REPLACE, "x", 1, "two", 3, 1, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_APPEND, "x", 1, "++", 2, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_PREPEND, "x", 1, "--", 2, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_APPEND, "y", 1, "++", 2, 0, 0, NULL,
                            NULL), REND_NOT_STORED);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "x", 1, NULL, 0, 0, 0, &out, &n),
                     REND_OK);
    ck_assert_str_eq(out, "--two++");
    free(out);

    /* cas on the metadata's cas */
    rend_th_op_init(&op, REND_OP_GET, "x", NULL, 0, 0, 0);
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    cas = op.out_cas;
    ck_assert_uint_eq(op.out_flags, 1);
    rend_th_op_fini(&op);
    rend_th_op_init(&op, REND_OP_CAS, "x", "c", 1, 0, 0);
    op.cas = cas + 1000;
    ck_assert_int_eq(rend_th_run(th, &op), REND_EXISTS);
    op.cas = cas;
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    rend_th_op_init(&op, REND_OP_CAS, "nope", "c", 1, 0, 0);
    op.cas = 1;
    ck_assert_int_eq(rend_th_run(th, &op), REND_NOT_FOUND);

    /* incr/decr on a chunked value */
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "n", 1, "99", 2, 0, 0, NULL,
                            NULL), REND_OK);
    rend_th_op_init(&op, REND_OP_INCR, "n", NULL, 0, 0, 0);
    op.delta = 1;
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_eq(op.out_number, 100);
    rend_th_op_init(&op, REND_OP_DECR, "n", NULL, 0, 0, 0);
    op.delta = 1000;
    ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
    ck_assert_uint_eq(op.out_number, 0);
    rend_th_op_init(&op, REND_OP_INCR, "x", NULL, 0, 0, 0);
    ck_assert_int_eq(rend_th_run(th, &op), REND_NON_NUMERIC);
    rend_th_op_init(&op, REND_OP_INCR, "zz", NULL, 0, 0, 0);
    ck_assert_int_eq(rend_th_run(th, &op), REND_NOT_FOUND);

    /* touch updates every piece and the metadata's Exptime */
    {
        size_t big = 4000;
        char *v = malloc(big);
        fill(v, big, 1);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, "t", 1, v, big, 0, now + 100,
                                NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_TOUCH, "t", 1, NULL, 0, 0,
                                now + 5000, NULL, NULL), REND_OK);
        mcp_raw(mc.port, "mg t-meta t v\r\n", 15, "\r\n\r\n", raw, sizeof(raw));
        ck_assert_msg(strncmp(raw, "VA 40 t", 7) == 0, "%s", raw);
        ck_assert(atoi(raw + 7) > 4900);
        ck_assert_uint_eq(get_be32((const unsigned char *)strstr(raw, "\r\n")
                                   + 2 + 20),
                          (unsigned)(now + 5000));
        mcp_raw(mc.port, "mg t-3 t\r\n", 10, "\r\n", raw, sizeof(raw));
        ck_assert_msg(strncmp(raw, "HD t", 4) == 0 && atoi(raw + 4) > 4900,
                      "%s", raw);
        rend_th_op_init(&op, REND_OP_GAT, "t", NULL, 0, 0, now + 7000);
        ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
        ck_assert_uint_eq(op.out_nvalue, big);
        ck_assert_mem_eq(op.out_value, v, big);
        ck_assert(op.out_exptime >= now + 6998);
        rend_th_op_fini(&op);
        ck_assert_int_eq(mcp_op(th, REND_OP_TOUCH, "zz", 2, NULL, 0, 0,
                                now + 5000, NULL, NULL), REND_NOT_FOUND);

        /* delete removes the metadata and every chunk */
        ck_assert_int_eq(mcp_op(th, REND_OP_DELETE, "t", 1, NULL, 0, 0, 0,
                                NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_DELETE, "t", 1, NULL, 0, 0, 0,
                                NULL, NULL), REND_NOT_FOUND);
        mcp_raw(mc.port, "mg t-meta\r\nmg t-0\r\nmg t-3\r\n", 27,
                "EN\r\nEN\r\nEN\r\n", raw, sizeof(raw));
        ck_assert_str_eq(raw, "EN\r\nEN\r\nEN\r\n");
        free(v);
    }

    /* an already expired set answers OK and leaves nothing readable */
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "e", 1, "live", 4, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "e", 1, "dead", 4, 0, now - 5,
                            NULL, NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "e", 1, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);

    /* binary keys go base64 for every piece */
    {
        const char bk[] = "sp ace\n\x01key";
        size_t v = 3000;
        char *val = malloc(v);
        fill(val, v, 5);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, bk, sizeof(bk) - 1, val, v,
                                0, 0, NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, bk, sizeof(bk) - 1, NULL, 0,
                                0, 0, &out, &n), REND_OK);
        ck_assert_uint_eq(n, v);
        ck_assert_mem_eq(out, val, v);
        free(out);
        free(val);
    }
    rend_th_close(th);
}
END_TEST

/* Ops on one key issued back to back (as the core issues a connection's
 * pipelined writes) take effect in issue order, as on memcached: each
 * multi-step op (meta then chunks, read-modify-write) completes before the
 * next one on its key starts.  Sizes cross chunk boundaries. */
START_TEST(test_pipelined_same_key)
{
    struct rend_th *th = open_chunked();
    size_t cs = chunk_data("pk");
    enum { N = 16 };
    struct rend_op ops[N], *pops[N];
    int st[N];
    char *a = malloc(3 * cs), *b = malloc(3 * cs), *want;
    size_t nwant = 0;

    memset(a, 'a', 3 * cs);
    memset(b, 'b', 3 * cs);
    for (int round = 0; round < 20; round++) {
        int i = 0;
        /* set, touch, append, prepend, touch, delete, touch, add, append,
         * replace, get, incr on a counter set just before */
        rend_th_op_init(&ops[i++], REND_OP_SET, "pk", a, cs, 5, 0);
        rend_th_op_init(&ops[i++], REND_OP_TOUCH, "pk", NULL, 0, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_APPEND, "pk", b, 2 * cs + 7, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_PREPEND, "pk", a, 1, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_TOUCH, "pk", NULL, 0, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_DELETE, "pk", NULL, 0, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_TOUCH, "pk", NULL, 0, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_APPEND, "pk", b, 1, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_ADD, "pk", a, 0, 9, 0);
        rend_th_op_init(&ops[i++], REND_OP_APPEND, "pk", b, cs, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_APPEND, "pk", a, 2, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_REPLACE, "pk", b, 3 * cs - 1, 4,
                        0);
        rend_th_op_init(&ops[i++], REND_OP_PREPEND, "pk", a, cs + 1, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_SET, "pn", "41", 2, 0, 0);
        rend_th_op_init(&ops[i++], REND_OP_INCR, "pn", NULL, 0, 0, 0);
        ops[i - 1].delta = 1;
        rend_th_op_init(&ops[i++], REND_OP_INCR, "pn", NULL, 0, 0, 0);
        ops[i - 1].delta = 100;
        ck_assert_int_eq(i, N);
        for (i = 0; i < N; i++) {
            pops[i] = &ops[i];
        }
        rend_th_run_many(th, pops, N, st);
        {
            static const int exp[N] = {
                REND_OK, REND_OK, REND_OK, REND_OK, REND_OK, REND_OK,
                REND_NOT_FOUND, REND_NOT_STORED, REND_OK, REND_OK, REND_OK,
                REND_OK, REND_OK, REND_OK, REND_OK, REND_OK
            };
            for (i = 0; i < N; i++) {
                ck_assert_msg(st[i] == exp[i], "round %d op %d: %d, not %d",
                              round, i, st[i], exp[i]);
            }
        }
        ck_assert_uint_eq(ops[14].out_number, 42);
        ck_assert_uint_eq(ops[15].out_number, 142);
        for (i = 0; i < N; i++) {
            rend_th_op_fini(&ops[i]);
        }
        /* the last write wins: a (cs + 1) + b (3 cs - 1), flags 4 */
        nwant = 4 * cs;
        want = malloc(nwant);
        memset(want, 'a', cs + 1);
        memset(want + cs + 1, 'b', 3 * cs - 1);
        rend_th_op_init(&ops[0], REND_OP_GET, "pk", NULL, 0, 0, 0);
        ck_assert_int_eq(rend_th_run(th, &ops[0]), REND_OK);
        ck_assert_uint_eq(ops[0].out_nvalue, nwant);
        ck_assert_uint_eq(ops[0].out_flags, 4);
        for (size_t j = 0; j < nwant; j++) {
            ck_assert_msg(ops[0].out_value[j] == want[j],
                          "round %d: byte %zu of %zu is %c", round, j, nwant,
                          ops[0].out_value[j]);
        }
        rend_th_op_fini(&ops[0]);
        free(want);
    }
    free(a);
    free(b);
    rend_th_close(th);
}
END_TEST

/* The digest name of the one digest-named key in memcached (from
 * lru_crawler metadump), "~rend~<32 hex>", into name (39 bytes). */
static void
find_digest_name(char *name)
{
    static char out[65536];
    const char *k;

    mcp_raw(mc.port, "lru_crawler metadump all\r\n", 26, "END\r\n", out,
            sizeof(out));
    k = strstr(out, "key=~rend~");
    ck_assert_msg(k != NULL, "no digest name in %.300s", out);
    memcpy(name, k + 4, 38);
    name[38] = '\0';
}

/* Every key memcached accepts (1..250 bytes) works in chunked mode: those
 * whose "<key>-meta"/"<key>-<i>" would pass 250 bytes get digest names,
 * with the full key in the metadata, checked on every read. */
START_TEST(test_long_keys)
{
    struct rend_th *th = open_chunked();
    static const size_t lens[] = { 1, 244, 245, 246, 249, 250 };
    char key[REND_MC_TEST_KEY + 1], key2[REND_MC_TEST_KEY + 1];
    size_t n = 3000;
    char *v = malloc(n + 10), *out, name[40], raw[1024];
    size_t nout;
    struct rend_op op;

    fill(v, n, 5);
    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
        size_t nk = lens[l];
        for (size_t i = 0; i < nk; i++) {
            key[i] = (char)('a' + (i + nk) % 26);
        }
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, nk, v, n, 3, 0, NULL,
                                NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_APPEND, key, nk, "xyz", 3, 0, 0,
                                NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_PREPEND, key, nk, "<", 1, 0, 0,
                                NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_TOUCH, key, nk, NULL, 0, 0, 0,
                                NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, nk, NULL, 0, 0, 0, &out,
                                &nout), REND_OK);
        ck_assert_uint_eq(nout, n + 4);
        ck_assert_int_eq(out[0], '<');
        ck_assert(memcmp(out + 1, v, n) == 0);
        ck_assert(memcmp(out + 1 + n, "xyz", 3) == 0);
        free(out);
        ck_assert_int_eq(mcp_op(th, REND_OP_ADD, key, nk, "a", 1, 0, 0, NULL,
                                NULL), REND_NOT_STORED);
        ck_assert_int_eq(mcp_op(th, REND_OP_DELETE, key, nk, NULL, 0, 0, 0,
                                NULL, NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, nk, NULL, 0, 0, 0, NULL,
                                NULL), REND_MISS);
        ck_assert_int_eq(mcp_op(th, REND_OP_TOUCH, key, nk, NULL, 0, 0, 0,
                                NULL, NULL), REND_NOT_FOUND);
        ck_assert_int_eq(mcp_op(th, REND_OP_ADD, key, nk, "7", 1, 0, 0, NULL,
                                NULL), REND_OK);
        rend_th_op_init(&op, REND_OP_INCR, NULL, NULL, 0, 0, 0);
        op.key = key;
        op.nkey = (uint32_t)nk;
        op.delta = 5;
        ck_assert_int_eq(rend_th_run(th, &op), REND_OK);
        ck_assert_uint_eq(op.out_number, 12);
        ck_assert_int_eq(mcp_op(th, REND_OP_DELETE, key, nk, NULL, 0, 0, 0,
                                NULL, NULL), REND_OK);
    }
    /* 250-byte keys that differ in their last byte only */
    memset(key, 'q', 250);
    memcpy(key2, key, 250);
    key2[249] = 'r';
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, 250, v, n, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, key2, 250, "two", 3, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, 250, NULL, 0, 0, 0, &out,
                            &nout), REND_OK);
    ck_assert_uint_eq(nout, n);
    ck_assert(memcmp(out, v, n) == 0);
    free(out);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, key2, 250, NULL, 0, 0, 0, &out,
                            &nout), REND_OK);
    ck_assert_str_eq(out, "two");
    free(out);
    ck_assert_int_eq(mcp_op(th, REND_OP_DELETE, key2, 250, NULL, 0, 0, 0,
                            NULL, NULL), REND_OK);
    /* a binary 250-byte key (base64 would not fit either) */
    for (int i = 0; i < 250; i++) {
        key2[i] = (char)(i * 7);
    }
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, key2, 250, "bin", 3, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, key2, 250, NULL, 0, 0, 0, &out,
                            &nout), REND_OK);
    ck_assert_str_eq(out, "bin");
    free(out);
    ck_assert_int_eq(mcp_op(th, REND_OP_DELETE, key2, 250, NULL, 0, 0, 0,
                            NULL, NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, 251, "x", 1, 0, 0, NULL,
                            NULL), REND_EINVAL);

    /* on the wire: "<name>-meta" holds Rend's 40 bytes then the key */
    find_digest_name(name);
    snprintf(raw, sizeof(raw), "mg %s-meta v\r\n", name);
    mcp_raw(mc.port, raw, strlen(raw), "\r\n\r\n", (char *)v, n);
    ck_assert_msg(strncmp(v, "VA 290\r\n", 8) == 0, "%.40s", v);
    ck_assert(memcmp(v + 8 + 40, key, 250) == 0);
    {
        /* a digest collision: the metadata under the name is another
         * key's (same name, different full key): a miss, and nothing of
         * the other key is touched */
        char req[600];
        size_t nreq;
        v[8 + 40 + 249] = 'z';
        nreq = (size_t)snprintf(req, sizeof(req), "ms %s-meta 290 T0\r\n",
                                name);
        memcpy(req + nreq, v + 8, 290);
        memcpy(req + nreq + 290, "\r\n", 2);
        mcp_raw(mc.port, req, nreq + 292, "\r\n", raw, sizeof(raw));
        ck_assert_str_eq(raw, "HD\r\n");
    }
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, 250, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    ck_assert_int_eq(mcp_op(th, REND_OP_DELETE, key, 250, NULL, 0, 0, 0,
                            NULL, NULL), REND_NOT_FOUND);
    ck_assert_int_eq(mcp_op(th, REND_OP_TOUCH, key, 250, NULL, 0, 0, 0, NULL,
                            NULL), REND_NOT_FOUND);
    ck_assert_int_eq(mcp_op(th, REND_OP_APPEND, key, 250, "a", 1, 0, 0, NULL,
                            NULL), REND_NOT_STORED);
    /* (still there: add/replace decide on the name, so add would answer
     * NOT_STORED; a set takes the name over) */
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, 250, "a", 1, 0, 0, NULL,
                            NULL), REND_OK);
    snprintf(raw, sizeof(raw), "mg %s-meta s\r\n", name);
    mcp_raw(mc.port, raw, strlen(raw), "\r\n", (char *)v, n);
    ck_assert_str_eq(v, "HD s290\r\n");
    /* a plain key spelled like the digest name never reads the long
     * key's metadata */
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, name, 38, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    ck_assert_int_eq(mcp_op(th, REND_OP_DELETE, name, 38, NULL, 0, 0, 0,
                            NULL, NULL), REND_NOT_FOUND);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, 250, NULL, 0, 0, 0, &out,
                            &nout), REND_OK);
    ck_assert_str_eq(out, "a");
    free(out);
    free(v);
    rend_th_close(th);
}
END_TEST

/* incr/decr read and write numbers as memcached does: a result that fits
 * the old length is padded with spaces, and the number may be followed by
 * white space and anything ("12 x"). */
START_TEST(test_counter_like_memcached)
{
    struct rend_th *th = open_chunked();
    static const struct {
        const char *value, *after;
        int code;
        uint64_t delta;
        int st;
        uint64_t number;
    } c[] = {
        { "10", "5 ", REND_OP_DECR, 5, REND_OK, 5 },
        { "5 ", "105", REND_OP_INCR, 100, REND_OK, 105 },
        { "105", "0  ", REND_OP_DECR, 200, REND_OK, 0 },
        { "12 x", "13  ", REND_OP_INCR, 1, REND_OK, 13 },
        { " +7", "8  ", REND_OP_INCR, 1, REND_OK, 8 },
        { "-0", "1 ", REND_OP_INCR, 1, REND_OK, 1 },
        { "-1", NULL, REND_OP_INCR, 1, REND_NON_NUMERIC, 0 },
        { "12x", NULL, REND_OP_INCR, 1, REND_NON_NUMERIC, 0 },
        { "", NULL, REND_OP_INCR, 1, REND_NON_NUMERIC, 0 },
        { "18446744073709551615", "0                   ", REND_OP_INCR, 1,
          REND_OK, 0 },
        { "18446744073709551616", NULL, REND_OP_INCR, 1, REND_NON_NUMERIC,
          0 },
    };

    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct rend_op op;
        char *out;
        size_t n;

        ck_assert_int_eq(mcp_op(th, REND_OP_SET, "cn", 2, c[i].value,
                                strlen(c[i].value), 0, 0, NULL, NULL),
                         REND_OK);
        rend_th_op_init(&op, c[i].code, "cn", NULL, 0, 0, 0);
        op.delta = c[i].delta;
        ck_assert_int_eq(rend_th_run(th, &op), c[i].st);
        if (c[i].st != REND_OK) {
            continue;
        }
        ck_assert_uint_eq(op.out_number, c[i].number);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, "cn", 2, NULL, 0, 0, 0, &out,
                                &n), REND_OK);
        ck_assert_msg(strcmp(out, c[i].after) == 0, "%s: got '%s', not '%s'",
                      c[i].value, out, c[i].after);
        free(out);
    }
    rend_th_close(th);
}
END_TEST

START_TEST(test_throughput)
{
    struct rend_th *th = open_chunked();
    enum { N = 200 };
    static struct rend_op ops[N];
    struct rend_op *pops[N];
    static char keys[N][16];
    int st[N];
    char *v = malloc(10000);
    struct timespec t0, t1;
    double dt;

    fill(v, 10000, 2);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "tp%d", i);
        pops[i] = &ops[i];
        rend_th_op_init(&ops[i], REND_OP_SET, keys[i], v, 10000, 0, 0);
    }
    rend_th_run_many(th, pops, N, st);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < 20; r++) {
        for (int i = 0; i < N; i++) {
            rend_th_op_init(&ops[i], REND_OP_GET, keys[i], NULL, 0, 0, 0);
        }
        rend_th_run_many(th, pops, N, st);
        for (int i = 0; i < N; i++) {
            ck_assert_int_eq(st[i], REND_OK);
            rend_th_op_fini(&ops[i]);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("memcached chunked: %.0f gets/s of 10 KB values (batches of %d)\n",
           20 * N / dt, N);
    free(v);
    rend_th_close(th);
}
END_TEST

/* ---- larger chunks, reads with the metadata, spliced writes ---- */

static struct rend_th *
open_chunked_slab(const char *slab)
{
    const char *opts[] = { "servers", servers, "chunked", "true",
                           "item_size_max", "8388608", "timeout_ms", "5000",
                           "slab_size", slab, NULL };
    return mcp_open(opts);
}

/* The value of one chunk item as memcached holds it (mg <name> v): its
 * length, or 0 when missing. */
static size_t
chunk_item_len(const char *name)
{
    char req[300], out[512];

    snprintf(req, sizeof(req), "mg %s s\r\n", name);
    mcp_raw(mc.port, req, strlen(req), "\r\n", out, sizeof(out));
    if (strncmp(out, "HD s", 4) != 0) {
        return 0;
    }
    return strtoul(out + 4, NULL, 10);
}

/* slab_size = 103496 (memcached 1.6's class near 100 KB): a 100 KB value
 * is one chunk item of slab - 71 - len(key) bytes, a 1 MiB value eleven;
 * every size round-trips byte-exact, and a missing chunk is a miss. */
START_TEST(test_large_slab)
{
    struct rend_th *th = open_chunked_slab("103496");
    const char *key = "big";
    size_t cv = 103496 - OVERHEAD - strlen(key), cs = cv - TOKEN;
    size_t sizes[] = { 0, 1, 102400, cs, cs + 1, 1 << 20, 8 << 20, 5000 };

    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k], nout;
        char *v = malloc(n + 1), *out;
        fill(v, n, (unsigned)k + 40);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, 3, v, n, 5, 0, NULL,
                                NULL), REND_OK);
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, 3, NULL, 0, 0, 0, &out,
                                &nout), REND_OK);
        ck_assert_uint_eq(nout, n);
        ck_assert_msg(memcmp(out, v, n) == 0, "size %zu differs", n);
        free(out);
        free(v);
    }
    /* the last value (5000 bytes): one padded chunk of the full size */
    ck_assert_uint_eq(chunk_item_len("big-0"), cv);
    ck_assert_uint_eq(chunk_item_len("big-meta"), 40);
    {
        size_t n = 1 << 20;
        char *v = malloc(n), out[64];
        fill(v, n, 3);
        ck_assert_int_eq(mcp_op(th, REND_OP_SET, key, 3, v, n, 0, 0, NULL,
                                NULL), REND_OK);
        ck_assert_uint_eq(chunk_item_len("big-10"), cv);
        mcp_raw(mc.port, "md big-10\r\n", 11, "\r\n", out, sizeof(out));
        ck_assert_str_eq(out, "HD\r\n");
        ck_assert_int_eq(mcp_op(th, REND_OP_GET, key, 3, NULL, 0, 0, 0, NULL,
                                NULL), REND_MISS);
        free(v);
    }
    rend_th_close(th);
}
END_TEST

/* A get reads as many chunks with the metadata as the thread's last
 * value had: chunks past the value's own count (left by a longer value
 * under the key) are ignored, a longer value than the guess takes a
 * second read, and a missing chunk on either side of the guess is a
 * miss. */
START_TEST(test_reads_with_meta)
{
    struct rend_th *th = open_chunked();
    size_t cs = chunk_data("rm");
    size_t nlong = 20 * cs, nshort = 2 * cs - 5, nout;
    char *vl = malloc(nlong), *vs = malloc(nshort), *out, reply[64];

    fill(vl, nlong, 11);
    fill(vs, nshort, 12);
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "rm", 2, vl, nlong, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "rm", 2, NULL, 0, 0, 0, &out,
                            &nout), REND_OK);
    ck_assert_uint_eq(nout, nlong);
    free(out);
    /* the thread now reads 20 chunks up front; rm-2..rm-19 stay behind */
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "rm", 2, vs, nshort, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_uint_ne(chunk_item_len("rm-19"), 0);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "rm", 2, NULL, 0, 0, 0, &out,
                            &nout), REND_OK);
    ck_assert_uint_eq(nout, nshort);
    ck_assert(memcmp(out, vs, nshort) == 0);
    free(out);
    /* now 2 up front: a 20-chunk value needs the rest in a second read */
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "rl", 2, vl, nlong, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "rl", 2, NULL, 0, 0, 0, &out,
                            &nout), REND_OK);
    ck_assert_uint_eq(nout, nlong);
    ck_assert(memcmp(out, vl, nlong) == 0);
    free(out);
    /* a chunk missing past the guess (2 chunks now after the short get) */
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "rm", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_OK);
    mcp_raw(mc.port, "md rl-15\r\n", 10, "\r\n", reply, sizeof(reply));
    ck_assert_str_eq(reply, "HD\r\n");
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "rl", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    /* and within it (20 up front after reading a long value) */
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "rl", 2, vl, nlong, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "rl", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_OK);
    mcp_raw(mc.port, "md rl-3\r\n", 9, "\r\n", reply, sizeof(reply));
    ck_assert_str_eq(reply, "HD\r\n");
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "rl", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    /* a miss of the metadata with chunks left over is a miss */
    mcp_raw(mc.port, "md rm-meta\r\n", 12, "\r\n", reply, sizeof(reply));
    ck_assert_str_eq(reply, "HD\r\n");
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "rm", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    free(vl);
    free(vs);
    rend_th_close(th);
}
END_TEST

/* memcached's get_misses counter (a quiet mg that misses counts too). */
static unsigned long
mc_get_misses(void)
{
    static char out[8192];
    const char *m;

    mcp_raw(mc.port, "stats\r\n", 7, "END\r\n", out, sizeof(out));
    m = strstr(out, "STAT get_misses ");
    ck_assert_ptr_nonnull(m);
    return strtoul(m + 16, NULL, 10);
}

/* The chunks read up front are as many as the thread's last value had,
 * and every miss halves them: a missing key costs memcached 1 + 20
 * lookups right after a 20-chunk value, then 1 + 10, then 1 + 5. */
START_TEST(test_reads_with_meta_misses)
{
    struct rend_th *th = open_chunked();
    size_t n = 20 * chunk_data("mm"), nout;
    char *v = malloc(n), *out;
    unsigned long m0, m1, m2, m3;

    fill(v, n, 21);
    ck_assert_int_eq(mcp_op(th, REND_OP_SET, "mm", 2, v, n, 0, 0, NULL,
                            NULL), REND_OK);
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "mm", 2, NULL, 0, 0, 0, &out,
                            &nout), REND_OK);
    ck_assert_uint_eq(nout, n);
    free(out);
    m0 = mc_get_misses();
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "mx", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    m1 = mc_get_misses();
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "mx", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    m2 = mc_get_misses();
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "mx", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    m3 = mc_get_misses();
    ck_assert_uint_eq(m1 - m0, 21);
    ck_assert_uint_eq(m2 - m1, 11);
    ck_assert_uint_eq(m3 - m2, 6);
    free(v);
    rend_th_close(th);
}
END_TEST

/* Many large sets issued at once on one connection (more than the socket
 * takes, so the spliced payloads wait for it), different sizes and keys,
 * then gat and get of each: every value is whole and in its place. */
START_TEST(test_spliced_pipeline)
{
    struct rend_th *th = open_chunked_slab("17352");
    enum { N = 24 };
    static struct rend_op ops[N];
    struct rend_op *pops[N];
    static char keys[N][16];
    char *v[N];
    size_t n[N];
    int st[N];

    for (int i = 0; i < N; i++) {
        n[i] = 150000 + (size_t)i * 7919;
        v[i] = malloc(n[i]);
        fill(v[i], n[i], (unsigned)i + 100);
        snprintf(keys[i], sizeof(keys[i]), "sp%d", i % 20);
        pops[i] = &ops[i];
        /* keys sp0..sp3 are written twice: the later write wins */
        rend_th_op_init(&ops[i], REND_OP_SET, keys[i], v[i], n[i], 0, 0);
    }
    rend_th_run_many(th, pops, N, st);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(st[i], REND_OK);
        rend_th_op_fini(&ops[i]);
    }
    for (int i = 0; i < 20; i++) {
        rend_th_op_init(&ops[i], i % 2 ? REND_OP_GAT : REND_OP_GET, keys[i],
                        NULL, 0, 0, 0);
    }
    rend_th_run_many(th, pops, 20, st);
    for (int i = 0; i < 20; i++) {
        int w = i < 4 ? i + 20 : i;
        ck_assert_int_eq(st[i], REND_OK);
        ck_assert_uint_eq(ops[i].out_nvalue, n[w]);
        ck_assert_msg(memcmp(ops[i].out_value, v[w], n[w]) == 0,
                      "%s differs", keys[i]);
        rend_th_op_fini(&ops[i]);
    }
    for (int i = 0; i < N; i++) {
        free(v[i]);
    }
    rend_th_close(th);
}
END_TEST

/* A chunked instance asks for a 1 MB send buffer on its unix-socket
 * backend connections, so a batch of several large sets goes out in one
 * write instead of stopping at the default buffer (EAGAIN, a wake-up for
 * writability, another write).  (TCP keeps the kernel's autotuning.)
 * The plugin runs in this process: find its socket to memcached's path
 * and read the size back. */
START_TEST(test_backend_sndbuf)
{
    struct rend_srv us;
    struct rend_th *th;
    long wmem_max = 0;
    int found = 0, want;
    FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");

    ck_assert_int_eq(rend_srv_start_memcached(&us, NULL), 0);
    {
        const char *opts[] = { "servers", us.path, "chunked", "true",
                               "slab_size", "103496", "timeout_ms", "5000",
                               NULL };
        th = mcp_open(opts);
    }
    if (f != NULL) {
        if (fscanf(f, "%ld", &wmem_max) != 1) {
            wmem_max = 0;
        }
        fclose(f);
    }
    /* the kernel doubles what it grants, capped at wmem_max */
    want = 2 * (int)(wmem_max > 0 && wmem_max < (1 << 20) ? wmem_max
                                                          : (1 << 20));
    ck_assert_int_eq(mcp_op(th, REND_OP_GET, "sb", 2, NULL, 0, 0, 0, NULL,
                            NULL), REND_MISS);
    for (int fd = 3; fd < 4096; fd++) {
        struct sockaddr_un peer;
        socklen_t len = sizeof(peer);
        int sb = 0;
        socklen_t sl = sizeof(sb);
        memset(&peer, 0, sizeof(peer));
        if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0
            || peer.sun_family != AF_UNIX
            || strcmp(peer.sun_path, us.path) != 0
            || getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, &sl) != 0) {
            continue;
        }
        ck_assert_msg(sb >= want, "backend SO_SNDBUF %d, want >= %d", sb,
                      want);
        found++;
    }
    ck_assert_int_ge(found, 1);
    rend_th_close(th);
    rend_srv_kill(&us, SIGTERM);
}
END_TEST

int
main(void)
{
    const char *bin = getenv("MEMCACHED");
    Suite *s = suite_create("mc_chunk");
    TCase *tc = tcase_create("chunked");
    SRunner *sr;
    int failed;

    if (access(bin != NULL && *bin ? bin : "/usr/bin/memcached", X_OK) != 0) {
        return 77;
    }
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_missing_chunk);
    tcase_add_test(tc, test_wire_layout);
    tcase_add_test(tc, test_concurrent_writers);
    tcase_add_test(tc, test_ops);
    tcase_add_test(tc, test_pipelined_same_key);
    tcase_add_test(tc, test_long_keys);
    tcase_add_test(tc, test_counter_like_memcached);
    tcase_add_test(tc, test_throughput);
    tcase_add_test(tc, test_large_slab);
    tcase_add_test(tc, test_reads_with_meta);
    tcase_add_test(tc, test_reads_with_meta_misses);
    tcase_add_test(tc, test_spliced_pipeline);
    tcase_add_test(tc, test_backend_sndbuf);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
