/*
 * it_relay.c - relayed multi-gets (core/rend_relay.h, handler ABI minor 5):
 * a text get/gets of several keys through rend's memcached plugin goes to
 * memcached as one `get` line, and the VALUE blocks come back to the
 * client as memcached wrote them.  Real rend, real memcached.
 *
 * Checked: random multi-gets (hits, misses, duplicates, empty and 40 KB
 * values) read exactly what was stored, and `gets` cas values work for
 * `cas`; so do random binary batches of GetKQ ended by a GetK (relayed as
 * one `gets`), and a batch with a key no text line can carry (a space)
 * is answered key by key; the stats count one relay per request and the right hits and
 * misses; a reply over the plugin's 1 MB relay limit is declined and the
 * keys run one by one, with the pipelined request behind it intact; a
 * key the plugin stores base64-encoded (a control byte) is not relayed
 * and is found; keys on two routes (a prefix route to inmem) are not
 * relayed; a backend that is gone answers one SERVER_ERROR line and the
 * connection goes on.  Over a pool of three servers the same random gets
 * and batches come back merged in key order; with one of them down the
 * keys run one by one (the other servers' hits, then the error line); two
 * connections per server are not relayed on.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_check.h"
#include "it_util.h"

#define NKEYS 300

struct bed {
    struct rend_srv rend, mc[3];
    int nmc;
};

/* nmc memcached servers on unix sockets (one pool) and rend in front of
 * them (L1-only), conns connections per server; with prefix: keys
 * starting "p:" go to an inmem L1 instead. */
static void
bed_start_pool(struct bed *b, int prefix, int nmc, int conns)
{
    static const char *const mc_extra[] = { "-m", "256", "-I", "2m", NULL };
    char conf[160], servers[1024] = "";
    FILE *f;

    memset(b, 0, sizeof(*b));
    b->nmc = nmc;
    for (int i = 0; i < nmc; i++) {
        ck_assert_msg(rend_srv_start_memcached(&b->mc[i], mc_extra) == 0,
                      "memcached is required (install-deps.sh installs it)");
        snprintf(servers + strlen(servers), sizeof(servers) - strlen(servers),
                 "%s%s", i > 0 ? "," : "", b->mc[i].path);
    }
    snprintf(conf, sizeof(conf), "%s/rend.lua", b->mc[0].dir);
    f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "local mc = handler \"memcached\" { name = \"l1\", "
            "servers = \"%s\", timeout_ms = 5000, fail_limit = 1, "
            "conns_per_server = %d }\n",
            servers, conns);
    if (prefix) {
        fprintf(f, "local mem = handler \"inmem\" { name = \"mem\", "
                   "memory_mb = 16 }\n"
                   "listen { port = 0, routes = { default = l1only(mc), "
                   "prefix = { [\"p:\"] = l1only(mem) } } }\n");
    } else {
        fprintf(f, "listen { port = 0, routes = { default = l1only(mc) } }\n");
    }
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rend_srv_start(&b->rend, conf, NULL), 0);
}

static void
bed_start(struct bed *b, int prefix)
{
    bed_start_pool(b, prefix, 1, 1);
}

static void
bed_stop(struct bed *b)
{
    ck_assert_int_eq(rend_srv_stop(&b->rend, 5000, NULL), 0);
    for (int i = 0; i < b->nmc; i++) {
        if (b->mc[i].pid != 0) {
            rend_srv_stop(&b->mc[i], 3000, NULL);
        }
    }
}

static long long
relay_stat(const struct bed *b, const char *name)
{
    return rend_srv_stat(&b->rend, "stats", name);
}

/* What key i holds: n bytes, flags; NULL n = 0 for a key never stored. */
struct item {
    char key[32];
    char *val;
    size_t n;
    uint32_t flags;
    int stored;
};

static struct item items[NKEYS];

static void
fill(struct rend_cli *c)
{
    for (int i = 0; i < NKEYS; i++) {
        struct item *it = &items[i];
        snprintf(it->key, sizeof(it->key), "rk%d", i);
        it->stored = i % 5 != 4; /* every fifth key is a miss */
        it->n = i % 37 == 0 ? 0 : i % 53 == 0 ? 40000 : (size_t)(i * 13 % 700);
        it->flags = (uint32_t)i * 2654435761u;
        free(it->val);
        it->val = malloc(it->n + 1);
        ck_assert_ptr_nonnull(it->val);
        for (size_t j = 0; j < it->n; j++) {
            it->val[j] = (char)('a' + (i + j) % 26);
        }
        if (it->stored) {
            ck_assert_int_eq(rend_cli_set(c, it->key, it->val, it->n,
                                          it->flags, 0, IT_MS), 0);
        }
    }
}

/* Read one VALUE block for it (cas into *cas when gets) or fail. */
static void
expect_block(struct rend_cli *c, const struct item *it, int gets,
             unsigned long long *cas)
{
    char line[400], want[400];
    char *got = malloc(it->n + 2);

    ck_assert_ptr_nonnull(got);
    ck_assert_int_gt(rend_cli_line(c, line, sizeof(line), IT_MS), 0);
    snprintf(want, sizeof(want), "VALUE %s %u %zu", it->key, it->flags, it->n);
    ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "got '%s', want '%s'",
                  line, want);
    if (gets) {
        ck_assert_int_eq(line[strlen(want)], ' ');
        *cas = strtoull(line + strlen(want) + 1, NULL, 10);
        ck_assert_uint_ne(*cas, 0);
    } else {
        ck_assert_int_eq(line[strlen(want)], '\0');
    }
    ck_assert_int_eq(rend_cli_read_n(c, got, it->n + 2, IT_MS), 0);
    ck_assert_msg(memcmp(got, it->val, it->n) == 0, "%s differs", it->key);
    ck_assert_int_eq(got[it->n], '\r');
    ck_assert_int_eq(got[it->n + 1], '\n');
    free(got);
}

static void
expect_end(struct rend_cli *c)
{
    char line[400];

    ck_assert_int_gt(rend_cli_line(c, line, sizeof(line), IT_MS), 0);
    ck_assert_str_eq(line, "END");
}

/* 200 random multi-gets and a gets of rk1 rk4 rk2 on a filled bed: what
 * was stored, every request relayed, the hit and miss stats right, the
 * cas values good for cas. */
static void
random_gets(struct bed *b)
{
    struct rend_cli c;
    long long relayed, hits0, misses0;
    long long want_hits = 0, want_misses = 0;
    unsigned seed = 12345;
    char req[8192];

    ck_assert_int_eq(rend_cli_open(&c, &b->rend), 0);
    fill(&c);
    relayed = relay_stat(b, "gets_relayed");
    hits0 = relay_stat(b, "get_hits");
    misses0 = relay_stat(b, "get_misses");
    for (int round = 0; round < 200; round++) {
        int n = 2 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 119;
        int pick[120];
        size_t len = 0;

        len += (size_t)snprintf(req + len, sizeof(req) - len, "get");
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* duplicates now and then: the same key twice in a row */
            pick[i] = i > 0 && seed % 17 == 0 ? pick[i - 1]
                                              : (int)((seed >> 8) % NKEYS);
            len += (size_t)snprintf(req + len, sizeof(req) - len, " %s",
                                    items[pick[i]].key);
        }
        len += (size_t)snprintf(req + len, sizeof(req) - len, "\r\n");
        ck_assert_int_eq(rend_cli_send(&c, req, len, IT_MS), 0);
        for (int i = 0; i < n; i++) {
            if (items[pick[i]].stored) {
                expect_block(&c, &items[pick[i]], 0, NULL);
                want_hits++;
            } else {
                want_misses++;
            }
        }
        expect_end(&c);
    }
    ck_assert_int_eq(relay_stat(b, "gets_relayed") - relayed, 200);
    ck_assert_int_eq(relay_stat(b, "gets_relay_declined"), 0);
    ck_assert_int_eq(relay_stat(b, "get_hits") - hits0, want_hits);
    ck_assert_int_eq(relay_stat(b, "get_misses") - misses0, want_misses);

    /* gets: the cas of each block is one memcached accepts */
    {
        unsigned long long cas1 = 0, cas2 = 0;
        char line[128];
        ck_assert_int_eq(rend_cli_send_str(&c, "gets rk1 rk4 rk2\r\n", IT_MS),
                         0);
        expect_block(&c, &items[1], 1, &cas1);
        expect_block(&c, &items[2], 1, &cas2); /* rk4 is a miss */
        expect_end(&c);
        ck_assert_uint_ne(cas1, cas2);
        snprintf(req, sizeof(req), "cas rk1 0 0 1 %llu\r\nx\r\n", cas1);
        ck_assert_int_gt(rend_cli_cmd(&c, req, line, sizeof(line), IT_MS), 0);
        ck_assert_str_eq(line, "STORED");
        snprintf(req, sizeof(req), "cas rk2 0 0 1 %llu\r\nx\r\n", cas2 + 1);
        ck_assert_int_gt(rend_cli_cmd(&c, req, line, sizeof(line), IT_MS), 0);
        ck_assert_str_eq(line, "EXISTS");
        /* rk1 as fill() left it, for what runs next */
        ck_assert_int_eq(rend_cli_set(&c, items[1].key, items[1].val,
                                      items[1].n, items[1].flags, 0, IT_MS),
                         0);
    }
    rend_cli_close(&c);
}

START_TEST(relay_matches_what_was_stored)
{
    struct bed b;

    bed_start(&b, 0);
    random_gets(&b);
    bed_stop(&b);
}
END_TEST

/* One binary response: opcode, status, opaque, cas, key and value (into
 * key/val, malloc'd, NUL-terminated; the caller frees them). */
static void
bin_read(struct rend_cli *c, uint8_t *op, uint16_t *status, uint32_t *opaque,
         char **key, char **val, uint32_t *nval, uint32_t *flags)
{
    unsigned char h[24];
    uint32_t body;
    uint16_t nkey;
    uint8_t next;
    char *b;

    ck_assert_int_eq(rend_cli_read_n(c, h, 24, IT_MS), 0);
    ck_assert_uint_eq(h[0], 0x81);
    *op = h[1];
    nkey = (uint16_t)(h[2] << 8 | h[3]);
    next = h[4];
    *status = (uint16_t)(h[6] << 8 | h[7]);
    body = rend_get32(h + 8);
    *opaque = rend_get32(h + 12);
    b = malloc(body + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(rend_cli_read_n(c, b, body, IT_MS), 0);
    *flags = next == 4 ? rend_get32((unsigned char *)b) : 0;
    *key = strndup(b + next, nkey);
    *nval = body - next - nkey;
    *val = malloc(*nval + 1);
    ck_assert_ptr_nonnull(*key);
    ck_assert_ptr_nonnull(*val);
    memcpy(*val, b + next + nkey, *nval);
    free(b);
}

/* A batch of n GetKQ (0x0d) for pick[], then a GetK (0x0c) for the last
 * pick: every hit answered with its key and value, the misses silent but
 * the GetK's, which answers Not found. */
static void
bin_batch(struct rend_cli *c, const struct item *const *pick, int n)
{
    static unsigned char req[200 * 300];
    size_t len = 0;

    for (int i = 0; i < n; i++) {
        len += rend_bin_pack(req + len, i == n - 1 ? 0x0c : 0x0d, NULL, 0,
                             pick[i]->key, NULL, 0, (uint32_t)i + 100);
    }
    ck_assert_int_eq(rend_cli_send(c, req, len, IT_MS), 0);
    for (int i = 0; i < n; i++) {
        uint8_t op;
        uint16_t st;
        uint32_t opaque, nval, flags;
        char *key, *val;
        if (!pick[i]->stored && i < n - 1) {
            continue;
        }
        bin_read(c, &op, &st, &opaque, &key, &val, &nval, &flags);
        ck_assert_uint_eq(opaque, (uint32_t)i + 100);
        ck_assert_uint_eq(op, i == n - 1 ? 0x0c : 0x0d);
        ck_assert_str_eq(key, pick[i]->key);
        if (pick[i]->stored) {
            ck_assert_uint_eq(st, 0);
            ck_assert_uint_eq(flags, pick[i]->flags);
            ck_assert_uint_eq(nval, pick[i]->n);
            ck_assert_msg(memcmp(val, pick[i]->val, nval) == 0, "%s differs",
                          key);
        } else {
            ck_assert_uint_eq(st, 1); /* Key not found */
        }
        free(key);
        free(val);
    }
}

/* 100 random binary batches on c: each read what was stored, and relayed
 * (a batch split across two reads is two relays). */
static void
random_batches(struct bed *b, struct rend_cli *c)
{
    const struct item *pick[120];
    unsigned seed = 777;
    long long relayed = relay_stat(b, "gets_relayed");

    for (int round = 0; round < 100; round++) {
        int n = 2 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 119;
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            pick[i] = &items[(seed >> 8) % NKEYS];
        }
        bin_batch(c, pick, n);
    }
    ck_assert_int_ge(relay_stat(b, "gets_relayed") - relayed, 100);
    ck_assert_int_eq(relay_stat(b, "gets_relay_declined"), 0);
}

START_TEST(relay_binary_batches)
{
    struct bed b;
    struct rend_cli c;
    const struct item *pick[120];
    long long relayed;

    bed_start(&b, 0);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    fill(&c); /* in text: a connection speaks one protocol */
    rend_cli_close(&c);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    random_batches(&b, &c);
    {
        struct item sp = { .key = "has space", .val = "sv", .n = 2,
                           .flags = 11, .stored = 1 };
        unsigned char req[256];
        size_t len = rend_bin_pack(req, 0x01, "\0\0\0\x0b\0\0\0\0", 8,
                                   sp.key, sp.val, 2, 1);
        uint8_t op;
        uint16_t st;
        uint32_t opaque, nval, flags;
        char *key, *val;

        ck_assert_int_eq(rend_cli_send(&c, req, len, IT_MS), 0);
        bin_read(&c, &op, &st, &opaque, &key, &val, &nval, &flags);
        ck_assert_uint_eq(st, 0);
        free(key);
        free(val);
        relayed = relay_stat(&b, "gets_relayed");
        pick[0] = &items[1];
        pick[1] = &sp;
        pick[2] = &items[2];
        bin_batch(&c, pick, 3);
        ck_assert_int_eq(relay_stat(&b, "gets_relayed"), relayed);
    }
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

START_TEST(relay_too_large_runs_key_by_key)
{
    struct bed b;
    struct rend_cli c;
    struct item big[3];
    long long declined, relayed;

    bed_start(&b, 0);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(big[i].key, sizeof(big[i].key), "big%d", i);
        big[i].n = 600000;
        big[i].flags = (uint32_t)i + 1;
        big[i].val = malloc(big[i].n);
        ck_assert_ptr_nonnull(big[i].val);
        for (size_t j = 0; j < big[i].n; j++) {
            big[i].val[j] = (char)('A' + (i * 7 + j / 1000) % 26);
        }
        ck_assert_int_eq(rend_cli_set(&c, big[i].key, big[i].val, big[i].n,
                                      big[i].flags, 0, IT_MS), 0);
    }
    ck_assert_int_eq(rend_cli_set(&c, "small", "s", 1, 9, 0, IT_MS), 0);
    declined = relay_stat(&b, "gets_relay_declined");
    relayed = relay_stat(&b, "gets_relayed");
    /* 1.8 MB of values: over the relay limit; a relayed request behind it
     * on the same connection */
    ck_assert_int_eq(rend_cli_send_str(&c, "get big0 nokey big1 big2\r\n"
                                           "get small big0\r\n", IT_MS), 0);
    for (int i = 0; i < 3; i++) {
        expect_block(&c, &big[i], 0, NULL);
    }
    expect_end(&c);
    {
        struct item s = { .key = "small", .val = "s", .n = 1, .flags = 9 };
        expect_block(&c, &s, 0, NULL);
    }
    expect_block(&c, &big[0], 0, NULL);
    expect_end(&c);
    ck_assert_int_eq(relay_stat(&b, "gets_relay_declined") - declined, 1);
    ck_assert_int_eq(relay_stat(&b, "gets_relayed") - relayed, 1);
    for (int i = 0; i < 3; i++) {
        free(big[i].val);
    }
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

START_TEST(relay_declines_keys_it_cannot_relay)
{
    struct bed b;
    struct rend_cli c;
    struct item odd = { .key = "odd\x01key", .val = "oddv", .n = 4,
                        .flags = 3 };
    struct item plain = { .key = "plainkey", .val = "pv", .n = 2, .flags = 4 };
    struct item pre = { .key = "p:k", .val = "inmem", .n = 5, .flags = 5 };
    long long relayed;

    bed_start(&b, 1);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    ck_assert_int_eq(rend_cli_set(&c, odd.key, odd.val, odd.n, odd.flags, 0,
                                  IT_MS), 0);
    ck_assert_int_eq(rend_cli_set(&c, plain.key, plain.val, plain.n,
                                  plain.flags, 0, IT_MS), 0);
    ck_assert_int_eq(rend_cli_set(&c, pre.key, pre.val, pre.n, pre.flags, 0,
                                  IT_MS), 0);
    relayed = relay_stat(&b, "gets_relayed");
    /* a key memcached holds base64-encoded: declined, found key by key */
    ck_assert_int_eq(rend_cli_send_str(&c, "get plainkey odd\x01key\r\n",
                                       IT_MS), 0);
    expect_block(&c, &plain, 0, NULL);
    expect_block(&c, &odd, 0, NULL);
    expect_end(&c);
    ck_assert_int_eq(relay_stat(&b, "gets_relay_declined"), 1);
    /* keys on two routes: never relayed */
    ck_assert_int_eq(rend_cli_send_str(&c, "get p:k plainkey\r\n", IT_MS), 0);
    expect_block(&c, &pre, 0, NULL);
    expect_block(&c, &plain, 0, NULL);
    expect_end(&c);
    ck_assert_int_eq(relay_stat(&b, "gets_relayed"), relayed);
    ck_assert_int_eq(relay_stat(&b, "gets_relay_declined"), 1);
    /* the backend gone: one error line, and the connection goes on */
    rend_srv_stop(&b.mc[0], 3000, NULL);
    {
        char line[256];
        ck_assert_int_gt(rend_cli_cmd(&c, "get plainkey other\r\n", line,
                                      sizeof(line), IT_MS), 0);
        ck_assert_msg(strncmp(line, "SERVER_ERROR", 12) == 0, "got '%s'",
                      line);
        ck_assert_int_gt(rend_cli_cmd(&c, "get p:k\r\n", line, sizeof(line),
                                      IT_MS), 0);
        ck_assert_str_eq(line, "VALUE p:k 5 5");
    }
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

/* Three servers: each request's keys go out as one line per server, and
 * the blocks come back merged in the request's key order. */
START_TEST(relay_over_a_pool)
{
    struct bed b;
    struct rend_cli c;

    bed_start_pool(&b, 0, 3, 1);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    fill(&c);
    rend_cli_close(&c);
    for (int i = 0; i < 3; i++) { /* the keys are spread */
        ck_assert_int_gt(rend_srv_stat(&b.mc[i], "stats", "curr_items"), 20);
    }
    random_gets(&b);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    random_batches(&b, &c);
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

/* One server of three gone: multi-gets are run key by key, the other
 * servers' hits come back in order, then the error line; the connection
 * goes on. */
START_TEST(relay_pool_with_a_server_down)
{
    struct bed b;
    struct rend_cli c;
    char req[4096], line[400];
    int errors = 0;

    bed_start_pool(&b, 0, 3, 1);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    fill(&c);
    rend_srv_stop(&b.mc[1], 3000, NULL);
    for (int from = 0; from < NKEYS; from += 50) {
        size_t len = (size_t)snprintf(req, sizeof(req), "get");
        int next = from;
        for (int i = from; i < from + 50; i++) {
            len += (size_t)snprintf(req + len, sizeof(req) - len, " %s",
                                    items[i].key);
        }
        len += (size_t)snprintf(req + len, sizeof(req) - len, "\r\n");
        ck_assert_int_eq(rend_cli_send(&c, req, len, IT_MS), 0);
        for (;;) {
            char want[64];
            int k;
            ck_assert_int_gt(rend_cli_line(&c, line, sizeof(line), IT_MS), 0);
            if (strcmp(line, "END") == 0
                || strncmp(line, "SERVER_ERROR", 12) == 0) {
                errors += line[0] == 'S';
                break;
            }
            ck_assert_msg(sscanf(line, "VALUE rk%d", &k) == 1
                              && k >= next && k < from + 50
                              && items[k].stored,
                          "got '%s'", line);
            next = k + 1;
            snprintf(want, sizeof(want), "VALUE %s %u %zu", items[k].key,
                     items[k].flags, items[k].n);
            ck_assert_str_eq(line, want);
            {
                char *got = malloc(items[k].n + 2);
                ck_assert_ptr_nonnull(got);
                ck_assert_int_eq(rend_cli_read_n(&c, got, items[k].n + 2,
                                                 IT_MS), 0);
                ck_assert(memcmp(got, items[k].val, items[k].n) == 0);
                free(got);
            }
        }
    }
    ck_assert_int_gt(errors, 0);
    ck_assert_int_gt(rend_cli_cmd(&c, "version\r\n", line, sizeof(line),
                                  IT_MS), 0);
    ck_assert_msg(strncmp(line, "VERSION ", 8) == 0, "got '%s'", line);
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

/* Two connections per server: a key's ops keep to its own connection, so
 * a multi-get is not relayed on one. */
START_TEST(relay_declined_with_two_conns_per_server)
{
    struct bed b;
    struct rend_cli c;

    bed_start_pool(&b, 0, 1, 2);
    ck_assert_int_eq(rend_cli_open(&c, &b.rend), 0);
    fill(&c);
    ck_assert_int_eq(rend_cli_send_str(&c, "get rk1 rk4 rk2\r\n", IT_MS), 0);
    expect_block(&c, &items[1], 0, NULL);
    expect_block(&c, &items[2], 0, NULL);
    expect_end(&c);
    ck_assert_int_eq(relay_stat(&b, "gets_relayed"), 0);
    ck_assert_int_eq(relay_stat(&b, "gets_relay_declined"), 1);
    rend_cli_close(&c);
    bed_stop(&b);
}
END_TEST

static Suite *
relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("relay");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, relay_matches_what_was_stored);
    tcase_add_test(tc, relay_binary_batches);
    tcase_add_test(tc, relay_too_large_runs_key_by_key);
    tcase_add_test(tc, relay_declines_keys_it_cannot_relay);
    tcase_add_test(tc, relay_over_a_pool);
    tcase_add_test(tc, relay_pool_with_a_server_down);
    tcase_add_test(tc, relay_declined_with_two_conns_per_server);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return rend_check_main(relay_suite());
}
