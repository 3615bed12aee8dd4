/*
 * pt_durable.c - L2 durability through the real binary, for lmdb
 * (sync = "commit") and rocksdb (wal_sync = true) behind an inmem L1:
 *
 *   - persistence: 100,000 keys written pipelined with mixed TTLs, SIGTERM,
 *     restart: every key reads back (binary GetE) with its value, flags and
 *     absolute expiry, first from L2, then from the back-filled L1;
 *   - crash: kill -9 during a sustained pipelined write load; the store
 *     passes `rend --verify` with no repair step, and after a restart every
 *     write that got STORED is there with its exact bytes (or a later
 *     version that was in flight at the kill).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_check.h"
#include "pt_util.h"

#define N_KEYS 100000
#define WINDOW 1000
#define VALUE_MAX 200
#define HDR 24

static const char *const confs[] = { "l1l2-lmdb.lua", "l1l2-rocksdb.lua" };
static const char *const plugins[] = { "lmdb", "rocksdb" };

/* TTL class of key n: none, 1 h, 2 days (relative), 40 days (absolute). */
static uint32_t
ttl_of(uint32_t n, uint32_t abs_exp)
{
    static const uint32_t rel[] = { 0, 3600, 2 * 86400 };

    return n % 4 == 3 ? abs_exp : rel[n % 4];
}

static size_t
put_set(char *p, uint32_t n, uint32_t version, uint32_t exptime)
{
    char key[32], val[VALUE_MAX];
    size_t vlen = pt_value(val, VALUE_MAX, n, version);
    int h;

    pt_key(key, sizeof(key), n);
    h = sprintf(p, "set %s %u %u %zu\r\n", key, pt_flags(n, version),
                exptime, vlen);
    memcpy(p + h, val, vlen);
    memcpy(p + h + vlen, "\r\n", 2);
    return (size_t)h + vlen + 2;
}

static size_t
put_gete(unsigned char *p, uint32_t n)
{
    char key[32];
    int klen = pt_key(key, sizeof(key), n);

    memset(p, 0, HDR);
    p[0] = 0x80;
    p[1] = 0x40;
    p[3] = (unsigned char)klen;
    p[11] = (unsigned char)klen;
    p[12] = (unsigned char)(n >> 24);
    p[13] = (unsigned char)(n >> 16);
    p[14] = (unsigned char)(n >> 8);
    p[15] = (unsigned char)n;
    memcpy(p + HDR, key, (size_t)klen);
    return HDR + (size_t)klen;
}

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
           | p[3];
}

/* Read one GetE reply for key n and check it; returns 0 or -1 (printed). */
static int
check_gete(struct rend_cli *c, uint32_t n, uint32_t abs_exp, int64_t t_lo,
           int64_t t_hi)
{
    unsigned char h[HDR], body[512];
    char val[VALUE_MAX];
    uint32_t blen, ttl = ttl_of(n, abs_exp), exp, lo, hi;
    size_t vlen = pt_value(val, VALUE_MAX, n, 1);

    if (rend_cli_read_n(c, h, HDR, REND_CLI_MS) != 0) {
        fprintf(stderr, "key %u: no reply\n", n);
        return -1;
    }
    blen = be32(h + 8);
    if (blen > sizeof(body) || rend_cli_read_n(c, body, blen,
                                               REND_CLI_MS) != 0) {
        fprintf(stderr, "key %u: body of %u bytes\n", n, blen);
        return -1;
    }
    if (h[1] != 0x40 || h[6] != 0 || h[7] != 0 || be32(h + 12) != n
        || h[4] != 8 || blen != 8 + vlen) {
        fprintf(stderr, "key %u: opcode %02x status %02x%02x opaque %u "
                "extras %u body %u (want %zu)\n", n, h[1], h[6], h[7],
                be32(h + 12), h[4], blen, 8 + vlen);
        return -1;
    }
    if (be32(body) != pt_flags(n, 1) || memcmp(body + 8, val, vlen) != 0) {
        fprintf(stderr, "key %u: flags %u (want %u) or value differ\n", n,
                be32(body), pt_flags(n, 1));
        return -1;
    }
    exp = be32(body + 4);
    lo = ttl == 0 ? 0 : ttl == abs_exp ? abs_exp : (uint32_t)t_lo + ttl;
    hi = ttl == 0 ? 0 : ttl == abs_exp ? abs_exp : (uint32_t)t_hi + ttl;
    if (exp < lo || exp > hi) {
        fprintf(stderr, "key %u: expiry %u, want %u..%u (ttl %u)\n", n, exp,
                lo, hi, ttl);
        return -1;
    }
    return 0;
}

/* One pipelined GetE pass over every key; returns the failures. */
static int
gete_pass(struct rend_cli *c, uint32_t abs_exp, int64_t t_lo, int64_t t_hi)
{
    static unsigned char req[WINDOW * (HDR + 32)];
    int bad = 0;

    for (uint32_t base = 0; base < N_KEYS; base += WINDOW) {
        size_t len = 0;
        for (uint32_t n = base; n < base + WINDOW; n++) {
            len += put_gete(req + len, n);
        }
        ck_assert_int_eq(rend_cli_send(c, req, len, REND_CLI_MS), 0);
        for (uint32_t n = base; n < base + WINDOW; n++) {
            if (check_gete(c, n, abs_exp, t_lo, t_hi) != 0) {
                ck_assert_msg(++bad < 20, "too many bad replies");
            }
        }
    }
    return bad;
}

START_TEST(restart_keeps_everything)
{
    static char req[WINDOW * (VALUE_MAX + 64)];
    struct pt_inst in;
    struct rend_cli c;
    char line[256];
    uint32_t abs_exp = (uint32_t)pt_unix_now() + 40 * 86400;
    int64_t t_lo, t_hi, t0;
    long long l2_hits, l1_hits;
    struct rend_cli sc;

    if (!pt_have_plugin(plugins[_i])) {
        printf("SKIP: rend_%s.so not built\n", plugins[_i]);
        return;
    }
    ck_assert_int_eq(pt_inst_init(&in, confs[_i]), 0);
    ck_assert_int_eq(pt_inst_start(&in), 0);
    ck_assert_int_eq(pt_conn_open(&c, &in, 0), 0);
    t_lo = pt_unix_now();
    t0 = rend_now_ms();
    for (uint32_t base = 0; base < N_KEYS; base += WINDOW) {
        size_t len = 0;
        for (uint32_t n = base; n < base + WINDOW; n++) {
            len += put_set(req + len, n, 1, ttl_of(n, abs_exp));
        }
        ck_assert_int_eq(rend_cli_send(&c, req, len, REND_CLI_MS), 0);
        for (uint32_t n = base; n < base + WINDOW; n++) {
            ck_assert_int_ge(rend_cli_line(&c, line, sizeof(line),
                                           REND_CLI_MS), 0);
            ck_assert_msg(strcmp(line, "STORED") == 0, "set %u: %s", n, line);
        }
    }
    t_hi = pt_unix_now();
    printf("%s: %d pipelined sets in %lld ms\n", plugins[_i], N_KEYS,
           (long long)(rend_now_ms() - t0));
    rend_cli_close(&c);
    ck_assert_int_eq(pt_inst_stop(&in), 0);

    ck_assert_int_eq(pt_inst_start(&in), 0);
    ck_assert_int_eq(pt_conn_open(&c, &in, 0), 0);
    t0 = rend_now_ms();
    ck_assert_int_eq(gete_pass(&c, abs_exp, t_lo, t_hi), 0);
    printf("%s: GetE pass from L2 after restart: %lld ms\n", plugins[_i],
           (long long)(rend_now_ms() - t0));
    /* the GetE connection is binary: stats go over a text one */
    ck_assert_int_eq(pt_conn_open(&sc, &in, 0), 0);
    l2_hits = rend_cli_stat(&sc, "stats", "cmd_get_hits_l2", REND_CLI_MS);
    ck_assert_int_eq(l2_hits, N_KEYS);
    /* second pass: L1 now holds the back-filled copies */
    ck_assert_int_eq(gete_pass(&c, abs_exp, t_lo, t_hi), 0);
    l1_hits = rend_cli_stat(&sc, "stats", "cmd_get_hits_l1", REND_CLI_MS);
    ck_assert_int_eq(l1_hits, N_KEYS);
    rend_cli_close(&sc);
    rend_cli_close(&c);
    pt_inst_cleanup(&in);
}
END_TEST

/* ---- kill -9 under load ------------------------------------------------ */

#define CRASH_KEYS 20000
#define CRASH_WINDOW 128
#define CRASH_LOAD_MS 1500

struct crash_log {
    uint16_t sent[CRASH_KEYS];  /* last version sent per key */
    uint16_t acked[CRASH_KEYS]; /* highest version answered STORED */
};

/* Send windows of sets until the load time is over, then kill -9 right
 * after a window went out (so writes are in flight) and read the replies
 * that still arrive.  Returns the number of STORED replies. */
static long
write_until_killed(struct pt_inst *in, struct rend_cli *c, struct crash_log *l)
{
    static char req[CRASH_WINDOW * (VALUE_MAX + 64)];
    uint32_t win[CRASH_WINDOW];
    uint32_t seq = 0;
    long stored = 0, other = 0;
    int64_t t0 = rend_now_ms();
    int killed = 0;
    char line[256];

    while (!killed) {
        size_t len = 0;
        for (int k = 0; k < CRASH_WINDOW; k++, seq++) {
            uint32_t n = (seq * 7919u) % CRASH_KEYS;
            ck_assert_int_lt(l->sent[n], 65535);
            win[k] = n;
            len += put_set(req + len, n, ++l->sent[n], 0);
        }
        if (rend_cli_send(c, req, len, REND_CLI_MS) != 0) {
            break;
        }
        if (rend_now_ms() - t0 >= CRASH_LOAD_MS) {
            /* 0..3 ms after the send: the window is being parsed,
             * applied or committed */
            usleep((useconds_t)(rend_now_ms() * 7919 % 3000));
            pt_inst_kill9(in);
            killed = 1;
        }
        for (int k = 0; k < CRASH_WINDOW; k++) {
            if (rend_cli_line(c, line, sizeof(line), REND_CLI_MS) < 0) {
                killed = 1;
                break;
            }
            if (strcmp(line, "STORED") == 0) {
                uint32_t n = win[k];
                /* replies come in order: the version of this set is the
                 * one sent in this window for n (a key appears at most
                 * once per window: 7919 is coprime with CRASH_KEYS) */
                l->acked[n] = l->sent[n];
                stored++;
            } else {
                other++;
            }
        }
    }
    ck_assert_msg(other == 0, "%ld replies were not STORED", other);
    printf("crash: %u sets sent, %ld STORED in %lld ms before kill -9\n",
           seq, stored, (long long)(rend_now_ms() - t0));
    return stored;
}

/* 1 when (val, flags) is version v of key n. */
static int
is_version(uint32_t n, uint32_t v, const char *val, size_t vlen,
           uint32_t flags)
{
    char want[VALUE_MAX];
    size_t wlen = pt_value(want, VALUE_MAX, n, v);

    return wlen == vlen && flags == pt_flags(n, v)
           && memcmp(want, val, vlen) == 0;
}

START_TEST(kill9_keeps_stored_writes)
{
    struct crash_log *l = calloc(1, sizeof(*l));
    struct pt_inst in;
    struct rend_cli c;
    char val[VALUE_MAX], key[32], *err = NULL;
    long lost = 0, newer = 0, present = 0;
    int rc;

    ck_assert_ptr_nonnull(l);
    if (!pt_have_plugin(plugins[_i])) {
        printf("SKIP: rend_%s.so not built\n", plugins[_i]);
        free(l);
        return;
    }
    ck_assert_int_eq(pt_inst_init(&in, confs[_i]), 0);
    ck_assert_int_eq(pt_inst_start(&in), 0);
    ck_assert_int_eq(pt_conn_open(&c, &in, 0), 0);
    ck_assert_int_gt(write_until_killed(&in, &c, l), 1000);
    rend_cli_close(&c);

    rc = pt_inst_verify(&in, &err);
    ck_assert_msg(rc == 0, "rend --verify after kill -9: %d: %s", rc,
                  err ? err : "");
    free(err);

    ck_assert_int_eq(pt_inst_start(&in), 0);
    ck_assert_int_eq(pt_conn_open(&c, &in, 0), 0);
    for (uint32_t n = 0; n < CRASH_KEYS; n++) {
        size_t vlen = 0;
        uint32_t flags = 0, v;
        int hit;

        if (l->sent[n] == 0) {
            continue;
        }
        pt_key(key, sizeof(key), n);
        hit = rend_cli_get(&c, key, val, sizeof(val), &vlen, &flags,
                           REND_CLI_MS);
        if (hit < 0) {
            err = rend_srv_stderr(&in.srv);
            ck_abort_msg("get %s after restart failed; rend stderr: %s", key,
                         err ? err : "");
        }
        if (!hit) {
            if (l->acked[n] > 0) {
                fprintf(stderr, "%s: STORED v%u missing\n", key, l->acked[n]);
                lost++;
            }
            continue;
        }
        present++;
        for (v = l->sent[n]; v >= 1; v--) {
            if (is_version(n, v, val, vlen, flags)) {
                break;
            }
        }
        if (v == 0 || v < l->acked[n]) {
            fprintf(stderr, "%s: found v%u, STORED v%u, sent v%u\n", key, v,
                    l->acked[n], l->sent[n]);
            lost++;
        } else if (v > l->acked[n]) {
            newer++;
        }
    }
    printf("%s crash: %ld keys present, %ld with a newer unacked version, "
           "%ld lost or damaged\n", plugins[_i], present, newer, lost);
    ck_assert_int_eq(lost, 0);
    rend_cli_close(&c);
    pt_inst_cleanup(&in);
    free(l);
}
END_TEST

static Suite *
durable_suite(void)
{
    Suite *s = suite_create("persist-durable");
    TCase *tc = tcase_create("durable");

    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, restart_keeps_everything, 0, 2);
    tcase_add_loop_test(tc, kill9_keeps_stored_writes, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return rend_check_main(durable_suite());
}
