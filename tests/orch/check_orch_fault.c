/*
 * check_orch_fault.c - L1/L2 failure paths and call counts against the
 * real rend, with the fault plugin (tests/plugins/rend_fault.c) as both
 * tiers.  Each test writes its own config: the same four listeners as
 * conf/tiers.lua (0 L1/L2, 1 batch, 2 L1 view, 3 L2 view) with scripted
 * failures.  Every test runs in text (_i = 0) and binary (_i = 1).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orch_check.h"

enum { P_L12 = 0, P_BATCH = 1, P_L1 = 2, P_L2 = 3 };

static struct orch srv;
static struct orch_conn c12, cv1, cv2;

/* Start rend with L1 and L2 fault instances carrying these options. */
static void
start_with(const char *l1_opts, const char *l2_opts, int bin)
{
    char conf[2048];

    snprintf(conf, sizeof(conf),
             "local so = env(\"ORCH_FAULT_SO\", \"\")\n"
             "local l1 = handler \"fault\" { plugin_path = so, name = \"l1\", %s }\n"
             "local l2 = handler \"fault\" { plugin_path = so, name = \"l2\", %s }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1l2(l1, l2) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1l2_batch(l1, l2) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1only(l1) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1only(l2) } }\n",
             l1_opts, l2_opts);
    ck_assert_int_eq(orch_start_text(&srv, conf), 0);
    ck_assert_int_eq(srv.nports, 4);
    ck_assert_int_eq(orch_connect(&srv, P_L12, bin, &c12), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L1, bin, &cv1), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L2, bin, &cv2), 0);
}

static void
teardown(void)
{
    orch_close(&c12);
    orch_close(&cv1);
    orch_close(&cv2);
    orch_stop(&srv, 0);
}

static int64_t
calls(const char *inst, const char *op)
{
    char name[64];

    snprintf(name, sizeof(name), "%s:calls_%s", inst, op);
    return orch_stat(&srv, "handlers", name);
}

static int64_t
stat(const char *name)
{
    return orch_stat(&srv, NULL, name);
}

START_TEST(l2_called_once_then_l1_serves)
{
    struct orch_item it;

    start_with("", "", _i);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "k", "v", 3, 0, 0), ORCH_OK);
    for (int i = 0; i < 4; i++) {
        EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_OK);
        ck_assert_str_eq(it.value, "v");
        ck_assert_uint_eq(it.flags, 3);
    }
    ck_assert_int_eq(calls("l2", "get"), 1);
    ck_assert_int_eq(calls("l1", "get"), 4);
    ck_assert_int_eq(calls("l1", "set"), 1);
}
END_TEST

START_TEST(l2_set_fails_l1_untouched)
{
    struct orch_item it;

    start_with("", "fail_set = \"eio\"", _i);
    EXPECT_RES(&cv1, orch_store(&cv1, "add", "k", "old", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "new", 0, 0, 0),
               ORCH_SERVER_ERROR);
    EXPECT_RES(&cv1, orch_get(&cv1, "get", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "old");
    ck_assert_int_eq(calls("l1", "set"), 0);
    ck_assert_int_eq(calls("l1", "delete"), 0);
    ck_assert_int_eq(stat("errors_l2"), 1);
}
END_TEST

START_TEST(l1_set_fails_after_l2_ok)
{
    start_with("fail_set = \"eio\"", "", _i);
    EXPECT_RES(&cv1, orch_store(&cv1, "add", "k", "old", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "new", 0, 0, 0), ORCH_OK);
    /* L2 holds the value, the stale L1 copy was deleted */
    EXPECT_PEEK(&srv, P_L2, "k", "new", 1);
    EXPECT_PEEK(&srv, P_L1, "k", NULL, 0);
    ck_assert_int_eq(calls("l1", "delete"), 1);
    ck_assert_int_eq(stat("l1_invalidations"), 1);
    ck_assert_int_eq(stat("errors_l1"), 1);
}
END_TEST

START_TEST(l1_get_fails_served_from_l2)
{
    struct orch_item it;

    start_with("fail_get = \"eio\"", "", _i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "v");
    ck_assert_int_eq(stat("cmd_get_errors_l1"), 1);
    ck_assert_int_eq(stat("cmd_get_hits_l2"), 1);
    ck_assert_int_eq(calls("l2", "get"), 1);
}
END_TEST

START_TEST(l2_get_fails_server_error)
{
    struct orch_item it;

    start_with("", "fail_get = \"eio\"", _i);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_SERVER_ERROR);
    ck_assert_int_eq(stat("cmd_get_errors_l2"), 1);
    /* an L1 hit does not need L2 */
    EXPECT_RES(&cv1, orch_store(&cv1, "set", "h", "l1", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_get(&c12, "get", "h", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "l1");
}
END_TEST

START_TEST(backfill_failure_never_fails_the_client)
{
    struct orch_item it;

    start_with("fail_set = \"enomem\"", "", _i);
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "k", "v", 0, 0, 0), ORCH_OK);
    for (int i = 0; i < 2; i++) {
        EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_OK);
        ck_assert_str_eq(it.value, "v");
    }
    ck_assert_int_eq(stat("cmd_get_set_errors_l1"), 2);
    /* nothing in L1, so L2 answered both times */
    ck_assert_int_eq(calls("l2", "get"), 2);
    EXPECT_PEEK(&srv, P_L1, "k", NULL, 0);
}
END_TEST

START_TEST(l2_touch_error_is_the_clients)
{
    /* text touch is L2.touch; binary touch (it answers the flags) is
     * L2.gat: make both fail */
    start_with("", "fail_touch = \"etimedout\", fail_gat = \"etimedout\"",
               _i);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_touch(&c12, "k", 100), ORCH_SERVER_ERROR);
    ck_assert_int_eq(calls("l1", "touch"), 0);
}
END_TEST

/* ---- an ABI 1.0 plugin (rend_fault_v10.so: no FILL) ---------------- */

/* As start_with, with the 1.0 build for the tiers that ask for it. */
static void
start_v10(int l1_v10, int l2_v10, int bin)
{
    char conf[2048];

    snprintf(conf, sizeof(conf),
             "local so = env(\"ORCH_FAULT_SO\", \"\")\n"
             "local so10 = so:gsub(\"rend_fault%%.so$\", "
             "\"rend_fault_v10.so\")\n"
             "local l1 = handler \"fault\" { plugin_path = %s, name = \"l1\" }\n"
             "local l2 = handler \"fault\" { plugin_path = %s, name = \"l2\" }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1l2(l1, l2) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1l2_batch(l1, l2) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1only(l1) } }\n"
             "listen { port = 0, address = \"127.0.0.1\","
             " routes = { default = l1only(l2) } }\n",
             l1_v10 ? "so10" : "so", l2_v10 ? "so10" : "so");
    ck_assert_int_eq(orch_start_text(&srv, conf), 0);
    ck_assert_int_eq(srv.nports, 4);
    ck_assert_int_eq(orch_connect(&srv, P_L12, bin, &c12), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L1, bin, &cv1), 0);
    ck_assert_int_eq(orch_connect(&srv, P_L2, bin, &cv2), 0);
}

/* An L1 without FILL cannot show L2's cas: reads that show one go to L2,
 * and their cas works. */
START_TEST(abi_1_0_l1_reads_cas_from_l2)
{
    struct orch_item it;

    start_v10(1, 0, _i);
    for (int n = 0; n < 5; n++) { /* L1's counter ahead of L2's */
        EXPECT_RES(&cv1, orch_store(&cv1, "set", "j", "j", 0, 0, 0),
                   ORCH_OK);
    }
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L1, "k", "v", 1); /* a plain L1 set */
    EXPECT_RES(&c12, orch_get(&c12, _i ? "get" : "gets", "k", 0, &it),
               ORCH_OK);
    ck_assert_int_eq(calls("l2", "get"), 1);
    EXPECT_RES(&c12, orch_store(&c12, "cas", "k", "w", 0, 0, it.cas),
               ORCH_OK);
    /* cas deleted the L1 copy: L2 again (binary get: L2 anyway) */
    EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_OK);
    ck_assert_str_eq(it.value, "w");
    ck_assert_int_eq(calls("l2", "get"), 2);
    /* text get fills and then reads L1; binary get never does */
    EXPECT_RES(&c12, orch_get(&c12, "get", "k", 0, &it), ORCH_OK);
    ck_assert_int_eq(calls("l2", "get"), _i ? 3 : 2);
}
END_TEST

/* An ABI 1.0 L2 would ignore a request cas on delete: the core refuses
 * to send it one ("Not supported"), and the item stays. */
START_TEST(abi_1_0_l2_refuses_request_cas)
{
    start_v10(0, 1, 1);
    EXPECT_RES(&c12, orch_store(&c12, "set", "k", "v", 0, 0, 0), ORCH_OK);
    EXPECT_RES(&c12, orch_bin_cas(&c12, "delete", "k", NULL, 12345),
               ORCH_SERVER_ERROR);
    ck_assert_msg(strstr(c12.last, "0x83") != NULL, "reply %s", c12.last);
    EXPECT_PEEK(&srv, P_L2, "k", "v", 1);
    EXPECT_RES(&c12, orch_bin_cas(&c12, "delete", "k", NULL, 0), ORCH_OK);
    EXPECT_PEEK(&srv, P_L2, "k", NULL, 0);
}
END_TEST

/* ---- pipelined mixed requests against an async L2 ------------------ */

#define NKEYS 8
#define NREQ 240

/* A key's value only grows by appends of one byte: at most NREQ. */
struct model {
    int present;
    char val[NREQ + 32];
};

struct expect {
    int res;                /* ORCH_* outcome */
    char value[NREQ + 32];  /* get hit / incr result */
};

/* What memcached (and the fault plugin) accept as a number: 1 to 20
 * digits that fit in 64 bits. */
static int
is_number(const char *s)
{
    unsigned long long v = 0;

    if (*s == '\0' || strlen(s) > 20) {
        return 0;
    }
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9 || v > (ULLONG_MAX - d) / 10) {
            return 0;
        }
        v = v * 10 + d;
    }
    return 1;
}

/* Apply op number `op` on key k to the model; fill e and the request's
 * arguments (value to send). */
static void
model_step(struct model *m, int op, int seq, char *arg, struct expect *e)
{
    memset(e, 0, sizeof(*e));
    arg[0] = '\0';
    switch (op) {
    case 0: /* set */
        snprintf(arg, 32, "%d", seq);
        snprintf(m->val, sizeof(m->val), "%s", arg);
        m->present = 1;
        e->res = ORCH_OK;
        break;
    case 1: /* get */
        e->res = m->present ? ORCH_OK : ORCH_MISS;
        snprintf(e->value, sizeof(e->value), "%s", m->present ? m->val : "");
        break;
    case 2: /* delete */
        e->res = m->present ? ORCH_OK : ORCH_NOT_FOUND;
        m->present = 0;
        break;
    case 3: /* incr 1 */
        if (!m->present) {
            e->res = ORCH_NOT_FOUND;
        } else if (!is_number(m->val)) {
            e->res = ORCH_NON_NUMERIC;
        } else {
            unsigned long long v = strtoull(m->val, NULL, 10) + 1;
            snprintf(m->val, sizeof(m->val), "%llu", v);
            snprintf(e->value, sizeof(e->value), "%llu", v);
            e->res = ORCH_OK;
        }
        break;
    case 4: /* append "7" */
        snprintf(arg, 32, "7");
        e->res = m->present ? ORCH_OK : ORCH_NOT_STORED;
        if (m->present) {
            strcat(m->val, "7");
        }
        break;
    default: /* add */
        snprintf(arg, 32, "a%d", seq);
        e->res = m->present ? ORCH_NOT_STORED : ORCH_OK;
        if (!m->present) {
            snprintf(m->val, sizeof(m->val), "%s", arg);
            m->present = 1;
        }
        break;
    }
}

static const char *const opname[] = {
    "set", "get", "delete", "incr", "append", "add",
};

START_TEST(async_l2_pipelined_in_order)
{
    static struct expect exp[NREQ];
    static char text_req[NREQ * 64], want[NREQ * (NREQ + 64)];
    struct model m[NKEYS];
    size_t nreq = 0, nwant = 0;
    unsigned seed = 12345;

    start_with("", "async = true, delay_us = 2000", 0);
    memset(m, 0, sizeof(m));
    /* text: the whole reply stream is known in advance */
    for (int i = 0; i < NREQ; i++) {
        char key[16], arg[32];
        int op, k;

        seed = seed * 1103515245u + 12345u;
        op = (int)((seed >> 16) % 6);
        k = (int)((seed >> 8) % NKEYS);
        snprintf(key, sizeof(key), "p%d", k);
        model_step(&m[k], op, i, arg, &exp[i]);
        if (op == 0 || op == 4 || op == 5) {
            nreq += (size_t)sprintf(text_req + nreq, "%s %s 0 0 %zu\r\n%s\r\n",
                                    opname[op], key, strlen(arg), arg);
        } else if (op == 3) {
            nreq += (size_t)sprintf(text_req + nreq, "incr %s 1\r\n", key);
        } else {
            nreq += (size_t)sprintf(text_req + nreq, "%s %s\r\n", opname[op],
                                    key);
        }
        switch (exp[i].res) {
        case ORCH_OK:
            if (op == 1) {
                nwant += (size_t)sprintf(want + nwant,
                                         "VALUE %s 0 %zu\r\n%s\r\nEND\r\n", key,
                                         strlen(exp[i].value), exp[i].value);
            } else if (op == 3) {
                nwant += (size_t)sprintf(want + nwant, "%s\r\n", exp[i].value);
            } else {
                nwant += (size_t)sprintf(want + nwant, "%s\r\n",
                                         op == 2 ? "DELETED" : "STORED");
            }
            break;
        case ORCH_MISS:
            nwant += (size_t)sprintf(want + nwant, "END\r\n");
            break;
        case ORCH_NOT_FOUND:
            nwant += (size_t)sprintf(want + nwant, "NOT_FOUND\r\n");
            break;
        case ORCH_NOT_STORED:
            nwant += (size_t)sprintf(want + nwant, "NOT_STORED\r\n");
            break;
        default:
            nwant += (size_t)sprintf(want + nwant, "CLIENT_ERROR cannot "
                                     "increment or decrement non-numeric "
                                     "value\r\n");
            break;
        }
    }
    {
        static char got[NREQ * (NREQ + 64)];
        size_t n;

        ck_assert_int_eq(rend_io_send(c12.fd, text_req, nreq, 10000), 0);
        n = rend_io_read_n(c12.fd, got, nwant, 20000);
        got[n] = '\0';
        want[nwant] = '\0';
        if (n != nwant || memcmp(got, want, nwant) != 0) {
            size_t d = 0;
            while (d < n && d < nwant && got[d] == want[d]) {
                d++;
            }
            ck_abort_msg("pipelined replies differ at byte %zu of %zu (got "
                         "%zu): want '%.60s' got '%.60s'", d, nwant, n,
                         want + d, got + d);
        }
    }
    ck_assert_int_ge(calls("l2", "set"), 1);
}
END_TEST

/* Binary: the same kind of stream with quiet-free opcodes; replies are
 * checked one by one (opaque order, status, value). */
static size_t
bin_req(unsigned char *p, uint8_t op, const char *key, const char *val,
        int extlen, uint32_t opaque)
{
    size_t nk = strlen(key), nv = val ? strlen(val) : 0;
    uint32_t body = (uint32_t)(extlen + nk + nv);

    memset(p, 0, 24 + (size_t)extlen);
    p[0] = 0x80;
    p[1] = op;
    p[3] = (unsigned char)nk;
    p[4] = (unsigned char)extlen;
    p[8] = (unsigned char)(body >> 24);
    p[9] = (unsigned char)(body >> 16);
    p[10] = (unsigned char)(body >> 8);
    p[11] = (unsigned char)body;
    p[12] = (unsigned char)(opaque >> 24);
    p[13] = (unsigned char)(opaque >> 16);
    p[14] = (unsigned char)(opaque >> 8);
    p[15] = (unsigned char)opaque;
    if (op == 0x05) {
        p[24 + 7] = 1;                       /* delta 1 */
        memset(p + 24 + 16, 0xff, 4);        /* no auto-create */
    }
    if (nk > 0) {
        memcpy(p + 24 + extlen, key, nk);
    }
    if (nv > 0) {
        memcpy(p + 24 + extlen + nk, val, nv);
    }
    return 24 + body;
}

START_TEST(async_l2_pipelined_in_order_binary)
{
    static const uint8_t opcode[] = { 0x01, 0x00, 0x04, 0x05, 0x0e, 0x02 };
    static const int extlen[] = { 8, 0, 0, 20, 0, 8 };
    static struct expect exp[NREQ];
    static unsigned char req[NREQ * 96];
    struct model m[NKEYS];
    size_t nreq = 0;
    unsigned seed = 777;

    start_with("", "async = true, delay_us = 2000", 1);
    memset(m, 0, sizeof(m));
    for (int i = 0; i < NREQ; i++) {
        char key[16], arg[32];
        int op, k;

        seed = seed * 1103515245u + 12345u;
        op = (int)((seed >> 16) % 6);
        k = (int)((seed >> 8) % NKEYS);
        snprintf(key, sizeof(key), "p%d", k);
        model_step(&m[k], op, i, arg, &exp[i]);
        nreq += bin_req(req + nreq, opcode[op], key, arg[0] ? arg : NULL,
                        extlen[op], (uint32_t)i);
        /* memcached's binary add refusal is "exists" */
        if (op == 5 && exp[i].res == ORCH_NOT_STORED) {
            exp[i].res = ORCH_EXISTS;
        }
    }
    ck_assert_int_eq(rend_io_send(c12.fd, req, nreq, 10000), 0);
    for (int i = 0; i < NREQ; i++) {
        static const int wire[] = {
            [ORCH_OK] = 0, [ORCH_MISS] = 1, [ORCH_NOT_FOUND] = 1,
            [ORCH_NOT_STORED] = 5, [ORCH_EXISTS] = 2, [ORCH_NON_NUMERIC] = 6,
        };
        unsigned char h[24], body[NREQ + 64];
        uint32_t nbody, opaque;
        int status;

        ck_assert_uint_eq(rend_io_read_n(c12.fd, h, 24, 10000), 24);
        nbody = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16
                | (uint32_t)h[10] << 8 | h[11];
        opaque = (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16
                 | (uint32_t)h[14] << 8 | h[15];
        status = h[6] << 8 | h[7];
        ck_assert_uint_lt(nbody, sizeof(body));
        ck_assert_uint_eq(rend_io_read_n(c12.fd, body, nbody, 10000), nbody);
        body[nbody] = '\0';
        ck_assert_msg(opaque == (uint32_t)i, "reply %d carries opaque %u", i,
                      opaque);
        ck_assert_msg(status == wire[exp[i].res], "reply %d (opcode 0x%02x): "
                      "status 0x%02x, want 0x%02x", i, h[1], status,
                      wire[exp[i].res]);
        if (status == 0 && h[1] == 0x00) {
            ck_assert_str_eq((char *)body + h[4], exp[i].value);
        }
        if (status == 0 && h[1] == 0x05) {
            unsigned long long v = 0;
            for (int b = 0; b < 8; b++) {
                v = v << 8 | body[b];
            }
            ck_assert_uint_eq(v, strtoull(exp[i].value, NULL, 10));
        }
    }
}
END_TEST

/* A handler that completes an op twice (host->done twice, or host->done
 * and an inline status) is caught: one answer per request, a log line, and
 * the server keeps serving.  _i = 0: double done (L1), 1: done and return
 * (L2), on L1/L2. */
START_TEST(done_twice_is_caught)
{
    struct orch_item it;
    struct orch_conn *c = &c12;
    char *log;

    if (_i == 0) {
        start_with("break_contract = \"double_done\"", "", 0);
    } else {
        start_with("", "break_contract = \"done_and_return\"", 0);
    }
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        EXPECT_RES(c, orch_store(c, "set", key, "v", 1, 0, 0), ORCH_OK);
        EXPECT_RES(c, orch_delete(c, key), ORCH_OK);
        EXPECT_RES(c, orch_get(c, "get", key, 0, &it), ORCH_MISS);
    }
    EXPECT_RES(&cv2, orch_store(&cv2, "set", "after", "ok", 0, 0, 0),
               ORCH_OK);
    log = rend_srv_stderr(&srv.srv);
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strstr(log, "handler contract violation") != NULL,
                  "no contract violation logged:\n%s", log);
    free(log);
}
END_TEST

static Suite *
fault_suite(void)
{
    Suite *s = suite_create("orch_fault");
    struct {
        const char *name;
        const TTest *t;
        int loop;
    } tests[] = {
        { "l2_once", l2_called_once_then_l1_serves, 1 },
        { "l2_set_fails", l2_set_fails_l1_untouched, 1 },
        { "l1_set_fails", l1_set_fails_after_l2_ok, 1 },
        { "l1_get_fails", l1_get_fails_served_from_l2, 1 },
        { "l2_get_fails", l2_get_fails_server_error, 1 },
        { "fill_fails", backfill_failure_never_fails_the_client, 1 },
        { "l2_touch_fails", l2_touch_error_is_the_clients, 1 },
        { "abi10_l1", abi_1_0_l1_reads_cas_from_l2, 1 },
        { "abi10_l2", abi_1_0_l2_refuses_request_cas, 0 },
        { "async_text", async_l2_pipelined_in_order, 0 },
        { "async_binary", async_l2_pipelined_in_order_binary, 0 },
        { "done_twice", done_twice_is_caught, 1 },
    };

    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_set_timeout(tc, 40);
        if (tests[i].loop) {
            tcase_add_loop_test(tc, tests[i].t, 0, 2);
        } else {
            tcase_add_test(tc, tests[i].t);
        }
        suite_add_tcase(s, tc);
    }
    return s;
}

int
main(void)
{
    return orch_run(fault_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
