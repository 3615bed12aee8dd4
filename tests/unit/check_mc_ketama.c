/*
 * check_mc_ketama.c - the plugin's ketama ring against libmemcached's
 * weighted ketama (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED): the server chosen
 * for 10,000 keys on a 3-server weighted pool must match.  libmemcached is
 * loaded with dlopen when installed (libmemcached11); the committed
 * vectors (check_mc_vectors.c, produced by libmemcached 1.1.4) are checked
 * always, so the test means something without the library too.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/memcached/rend_mc.h"

#define NKEYS 10000
/* From libmemcached-1.0/types/behavior.h (stable enum). */
#define LMC_BEHAVIOR_KETAMA_WEIGHTED 16

extern const unsigned char rend_mc_test_vectors[NKEYS];

struct lmc {
    void *dl;
    void *(*create)(void *);
    void (*free_)(void *);
    int (*add)(void *, const char *, unsigned short, uint32_t);
    int (*behavior_set)(void *, int, uint64_t);
    const void *(*by_key)(void *, const char *, size_t, int *);
    unsigned short (*port)(const void *);
};

static int
lmc_load(struct lmc *l)
{
    l->dl = dlopen("libmemcached.so.11", RTLD_NOW | RTLD_LOCAL);
    if (l->dl == NULL) {
        return -1;
    }
    *(void **)&l->create = dlsym(l->dl, "memcached_create");
    *(void **)&l->free_ = dlsym(l->dl, "memcached_free");
    *(void **)&l->add = dlsym(l->dl, "memcached_server_add_with_weight");
    *(void **)&l->behavior_set = dlsym(l->dl, "memcached_behavior_set");
    *(void **)&l->by_key = dlsym(l->dl, "memcached_server_by_key");
    *(void **)&l->port = dlsym(l->dl, "memcached_server_port");
    return l->create && l->free_ && l->add && l->behavior_set && l->by_key
                   && l->port
               ? 0
               : -1;
}

static const struct rend_mc_ring_server pool3[] = {
    { "127.0.0.1", 11211, 1 },
    { "127.0.0.1", 11212, 2 },
    { "127.0.0.1", 11213, 3 },
};

static const struct rend_mc_ring_server pool5[] = {
    { "10.0.0.1", 11211, 5 },  { "cache-b.example", 11300, 1 },
    { "10.0.0.3", 22122, 2 },  { "localhost", 11211, 1 },
    { "10.0.0.5", 11211, 10 },
};

static void
key_of(char *buf, size_t n, unsigned i)
{
    snprintf(buf, n, "key:%u", i);
}

/* Compares the plugin's choice with libmemcached for pool p; returns the
 * number of mismatches, or -1 when libmemcached is not available. */
static int
compare_lib(const struct rend_mc_ring_server *p, unsigned n)
{
    static struct lmc l;
    struct rend_mc_ring ring;
    void *memc;
    int bad = 0;

    if (l.dl == NULL && lmc_load(&l) != 0) {
        return -1;
    }
    memc = l.create(NULL);
    ck_assert_ptr_nonnull(memc);
    ck_assert_int_eq(l.behavior_set(memc, LMC_BEHAVIOR_KETAMA_WEIGHTED, 1), 0);
    for (unsigned s = 0; s < n; s++) {
        ck_assert_int_eq(l.add(memc, p[s].host, (unsigned short)p[s].port,
                               p[s].weight), 0);
    }
    ck_assert_int_eq(rend_mc_ring_build(&ring, p, n), 0);
    for (unsigned i = 0; i < NKEYS; i++) {
        char key[32];
        int rc;
        const void *inst;
        unsigned ours;

        key_of(key, sizeof(key), i);
        inst = l.by_key(memc, key, strlen(key), &rc);
        ck_assert_ptr_nonnull(inst);
        ours = rend_mc_ring_server_of(&ring, key, strlen(key));
        /* ports identify servers in pool3; pool5 compares port+index */
        if (l.port(inst) != p[ours].port) {
            bad++;
        }
    }
    rend_mc_ring_free(&ring);
    l.free_(memc);
    return bad;
}

START_TEST(test_vectors)
{
    struct rend_mc_ring ring;
    unsigned count[3] = { 0, 0, 0 };
    int bad = 0;

    ck_assert_int_eq(rend_mc_ring_build(&ring, pool3, 3), 0);
    /* weights 1:2:3 -> 80, 160, 240 points */
    ck_assert_uint_eq(ring.npoints, 480);
    for (unsigned i = 0; i < NKEYS; i++) {
        char key[32];
        unsigned s;
        key_of(key, sizeof(key), i);
        s = rend_mc_ring_server_of(&ring, key, strlen(key));
        count[s]++;
        if (s != rend_mc_test_vectors[i]) {
            bad++;
        }
    }
    ck_assert_int_eq(bad, 0);
    /* the weights show: every server has keys, server 2 the most */
    ck_assert(count[0] > 0 && count[2] > count[0]);
    rend_mc_ring_free(&ring);
}
END_TEST

START_TEST(test_libmemcached)
{
    int bad3 = compare_lib(pool3, 3);
    int bad5;

    if (bad3 < 0) {
        printf("libmemcached.so.11 not installed: vectors only\n");
        return;
    }
    ck_assert_int_eq(bad3, 0);
    bad5 = compare_lib(pool5, 5);
    ck_assert_int_eq(bad5, 0);
}
END_TEST

START_TEST(test_single_and_replicas)
{
    struct rend_mc_ring ring;
    unsigned out[3];

    ck_assert_int_eq(rend_mc_ring_build(&ring, pool3, 1), 0);
    ck_assert_uint_eq(rend_mc_ring_server_of(&ring, "x", 1), 0);
    rend_mc_ring_free(&ring);
    ck_assert_int_eq(rend_mc_ring_build(&ring, pool3, 3), 0);
    for (unsigned i = 0; i < 1000; i++) {
        char key[32];
        key_of(key, sizeof(key), i);
        ck_assert_uint_eq(rend_mc_ring_replicas(&ring, key, strlen(key), out,
                                                3), 3);
        ck_assert_uint_eq(out[0],
                          rend_mc_ring_server_of(&ring, key, strlen(key)));
        ck_assert(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
    }
    rend_mc_ring_free(&ring);
}
END_TEST

/* The MD5 of data[0..n) in lowercase hex, into hex (33 bytes). */
static const char *
md5_hex(const void *data, size_t n, char hex[33])
{
    unsigned char d[16];

    rend_mc_md5(data, n, d);
    for (int j = 0; j < 16; j++) {
        snprintf(hex + 2 * j, 3, "%02x", d[j]);
    }
    return hex;
}

START_TEST(test_md5)
{
    unsigned char d[16];
    static const unsigned char abc[16] = {
        0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0,
        0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72,
    };
    char big[1000];

    /* RFC 1321's test suite (A.5): one block, two, and 80 bytes */
    static const struct {
        const char *in, *hex;
    } rfc[] = {
        { "", "d41d8cd98f00b204e9800998ecf8427e" },
        { "a", "0cc175b9c0f1b6a831c399e269772661" },
        { "abc", "900150983cd24fb0d6963f7d28e17f72" },
        { "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
        { "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
        { "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f" },
        { "12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a" },
    };
    char hex[33];

    rend_mc_md5("abc", 3, d);
    ck_assert_mem_eq(d, abc, 16);
    for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
        ck_assert_str_eq(md5_hex(rfc[i].in, strlen(rfc[i].in), hex),
                         rfc[i].hex);
    }
    memset(big, 'a', sizeof(big));
    /* 15 whole blocks and a tail */
    ck_assert_str_eq(md5_hex(big, sizeof(big), hex),
                     "cabe45dcc9ae5b66ba86600cca6b8ba8");
    /* lengths around the 56/64-byte padding edges must not crash and must
     * differ from each other */
    for (size_t n = 50; n < 140; n++) {
        unsigned char e[16];
        rend_mc_md5(big, n, d);
        rend_mc_md5(big, n + 1, e);
        ck_assert(memcmp(d, e, 16) != 0);
    }
}
END_TEST

/* The hand-written number formatter and parser of the plugin's hot path
 * (rend_mc.h) agree with printf and strtoull, at every digit count and
 * at the 64-bit limits. */
START_TEST(test_put_get_u64)
{
    char buf[32], ref[32];
    uint64_t v = 0, got;

    for (int i = 0; i < 2000000 + 400; i++) {
        char *e;
        if (i < 2000000) {
            v = (uint64_t)i;
        } else if (i < 2000000 + 200) {
            v = (i % 2 ? 1ull : 9ull) * 1;
            for (int k = 0; k < (i - 2000000) / 10; k++) {
                v = v * 10 + (uint64_t)(i % 10);
            }
        } else {
            v = UINT64_MAX - (uint64_t)(i - 2000200);
        }
        got = 0;
        e = rend_mc_put_u64(buf, v);
        *e = '\0';
        snprintf(ref, sizeof(ref), "%llu", (unsigned long long)v);
        /* plain tests: a ck_assert per value costs Check a syscall */
        if (strcmp(buf, ref) != 0 || rend_mc_get_u64(buf, e, &got) != e
            || got != v) {
            ck_abort_msg("%llu: put '%s', read back %llu",
                         (unsigned long long)v, buf, (unsigned long long)got);
        }
    }
    ck_assert_ptr_null(rend_mc_get_u64("18446744073709551616",
                                       "18446744073709551616" + 20, &got));
    ck_assert_str_eq((*rend_mc_put_i64(buf, -42) = '\0', buf), "-42");
}
END_TEST

int
main(int argc, char **argv)
{
    Suite *s = suite_create("mc_ketama");
    TCase *tc = tcase_create("ketama");
    SRunner *sr;
    int failed;

    if (argc == 2 && strcmp(argv[1], "--gen") == 0) {
        struct lmc l;
        void *memc;
        if (lmc_load(&l) != 0) {
            return 1;
        }
        memc = l.create(NULL);
        l.behavior_set(memc, LMC_BEHAVIOR_KETAMA_WEIGHTED, 1);
        for (unsigned i = 0; i < 3; i++) {
            l.add(memc, pool3[i].host, (unsigned short)pool3[i].port,
                  pool3[i].weight);
        }
        printf("/* check_mc_vectors.c - server index (0..2) that libmemcached"
               " 1.1.4 weighted\n * ketama picks for \"key:<i>\" on"
               " 127.0.0.1:11211:1, :11212:2, :11213:3.\n * Generated by"
               " `check_mc_ketama --gen`. */\n");
        printf("const unsigned char rend_mc_test_vectors[%d] = {\n", NKEYS);
        for (unsigned i = 0; i < NKEYS; i++) {
            char key[32];
            int rc;
            key_of(key, sizeof(key), i);
            unsigned short port = l.port(l.by_key(memc, key, strlen(key), &rc));
            printf("%s%u,%s", i % 25 == 0 ? "    " : "", port - 11211u,
                   i % 25 == 24 ? "\n" : "");
        }
        printf("};\n");
        l.free_(memc);
        return 0;
    }
    tcase_add_test(tc, test_md5);
    tcase_add_test(tc, test_put_get_u64);
    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_libmemcached);
    tcase_add_test(tc, test_single_and_replicas);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
